"""What happens when allauth makes an account or joins a login to one (wired in
AccountsConfig.ready): the day's sign-up count per address, and the daily usage of a
deleted account with the same identity carried over."""

from allauth.account.signals import email_confirmed, user_signed_up
from allauth.socialaccount.signals import social_account_added
from django.dispatch import receiver

from accounts.services import user_usage_carry_over
from accounts.throttling import signup_daily_count


@receiver(user_signed_up, dispatch_uid="stepwise-signed-up")
def on_signed_up(sender, request, user, **kwargs) -> None:
    if request is not None:
        signup_daily_count(request)
    user_usage_carry_over(user=user)


@receiver(social_account_added, dispatch_uid="stepwise-social-added")
def on_social_account_added(sender, request, sociallogin, **kwargs) -> None:
    user_usage_carry_over(user=sociallogin.user)


@receiver(email_confirmed, dispatch_uid="stepwise-email-confirmed")
def on_email_confirmed(sender, request, email_address, **kwargs) -> None:
    user_usage_carry_over(user=email_address.user)
