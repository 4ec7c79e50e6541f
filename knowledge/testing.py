"""A fake embedding client for tests, swapped in at our boundary (coach.llm)."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator, Sequence

import pytest

from coach.llm import LLMError, use_embedding_client
from coach.llm.sync import run

WORD = re.compile(r"\w+", re.UNICODE)
DIMENSIONS = 64


def bag_of_words(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """A deterministic vector: each word (lower case, 3+ characters, or 2+ in Korean)
    adds 1 at a position its hash picks. Texts sharing words come out close."""
    vector = [0.0] * dimensions
    for word in WORD.findall(text.lower()):
        if len(word) < (3 if word.isascii() else 2):
            continue
        index = int(hashlib.md5(word.encode(), usedforsecurity=False).hexdigest(), 16) % dimensions
        vector[index] += 1.0
    if not any(vector):
        vector[0] = 1.0
    return vector


class FakeEmbeddingClient:
    """Embeds as `bag_of_words`; records every call in `calls` as (kind, texts). Queue an
    LLMError with `fail_next` to make the next call fail."""

    model = "fake-embedding-model"

    def __init__(self, dimensions: int = DIMENSIONS) -> None:
        self.dimensions = dimensions
        self.calls: list[tuple[str, list[str]]] = []
        self.errors: list[LLMError] = []
        self._lock = threading.Lock()

    def fail_next(self, *errors: LLMError) -> None:
        with self._lock:
            self.errors.extend(errors)

    async def aembed(self, texts: Sequence[str], *, kind: str = "passage") -> list[list[float]]:
        with self._lock:
            self.calls.append((kind, list(texts)))
            error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        return [bag_of_words(text, self.dimensions) for text in texts]

    def embed(self, texts: Sequence[str], *, kind: str = "passage") -> list[list[float]]:
        return run(lambda: self.aembed(texts, kind=kind))

    @property
    def passages_embedded(self) -> int:
        return sum(len(texts) for kind, texts in self.calls if kind == "passage")


@pytest.fixture
def fake_embeddings(settings) -> Iterator[FakeEmbeddingClient]:
    """The embedding client replaced by `FakeEmbeddingClient` (and its model configured),
    with the in-memory search indexes cleared before and after."""
    from knowledge.selectors import indexes_clear

    fake = FakeEmbeddingClient()
    settings.COACH_EMBEDDING_MODEL = fake.model
    indexes_clear()
    with use_embedding_client(fake):
        yield fake
    indexes_clear()
