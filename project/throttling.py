"""API throttles for readers and members, counted in the shared cache (Redis with
REDIS_URL), per client address as project.http.client_ip reads it behind proxies."""

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from project.http import client_ip


class _SettingsRate:
    """The rate from settings.API_THROTTLE_RATES, read when asked (not at import)."""

    scope: str

    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request) -> str:
        return client_ip(request)


class AnonApiThrottle(_SettingsRate, AnonRateThrottle):
    """Anonymous requests per client address."""


class UserApiThrottle(_SettingsRate, UserRateThrottle):
    """Logged-in requests per member (anonymous ones per address, as above)."""
