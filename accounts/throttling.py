"""Per-address throttling of login and sign-up, counted in the shared cache.

- Login and sign-up: allauth's rate limits (ACCOUNT_RATE_LIMITS, from STEPWISE_AUTH_RATE)
  on the site's pages; the token API and the admin's login count against the same
  limits through `auth_rate_consume`.
- Sign-ups: at most SIGNUP_DAILY_LIMIT new accounts a day per address, an IPv6 address
  counting as its /64 network (one subscriber's usual allocation).
"""

import functools
import ipaddress
import time

from allauth.core import ratelimit
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from project.errors import too_many_requests_response
from project.http import client_ip

SIGNUP_DAY = 24 * 60 * 60
DEFAULT_SIGNUP_DAILY_LIMIT = 20


class AuthRateExceeded(Exception):
    """Too many logins or sign-ups from this address; `str(exc)` is for the person."""

    retry_after = 60

    def __init__(self) -> None:
        super().__init__(auth_rate_message())


def auth_rate_message() -> str:
    return _("Too many attempts from your address. Please wait a minute and try again.")


def auth_rate_consume(
    request: HttpRequest, *, action: str, key: str | None = None, dry_run: bool = False
) -> None:
    """Count one `action` ("login", "login_failed", "signup") for this address in allauth's
    rate limits, or raise AuthRateExceeded. `key` is the login name for failed logins;
    `dry_run` only checks (a failed login is counted once it has failed)."""
    if not ratelimit.consume(request, action=action, key=key, dry_run=dry_run):
        raise AuthRateExceeded


def admin_login_ratelimited(login_view):
    """The admin's login view, throttled like the site's login (and counted with it)."""

    @functools.wraps(login_view)
    def wrapped(request, *args, **kwargs):
        if request.method == "POST":
            try:
                auth_rate_consume(request, action="login")
            except AuthRateExceeded as exc:
                return too_many_requests_response(request, str(exc), exc.retry_after)
        return login_view(request, *args, **kwargs)

    wrapped.stepwise_ratelimited = True
    return wrapped


def throttle_admin_login(site) -> None:
    """Throttle `site`'s login view once (AccountsConfig.ready does it for admin.site).

    It holds wherever the admin is mounted (DJANGO_ADMIN_URL): the URL patterns take the
    view from the site when project/urls.py reads `site.urls`, after the apps are ready.
    """
    if not getattr(site.login, "stepwise_ratelimited", False):
        site.login = admin_login_ratelimited(site.login)


# --- Sign-ups per address per day --------------------------------------------------------


class SignupCapReached(Exception):
    """This address (or IPv6 /64) made its day's accounts; `retry_after` in seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(signup_cap_message())


def signup_cap_message() -> str:
    return _(
        "Too many accounts were created from your network today. "
        "Please try again tomorrow, or log in if you already have an account."
    )


def signup_daily_limit() -> int:
    """SIGNUP_DAILY_LIMIT (env STEPWISE_SIGNUP_DAILY_LIMIT); 0 or less turns the cap off."""
    return int(getattr(settings, "SIGNUP_DAILY_LIMIT", DEFAULT_SIGNUP_DAILY_LIMIT))


def signup_address(request) -> str:
    """Whose sign-ups count together: an IPv4 address, or an IPv6 address's /64."""
    address = ipaddress.ip_address(client_ip(request))
    if address.version == 6:
        if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _keys(request) -> tuple[str, str]:
    base = f"accounts:signups-today:{signup_address(request)}"
    return base, f"{base}:resets"


def signup_daily_check(request) -> None:
    """Raise SignupCapReached when this address has used up today's sign-ups."""
    limit = signup_daily_limit()
    if limit <= 0:
        return
    count_key, resets_key = _keys(request)
    if (cache.get(count_key) or 0) < limit:
        return
    resets_at = cache.get(resets_key) or time.time() + SIGNUP_DAY
    raise SignupCapReached(retry_after=max(1, int(resets_at - time.time())))


def signup_daily_count(request) -> None:
    """Count one account made from this address, in a 24-hour window from the first.

    cache.add then incr, as django-ratelimit does: atomic in Redis, shared by every worker.
    Two sign-ups racing past the check can overshoot by one each; the per-minute rate
    bounds that.
    """
    count_key, resets_key = _keys(request)
    cache.add(resets_key, time.time() + SIGNUP_DAY, SIGNUP_DAY)
    added = cache.add(count_key, 1, SIGNUP_DAY)
    if not added:
        try:
            cache.incr(count_key)
        except ValueError:  # expired between add and incr: this one starts a new day
            cache.add(count_key, 1, SIGNUP_DAY)


def signup_refused_response(request: HttpRequest, exc: SignupCapReached) -> HttpResponse:
    return too_many_requests_response(request, str(exc), exc.retry_after)
