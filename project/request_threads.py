"""Threads for the sync code of ASGI requests, kept from one request to the next.

Django's ASGI handler runs each request in asgiref's `ThreadSensitiveContext`, so that
all the sync code of one request (a sync view, a middleware hook that hops, the close)
runs in one thread. asgiref makes that thread for the request and, when it ends, starts
one more thread to join it and waits for that on the event loop. Under load the making,
the joining and that last trip through a busy loop cost an unrelated page more than its
view (docs/performance.md). Here a request borrows a single-thread executor and gives
it back at its end: its thread serves the next request, as a WSGI server's threads do.

An executor also tells whether sync code ran in it since its connections were last
given back (`dirty`), which decides whether the response's close must run there.
"""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from asgiref.sync import SyncToAsync
from django.db import connections

from project.db import release_connections

# Idle threads a process keeps for the next requests; more are let go.
KEEP_IDLE = 32


class RequestThread(ThreadPoolExecutor):
    """One thread, for one request at a time."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        # Set by every call handed to the thread, cleared by `mark_clean` when the
        # thread's database connections have been given back.
        self.dirty = False
        self._last: Future | None = None

    def submit(self, fn, /, *args, **kwargs) -> Future:
        self.dirty = True
        future = super().submit(fn, *args, **kwargs)
        self._last = future
        return future

    def when_idle(self, callback) -> None:
        # A request's calls run one after the other: the last done means all are.
        if self._last is None:
            callback()
        else:
            self._last.add_done_callback(lambda _done: callback())


_current: contextvars.ContextVar[RequestThread | None] = contextvars.ContextVar(
    "stepwise_request_thread", default=None
)


def needs_closing() -> bool:
    """Whether sync code ran in the request's thread and may have left something there
    for Django's close (a database connection). Outside a lent executor (Django's own
    handler, the test client's), whether the request's thread was used at all."""
    executor = _current.get()
    if executor is not None:
        return executor.dirty
    context = SyncToAsync.thread_sensitive_context.get(None)
    return context is not None and context in SyncToAsync.context_to_thread_executor


def mark_clean() -> None:
    """Called in the request's thread once its connections are given back: nothing is
    left for the response's close to do there."""
    executor = _current.get()
    if executor is not None:
        executor.dirty = False


class RequestThreads:
    """The executors waiting for a request (most recently used first: a warm thread)."""

    def __init__(self, keep: int = KEEP_IDLE) -> None:
        self.keep = keep
        self._idle: list[RequestThread] = []
        self._lock = threading.Lock()

    def lend(self) -> tuple[RequestThread, contextvars.Token]:
        with self._lock:
            executor = self._idle.pop() if self._idle else None
        executor = executor or RequestThread()
        # What the last request left, its close (or asgiref's, after a cancel) cleared.
        executor.dirty = False
        return executor, _current.set(executor)

    def give_back(self, executor: RequestThread, token: contextvars.Token) -> None:
        _current.reset(token)
        # A request cancelled while its view ran (the client went away) leaves the view
        # running: the thread comes back when it is done.
        executor.when_idle(lambda: self._keep(executor))

    def _keep(self, executor: RequestThread) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(executor)
                return
        executor.shutdown(wait=False)

    def idle_count(self) -> int:
        return len(self._idle)


def release() -> None:
    """In the request's thread, when its sync code is done: its connections given back
    (as `db_step` gives them back), and when none is left inside a transaction,
    nothing left for the close to do there."""
    release_connections()
    if not any(c.in_atomic_block for c in connections.all(initialized_only=True)):
        mark_clean()
