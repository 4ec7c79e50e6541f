"""`manage.py knowledge_reindex`: embed again what the configured model has not embedded.

Needed after COACH_EMBEDDING_MODEL changes (searches leave the other model's vectors
out until then), and it also embeds documents still waiting (`pending`) or `failed`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.models import Document, DocumentStatus
from knowledge.selectors import current_model
from knowledge.services import Progress, library_reindex


class Command(BaseCommand):
    help = (
        "Embed every document that the configured embedding model (COACH_EMBEDDING_MODEL) "
        "has not embedded: after a model change, and documents pending or failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all", action="store_true", help="Embed every document again, ready ones too."
        )
        parser.add_argument(
            "--pending", action="store_true", help="Only documents waiting for embeddings."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Embedding model: {current_model()}")
        documents = library_reindex(
            everything=options["all"], pending_only=options["pending"], on_document=self._start
        )
        if not documents:
            self.stdout.write("Nothing to embed: every document is ready.")
            return
        failed = [d for d in documents if d.status != DocumentStatus.READY]
        for document in failed:
            self.stdout.write(self.style.ERROR(f"{document.title}: {document.status_reason}"))
        self.stdout.write(f"{len(documents) - len(failed)} of {len(documents)} documents ready.")
        if failed:
            raise CommandError(f"{len(failed)} documents failed.")

    def _start(self, document: Document) -> Progress:
        self.stdout.write(f"{document.coach.slug} / {document.title}: ", ending="")

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"{done}/{total}", ending=" " if done < total else "\n")
            self.stdout.flush()

        return progress
