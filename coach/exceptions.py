import datetime as dt

from django.utils import formats, timezone
from django.utils.translation import gettext as _


class QuotaExceeded(Exception):
    """The user has used all of today's model requests. `str(exc)` is for the user."""

    def __init__(self, *, limit: int, resets_at: dt.datetime):
        self.limit = limit
        self.resets_at = resets_at
        when = formats.date_format(timezone.localtime(resets_at), "DATETIME_FORMAT")
        super().__init__(
            _(
                "You have used all %(limit)d coach requests for today. "
                "You can ask again from %(time)s."
            )
            % {"limit": limit, "time": when}
        )
