from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts import selectors
from accounts.models import User
from accounts.services import PUBLIC_NAME_MAX_LENGTH, USERNAME_TAKEN, public_name_clean
from project.api import StrictCharField


def _public_name(value: str, **owner) -> str:
    try:
        return public_name_clean(name=value, **owner)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(list(exc.messages)) from exc


class SignupSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(write_only=True, style={"input_type": "password"})
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    display_name = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=PUBLIC_NAME_MAX_LENGTH,
        help_text=_(
            "Public name shown on your sessions (1 to 40 characters). "
            "Empty: “Member” and a code. Your username is never shown."
        ),
    )

    def validate_username(self, value: str) -> str:
        User.username_validator(value)
        value = User.normalize_username(value)
        if selectors.username_taken(value):
            raise serializers.ValidationError(USERNAME_TAKEN)
        return value

    def validate(self, attrs):
        try:
            validate_password(attrs["password"], user=User(username=attrs["username"]))
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        if attrs.get("display_name", "").strip():
            try:
                attrs["display_name"] = _public_name(
                    attrs["display_name"], username=attrs["username"]
                )
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"display_name": exc.detail}) from exc
        else:
            attrs["display_name"] = ""
        return attrs


class SignupResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    public_name = serializers.CharField()
    token = serializers.CharField()


class MeSerializer(serializers.Serializer):
    """The logged-in member's own account: the login name is private to them."""

    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True, help_text=_("Your login name (private)."))
    display_name = StrictCharField(
        max_length=PUBLIC_NAME_MAX_LENGTH,
        help_text=_(
            "Your chosen public name: 1 to 40 characters, not another member's. "
            "Empty in answers when you have not chosen one."
        ),
    )
    public_name = serializers.CharField(
        read_only=True, help_text=_("What public pages and the API show for you.")
    )

    def validate_display_name(self, value: str) -> str:
        return _public_name(value, user=self.instance)


class TokenRequestSerializer(serializers.Serializer):
    username = StrictCharField()
    password = StrictCharField(write_only=True, style={"input_type": "password"})


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()


class ConnectionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField(help_text=_("github or kakao."))
    label = serializers.CharField(help_text=_("The login or nickname at the provider."))


class ProfileQuotaSerializer(serializers.Serializer):
    limit = serializers.IntegerField()
    used = serializers.IntegerField()
    remaining = serializers.IntegerField()
    resets_at = serializers.DateTimeField()


class ProfileSerializer(serializers.Serializer):
    """The logged-in member's own account (GET /api/me/): only they see it."""

    id = serializers.IntegerField()
    username = serializers.CharField(help_text=_("Your login name (private)."))
    display_name = serializers.CharField(help_text=_("Your chosen public name, or empty."))
    public_name = serializers.CharField(help_text=_("What public pages and the API show for you."))
    email = serializers.CharField(help_text=_("Private: never shown publicly. May be empty."))
    email_verified = serializers.BooleanField()
    has_password = serializers.BooleanField(
        help_text=_("False after a sign-up with GitHub or Kakao until you set one.")
    )
    connections = ConnectionSerializer(many=True)
    quota = ProfileQuotaSerializer(help_text=_("Today's model requests."))


class AccountDeleteSerializer(serializers.Serializer):
    confirm = StrictCharField(
        max_length=150, help_text=_("Your login name, to confirm that the account goes.")
    )

    def validate_confirm(self, value: str) -> str:
        if value.strip().casefold() != self.context["user"].username.casefold():
            raise serializers.ValidationError(
                _("That is not your login name. Nothing was deleted.")
            )
        return value
