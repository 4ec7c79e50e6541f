"""Builders for the gallery, export and privacy tests: sessions with answers and turns."""

import datetime as dt

from django.utils import timezone

from coach.models import Coach
from sessions_app.models import (
    CoachingSession,
    CurrentState,
    Goal,
    Message,
    MessageRole,
    MessageStatus,
    Misc,
)


def build_session(
    *,
    owner,
    coach: Coach | str = "meditation-guide",
    title: str = "Deep rest",
    goal_tags: list[str] | None = None,
    goal_text: str = "",
    state_tags: list[str] | None = None,
    state_text: str = "Busy week.",
    misc_text: str = "10 minutes before bed",
    turns: list[tuple[str, str]] | None = None,
    created_at: dt.datetime | None = None,
) -> CoachingSession:
    """A session with its three answers and `turns` as (role, content), oldest first.

    With `created_at` the session and its turns (a minute apart) are back-dated;
    without it they keep their real creation times, so that turns added later by the
    code under test come after them.
    """
    if isinstance(coach, str):
        coach = Coach.objects.get(slug=coach)
    session = CoachingSession.objects.create(
        owner=owner,
        coach=coach,
        title=title,
        system_prompt=coach.system_prompt,
        few_shot=coach.few_shot,
    )
    if created_at is not None:
        CoachingSession.objects.filter(pk=session.pk).update(created_at=created_at)
        session.created_at = created_at
    CurrentState.objects.create(session=session, tags=state_tags or [], text=state_text)
    Goal.objects.create(session=session, tags=goal_tags or [], text=goal_text)
    Misc.objects.create(session=session, text=misc_text)
    base = session.created_at
    for i, (role, content) in enumerate(turns or []):
        status = MessageStatus.OK
        if role == "failed":
            role, status = MessageRole.USER, MessageStatus.FAILED
        message = Message.objects.create(
            session=session,
            role=role,
            content=content,
            status=status,
            error="upstream said: secret-internal-detail" if status == MessageStatus.FAILED else "",
        )
        if created_at is not None:
            Message.objects.filter(pk=message.pk).update(
                created_at=base + dt.timedelta(minutes=i + 1)
            )
    return session


def build_many(*, owner, count: int, coach: Coach | str = "meditation-guide", turns: int = 2):
    """`count` sessions a minute apart, the last one newest."""
    start = timezone.now() - dt.timedelta(days=1)
    return [
        build_session(
            owner=owner,
            coach=coach,
            title=f"Session number {i}",
            goal_text=f"goal {i}",
            turns=[("assistant", f"Plan {i}"), ("user", "Thanks")][:turns],
            created_at=start + dt.timedelta(minutes=i),
        )
        for i in range(count)
    ]
