"""Our rules inside django-allauth's flows (settings ACCOUNT_ADAPTER, SOCIALACCOUNT_ADAPTER).

- `next` is followed only to this site (never to another host in ALLOWED_HOSTS).
- The client address is ours (project.http.client_ip: DJANGO_TRUSTED_PROXY_HOPS), so
  allauth's rate limits count the same address as every other limit.
- A new account from a social login takes its login name and public name from the
  provider (GitHub login, Kakao nickname); when either is taken or not allowed, the short
  sign-up form asks for another instead of allauth inventing "octo2".
- Sign-ups count against the day's cap per address, whichever way they come in.
- A provider's address joins an existing account only when the provider vouches that it
  is the person's and still theirs: Kakao's `is_email_verified` is not enough when
  `is_email_valid` is false (an address that no longer receives mail, possibly someone
  else's by now), so such an address is kept unverified and never logs into an account.
"""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import selectors
from accounts.models import User
from accounts.services import USERNAME_TAKEN, public_name_clean, public_name_normalize
from accounts.throttling import SignupCapReached, signup_daily_check, signup_refused_response
from project.http import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def is_safe_url(self, url: str) -> bool:
        request = self.request
        if request is None or not url:
            return False
        return url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )

    def get_client_ip(self, request: HttpRequest) -> str:
        return client_ip(request)

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Only a sign-up that is about to happen is refused: the form stays readable, and
        # allauth also asks this while answering other requests (the headless API lists
        # the flows on offer), which must not turn into the sign-up cap's 429.
        if _signing_up(request) and not getattr(request, "_stepwise_signup_checked", False):
            # Once a request: allauth asks again while answering the sign-up it let
            # through, and the account just made has counted by then.
            request._stepwise_signup_checked = True
            try:
                signup_daily_check(request)
            except SignupCapReached as exc:
                raise ImmediateHttpResponse(signup_refused_response(request, exc)) from exc
        return True

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=False)
        display_name = (getattr(form, "cleaned_data", None) or {}).get("display_name") or ""
        if display_name:
            user.display_name = display_name
        if commit:
            try:
                with transaction.atomic():
                    user.save()
            except IntegrityError as exc:
                # A concurrent sign-up took the name (in some case) after the form's check:
                # the database's case-insensitive unique index refused this one.
                if User.objects.filter(username__iexact=user.username).exists():
                    raise ValidationError({"username": [USERNAME_TAKEN]}, code="unique") from exc
                raise
        return user


def _signing_up(request: HttpRequest) -> bool:
    """A POST to a sign-up URL (the page's or the headless API's), or a social sign-up."""
    if getattr(request, "_stepwise_social_signup", False):
        return True
    match = getattr(request, "resolver_match", None)
    return request.method == "POST" and match is not None and match.url_name == "signup"


def provider_names(data: dict) -> tuple[str, str]:
    """(login name, public name) a provider suggests: GitHub's login, Kakao's nickname."""
    suggested = public_name_normalize(data.get("username") or "")
    return suggested, suggested


def undeliverable_emails(sociallogin) -> set[str]:
    """The provider's addresses it says no longer receive mail (lower case): Kakao's
    `is_email_valid: false`, whatever `is_email_verified` says."""
    if sociallogin.account.provider != "kakao":
        return set()
    kakao_account = (sociallogin.account.extra_data or {}).get("kakao_account") or {}
    email = kakao_account.get("email") or ""
    if email and str(kakao_account.get("is_email_valid", True)).lower() == "false":
        return {email.lower()}
    return set()


def login_name_usable(username: str) -> bool:
    if not username or len(username) > 150:
        return False
    try:
        User.username_validator(username)
    except ValidationError:
        return False
    return not selectors.username_taken(username)


def public_name_usable(name: str, username: str) -> bool:
    try:
        public_name_clean(name=name, username=username)
    except ValidationError:
        return False
    return True


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        # Before allauth looks the login up by email: an address the provider says no
        # longer receives mail is not verified, for joining and for the new account alike.
        undeliverable = undeliverable_emails(sociallogin)
        for address in sociallogin.email_addresses:
            if address.email.lower() in undeliverable:
                address.verified = False
        username, display_name = provider_names(data)
        # An unusable suggestion is left empty, so the sign-up form asks for it.
        user.username = username if login_name_usable(username) else ""
        # Checked against the login name the account will really have: a taken login name
        # ("mina") is not this person's to show as their public name either.
        usable = public_name_usable(display_name, user.username)
        user.display_name = display_name if usable else ""
        # Names like "Octo Cat": the form offers them, not the database.
        user.first_name = user.last_name = ""
        return user

    def can_authenticate_by_email(self, login, email: str) -> bool:
        """Only a deliverable address the provider verified logs into an existing account
        (allauth already asks for verified; Kakao's verified-but-invalid is refused)."""
        if email.lower() in undeliverable_emails(login):
            return False
        return super().can_authenticate_by_email(login, email)

    def is_auto_signup_allowed(self, request, sociallogin) -> bool:
        user = sociallogin.user
        if not user.username or not user.display_name:
            return False
        return super().is_auto_signup_allowed(request, sociallogin)

    def is_open_for_signup(self, request, sociallogin) -> bool:
        request._stepwise_social_signup = True
        return super().is_open_for_signup(request, sociallogin)

    def get_signup_form_initial_data(self, sociallogin) -> dict:
        initial = super().get_signup_form_initial_data(sociallogin)
        suggested, _public = provider_names(
            sociallogin.account.get_provider().extract_common_fields(sociallogin.account.extra_data)
        )
        initial["username"] = initial.get("username") or suggested
        # Only a public name the form will accept: an unusable one is left for the person.
        initial["display_name"] = sociallogin.user.display_name
        return initial
