import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from coach.exceptions import QuotaExceeded
from coach.llm import LLMTimeout, LLMUnavailable
from coach.models import DailyUsage
from coach.selectors import quota_get
from sessions_app.exceptions import NothingToRetry, ReplyFailed
from sessions_app.models import CoachingSession, Message, MessageStatus, PromptKind
from sessions_app.services import (
    PromptAnswer,
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
    assert messages[0] == {"role": "system", "content": coach.system_prompt}
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
    assert "1 coach requests" in str(exc.value)
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
