import re

import pytest
from django.utils import timezone

from coach.demo import DEMO_MODEL_NAME
from coach.llm import LLMTimeout
from coach.services import quota_reserve
from sessions_app.models import CoachingSession, Message, MessageRole, MessageStatus
from sessions_app.tests.factories import make_session
from sessions_app.tests.public_builders import build_session

pytestmark = pytest.mark.django_db


def tag_hidden(body: str, element_id: str) -> bool:
    """Whether the element with this id is rendered with the `hidden` attribute."""
    tag = re.search(rf'<[a-z]+ [^>]*id="{element_id}"[^>]*>', body)
    assert tag, f"no #{element_id}"
    return re.search(r"\shidden[\s>]", tag.group(0)) is not None


def retry_hidden(body: str) -> bool:
    return tag_hidden(body, "retry-form")


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
    # With JavaScript the box streams through the API; without, it posts to the page.
    assert f'action="/sessions/{session.pk}/messages/"' in body
    assert f'data-stream-post="/api/sessions/{session.pk}/messages/?render=html"' in body
    assert f'data-stream-post="/api/sessions/{session.pk}/retry/?render=html"' in body
    assert retry_hidden(body)
    assert "hx-post" not in body


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
    response = user_client.post(f"/sessions/{session.pk}/messages/", {"content": "Are you there?"})
    failed = Message.objects.filter(role="assistant").latest("id")
    assert response.status_code == 302
    assert response["Location"] == f"/sessions/{session.pk}/#message-{failed.pk}"
    # The reply carries the failure; what the user wrote is delivered and stays.
    assert failed.status == MessageStatus.FAILED
    assert Message.objects.get(role="user").status == MessageStatus.OK
    body = user_client.get(response["Location"]).content.decode()
    assert "took too long" in body
    assert "Are you there?" in body
    assert "The last reply did not finish." in body
    assert f'action="/sessions/{session.pk}/retry/"' in body
    assert not retry_hidden(body)
    assert "5 of 5 coach requests left today" in body  # a failed call is not counted

    fake_llm.queue("Here I am.")
    response = user_client.post(f"/sessions/{session.pk}/retry/")
    assert response.status_code == 302
    answer = Message.objects.filter(role="assistant").latest("id")
    assert answer.content == "Here I am."
    assert response["Location"] == f"/sessions/{session.pk}/#message-{answer.pk}"
    failed.refresh_from_db()
    assert failed.status == MessageStatus.FAILED  # the old reply stays in the history
    body = user_client.get(f"/sessions/{session.pk}/").content.decode()
    assert retry_hidden(body)


def test_a_failed_reply_keeps_its_text_and_its_reason_is_for_the_owner_only(
    client, user, outsider, fake_llm
):
    session = make_session(owner=user)
    Message.objects.create(session=session, role=MessageRole.USER, content="More?")
    Message.objects.create(
        session=session,
        role=MessageRole.ASSISTANT,
        content="First, breathe",
        status=MessageStatus.FAILED,
        error="The model server cannot be reached.",
    )
    client.force_login(outsider)
    body = client.get(f"/sessions/{session.pk}/").content.decode()
    assert "First, breathe" in body
    assert "The reply broke off before the end." in body
    assert "cannot be reached" not in body
    client.force_login(user)
    body = client.get(f"/sessions/{session.pk}/").content.decode()
    assert "The reply broke off before the end. The model server cannot be reached." in body
    assert not retry_hidden(body)


@pytest.mark.parametrize(
    ("turns", "why"),
    [
        ([], "The coach has not answered yet."),
        (
            [("assistant", "Plan"), ("user", "And then?")],
            "Your last message did not get an answer.",
        ),
    ],
)
def test_retry_box_for_a_turn_without_answer(user_client, user, turns, why):
    session = build_session(owner=user, turns=turns)
    body = user_client.get(f"/sessions/{session.pk}/").content.decode()
    assert why in body
    assert not retry_hidden(body)


def test_interrupted_and_stopped_replies_say_so(user_client, user):
    session = make_session(owner=user)
    Message.objects.create(session=session, role=MessageRole.USER, content="Longer, please")
    Message.objects.create(
        session=session, role=MessageRole.ASSISTANT, content="Step one", status="stopped"
    )
    body = user_client.get(f"/sessions/{session.pk}/").content.decode()
    assert "Stopped before the end." in body
    assert retry_hidden(body)  # a stopped reply is an answer

    Message.objects.create(session=session, role=MessageRole.USER, content="Go on")
    Message.objects.create(
        session=session, role=MessageRole.ASSISTANT, content="", status="interrupted"
    )
    body = user_client.get(f"/sessions/{session.pk}/").content.decode()
    assert "The reply was interrupted before the end." in body
    assert not retry_hidden(body)


def streaming_reply(session, content="So far, so"):
    now = timezone.now()
    return Message.objects.create(
        session=session,
        role=MessageRole.ASSISTANT,
        content=content,
        status=MessageStatus.STREAMING,
        claimed_at=now,
        heartbeat_at=now,
    )


def test_a_reply_being_written_is_shown_with_its_stream(client, user_client, user):
    session = make_session(owner=user)
    Message.objects.create(session=session, role=MessageRole.USER, content="More?")
    reply = streaming_reply(session)
    response = user_client.get(f"/sessions/{session.pk}/")
    body = response.content.decode()
    assert response.context["streaming_message"] == reply
    assert f'data-stream-url="/api/messages/{reply.pk}/stream/?render=html"' in body
    assert "So far, so" in body
    assert "The coach is writing…" in body
    assert not tag_hidden(body, "composer-busy")  # "wait for the reply" for the owner
    assert retry_hidden(body)  # nothing to retry while it is written
    assert "js/stream.js" in body

    # Anyone reading the session follows it too.
    body = client.get(f"/sessions/{session.pk}/").content.decode()
    assert f'data-stream-url="/api/messages/{reply.pk}/stream/?render=html"' in body

    Message.objects.filter(pk=reply.pk).update(content="")
    body = user_client.get(f"/sessions/{session.pk}/").content.decode()
    assert "Waiting for the model…" in body


def test_a_finished_page_has_no_stream(user_client, session):
    response = user_client.get(f"/sessions/{session.pk}/")
    assert response.context["streaming_message"] is None
    body = response.content.decode()
    assert "data-stream-url" not in body
    assert tag_hidden(body, "composer-busy")


def test_follow_up_while_a_reply_streams_is_refused_and_kept(user_client, user, fake_llm):
    session = make_session(owner=user)
    streaming_reply(session)
    response = user_client.post(f"/sessions/{session.pk}/messages/", {"content": "my words"})
    assert response.status_code == 409
    body = response.content.decode()
    assert "The coach is still writing the last reply." in body
    assert "my words" in body
    assert not Message.objects.filter(role="user").exists()
    assert not fake_llm.calls


def test_retry_while_a_reply_streams_says_so(user_client, user, fake_llm):
    session = make_session(owner=user)
    streaming_reply(session)
    response = user_client.post(f"/sessions/{session.pk}/retry/", follow=True)
    assert "The coach is still writing a reply." in response.content.decode()
    assert not fake_llm.calls


def test_retry_with_nothing_to_retry(user_client, session, fake_llm):
    response = user_client.post(f"/sessions/{session.pk}/retry/", follow=True)
    assert response.redirect_chain[-1][0] == f"/sessions/{session.pk}/"
    assert "no failed or unanswered turn" in response.content.decode()
    assert not fake_llm.calls


def test_at_the_limit_the_page_says_so_and_keeps_the_text(
    user_client, user, session, fake_llm, settings
):
    settings.COACH_DAILY_LIMIT = 1
    quota_reserve(user=user)
    body = user_client.get(f"/sessions/{session.pk}/").content.decode()
    assert "You have used your 1 coach request for today" in body

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


# --- Each reply: its model, Copy, and for the owner's last reply Regenerate and Continue ---


def coach_reply(session, content="**Plan**", **fields):
    return Message.objects.create(
        session=session, role=MessageRole.ASSISTANT, content=content, **fields
    )


def article(body: str, message) -> str:
    """The HTML of one message's bubble on the page."""
    match = re.search(rf'<article [^>]*id="message-{message.pk}".*?</article>', body, re.S)
    assert match, f"no bubble for message {message.pk}"
    return match.group(0)


def test_every_reply_names_its_model_and_the_demo_model_says_so(client, user):
    session = build_session(owner=user, turns=[])
    demo = coach_reply(session, model_name=DEMO_MODEL_NAME)
    Message.objects.create(session=session, role=MessageRole.USER, content="And then?")
    other = coach_reply(session, model_name="qwen2.5-3b-instruct")
    body = client.get(f"/sessions/{session.pk}/").content.decode()
    assert f'<span class="model-label__name">{DEMO_MODEL_NAME}</span>' in article(body, demo)
    assert re.search(r'class="model-label__demo">demo model<', article(body, demo))
    assert '<span class="model-label__name">qwen2.5-3b-instruct</span>' in article(body, other)
    assert re.search(r'class="model-label__demo" hidden>', article(body, other))
    # The page's script marks streamed replies of the demo model the same way.
    assert f'data-demo-model="{DEMO_MODEL_NAME}"' in body


def test_a_reply_without_a_model_name_has_no_label(client, user):
    session = build_session(owner=user, turns=[])
    reply = coach_reply(session, model_name="")
    body = client.get(f"/sessions/{session.pk}/").content.decode()
    assert '<p class="model-label" hidden>' in article(body, reply)


def test_copy_takes_the_markdown_source_escaped(client, user):
    session = build_session(owner=user, turns=[])
    reply = coach_reply(session, content="**Bold** <script>alert(1)</script>\n\n1. One")
    bubble = article(client.get(f"/sessions/{session.pk}/").content.decode(), reply)
    assert "data-copy-reply" in bubble
    assert (
        '<template class="message-source">**Bold** &lt;script&gt;alert(1)&lt;/script&gt;\n\n'
        "1. One</template>"
    ) in bubble


def test_the_demo_notice_is_for_the_owner_while_the_demo_model_answers(
    client, user, outsider, settings
):
    session = make_session(owner=user)
    settings.COACH_LLM_IS_DEMO = True
    client.force_login(user)
    body = client.get(f"/sessions/{session.pk}/").content.decode()
    assert "tiny offline model" in body
    assert re.search(r'<p class="notice demo-notice".*?href="/help/model/"', body, re.S)
    client.force_login(outsider)
    assert "tiny offline model" not in client.get(f"/sessions/{session.pk}/").content.decode()
    settings.COACH_LLM_IS_DEMO = False
    client.force_login(user)
    assert "tiny offline model" not in client.get(f"/sessions/{session.pk}/").content.decode()


def test_only_the_owner_gets_regenerate_and_only_on_the_last_reply(client, user, outsider):
    session = make_session(owner=user)
    first = session.messages.get()
    Message.objects.create(session=session, role=MessageRole.USER, content="And then?")
    last = coach_reply(session, content="Then rest.")
    client.force_login(user)
    body = client.get(f"/sessions/{session.pk}/").content.decode()
    assert 'data-reply-action="regenerate"' not in article(body, first)
    regenerate = f'action="/sessions/{session.pk}/messages/{last.pk}/regenerate/"'
    assert regenerate in article(body, last)
    assert f'data-stream-post="/api/messages/{last.pk}/regenerate/?render=html"' in body
    # Continue only for a reply cut short.
    assert 'data-reply-action="continue"' in article(body, last)
    assert re.search(r'data-reply-action="continue"[^>]* hidden>', article(body, last))
    assert re.search(r'<p class="message-cut" hidden>', article(body, last))

    client.force_login(outsider)
    body = client.get(f"/sessions/{session.pk}/").content.decode()
    assert "data-reply-action" not in body.split('id="reply-foot-template"')[0]
    assert "Regenerate" not in body


def test_no_regenerate_while_a_reply_is_written_or_after_a_failed_one(user_client, user):
    session = make_session(owner=user)
    Message.objects.create(session=session, role=MessageRole.USER, content="More?")
    failed = coach_reply(session, content="", status=MessageStatus.FAILED)
    body = user_client.get(f"/sessions/{session.pk}/").content.decode()
    assert "data-reply-action" not in article(body, failed)  # "Try again" is for that
    assert not retry_hidden(body)


def test_a_reply_cut_short_says_so_and_offers_continue(client, user, outsider):
    session = make_session(owner=user)
    cut = session.messages.get()
    Message.objects.filter(pk=cut.pk).update(finish_reason="length")
    client.force_login(user)
    bubble = article(client.get(f"/sessions/{session.pk}/").content.decode(), cut)
    assert '<p class="message-cut">The reply was cut short.</p>' in bubble
    assert f'action="/sessions/{session.pk}/messages/{cut.pk}/continue/"' in bubble
    assert not re.search(r'data-reply-action="continue"[^>]* hidden>', bubble)
    # A visitor reads that it was cut short, with nothing to press.
    client.force_login(outsider)
    bubble = article(client.get(f"/sessions/{session.pk}/").content.decode(), cut)
    assert '<p class="message-cut">The reply was cut short.</p>' in bubble
    assert "data-reply-action" not in bubble


def test_at_the_limit_regenerate_and_continue_wait_for_tomorrow(user_client, user, settings):
    settings.COACH_DAILY_LIMIT = 1
    session = make_session(owner=user)
    reply = session.messages.get()
    Message.objects.filter(pk=reply.pk).update(finish_reason="length")
    quota_reserve(user=user)
    bubble = article(user_client.get(f"/sessions/{session.pk}/").content.decode(), reply)
    assert bubble.count(" disabled>") == 2


def test_a_regenerated_reply_shows_its_earlier_versions(client, user):
    session = make_session(owner=user)
    first = session.messages.get()
    second = coach_reply(session, content="Second *try*", replaces=first)
    body = client.get(f"/sessions/{session.pk}/").content.decode()
    assert f'id="message-{first.pk}"' not in body  # an earlier version, not a turn
    bubble = article(body, second)
    assert "Version 2 of 2 · show the earlier version" in bubble
    assert re.search(r'<details class="message-versions">.*<strong>Plan</strong>', bubble, re.S)
    assert "<em>try</em>" in bubble


def test_regenerate_without_javascript(user_client, user, fake_llm):
    session = make_session(owner=user)
    old = session.messages.get()
    fake_llm.queue("A **new** plan.")
    response = user_client.post(f"/sessions/{session.pk}/messages/{old.pk}/regenerate/")
    new = Message.objects.filter(role="assistant").latest("id")
    assert response.status_code == 302
    assert response["Location"] == f"/sessions/{session.pk}/#message-{new.pk}"
    assert new.replaces_id == old.pk and new.content == "A **new** plan."
    body = user_client.get(response["Location"]).content.decode()
    assert "Version 2 of 2" in body
    assert "4 of 5 coach requests left today" in body


def test_continue_without_javascript(user_client, user, fake_llm):
    from coach.testing.fakes import CutShort

    session = build_session(owner=user, turns=[])
    fake_llm.queue(CutShort("1. Walk"))
    user_client.post(f"/sessions/{session.pk}/retry/")
    cut = Message.objects.get(role="assistant")
    assert cut.finish_reason == "length"
    fake_llm.queue(" ten minutes.\n2. Sleep.")
    response = user_client.post(f"/sessions/{session.pk}/messages/{cut.pk}/continue/")
    assert response.status_code == 302
    assert response["Location"] == f"/sessions/{session.pk}/#message-{cut.pk}"
    cut.refresh_from_db()
    assert cut.content.startswith("1. Walk") and cut.content.endswith("2. Sleep.")
    bubble = article(user_client.get(f"/sessions/{session.pk}/").content.decode(), cut)
    assert '<p class="message-cut" hidden>' in bubble  # one reply now, not cut short
    assert re.search(r'data-reply-action="continue"[^>]* hidden>', bubble)
    assert "3 of 5" in user_client.get(f"/sessions/{session.pk}/").content.decode()  # two asks


def test_nothing_to_continue_or_regenerate_says_so(user_client, user, fake_llm):
    session = make_session(owner=user)
    first = session.messages.get()
    response = user_client.post(
        f"/sessions/{session.pk}/messages/{first.pk}/continue/", follow=True
    )
    assert "can be continued" in response.content.decode()
    Message.objects.create(session=session, role=MessageRole.USER, content="More?")
    coach_reply(session)
    response = user_client.post(
        f"/sessions/{session.pk}/messages/{first.pk}/regenerate/", follow=True
    )
    assert "can be written again" in response.content.decode()
    assert not fake_llm.calls


def test_no_regenerate_while_a_reply_is_written(user_client, user, fake_llm):
    session = make_session(owner=user)
    first = session.messages.get()
    streaming_reply(session)
    response = user_client.post(
        f"/sessions/{session.pk}/messages/{first.pk}/regenerate/", follow=True
    )
    assert "can be written again" in response.content.decode()
    assert not fake_llm.calls


def test_reply_actions_are_the_owners_and_for_this_sessions_messages(
    client, user, outsider, fake_llm
):
    session = make_session(owner=user)
    reply = session.messages.get()
    elsewhere = make_session(owner=user, title="Another").messages.get()
    client.force_login(outsider)
    for action in ("continue", "regenerate"):
        url = f"/sessions/{session.pk}/messages/{reply.pk}/{action}/"
        assert client.post(url).status_code == 403
    client.force_login(user)
    url = f"/sessions/{session.pk}/messages/{elsewhere.pk}/regenerate/"
    assert client.post(url).status_code == 404
    assert client.post(f"/sessions/{session.pk}/messages/999999/continue/").status_code == 404
    assert client.get(f"/sessions/{session.pk}/messages/{reply.pk}/regenerate/").status_code == 405
    assert not fake_llm.calls
    assert Message.objects.count() == 2


def test_a_continuation_that_failed_says_so_and_why_to_the_owner_only(client, user, outsider):
    session = make_session(owner=user)
    reply = session.messages.get()
    Message.objects.filter(pk=reply.pk).update(
        finish_reason="length", error="The model server cannot be reached."
    )
    client.force_login(user)
    bubble = article(client.get(f"/sessions/{session.pk}/").content.decode(), reply)
    assert "The rest of the reply could not be written. The model server cannot be" in bubble
    assert 'data-reply-action="continue"' in bubble
    client.force_login(outsider)
    bubble = article(client.get(f"/sessions/{session.pk}/").content.decode(), reply)
    assert "The rest of the reply could not be written." in bubble
    assert "cannot be reached" not in bubble


def test_a_full_session_says_to_start_a_new_one_and_keeps_the_message(
    client, user, fake_llm, settings
):
    from sessions_app.tests.factories import make_session

    settings.COACH_SESSION_MAX_TURNS = 1
    session = make_session(owner=user)
    client.force_login(user)
    response = client.post(f"/sessions/{session.pk}/messages/", {"content": "One more question"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "Start a new session to go on" in html
    assert "One more question" in html  # what they wrote stays in the box
    retry = client.post(f"/sessions/{session.pk}/retry/", follow=True)
    assert retry.status_code == 200
