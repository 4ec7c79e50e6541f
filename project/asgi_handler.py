"""Django's ASGI handler, without a thread for a request that runs no sync code.

Django's `ASGIHandler` sends the `request_started` signal and closes the response
(`request_finished`) through `sync_to_async`, in a thread of the request's own (asgiref's
ThreadSensitiveContext). Its receivers reset the query log and close this thread's
old database connections: on the event loop's thread there are none. So every request
started a thread and made two more trips through the loop for nothing, and a streamed
reply kept its idle thread for as long as it streamed (about 500 a worker in a burst of
1,000).

Here both run inline when every receiver connected is one of Django's own that only
looks after the calling thread's connections or context (or caches whose close does
nothing), and, for the close, when no sync code ran in the request's thread. After a
sync view, a middleware hook that hopped, or with any other receiver, the request's
thread is used as before.

`handle` is Django 5.2's, with those two calls changed (marked "Stepwise").
project/tests/test_asgi_handler.py fails when Django's changes, so that an upgrade
re-reads it.
"""

from __future__ import annotations

import asyncio
import contextlib

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.core.cache import close_caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import reset_urlconf
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, reset_queries
from django.dispatch import Signal
from django.http import HttpResponseBase
from django.urls import set_script_prefix
from django.utils.module_loading import import_string

# Receivers that only look after the calling thread's database connections, or the
# calling context's URLconf.
LOCAL_RECEIVERS = {reset_queries, close_old_connections, reset_urlconf}


def _caches_close_nothing() -> bool:
    return all(
        import_string(options["BACKEND"]).close is BaseCache.close
        for options in settings.CACHES.values()
    )


def loop_safe(signal: Signal, sender: type) -> bool:
    """Whether every receiver of `signal` may run on the event loop's thread."""
    sync_receivers, async_receivers = signal._live_receivers(sender)
    safe = set(LOCAL_RECEIVERS)
    if _caches_close_nothing():
        safe.add(close_caches)
    return not async_receivers and all(receiver in safe for receiver in sync_receivers)


def request_thread_started() -> bool:
    """Whether sync code ran in this request's own thread (a sync view, a hook)."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    return context is not None and context in SyncToAsync.context_to_thread_executor


class StepwiseASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        # Apps are ready and their receivers connected: what they are does not change.
        self.start_inline = loop_safe(request_started, self.__class__)
        self.finish_inline = loop_safe(request_finished, self.__class__)

    async def send_started(self, scope: dict) -> None:
        if self.start_inline:
            request_started.send(sender=self.__class__, scope=scope)
        else:
            await request_started.asend(sender=self.__class__, scope=scope)

    async def close_response(self, response: HttpResponseBase) -> None:
        if self.finish_inline and not request_thread_started():
            response.close()
        else:
            await sync_to_async(response.close)()

    async def handle(self, scope, receive, send):
        """Handles the ASGI request. Called via the __call__ method."""
        # Receive the HTTP request body as a stream object.
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        # Request is complete and can be served.
        set_script_prefix(get_script_prefix(scope))
        await self.send_started(scope)  # Stepwise
        # Get the request and check for basic issues.
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await self.close_response(error_response)  # Stepwise
            return

        async def process_request(request, send):
            response = await self.run_get_response(request)
            # Client disconnected during send_response (ignore exception).
            with contextlib.suppress(asyncio.CancelledError):
                await self.send_response(response, send)

            return response

        # Try to catch a disconnect while getting response.
        tasks = [
            # Check the status of these tasks and (optionally) terminate them
            # in this order. The listen_for_disconnect() task goes first
            # because it should not raise unexpected errors that would prevent
            # us from cancelling process_request().
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # Now wait on both tasks (they may have both finished by now).
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    # Ignore client disconnects.
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                # Allow views to handle cancellation.
                task.cancel()
                # Task re-raised the CancelledError as expected.
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await request_finished.asend(sender=self.__class__)
        else:
            await self.close_response(response)  # Stepwise

        body_file.close()
