from django.db.models import F

from accounts.models import User
from coach.exceptions import QuotaExceeded
from coach.models import DailyUsage
from coach.quota import Reservation, daily_limit, quota_day, quota_resets_at


def quota_reserve(*, user: User) -> Reservation:
    """Take one of today's model requests, or raise QuotaExceeded.

    Exact under concurrency across processes: the row exists (INSERT ... ON CONFLICT
    DO NOTHING), then one conditional UPDATE increments it only while it is under the
    limit. Each statement is its own short transaction; the model call that follows
    runs outside any transaction.
    """
    day = quota_day()
    limit = daily_limit()
    DailyUsage.objects.bulk_create([DailyUsage(user=user, day=day, count=0)], ignore_conflicts=True)
    taken = DailyUsage.objects.filter(user=user, day=day, count__lt=limit).update(
        count=F("count") + 1
    )
    if not taken:
        raise QuotaExceeded(limit=limit, resets_at=quota_resets_at(day))
    return Reservation(user_id=user.pk, day=day)


def quota_release(*, reservation: Reservation) -> None:
    """Give a unit back after a failed model call (to the day it was taken from)."""
    DailyUsage.objects.filter(user_id=reservation.user_id, day=reservation.day, count__gt=0).update(
        count=F("count") - 1
    )
