"""The usual session of the flow tests: three answers and the coach's first plan."""

from coach.models import Coach
from sessions_app.models import CoachingSession
from sessions_app.tests.public_builders import build_session


def make_session(
    *, owner, coach: Coach | None = None, title: str = "Deep rest", replies: int = 1
) -> CoachingSession:
    return build_session(
        owner=owner,
        coach=coach or "meditation-guide",
        title=title,
        state_tags=["anxious"],
        goal_tags=["deep rest"],
        turns=[("assistant", "**Plan**")] * replies,
    )
