from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.services import PUBLIC_NAME_MAX_LENGTH, public_name_clean


class SignupForm(UserCreationForm):
    """Login name, optional email and public name, password twice.

    UserCreationForm refuses a login name taken in any case (`Alice` when `alice` exists).
    """

    display_name = forms.CharField(
        label=_("Public name"),
        required=False,
        max_length=PUBLIC_NAME_MAX_LENGTH,
        help_text=_(
            "Shown on your public sessions; your login name never is. "
            "Leave it empty to be shown as “Member” and a code. You can change it later."
        ),
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email", "display_name")

    def clean_display_name(self) -> str:
        name = self.cleaned_data.get("display_name") or ""
        if not name.strip():
            return ""
        # The login name is cleaned first (field order): a person may show it if they want.
        return public_name_clean(name=name, username=self.cleaned_data.get("username") or "")


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
