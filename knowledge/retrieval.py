"""What a turn consults: the coach's passages nearest to the person's words.

Async, for the turn's task: the query is embedded (a wait on the embedding server, with
no database connection held), then the search runs as one short database step. Any
failure of the embedding server leaves the turn without passages (logged), never fails it.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from coach.llm import LLMError, get_embedding_client
from knowledge import selectors, services
from knowledge.selectors import Hit
from project.db import db_step

logger = logging.getLogger(__name__)
QUERY_MAX_CHARS = 2000


def query_text(*, goal: str, latest: str) -> str:
    """The search query of a turn: the person's latest words together with their goal."""
    parts = [part.strip() for part in (latest, goal) if part and part.strip()]
    unique = list(dict.fromkeys(parts))
    return "\n".join(unique)[:QUERY_MAX_CHARS]


async def passages_retrieve(*, coach_id: int, query: str, limit: int | None = None) -> list[Hit]:
    """The best passages of the coach's library for `query`, best first ([] when the
    library is empty or not ready, or the embedding server fails)."""
    if not query.strip():
        return []
    if not await db_step(_searchable_or_start, coach_id=coach_id):
        return []
    started = time.monotonic()
    try:
        [vector] = await get_embedding_client().aembed([query], kind="query")
    except LLMError as exc:
        logger.warning("No passages for this turn: the embedding server failed (%s).", exc)
        return []
    hits = await db_step(
        selectors.passages_search,
        query_vector=vector,
        coach_id=coach_id,
        limit=limit or settings.COACH_KNOWLEDGE_TOP_K * 2,
    )
    logger.info(
        "Retrieved %d passages for coach %s in %.0f ms.",
        len(hits),
        coach_id,
        (time.monotonic() - started) * 1000,
    )
    return hits


def _searchable_or_start(*, coach_id: int) -> bool:
    services.library_embed_in_background()
    return selectors.library_is_searchable(coach_id=coach_id)
