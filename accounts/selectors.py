from dataclasses import dataclass

from django.http import HttpRequest

from accounts.models import User


def username_taken(username: str) -> bool:
    """Whether a member has this login name in any case (`Alice` takes `alice`)."""
    return User.objects.filter(username__iexact=username).exists()


@dataclass(frozen=True)
class LoginConnection:
    """One social login joined to an account."""

    id: int
    provider: str
    provider_name: str
    label: str


def user_connections(*, user: User) -> list[LoginConnection]:
    from allauth.socialaccount.models import SocialAccount
    from allauth.socialaccount.providers import registry

    found = []
    for account in SocialAccount.objects.filter(user=user).order_by("provider", "pk"):
        # The provider's class, not account.get_provider(): that needs the provider's app,
        # and a site may have removed it since (the login stays listed, and removable).
        provider_class = registry.get_class(account.provider)
        found.append(
            LoginConnection(
                id=account.pk,
                provider=account.provider,
                provider_name=provider_class.name if provider_class else account.provider,
                label=_connection_label(account),
            )
        )
    return found


def _connection_label(account) -> str:
    data = account.extra_data or {}
    if account.provider == "github":
        return str(data.get("login") or account.uid)
    if account.provider == "kakao":
        profile = (data.get("kakao_account") or {}).get("profile") or {}
        return str(profile.get("nickname") or (data.get("properties") or {}).get("nickname") or "")
    return str(account.uid)


def login_providers(*, request: HttpRequest) -> list:
    """The social login providers this site has an app for (settings or the admin)."""
    from allauth.socialaccount.adapter import get_adapter

    return sorted(get_adapter().list_providers(request), key=lambda provider: provider.name)


def user_login_ways(*, user: User) -> int:
    """How many ways the member has to log in: a password, and each social login."""
    from allauth.socialaccount.models import SocialAccount

    return int(user.has_usable_password()) + SocialAccount.objects.filter(user=user).count()


def user_has_verified_email(*, user: User) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, verified=True).exists()


def account_overview(*, user: User, request: HttpRequest) -> dict:
    """What the account page shows beside its forms."""
    from allauth.account.models import EmailAddress

    from coach.selectors import quota_get

    connections = user_connections(user=user)
    connected = {connection.provider for connection in connections}
    return {
        "connections": connections,
        "can_disconnect": user_login_ways(user=user) > 1,
        "connectable": [p for p in login_providers(request=request) if p.id not in connected],
        "has_password": user.has_usable_password(),
        "emails": list(EmailAddress.objects.filter(user=user).order_by("-primary", "email")),
        "quota": quota_get(user=user),
    }
