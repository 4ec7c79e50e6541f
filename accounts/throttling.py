"""Per-IP throttling of login and sign-up (django-ratelimit, counted in the shared cache)."""

from django.conf import settings
from django.utils.decorators import method_decorator
from django_ratelimit.decorators import ratelimit


def auth_ratelimit(group: str):
    """Throttle POSTs to a class-based view; past the rate Ratelimited becomes a 429."""
    return method_decorator(
        ratelimit(group=group, key="ip", rate=lambda _g, _r: settings.AUTH_RATE, method="POST"),
        name="dispatch",
    )
