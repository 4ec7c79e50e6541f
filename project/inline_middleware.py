"""Django's own middleware, run on the event loop instead of a thread hop per hook.

Under ASGI, Django's `MiddlewareMixin` runs every sync `process_request` and
`process_response` through `sync_to_async`: two thread hops per middleware and request,
and a thread of its own for each request (asgiref's ThreadSensitiveContext). For a
streamed turn that is about a dozen hops before the view runs, each a round trip through
the event loop, which also delays every other request waiting on that loop.

The hooks of the classes below only look at the request and the response (headers,
cookies, the language, a lazy user or session), so here they run inline. Where a hook
may reach the database it still hops, and only then: the session is saved only when it
was changed, and messages are written to the session only when some were added or read
(their storage, too, is made only then).
Under WSGI (sync mode) nothing changes. The chain stays the same classes, in the same
order: these are subclasses, named in settings.MIDDLEWARE.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from csp import middleware as csp
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.messages.storage import default_storage
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponse
from django.middleware import clickjacking, common, csrf, locale, security
from django.utils.functional import SimpleLazyObject, empty

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


class InlineHooks:
    """Mixed in before a `MiddlewareMixin` class whose hooks do no I/O."""

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response = None
        if hasattr(self, "process_request"):
            if self.request_needs_thread(request):
                process = sync_to_async(self.process_request, thread_sensitive=True)
                response = await process(request)
            else:
                response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self.response_needs_thread(request, response):
                process = sync_to_async(self.process_response, thread_sensitive=True)
                response = await process(request, response)
            else:
                response = self.process_response(request, response)
        return response

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return False

    def response_needs_thread(self, request: HttpRequest, response: HttpResponse) -> bool:
        return False


class SecurityMiddleware(InlineHooks, security.SecurityMiddleware):
    pass


class SessionMiddleware(InlineHooks, sessions.SessionMiddleware):
    # process_request makes a lazy session; process_response saves it (the database or
    # the cache) when it changed, or on every request if the site asks for that.
    def response_needs_thread(self, request: HttpRequest, response: HttpResponse) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class LocaleMiddleware(InlineHooks, locale.LocaleMiddleware):
    pass


class CommonMiddleware(InlineHooks, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(InlineHooks, csrf.CsrfViewMiddleware):
    """The secret is in a cookie: nothing to read but the request. With
    CSRF_USE_SESSIONS it is in the session, and every hook hops as before."""

    def __init__(self, get_response):
        super().__init__(get_response)
        if self.async_mode and not settings.CSRF_USE_SESSIONS:
            # Django hops for a sync process_view in async mode, and not for a coroutine.
            self.process_view = self._process_view_async

    async def _process_view_async(self, request, callback, callback_args, callback_kwargs):
        check = super().process_view
        if request.method in SAFE_METHODS or getattr(callback, "csrf_exempt", False):
            return check(request, callback, callback_args, callback_kwargs)
        # An unsafe request reads its form body for the token: an upload may be on disk.
        return await sync_to_async(check, thread_sensitive=True)(
            request, callback, callback_args, callback_kwargs
        )

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return settings.CSRF_USE_SESSIONS

    def response_needs_thread(self, request: HttpRequest, response: HttpResponse) -> bool:
        return settings.CSRF_USE_SESSIONS


class AuthenticationMiddleware(InlineHooks, auth.AuthenticationMiddleware):
    pass  # request.user stays lazy: the lookup happens where it is first used


class MessageMiddleware(InlineHooks, messages.MessageMiddleware):
    """The storage is made when something first adds or reads a message. API requests
    never do, and making it for each (the fallback storage, a cookie signer) cost about
    1.5 % of the site's CPU in the 1,000 burst (docs/performance.md)."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if _unused(getattr(request, "_messages", None)):
            return response  # nothing added, nothing read: nothing to store
        return super().process_response(request, response)

    # The fallback storage may move messages into the session, which loads it.
    def response_needs_thread(self, request: HttpRequest, response: HttpResponse) -> bool:
        storage = getattr(request, "_messages", None)
        if storage is None or _unused(storage):
            return False
        return storage.used or storage.added_new


def _unused(storage: object) -> bool:
    return isinstance(storage, SimpleLazyObject) and storage._wrapped is empty


class XFrameOptionsMiddleware(InlineHooks, clickjacking.XFrameOptionsMiddleware):
    pass


class CSPMiddleware(InlineHooks, csp.CSPMiddleware):
    pass


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# Ours, and the Django class each stands for (project/checks.py).
DJANGO_PATHS = {_dotted(cls): _dotted(cls.__bases__[-1]) for cls in InlineHooks.__subclasses__()}
