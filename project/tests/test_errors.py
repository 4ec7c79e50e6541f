"""Errors answer in the client's terms: JSON {"detail"} under /api/, our pages elsewhere."""

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/api/sessions/null,null/",
        "/api/sessions/1/messages/x/",
        "/api/messages/abc/stream/",
        "/api/nothing-here/",
    ],
)
def test_unmatched_api_paths_are_json_404s(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "There is nothing at this address."}


def test_unmatched_pages_are_our_own_translated_404_page(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "There is nothing at this address." in html and "Stepwise" in html
    korean = client.get("/no/such/page/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'lang="ko"' in korean


@override_settings(ROOT_URLCONF="project.tests.error_urls")
def test_a_server_error_is_json_under_the_api_and_a_page_elsewhere():
    client = Client(raise_request_exception=False)
    api = client.get("/api/boom/")
    assert api.status_code == 500
    assert api.json()["detail"].startswith("Something went wrong on our side")
    page = client.get("/boom/")
    assert page.status_code == 500
    assert "Something went wrong on our side" in page.content.decode()
    assert "a bug" not in page.content.decode()  # nothing of the failure shows


def test_methods_a_stream_does_not_serve_are_json_405s(client):
    response = client.post("/api/messages/1/stream/")
    assert response.status_code == 405
    assert response.json()["detail"]


def test_a_refused_csrf_check_is_json_under_the_api_and_our_page_elsewhere(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.post("/sessions/new/", {})
    assert page.status_code == 403
    assert "Reload the page and try again" in page.content.decode()
    assert "<html" in page.content.decode()
    api = client.post("/api/sessions/1/messages/", {"content": "hi"})
    assert api.status_code == 403
    assert api.json()["detail"]
