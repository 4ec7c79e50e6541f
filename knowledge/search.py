"""The public search of the libraries (page and API): embed the query, find passages."""

from __future__ import annotations

from dataclasses import dataclass

from coach.llm import get_embedding_client
from coach.models import Coach
from knowledge import selectors, services
from knowledge.selectors import Hit, LibraryState

QUERY_MAX_LENGTH = 200
RESULTS = 10


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    state: LibraryState


def library_search(*, query: str, coach: Coach | None, limit: int = RESULTS) -> SearchResult:
    """The passages most like `query` in `coach`'s library (every coach's when None).
    Raises LLMError when the embedding server fails."""
    services.library_embed_in_background()
    coach_id = coach.pk if coach is not None else None
    state = selectors.library_state(coach_id=coach_id)
    if not state.ready:
        return SearchResult(hits=[], state=state)
    [vector] = get_embedding_client().embed([query], kind="query")
    hits = selectors.passages_search(query_vector=vector, coach_id=coach_id, limit=limit)
    return SearchResult(hits=hits, state=state)
