"""Django's ASGI handler without a request thread for requests that run no sync code
(project/asgi_handler.py), driven as uvicorn drives it: a loop of its own, no test client."""

import asyncio
import hashlib
import inspect
import threading

import pytest
from asgiref import sync as asgiref_sync
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished, request_started
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

from project import asgi
from project.asgi_handler import StepwiseASGIHandler

pytestmark = pytest.mark.urls("project.tests.test_asgi_handler")

# The source of the Django method project/asgi_handler.py copies (Django 5.2.19).
DJANGO_HANDLE_SHA256 = "98faeb5bef800331e6a8002fbc96b30e4122a23438ae45a047190a531ea11323"

seen: dict[str, str] = {}


class RecordedResponse(HttpResponse):
    def close(self):
        seen["close"] = threading.current_thread().name
        super().close()


async def async_view(request):
    seen["view"] = threading.current_thread().name
    return RecordedResponse("async")


def sync_view(request):
    seen["view"] = threading.current_thread().name
    return RecordedResponse("sync")


async def streamed_view(request):
    async def pieces():
        yield b"one "
        yield b"two"

    return StreamingHttpResponse(pieces())


urlpatterns = [
    path("async/", async_view),
    path("sync/", sync_view),
    path("streamed/", streamed_view),
]


@pytest.fixture(autouse=True)
def forget():
    seen.clear()


@pytest.fixture
def executors(monkeypatch):
    """Every thread pool asgiref makes: one for each request that ran sync code."""
    made = []

    class Counted(asgiref_sync.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(asgiref_sync, "ThreadPoolExecutor", Counted)
    return made


def serve(handler, url: str) -> tuple[int, bytes]:
    """One GET through `handler` on an event loop in this thread, as uvicorn runs it."""
    sent = []
    body = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if body:
            return body.pop()
        await asyncio.Event().wait()  # the client stays until the response is done

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": url,
        "raw_path": url.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(handler(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body


def test_the_site_is_served_by_this_handler_with_both_signals_inline():
    handler = asgi.django_application
    assert isinstance(handler, StepwiseASGIHandler)
    assert handler.start_inline and handler.finish_inline


def test_an_async_view_makes_no_thread(executors):
    loop_thread = threading.current_thread().name

    status, body = serve(StepwiseASGIHandler(), "/async/")

    assert (status, body) == (200, b"async")
    assert executors == []
    assert seen == {"view": loop_thread, "close": loop_thread}


def test_a_streamed_response_makes_no_thread(executors):
    status, body = serve(StepwiseASGIHandler(), "/streamed/")

    assert (status, body) == (200, b"one two")
    assert executors == []


def test_a_sync_view_is_closed_in_its_own_thread(executors):
    # There its database connections are closed, as Django does.
    status, body = serve(StepwiseASGIHandler(), "/sync/")

    assert (status, body) == (200, b"sync")
    assert len(executors) == 1
    assert seen["close"] == seen["view"] != threading.current_thread().name


def test_another_receiver_runs_in_the_request_thread_as_in_django(executors):
    ran_in: dict[str, str] = {}

    def on_started(**kwargs):
        ran_in["started"] = threading.current_thread().name

    def on_finished(**kwargs):
        ran_in["finished"] = threading.current_thread().name

    request_started.connect(on_started)
    request_finished.connect(on_finished)
    try:
        handler = StepwiseASGIHandler()
        status, _body = serve(handler, "/async/")
    finally:
        request_started.disconnect(on_started)
        request_finished.disconnect(on_finished)

    assert status == 200
    assert not handler.start_inline and not handler.finish_inline
    assert ran_in["started"] == ran_in["finished"] != threading.current_thread().name


def test_a_cache_that_closes_something_is_closed_in_the_request_thread(settings):
    settings.CACHES = {
        **settings.CACHES,
        "other": {"BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache"},
    }
    handler = StepwiseASGIHandler()
    assert handler.start_inline and not handler.finish_inline


def test_django_handle_is_still_the_one_copied():
    source = inspect.getsource(ASGIHandler.handle)
    assert hashlib.sha256(source.encode()).hexdigest() == DJANGO_HANDLE_SHA256, (
        "Django's ASGIHandler.handle changed: bring project/asgi_handler.py's copy up to "
        "date, then this hash."
    )
