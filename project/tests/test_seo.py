"""robots.txt and the sitemaps (project/seo.py, sessions_app/sitemaps.py): the gallery and
every visible session are listed, forms, accounts, the admin and the API are not crawled."""

import datetime as dt
from xml.etree import ElementTree

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.test import modify_settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from sessions_app.models import CoachingSession
from sessions_app.sitemaps import SessionSitemap, sessions_listed
from sessions_app.tests.factories import make_session

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _seo_wired(settings):
    """Until project/urls.py includes project.seo and INSTALLED_APPS has the sitemaps app
    (for its templates); both are no-ops once they do."""
    settings.ROOT_URLCONF = "project.tests.seo_urls"
    with modify_settings(INSTALLED_APPS={"append": "django.contrib.sitemaps"}):
        yield


NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}


def parsed(response) -> ElementTree.Element:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("application/xml")
    return ElementTree.fromstring(response.content)  # noqa: S314 - our own test response


def locs(response) -> list[str]:
    root = parsed(response)
    return [el.text for el in root.iterfind(".//sm:loc", NS)]


def lastmods(response) -> dict[str, str]:
    root = parsed(response)
    return {
        url.findtext("sm:loc", namespaces=NS): url.findtext("sm:lastmod", namespaces=NS)
        for url in root.iterfind("sm:url", NS)
    }


def hide(session: CoachingSession) -> None:
    """Hide a session as moderation does; skips the test until the field exists."""
    try:
        CoachingSession._meta.get_field("hidden_at")
    except FieldDoesNotExist:
        pytest.skip("CoachingSession.hidden_at does not exist yet")
    CoachingSession.objects.filter(pk=session.pk).update(hidden_at=timezone.now())


# --- robots.txt ------------------------------------------------------------------------


def robots_lines(client, **extra) -> list[str]:
    response = client.get("/robots.txt", **extra)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    return response.content.decode().splitlines()


def test_robots_keeps_crawlers_out_of_forms_accounts_admin_and_api(client):
    lines = robots_lines(client)
    assert "User-agent: *" in lines
    disallowed = {line.removeprefix("Disallow: ") for line in lines if line.startswith("Disallow")}
    assert disallowed - {"/sessions/*/report/"} == {
        "/sessions/new/",
        "/sessions/mine/",
        "/accounts/",
        "/admin/",
        "/api/",
        "/i18n/setlang/",
        "/sessions/*/export.md",
    }
    # A session's report form (linked from every session page), once moderation has one.
    try:
        reverse("sessions:report", args=[1])
    except NoReverseMatch:
        assert "/sessions/*/report/" not in disallowed
    else:
        assert "/sessions/*/report/" in disallowed
    # The gallery and the session pages stay open: nothing disallows "/" or /sessions/<id>/.
    assert "/" not in disallowed and "/sessions/" not in disallowed


def test_robots_names_the_sitemap_with_an_absolute_url(client):
    assert "Sitemap: http://testserver/sitemap.xml" in robots_lines(client)
    assert "Sitemap: https://testserver/sitemap.xml" in robots_lines(client, secure=True)


def test_robots_does_not_give_away_a_moved_admin(client, settings):
    settings.ROOT_URLCONF = "project.tests.seo_urls_admin_moved"
    text = "\n".join(robots_lines(client))
    assert "back-office" not in text
    assert "/admin/" not in text
    assert "Disallow: /api/" in text


def test_robots_answers_get_only(client, user):
    client.force_login(user)
    assert client.post("/robots.txt").status_code == 405
    assert client.head("/robots.txt").status_code == 200


# --- the sitemaps ------------------------------------------------------------------------


def test_index_lists_each_section(client, user):
    make_session(owner=user)
    response = client.get("/sitemap.xml")
    assert locs(response) == [
        "http://testserver/sitemap-pages.xml",
        "http://testserver/sitemap-sessions.xml",
    ]
    assert response["X-Robots-Tag"].startswith("noindex")  # the sitemap itself is not a page


def test_gallery_is_listed_with_the_newest_change(client, user):
    session = make_session(owner=user)
    when = dt.datetime(2025, 3, 4, 5, 6, tzinfo=dt.UTC)
    CoachingSession.objects.filter(pk=session.pk).update(updated_at=when)
    response = client.get("/sitemap-pages.xml")
    assert lastmods(response) == {"http://testserver/": "2025-03-04"}


def test_every_session_is_listed_with_its_last_update(client, user, outsider):
    mine = make_session(owner=user, title="Mine")
    theirs = make_session(owner=outsider, title="Theirs")
    when = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    CoachingSession.objects.filter(pk=mine.pk).update(updated_at=when)
    theirs.refresh_from_db()
    # Django's sitemap template gives the day (W3C Datetime allows it).
    assert lastmods(client.get("/sitemap-sessions.xml")) == {
        f"http://testserver/sessions/{mine.pk}/": "2025-01-02",
        f"http://testserver/sessions/{theirs.pk}/": theirs.updated_at.date().isoformat(),
    }


def test_https_requests_get_https_urls(client, user):
    session = make_session(owner=user)
    assert locs(client.get("/sitemap-sessions.xml", secure=True)) == [
        f"https://testserver/sessions/{session.pk}/"
    ]


def test_a_hidden_session_is_not_listed(client, user, outsider):
    shown = make_session(owner=user)
    hidden = make_session(owner=outsider)
    hide(hidden)
    # Not to anyone: not to a visitor, not to its owner.
    assert locs(client.get("/sitemap-sessions.xml")) == [f"http://testserver/sessions/{shown.pk}/"]
    client.force_login(outsider)
    assert locs(client.get("/sitemap-sessions.xml")) == [f"http://testserver/sessions/{shown.pk}/"]
    # Nor does it set the gallery's lastmod.
    CoachingSession.objects.filter(pk=hidden.pk).update(
        updated_at=timezone.now() + dt.timedelta(days=1)
    )
    shown.refresh_from_db()
    assert list(lastmods(client.get("/sitemap-pages.xml")).values()) == [
        shown.updated_at.date().isoformat()
    ]


def test_sessions_are_paginated_and_the_index_lists_every_page(client, user, monkeypatch):
    monkeypatch.setattr(SessionSitemap, "limit", 2)
    sessions = [make_session(owner=user, title=f"S{i}") for i in range(5)]
    assert locs(client.get("/sitemap.xml")) == [
        "http://testserver/sitemap-pages.xml",
        "http://testserver/sitemap-sessions.xml",
        "http://testserver/sitemap-sessions.xml?p=2",
        "http://testserver/sitemap-sessions.xml?p=3",
    ]
    pages = [locs(client.get("/sitemap-sessions.xml", {"p": p})) for p in (1, 2, 3)]
    # Oldest first, so that a page keeps its sessions as new ones come.
    assert pages == [
        [f"http://testserver/sessions/{s.pk}/" for s in sessions[0:2]],
        [f"http://testserver/sessions/{s.pk}/" for s in sessions[2:4]],
        [f"http://testserver/sessions/{sessions[4].pk}/"],
    ]


@pytest.mark.parametrize("page", ["4", "0", "-1", "abc", "1.5", "9" * 30])
def test_a_page_that_does_not_exist_is_a_404(client, user, monkeypatch, page):
    monkeypatch.setattr(SessionSitemap, "limit", 2)
    for i in range(5):
        make_session(owner=user, title=f"S{i}")
    assert client.get("/sitemap-sessions.xml", {"p": page}).status_code == 404


def test_an_empty_site_has_valid_sitemaps(client):
    assert locs(client.get("/sitemap-sessions.xml")) == []
    assert lastmods(client.get("/sitemap-pages.xml")) == {"http://testserver/": None}
    assert len(locs(client.get("/sitemap.xml"))) == 2


def test_queries_do_not_grow_with_the_sessions(client, user, django_assert_max_num_queries):
    for i in range(30):
        make_session(owner=user, title=f"S{i}", replies=0)
    with django_assert_max_num_queries(4):
        client.get("/sitemap-sessions.xml")
    with django_assert_max_num_queries(4):
        client.get("/sitemap.xml")


@pytest.mark.parametrize("url", ["/sitemap.xml", "/sitemap-pages.xml", "/sitemap-sessions.xml"])
def test_sitemaps_answer_get_only(client, user, url):
    client.force_login(user)
    assert client.post(url).status_code == 405
    assert client.head(url).status_code == 200


def test_listing_works_before_sessions_can_be_hidden(monkeypatch):
    """Before moderation's `hidden_at` existed, the same code listed every session."""
    get_field = CoachingSession._meta.get_field

    def without_hidden_at(name):
        if name == "hidden_at":
            raise FieldDoesNotExist(name)
        return get_field(name)

    monkeypatch.setattr(CoachingSession._meta, "get_field", without_hidden_at)
    assert "hidden_at" not in str(sessions_listed().query)
