"""Sync access to the async clients, for callers without an event loop.

One daemon thread per process runs an event loop for them (a "portal"), so the SDK's
async client for that loop is built once and keeps its connections, as the sync
client used to. Code that already runs on a loop awaits the async methods instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import TypeVar

from coach.llm.types import ChatMessage, Reply, ReplyChunk

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def portal_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="llm-portal", daemon=True).start()
            _loop = loop
    return _loop


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on the portal loop and wait for its result."""
    loop = portal_loop()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("Called the sync model API from async code: await the async one.")

    async def call() -> T:
        return await make()

    return asyncio.run_coroutine_threadsafe(call(), loop).result()


def iterate(make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    """Iterate an async iterator made on the portal loop; closing early closes it there."""
    iterator = make()
    try:
        while True:
            try:
                yield run(lambda: anext(iterator))
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            run(aclose)


class SyncFacade:
    """`complete` and `stream` for sync callers, over a client's `acomplete`/`astream`."""

    def complete(self, messages: Sequence[ChatMessage]) -> Reply:
        return run(lambda: self.acomplete(messages))  # type: ignore[attr-defined]

    def stream(self, messages: Sequence[ChatMessage]) -> Iterator[ReplyChunk | Reply]:
        return iterate(lambda: self.astream(messages))  # type: ignore[attr-defined]
