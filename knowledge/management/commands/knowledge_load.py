"""`manage.py knowledge_load <coach-slug> <path>...`: add files (or every file of a folder)
to a coach's library, showing the passages embedded so far."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coach.models import Coach
from knowledge.extraction import SUFFIXES, DocumentRejected
from knowledge.models import DocumentStatus
from knowledge.services import document_load


class Command(BaseCommand):
    help = (
        "Load Markdown, text or PDF files into a coach's knowledge library (a folder: "
        "every such file in it). A file loaded again replaces its document; an unchanged "
        "one is not embedded again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("coach", help="The coach's slug, e.g. meditation-guide.")
        parser.add_argument("paths", nargs="+", help="Files or folders.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            coach = Coach.objects.get(slug=options["coach"])
        except Coach.DoesNotExist:
            raise CommandError(f"There is no coach with the slug {options['coach']!r}.") from None
        files = list(self._files(options["paths"]))
        if not files:
            raise CommandError(f"No {', '.join(SUFFIXES)} files in the paths given.")
        failed = 0
        for path in files:
            self.stdout.write(f"{path}: ", ending="")
            self.stdout.flush()
            try:
                result = document_load(
                    coach=coach,
                    name=path.name,
                    data=path.read_bytes(),
                    progress=self._progress,
                )
            except DocumentRejected as exc:
                failed += 1
                self.stdout.write(self.style.ERROR(f"refused: {' '.join(exc.messages)}"))
                continue
            except OSError as exc:
                failed += 1
                self.stdout.write(self.style.ERROR(f"cannot be read: {exc.strerror or exc}"))
                continue
            document = result.document
            if not result.changed:
                self.stdout.write(f"unchanged ({document.passage_count} passages), kept")
            elif document.status == DocumentStatus.READY:
                self.stdout.write(self.style.SUCCESS(f" ready: {document.passage_count} passages"))
            else:
                failed += 1
                self.stdout.write(self.style.ERROR(f" {document.status}: {document.status_reason}"))
        if failed:
            raise CommandError(f"{failed} of {len(files)} files were not loaded.")

    def _progress(self, done: int, total: int) -> None:
        self.stdout.write(f"\r{done}/{total} passages embedded", ending="")
        self.stdout.flush()

    @staticmethod
    def _files(paths: list[str]):
        for name in paths:
            path = Path(name).expanduser()
            if path.is_dir():
                yield from sorted(
                    p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                )
            elif path.exists():
                yield path
            else:
                raise CommandError(f"{path} does not exist.")
