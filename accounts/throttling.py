"""Per-address throttling of login and sign-up, counted in the shared cache.

- Login and sign-up POSTs: AUTH_RATE per client address (django-ratelimit), the admin's
  login included (it shares the site login's count).
- Sign-ups: at most SIGNUP_DAILY_LIMIT new accounts a day per address, an IPv6 address
  counting as its /64 network (one subscriber's usual allocation).
"""

import ipaddress
import time

from django.conf import settings
from django.core.cache import cache
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django_ratelimit.decorators import ratelimit

from project.http import client_ip

LOGIN_GROUP = "accounts.login"
SIGNUP_DAY = 24 * 60 * 60
DEFAULT_SIGNUP_DAILY_LIMIT = 20


def _auth_rate(_group, _request) -> str:
    return settings.AUTH_RATE


def auth_ratelimit(group: str):
    """Throttle POSTs to a class-based view; past the rate Ratelimited becomes a 429."""
    return method_decorator(
        ratelimit(group=group, key="ip", rate=_auth_rate, method="POST"), name="dispatch"
    )


def admin_login_ratelimited(login_view):
    """The admin's login view, throttled like the site's login (and counted with it).

    Wraps AdminSite.login; Ratelimited raised here becomes project.middleware's 429.
    """
    wrapped = ratelimit(group=LOGIN_GROUP, key="ip", rate=_auth_rate, method="POST")(login_view)
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
