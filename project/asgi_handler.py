"""Django's ASGI handler, with fewer trips between the event loop and threads.

Django's `ASGIHandler` runs each request's sync code in a thread of the request's own
(asgiref's ThreadSensitiveContext): a sync view, its rendering, the `request_started`
signal and the response's close (`request_finished`) are each a trip from the event
loop to that thread and back, and asgiref makes the thread for the request and joins
it in yet another at the end. On a loop relaying hundreds of streams every trip waits
for a pass over everything else that is ready, so an unrelated page took several
times its own work (docs/performance.md). Here:

- A request borrows its thread from `project.request_threads` and gives it back, so
  no thread is made or joined for it.
- `request_started` and the close run inline on the loop when every receiver is one of
  Django's own that only looks after the calling thread's database connections or the
  context's URLconf (or caches whose close does nothing), and, for the close, when
  nothing was left in the request's thread (`request_threads.needs_closing`).
- A sync view is one trip: the view, its rendering (when no middleware has a
  `process_template_response`), then its thread's connections given back, which leaves
  the close nothing to do there.

After a hook that hopped, or with any other receiver, the request's thread is used as
before. `handle` and `_get_response_async` are Django 5.2's, with those calls changed
(marked "Stepwise"). project/tests/test_asgi_handler.py fails when Django changes them, so
that an upgrade re-reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from inspect import iscoroutinefunction

from asgiref.sync import ThreadSensitiveContext, sync_to_async
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

from project import request_threads

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


class StepwiseASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        # Apps are ready and their receivers connected: what they are does not change.
        self.start_inline = loop_safe(request_started, self.__class__)
        self.finish_inline = loop_safe(request_finished, self.__class__)
        self.threads = request_threads.RequestThreads()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)  # refuses it
        executor, token = self.threads.lend()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.threads.give_back(executor, token)

    async def send_started(self, scope: dict) -> None:
        if self.start_inline:
            request_started.send(sender=self.__class__, scope=scope)
        else:
            await request_started.asend(sender=self.__class__, scope=scope)

    async def close_response(self, response: HttpResponseBase) -> None:
        if self.finish_inline and not request_threads.needs_closing():
            response.close()
        else:
            await sync_to_async(response.close)()

    def respond_in_thread(self, view, request, *args, **kwargs):
        """A sync view as one call in the request's thread: the view, its rendering,
        then the thread's connections given back."""
        try:
            response = view(request, *args, **kwargs)
            render = getattr(response, "render", None)
            if (
                not self._template_response_middleware
                and callable(render)
                and not iscoroutinefunction(render)
            ):
                response = render()
            return response
        finally:
            request_threads.release()

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

    async def _get_response_async(self, request):
        """
        Resolve and call the view, then apply view, exception, and
        template_response middleware. This method is everything that happens
        inside the request/response middleware.
        """
        response = None
        callback, callback_args, callback_kwargs = self.resolve_request(request)

        # Apply view middleware.
        for middleware_method in self._view_middleware:
            response = await middleware_method(request, callback, callback_args, callback_kwargs)
            if response:
                break

        if response is None:
            wrapped_callback = self.make_view_atomic(callback)
            # If it is a synchronous view, run it in a subthread
            if not iscoroutinefunction(wrapped_callback):
                wrapped_callback = sync_to_async(
                    functools.partial(self.respond_in_thread, wrapped_callback),  # Stepwise
                    thread_sensitive=True,
                )
            try:
                response = await wrapped_callback(request, *callback_args, **callback_kwargs)
            except Exception as e:
                response = await sync_to_async(
                    self.process_exception_by_middleware,
                    thread_sensitive=True,
                )(e, request)
                if response is None:
                    raise

        # Complain if the view returned None or an uncalled coroutine.
        self.check_response(response, callback)

        # If the response supports deferred rendering, apply template
        # response middleware and then render the response
        if (
            hasattr(response, "render")
            and callable(response.render)
            # Stepwise: rendered in the view's thread (respond_in_thread)
            and not (
                getattr(response, "is_rendered", False) and not self._template_response_middleware
            )
        ):
            for middleware_method in self._template_response_middleware:
                response = await middleware_method(request, response)
                # Complain if the template response middleware returned None or
                # an uncalled coroutine.
                self.check_response(
                    response,
                    middleware_method,
                    name="%s.process_template_response"  # noqa: UP031 - as in Django
                    % (middleware_method.__self__.__class__.__name__,),
                )
            try:
                if iscoroutinefunction(response.render):
                    response = await response.render()
                else:
                    response = await sync_to_async(response.render, thread_sensitive=True)()
            except Exception as e:
                response = await sync_to_async(
                    self.process_exception_by_middleware,
                    thread_sensitive=True,
                )(e, request)
                if response is None:
                    raise

        # Make sure the response is not a coroutine
        if asyncio.iscoroutine(response):
            raise RuntimeError("Response is still a coroutine.")
        return response
