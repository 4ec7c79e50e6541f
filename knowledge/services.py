"""Writes of the knowledge library: load a document, embed what waits, reindex, cite.

Embedding happens outside any transaction (it waits on the embedding server); each
write is one short transaction. A document's passages become searchable together, when
the last of them is embedded (`status` turns `ready` in the same transaction).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from coach.llm import LLMError, get_embedding_client
from coach.models import Coach
from knowledge import vector_store, vectors
from knowledge.chunking import chunk_document, split_sections
from knowledge.extraction import DocumentRejected, text_check, text_from_bytes
from knowledge.models import (
    SOURCE_NAME_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    Citation,
    Document,
    DocumentStatus,
    Passage,
)
from knowledge.selectors import Hit, current_model

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (passages embedded so far, passages in all)
HANGUL = re.compile("[\uac00-\ud7a3]")
REASON_MAX_LENGTH = 500


@dataclass(frozen=True)
class LoadResult:
    document: Document
    changed: bool  # False: the same text was already loaded and embedded


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def guess_language(text: str) -> str:
    letters = [ch for ch in text[:5000] if ch.isalpha()]
    hangul = sum(1 for ch in letters if HANGUL.match(ch))
    return "ko" if letters and hangul / len(letters) > 0.3 else "en"


def guess_title(text: str, name: str) -> str:
    for section in split_sections(text):
        if section.headings:
            return section.headings[0][:TITLE_MAX_LENGTH]
        break
    stem = PurePath(name).stem.replace("_", " ").replace("-", " ").strip()
    return (stem[:1].upper() + stem[1:])[:TITLE_MAX_LENGTH] or _("Untitled")


def embedding_input(*, title: str, heading_path: str, text: str) -> str:
    """What is embedded for a passage: its text under its document's title and headings."""
    head = f"{title} \u203a {heading_path}" if heading_path else title
    return f"{head}\n\n{text}"


def document_load(
    *,
    coach: Coach,
    name: str,
    content: str | None = None,
    data: bytes | None = None,
    title: str = "",
    language: str = "",
    progress: Progress | None = None,
    embed: bool = True,
) -> LoadResult:
    """Add a document to `coach`'s library, or replace the one of the same `name`.

    Give the text (`content`, pasted) or a file's bytes (`data`: Markdown, text or PDF).
    Unchanged text already embedded by the configured model is not embedded again.
    Changed text is split and embedded first; its passages then replace the old ones in
    one transaction (the old ones stay searchable until then). If embedding fails, the
    document is kept as `failed` with the reason, and none of it is searchable.
    With `embed=False` the passages are stored to be embedded later (`pending`).

    Raises DocumentRejected for a file or text that cannot be read (nothing is written).
    """
    name = (name or "").strip()[:SOURCE_NAME_MAX_LENGTH]
    if not name:
        raise DocumentRejected(_("Give the document a name."))
    text = text_from_bytes(data, name=name) if data is not None else text_check(content or "")
    title = (title or "").strip()[:TITLE_MAX_LENGTH] or guess_title(text, name)
    chunks = chunk_document(text, title=title)
    if not chunks:
        raise DocumentRejected(_("The document is empty: there is no text in it."))
    digest = content_hash(text)
    language = language or guess_language(text)
    model = current_model()

    existing = Document.objects.filter(coach=coach, source_name=name).first()
    if (
        existing is not None
        and existing.content_hash == digest
        and existing.status == DocumentStatus.READY
        and existing.embedding_model == model
    ):
        if existing.title != title or existing.language != language:
            existing.title, existing.language = title, language
            existing.save(update_fields=["title", "language", "updated_at"])
        return LoadResult(existing, changed=False)

    passages = [
        Passage(
            coach=coach,
            ordinal=ordinal,
            heading_path=chunk.heading_path,
            text=chunk.text,
            token_estimate=chunk.token_estimate,
        )
        for ordinal, chunk in enumerate(chunks)
    ]
    status, reason = DocumentStatus.PENDING, ""
    if embed:
        try:
            _embed_into(passages, title=title, progress=progress)
            status = DocumentStatus.READY
        except LLMError as exc:
            status, reason = DocumentStatus.FAILED, _embedding_failure(exc)

    with transaction.atomic():
        document = existing or Document(coach=coach, source_name=name)
        document.title = title
        document.language = language
        document.content = text
        document.content_hash = digest
        document.status = status
        document.status_reason = reason
        document.embedding_model = model if status == DocumentStatus.READY else ""
        document.passage_count = len(passages)
        document.save()
        Passage.objects.filter(document=document).delete()
        for passage in passages:
            passage.document = document
        Passage.objects.bulk_create(passages)
        vector_store.passages_store(passages)
    return LoadResult(document, changed=True)


def _embedding_failure(exc: LLMError) -> str:
    return (_("The embedding server failed: %(error)s") % {"error": exc})[:REASON_MAX_LENGTH]


def _embed_into(
    passages: Sequence[Passage], *, title: str, progress: Progress | None, batch: int = 32
) -> None:
    """Fill in the passages' embeddings (unsaved or saved later by the caller)."""
    client = get_embedding_client()
    model = current_model()
    total = len(passages)
    for start in range(0, total, batch):
        part = passages[start : start + batch]
        texts = [
            embedding_input(title=title, heading_path=p.heading_path, text=p.text) for p in part
        ]
        for passage, vector in zip(part, client.embed(texts, kind="passage"), strict=True):
            passage.embedding = vectors.to_bytes(vector)
            passage.embedding_model = model
        if progress is not None:
            progress(min(start + batch, total), total)


def document_embed(
    *, document: Document, progress: Progress | None = None, retry_later: bool = False
) -> Document:
    """Embed a document's passages with the configured model and make it searchable.

    It leaves the search while this runs (its old vectors, if any, are another model's
    or its text changed). On failure it is marked `failed` with the reason, or left
    `pending` (with the reason) when `retry_later` (the background embedding tries again).
    """
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.PENDING, status_reason="", updated_at=timezone.now()
    )
    passages = list(Passage.objects.filter(document=document).order_by("ordinal"))
    try:
        _embed_into(passages, title=document.title, progress=progress)
    except LLMError as exc:
        Document.objects.filter(pk=document.pk).update(
            status=DocumentStatus.PENDING if retry_later else DocumentStatus.FAILED,
            status_reason=_embedding_failure(exc),
            updated_at=timezone.now(),
        )
        document.refresh_from_db()
        return document
    with transaction.atomic():
        Passage.objects.bulk_update(passages, ["embedding", "embedding_model"])
        vector_store.passages_store(passages)
        Document.objects.filter(pk=document.pk).update(
            status=DocumentStatus.READY,
            status_reason="",
            embedding_model=current_model(),
            passage_count=len(passages),
            updated_at=timezone.now(),
        )
    document.refresh_from_db()
    return document


def documents_to_embed(*, everything: bool = False):
    """Documents not searchable with the configured model: pending, failed, or ready with
    another model's vectors. `everything`: every document (a full reindex)."""
    documents = Document.objects.select_related("coach").order_by("coach__slug", "title", "id")
    if everything:
        return documents
    return documents.exclude(status=DocumentStatus.READY, embedding_model=current_model())


def library_reindex(
    *,
    everything: bool = False,
    pending_only: bool = False,
    retry_later: bool = False,
    on_document: Callable[[Document], Progress | None] | None = None,
) -> list[Document]:
    """Embed every document that needs it (see `documents_to_embed`); `pending_only`
    leaves failed ones alone. `retry_later` (the background embedding): a failure leaves
    the document pending and stops there, for the next try. Returns the documents tried."""
    documents = documents_to_embed(everything=everything)
    if pending_only:
        documents = documents.filter(status=DocumentStatus.PENDING)
    done = []
    for document in list(documents):
        progress = on_document(document) if on_document is not None else None
        embedded = document_embed(document=document, progress=progress, retry_later=retry_later)
        done.append(embedded)
        if retry_later and embedded.status != DocumentStatus.READY:
            break  # the server failed: the next ones would too, and are tried later
    return done


_background_lock = threading.Lock()
_background: threading.Thread | None = None
_background_tried = float("-inf")
# After a try, the next one waits this long (the documents stay pending meanwhile).
BACKGROUND_RETRY_SECONDS = 60.0


def library_embed_in_background() -> bool:
    """Start embedding the pending documents (the starter libraries after `migrate`) in a
    thread of this process, unless one runs already or there is nothing to do. Called by
    the first search or turn; COACH_KNOWLEDGE_BACKGROUND_EMBED=0 turns it off."""
    global _background
    from django.conf import settings

    global _background_tried
    if not settings.COACH_KNOWLEDGE_BACKGROUND_EMBED:
        return False
    with _background_lock:
        if _background is not None and _background.is_alive():
            return False
        if time.monotonic() - _background_tried < BACKGROUND_RETRY_SECONDS:
            return False  # tried a moment ago (the embedding server may still be starting)
        _background_tried = time.monotonic()
        if not Document.objects.filter(status=DocumentStatus.PENDING).exists():
            return False
        _background = _start_thread(_embed_pending_now)
    return True


def _start_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name="knowledge-embed", daemon=True)
    thread.start()
    return thread


def library_embed_pending() -> list[Document]:
    """Embed the documents waiting for it; if the embedding server fails they stay
    pending (with the reason) for the next try. Returns the documents tried."""
    documents = library_reindex(pending_only=True, retry_later=True)
    waiting = [d for d in documents if d.status != DocumentStatus.READY]
    logger.info(
        "Embedded %d waiting documents (%d still waiting).",
        len(documents) - len(waiting),
        Document.objects.filter(status=DocumentStatus.PENDING).count(),
    )
    return documents


def _embed_pending_now() -> None:
    """The background thread: its own database connection, closed when it ends."""
    from django.db import connections

    try:
        library_embed_pending()
    except Exception:
        logger.exception("Embedding the waiting documents failed.")
    finally:
        connections.close_all()


def document_delete(*, document: Document) -> None:
    document.delete()


def citations_record(*, message_id: int, hits: Sequence[Hit]) -> list[Citation]:
    """Keep the passages a reply was given, as they were, in the order they were given."""
    citations = [
        Citation(
            message_id=message_id,
            passage_id=hit.passage_id,
            rank=rank,
            score=round(hit.score, 4),
            document_title=hit.document_title[:TITLE_MAX_LENGTH],
            heading_path=hit.heading_path[:500],
            text=hit.text,
        )
        for rank, hit in enumerate(hits, start=1)
    ]
    with transaction.atomic():
        Citation.objects.filter(message_id=message_id).delete()
        # A passage removed since it was found is cited without its link.
        live = set(
            Passage.objects.filter(pk__in=[c.passage_id for c in citations]).values_list(
                "pk", flat=True
            )
        )
        for citation in citations:
            if citation.passage_id not in live:
                citation.passage_id = None
        return Citation.objects.bulk_create(citations)
