import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections, router, transaction
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
from project.db import sql_names


def quota_reserve(*, user: User) -> Reservation:
    """Take one of today's model requests, or raise QuotaExceeded (the user's limit) or
    SiteBudgetExceeded (the whole site's, COACH_SITE_DAILY_LIMIT / _TOKENS).

    Exact under concurrency across processes: one conditional UPDATE increments the
    day's row only while it is under the limit; when it changes nothing (the day's first
    request, or the limit is reached) the row is made sure of (INSERT ... ON CONFLICT DO
    NOTHING) and the UPDATE tried once more. The site's row is counted the same way.
    A turn takes its unit with `quota_taken`, in the transaction that opens it.
    """
    with quota_taken(user=user) as reservation:
        pass
    return reservation


@contextmanager
def quota_taken(*, user: User) -> Iterator[Reservation]:
    """One of today's model requests (see `quota_reserve`), taken in the one transaction
    that also holds the block's writes (a turn's rows): all of it commits, or none.

    One transaction instead of several: on SQLite every transaction waits for the one
    write lock, and under load the waits cost more than the statements
    (docs/performance.md). There the site's count comes last, in the transaction.

    A database with row locks (PostgreSQL) would keep the site's one row of the day
    locked until the commit, and every other opening turn would queue on it. There the
    site's count is a statement of its own, committed before the transaction, and given
    back if the block fails. The site's cap is never passed; a crash between the two
    can only leave the site's day one request higher than what was made.
    """
    using = router.db_for_write(DailyUsage)
    if not _site_count_apart(using=using):
        with transaction.atomic(using=using):
            reservation = _user_take(user=user)
            yield reservation
            _site_reserve(day=reservation.day)
        return
    day = quota_day()
    _site_reserve(day=day)
    try:
        with transaction.atomic(using=using):
            reservation = _user_take(user=user, day=day)
            yield reservation
    except BaseException:
        _site_release(day=day)
        raise


def _site_count_apart(*, using: str) -> bool:
    """Whether the site's count is a statement of its own (see `quota_taken`): on a
    database with row locks, outside a transaction a caller already holds."""
    connection = connections[using]
    return connection.vendor != "sqlite" and not connection.in_atomic_block


def _user_take(*, user: User, day: dt.date | None = None) -> Reservation:
    day = day or quota_day()
    limit = daily_limit()
    if settings.COACH_REQUIRE_VERIFIED_EMAIL and not user_has_verified_email(user=user):
        raise EmailNotVerified(limit=limit, resets_at=quota_resets_at(day))
    used = _user_reserve(user_id=user.pk, day=day, limit=limit) if limit > 0 else None
    if used is None:
        raise QuotaExceeded(limit=limit, resets_at=quota_resets_at(day))
    return Reservation(user_id=user.pk, day=day, used=used)


def _user_reserve(*, user_id: int, day: dt.date, limit: int) -> int | None:
    """One more of the user's requests on `day` if under `limit` (at least 1): the day's
    count with it, or None at the limit. One statement, the day's first request
    included: an INSERT that adds one to the row already there (an upsert), whose
    RETURNING also gives the RateLimit headers their figure."""
    connection = connections[router.db_for_write(DailyUsage)]
    if connection.vendor not in ("postgresql", "sqlite") or not (
        connection.features.can_return_columns_from_insert  # SQLite 3.35: RETURNING
    ):
        DailyUsage.objects.bulk_create(
            [DailyUsage(user_id=user_id, day=day, count=0)], ignore_conflicts=True
        )
        under = DailyUsage.objects.filter(user_id=user_id, day=day, count__lt=limit)
        if not under.update(count=F("count") + 1):
            return None
        return under.model.objects.get(user_id=user_id, day=day).count
    u = sql_names(connection, DailyUsage, "user", "day", "count", "refunds")
    # The names are the model's, quoted; the values are parameters. The conflict target
    # is the unique constraint daily_usage_one_row_per_user_day.
    sql = f"""
        INSERT INTO {u.table} ({u.user}, {u.day}, {u.count}, {u.refunds}) VALUES (%s, %s, 1, 0)
        ON CONFLICT ({u.user}, {u.day}) DO UPDATE SET {u.count} = {u.table}.{u.count} + 1
        WHERE {u.table}.{u.count} < %s RETURNING {u.count}
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, connection.ops.adapt_datefield_value(day), limit])
        row = cursor.fetchone()
    return row[0] if row is not None else None


def _site_reserve(*, day: dt.date) -> None:
    """Count one request of the whole site, or raise SiteBudgetExceeded. Counted with no
    cap too, so staff see the day's usage. One UPDATE on every day but its first."""
    limit, token_limit = site_daily_limit(), site_daily_tokens()
    if _site_count(day=day, limit=limit, token_limit=token_limit):
        return
    # The day's first request (or the budget is spent): make sure the row exists, once more.
    SiteUsage.objects.bulk_create([SiteUsage(day=day)], ignore_conflicts=True)
    if not _site_count(day=day, limit=limit, token_limit=token_limit):
        raise SiteBudgetExceeded(limit=limit, resets_at=quota_resets_at(day))


def _site_count(*, day: dt.date, limit: int, token_limit: int) -> bool:
    """One more request on the site's `day` while under both limits (0: no limit)."""
    connection = connections[router.db_for_write(SiteUsage)]
    s = sql_names(connection, SiteUsage, "day", "requests", "tokens")
    # The names are the model's, quoted; the values are parameters.
    sql = f"""
        UPDATE {s.table} SET {s.requests} = {s.requests} + 1
        WHERE {s.day} = %s AND (%s = 0 OR {s.requests} < %s) AND (%s = 0 OR {s.tokens} < %s)
    """  # noqa: S608
    params = [connection.ops.adapt_datefield_value(day), limit, limit, token_limit, token_limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount > 0


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
        _site_release(day=reservation.day)
    return released


def _site_release(*, day: dt.date) -> None:
    SiteUsage.objects.filter(day=day, requests__gt=0).update(requests=F("requests") - 1)


def quota_tokens_record(*, day: dt.date, tokens: int) -> None:
    """Add the tokens a reply spent (as the model reported them) to the site's day."""
    if tokens <= 0:
        return
    connection = connections[router.db_for_write(SiteUsage)]
    s = sql_names(connection, SiteUsage, "day", "tokens")
    sql = f"UPDATE {s.table} SET {s.tokens} = {s.tokens} + %s WHERE {s.day} = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [tokens, connection.ops.adapt_datefield_value(day)])


@contextmanager
def quota_tokens_counted(*, day: dt.date | None, tokens: int) -> Iterator[None]:
    """A transaction around the block's writes (a turn's close) that also adds `tokens`
    to the site's `day` (None: none to add): last in it on SQLite, or just after its
    commit on a database with row locks, for the reason `quota_taken` gives."""
    using = router.db_for_write(SiteUsage)
    apart = _site_count_apart(using=using)
    with transaction.atomic(using=using):
        yield
        if day is not None and not apart:
            quota_tokens_record(day=day, tokens=tokens)
    if day is not None and apart:
        quota_tokens_record(day=day, tokens=tokens)
