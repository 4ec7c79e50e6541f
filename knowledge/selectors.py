"""Reads of the knowledge library, and the search that hides how vectors are searched.

Search: the passages of `ready` documents whose vectors were made by the configured
model (COACH_EMBEDDING_MODEL), never a mix of two models. Vectors are stored in the
database (float32 bytes) and searched in this process with numpy: one matrix per coach
(and one for all coaches), kept in memory and rebuilt when the library's version
changes. The version (how many ready documents, and when the last one changed) is read
from the database on every search, so several workers each see every change.

Above COACH_KNOWLEDGE_EXACT_MAX passages the matrix is searched through an inverted-file
index (knowledge.ivf: approximate, a few per cent of the rows read per query).

On PostgreSQL with pgvector (knowledge.vector_store) the same search runs in the
database through an HNSW index instead; the caller cannot tell which.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count, Max, Q

from coach.models import Coach
from knowledge import ivf as ivf_index
from knowledge import vector_store, vectors
from knowledge.models import Citation, Document, DocumentStatus, Passage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    """A passage found for a query, with what a page or a prompt shows of it."""

    passage_id: int
    document_id: int
    document_title: str
    coach_id: int
    heading_path: str
    text: str
    token_estimate: int
    score: float


@dataclass(frozen=True)
class LibraryState:
    """How far a library (one coach's, or all of them) is ready to search."""

    ready: int = 0  # documents searchable with the configured model
    pending: int = 0  # waiting for their embeddings
    failed: int = 0
    stale: int = 0  # ready, but made by another model: `knowledge_reindex` is needed

    @property
    def preparing(self) -> bool:
        return self.pending > 0

    @property
    def needs_reindex(self) -> bool:
        return self.stale > 0


def current_model() -> str:
    return settings.COACH_EMBEDDING_MODEL


def library_state(*, coach_id: int | None = None) -> LibraryState:
    documents = Document.objects.all()
    if coach_id is not None:
        documents = documents.filter(coach_id=coach_id)
    model = current_model()
    counts = documents.aggregate(
        ready=Count("id", filter=Q(status=DocumentStatus.READY, embedding_model=model)),
        stale=Count("id", filter=Q(status=DocumentStatus.READY) & ~Q(embedding_model=model)),
        pending=Count("id", filter=Q(status=DocumentStatus.PENDING)),
        failed=Count("id", filter=Q(status=DocumentStatus.FAILED)),
    )
    return LibraryState(**counts)


def documents_stale_exist() -> bool:
    """Whether some ready document's vectors come from another model than the configured one."""
    return (
        Document.objects.filter(status=DocumentStatus.READY)
        .exclude(embedding_model=current_model())
        .exists()
    )


def _searchable(coach_id: int | None):
    documents = Document.objects.filter(
        status=DocumentStatus.READY, embedding_model=current_model()
    )
    if coach_id is not None:
        documents = documents.filter(coach_id=coach_id)
    return documents


def library_version(*, coach_id: int | None) -> tuple[int, str]:
    """Changes whenever a searchable document is added, changed or removed."""
    found = _searchable(coach_id).order_by().aggregate(n=Count("id"), last=Max("updated_at"))
    return found["n"], str(found["last"] or "")


def library_is_searchable(*, coach_id: int | None) -> bool:
    return _searchable(coach_id).exists()


@dataclass
class _Index:
    version: tuple[int, str]
    model: str
    ids: np.ndarray
    matrix: np.ndarray
    # Above COACH_KNOWLEDGE_EXACT_MAX passages: the inverted-file index (`ids` then follow
    # its grouped rows, and `matrix` is its matrix).
    ivf: ivf_index.Ivf | None = None


_indexes: dict[int | None, _Index] = {}
_lock = threading.Lock()


def _index(coach_id: int | None) -> _Index:
    version = library_version(coach_id=coach_id)
    model = current_model()
    index = _indexes.get(coach_id)
    if index is not None and index.version == version and index.model == model:
        return index
    with _lock:
        index = _indexes.get(coach_id)
        if index is None or index.version != version or index.model != model:
            passages = Passage.objects.filter(
                document__in=_searchable(coach_id), embedding_model=model
            ).exclude(embedding=None)
            rows = list(passages.order_by("id").values_list("id", "embedding"))
            ids = np.array([pk for pk, _e in rows], dtype=np.int64)
            matrix = vectors.matrix([embedding for _pk, embedding in rows])
            del rows
            index = _Index(version=version, model=model, ids=ids, matrix=matrix)
            _indexes[coach_id] = index
            if len(ids) > settings.COACH_KNOWLEDGE_EXACT_MAX:
                _group_soon(coach_id, index)
            logger.info(
                "Knowledge index for coach %s: %d passages (%s).", coach_id, len(ids), model
            )
    return index


_grouping: dict[int | None, threading.Thread] = {}


def _group_soon(coach_id: int | None, index: _Index) -> None:
    """Build the inverted-file index of a large library in a thread; searches stay exact
    (slower) until it replaces the exact one, unless the library changed meanwhile."""

    def group() -> None:
        try:
            grouped = ivf_index.build(index.matrix)
            faster = _Index(
                version=index.version,
                model=index.model,
                ids=index.ids[grouped.order],
                matrix=grouped.matrix,
                ivf=grouped,
            )
            with _lock:
                if _indexes.get(coach_id) is index:
                    _indexes[coach_id] = faster
        except Exception:
            logger.exception("Grouping the knowledge index of coach %s failed.", coach_id)
        finally:
            _grouping.pop(coach_id, None)

    thread = threading.Thread(target=group, name="knowledge-ivf", daemon=True)
    _grouping[coach_id] = thread
    thread.start()


def indexes_clear() -> None:
    with _lock:
        _indexes.clear()


def passages_search(
    *, query_vector: list[float] | np.ndarray, coach_id: int | None, limit: int
) -> list[Hit]:
    """The `limit` passages most like the query (cosine similarity), best first: through
    pgvector's HNSW index where the database has it, else in process."""
    if limit < 1:
        return []
    query = vectors.unit(query_vector)
    if vector_store.enabled():
        found = vector_store.search(
            query=query, model=current_model(), coach_id=coach_id, limit=limit
        )
    else:
        found = _search_in_process(query, coach_id=coach_id, limit=limit)
    return _hits(found)


def _search_in_process(query: np.ndarray, *, coach_id: int | None, limit: int):
    index = _index(coach_id)
    if not len(index.ids):
        return []
    if query.shape[0] != index.matrix.shape[1]:
        logger.warning(
            "A query vector of %d dimensions cannot be compared with stored ones of %d: "
            "COACH_EMBEDDING_MODEL changed without `manage.py knowledge_reindex`?",
            query.shape[0],
            index.matrix.shape[1],
        )
        return []
    if index.ivf is not None:
        positions, top_scores = ivf_index.search(index.ivf, query, limit=limit)
        pairs = zip(positions, top_scores, strict=True)
        return [(int(index.ids[i]), float(score)) for i, score in pairs]
    scores = index.matrix @ query
    count = min(limit, len(scores))
    top = np.argpartition(-scores, count - 1)[:count]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(index.ids[i]), float(scores[i])) for i in top]


def _hits(found: list[tuple[int, float]]) -> list[Hit]:
    """The found passages as hits, in the order found (one query, no model instances)."""
    rows = (
        Passage.objects.filter(pk__in=[pk for pk, _score in found])
        .order_by()
        .values_list(
            "pk",
            "document_id",
            "document__title",
            "coach_id",
            "heading_path",
            "text",
            "token_estimate",
        )
    )
    by_pk = {row[0]: row for row in rows}
    hits = []
    for pk, score in found:
        row = by_pk.get(pk)
        if row is None:  # removed since the index was built
            continue
        _pk, document_id, title, coach_id, heading_path, text, tokens = row
        hits.append(
            Hit(
                passage_id=pk,
                document_id=document_id,
                document_title=title,
                coach_id=coach_id,
                heading_path=heading_path,
                text=text,
                token_estimate=tokens,
                score=score,
            )
        )
    return hits


def documents_of_coach(*, coach: Coach):
    return Document.objects.filter(coach=coach).order_by("title", "id")


def passage_get(*, pk: int) -> Passage:
    return Passage.objects.select_related("document", "coach").get(pk=pk)


def message_citations(*, message_ids: list[int]) -> dict[int, list[Citation]]:
    """The citations of these messages, by message id, in rank order."""
    cited: dict[int, list[Citation]] = {}
    for citation in Citation.objects.filter(message_id__in=message_ids).order_by(
        "message_id", "rank"
    ):
        cited.setdefault(citation.message_id, []).append(citation)
    return cited
