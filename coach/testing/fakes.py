"""A fake model client for tests: swapped in at our own boundary (coach.llm)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence

from coach.llm import ChatMessage, LLMError, Reply, ReplyChunk, SyncFacade


class FakeChatClient(SyncFacade):
    """Answers from a queue of replies or errors; with an empty queue, echoes a canned plan.

    Records every request in `calls`. `delay` waits before the answer; `chunk_delay`
    waits between the pieces of a stream (one piece a word). A queued `PartialFailure`
    streams its text and then fails. Thread-safe, for concurrency tests.
    """

    model = "fake-model"

    def __init__(self, *responses: str | LLMError, delay: float = 0.0, chunk_delay: float = 0.0):
        self.responses: list[str | LLMError | PartialFailure] = list(responses)
        self.calls: list[list[ChatMessage]] = []
        self.delay = delay
        self.chunk_delay = chunk_delay
        self._lock = threading.Lock()

    def queue(self, *responses: str | LLMError | PartialFailure) -> None:
        with self._lock:
            self.responses.extend(responses)

    async def _next(self, messages: Sequence[ChatMessage]) -> str | PartialFailure:
        with self._lock:
            self.calls.append(list(messages))
            response = self.responses.pop(0) if self.responses else None
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(response, LLMError):
            raise response
        if response is None:
            response = f"**Plan** for: {messages[-1]['content'][:80]}\n\n1. Breathe.\n2. Begin."
        return response

    async def acomplete(self, messages: Sequence[ChatMessage]) -> Reply:
        content = await self._next(messages)
        if isinstance(content, PartialFailure):
            raise content.error
        return Reply(content=content, model=self.model, prompt_tokens=11, completion_tokens=7)

    async def astream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[ReplyChunk | Reply]:
        response = await self._next(messages)
        content = response.text if isinstance(response, PartialFailure) else response
        words = content.split(" ")
        for i, word in enumerate(words):
            if i and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            yield ReplyChunk(text=word if i == len(words) - 1 else word + " ")
        if isinstance(response, PartialFailure):
            raise response.error
        yield Reply(content=content, model=self.model, prompt_tokens=11, completion_tokens=7)


class PartialFailure:
    """A queued answer that streams `text` and then fails with `error`."""

    def __init__(self, text: str, error: LLMError):
        self.text = text
        self.error = error
