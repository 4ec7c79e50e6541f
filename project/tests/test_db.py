"""Database steps from async code (project/db.py): where they run."""

import asyncio
import threading

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, transaction

from project.db import db_step, release_connections


def thread_name() -> str:
    return threading.current_thread().name


def test_a_step_inside_async_to_sync_runs_on_the_sync_callers_thread():
    async def step():
        return await db_step(thread_name)

    assert async_to_sync(step)() == threading.current_thread().name


def test_a_task_that_outlives_its_sync_caller_steps_on_the_shared_threads():
    # A form's turn under the ASGI server: a sync view waits (async_to_sync) on the
    # server's loop, and a task started there (the turns' housekeeping) goes on after
    # the view has returned. Its steps cannot go to the view's thread any more.
    async def server():
        started: list[asyncio.Task] = []
        view_thread: list[str] = []

        async def later():
            await asyncio.sleep(0.05)  # the view has returned by now
            return await db_step(thread_name)

        async def start():
            started.append(asyncio.get_running_loop().create_task(later()))

        def sync_view():
            view_thread.append(thread_name())
            async_to_sync(start)()

        await sync_to_async(sync_view, thread_sensitive=False)()
        ran_in = await started[0]
        return view_thread[0], ran_in

    view_thread, ran_in = asyncio.run(server())

    assert ran_in.startswith("db-step") and ran_in != view_thread


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_connection_left_without_autocommit_is_closed_on_release():
    connection.ensure_connection()
    transaction.set_autocommit(False)  # a view that forgot to restore it
    try:
        release_connections()
        assert connection.connection is None
    finally:
        transaction.set_autocommit(True)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_release_keeps_a_sqlite_connection_and_closes_any_other():
    connection.ensure_connection()
    release_connections()
    assert (connection.connection is not None) == (connection.vendor == "sqlite")
