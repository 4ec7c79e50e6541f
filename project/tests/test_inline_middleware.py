"""Django's middleware run on the event loop (project/inline_middleware.py): no thread hop
for a hook that only reads the request, a hop where one may reach the database."""

import threading

import pytest
from asgiref.sync import async_to_sync
from django.contrib import messages
from django.contrib.sessions.models import Session
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.test import AsyncClient
from django.urls import path

from project import inline_middleware
from project.urls import urlpatterns as project_urlpatterns

pytestmark = [pytest.mark.django_db, pytest.mark.urls("project.tests.test_inline_middleware")]

seen: dict[str, str] = {}


async def async_plain(request):
    seen["view"] = threading.current_thread().name
    return HttpResponse("plain")


async def async_session_write(request):
    request.session["visited"] = "yes"
    return HttpResponse("written")


async def async_message(request):
    messages.info(request, "Saved.")
    return HttpResponse("noted")


async def async_read_messages(request):
    return HttpResponse("|".join(str(m) for m in messages.get_messages(request)))


async def async_form(request):
    return HttpResponse("posted")


def token_page(request):
    return HttpResponse(get_token(request))


urlpatterns = [
    *project_urlpatterns,
    path("plain/", async_plain),
    path("session-write/", async_session_write),
    path("message/", async_message),
    path("read-messages/", async_read_messages),
    path("form/", async_form),
    path("token/", token_page),
]


def test_hooks_that_only_read_the_request_run_on_the_event_loop(monkeypatch):
    threads: dict[str, str] = {}
    for name in ("SecurityMiddleware", "LocaleMiddleware", "CommonMiddleware", "CSPMiddleware"):
        cls = getattr(inline_middleware, name)
        original = cls.process_response

        def spy(self, request, response, _name=name, _original=original):
            threads[_name] = threading.current_thread().name
            return _original(self, request, response)

        monkeypatch.setattr(cls, "process_response", spy)

    response = async_to_sync(AsyncClient().get)("/plain/")

    assert response.status_code == 200
    assert set(threads.values()) == {seen["view"]}, threads


def test_a_changed_session_is_saved_from_an_async_view():
    response = async_to_sync(AsyncClient().get)("/session-write/")

    key = response.cookies["sessionid"].value
    assert Session.objects.get(session_key=key).get_decoded() == {"visited": "yes"}


def test_a_message_added_in_an_async_view_is_kept_for_the_next_page():
    response = async_to_sync(AsyncClient().get)("/message/")

    assert response.status_code == 200
    assert "messages" in response.cookies


def test_a_request_that_uses_no_messages_makes_no_message_storage(monkeypatch):
    made = []
    make = inline_middleware.default_storage
    monkeypatch.setattr(
        inline_middleware, "default_storage", lambda request: made.append(1) or make(request)
    )

    response = async_to_sync(AsyncClient().get)("/plain/")

    assert response.status_code == 200
    assert made == []
    assert "messages" not in response.cookies


def test_a_kept_message_is_shown_on_the_next_page_once():
    client = AsyncClient()
    async_to_sync(client.get)("/message/")

    assert async_to_sync(client.get)("/read-messages/").content == b"Saved."
    assert async_to_sync(client.get)("/read-messages/").content == b""


def test_csrf_is_still_checked_for_an_async_view():
    client = AsyncClient(enforce_csrf_checks=True)
    refused = async_to_sync(client.post)("/form/", {"a": "1"})
    assert refused.status_code == 403

    token = async_to_sync(client.get)("/token/").content.decode()
    accepted = async_to_sync(client.post)("/form/", {"a": "1", "csrfmiddlewaretoken": token})
    assert accepted.status_code == 200
