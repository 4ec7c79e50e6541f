"""Short database steps from async code, without holding a connection in between.

Django's ORM is sync. Async code groups its queries into short sync functions and runs
each through `db_step` (one thread hop per group, not per query). Where that runs:

- Under an ASGI server, on a small shared pool of threads (COACH_DB_THREADS). The
  step's connection is released when it ends (back to the psycopg pool on PostgreSQL;
  on SQLite each of these threads keeps its own), so a turn that waits on the model for
  a minute holds no connection.
- Inside `async_to_sync` from sync code (tests, management commands, a sync view), on
  the caller's own thread, with its connection and any transaction it has open.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, sync_to_async
from django.conf import settings
from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _shared_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.COACH_DB_THREADS, thread_name_prefix="db-step"
            )
    return _executor


def _has_sync_caller() -> bool:
    # asgiref records the waiting sync thread of an enclosing async_to_sync here. A task
    # that outlived that call finds it gone (`_broken`; asgiref is pinned): the turns'
    # housekeeping, started on the server's loop by a form's turn that waited in a sync
    # view, must go on without that view's thread.
    executor = getattr(AsyncToSync.executors, "current", None)
    return executor is not None and not executor._broken


def release_connections() -> None:
    """Give this thread's connections back, unless one is inside a transaction (a test's).

    A SQLite connection stays open: it is a file handle, not a server's slot, and each of
    the few shared threads keeping its own is the pool. Opening one costs more than most
    steps (Django registers its SQL functions and runs the PRAGMAs each time).
    """
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            continue
        # A kept SQLite connection must not carry a transaction into the next step or
        # request: one left without autocommit is closed, as Django's close would.
        left_open = connection.connection is not None and not connection.autocommit
        if connection.vendor != "sqlite" or left_open:
            connection.close()


async def db_step(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run `func(*args, **kwargs)`, a short piece of sync database work, from async code."""
    if _has_sync_caller():
        return await sync_to_async(func, thread_sensitive=True)(*args, **kwargs)

    def step() -> R:
        try:
            return func(*args, **kwargs)
        finally:
            release_connections()

    return await sync_to_async(step, thread_sensitive=False, executor=_shared_executor())()


class SqlNames:
    """A model's table (`.table`) and columns (by field name), quoted for raw SQL."""

    def __init__(self, table: str, columns: dict[str, str]):
        self.table = table
        self.__dict__.update(columns)

    def __getattr__(self, name: str) -> str:  # for type checkers: columns are set above
        raise AttributeError(name)


def sql_names(connection, model, *fields: str) -> SqlNames:
    """The names of `model` for hand-written SQL on `connection`: for the few statements
    every turn runs, where the ORM's building of each query costs more than the query."""
    quote = connection.ops.quote_name
    meta = model._meta
    return SqlNames(
        quote(meta.db_table), {name: quote(meta.get_field(name).column) for name in fields}
    )
