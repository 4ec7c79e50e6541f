from django.db.models import Count, QuerySet

from sessions_app.models import CoachingSession


def session_list_public() -> QuerySet[CoachingSession]:
    return (
        CoachingSession.objects.select_related("coach", "owner")
        .annotate(message_count=Count("messages"))
        .order_by("-created_at", "-id")
    )
