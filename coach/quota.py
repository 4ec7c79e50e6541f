"""The daily limit's calendar: which day a request counts on, and when the count resets."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from project.formats.phrases import quota_exhausted_text, reset_phrase


@dataclass(frozen=True)
class QuotaStatus:
    limit: int
    used: int
    resets_at: dt.datetime

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0

    @property
    def exhausted_message(self) -> str:
        return quota_exhausted_message(limit=self.limit, resets_at=self.resets_at)


def quota_exhausted_message(*, limit: int, resets_at: dt.datetime) -> str:
    """What a person is told at the limit, on pages and in the API's 429."""
    return quota_exhausted_text(limit=limit, resets_at=resets_at)


def site_budget_exhausted_message(*, resets_at: dt.datetime) -> str:
    """What everyone is told when the site's daily budget for the model is used up."""
    return _(
        "The coaches have answered as many requests today as this site allows for everyone. "
        "The count %(reset)s."
    ) % {"reset": reset_phrase(resets_at)}


@dataclass(frozen=True)
class Reservation:
    """One unit of a user's daily quota, taken before a model call."""

    user_id: int
    day: dt.date
    # The user's requests that day with this one, when known.
    used: int | None = None


def reservation_status(reservation: Reservation) -> QuotaStatus | None:
    """The user's daily limit right after `reservation`, if its count is known."""
    if reservation.used is None:
        return None
    return QuotaStatus(
        limit=daily_limit(), used=reservation.used, resets_at=quota_resets_at(reservation.day)
    )


def quota_day() -> dt.date:
    """Today in TIME_ZONE: the calendar day a request counts on."""
    return timezone.localdate()


def quota_resets_at(day: dt.date) -> dt.datetime:
    """Midnight after `day` in TIME_ZONE, as an aware datetime."""
    next_day = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min)
    return timezone.make_aware(next_day, timezone.get_default_timezone())


def daily_limit() -> int:
    return settings.COACH_DAILY_LIMIT


def site_daily_limit() -> int:
    """Model requests the whole site may make a day; 0: no cap."""
    return settings.COACH_SITE_DAILY_LIMIT


def site_daily_tokens() -> int:
    """Tokens (prompt and reply, as the model reports them) the site may spend a day; 0: no cap."""
    return settings.COACH_SITE_DAILY_TOKENS
