"""A fake model client for tests: swapped in at our own boundary (coach.llm)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence

from coach.llm import ChatMessage, LLMError, Reply, ReplyChunk, SyncFacade
from coach.llm.types import FINISH_LENGTH


class FakeChatClient(SyncFacade):
    """Answers from a queue of replies or errors; with an empty queue, echoes a canned plan.

    Records every request in `calls`. `delay` waits before the answer; `chunk_delay`
    waits between the pieces of a stream (one piece a word). A queued `PartialFailure`
    streams its text and then fails; a queued `CutShort` ends as if it reached the
    length limit. Thread-safe, for concurrency tests.
    """

    model = "fake-model"

    def __init__(self, *responses: str | LLMError, delay: float = 0.0, chunk_delay: float = 0.0):
        self.responses: list[str | LLMError | PartialFailure | CutShort] = list(responses)
        self.calls: list[list[ChatMessage]] = []
        self.delay = delay
        self.chunk_delay = chunk_delay
        self._lock = threading.Lock()

    def queue(self, *responses: str | LLMError | PartialFailure | CutShort) -> None:
        with self._lock:
            self.responses.extend(responses)

    async def _next(self, messages: Sequence[ChatMessage]) -> str | PartialFailure | CutShort:
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

    def _reply(self, response: str | CutShort) -> Reply:
        cut = isinstance(response, CutShort)
        return Reply(
            content=response.text if cut else response,
            model=self.model,
            prompt_tokens=11,
            completion_tokens=7,
            finish_reason=FINISH_LENGTH if cut else "stop",
        )

    async def acomplete(self, messages: Sequence[ChatMessage]) -> Reply:
        response = await self._next(messages)
        if isinstance(response, PartialFailure):
            raise response.error
        return self._reply(response)

    async def astream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[ReplyChunk | Reply]:
        response = await self._next(messages)
        content = response if isinstance(response, str) else response.text
        words = content.split(" ")
        for i, word in enumerate(words):
            if i and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            yield ReplyChunk(text=word if i == len(words) - 1 else word + " ")
        if isinstance(response, PartialFailure):
            raise response.error
        yield self._reply(response)


class PartialFailure:
    """A queued answer that streams `text` and then fails with `error`."""

    def __init__(self, text: str, error: LLMError):
        self.text = text
        self.error = error


class CutShort:
    """A queued answer that streams `text` and ends at the length limit."""

    def __init__(self, text: str):
        self.text = text
