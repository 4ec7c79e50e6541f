import datetime as dt

from django.utils.translation import gettext_lazy as _


class QuotaExceeded(Exception):
    """The user has used all of today's model requests."""

    def __init__(self, *, limit: int, resets_at: dt.datetime):
        self.limit = limit
        self.resets_at = resets_at
        super().__init__(
            _("You have used all %(limit)d coach requests for today.") % {"limit": limit}
        )
