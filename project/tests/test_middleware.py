"""The middleware chain under ASGI, the 429 of throttled views, and static files."""

import logging

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpResponse
from django.test import AsyncClient
from django.urls import path
from django.utils.module_loading import import_string
from django_ratelimit.exceptions import Ratelimited

from project.tests.serving import serve
from project.urls import urlpatterns as project_urlpatterns

pytestmark = [pytest.mark.django_db, pytest.mark.urls("project.tests.test_middleware")]


def sync_throttled(request):
    raise Ratelimited()


async def async_throttled(request):
    raise Ratelimited()


async def async_forbidden(request):
    raise PermissionDenied()


async def async_fine(request):
    return HttpResponse("fine")


def sync_fine(request):
    return HttpResponse("fine")


# The site's own URLs (the 429 page links to them) and a few views that raise.
urlpatterns = [
    *project_urlpatterns,
    path("sync-throttled/", sync_throttled),
    path("async-throttled/", async_throttled),
    path("async-forbidden/", async_forbidden),
    path("async-fine/", async_fine),
    path("sync-fine/", sync_fine),
]


@pytest.mark.parametrize("dotted", django_settings.MIDDLEWARE)
def test_every_middleware_is_async_capable(dotted):
    # One sync-only middleware would make Django run the whole chain in a thread.
    assert getattr(import_string(dotted), "async_capable", False), dotted


def test_asgi_handler_adapts_nothing(settings, caplog):
    # Django logs every sync/async adaptation of the chain (with DEBUG on).
    settings.DEBUG = True
    with caplog.at_level(logging.DEBUG, logger="django.request"):
        ASGIHandler()
    assert not [r for r in caplog.records if "adapted" in r.getMessage()]


def test_ratelimited_sync_view_answers_429(client):
    response = client.get("/sync-throttled/")
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert b"Too many attempts" in response.content


def test_ratelimited_async_view_answers_429():
    response = async_to_sync(AsyncClient().get)("/async-throttled/")
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert b"Too many attempts" in response.content


def test_ratelimited_answers_json_when_asked():
    response = async_to_sync(AsyncClient().get)(
        "/async-throttled/", headers={"Accept": "application/json"}
    )
    assert response.status_code == 429
    assert "Too many attempts" in response.json()["detail"]


def test_other_exceptions_pass_through():
    client = AsyncClient()
    assert async_to_sync(client.get)("/async-forbidden/").status_code == 403
    assert async_to_sync(client.get)("/async-fine/").content == b"fine"


STATIC_CSS = f"/{django_settings.STATIC_URL.strip('/')}/css/site.css"


def test_static_files_are_served(client):
    response = client.get(STATIC_CSS)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"".join(response)  # read as a WSGI server reads it


def test_static_files_are_served_under_asgi():
    response = async_to_sync(AsyncClient().get)(STATIC_CSS)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")


# --- A request's thread gives its connections back when its response is made ----------


@pytest.fixture
def released(monkeypatch):
    """Where a request's thread gave its connections back (thread names), through the
    site's handler, with the middleware acting as on PostgreSQL."""
    import threading

    from project import middleware, request_threads

    calls: list[str] = []
    release = request_threads.release_connections

    def recorded():
        calls.append(threading.current_thread().name)
        release()

    monkeypatch.setattr(request_threads, "release_connections", recorded)
    original = middleware.ReleaseConnectionsMiddleware.__init__

    def pooled(self, get_response):
        original(self, get_response)
        self.pooled = True

    monkeypatch.setattr(middleware.ReleaseConnectionsMiddleware, "__init__", pooled)
    return calls


def handler():
    from project.asgi_handler import StepwiseASGIHandler

    return StepwiseASGIHandler()  # its middleware chain built with the fixture's


def test_a_sync_views_thread_gives_its_connections_back_before_the_response_goes(released):
    import threading

    ran_in: list[str] = []

    def record(request):
        ran_in.append(threading.current_thread().name)
        return HttpResponse("fine")

    from project.tests import test_middleware

    test_middleware.urlpatterns.append(path("sync-recorded/", record))
    try:
        status, _body = serve(handler(), "/sync-recorded/")
    finally:
        test_middleware.urlpatterns.pop()
    assert status == 200
    assert released == ran_in  # once, in the view's own thread, as the view ended


def test_an_async_view_gives_its_connections_back_in_its_own_steps(released):
    status, _body = serve(handler(), "/async-fine/")
    assert status == 200
    assert released == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # read in another thread
def test_an_async_view_whose_session_was_saved_gives_that_connection_back(released, user):
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}".encode()
    headers = [(b"cookie", cookie), (b"accept-language", b"ko")]
    released.clear()
    status, _body = serve(handler(), "/async-fine/", headers=headers)
    assert status == 200
    assert released == []  # nothing hopped: the session was only read

    async def change_session(request):
        await request.session.aset("seen", True)
        return HttpResponse("fine")

    from project.tests import test_middleware

    test_middleware.urlpatterns.append(path("async-session/", change_session))
    try:
        status, _body = serve(handler(), "/async-session/", headers=headers)
    finally:
        test_middleware.urlpatterns.pop()
    assert status == 200
    assert len(released) == 1  # the session was saved in the request's thread


def test_nothing_to_give_back_with_sqlite_only():
    from project.middleware import ReleaseConnectionsMiddleware

    async def view(request):
        return HttpResponse()

    assert ReleaseConnectionsMiddleware(view).pooled is (
        django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3"
    )
