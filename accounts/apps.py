from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from django.contrib import admin

        from accounts import checks, signals  # noqa: F401  (registers checks and receivers)
        from accounts.throttling import throttle_admin_login

        # The admin's login is a password form like ours: throttle it the same way.
        throttle_admin_login(admin.site)
