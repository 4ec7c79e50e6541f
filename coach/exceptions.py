import datetime as dt

from coach.quota import quota_exhausted_message, site_budget_exhausted_message


class QuotaExceeded(Exception):
    """The user has used all of today's model requests. `str(exc)` is for the user."""

    status_code = 429

    def __init__(self, *, limit: int, resets_at: dt.datetime):
        self.limit = limit
        self.resets_at = resets_at
        super().__init__(quota_exhausted_message(limit=limit, resets_at=resets_at))


class SiteBudgetExceeded(QuotaExceeded):
    """The whole site has used today's budget of model requests (or tokens): nobody can
    ask the model until it resets. A 503: the service, not the person, is out."""

    status_code = 503

    def __init__(self, *, limit: int, resets_at: dt.datetime):
        self.limit = limit
        self.resets_at = resets_at
        Exception.__init__(self, site_budget_exhausted_message(resets_at=resets_at))


class EmailNotVerified(QuotaExceeded):
    """COACH_REQUIRE_VERIFIED_EMAIL is on and the member has no verified email address
    yet: no model request until they follow the link we mailed. A 403, not a limit."""

    status_code = 403

    def __init__(self, *, limit: int, resets_at: dt.datetime):
        from django.utils.translation import gettext

        self.limit = limit
        self.resets_at = resets_at
        Exception.__init__(
            self,
            gettext(
                "Confirm your email address before asking a coach: follow the link we "
                "mailed you, or add an address on your account page."
            ),
        )
