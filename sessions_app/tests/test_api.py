import pytest

from coach.llm import LLMAuthError, LLMTimeout, LLMUnavailable
from coach.services import quota_reserve
from sessions_app.models import CoachingSession, Message, MessageStatus
from sessions_app.tests.factories import make_session

pytestmark = pytest.mark.django_db

BODY = {
    "coach": "meditation-guide",
    "current_state": {"tags": ["anxious"], "text": "Exams"},
    "goal": {"tags": ["deep rest"], "text": ""},
    "misc": {"text": "10 minutes"},
}


def test_coaches_are_public(api_client):
    response = api_client.get("/api/coaches/")
    assert response.status_code == 200
    first = response.json()[0]
    assert set(first) == {
        "slug",
        "name",
        "description",
        "state_options",
        "goal_options",
        "option_labels",
    }
    assert first["slug"] == "meditation-guide"
    assert first["name"] == "Meditation guide"
    assert "anxious" in first["state_options"]
    assert first["option_labels"]["anxious"] == "anxious"


def test_coaches_speak_the_requests_language_with_the_same_option_values(api_client):
    korean = api_client.get("/api/coaches/", HTTP_ACCEPT_LANGUAGE="ko").json()[0]
    english = api_client.get("/api/coaches/", HTTP_ACCEPT_LANGUAGE="en").json()[0]

    assert korean["name"] == "명상 가이드"
    assert korean["state_options"] == english["state_options"]
    assert korean["option_labels"]["anxious"] == "불안해요"


def test_create_session_returns_the_detail_with_first_reply(user_api, user, fake_llm):
    fake_llm.queue("## Plan")
    response = user_api.post("/api/sessions/", BODY, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert set(data) == {"id", "title", "coach", "owner", "created_at", "prompts", "messages"}
    assert data["coach"] == "meditation-guide"
    assert data["owner"] == user.public_name  # never the login name
    assert [p["kind"] for p in data["prompts"]] == ["current_state", "goal", "misc"]
    assert data["prompts"][0] == {"kind": "current_state", "tags": ["anxious"], "text": "Exams"}
    (message,) = data["messages"]
    assert message["role"] == "assistant" and message["content"] == "## Plan"
    assert message["status"] == "ok"
    assert user_api.get("/api/me/quota/").json()["used"] == 1


def test_create_with_minimal_body(user_api, fake_llm):
    response = user_api.post(
        "/api/sessions/", {"coach": "career-coach", "goal": {"text": "Get hired"}}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["title"] == "Get hired"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"coach": "nope"}, "coach"),
        ({"current_state": {"tags": ["hacked"]}}, "current_state"),
        ({"goal": {"tags": [], "text": ""}}, "goal"),
        ({"goal": {"tags": ["focus", "deep rest"]}}, "goal"),
        ({"goal": {"tags": ["anxious"]}}, "goal"),
        ({"misc": {"text": "x" * 2001}}, "misc"),
        ({"current_state": {"tags": "anxious"}}, "current_state"),
    ],
)
def test_create_rejects_bad_input_with_field_errors(user_api, fake_llm, change, field):
    response = user_api.post("/api/sessions/", {**BODY, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not CoachingSession.objects.exists()
    assert not fake_llm.calls


def test_create_rejects_malformed_json(user_api):
    response = user_api.post("/api/sessions/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_create_needs_login(api_client, fake_llm):
    response = api_client.post("/api/sessions/", BODY, format="json")
    assert response.status_code == 401
    assert "detail" in response.json()
    assert not fake_llm.calls


def test_create_over_the_limit_is_429_with_reset_time(user_api, user, fake_llm, settings):
    settings.COACH_DAILY_LIMIT = 1
    quota_reserve(user=user)
    response = user_api.post("/api/sessions/", BODY, format="json")
    assert response.status_code == 429
    data = response.json()
    assert "You have used your 1 coach request" in data["detail"]
    assert data["resets_at"] == user_api.get("/api/me/quota/").json()["resets_at"]
    assert not CoachingSession.objects.exists()


def test_when_the_site_budget_is_spent_the_answer_is_503_with_reset_time(
    user_api, user, outsider, fake_llm, settings
):
    settings.COACH_SITE_DAILY_LIMIT = 1
    quota_reserve(user=outsider)
    response = user_api.post("/api/sessions/", BODY, format="json")
    assert response.status_code == 503
    data = response.json()
    assert "as many requests today as this site allows" in data["detail"]
    assert data["resets_at"] == user_api.get("/api/me/quota/").json()["resets_at"]
    assert not CoachingSession.objects.exists() and not fake_llm.calls
    assert user_api.get("/api/me/quota/").json()["used"] == 0


@pytest.mark.parametrize(
    ("error", "status"), [(LLMUnavailable(), 503), (LLMTimeout(), 504), (LLMAuthError(), 502)]
)
def test_create_when_the_model_fails(user_api, fake_llm, error, status):
    fake_llm.queue(error)
    response = user_api.post("/api/sessions/", BODY, format="json")
    assert response.status_code == status
    session = CoachingSession.objects.get()
    assert response.json() == {"detail": str(error), "session_id": session.pk}
    assert user_api.get("/api/me/quota/").json()["used"] == 0

    retry = user_api.post(f"/api/sessions/{session.pk}/retry/")
    assert retry.status_code == 201
    assert retry.json()["user_message"] is None
    assert retry.json()["assistant_message"]["role"] == "assistant"


def test_list_is_public_paginated_and_filtered(api_client, user, outsider):
    make_session(owner=user, title="Deep rest")
    from coach.models import Coach

    career = Coach.objects.get(slug="career-coach")
    make_session(owner=outsider, coach=career, title="Get promoted")
    response = api_client.get("/api/sessions/")
    data = response.json()
    assert response.status_code == 200
    assert set(data) == {"count", "next", "previous", "results"}
    assert data["count"] == 2
    assert [r["title"] for r in data["results"]] == ["Get promoted", "Deep rest"]
    assert set(data["results"][0]) == {
        "id",
        "title",
        "coach",
        "owner",
        "created_at",
        "message_count",
    }
    assert data["results"][1]["message_count"] == 1

    assert [
        r["title"] for r in api_client.get("/api/sessions/?coach=career-coach").json()["results"]
    ] == ["Get promoted"]
    # q matches the title and the text of the typed prompts.
    assert api_client.get("/api/sessions/?q=promoted").json()["count"] == 1
    assert api_client.get("/api/sessions/?q=bed").json()["count"] == 2
    assert api_client.get("/api/sessions/?q=nothing-like-this").json()["count"] == 0
    assert api_client.get("/api/sessions/?page=99").status_code == 404


def test_list_and_detail_leave_out_hidden_sessions(api_client, user, outsider, staff):
    from sessions_app.services import session_hide

    hidden = make_session(owner=user, title="Deep rest")
    public = make_session(owner=outsider, title="Quiet mind")
    session_hide(session=hidden, by=staff, reason="Spam.")
    data = api_client.get("/api/sessions/").json()
    assert data["count"] == 1
    assert [r["id"] for r in data["results"]] == [public.pk]
    assert api_client.get("/api/sessions/?q=rest").json()["count"] == 0
    assert api_client.get(f"/api/sessions/{hidden.pk}/").status_code == 404
    api_client.force_authenticate(outsider)
    assert api_client.get(f"/api/sessions/{hidden.pk}/").status_code == 404
    api_client.force_authenticate(user)
    assert api_client.get(f"/api/sessions/{hidden.pk}/").json()["id"] == hidden.pk


def test_detail_is_public(api_client, user):
    session = make_session(owner=user)
    response = api_client.get(f"/api/sessions/{session.pk}/")
    assert response.status_code == 200
    assert response.json()["id"] == session.pk
    assert api_client.get("/api/sessions/999999/").status_code == 404


def test_a_session_number_past_any_database_is_a_404_not_a_500(user_api):
    huge = 2**70  # a URL's digits can be any length
    response = user_api.post(f"/api/sessions/{huge}/messages/", {"content": "Hi"}, format="json")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_follow_up(user_api, user, fake_llm):
    session = make_session(owner=user)
    fake_llm.queue("Try this.")
    response = user_api.post(
        f"/api/sessions/{session.pk}/messages/", {"content": "More?"}, format="json"
    )
    assert response.status_code == 201
    data = response.json()
    assert data["user_message"]["content"] == "More?"
    assert data["user_message"]["status"] == "ok"
    assert data["assistant_message"]["content"] == "Try this."


def test_follow_up_failure_then_retry(user_api, user, fake_llm):
    session = make_session(owner=user)
    fake_llm.queue(LLMTimeout())
    response = user_api.post(
        f"/api/sessions/{session.pk}/messages/", {"content": "Hm?"}, format="json"
    )
    assert response.status_code == 504
    assert response.json()["session_id"] == session.pk
    assert Message.objects.get(role="user").status == MessageStatus.OK
    detail = user_api.get(f"/api/sessions/{session.pk}/").json()
    assert [m["status"] for m in detail["messages"][-2:]] == ["ok", "failed"]
    assert "error" not in detail["messages"][-1]  # the error's words are the owner's only

    response = user_api.post(f"/api/sessions/{session.pk}/retry/")
    assert response.status_code == 201
    assert response.json()["user_message"]["status"] == "ok"
    assert user_api.post(f"/api/sessions/{session.pk}/retry/").status_code == 409


@pytest.mark.parametrize("body", [{}, {"content": ""}, {"content": "z" * 4001}, {"content": None}])
def test_follow_up_bad_input(user_api, user, fake_llm, body):
    session = make_session(owner=user)
    response = user_api.post(f"/api/sessions/{session.pk}/messages/", body, format="json")
    assert response.status_code == 400
    assert "content" in response.json()
    assert not fake_llm.calls


def test_follow_up_over_the_limit(user_api, user, fake_llm, settings):
    settings.COACH_DAILY_LIMIT = 1
    session = make_session(owner=user)
    quota_reserve(user=user)
    response = user_api.post(
        f"/api/sessions/{session.pk}/messages/", {"content": "x"}, format="json"
    )
    assert response.status_code == 429
    assert "resets_at" in response.json()
    assert not Message.objects.filter(role="user").exists()


def test_outsider_is_refused_on_someone_elses_session(outsider_api, api_client, user, fake_llm):
    session = make_session(owner=user)
    url = f"/api/sessions/{session.pk}"
    assert outsider_api.post(f"{url}/messages/", {"content": "x"}, format="json").status_code == 403
    assert outsider_api.post(f"{url}/retry/").status_code == 403
    assert outsider_api.delete(f"{url}/").status_code == 403
    assert api_client.post(f"{url}/messages/", {"content": "x"}, format="json").status_code == 401
    assert api_client.delete(f"{url}/").status_code == 401
    assert CoachingSession.objects.filter(pk=session.pk).exists()
    assert not fake_llm.calls


def test_owner_deletes_via_api(user_api, user):
    session = make_session(owner=user)
    assert user_api.delete(f"/api/sessions/{session.pk}/").status_code == 204
    assert not CoachingSession.objects.exists()


def test_quota_endpoint(user_api, user, api_client):
    quota_reserve(user=user)
    data = user_api.get("/api/me/quota/").json()
    assert data["limit"] == 5 and data["used"] == 1 and data["remaining"] == 4
    assert data["resets_at"].endswith(("Z", "+00:00"))
    assert api_client.get("/api/me/quota/").status_code == 401


def test_token_auth_works_on_session_endpoints(api_client, user, fake_llm):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api_client.post("/api/sessions/", BODY, format="json").status_code == 201


# --- The public list's caps (as in the gallery) -----------------------------------------


def test_a_search_longer_than_200_characters_is_a_clear_400(api_client):
    response = api_client.get("/api/sessions/", {"q": "sleep " * 40})
    assert response.status_code == 400
    assert "200 characters" in response.json()["q"][0]


def test_pages_past_the_last_allowed_are_a_json_404(api_client):
    response = api_client.get("/api/sessions/", {"page": 501})
    assert response.status_code == 404
    assert "500" in response.json()["detail"]


def test_a_search_counts_at_most_the_cap(api_client, user, settings, monkeypatch):
    from sessions_app import pagination
    from sessions_app.tests.factories import make_session

    monkeypatch.setattr(pagination, "SEARCH_MAX_RESULTS", 3)
    for _ in range(5):
        make_session(owner=user, title="Sleep better")
    searched = api_client.get("/api/sessions/", {"q": "sleep"}).json()
    assert searched["count"] == 3
    everything = api_client.get("/api/sessions/").json()
    assert everything["count"] == 5


@pytest.mark.parametrize(
    ("q", "words"),
    [("a to sleep", ["sleep"]), ("수면 잠 깊은", ["수면", "깊은"]), ("go 10k run", ["10k", "run"])],
)
def test_short_words_are_not_searched(q, words):
    from sessions_app.selectors import search_words

    assert search_words(q) == words


def test_an_outsider_posting_a_bad_body_is_refused_as_an_outsider(outsider, user, api_client):
    from sessions_app.tests.factories import make_session

    session = make_session(owner=user)
    api_client.force_authenticate(outsider)
    response = api_client.post(f"/api/sessions/{session.pk}/messages/", {}, format="json")
    assert response.status_code == 403


def test_the_api_answers_json_even_to_a_browser(api_client):
    response = api_client.get("/api/coaches/", HTTP_ACCEPT="text/html")
    assert response["Content-Type"] == "application/json"
