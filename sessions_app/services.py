"""Writes of the coaching flow: start a session, send a follow-up, retry, delete.

Every model call goes through coach.services.coach_reply_generate, after a unit of the
daily quota was reserved and outside any database transaction.
"""

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from accounts.models import User
from coach.llm import ChatMessage, LLMError
from coach.models import Coach
from coach.prompting import build_messages
from coach.quota import Reservation
from coach.services import coach_reply_generate, quota_release, quota_reserve
from sessions_app.exceptions import NothingToRetry, ReplyFailed
from sessions_app.models import (
    MESSAGE_MAX_LENGTH,
    PROMPT_CLASSES,
    CoachingSession,
    Message,
    MessageRole,
    MessageStatus,
    Prompt,
    PromptKind,
)
from sessions_app.selectors import session_pending_turn

TITLE_MAX_LENGTH = 80


@dataclass(frozen=True)
class PromptAnswer:
    """One wizard answer as given: chosen preset tags and free text."""

    tags: list[str] = field(default_factory=list)
    text: str = ""


def prompt_build(*, kind: str, coach: Coach, answer: PromptAnswer) -> Prompt:
    """An unsaved typed prompt, validated against the coach's presets. Raises ValidationError."""
    prompt = PROMPT_CLASSES[kind](kind=kind, tags=list(answer.tags), text=answer.text.strip())
    prompt.validate_for(coach)
    return prompt


def session_title_from_goal(goal: Prompt) -> str:
    title = Truncator(goal.summary_line()).chars(TITLE_MAX_LENGTH)
    return title[:1].upper() + title[1:] if title else _("My coaching session")


def session_chat_messages(
    *, session: CoachingSession, pending: Message | None = None
) -> list[ChatMessage]:
    """What the model is sent for this session: the snapshot prompt, the typed prompts,
    then the delivered turns (and `pending`, a failed message being retried)."""
    prompts = [p.as_typed() for p in Prompt.objects.filter(session=session)]
    turns = Message.objects.filter(session=session).order_by("created_at", "id")
    history: list[ChatMessage] = [
        {"role": m.role, "content": m.content}
        for m in turns
        if m.status == MessageStatus.OK or (pending is not None and m.pk == pending.pk)
    ]
    return build_messages(
        system_prompt=session.system_prompt,
        few_shot=session.few_shot,
        prompts=prompts,
        history=history,
    )


def session_start(
    *,
    user: User,
    coach: Coach,
    current_state: PromptAnswer,
    goal: PromptAnswer,
    misc: PromptAnswer,
) -> CoachingSession:
    """Create a session from the wizard's three answers and ask the coach for the plan.

    Raises ValidationError for bad answers and QuotaExceeded at the daily limit (nothing
    is written then), ReplyFailed when the model fails (the session and its answers are
    kept, the unit is given back, and the first reply can be retried).
    """
    prompts = [
        prompt_build(kind=PromptKind.CURRENT_STATE, coach=coach, answer=current_state),
        prompt_build(kind=PromptKind.GOAL, coach=coach, answer=goal),
        prompt_build(kind=PromptKind.MISC, coach=coach, answer=misc),
    ]
    reservation = quota_reserve(user=user)
    try:
        with transaction.atomic():
            session = CoachingSession.objects.create(
                owner=user,
                coach=coach,
                title=session_title_from_goal(prompts[1]),
                system_prompt=coach.system_prompt,
                few_shot=coach.few_shot,
            )
            for prompt in prompts:
                prompt.session = session
            Prompt.objects.bulk_create(prompts)
    except BaseException:
        quota_release(reservation=reservation)
        raise
    _session_reply(session=session, reservation=reservation, pending=None)
    return session


def message_send(*, session: CoachingSession, user: User, content: str) -> tuple[Message, Message]:
    """Store the owner's follow-up first, then ask the coach; returns (user, assistant).

    Raises PermissionDenied for anyone but the owner, ValidationError for empty or
    over-long text, QuotaExceeded at the limit (nothing stored), ReplyFailed when the
    model fails (the user's message stays, marked failed, and can be retried).
    """
    session_ensure_owner(session=session, user=user)
    content = (content or "").strip()
    if not content:
        raise ValidationError({"content": [_("Write a message first.")]})
    if len(content) > MESSAGE_MAX_LENGTH:
        raise ValidationError(
            {
                "content": [
                    _("Write at most %(max)d characters (you wrote %(n)d).")
                    % {"max": MESSAGE_MAX_LENGTH, "n": len(content)}
                ]
            }
        )
    reservation = quota_reserve(user=user)
    try:
        user_message = Message.objects.create(
            session=session, role=MessageRole.USER, content=content
        )
    except BaseException:
        quota_release(reservation=reservation)
        raise
    assistant = _session_reply(session=session, reservation=reservation, pending=user_message)
    return user_message, assistant


def session_retry(*, session: CoachingSession, user: User) -> tuple[Message | None, Message]:
    """Ask again for the turn that failed or never came: the first plan, or the reply
    to the newest user message. Counts one request. Returns (retried user message or
    None for the first plan, assistant)."""
    session_ensure_owner(session=session, user=user)
    pending = session_pending_turn(session=session)
    if pending is None:
        raise NothingToRetry()
    reservation = quota_reserve(user=user)
    assistant = _session_reply(
        session=session, reservation=reservation, pending=pending.user_message
    )
    return pending.user_message, assistant


def session_delete(*, session: CoachingSession, user: User) -> None:
    session_ensure_owner(session=session, user=user)
    session.delete()


def session_ensure_owner(*, session: CoachingSession, user: User) -> None:
    if not user.is_authenticated or session.owner_id != user.pk:
        raise PermissionDenied(_("Only the owner of this session can do that."))


def _session_reply(
    *, session: CoachingSession, reservation: Reservation, pending: Message | None
) -> Message:
    messages = session_chat_messages(session=session, pending=pending)
    try:
        reply = coach_reply_generate(reservation=reservation, messages=messages)
    except LLMError as exc:
        if pending is not None:
            pending.status = MessageStatus.FAILED
            pending.error = str(exc)[:500]
            pending.save(update_fields=["status", "error"])
        raise ReplyFailed(session=session, error=exc, user_message=pending) from exc
    if pending is not None and pending.status != MessageStatus.OK:
        pending.status = MessageStatus.OK
        pending.error = ""
        pending.save(update_fields=["status", "error"])
    assistant = Message.objects.create(
        session=session,
        role=MessageRole.ASSISTANT,
        content=reply.content,
        model_name=reply.model[:200],
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
    )
    CoachingSession.objects.filter(pk=session.pk).update(updated_at=timezone.now())
    return assistant
