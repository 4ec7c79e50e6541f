import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from coach.exceptions import QuotaExceeded
from coach.llm import LLMTimeout, LLMUnavailable
from coach.models import DailyUsage
from coach.selectors import quota_get
from sessions_app.exceptions import (
    NothingToContinue,
    NothingToRegenerate,
    NothingToRetry,
    ReplyFailed,
)
from sessions_app.models import CoachingSession, Message, MessageStatus, PromptKind
from sessions_app.services import (
    PromptAnswer,
    message_continue,
    message_regenerate,
    message_send,
    session_delete,
    session_retry,
    session_start,
    session_title_from_goal,
)
from sessions_app.tests.factories import make_session

pytestmark = pytest.mark.django_db

ANSWERS = {
    "current_state": PromptAnswer(tags=["anxious", "tired"], text="Exams next week."),
    "goal": PromptAnswer(tags=["deep rest"], text=""),
    "misc": PromptAnswer(text="Ten minutes, before bed, in Korean please."),
}


def start(user, coach, **overrides):
    return session_start(user=user, coach=coach, **{**ANSWERS, **overrides})


def test_session_start_stores_answers_and_first_reply(user, coach, fake_llm):
    fake_llm.queue("**4-7-8 breathing** ...")
    session = start(user, coach)

    assert session.title == "Deep rest"
    assert session.system_prompt == coach.system_prompt
    assert session.few_shot == coach.few_shot
    kinds = sorted(session.prompts.values_list("kind", flat=True))
    assert kinds == sorted([PromptKind.CURRENT_STATE, PromptKind.GOAL, PromptKind.MISC])
    (reply,) = session.messages.all()
    assert reply.role == "assistant"
    assert reply.content == "**4-7-8 breathing** ..."
    assert reply.model_name == "fake-model"
    assert (reply.prompt_tokens, reply.completion_tokens) == (11, 7)
    assert quota_get(user=user).used == 1


def test_session_start_sends_the_coach_prompt_and_typed_answers(user, coach, fake_llm):
    start(user, coach)
    (messages,) = fake_llm.calls
    assert messages[0]["role"] == "system"
    assert messages[0]["content"].startswith(coach.system_prompt)
    joined = "\n".join(m["content"] for m in messages if m["role"] == "user")
    for text in ("anxious, tired", "Exams next week.", "deep rest", "Ten minutes"):
        assert text in joined


def test_title_from_own_goal_is_truncated_and_capitalised():
    from sessions_app.models import Goal

    assert session_title_from_goal(Goal(text="sleep " * 40)).endswith("…")
    assert len(session_title_from_goal(Goal(text="sleep " * 40))) <= 80
    assert session_title_from_goal(Goal(text="run a 10k")) == "Run a 10k"


def test_invalid_answers_write_nothing_and_count_nothing(user, coach, fake_llm):
    with pytest.raises(ValidationError):
        start(user, coach, goal=PromptAnswer(tags=["not-an-option"]))
    assert not CoachingSession.objects.exists()
    assert not fake_llm.calls
    assert quota_get(user=user).used == 0


def test_model_failure_keeps_the_session_and_gives_the_unit_back(user, coach, fake_llm):
    fake_llm.queue(LLMUnavailable())
    with pytest.raises(ReplyFailed) as exc:
        start(user, coach)
    assert exc.value.status_code == 503
    session = CoachingSession.objects.get()
    assert session.prompts.count() == 3
    [failed] = session.messages.all()
    assert (failed.role, failed.status) == ("assistant", MessageStatus.FAILED)
    assert exc.value.message == failed
    assert quota_get(user=user).used == 0

    _none, reply = session_retry(session=session, user=user)
    assert reply.role == "assistant"
    assert reply.status == MessageStatus.OK
    assert quota_get(user=user).used == 1


def test_quota_exhausted_writes_nothing(user, coach, fake_llm, settings):
    settings.COACH_DAILY_LIMIT = 1
    start(user, coach)
    with pytest.raises(QuotaExceeded) as exc:
        start(user, coach)
    assert "your 1 coach request for today" in str(exc.value)
    assert CoachingSession.objects.count() == 1
    assert len(fake_llm.calls) == 1


def test_follow_up_stores_user_message_then_reply(user, coach, fake_llm):
    session = make_session(owner=user, coach=coach)
    fake_llm.queue("Try box breathing.")
    user_message, assistant = message_send(session=session, user=user, content="  What else?  ")
    assert user_message.content == "What else?"
    assert assistant.content == "Try box breathing."
    history = fake_llm.calls[0]
    assert history[-1] == {"role": "user", "content": "What else?"}
    assert history[-2] == {"role": "assistant", "content": "**Plan**"}


def test_follow_up_failure_keeps_the_message_and_marks_the_reply_failed(user, coach, fake_llm):
    session = make_session(owner=user, coach=coach)
    fake_llm.queue(LLMTimeout())
    with pytest.raises(ReplyFailed) as exc:
        message_send(session=session, user=user, content="Still there?")
    assert exc.value.status_code == 504
    asked = Message.objects.get(session=session, role="user")
    assert asked.status == MessageStatus.OK
    failed = Message.objects.filter(session=session, role="assistant").latest("id")
    assert failed.status == MessageStatus.FAILED
    assert "too long" in failed.error
    assert quota_get(user=user).used == 0

    fake_llm.queue("Yes!")
    retried, reply = session_retry(session=session, user=user)
    assert retried.pk == asked.pk
    assert reply.content == "Yes!"
    assert fake_llm.calls[-1][-1] == {"role": "user", "content": "Still there?"}
    assert fake_llm.calls[-1][-2]["role"] == "assistant"  # not the failed reply:
    assert fake_llm.calls[-1][-2]["content"] == "**Plan**"
    failed.refresh_from_db()
    assert failed.status == MessageStatus.FAILED  # kept in the history


def test_failed_messages_are_left_out_of_later_history(user, coach, fake_llm):
    session = make_session(owner=user, coach=coach)
    fake_llm.queue(LLMTimeout())
    with pytest.raises(ReplyFailed):
        message_send(session=session, user=user, content="lost in the void")
    message_send(session=session, user=user, content="second try")
    contents = [m["content"] for m in fake_llm.calls[-1]]
    assert "lost in the void" not in contents


def test_nothing_to_retry(user, coach, fake_llm):
    session = make_session(owner=user, coach=coach)
    with pytest.raises(NothingToRetry):
        session_retry(session=session, user=user)
    assert not fake_llm.calls


@pytest.mark.parametrize("content", ["", "   ", "x" * 4001])
def test_follow_up_validation(user, coach, fake_llm, content):
    session = make_session(owner=user, coach=coach)
    with pytest.raises(ValidationError):
        message_send(session=session, user=user, content=content)
    assert not fake_llm.calls
    assert quota_get(user=user).used == 0


def test_outsider_cannot_write_to_someone_elses_session(user, outsider, coach, fake_llm):
    session = make_session(owner=user, coach=coach)
    with pytest.raises(PermissionDenied):
        message_send(session=session, user=outsider, content="hi")
    with pytest.raises(PermissionDenied):
        session_retry(session=session, user=outsider)
    with pytest.raises(PermissionDenied):
        session_delete(session=session, user=outsider)
    assert CoachingSession.objects.filter(pk=session.pk).exists()
    assert not fake_llm.calls
    assert not DailyUsage.objects.filter(user=outsider).exists()


def test_owner_deletes_session_with_everything(user, coach):
    session = make_session(owner=user, coach=coach)
    session_delete(session=session, user=user)
    assert not CoachingSession.objects.exists()
    assert not Message.objects.exists()


# --- Continue a reply cut short, regenerate the last one ------------------------------


def _cut_short_session(user, coach, fake_llm):
    from coach.testing.fakes import CutShort

    fake_llm.queue(CutShort("1. Dim the lights at 22:30 and"))
    session = start(user, coach)
    (reply,) = session.messages.all()
    return session, reply


def test_a_reply_that_reaches_the_length_limit_is_marked_cut_short(user, coach, fake_llm):
    _session, reply = _cut_short_session(user, coach, fake_llm)

    assert reply.status == MessageStatus.OK
    assert reply.finish_reason == "length" and reply.cut_short


def test_continue_appends_the_rest_to_the_same_reply_and_counts_one(user, coach, fake_llm):
    session, reply = _cut_short_session(user, coach, fake_llm)
    fake_llm.queue("put your phone away.\n2. Breathe (5 min).")

    continued = message_continue(message=reply, user=user)

    assert continued.pk == reply.pk
    assert continued.content == (
        "1. Dim the lights at 22:30 and put your phone away.\n2. Breathe (5 min)."
    )
    assert continued.finish_reason == "stop" and continued.status == MessageStatus.OK
    assert session.messages.count() == 1
    assert quota_get(user=user).used == 2
    # The model is shown the part it wrote and asked for the rest.
    asked = fake_llm.calls[-1]
    assert asked[-2] == {"role": "assistant", "content": "1. Dim the lights at 22:30 and"}
    assert asked[-1]["role"] == "user" and "cut off" in asked[-1]["content"]


def test_a_failed_continuation_leaves_the_reply_as_it_was_and_refunds(user, coach, fake_llm):
    _session, reply = _cut_short_session(user, coach, fake_llm)
    fake_llm.queue(LLMUnavailable())

    with pytest.raises(ReplyFailed):
        message_continue(message=reply, user=user)

    reply.refresh_from_db()
    assert reply.status == MessageStatus.OK and reply.cut_short
    assert reply.content == "1. Dim the lights at 22:30 and"
    assert quota_get(user=user).used == 1
    fake_llm.queue("put your phone away.")
    assert message_continue(message=reply, user=user).content.endswith("and put your phone away.")


def test_only_the_last_reply_cut_short_can_be_continued(user, outsider, coach, fake_llm):
    session, reply = _cut_short_session(user, coach, fake_llm)
    with pytest.raises(PermissionDenied):
        message_continue(message=reply, user=outsider)
    message_send(session=session, user=user, content="And in the morning?")
    reply.refresh_from_db()
    with pytest.raises(NothingToContinue):
        message_continue(message=reply, user=user)
    last = session.messages.last()
    with pytest.raises(NothingToContinue):  # it ended on its own
        message_continue(message=last, user=user)
    assert quota_get(user=user).used == 2


def test_regenerate_keeps_the_earlier_version_out_of_the_conversation(user, coach, fake_llm):
    from sessions_app.selectors import session_conversation

    fake_llm.queue("First plan.")
    session = start(user, coach)
    fake_llm.queue("Second answer.")
    message_send(session=session, user=user, content="Shorter please.")
    old = session.messages.last()
    old_content = old.content
    fake_llm.queue("A better answer.")

    new = message_regenerate(message=old, user=user)

    assert new.pk != old.pk and new.replaces_id == old.pk
    conversation = session_conversation(session=session)
    assert [m.content for m in conversation] == [
        "First plan.",
        "Shorter please.",
        "A better answer.",
    ]
    assert [m.content for m in conversation[-1].earlier_versions] == [old_content]
    assert quota_get(user=user).used == 3
    # Asked with the same history as the first time: not with the version it replaces.
    asked = fake_llm.calls[-1]
    assert asked[-1] == {"role": "user", "content": "Shorter please."}
    assert old_content not in [m["content"] for m in asked]
    # Later turns see only the current version.
    message_send(session=session, user=user, content="Thanks")
    history = [m["content"] for m in fake_llm.calls[-1]]
    assert "A better answer." in history and old_content not in history


def test_regenerate_refuses_outsiders_and_anything_but_the_last_reply(
    user, outsider, coach, fake_llm
):
    session = start(user, coach)
    plan = session.messages.get()
    with pytest.raises(PermissionDenied):
        message_regenerate(message=plan, user=outsider)
    message_send(session=session, user=user, content="More?")
    with pytest.raises(NothingToRegenerate):
        message_regenerate(message=plan, user=user)
    user_message = session.messages.filter(role="user").get()
    with pytest.raises(NothingToRegenerate):
        message_regenerate(message=user_message, user=user)
    assert quota_get(user=user).used == 2


def test_a_korean_session_snapshots_the_korean_prompt_and_words_presets_in_korean(
    user, coach, fake_llm
):
    answers = {
        **ANSWERS,
        "current_state": PromptAnswer(tags=["anxious", "tired"]),
        "misc": PromptAnswer(text="자기 전 10분"),
    }
    session = session_start(user=user, coach=coach, language="ko", **answers)

    assert session.language == "ko"
    assert session.system_prompt == coach.system_prompt_ko
    assert session.title == "깊은 휴식"
    (asked,) = fake_llm.calls
    assert "Answer in Korean" in asked[0]["content"]  # the language the person writes in
    assert "## 지금 나의 상태\n불안해요, 피곤해요" in asked[-1]["content"]
    # The tags stored are the stable values, the same in every language.
    assert session.prompts.get(kind=PromptKind.CURRENT_STATE).tags == ["anxious", "tired"]


# --- Limits on turns -------------------------------------------------------------------


def test_a_person_may_have_only_so_many_replies_being_written(user, coach, fake_llm, settings):
    from sessions_app.exceptions import TooManyTurns
    from sessions_app.services import message_open, session_open

    settings.COACH_USER_TURNS_IN_FLIGHT = 2
    session_open(user=user, coach=coach, **ANSWERS)
    session_open(user=user, coach=coach, **ANSWERS)
    with pytest.raises(TooManyTurns) as refused:
        session_open(user=user, coach=coach, **ANSWERS)
    assert "2 replies being written" in str(refused.value)
    other = make_session(owner=user)
    with pytest.raises(TooManyTurns):
        message_open(session=other, user=user, content="Hi")
    assert quota_get(user=user).used == 2  # refused before a unit was taken


def test_replies_whose_writer_died_do_not_count_against_the_person(
    user, outsider, coach, fake_llm, settings
):
    import datetime as dt

    from django.utils import timezone

    from sessions_app.services import message_open, session_open

    settings.COACH_USER_TURNS_IN_FLIGHT = 2
    settings.COACH_STREAM_STALE_SECONDS = 60
    dead = [session_open(user=user, coach=coach, **ANSWERS).message for _ in range(2)]
    someone_elses = session_open(user=outsider, coach=coach, **ANSWERS).message
    Message.objects.filter(pk__in=[m.pk for m in [*dead, someone_elses]]).update(
        heartbeat_at=timezone.now() - dt.timedelta(minutes=5)
    )
    turn = message_open(session=make_session(owner=user), user=user, content="Hi")
    assert turn.message.status == MessageStatus.STREAMING
    statuses = set(Message.objects.filter(pk__in=[m.pk for m in dead]).values_list("status"))
    assert statuses == {(MessageStatus.INTERRUPTED,)}
    # Only the person's own were looked at (the site's sweep gets to the others).
    someone_elses.refresh_from_db()
    assert someone_elses.status == MessageStatus.STREAMING


def test_a_closed_reply_is_returned_as_stored(user, fake_llm):
    from coach.llm import Reply
    from sessions_app.serializers import MessageSerializer
    from sessions_app.services import message_open, turn_close

    session = make_session(owner=user)
    turn = message_open(session=session, user=user, content="Hi")
    reply = Reply(content="Sleep.", model="m-1", prompt_tokens=3, completion_tokens=2)
    closed = turn_close(
        message=turn.message, content="Sleep.", model="m-0", reply=reply, stopped=False
    )
    stored = Message.objects.get(pk=turn.message.pk)
    assert MessageSerializer(closed).data == MessageSerializer(stored).data
    assert (closed.status, closed.model_name, closed.session.pk) == ("ok", "m-1", session.pk)
    assert turn.message.status == MessageStatus.STREAMING  # the turn's own copy is left


def test_a_closed_reply_is_serialised_without_building_a_query(user, fake_llm, monkeypatch):
    # The stream's `done` event serialises it on the event loop, once a turn.
    from django.db.models.sql.compiler import SQLCompiler

    from sessions_app.serializers import MessageSerializer
    from sessions_app.services import message_open, turn_close

    turn = message_open(session=make_session(owner=user), user=user, content="Hi")
    closed = turn_close(
        message=turn.message, content="Sleep.", model="m", reply=None, stopped=False
    )
    compiled = []
    original = SQLCompiler.as_sql
    monkeypatch.setattr(
        SQLCompiler, "as_sql", lambda self, *a, **kw: compiled.append(1) or original(self, *a, **kw)
    )
    assert MessageSerializer(closed).data["sources"] == []
    assert not compiled
    assert list(closed.citations.all()) == []


def test_a_reply_stopped_meanwhile_is_read_back_as_stopped(user, fake_llm):
    from sessions_app.services import message_open, turn_close, turn_fail

    session = make_session(owner=user)
    turn = message_open(session=session, user=user, content="Hi")
    turn_fail(message_id=turn.message.pk, content="Sle", error=LLMTimeout(), interrupted=True)
    closed = turn_close(
        message=turn.message, content="Sleep.", model="m-0", reply=None, stopped=False
    )
    assert (closed.status, closed.content) == (MessageStatus.INTERRUPTED, "Sle")


def test_a_session_holds_a_limited_number_of_turns(user, coach, fake_llm, settings):
    from sessions_app.exceptions import SessionFull

    settings.COACH_SESSION_MAX_TURNS = 2
    session = start(user, coach)
    message_send(session=session, user=user, content="One more")
    with pytest.raises(SessionFull) as full:
        message_send(session=session, user=user, content="And another")
    assert "Start a new session" in str(full.value)
    assert quota_get(user=user).used == 2


def test_a_message_that_cannot_fit_the_context_is_refused_before_counting(
    user, coach, fake_llm, settings
):
    session = start(user, coach)
    settings.COACH_LLM_CONTEXT_TOKENS = 1500
    with pytest.raises(ValidationError) as too_long:
        message_send(session=session, user=user, content="잠 " * 1300)
    (error,) = too_long.value.message_dict["content"]
    assert "too long for the coach's model" in error
    allowed = int(error.split("about ")[1].split(" ")[0])
    assert 0 < allowed < 2600
    assert quota_get(user=user).used == 1
    message_send(session=session, user=user, content="잠 " * (allowed // 2 - 5))
    assert quota_get(user=user).used == 2


def test_wizard_answers_that_cannot_fit_are_refused_before_counting(
    user, coach, fake_llm, settings
):
    settings.COACH_LLM_CONTEXT_TOKENS = 1200
    long = PromptAnswer(text="잠" * 1900)
    with pytest.raises(ValidationError):
        session_start(user=user, coach=coach, **{**ANSWERS, "misc": long})
    assert not CoachingSession.objects.exists()
    assert quota_get(user=user).used == 0


def test_flushing_stores_the_text_of_replies_still_being_written_only(user, fake_llm):
    from sessions_app.services import message_open, turn_fail, turns_flush

    writing = message_open(session=make_session(owner=user), user=user, content="Hi").message
    ended = message_open(session=make_session(owner=user), user=user, content="Hi").message
    turn_fail(message_id=ended.pk, content="Fail", error=LLMTimeout(), interrupted=False)
    turns_flush(contents={writing.pk: "Half a pl", ended.pk: "Half a plan"})
    writing.refresh_from_db()
    ended.refresh_from_db()
    assert (writing.content, writing.status) == ("Half a pl", MessageStatus.STREAMING)
    assert writing.heartbeat_at > writing.created_at
    assert (ended.content, ended.status) == ("Fail", MessageStatus.FAILED)


def test_a_process_hears_only_of_stops_asked_for_its_own_replies(
    user, outsider, fake_llm, settings
):
    from sessions_app.services import message_open, turn_fail, turns_stop_requested

    def writing(owner):
        return message_open(session=make_session(owner=owner), user=owner, content="Hi").message

    settings.COACH_USER_TURNS_IN_FLIGHT = 3
    mine, also_mine, elsewhere, ended = (
        writing(user),
        writing(user),
        writing(outsider),
        writing(user),
    )
    turn_fail(message_id=ended.pk, content="", error=LLMTimeout(), interrupted=False)
    Message.objects.filter(pk__in=[mine.pk, elsewhere.pk, ended.pk]).update(stop_requested=True)

    assert turns_stop_requested(message_ids=[mine.pk, also_mine.pk, ended.pk]) == [mine.pk]
    assert turns_stop_requested(message_ids=[also_mine.pk]) == []
