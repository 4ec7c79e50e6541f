from django.db.models import QuerySet

from accounts.models import User
from coach.models import Coach, DailyUsage
from coach.quota import QuotaStatus, daily_limit, quota_day, quota_resets_at


def coach_list_active() -> QuerySet[Coach]:
    return Coach.objects.filter(is_active=True)


def coach_get_active(*, slug: str) -> Coach | None:
    return coach_list_active().filter(slug=slug).first()


def quota_get(*, user: User) -> QuotaStatus:
    day = quota_day()
    today = DailyUsage.objects.filter(user=user, day=day).order_by()
    used = next(iter(today.values_list("count", flat=True)[:1]), 0)
    return QuotaStatus(limit=daily_limit(), used=used, resets_at=quota_resets_at(day))
