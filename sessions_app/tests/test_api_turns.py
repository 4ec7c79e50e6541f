"""The streaming contract (docs/streaming.md) through Django's AsyncClient: events, resume,
stop, detached generation, failures mid-stream and dead writers.

Each test runs one async scenario with `async_to_sync`, so the database steps of the
detached turn run on the test's own thread and connection (project.db.db_step).
"""

import asyncio
import datetime as dt

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.utils import timezone
from rest_framework.authtoken.models import Token

from coach.llm import LLMTimeout, LLMUnavailable
from coach.models import DailyUsage
from coach.selectors import quota_get
from coach.testing.fakes import PartialFailure
from sessions_app.models import Message, MessageStatus
from sessions_app.services import PromptAnswer, session_open
from sessions_app.tests.factories import make_session
from sessions_app.tests.sse import parse_block, text_of

pytestmark = pytest.mark.django_db

SSE = {"accept": "text/event-stream"}
REPLY = "Breathe in for four, hold for seven, out for eight. Then sleep."


def run(scenario):
    """Run an async scenario (or a function returning an awaitable) to its end."""

    async def main():
        return await scenario()

    return async_to_sync(main)()


def client_for(user=None) -> AsyncClient:
    """Call from the sync part of a test: logging in is sync."""
    client = AsyncClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def owner_client(user):
    return client_for(user)


@pytest.fixture
def outsider_client(outsider):
    return client_for(outsider)


async def read_events(response, *, limit: int | None = None) -> list[dict]:
    """Parse the SSE body; stop (like a client closing the tab) after `limit` deltas."""
    events, buffer, deltas = [], "", 0
    iterator = aiter(response.streaming_content)
    try:
        async for chunk in iterator:
            buffer += chunk.decode()
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                event = parse_block(block)
                events.append(event)
                deltas += event["event"] == "delta"
                if limit is not None and deltas >= limit:
                    return events
    finally:
        await iterator.aclose()
    return events


async def wait_until_finished(message_id: int, timeout: float = 5.0) -> Message:
    for _ in range(int(timeout / 0.05)):
        message = await Message.objects.aget(pk=message_id)
        if message.status != MessageStatus.STREAMING:
            return message
        await asyncio.sleep(0.05)
    raise AssertionError("the turn never finished")


def post_message(client, session, content="And at weekends?", **extra):
    return client.post(
        f"/api/sessions/{session.pk}/messages/",
        {"content": content},
        content_type="application/json",
        headers={**SSE, **extra.pop("headers", {})},
        **extra,
    )


# --- The event sequence ---------------------------------------------------------------


def test_a_follow_up_streams_start_deltas_then_done(user, fake_llm, owner_client):
    session = make_session(owner=user)
    fake_llm.queue(REPLY)
    fake_llm.chunk_delay = 0.06  # longer than coalescing: pieces arrive one by one

    async def scenario():
        response = await post_message(owner_client, session)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/event-stream")
        assert response["Cache-Control"] == "no-cache"
        assert response["X-Accel-Buffering"] == "no"
        return await read_events(response)

    events = run(scenario)

    names = [e["event"] for e in events]
    assert names[0] == "start" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"}
    start = events[0]["data"]
    assert start["session_id"] == session.pk
    assert start["user_message"]["content"] == "And at weekends?"
    assert start["message"]["status"] == "streaming"
    deltas = [e for e in events if e["event"] == "delta"]
    assert len(deltas) > 3
    # Every id is the length of the reply so far.
    so_far = ""
    for delta in deltas:
        so_far += delta["data"]["text"]
        assert delta["id"] == len(so_far)
    assert so_far == REPLY
    # `done` is the message exactly as the session shows it.
    done = events[-1]["data"]
    detail = async_to_sync(AsyncClient().get)(f"/api/sessions/{session.pk}/").json()
    assert done == detail["messages"][-1]
    assert done["status"] == "ok" and done["content"] == REPLY
    assert "<p>" in done["content_html"]
    assert quota_get(user=user).used == 1


def test_pieces_that_come_together_are_coalesced(user, fake_llm, owner_client):
    session = make_session(owner=user)
    fake_llm.queue(" ".join(f"w{i}" for i in range(200)))  # 200 pieces, no delay

    events = run(lambda: _stream_all(post_message(owner_client, session)))

    deltas = [e for e in events if e["event"] == "delta"]
    assert 1 <= len(deltas) < 20
    assert text_of(events) == Message.objects.filter(role="assistant").latest("id").content


async def _stream_all(request):
    return await read_events(await request)


def test_html_rendering_is_sanitised_and_on_request(user, fake_llm, owner_client):
    session = make_session(owner=user)
    fake_llm.queue("**Bold** <script>alert(1)</script> plan")

    async def scenario():
        response = await owner_client.post(
            f"/api/sessions/{session.pk}/messages/?render=html",
            {"content": "Go"},
            content_type="application/json",
            headers=SSE,
        )
        return await read_events(response)

    events = run(scenario)
    html = [e["data"]["html"] for e in events if e["event"] == "delta"]
    assert html and "<strong>Bold</strong>" in html[-1]
    assert all("<script" not in h for h in html)


def test_the_first_plan_streams_from_the_create_endpoint(user, fake_llm, owner_client):
    fake_llm.queue(REPLY)

    async def scenario():
        response = await owner_client.post(
            "/api/sessions/",
            {"coach": "meditation-guide", "goal": {"text": "Sleep by midnight"}},
            content_type="application/json",
            headers=SSE,
        )
        assert response.status_code == 200
        return await read_events(response)

    events = run(scenario)
    assert events[0]["data"]["user_message"] is None
    assert text_of(events) == REPLY
    assert events[-1]["event"] == "done"


# Every statement of a turn costs 0.3-0.5 ms under load (docs/performance.md): a
# follow-up is opened and closed in these, its login (2: session and user) included.
FOLLOW_UP_STATEMENTS = [
    "SELECT",  # login: the session
    "SELECT",  # login: the user
    "SELECT",  # the chat session
    "SELECT",  # room for a turn: replies, in flight, in progress, library (one statement)
    "SELECT",  # the wizard's prompts
    # One transaction: the person's unit, the turn's rows, the site's count last.
    "INSERT",  # the person's unit of the day, an upsert (RETURNING the count for RateLimit-*)
    "INSERT",  # the follow-up and the reply, streaming: both rows in one statement
    "UPDATE",  # the site's
    "SELECT",  # the conversation the model is sent
    "UPDATE",  # close: the reply
    "UPDATE",  # close: the session's updated_at
    "UPDATE",  # close: the site's tokens
]


def test_a_streamed_follow_up_takes_a_fixed_number_of_statements(user, fake_llm, owner_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    session = make_session(owner=user, replies=3)

    async def scenario():
        return await read_events(await post_message(owner_client, session))

    run(scenario)  # the day's first request also makes the day's rows
    with CaptureQueriesContext(connection) as queries:
        events = run(scenario)
    assert events[-1]["event"] == "done"
    statements = [
        query["sql"].split(None, 1)[0]
        for query in queries.captured_queries
        if query["sql"].split(None, 1)[0] not in ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT")
    ]
    assert statements == FOLLOW_UP_STATEMENTS


# --- Refusals stay plain JSON ----------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "body", "status"),
    [
        ("anon", {"content": "hi"}, 401),
        ("outsider", {"content": "hi"}, 403),
        ("owner", {"content": ""}, 400),
        ("owner", {"content": "x" * 4001}, 400),
    ],
)
def test_refusals_before_the_model_are_json(user, outsider, fake_llm, who, body, status):
    session = make_session(owner=user)
    client = client_for({"anon": None, "outsider": outsider, "owner": user}[who])

    async def scenario():
        return await client.post(
            f"/api/sessions/{session.pk}/messages/",
            body,
            content_type="application/json",
            headers=SSE,
        )

    response = run(scenario)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()
    assert not fake_llm.calls


def test_at_the_daily_limit_the_answer_is_a_json_429(user, fake_llm, settings, owner_client):
    settings.COACH_DAILY_LIMIT = 0
    session = make_session(owner=user)
    response = run(lambda: post_message(owner_client, session))
    assert response.status_code == 429
    assert set(response.json()) == {"detail", "resets_at"}
    assert not fake_llm.calls


def test_a_missing_session_is_a_json_404(user, fake_llm, owner_client):
    response = run(
        lambda: owner_client.post(
            "/api/sessions/999999/messages/",
            {"content": "hi"},
            content_type="application/json",
            headers=SSE,
        )
    )
    assert response.status_code == 404
    assert "detail" in response.json()


# --- Detached generation ---------------------------------------------------------------


def test_a_client_that_goes_away_still_gets_its_reply_stored(user, fake_llm, owner_client):
    session = make_session(owner=user)
    fake_llm.queue(REPLY)
    fake_llm.chunk_delay = 0.03

    async def scenario():
        response = await post_message(owner_client, session)
        events = await read_events(response, limit=2)  # then the tab is closed
        message_id = events[0]["data"]["message"]["id"]
        return events, await wait_until_finished(message_id)

    events, message = run(scenario)
    assert len(text_of(events)) < len(REPLY)
    assert message.status == MessageStatus.OK
    assert message.content == REPLY
    assert quota_get(user=user).used == 1


def test_resume_with_and_without_last_event_id_joins_up_exactly(user, fake_llm, owner_client):
    session = make_session(owner=user)
    fake_llm.queue(REPLY)
    fake_llm.chunk_delay = 0.03

    async def scenario():
        first = await read_events(await post_message(owner_client, session), limit=3)
        message_id = first[0]["data"]["message"]["id"]
        last_id = [e for e in first if e["event"] == "delta"][-1]["id"]
        anyone = AsyncClient()
        resumed = await read_events(
            await anyone.get(
                f"/api/messages/{message_id}/stream/", headers={"Last-Event-ID": str(last_id)}
            )
        )
        again = await read_events(await anyone.get(f"/api/messages/{message_id}/stream/"))
        return first, resumed, again, message_id

    first, resumed, again, message_id = run(scenario)
    stored = Message.objects.get(pk=message_id).content
    assert stored == REPLY
    assert text_of(first) + text_of(resumed) == stored  # no gap, no repeat
    assert text_of(again) == stored  # from the start, a finished reply answers at once
    assert resumed[-1]["event"] == again[-1]["event"] == "done"
    assert resumed[0]["event"] == "start"


def test_resume_by_query_parameter_and_bad_offsets(user, fake_llm):
    session = make_session(owner=user)
    message = session.messages.get()

    async def scenario():
        client = AsyncClient()
        tail = await read_events(
            await client.get(f"/api/messages/{message.pk}/stream/?last_event_id=3")
        )
        bad = await client.get(
            f"/api/messages/{message.pk}/stream/", headers={"Last-Event-ID": "soon"}
        )
        # A bad query is refused even beside a good header (and the other way round).
        bad_query = await client.get(
            f"/api/messages/{message.pk}/stream/?last_event_id=-852",
            headers={"Last-Event-ID": "3"},
        )
        empty_query = await client.get(f"/api/messages/{message.pk}/stream/?last_event_id=")
        empty_header = await client.get(
            f"/api/messages/{message.pk}/stream/", headers={"Last-Event-ID": ""}
        )
        missing = await client.get("/api/messages/999999/stream/")
        return tail, bad, bad_query, empty_query, empty_header, missing

    tail, bad, bad_query, empty_query, empty_header, missing = run(scenario)
    assert text_of(tail) == "**Plan**"[3:]
    assert bad.status_code == 400 and "detail" in bad.json()
    assert bad_query.status_code == 400
    assert empty_query.status_code == empty_header.status_code == 400
    assert missing.status_code == 404 and "detail" in missing.json()


def test_a_turn_opened_for_its_page_is_started_by_its_first_reader(
    user, coach, fake_llm, owner_client
):
    fake_llm.queue(REPLY)
    turn = session_open(
        user=user,
        coach=coach,
        current_state=PromptAnswer(),
        goal=PromptAnswer(text="Sleep by midnight"),
        misc=PromptAnswer(),
    )
    assert turn.message.claimed_at is None and not fake_llm.calls

    async def scenario():
        url = f"/api/messages/{turn.message.pk}/stream/"
        return await read_events(await owner_client.get(url))

    events = run(scenario)
    assert text_of(events) == REPLY
    assert len(fake_llm.calls) == 1
    assert "Sleep by midnight" in fake_llm.calls[0][-1]["content"]


# --- Stop and one turn at a time -------------------------------------------------------


def test_the_owner_stops_a_reply_and_keeps_the_text_so_far(
    user, outsider, fake_llm, owner_client, outsider_client
):
    session = make_session(owner=user)
    fake_llm.queue(REPLY)
    fake_llm.chunk_delay = 0.1

    async def scenario():
        response = await post_message(owner_client, session)
        events = await read_events(response, limit=2)
        message_id = events[0]["data"]["message"]["id"]
        refused = await outsider_client.post(f"/api/messages/{message_id}/stop/")
        anonymous = await AsyncClient().post(f"/api/messages/{message_id}/stop/")
        retry = await owner_client.post(f"/api/sessions/{session.pk}/retry/")
        stopped = await owner_client.post(f"/api/messages/{message_id}/stop/")
        again = await owner_client.post(f"/api/messages/{message_id}/stop/")
        return refused, anonymous, retry, stopped, again, message_id

    refused, anonymous, retry, stopped, again, message_id = run(scenario)
    assert refused.status_code == 403
    assert anonymous.status_code == 401
    assert retry.status_code == 409  # still streaming: no second call, no second charge
    assert len(fake_llm.calls) == 1
    assert stopped.status_code == 200
    body = stopped.json()
    assert body["status"] == "stopped"
    assert 0 < len(body["content"]) < len(REPLY)
    assert REPLY.startswith(body["content"])
    assert again.status_code == 409
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.content) == ("stopped", body["content"])
    assert quota_get(user=user).used == 1  # the model was asked


def test_stopping_a_turn_nobody_started_gives_the_unit_back(user, coach, fake_llm, owner_client):
    turn = session_open(
        user=user,
        coach=coach,
        current_state=PromptAnswer(),
        goal=PromptAnswer(text="Run"),
        misc=PromptAnswer(),
    )
    response = run(lambda: owner_client.post(f"/api/messages/{turn.message.pk}/stop/"))
    assert response.status_code == 200
    assert response.json()["status"] == "stopped"
    assert quota_get(user=user).used == 0
    assert not fake_llm.calls


# --- Failures ---------------------------------------------------------------------------


def test_the_model_failing_mid_stream_keeps_the_text_and_gives_the_unit_back(
    user, outsider, fake_llm, owner_client
):
    session = make_session(owner=user)
    fake_llm.queue(PartialFailure("Half a plan", LLMTimeout()), "The whole plan.")

    async def scenario():
        events = await read_events(await post_message(owner_client, session))
        message_id = events[0]["data"]["message"]["id"]
        public = await read_events(await AsyncClient().get(f"/api/messages/{message_id}/stream/"))
        # The owner following it (a reload) by session cookie, and by token, reads why.
        followed = await read_events(await owner_client.get(f"/api/messages/{message_id}/stream/"))
        by_token = await read_events(
            await AsyncClient().get(
                f"/api/messages/{message_id}/stream/",
                headers={"authorization": f"Token {token}"},
            )
        )
        retried = await read_events(
            await owner_client.post(f"/api/sessions/{session.pk}/retry/", headers=SSE)
        )
        return events, public, followed, by_token, retried, message_id

    token = Token.objects.create(user=user).key
    events, public, followed, by_token, retried, message_id = run(scenario)
    error = events[-1]
    assert error["event"] == "error"
    assert error["data"]["status"] == "failed"
    assert error["data"]["message_id"] == message_id
    assert "too long" in error["data"]["detail"]  # the owner reads why
    assert public[-1]["data"]["detail"] == "This reply failed."  # a visitor does not
    assert followed[-1]["data"]["detail"] == by_token[-1]["data"]["detail"]
    assert "too long" in followed[-1]["data"]["detail"]
    failed = Message.objects.get(pk=message_id)
    assert (failed.status, failed.content) == ("failed", "Half a plan")
    assert text_of(retried) == "The whole plan."
    assert retried[-1]["event"] == "done"
    assert retried[0]["data"]["user_message"]["content"] == "And at weekends?"
    assert quota_get(user=user).used == 1  # the failed one was given back


def test_the_json_endpoint_reports_a_failed_turn_with_its_session(user, fake_llm, owner_client):
    session = make_session(owner=user)
    fake_llm.queue(PartialFailure("Half", LLMUnavailable()))
    response = run(
        lambda: owner_client.post(
            f"/api/sessions/{session.pk}/messages/",
            {"content": "Hi"},
            content_type="application/json",
        )
    )
    assert response.status_code == 503
    assert response.json() == {"detail": str(LLMUnavailable()), "session_id": session.pk}


def test_a_dead_writer_is_seen_as_interrupted_and_refunded_once(
    user, fake_llm, settings, owner_client
):
    session = make_session(owner=user)
    DailyUsage.objects.create(user=user, day=timezone.localdate(), count=1)
    long_ago = timezone.now() - dt.timedelta(seconds=settings.COACH_STREAM_STALE_SECONDS + 5)
    message = Message.objects.create(
        session=session,
        role="assistant",
        content="Half of",
        status=MessageStatus.STREAMING,
        quota_day=timezone.localdate(),
        claimed_at=long_ago,
        heartbeat_at=long_ago,
    )

    async def scenario():
        url = f"/api/messages/{message.pk}/stream/"
        return [await read_events(await AsyncClient().get(url)) for _ in range(2)]

    first, second = run(scenario)
    for events in (first, second):
        assert events[-1]["event"] == "error"
        assert events[-1]["data"]["status"] == "interrupted"
        assert text_of(events) == "Half of"
    assert quota_get(user=user).used == 0  # given back once, not twice
    assert Message.objects.get(pk=message.pk).status == MessageStatus.INTERRUPTED
    _user_message, reply = async_to_sync(_retry_json)(owner_client, session)
    assert reply["status"] == "ok"


async def _retry_json(client, session):
    response = await client.post(f"/api/sessions/{session.pk}/retry/")
    assert response.status_code == 201
    body = response.json()
    return body["user_message"], body["assistant_message"]


def test_a_live_writer_is_not_expired(user, fake_llm, settings, owner_client):
    session = make_session(owner=user)
    message = Message.objects.create(
        session=session,
        role="assistant",
        status=MessageStatus.STREAMING,
        claimed_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    response = run(lambda: owner_client.post(f"/api/sessions/{session.pk}/retry/"))
    assert response.status_code == 409
    assert Message.objects.get(pk=message.pk).status == MessageStatus.STREAMING


def test_a_reader_that_is_busy_when_the_reply_ends_still_hears_of_it(
    user, fake_llm, owner_client, settings
):
    """The end of a reply published while a slow reader is between two reads (here: the
    HTML throttle) reaches it at once, not at the next keep-alive."""
    settings.COACH_STREAM_KEEPALIVE_SECONDS = 30
    session = make_session(owner=user)
    fake_llm.queue(PartialFailure("Half a", LLMTimeout()))
    fake_llm.chunk_delay = 0.01

    async def scenario():
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await owner_client.post(
            f"/api/sessions/{session.pk}/messages/?render=html",
            {"content": "Go"},
            content_type="application/json",
            headers=SSE,
        )
        events = await read_events(response)
        return events, loop.time() - started

    events, seconds = run(scenario)
    assert events[-1]["event"] == "error"
    assert seconds < 5


def test_readers_of_a_writer_that_could_not_store_its_end_are_not_left_waiting(
    user, fake_llm, owner_client, settings, monkeypatch
):
    from sessions_app import services

    settings.COACH_STREAM_STALE_SECONDS = 1
    settings.COACH_STREAM_HEARTBEAT_SECONDS = 0.5
    session = make_session(owner=user)
    fake_llm.queue("Nearly there.")

    def database_gone(**kwargs):
        raise OSError("the database went away")

    monkeypatch.setattr(services, "turn_close", database_gone)

    async def scenario():
        return await read_events(await post_message(owner_client, session))

    events = run(scenario)
    assert events[-1]["event"] == "error"
    assert events[-1]["data"]["status"] == "interrupted"
    assert quota_get(user=user).used == 0

    # Waiting for the whole reply instead: a clear 502 with the session to retry.
    fake_llm.queue("Nearly there.")
    url = f"/api/sessions/{session.pk}/messages/"
    response = run(
        lambda: owner_client.post(url, {"content": "Hi"}, content_type="application/json")
    )
    assert response.status_code == 502
    assert response.json()["session_id"] == session.pk


# --- Continue a reply cut short, regenerate the last one ----------------------------


def _cut_short_reply(session, text="1. Dim the lights at 22:30 and") -> Message:
    reply = session.messages.get()
    reply.content, reply.finish_reason = text, "length"
    reply.save(update_fields=["content", "finish_reason"])
    return reply


def test_continue_streams_the_rest_into_the_same_message(user, fake_llm, owner_client):
    session = make_session(owner=user)
    reply = _cut_short_reply(session)
    fake_llm.queue("put your phone away.")
    fake_llm.chunk_delay = 0.06

    async def scenario():
        response = await owner_client.post(
            f"/api/messages/{reply.pk}/continue/?render=html", headers=SSE
        )
        assert response.status_code == 200
        return await read_events(response)

    events = run(scenario)

    start, *deltas, done = events
    assert start["event"] == "start" and done["event"] == "done"
    assert start["data"]["message"]["id"] == reply.pk
    assert start["data"]["message"]["content"] == "1. Dim the lights at 22:30 and"
    # Deltas go on from the text already there, and join it as one reply.
    so_far = start["data"]["message"]["content"]
    for delta in deltas:
        so_far += delta["data"]["text"]
        assert delta["id"] == len(so_far)
        assert delta["data"]["html"].startswith("<ol>")
    assert so_far == "1. Dim the lights at 22:30 and put your phone away."
    assert done["data"]["content"] == so_far
    assert done["data"]["finish_reason"] == "stop"
    assert quota_get(user=user).used == 1


def test_continue_and_regenerate_refuse_outsiders_and_what_cannot_be_done(
    user, fake_llm, owner_client, outsider_client
):
    session = make_session(owner=user)
    reply = session.messages.get()

    async def scenario():
        refused = await outsider_client.post(f"/api/messages/{reply.pk}/regenerate/")
        anonymous = await AsyncClient().post(f"/api/messages/{reply.pk}/continue/")
        not_cut = await owner_client.post(f"/api/messages/{reply.pk}/continue/", headers=SSE)
        missing = await owner_client.post("/api/messages/999999/regenerate/")
        return refused, anonymous, not_cut, missing

    refused, anonymous, not_cut, missing = run(scenario)

    assert refused.status_code == 403 and "owner" in refused.json()["detail"]
    assert anonymous.status_code in (401, 403) and "detail" in anonymous.json()
    assert not_cut.status_code == 409 and "cut short" in not_cut.json()["detail"]
    assert missing.status_code == 404 and missing.json()["detail"]
    assert quota_get(user=user).used == 0


def test_regenerate_replaces_the_reply_and_keeps_the_earlier_version(user, fake_llm, owner_client):
    session = make_session(owner=user)
    old = session.messages.get()
    fake_llm.queue("A better plan.")

    async def scenario():
        response = await owner_client.post(f"/api/messages/{old.pk}/regenerate/")
        detail = await AsyncClient().get(f"/api/sessions/{session.pk}/")
        earlier = await AsyncClient().get(f"/api/messages/{old.pk}/")
        return response, detail, earlier

    response, detail, earlier = run(scenario)

    assert response.status_code == 201
    new = response.json()
    assert new["content"] == "A better plan." and new["replaces"] == old.pk
    assert new["model"] == "fake-model" and new["finish_reason"] == "stop"
    assert [m["id"] for m in detail.json()["messages"]] == [new["id"]]
    assert earlier.status_code == 200 and earlier.json()["content"] == old.content
    assert quota_get(user=user).used == 1


def test_a_failed_continuation_tells_its_owner_and_keeps_the_reply(user, fake_llm, owner_client):
    session = make_session(owner=user)
    reply = _cut_short_reply(session)
    fake_llm.queue(PartialFailure("put your", LLMUnavailable()))

    async def scenario():
        response = await owner_client.post(f"/api/messages/{reply.pk}/continue/", headers=SSE)
        return await read_events(response)

    events = run(scenario)

    end = events[-1]
    assert end["event"] == "error"
    assert end["data"]["status"] == "ok" and end["data"]["message_id"] == reply.pk
    assert end["data"]["detail"] == str(LLMUnavailable())
    reply.refresh_from_db()
    assert reply.status == "ok" and reply.finish_reason == "length"
    assert reply.content == "1. Dim the lights at 22:30 and put your"
    assert quota_get(user=user).used == 0  # given back
    # A visitor following it later just reads the reply.
    visitor = run(lambda: AsyncClient().get(f"/api/messages/{reply.pk}/stream/"))
    assert run(lambda: read_events(visitor))[-1]["event"] == "done"


# --- The daily limit in standard headers ----------------------------------------------


def test_every_counted_request_carries_the_ratelimit_headers(user, fake_llm, owner_client):
    session = make_session(owner=user)

    async def scenario():
        streamed = await post_message(owner_client, session)
        await read_events(streamed)
        whole = await owner_client.post(
            f"/api/sessions/{session.pk}/messages/",
            {"content": "And then?"},
            content_type="application/json",
        )
        return streamed, whole

    streamed, whole = run(scenario)

    assert streamed["RateLimit-Limit"] == "5" and streamed["RateLimit-Remaining"] == "4"
    assert whole.status_code == 201
    assert whole["RateLimit-Limit"] == "5" and whole["RateLimit-Remaining"] == "3"
    reset = int(whole["RateLimit-Reset"])
    assert 0 < reset <= 24 * 3600


def test_at_the_limit_the_429_says_when_to_come_back(user, fake_llm, settings, owner_client):
    settings.COACH_DAILY_LIMIT = 1
    session = make_session(owner=user)
    quota_reserve_for(user)

    refused = run(lambda: post_message(owner_client, session))

    assert refused.status_code == 429
    assert refused["RateLimit-Remaining"] == "0" and refused["RateLimit-Limit"] == "1"
    assert refused["Retry-After"] == refused["RateLimit-Reset"]
    assert int(refused["Retry-After"]) > 0


def quota_reserve_for(user):
    from coach.services import quota_reserve

    quota_reserve(user=user)
