"""Moderation (issue 13): anyone reports a session, staff hide it with a reason, and a
hidden session is gone for everyone but its owner and staff."""

import re

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import AsyncClient
from django.urls import reverse
from rest_framework.test import APIClient

from sessions_app.models import CoachingSession, SessionReport
from sessions_app.selectors import (
    message_get_public,
    session_get_public,
    session_list_owned,
    session_list_public,
)
from sessions_app.services import report_address_hash, session_hide, session_report, session_unhide
from sessions_app.tests.factories import make_session

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.7"
GOOD = {"reason": "spam", "note": "Selling pills."}


@pytest.fixture
def session(user):
    return make_session(owner=user, title="Deep rest")


@pytest.fixture
def hidden(session, staff):
    return session_hide(session=session, by=staff, reason="Advertising in the answers.")


def report_url(session) -> str:
    return reverse("sessions:report", args=[session.pk])


def api_report_url(session) -> str:
    return reverse("sessions-api:session-report", args=[session.pk])


def logged_in(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


# --- Reporting ----------------------------------------------------------------


def test_a_visitor_reports_from_the_page_and_is_thanked(client, session):
    page = client.get(reverse("sessions:detail", args=[session.pk])).text
    assert f'href="{report_url(session)}">Report this session</a>' in page

    form = client.get(report_url(session))
    assert form.status_code == 200
    assert 'type="radio" name="reason" value="harmful"' in form.text
    assert "<legend>" in form.text  # the reasons are a labelled group
    assert 'maxlength="500"' in form.text

    response = client.post(report_url(session), GOOD, REMOTE_ADDR=ADDRESS, follow=True)
    assert response.redirect_chain == [(session.get_absolute_url(), 302)]
    assert "Thank you for your report. Staff will look at this session." in response.text
    report = SessionReport.objects.get()
    assert (report.session, report.reporter, report.reason) == (session, None, "spam")
    assert report.note == "Selling pills."
    assert report.resolved is False


def test_the_raw_address_is_never_stored(client, session):
    client.post(report_url(session), GOOD, REMOTE_ADDR=ADDRESS)
    report = SessionReport.objects.get()
    stored = " ".join(str(getattr(report, f.attname)) for f in SessionReport._meta.concrete_fields)
    assert ADDRESS not in stored and "203.0.113" not in stored
    assert report.address_hash == report_address_hash(ADDRESS)
    assert re.fullmatch(r"[0-9a-f]{64}", report.address_hash)
    assert report_address_hash("203.0.113.8") != report.address_hash


def test_a_member_reports_through_the_api_once(session, outsider):
    api = logged_in(outsider)
    response = api.post(api_report_url(session), {"reason": "harmful"}, format="json")
    assert response.status_code == 201
    assert response.json() == {"detail": "Thank you. Staff will look at this session."}
    again = api.post(api_report_url(session), {"reason": "other"}, format="json")
    assert again.status_code == 400
    assert again.json() == {
        "detail": "You have already reported this session. Staff will look at it."
    }
    report = SessionReport.objects.get()
    assert (report.reporter, report.reason, report.note) == (outsider, "harmful", "")


def test_visitors_may_report_a_session_more_than_once_within_the_rate(api_client, session):
    for _ in range(2):
        assert api_client.post(api_report_url(session), GOOD, format="json").status_code == 201
    assert SessionReport.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": "boring"}, "reason"),
        ({"reason": "other", "note": "x" * 501}, "note"),
    ],
)
def test_bad_input_is_a_400_with_field_errors(api_client, client, session, body, field):
    response = api_client.post(api_report_url(session), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    page = client.post(report_url(session), body)
    assert page.status_code == 400
    assert 'class="errorlist' in page.text
    assert not SessionReport.objects.exists()


def test_the_owner_is_sent_to_delete_instead(user, session):
    api = logged_in(user)
    response = api.post(api_report_url(session), GOOD, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "This is your own session: you can delete it instead."}
    page = api.get(report_url(session))
    assert page.status_code == 200
    assert "This is your own session." in page.content.decode()
    assert 'name="reason"' not in page.content.decode()
    detail = api.get(reverse("sessions:detail", args=[session.pk])).content.decode()
    assert "Report this session" not in detail
    assert not SessionReport.objects.exists()


def test_a_missing_session_is_a_404(api_client, client):
    assert api_client.post("/api/sessions/999999/report/", GOOD, format="json").status_code == 404
    assert client.get("/sessions/999999/report/").status_code == 404


def test_five_reports_an_hour_per_address_then_429(api_client, client, make_user):
    sessions = [make_session(owner=make_user(f"o{i}"), title=f"S{i}") for i in range(7)]
    for s in sessions[:5]:
        response = api_client.post(api_report_url(s), GOOD, format="json", REMOTE_ADDR=ADDRESS)
        assert response.status_code == 201
    refused = api_client.post(api_report_url(sessions[5]), GOOD, format="json", REMOTE_ADDR=ADDRESS)
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("Too many reports from your address.")
    assert 0 < int(refused["Retry-After"]) <= 3600
    # The page counts with the API, and keeps what was written.
    page = client.post(report_url(sessions[6]), GOOD, REMOTE_ADDR=ADDRESS)
    assert page.status_code == 429
    assert "Too many reports from your address." in page.text
    assert "Selling pills." in page.text
    assert int(page["Retry-After"]) > 0
    # Another address is not held back.
    other = api_client.post(api_report_url(sessions[6]), GOOD, format="json", REMOTE_ADDR="::1")
    assert other.status_code == 201
    assert SessionReport.objects.count() == 6


def test_a_daily_rate_too(api_client, session, settings):
    settings.REPORT_RATES = ["100/h", "3/d"]
    codes = [
        api_client.post(api_report_url(session), GOOD, format="json").status_code for _ in range(4)
    ]
    assert codes == [201, 201, 201, 429]
    # django-ratelimit's daily window ends at a moment set by the key, not at midnight:
    # anything up to a day, never nothing.
    retry_after = api_client.post(api_report_url(session), GOOD, format="json")["Retry-After"]
    assert 0 < int(retry_after) <= 24 * 3600


def test_invalid_reports_do_not_use_up_the_rate(api_client, session, settings):
    settings.REPORT_RATES = ["1/h"]
    for _ in range(3):
        assert api_client.post(api_report_url(session), {}, format="json").status_code == 400
    assert api_client.post(api_report_url(session), GOOD, format="json").status_code == 201


# --- Hiding -------------------------------------------------------------------


def test_hiding_needs_staff_and_a_reason(session, user, staff):
    with pytest.raises(PermissionDenied):
        session_hide(session=session, by=user, reason="mine")
    with pytest.raises(ValidationError):
        session_hide(session=session, by=staff, reason="   ")
    session.refresh_from_db()
    assert session.hidden_at is None


def test_hiding_resolves_the_open_reports_and_unhiding_shows_it_again(session, staff, outsider):
    session_report(session=session, reporter=outsider, address=ADDRESS, reason="spam")
    session_hide(session=session, by=staff, reason="Spam.")
    session.refresh_from_db()
    assert session.hidden_at is not None
    assert (session.hidden_reason, session.hidden_by) == ("Spam.", staff)
    assert SessionReport.objects.get().resolved
    session_unhide(session=session, by=staff)
    session.refresh_from_db()
    assert (session.hidden_at, session.hidden_reason, session.hidden_by) == (None, "", None)
    assert session_list_public().filter(pk=session.pk).exists()


def test_a_hidden_session_leaves_the_lists_but_not_its_owners(hidden, user, make_user):
    public = make_session(owner=make_user("someone"), title="Public rest")
    assert list(session_list_public()) == [public]
    assert list(session_list_public(q="rest")) == [public]
    assert list(session_list_owned(user=user)) == [hidden]


def test_the_selectors_refuse_everyone_but_owner_and_staff(hidden, user, outsider, staff):
    from django.contrib.auth.models import AnonymousUser

    for viewer in (None, AnonymousUser(), outsider):
        with pytest.raises(Http404):
            session_get_public(pk=hidden.pk, viewer=viewer)
        with pytest.raises(Http404):
            message_get_public(pk=hidden.messages.get().pk, viewer=viewer)
    with pytest.raises(Http404):  # the existing callers, without a viewer
        session_get_public(pk=hidden.pk)
    for viewer in (user, staff):
        assert session_get_public(pk=hidden.pk, viewer=viewer) == hidden
        assert message_get_public(pk=hidden.messages.get().pk, viewer=viewer).session == hidden


def test_gallery_search_and_api_list_leave_it_out(client, api_client, hidden):
    assert "Deep rest" not in client.get("/").text
    assert "Deep rest" not in client.get("/", {"q": "deep"}).text
    assert api_client.get("/api/sessions/").json()["count"] == 0
    assert api_client.get("/api/sessions/", {"q": "deep"}).json()["count"] == 0


def test_its_page_is_a_404_to_others_and_tells_its_owner_why(client, hidden, user, outsider, staff):
    url = reverse("sessions:detail", args=[hidden.pk])
    assert client.get(url).status_code == 404
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    assert client.get(report_url(hidden)).status_code == 404
    assert client.post(report_url(hidden), GOOD).status_code == 404
    assert client.get(reverse("sessions:export", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("sessions:delete", args=[hidden.pk])).status_code == 404

    client.force_login(user)
    page = client.get(url)
    assert page.status_code == 200
    assert "Staff have hidden this session from the gallery and from other people." in page.text
    assert "Why: Advertising in the answers." in page.text
    assert "Report this session" not in page.text
    client.force_login(staff)
    page = client.get(url)
    assert page.status_code == 200
    assert "only its owner and staff can see it" in page.text


def test_the_owner_still_deletes_it(client, hidden, user):
    client.force_login(user)
    assert client.get(reverse("sessions:delete", args=[hidden.pk])).status_code == 200
    response = client.post(reverse("sessions:delete", args=[hidden.pk]))
    assert response.status_code == 302
    assert not CoachingSession.objects.filter(pk=hidden.pk).exists()


def test_the_api_refuses_others_and_serves_owner_and_staff(hidden, user, outsider, staff):
    url = f"/api/sessions/{hidden.pk}/"
    message_url = f"/api/messages/{hidden.messages.get().pk}/"
    for client in (APIClient(), logged_in(outsider)):
        assert client.get(url).status_code == 404
        assert client.get(message_url).status_code == 404
        assert client.post(api_report_url(hidden), GOOD, format="json").status_code == 404
    assert logged_in(outsider).delete(url).status_code == 404
    for client in (logged_in(user), logged_in(staff)):
        assert client.get(url).status_code == 200
        assert client.get(message_url).status_code == 200
    assert logged_in(user).delete(url).status_code == 204


def test_its_stream_is_a_404_to_others(hidden, user, outsider):
    url = f"/api/messages/{hidden.messages.get().pk}/stream/"

    def status_for(person) -> int:
        client = AsyncClient()
        if person is not None:
            client.force_login(person)

        async def get():
            response = await client.get(url)
            if response.streaming:
                async for _chunk in response.streaming_content:
                    pass
            return response.status_code

        return async_to_sync(get)()

    assert status_for(None) == 404
    assert status_for(outsider) == 404
    assert status_for(user) == 200


# --- Admin --------------------------------------------------------------------


def test_staff_see_reports_with_filters_and_counts(client, staff, session, outsider):
    session_report(session=session, reporter=outsider, address=ADDRESS, reason="spam", note="Ad")
    session_report(session=session, reporter=None, address=ADDRESS, reason="private")
    client.force_login(staff)
    sessions_page = client.get(reverse("admin:sessions_app_coachingsession_changelist"))
    link = reverse("admin:sessions_app_sessionreport_changelist") + (
        f"?session__id__exact={session.pk}"
    )
    assert f'<a href="{link}">2 open of 2</a>' in sessions_page.text
    reported = client.get(
        reverse("admin:sessions_app_coachingsession_changelist"), {"reported": "open"}
    )
    assert "Deep rest" in reported.text
    reports = client.get(link.split("?")[0], {"reason__exact": "spam", "resolved__exact": "0"})
    assert reports.status_code == 200
    assert "1 report" in reports.text
    change = client.get(reverse("admin:sessions_app_coachingsession_change", args=[session.pk]))
    assert change.status_code == 200 and "Ad" in change.text


def test_the_admin_is_staff_only(client, outsider):
    client.force_login(outsider)
    response = client.get(reverse("admin:sessions_app_sessionreport_changelist"))
    assert response.status_code == 302


def test_staff_hide_with_an_action_that_asks_why(client, staff, session):
    client.force_login(staff)
    url = reverse("admin:sessions_app_coachingsession_changelist")
    ask = client.post(url, {"action": "hide_sessions", "_selected_action": [session.pk]})
    assert ask.status_code == 200
    assert "Why are these sessions hidden?" in ask.text
    session.refresh_from_db()
    assert session.hidden_at is None
    empty = {"action": "hide_sessions", "_selected_action": [session.pk], "apply": "1"}
    assert client.post(url, {**empty, "hidden_reason": ""}).status_code == 200
    done = client.post(url, {**empty, "hidden_reason": "Spam."})
    assert done.status_code == 302
    session.refresh_from_db()
    assert (session.hidden_reason, session.hidden_by) == ("Spam.", staff)
    client.post(url, {"action": "unhide_sessions", "_selected_action": [session.pk]})
    session.refresh_from_db()
    assert session.hidden_at is None


def test_staff_hide_the_sessions_of_reports(client, staff, session, outsider):
    report = session_report(session=session, reporter=outsider, address=ADDRESS, reason="spam")
    client.force_login(staff)
    url = reverse("admin:sessions_app_sessionreport_changelist")
    body = {
        "action": "hide_reported_sessions",
        "_selected_action": [report.pk],
        "apply": "1",
        "hidden_reason": "Spam.",
    }
    assert client.post(url, body).status_code == 302
    session.refresh_from_db()
    report.refresh_from_db()
    assert session.hidden_at is not None and report.resolved


def change_form_data(session, **extra) -> dict:
    data = {
        "title": session.title,
        "owner": session.owner_id,
        "coach": session.coach_id,
        "language": session.language,
        "system_prompt": session.system_prompt,
        "few_shot": "[]",
        "hidden_reason": "",
    }
    for prefix in ("reports", "prompts", "messages"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return {**data, **extra}


def test_staff_hide_on_the_session_form_with_a_reason(client, staff, user):
    session = make_session(owner=user, replies=0)
    client.force_login(staff)
    url = reverse("admin:sessions_app_coachingsession_change", args=[session.pk])
    refused = client.post(url, change_form_data(session, hidden="on"))
    assert refused.status_code == 200
    assert "Say why the session is hidden" in refused.text
    saved = client.post(url, change_form_data(session, hidden="on", hidden_reason="Hateful."))
    assert saved.status_code == 302
    session.refresh_from_db()
    assert (session.hidden_reason, session.hidden_by) == ("Hateful.", staff)
    assert session.hidden_at is not None
    assert client.post(url, change_form_data(session)).status_code == 302
    session.refresh_from_db()
    assert session.hidden_at is None and session.hidden_reason == ""
