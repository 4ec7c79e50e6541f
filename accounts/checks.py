from django.conf import settings
from django.core import checks
from django.utils.translation import gettext_lazy as _


@checks.register(checks.Tags.caches, deploy=True)
def check_shared_cache(app_configs, **kwargs):
    if settings.REDIS_URL:
        return []
    # With debug off this is a deployment: `check --deploy --fail-level WARNING` (the
    # Procfile's release step) stops it, since the Procfile runs several workers.
    level = checks.Info if settings.DEBUG else checks.Warning
    return [
        level(
            _("REDIS_URL is not set: login and sign-up throttling counts per process."),
            hint=_(
                "With several gunicorn workers or servers, set REDIS_URL so they share one count. "
                "The daily model limit lives in the database and is exact either way."
            ),
            id="stepwise.I001" if settings.DEBUG else "stepwise.W001",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_email_backend(app_configs, **kwargs):
    """With debug off, password-reset links must reach people, not the server's log."""
    if settings.DEBUG or "console" not in settings.EMAIL_BACKEND:
        return []
    return [
        # Info, not a warning: a site may choose to run without mail; the release step
        # prints it either way.
        checks.Info(
            _(
                "Email is printed to the console: password resets and address confirmations "
                "never reach anyone."
            ),
            hint=_("Set EMAIL_URL (smtp://user:password@host:587) or EMAIL_HOST and friends."),
            id="stepwise.I002",
        )
    ]
