"""A fake model client for tests: swapped in at our own boundary (coach.llm)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from coach.llm import ChatMessage, LLMError, Reply, ReplyChunk


class FakeChatClient:
    """Answers from a queue of replies or errors; with an empty queue, echoes a canned plan.

    Records every request in `calls`. Thread-safe, for concurrency tests.
    """

    model = "fake-model"

    def __init__(self, *responses: str | LLMError, delay: float = 0.0):
        self.responses: list[str | LLMError] = list(responses)
        self.calls: list[list[ChatMessage]] = []
        self.delay = delay
        self._lock = threading.Lock()

    def queue(self, *responses: str | LLMError) -> None:
        with self._lock:
            self.responses.extend(responses)

    def _next(self, messages: Sequence[ChatMessage]) -> str:
        with self._lock:
            self.calls.append(list(messages))
            response = self.responses.pop(0) if self.responses else None
        if self.delay:
            threading.Event().wait(self.delay)
        if isinstance(response, LLMError):
            raise response
        if response is None:
            response = f"**Plan** for: {messages[-1]['content'][:80]}\n\n1. Breathe.\n2. Begin."
        return response

    def complete(self, messages: Sequence[ChatMessage]) -> Reply:
        content = self._next(messages)
        return Reply(content=content, model=self.model, prompt_tokens=11, completion_tokens=7)

    def stream(self, messages: Sequence[ChatMessage]) -> Iterator[ReplyChunk | Reply]:
        content = self._next(messages)
        for word in content.split(" "):
            yield ReplyChunk(text=word + " ")
        yield Reply(content=content, model=self.model, prompt_tokens=11, completion_tokens=7)
