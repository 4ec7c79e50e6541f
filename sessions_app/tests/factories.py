"""Small builders for tests: a session with its three answers, without calling the model."""

from coach.models import Coach
from sessions_app.models import CoachingSession, CurrentState, Goal, Message, MessageRole, Misc


def make_session(*, owner, coach: Coach | None = None, title: str = "Deep rest", replies: int = 1):
    coach = coach or Coach.objects.get(slug="meditation-guide")
    session = CoachingSession.objects.create(
        owner=owner,
        coach=coach,
        title=title,
        system_prompt=coach.system_prompt,
        few_shot=coach.few_shot,
    )
    CurrentState.objects.create(session=session, tags=["anxious"], text="Busy week.")
    Goal.objects.create(session=session, tags=["deep rest"], text="")
    Misc.objects.create(session=session, text="10 minutes before bed")
    for _ in range(replies):
        Message.objects.create(session=session, role=MessageRole.ASSISTANT, content="**Plan**")
    return session
