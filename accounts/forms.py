from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.socialaccount.forms import SignupForm as AllauthSocialSignupForm
from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.services import PUBLIC_NAME_MAX_LENGTH, public_name_clean

DISPLAY_NAME_HELP = _(
    "Shown on your public sessions; your login name never is. "
    "Leave it empty to be shown as “Member” and a code. You can change it later."
)


def _display_name_field(*, required: bool, help_text=DISPLAY_NAME_HELP) -> forms.CharField:
    return forms.CharField(
        label=_("Public name"),
        required=required,
        max_length=PUBLIC_NAME_MAX_LENGTH,
        help_text=help_text,
    )


class PublicNameMixin:
    """A `display_name` field checked by public_name_clean (the login name is cleaned
    first: a person may show their own login name if they want)."""

    def clean_display_name(self) -> str:
        name = self.cleaned_data.get("display_name") or ""
        if not name.strip():
            return ""
        return public_name_clean(name=name, username=self.cleaned_data.get("username") or "")


class SignupForm(PublicNameMixin, AllauthSignupForm):
    """Login name, optional email and public name, password twice (allauth's sign-up).

    allauth refuses a login name taken in any case (`Alice` when `alice` exists).
    """

    display_name = _display_name_field(required=False)
    field_order = ["username", "email", "display_name", "password1", "password2"]


class SocialSignupForm(PublicNameMixin, AllauthSocialSignupForm):
    """The short form after a first GitHub or Kakao login whose names are taken or not
    allowed: a login name and a public name, prefilled with the provider's."""

    display_name = _display_name_field(
        required=True, help_text=_("Shown on your public sessions; your login name never is.")
    )
    field_order = ["username", "display_name", "email"]


class PublicNameForm(forms.Form):
    display_name = forms.CharField(
        label=_("Public name"),
        max_length=PUBLIC_NAME_MAX_LENGTH,
        help_text=_("Shown on your public sessions. Your login name is never shown."),
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_display_name(self) -> str:
        return public_name_clean(name=self.cleaned_data["display_name"], user=self.user)


class AccountDeleteForm(forms.Form):
    """Deleting the account asks the person to type their login name."""

    confirm = forms.CharField(
        label=_("Type your login name to confirm"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_confirm(self) -> str:
        typed = self.cleaned_data["confirm"].strip()
        if typed.casefold() != self.user.username.casefold():
            raise forms.ValidationError(
                _("That is not your login name. Nothing was deleted."), code="mismatch"
            )
        return typed
