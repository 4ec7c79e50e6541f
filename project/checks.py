"""System checks of the site as a whole."""

from django.conf import settings
from django.core import checks
from django.core.checks.security import base, csrf
from django.test.utils import override_settings

from project.inline_middleware import DJANGO_PATHS

# Django's deploy checks that look for its middleware by dotted path in MIDDLEWARE.
_CHECKS_BY_PATH = [
    base.check_security_middleware,
    base.check_xframe_options_middleware,
    csrf.check_csrf_middleware,
    base.check_sts,
    base.check_sts_include_subdomains,
    base.check_sts_preload,
    base.check_content_type_nosniff,
    base.check_ssl_redirect,
    base.check_xframe_deny,
    base.check_referrer_policy,
    base.check_cross_origin_opener_policy,
    csrf.check_csrf_cookie_secure,
]
# Silenced in settings (they cannot see our subclasses), reported again under our ids.
_MISSING = {
    "security.W001": "stepwise.W011",
    "security.W002": "stepwise.W012",
    "security.W003": "stepwise.W013",
}


@checks.register(checks.Tags.security, deploy=True)
def check_security_with_inline_middleware(app_configs=None, **kwargs):
    """Django's security checks, as if MIDDLEWARE named Django's own classes instead of
    their subclasses in project/inline_middleware.py: a setting they depend on (HSTS,
    the CSRF cookie...) would otherwise go unchecked."""
    as_django = [DJANGO_PATHS.get(path, path) for path in settings.MIDDLEWARE]
    with override_settings(MIDDLEWARE=as_django):
        found = [message for check in _CHECKS_BY_PATH for message in check(app_configs)]
    for message in found:
        message.id = _MISSING.get(message.id, message.id)
    return found
