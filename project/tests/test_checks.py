"""project/checks.py: Django's security checks still see the middleware they look for."""

import pytest
from django.core import checks

from project.inline_middleware import DJANGO_PATHS

pytestmark = pytest.mark.django_db


def deploy_ids() -> set[str]:
    found = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])
    return {message.id for message in found if not message.is_silenced()}


def test_the_site_passes_the_checks_that_look_for_middleware(settings):
    settings.SECURE_HSTS_SECONDS = 3600
    ids = deploy_ids()
    assert not ids & {"stepwise.W011", "stepwise.W012", "stepwise.W013", "security.W004"}


def test_a_setting_that_depends_on_the_security_middleware_is_still_checked(settings):
    settings.SECURE_HSTS_SECONDS = 0
    assert "security.W004" in deploy_ids()


@pytest.mark.parametrize(
    ("django_path", "expected"),
    [
        ("django.middleware.security.SecurityMiddleware", "stepwise.W011"),
        ("django.middleware.clickjacking.XFrameOptionsMiddleware", "stepwise.W012"),
        ("django.middleware.csrf.CsrfViewMiddleware", "stepwise.W013"),
    ],
)
def test_a_missing_middleware_is_reported(settings, django_path, expected):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if DJANGO_PATHS.get(m) != django_path]
    assert expected in deploy_ids()
