"""How many sessions one client address may report: every rate of REPORT_RATES (by
default 5 an hour and 20 a day), counted in the shared cache by django-ratelimit, per
address as project.http.client_ip reads it behind proxies (an IPv6 address per /64,
django-ratelimit's RATELIMIT_IPV6_MASK)."""

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

DEFAULT_REPORT_RATES = ("5/h", "20/d")
REPORT_GROUP = "sessions_app.report"


def report_rates() -> list[str]:
    rates = getattr(settings, "REPORT_RATES", DEFAULT_REPORT_RATES)
    if isinstance(rates, str):
        rates = rates.split(",")
    return [rate.strip() for rate in rates if rate.strip()]


def report_throttle(request: HttpRequest) -> int | None:
    """Count one report from the request's address against every rate. None when it is
    within all of them; otherwise the seconds until the address may report again (for
    Retry-After). Works with a DRF request too."""
    request = getattr(request, "_request", request)
    wait: int | None = None
    for rate in report_rates():
        usage = get_usage(request, group=REPORT_GROUP, key="ip", rate=rate, increment=True)
        if usage is not None and usage["should_limit"]:
            wait = max(wait or 0, int(usage["time_left"]), 1)
    return wait
