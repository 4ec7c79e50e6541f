"""Our middleware: the 429 for throttled login and sign-up, async-capable."""

from collections.abc import Awaitable, Callable
from inspect import iscoroutinefunction

from asgiref.sync import markcoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django_ratelimit.exceptions import Ratelimited

from project.http import wants_json


def ratelimited_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """django-ratelimit answers 403 by default; too many requests is a 429."""
    message = _("Too many attempts from your address. Please wait a minute and try again.")
    if wants_json(request):
        return JsonResponse({"detail": message}, status=429, headers={"Retry-After": "60"})
    response = render(request, "429.html", {"message": message}, status=429)
    response["Retry-After"] = "60"
    return response


class RatelimitMiddleware:
    """Turns a `Ratelimited` raised by a view into `ratelimited_view`'s 429.

    The job of django_ratelimit.middleware.RatelimitMiddleware, which is sync-only: one
    sync-only middleware makes Django run the whole chain in a thread under ASGI. This one
    runs in whichever mode the chain is in and adds nothing to the request path.

    The work is in `process_exception`. Django calls exception middleware synchronously
    in both modes (in a thread for an async view), before it turns the exception into a
    response (Ratelimited is a PermissionDenied: it would become a 403).
    DRF views never get here: DRF handles exceptions itself (project.api.exception_handler).
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]
    ) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        # In async mode get_response returns a coroutine, and so does this call.
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Ratelimited):
            return ratelimited_view(request, exception)
        return None
