"""pgvector on PostgreSQL: the passages' vectors in `knowledge_passage_vector`, searched
through an HNSW index (cosine distance). Used only when the table exists (migration 0003
creates it where the server has the extension); everything else searches in process.

An HNSW index covers one dimension: each is a partial index over the rows of that many
dimensions, on `embedding::vector(<dims>)`, made the first time vectors of that size are
written (the migration makes the one for the default model, 384).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from knowledge import vectors
from knowledge.models import Passage, PassageVector

logger = logging.getLogger(__name__)
TABLE = PassageVector._meta.db_table
_available: dict[str, bool] = {}
_indexed: set[int] = set()


def enabled() -> bool:
    """Whether this database searches with pgvector (checked once per process):
    PostgreSQL, the table made (the server has pgvector), and COACH_KNOWLEDGE_PGVECTOR on."""
    if connection.vendor != "postgresql" or not settings.COACH_KNOWLEDGE_PGVECTOR:
        return False
    key = connection.settings_dict["NAME"] or ""
    if key not in _available:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [TABLE])
            _available[key] = bool(cursor.fetchone()[0])
        logger.info("Knowledge search: %s.", "pgvector" if _available[key] else "in process")
    return _available[key]


def forget() -> None:
    """Check again (tests; after migrating)."""
    _available.clear()
    _indexed.clear()


def hnsw_index_sql(dims: int) -> str:
    dims = int(dims)
    return (
        f"CREATE INDEX IF NOT EXISTS knowledge_passage_vector_hnsw_{dims} ON {TABLE} "
        f"USING hnsw ((embedding::vector({dims})) vector_cosine_ops) WHERE dims = {dims}"
    )


def ensure_index(dims: int) -> None:
    if dims in _indexed:
        return
    with connection.cursor() as cursor:
        cursor.execute(hnsw_index_sql(dims))
    _indexed.add(dims)


def passages_store(passages: Sequence[Passage]) -> None:
    """Replace the vector rows of these passages by their current embeddings. Call it in
    the transaction that stores the embeddings."""
    if not enabled() or not passages:
        return
    PassageVector.objects.filter(passage_id__in=[p.pk for p in passages]).delete()
    rows = []
    for passage in passages:
        if passage.embedding is None or not passage.embedding_model:
            continue
        values = vectors.from_bytes(passage.embedding)
        rows.append(
            PassageVector(
                passage_id=passage.pk,
                coach_id=passage.coach_id,
                model=passage.embedding_model,
                dims=len(values),
                embedding=values.tolist(),
            )
        )
    for dims in {row.dims for row in rows}:
        ensure_index(dims)
    PassageVector.objects.bulk_create(rows, batch_size=500)


def search_sql(*, dims: int, by_coach: bool) -> str:
    """The nearest-neighbour query: parameters (vector, model, model[, coach], vector,
    limit). `dims` is an int: it picks the HNSW index of that dimension."""
    dims = int(dims)
    coach_filter = "AND v.coach_id = %s" if by_coach else ""
    return f"""
        SELECT v.passage_id, 1 - ((v.embedding::vector({dims})) <=> %s::vector({dims}))
        FROM {TABLE} v
        JOIN knowledge_passage p ON p.id = v.passage_id
        JOIN knowledge_document d ON d.id = p.document_id
        WHERE v.dims = {dims} AND v.model = %s AND d.status = 'ready'
          AND d.embedding_model = %s {coach_filter}
        ORDER BY (v.embedding::vector({dims})) <=> %s::vector({dims})
        LIMIT %s
    """  # noqa: S608 - dims is an int, the rest are parameters


def search_params(*, query: np.ndarray, model: str, coach_id: int | None, limit: int) -> list:
    literal = "[" + ",".join(f"{x:.7g}" for x in query.tolist()) + "]"
    params: list = [literal, model, model]
    if coach_id is not None:
        params.append(coach_id)
    return [*params, literal, int(limit)]


def search(
    *, query: np.ndarray, model: str, coach_id: int | None, limit: int
) -> list[tuple[int, float]]:
    """(passage id, cosine similarity) of the nearest vectors of searchable documents."""
    sql = search_sql(dims=int(query.shape[0]), by_coach=coach_id is not None)
    params = search_params(query=query, model=model, coach_id=coach_id, limit=limit)
    with transaction.atomic(), connection.cursor() as cursor:
        # pgvector 0.8: keep scanning the graph until enough rows pass the filters (the
        # order may then be slightly relaxed: sorted again below).
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute(sql, params)
        found = [(int(pk), float(score)) for pk, score in cursor.fetchall()]
    return sorted(found, key=lambda pair: -pair[1])
