import datetime as dt

from coach.quota import quota_exhausted_message


class QuotaExceeded(Exception):
    """The user has used all of today's model requests. `str(exc)` is for the user."""

    def __init__(self, *, limit: int, resets_at: dt.datetime):
        self.limit = limit
        self.resets_at = resets_at
        super().__init__(quota_exhausted_message(limit=limit, resets_at=resets_at))
