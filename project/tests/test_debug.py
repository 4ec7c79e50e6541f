"""Debug pages never show a credential, even one inside a URL."""

from django.test import RequestFactory
from django.views.debug import get_default_exception_reporter_filter

SECRET = "hunter2-secret-password"


def test_settings_with_credentials_are_hidden(settings):
    settings.REDIS_URL = f"redis://:{SECRET}@cache:6379/0"
    settings.CACHES = {"default": {"BACKEND": "x", "LOCATION": f"redis://:{SECRET}@cache"}}
    settings.DATABASE_URL = f"postgres://app:{SECRET}@db/app"
    settings.OPENAI_API_KEY = SECRET

    shown = repr(get_default_exception_reporter_filter().get_safe_settings())

    assert SECRET not in shown
    assert "DEBUG" in shown  # the rest is still there to debug with


def test_environment_urls_in_the_request_are_hidden():
    request = RequestFactory().get(
        "/", DATABASE_URL=f"postgres://app:{SECRET}@db/app", HTTP_USER_AGENT="test"
    )

    meta = get_default_exception_reporter_filter().get_safe_request_meta(request)

    assert SECRET not in repr(meta)
    assert meta["HTTP_USER_AGENT"] == "test"
