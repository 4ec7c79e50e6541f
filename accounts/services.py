import hashlib
import hmac
import re
import unicodedata

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext, override
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.models import Token

from accounts import selectors
from accounts.models import DeletedAccountUsage, User

PUBLIC_NAME_MAX_LENGTH = 40

USERNAME_TAKEN = _("A user with that username already exists.")

# Format characters that are not joiners: zero-width spaces, direction overrides and the
# like make two names look the same while being different strings.
_JOINERS = {"\u200c", "\u200d"}


def public_name_normalize(name: str) -> str:
    """NFKC (full-width and other look-alike forms folded), spaces trimmed and collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name or "").split())


def _looks_like_a_default_name(name: str) -> bool:
    """Whether `name` is a default name ("Member 1a2b3c4d") in any of the site's languages."""
    for code, _label in settings.LANGUAGES:
        with override(code):
            template = gettext("Member %(code)s")
        pattern = re.escape(template).replace(re.escape("%(code)s"), "[0-9a-f]{8}")
        if re.fullmatch(pattern, name, flags=re.IGNORECASE):
            return True
    return False


def public_name_clean(*, name: str, user: User | None = None, username: str = "") -> str:
    """A public name someone may take, normalised; ValidationError saying why not.

    1 to 40 characters; not another member's public name or login name (case-insensitive);
    not a default name ("Member 1a2b3c4d") unless it is this account's own. `user` is the
    account choosing (None at sign-up, where `username` is the login name being chosen:
    a person may show their own login name if they want to).
    """
    name = public_name_normalize(name)
    if not name:
        raise ValidationError(_("Enter a public name."), code="required")
    if len(name) > PUBLIC_NAME_MAX_LENGTH:
        raise ValidationError(
            _("A public name can be at most %(limit)d characters long."),
            code="max_length",
            params={"limit": PUBLIC_NAME_MAX_LENGTH},
        )
    if any(unicodedata.category(ch).startswith("C") and ch not in _JOINERS for ch in name):
        raise ValidationError(
            _("A public name cannot contain invisible or control characters."), code="invalid"
        )
    others = User.objects.all()
    own_username = username
    if user is not None and user.pk is not None:
        others = others.exclude(pk=user.pk)
        own_username = user.username
    is_own_default = user is not None and name.casefold() == user.default_public_name.casefold()
    if _looks_like_a_default_name(name) and not is_own_default:
        raise ValidationError(
            _("Names like “%(name)s” are kept for members who have not chosen one."),
            code="reserved",
            params={"name": name},
        )
    taken = others.filter(display_name__iexact=name).exists()
    is_own_login = bool(own_username) and name.casefold() == own_username.casefold()
    if not taken and not is_own_login:
        taken = others.filter(username__iexact=name).exists()
    if taken:
        raise ValidationError(_("That public name is taken. Choose another."), code="taken")
    return name


def user_create(*, username: str, password: str, email: str = "", display_name: str = "") -> User:
    """Create a member. Raises django.core.exceptions.ValidationError with field errors
    (`username` taken in any case, a weak `password`, a `display_name` that is not free).

    An empty display name leaves the neutral default ("Member 1a2b3c4d") as the public name.
    """
    username = User.normalize_username(username)
    user = User(username=username, email=email)
    validate_password(password, user=user)
    if display_name:
        try:
            user.display_name = public_name_clean(name=display_name, username=username)
        except ValidationError as exc:
            raise ValidationError({"display_name": exc.error_list}) from exc
    if selectors.username_taken(username):
        raise ValidationError({"username": [USERNAME_TAKEN]}, code="unique")
    user.set_password(password)
    user.full_clean(exclude=["password"])
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        # A concurrent sign-up took the same name (in some case) between the check above
        # and the insert: the database's case-insensitive unique index refused this one.
        if User.objects.filter(username__iexact=username).exists():  # the winner is in now
            raise ValidationError({"username": [USERNAME_TAKEN]}, code="unique") from exc
        raise
    return user


def user_public_name_set(*, user: User, display_name: str) -> User:
    """Change the member's public name (validated by public_name_clean)."""
    user.display_name = public_name_clean(name=display_name, user=user)
    user.save(update_fields=["display_name"])
    return user


def user_token_get_or_create(*, user: User) -> Token:
    token, _created = Token.objects.get_or_create(user=user)
    return token


def user_token_delete(*, user: User) -> None:
    Token.objects.filter(user=user).delete()


# --- Deleting an account -------------------------------------------------------------


def _identity_hash(kind: str, value: str) -> str:
    message = f"{kind}:{value.strip().casefold()}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def user_identities(*, user: User) -> set[str]:
    """Keyed hashes of what identifies the person behind an account: its login name, its
    email addresses and its social logins (provider and the provider's id)."""
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount

    found = {_identity_hash("username", user.username)}
    emails = set(EmailAddress.objects.filter(user=user).values_list("email", flat=True))
    if user.email:
        emails.add(user.email)
    found |= {_identity_hash("email", email) for email in emails}
    for provider, uid in SocialAccount.objects.filter(user=user).values_list("provider", "uid"):
        found.add(_identity_hash("social", f"{provider}:{uid}"))
    return found


def user_delete(*, user: User) -> None:
    """Delete the account with its sessions, messages, API tokens, email addresses and
    social logins. Today's count of model requests is kept under the account's identity
    hashes (DeletedAccountUsage), so that signing up again does not reset the limit."""
    from coach.models import DailyUsage
    from coach.quota import quota_day

    day = quota_day()
    used = DailyUsage.objects.filter(user=user, day=day).values_list("count", flat=True).first()
    identities = user_identities(user=user) if used else set()
    with transaction.atomic():
        DeletedAccountUsage.objects.filter(day__lt=day).delete()
        for identity in identities:
            row, created = DeletedAccountUsage.objects.select_for_update().get_or_create(
                day=day, identity=identity, defaults={"count": used}
            )
            if not created and row.count < used:
                row.count = used
                row.save(update_fields=["count"])
        user.delete()


def user_usage_carry_over(*, user: User) -> int:
    """Start a new account's day with the requests a deleted account with the same
    identity made today; returns that count (0 when there is none)."""
    from coach.models import DailyUsage
    from coach.quota import quota_day

    day = quota_day()
    carried = (
        DeletedAccountUsage.objects.filter(day=day, identity__in=user_identities(user=user))
        .order_by("-count")
        .values_list("count", flat=True)
        .first()
    )
    if not carried:
        return 0
    DailyUsage.objects.bulk_create([DailyUsage(user=user, day=day, count=0)], ignore_conflicts=True)
    DailyUsage.objects.filter(user=user, day=day, count__lt=carried).update(count=carried)
    return carried


def user_email_add(*, request, user: User, email: str) -> None:
    """Record an address given at sign-up through the API, as the sign-up page does: an
    allauth email address (primary), with a confirmation link mailed unless
    ACCOUNT_EMAIL_VERIFICATION is "none"."""
    from allauth.account.models import EmailAddress

    if not email:
        return
    address = EmailAddress.objects.add_email(
        request, user, email, confirm=settings.ACCOUNT_EMAIL_VERIFICATION != "none", signup=True
    )
    if not address.primary:
        address.set_as_primary(conditional=True)
