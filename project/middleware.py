"""Our middleware, async-capable: the 429 for throttled login and sign-up, and the
database connections of a request's thread given back as soon as its response is made."""

from collections.abc import Awaitable, Callable
from inspect import iscoroutinefunction

from asgiref.sync import markcoroutinefunction, sync_to_async
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django_ratelimit.exceptions import Ratelimited

from project import request_threads
from project.http import wants_json


def ratelimited_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """django-ratelimit answers 403 by default; too many requests is a 429."""
    message = _("Too many attempts from your address. Please wait a minute and try again.")
    if wants_json(request):
        return JsonResponse({"detail": message}, status=429, headers={"Retry-After": "60"})
    response = render(request, "429.html", {"message": message}, status=429)
    response["Retry-After"] = "60"
    return response


class BothModes:
    """A middleware that runs in whichever mode the chain is in (sync under WSGI, async
    under ASGI), so that it never makes Django adapt the chain with a thread hop."""

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]
    ) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)


class RatelimitMiddleware(BothModes):
    """Turns a `Ratelimited` raised by a view into `ratelimited_view`'s 429.

    The job of django_ratelimit.middleware.RatelimitMiddleware, which is sync-only: one
    sync-only middleware makes Django run the whole chain in a thread under ASGI. This one
    runs in whichever mode the chain is in and adds nothing to the request path.

    The work is in `process_exception`. Django calls exception middleware synchronously
    in both modes (in a thread for an async view), before it turns the exception into a
    response (Ratelimited is a PermissionDenied: it would become a 403).
    DRF views never get here: DRF handles exceptions itself (project.api.exception_handler).
    """

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        # In async mode get_response returns a coroutine, and so does this call.
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Ratelimited):
            return ratelimited_view(request, exception)
        return None


class ReleaseConnectionsMiddleware(BothModes):
    """Under ASGI, give back the database connections of a request's own thread as soon
    as its response is made, not when it has been sent.

    Django closes the connections of a request's thread only in `response.close()`,
    after the response has gone out through the event loop. On a busy loop that is
    seconds later, and all that time the connection is out of PostgreSQL's pool: in a
    burst of 1,000 streamed turns, the unrelated GETs waiting to be sent held every
    pooled connection, and the turns' database steps queued behind them. Our handler
    gives a sync view's connections back when the view is done (project.asgi_handler);
    this catches a hook that hopped to the thread after it (a session being saved).
    First in MIDDLEWARE, so that it runs after every other hook. With only SQLite, a
    connection is a file handle, not a slot: nothing to do.
    """

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]
    ) -> None:
        super().__init__(get_response)
        self.pooled = any(connections[alias].vendor != "sqlite" for alias in connections.settings)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.async_mode:
            return self.__acall__(request)
        return self.get_response(request)  # WSGI: each request has its thread anyway

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)
        # A sync view gives its connections back itself (project.asgi_handler); a hook
        # that hopped after it (a session saved) may have taken one again.
        if self.pooled and request_threads.needs_closing():
            await sync_to_async(request_threads.release, thread_sensitive=True)()
        return response
