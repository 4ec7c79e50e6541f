from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

# The public name of an account without a display name: "Member " and a code made from
# the account's id, never from its login name. The multiplier is odd, so for every id
# below 2**32 the code is different (a bijection mod 2**32) and does not look sequential.
_CODE_MULTIPLIER = 0x9E3779B1


def default_public_name_code(pk: int | None) -> str:
    return f"{((pk or 0) * _CODE_MULTIPLIER) % 2**32:08x}"


class User(AbstractUser):
    """A member. Public pages show only `public_name`: never the login name or the email."""

    display_name = models.CharField(
        _("display name"),
        max_length=60,
        blank=True,
        help_text=_("Shown on your public sessions instead of your username."),
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            # `Alice` and `alice` are one name: the database refuses the second, so two
            # concurrent sign-ups cannot both win (services.user_create turns the loser's
            # IntegrityError into the same field error as the form's check).
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_ci_unique",
                violation_error_message=_("A user with that username already exists."),
            ),
        ]

    @property
    def public_name(self) -> str:
        """What public pages call this member: the display name, else a neutral default."""
        return self.display_name or self.default_public_name

    @property
    def default_public_name(self) -> str:
        return gettext("Member %(code)s") % {"code": default_public_name_code(self.pk)}


class DeletedAccountUsage(models.Model):
    """Model requests made today by an account that was deleted today.

    Kept so that deleting the account and signing up again does not reset the daily
    limit: a new account whose email address, social login or login name matches
    starts the day with this count. Only keyed hashes are kept (never the address or
    the name), and only for the day: older rows are removed (accounts.services).
    """

    day = models.DateField(_("day"))
    identity = models.CharField(_("identity hash"), max_length=64)
    count = models.PositiveIntegerField(_("requests"), default=0)

    class Meta:
        verbose_name = _("usage of a deleted account")
        verbose_name_plural = _("usage of deleted accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "identity"], name="deleted_usage_one_row_per_identity_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.count}"
