import pytest

from coach.llm import LLMTimeout
from coach.services import quota_reserve
from sessions_app.models import CoachingSession, Message, MessageStatus
from sessions_app.tests.factories import make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(user):
    return make_session(owner=user, title="Deep rest")


def test_anyone_can_read_a_session_read_only(client, session):
    response = client.get(f"/sessions/{session.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Deep rest" in body
    assert "Where I am now" in body and "anxious" in body and "10 minutes before bed" in body
    assert "Start your own session" in body
    assert 'name="content"' not in body


def test_other_members_see_it_read_only(client, outsider, session):
    client.force_login(outsider)
    body = client.get(f"/sessions/{session.pk}/").content.decode()
    assert 'name="content"' not in body
    assert "Delete this session" not in body


def test_owner_gets_the_message_box_and_quota(user_client, session):
    body = user_client.get(f"/sessions/{session.pk}/").content.decode()
    assert 'name="content"' in body
    assert "5 of 5 coach requests left today" in body
    assert "Delete this session" in body


def test_missing_session_is_404(client):
    assert client.get("/sessions/999999/").status_code == 404


def test_follow_up_without_javascript_redirects_back(user_client, session, fake_llm):
    fake_llm.queue("Box breathing, four counts each.")
    response = user_client.post(
        f"/sessions/{session.pk}/messages/", {"content": "Anything shorter?"}
    )
    assistant = Message.objects.filter(role="assistant").latest("id")
    assert response.status_code == 302
    assert response["Location"] == f"/sessions/{session.pk}/#message-{assistant.pk}"
    body = user_client.get(f"/sessions/{session.pk}/").content.decode()
    assert "Anything shorter?" in body and "Box breathing" in body
    assert "4 of 5 coach requests left today" in body


def test_follow_up_with_htmx_returns_the_new_turns(user_client, session, fake_llm):
    fake_llm.queue("Box breathing.")
    response = user_client.post(
        f"/sessions/{session.pk}/messages/", {"content": "Shorter?"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert "Shorter?" in body and "Box breathing." in body
    assert 'hx-swap-oob="true"' in body  # a fresh message box


def test_empty_follow_up_is_refused_with_a_form_error(user_client, session, fake_llm):
    response = user_client.post(f"/sessions/{session.pk}/messages/", {"content": "  "})
    assert response.status_code == 400
    assert b"Write a message first" in response.content
    assert not fake_llm.calls


def test_over_long_follow_up_is_refused_and_kept(user_client, session, fake_llm):
    text = "y" * 4001
    response = user_client.post(f"/sessions/{session.pk}/messages/", {"content": text})
    assert response.status_code == 400
    assert text.encode() in response.content
    assert not fake_llm.calls


def test_failed_follow_up_is_kept_and_can_be_retried(user_client, user, session, fake_llm):
    fake_llm.queue(LLMTimeout())
    response = user_client.post(
        f"/sessions/{session.pk}/messages/", {"content": "Are you there?"}, follow=True
    )
    body = response.content.decode()
    assert "took too long" in body
    assert "Are you there?" in body
    assert f'action="/sessions/{session.pk}/retry/"' in body
    failed = Message.objects.get(role="user")
    assert failed.status == MessageStatus.FAILED

    fake_llm.queue("Here I am.")
    response = user_client.post(f"/sessions/{session.pk}/retry/")
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == MessageStatus.OK
    assert Message.objects.filter(role="assistant").latest("id").content == "Here I am."


def test_failed_follow_up_with_htmx_shows_the_error_in_place(user_client, session, fake_llm):
    fake_llm.queue(LLMTimeout())
    response = user_client.post(
        f"/sessions/{session.pk}/messages/", {"content": "Hello?"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Hello?" in body and "took too long" in body
    assert "/retry/" in body


def test_at_the_limit_the_page_says_so_and_keeps_the_text(
    user_client, user, session, fake_llm, settings
):
    settings.COACH_DAILY_LIMIT = 1
    quota_reserve(user=user)
    body = user_client.get(f"/sessions/{session.pk}/").content.decode()
    assert "You have used all 1 coach requests for today" in body

    response = user_client.post(f"/sessions/{session.pk}/messages/", {"content": "my words"})
    assert response.status_code == 429
    assert b"my words" in response.content
    assert not Message.objects.filter(role="user").exists()
    assert not fake_llm.calls


def test_outsider_cannot_post_retry_or_delete(client, outsider, session, fake_llm):
    client.force_login(outsider)
    assert client.post(f"/sessions/{session.pk}/messages/", {"content": "hi"}).status_code == 403
    assert client.post(f"/sessions/{session.pk}/retry/").status_code == 403
    assert client.get(f"/sessions/{session.pk}/delete/").status_code == 403
    assert client.post(f"/sessions/{session.pk}/delete/").status_code == 403
    assert CoachingSession.objects.filter(pk=session.pk).exists()
    assert not fake_llm.calls


def test_anonymous_post_is_sent_to_login(client, session):
    response = client.post(f"/sessions/{session.pk}/messages/", {"content": "hi"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_owner_deletes_after_confirming(user_client, session):
    confirm = user_client.get(f"/sessions/{session.pk}/delete/")
    assert b"Delete this session?" in confirm.content
    response = user_client.post(f"/sessions/{session.pk}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == "/sessions/mine/"
    assert not CoachingSession.objects.exists()
    assert "was deleted" in response.content.decode()


def test_my_sessions_lists_only_mine_newest_first(user_client, user, outsider):
    make_session(owner=user, title="Older one")
    make_session(owner=user, title="Newer one")
    make_session(owner=outsider, title="Not mine")
    body = user_client.get("/sessions/mine/").content.decode()
    assert body.index("Newer one") < body.index("Older one")
    assert "Not mine" not in body


def test_my_sessions_requires_login(client):
    assert client.get("/sessions/mine/")["Location"] == "/accounts/login/?next=/sessions/mine/"
