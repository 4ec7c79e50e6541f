"""allauth's headless API (the "app" client) at /_allauth/, without its phone-number
endpoints: this site has no phone numbers, and allauth 65.22's phone views fail with a
500 when the phone feature is not configured."""

from allauth.headless.constants import Client
from allauth.headless.urls import build_urlpatterns
from django.urls import URLPattern, URLResolver, include, path

_PHONE_VIEWS = {"manage_phone", "verify_phone", "resend_phone_verification_code"}


def _without_phone(patterns: list) -> list:
    kept = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern) and pattern.name in _PHONE_VIEWS:
            continue
        if isinstance(pattern, URLResolver) and isinstance(pattern.urlconf_name, list):
            pattern.urlconf_name[:] = _without_phone(pattern.urlconf_name)
        kept.append(pattern)
    return kept


app_name = "headless"
urlpatterns = [
    path(
        "app/",
        include((_without_phone(build_urlpatterns(Client.APP)), "headless"), namespace="app"),
    ),
    path("", include("allauth.headless.spec.urls")),
]
