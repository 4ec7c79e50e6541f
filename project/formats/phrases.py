"""The daily limit's reset, worded one way everywhere:
"resets at midnight, Asia/Seoul time: in 5 h 12 min".

Pages use these through `{% load stepwise %}` (`until` and `resets`); the API's 429
`detail` can use `quota_exhausted_text` so that it says the same as the pages.
"""

import datetime as dt
import math

from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def time_until(moment: dt.datetime, *, now: dt.datetime | None = None) -> str:
    """ "in 5 h 12 min", "in 5 h", "in 12 min", rounded up to the minute ("now" once past),
    so it never says "in 0 min" while there is time left."""
    seconds = (moment - (now or timezone.now())).total_seconds()
    if seconds <= 0:
        return _("now")
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    values = {"hours": hours, "minutes": minutes}
    if hours and minutes:
        # Translators: a time left, e.g. "in 5 h 12 min". Korean: "5시간 12분 후".
        return _("in %(hours)d h %(minutes)d min") % values
    if hours:
        # Translators: a time left in whole hours, e.g. "in 5 h". Korean: "5시간 후".
        return _("in %(hours)d h") % values
    # Translators: a time left under an hour, e.g. "in 12 min". Korean: "12분 후".
    return _("in %(minutes)d min") % values


def reset_phrase(resets_at: dt.datetime, *, now: dt.datetime | None = None) -> str:
    """ "resets at midnight, Asia/Seoul time: in 5 h 12 min", in TIME_ZONE (the zone whose
    calendar day the limit counts), whatever the time zone of the request."""
    local = resets_at.astimezone(timezone.get_default_timezone())
    values = {"zone": settings.TIME_ZONE, "until": time_until(resets_at, now=now)}
    if local.time() == dt.time.min:
        # Translators: when the daily count starts again; %(zone)s is a time zone name
        # such as Asia/Seoul, %(until)s a time left such as "in 5 h 12 min".
        return _("resets at midnight, %(zone)s time: %(until)s") % values
    # Translators: as "resets at midnight, ..." with a clock time instead of midnight.
    return _("resets at %(time)s, %(zone)s time: %(until)s") % {
        **values,
        "time": formats.time_format(local, "TIME_FORMAT"),
    }


def quota_exhausted_text(*, limit: int, resets_at: dt.datetime) -> str:
    """What a person is told at the daily limit: on pages, and in the API's 429."""
    used = ngettext(
        "You have used your %(limit)d coach request for today.",
        "You have used all %(limit)d coach requests for today.",
        limit,
    ) % {"limit": limit}
    # Translators: %(reset)s is "resets at midnight, Asia/Seoul time: in 5 h 12 min".
    reset = _("The count %(reset)s.") % {"reset": reset_phrase(resets_at)}
    return f"{used} {reset}"
