from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from sessions_app.models import CoachingSession, Message, Prompt


def session_list_public(
    *, coach_slug: str | None = None, q: str | None = None
) -> QuerySet[CoachingSession]:
    """Every session, newest first, for the gallery and GET /api/sessions/.

    `coach_slug` keeps one coach's sessions; `q` keeps sessions whose title or typed
    prompts contain every word of it.
    """
    sessions = CoachingSession.objects.select_related("coach", "owner")
    if coach_slug:
        sessions = sessions.filter(coach__slug=coach_slug)
    for word in (q or "").split()[:8]:
        in_prompts = Prompt.objects.filter(session=OuterRef("pk"), text__icontains=word)
        sessions = sessions.filter(Q(title__icontains=word) | Exists(in_prompts))
    return sessions.annotate(message_count=Count("messages")).order_by("-created_at", "-id")


def session_get_public(*, pk: int) -> CoachingSession:
    """One session with its prompts and messages, for anyone to read. Raises Http404."""
    session = (
        CoachingSession.objects.select_related("coach", "owner")
        .prefetch_related(
            Prefetch("prompts", queryset=Prompt.objects.order_by("id")),
            Prefetch("messages", queryset=Message.objects.order_by("created_at", "id")),
        )
        .filter(pk=pk)
        .first()
    )
    if session is None:
        raise Http404("No such session.")
    return session


def session_list_owned(*, user) -> QuerySet[CoachingSession]:
    return session_list_public().filter(owner=user)
