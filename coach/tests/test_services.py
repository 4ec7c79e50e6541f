import datetime as dt
import zoneinfo

import pytest
import time_machine

from coach.exceptions import QuotaExceeded, SiteBudgetExceeded
from coach.models import DailyUsage, SiteUsage
from coach.quota import reservation_status
from coach.selectors import quota_get
from coach.services import (
    quota_release,
    quota_reserve,
    quota_taken,
    quota_tokens_counted,
    quota_tokens_record,
)

pytestmark = pytest.mark.django_db


def test_reserve_counts_up_to_the_limit(user, settings):
    settings.COACH_DAILY_LIMIT = 5
    for _ in range(5):
        quota_reserve(user=user)
    with pytest.raises(QuotaExceeded) as exc:
        quota_reserve(user=user)
    assert exc.value.limit == 5
    assert DailyUsage.objects.get(user=user).count == 5
    status = quota_get(user=user)
    assert (status.used, status.remaining, status.exhausted) == (5, 0, True)


def test_a_reservation_knows_the_days_count_with_it(user, settings):
    settings.COACH_DAILY_LIMIT = 5
    assert [quota_reserve(user=user).used for _ in range(3)] == [1, 2, 3]
    assert reservation_status(quota_reserve(user=user)) == quota_get(user=user)


def test_without_update_returning_the_count_is_read_after(user, settings, monkeypatch):
    """A backend without UPDATE ... RETURNING (SQLite before 3.35) takes the ORM's way."""
    from django.db import connection

    settings.COACH_DAILY_LIMIT = 2
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    assert [quota_reserve(user=user).used for _ in range(2)] == [1, 2]
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=user)
    assert DailyUsage.objects.get(user=user).count == 2


def test_taken_in_a_transaction_the_persons_unit_first_and_the_sites_last(user):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    quota_reserve(user=user)  # the day's rows exist
    with (
        CaptureQueriesContext(connection) as queries,
        transaction.atomic(),  # as the test runs: the site's count stays inside
        quota_taken(user=user) as reservation,
    ):
        written = DailyUsage.objects.filter(user=user).count()
    tables = [
        next(t for t in ("coach_dailyusage", "coach_siteusage") if t in q["sql"])
        for q in queries.captured_queries
        if q["sql"].lstrip().startswith(("UPDATE", "INSERT"))
    ]
    assert tables == ["coach_dailyusage", "coach_siteusage"]
    assert written == 1
    assert reservation.used == 2
    assert DailyUsage.objects.get(user=user).count == 2
    assert SiteUsage.objects.get().requests == 2


def test_the_days_first_unit_is_one_statement(user, settings):
    """No row yet for the day: one INSERT ... ON CONFLICT makes it with the unit taken;
    later units go through the same statement, and the limit still holds."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.COACH_DAILY_LIMIT = 2
    with CaptureQueriesContext(connection) as queries:
        first = quota_reserve(user=user)
    usage = [q["sql"] for q in queries.captured_queries if "coach_dailyusage" in q["sql"]]
    assert len(usage) == 1
    assert first.used == 1
    assert quota_reserve(user=user).used == 2
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=user)
    assert DailyUsage.objects.get(user=user).count == 2


def test_a_limit_of_zero_refuses_the_first_request(user, settings):
    settings.COACH_DAILY_LIMIT = 0
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=user)
    assert not DailyUsage.objects.filter(user=user, count__gt=0).exists()


def test_taken_is_given_back_by_the_rollback_of_what_failed(user):
    with pytest.raises(ValueError), quota_taken(user=user):
        raise ValueError("the turn could not be opened")
    assert DailyUsage.objects.filter(user=user, count__gt=0).count() == 0
    assert SiteUsage.objects.filter(requests__gt=0).count() == 0


def test_taken_when_the_site_refuses_nothing_of_the_block_stays(user, outsider, settings):
    settings.COACH_SITE_DAILY_LIMIT = 1
    quota_reserve(user=outsider)
    with pytest.raises(SiteBudgetExceeded), quota_taken(user=user):
        DailyUsage.objects.filter(user=outsider).update(count=99)  # the turn's writes
    assert DailyUsage.objects.get(user=outsider).count == 1
    assert quota_get(user=user).used == 0


def _site_row_is_free(day) -> bool:
    """Whether another connection can lock the site's row of `day` at once."""
    import threading

    from django.db import DatabaseError, connections, transaction

    free: list[bool] = []

    def lock() -> None:
        try:
            with transaction.atomic():
                list(SiteUsage.objects.select_for_update(nowait=True).filter(day=day))
            free.append(True)
        except DatabaseError:
            free.append(False)
        finally:
            connections.close_all()

    thread = threading.Thread(target=lock)
    thread.start()
    thread.join(timeout=30)
    return free == [True]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_taken_on_postgresql_leaves_the_sites_row_free_while_the_block_runs(user):
    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip("SQLite locks the whole database for a write, not rows.")
    quota_reserve(user=user)  # the day's rows exist
    with quota_taken(user=user) as reservation:
        assert SiteUsage.objects.get().requests == 2  # counted and committed already
        free = _site_row_is_free(reservation.day)
    assert free
    assert quota_get(user=user).used == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_taken_outside_a_transaction_gives_the_sites_count_back_when_the_block_fails(
    user, outsider, settings
):
    with pytest.raises(ValueError), quota_taken(user=user):
        raise ValueError("the turn could not be opened")
    assert not SiteUsage.objects.filter(requests__gt=0).exists()
    assert quota_get(user=user).used == 0
    settings.COACH_DAILY_LIMIT = 1
    quota_reserve(user=user)
    with pytest.raises(QuotaExceeded), quota_taken(user=user):
        pass
    assert SiteUsage.objects.get().requests == 1  # the refused one's count went back
    settings.COACH_SITE_DAILY_LIMIT = 1
    with pytest.raises(SiteBudgetExceeded), quota_taken(user=outsider):
        pass
    assert quota_get(user=outsider).used == 0
    assert SiteUsage.objects.get().requests == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_tokens_counted_on_postgresql_after_the_commit_and_on_sqlite_in_it(user):
    from django.db import connection

    day = quota_reserve(user=user).day
    with quota_tokens_counted(day=day, tokens=30):
        if connection.vendor != "sqlite":
            assert _site_row_is_free(day)
        DailyUsage.objects.filter(user=user).update(count=3)  # the close's writes
    assert SiteUsage.objects.get().tokens == 30
    with pytest.raises(ValueError), quota_tokens_counted(day=day, tokens=5):
        raise ValueError("the close failed")
    assert SiteUsage.objects.get().tokens == 30
    with quota_tokens_counted(day=None, tokens=5):
        pass
    assert SiteUsage.objects.get().tokens == 30


def test_limits_are_per_user(user, outsider, settings):
    settings.COACH_DAILY_LIMIT = 1
    quota_reserve(user=user)
    quota_reserve(user=outsider)
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=user)


def test_release_gives_the_unit_back_and_never_goes_negative(user):
    reservation = quota_reserve(user=user)
    quota_release(reservation=reservation)
    quota_release(reservation=reservation)
    assert DailyUsage.objects.get(user=user).count == 0


def test_the_count_resets_at_midnight_in_time_zone(user, settings):
    settings.TIME_ZONE = "Asia/Seoul"
    settings.COACH_DAILY_LIMIT = 2
    seoul = zoneinfo.ZoneInfo("Asia/Seoul")
    with time_machine.travel(dt.datetime(2026, 11, 22, 23, 58, tzinfo=seoul), tick=False):
        quota_reserve(user=user)
        quota_reserve(user=user)
        with pytest.raises(QuotaExceeded) as exc:
            quota_reserve(user=user)
        assert exc.value.resets_at == dt.datetime(2026, 11, 23, 0, 0, tzinfo=seoul)
        assert quota_get(user=user).resets_at == dt.datetime(2026, 11, 23, tzinfo=seoul)
    with time_machine.travel(dt.datetime(2026, 11, 23, 0, 1, tzinfo=seoul), tick=False):
        assert quota_get(user=user).remaining == 2
        quota_reserve(user=user)
    # 23:58 in Seoul is still 22 November there, though 14:58 UTC: one row per local day.
    assert sorted(DailyUsage.objects.values_list("day", "count")) == [
        (dt.date(2026, 11, 22), 2),
        (dt.date(2026, 11, 23), 1),
    ]


def test_a_unit_is_given_back_to_the_day_it_was_taken_from(user, settings):
    settings.TIME_ZONE = "UTC"
    with time_machine.travel(dt.datetime(2026, 11, 22, 23, 59, 59, tzinfo=dt.UTC), tick=False):
        reservation = quota_reserve(user=user)
    with time_machine.travel(dt.datetime(2026, 11, 23, 0, 0, 30, tzinfo=dt.UTC), tick=False):
        quota_reserve(user=user)
        quota_release(reservation=reservation)
        assert quota_get(user=user).used == 1
    assert DailyUsage.objects.get(day=dt.date(2026, 11, 22)).count == 0


# --- The site-wide budget ----------------------------------------------------------


def test_the_site_budget_counts_everyone_and_gives_the_users_unit_back(user, outsider, settings):
    settings.COACH_SITE_DAILY_LIMIT = 2
    quota_reserve(user=user)
    quota_reserve(user=outsider)

    with pytest.raises(SiteBudgetExceeded) as exc:
        quota_reserve(user=user)

    assert exc.value.status_code == 503
    assert "as many requests today as this site allows" in str(exc.value)
    assert SiteUsage.objects.get().requests == 2
    assert quota_get(user=user).used == 1  # the refused request did not count for them


def test_a_refund_gives_the_site_its_unit_back_too(user, settings):
    settings.COACH_SITE_DAILY_LIMIT = 1
    quota_release(reservation=quota_reserve(user=user))
    quota_reserve(user=user)
    assert SiteUsage.objects.get().requests == 1


def test_no_cap_still_counts_the_days_usage(user, settings):
    settings.COACH_SITE_DAILY_LIMIT = 0
    for _ in range(3):
        quota_reserve(user=user)
    assert SiteUsage.objects.get().requests == 3


def test_the_token_budget_closes_once_the_reported_tokens_reach_it(user, outsider, settings):
    settings.COACH_SITE_DAILY_TOKENS = 1000
    reservation = quota_reserve(user=user)
    quota_tokens_record(day=reservation.day, tokens=999)
    quota_reserve(user=user)
    quota_tokens_record(day=reservation.day, tokens=1)

    with pytest.raises(SiteBudgetExceeded):
        quota_reserve(user=outsider)
    assert SiteUsage.objects.get().tokens == 1000


def test_refunds_are_capped_per_day_then_failures_count(user, settings):
    settings.COACH_DAILY_LIMIT = 5
    settings.COACH_DAILY_REFUNDS = 2
    assert quota_release(reservation=quota_reserve(user=user))
    assert quota_release(reservation=quota_reserve(user=user))
    assert not quota_release(reservation=quota_reserve(user=user))

    usage = DailyUsage.objects.get(user=user)
    assert (usage.count, usage.refunds) == (1, 2)
    assert SiteUsage.objects.get().requests == 1


def test_a_verified_email_can_be_required_before_the_first_request(user, settings):
    from allauth.account.models import EmailAddress

    from coach.exceptions import EmailNotVerified

    settings.COACH_REQUIRE_VERIFIED_EMAIL = True
    with pytest.raises(EmailNotVerified) as refused:
        quota_reserve(user=user)
    assert refused.value.status_code == 403
    assert "Confirm your email address" in str(refused.value)
    assert quota_get(user=user).used == 0  # nothing was taken

    address = EmailAddress.objects.create(user=user, email=user.email, verified=False)
    with pytest.raises(EmailNotVerified):
        quota_reserve(user=user)
    address.verified = True
    address.save()
    quota_reserve(user=user)
    assert quota_get(user=user).used == 1


def test_no_verified_email_needed_by_default(user):
    quota_reserve(user=user)
    assert quota_get(user=user).used == 1
