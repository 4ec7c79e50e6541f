"""Django's ASGI handler with fewer trips between the loop and threads
(project/asgi_handler.py, project/request_threads.py), driven as uvicorn drives it: a loop
of its own, no test client."""

import hashlib
import inspect
import threading
import time

import pytest
from asgiref import sync as asgiref_sync
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.core.signals import request_finished, request_started
from django.db import connection
from django.http import HttpResponse, StreamingHttpResponse
from django.template.response import SimpleTemplateResponse
from django.urls import path

from project import asgi, request_threads
from project.asgi_handler import StepwiseASGIHandler
from project.tests.serving import serve

pytestmark = pytest.mark.urls("project.tests.test_asgi_handler")

# The sources of the Django methods project/asgi_handler.py copies (Django 5.2.19).
DJANGO_HANDLE_SHA256 = "98faeb5bef800331e6a8002fbc96b30e4122a23438ae45a047190a531ea11323"
DJANGO_GET_RESPONSE_ASYNC_SHA256 = (
    "064b55bfd55fc38d1157dfe3997f9d675392168da4d48cbed33d8fb0c4930aea"
)

seen: dict[str, str] = {}


class RecordedResponse(HttpResponse):
    def close(self):
        seen["close"] = threading.current_thread().name
        super().close()


class RecordedTemplateResponse(SimpleTemplateResponse):
    def close(self):
        seen["close"] = threading.current_thread().name
        super().close()

    @property
    def rendered_content(self):
        seen["render"] = threading.current_thread().name
        return "rendered"


async def async_view(request):
    seen["view"] = threading.current_thread().name
    return RecordedResponse("async")


def sync_view(request):
    seen["view"] = threading.current_thread().name
    return RecordedResponse("sync")


def template_view(request):
    seen["view"] = threading.current_thread().name
    return RecordedTemplateResponse("unused.html")


def failing_view(request):
    raise RuntimeError("the view failed")


async def hopping_view(request):
    def in_thread():
        seen["hop"] = threading.current_thread().name

    await sync_to_async(in_thread, thread_sensitive=True)()
    return RecordedResponse("hopped")


def slow_view(request):
    time.sleep(0.2)
    seen["slow done"] = threading.current_thread().name
    return RecordedResponse("slow")


async def streamed_view(request):
    async def pieces():
        yield b"one "
        yield b"two"

    return StreamingHttpResponse(pieces())


urlpatterns = [
    path("async/", async_view),
    path("sync/", sync_view),
    path("template/", template_view),
    path("failing/", failing_view),
    path("hopping/", hopping_view),
    path("streamed/", streamed_view),
]


@pytest.fixture(autouse=True)
def forget():
    seen.clear()


@pytest.fixture
def executors(monkeypatch):
    """Every thread pool asgiref makes (Django's handler makes one for each request that
    runs sync code)."""
    made = []

    class Counted(asgiref_sync.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(asgiref_sync, "ThreadPoolExecutor", Counted)
    return made


@pytest.fixture
def calls(monkeypatch):
    """Every call handed to a request's thread."""
    handed = []
    original = request_threads.RequestThread.submit

    def submit(self, fn, /, *args, **kwargs):
        handed.append(fn)
        return original(self, fn, *args, **kwargs)

    monkeypatch.setattr(request_threads.RequestThread, "submit", submit)
    return handed


def test_the_site_is_served_by_this_handler_with_both_signals_inline():
    handler = asgi.django_application
    assert isinstance(handler, StepwiseASGIHandler)
    assert handler.start_inline and handler.finish_inline


def test_an_async_view_uses_no_thread(executors, calls):
    loop_thread = threading.current_thread().name

    status, body = serve(StepwiseASGIHandler(), "/async/")

    assert (status, body) == (200, b"async")
    assert executors == [] and calls == []
    assert seen == {"view": loop_thread, "close": loop_thread}


def test_a_streamed_response_uses_no_thread(executors, calls):
    status, body = serve(StepwiseASGIHandler(), "/streamed/")

    assert (status, body) == (200, b"one two")
    assert executors == [] and calls == []


def test_a_sync_view_is_one_trip_to_a_thread_and_closed_on_the_loop(executors, calls):
    loop_thread = threading.current_thread().name

    status, body = serve(StepwiseASGIHandler(), "/sync/")

    assert (status, body) == (200, b"sync")
    assert len(calls) == 1 and executors == []
    # Its connections were given back in its thread: nothing left for the close there.
    assert seen["view"] != loop_thread
    assert seen["close"] == loop_thread


def test_a_template_response_is_rendered_in_the_same_trip(calls):
    loop_thread = threading.current_thread().name

    status, body = serve(StepwiseASGIHandler(), "/template/")

    assert (status, body) == (200, b"rendered")
    assert len(calls) == 1
    assert seen["render"] == seen["view"] != loop_thread
    assert seen["close"] == loop_thread


def test_the_next_request_gets_the_same_thread():
    handler = StepwiseASGIHandler()
    serve(handler, "/sync/")
    first = seen["view"]
    serve(handler, "/sync/")

    assert seen["view"] == first
    assert handler.threads.idle_count() == 1


def test_after_a_hop_the_requests_thread_is_cleared_before_the_end(calls):
    # The hop may have left a database connection there. With a pool, the middleware
    # gives it back as soon as the response is made; otherwise Django's close closes it.
    loop_thread = threading.current_thread().name
    pooled = connection.vendor != "sqlite"

    status, body = serve(StepwiseASGIHandler(), "/hopping/")

    assert (status, body) == (200, b"hopped")
    assert len(calls) == 2  # the hop, then the release or the close
    assert seen["hop"] != loop_thread
    assert seen["close"] == (loop_thread if pooled else seen["hop"])


def test_a_failing_sync_view_is_a_500(settings):
    settings.DEBUG = False
    status, _body = serve(StepwiseASGIHandler(), "/failing/")
    assert status == 500


def test_another_receiver_runs_in_the_request_thread_as_in_django():
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


# --- The threads lent to requests ---------------------------------------------------


def test_a_thread_still_running_a_view_comes_back_when_it_is_done():
    threads = request_threads.RequestThreads()
    executor, token = threads.lend()
    executor.submit(slow_view, None)  # the request was cancelled while its view ran

    threads.give_back(executor, token)
    assert threads.idle_count() == 0
    executor.submit(lambda: None).result()  # after the view
    time.sleep(0.05)
    assert "slow done" in seen
    assert threads.idle_count() == 1


def test_idle_threads_beyond_the_few_kept_are_let_go():
    threads = request_threads.RequestThreads(keep=1)
    lent = [threads.lend() for _ in range(3)]
    for executor, _token in lent:
        executor.submit(lambda: None).result()
    for executor, token in reversed(lent):
        threads.give_back(executor, token)

    assert threads.idle_count() == 1
    assert lent[0][0]._shutdown and lent[1][0]._shutdown and not lent[2][0]._shutdown


def test_a_lent_thread_starts_clean():
    threads = request_threads.RequestThreads()
    executor, token = threads.lend()
    executor.submit(lambda: None).result()
    assert request_threads.needs_closing()
    threads.give_back(executor, token)

    again, token = threads.lend()
    assert again is executor and not request_threads.needs_closing()
    threads.give_back(again, token)


def test_django_methods_are_still_the_ones_copied():
    for method, expected in [
        (ASGIHandler.handle, DJANGO_HANDLE_SHA256),
        (BaseHandler._get_response_async, DJANGO_GET_RESPONSE_ASYNC_SHA256),
    ]:
        source = inspect.getsource(method)
        assert hashlib.sha256(source.encode()).hexdigest() == expected, (
            f"Django's {method.__qualname__} changed: bring project/asgi_handler.py's copy "
            "up to date, then this hash."
        )
