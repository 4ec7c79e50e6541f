import datetime as dt

from django.conf import settings
from django.db import connections, router
from django.db.models import F

from accounts.models import User
from accounts.selectors import user_has_verified_email
from coach.exceptions import EmailNotVerified, QuotaExceeded, SiteBudgetExceeded
from coach.models import DailyUsage, SiteUsage
from coach.quota import (
    Reservation,
    daily_limit,
    quota_day,
    quota_resets_at,
    site_daily_limit,
    site_daily_tokens,
)


def quota_reserve(*, user: User) -> Reservation:
    """Take one of today's model requests, or raise QuotaExceeded (the user's limit) or
    SiteBudgetExceeded (the whole site's, COACH_SITE_DAILY_LIMIT / _TOKENS).

    Exact under concurrency across processes: one conditional UPDATE increments the
    day's row only while it is under the limit; when it changes nothing (the day's first
    request, or the limit is reached) the row is made sure of (INSERT ... ON CONFLICT DO
    NOTHING) and the UPDATE tried once more. Each statement is its own short transaction;
    the model call that follows runs outside any transaction.
    """
    day = quota_day()
    limit = daily_limit()
    if settings.COACH_REQUIRE_VERIFIED_EMAIL and not user_has_verified_email(user=user):
        raise EmailNotVerified(limit=limit, resets_at=quota_resets_at(day))
    used = _user_reserve(user_id=user.pk, day=day, limit=limit)
    if used is None:
        DailyUsage.objects.bulk_create(
            [DailyUsage(user=user, day=day, count=0)], ignore_conflicts=True
        )
        used = _user_reserve(user_id=user.pk, day=day, limit=limit)
        if used is None:
            raise QuotaExceeded(limit=limit, resets_at=quota_resets_at(day))
    reservation = Reservation(user_id=user.pk, day=day, used=used)
    try:
        _site_reserve(day=day)
    except BaseException:
        _user_unreserve(reservation=reservation)  # the site refused: nothing to undo there
        raise
    return reservation


def _user_reserve(*, user_id: int, day: dt.date, limit: int) -> int | None:
    """One more of the user's requests on `day` if under `limit`: the day's count with it,
    or None (the day has no row yet, or the limit is reached). One UPDATE ... RETURNING,
    which also gives the RateLimit headers their figure (no second query)."""
    connection = connections[router.db_for_write(DailyUsage)]
    if connection.vendor not in ("postgresql", "sqlite") or not (
        connection.features.can_return_columns_from_insert  # SQLite 3.35: RETURNING
    ):
        under = DailyUsage.objects.filter(user_id=user_id, day=day, count__lt=limit)
        if not under.update(count=F("count") + 1):
            return None
        return under.model.objects.get(user_id=user_id, day=day).count
    quote = connection.ops.quote_name
    table, count = quote(DailyUsage._meta.db_table), quote("count")
    user_column, day_column = (quote(DailyUsage._meta.get_field(f).column) for f in ("user", "day"))
    # The names are the model's, quoted; the values are parameters.
    sql = f"""
        UPDATE {table} SET {count} = {count} + 1
        WHERE {user_column} = %s AND {day_column} = %s AND {count} < %s RETURNING {count}
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, connection.ops.adapt_datefield_value(day), limit])
        row = cursor.fetchone()
    return row[0] if row is not None else None


def _site_reserve(*, day: dt.date) -> None:
    """Count one request of the whole site, or raise SiteBudgetExceeded. Counted with no
    cap too, so staff see the day's usage. One UPDATE on every day but its first."""
    limit, token_limit = site_daily_limit(), site_daily_tokens()
    under = SiteUsage.objects.filter(day=day)
    if limit:
        under = under.filter(requests__lt=limit)
    if token_limit:
        under = under.filter(tokens__lt=token_limit)
    if under.update(requests=F("requests") + 1):
        return
    # The day's first request (or the budget is spent): make sure the row exists, once more.
    SiteUsage.objects.bulk_create([SiteUsage(day=day)], ignore_conflicts=True)
    if not under.update(requests=F("requests") + 1):
        raise SiteBudgetExceeded(limit=limit, resets_at=quota_resets_at(day))


def quota_release(*, reservation: Reservation) -> bool:
    """Give a unit back after a failed model call (to the day it was taken from), to the
    user and the site. After COACH_DAILY_REFUNDS of them a day, failures count: the
    model was asked all the same. Returns whether it was given back."""
    released = (
        DailyUsage.objects.filter(
            user_id=reservation.user_id,
            day=reservation.day,
            count__gt=0,
            refunds__lt=settings.COACH_DAILY_REFUNDS,
        ).update(count=F("count") - 1, refunds=F("refunds") + 1)
        > 0
    )
    if released:
        SiteUsage.objects.filter(day=reservation.day, requests__gt=0).update(
            requests=F("requests") - 1
        )
    return released


def quota_unreserve(*, reservation: Reservation) -> None:
    """Undo a reservation before the model was asked (the turn could not be opened, or
    was stopped before it started): no refund, so not capped."""
    _user_unreserve(reservation=reservation)
    SiteUsage.objects.filter(day=reservation.day, requests__gt=0).update(requests=F("requests") - 1)


def _user_unreserve(*, reservation: Reservation) -> None:
    DailyUsage.objects.filter(user_id=reservation.user_id, day=reservation.day, count__gt=0).update(
        count=F("count") - 1
    )


def quota_tokens_record(*, day: dt.date, tokens: int) -> None:
    """Add the tokens a reply spent (as the model reported them) to the site's day."""
    if tokens > 0:
        SiteUsage.objects.filter(day=day).update(tokens=F("tokens") + tokens)
