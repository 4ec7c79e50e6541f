from urllib.parse import urlsplit

from allauth.account import views as allauth_views
from allauth.socialaccount import views as social_views
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.generic import FormView

from accounts import selectors
from accounts.forms import AccountDeleteForm, PublicNameForm
from accounts.services import user_delete, user_public_name_set


def safe_next_url(request, fallback: str = settings.LOGIN_REDIRECT_URL) -> str:
    """The ?next= (or posted next) target when it is a path on this site, else the fallback."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _leads_to_wizard(next_url: str) -> bool:
    return urlsplit(next_url).path == reverse("sessions:new")


def login_reason(next_url: str) -> str:
    """Why someone was sent to log in, from the page they were on their way to."""
    if not next_url:
        return ""
    if _leads_to_wizard(next_url):
        return _("Log in to start a coaching session.")
    return _("Log in to continue.")


def signup_reason(next_url: str) -> str:
    if not next_url:
        return ""
    if _leads_to_wizard(next_url):
        return _("Create an account to start a coaching session.")
    return _("Create an account to continue.")


class NextReasonMixin:
    """The checked `next` (same-site only) and why the person was sent here."""

    reason_for = staticmethod(login_reason)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["next"] = safe_next_url(self.request, fallback="")
        context["reason"] = self.reason_for(context["next"])
        return context


class LoginView(NextReasonMixin, allauth_views.LoginView):
    """allauth's login (rate-limited per address, failed attempts per name too), on our page."""

    template_name = "accounts/login.html"


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default): a link or an image cannot log anyone out."""


class SignupView(NextReasonMixin, allauth_views.SignupView):
    """allauth's sign-up with our public name; the day's cap per address is checked by
    the adapter and counted when the account is made (accounts.signals)."""

    template_name = "accounts/signup.html"
    reason_for = staticmethod(signup_reason)

    def form_valid(self, form):
        try:
            return super().form_valid(form)
        except ValidationError as exc:  # the name was taken since the form's check
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return self.form_invalid(form)


class AccountView(LoginRequiredMixin, FormView):
    """The member's own account: public name, ways to log in, password, today's requests,
    and the way out."""

    template_name = "accounts/account.html"
    form_class = PublicNameForm
    success_url = reverse_lazy("accounts:account")

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        return kwargs

    def get_initial(self):
        return {"display_name": self.request.user.display_name}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(selectors.account_overview(user=self.request.user, request=self.request))
        return context

    def form_valid(self, form):
        user_public_name_set(user=self.request.user, display_name=form.cleaned_data["display_name"])
        messages.success(
            self.request,
            _("Your public name is now “%(name)s”.") % {"name": self.request.user.public_name},
        )
        return super().form_valid(form)


class AccountDeleteView(LoginRequiredMixin, FormView):
    """Deleting the account: the person types their login name, then everything goes."""

    template_name = "accounts/delete.html"
    form_class = AccountDeleteForm

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["session_count"] = self.request.user.coaching_sessions.count()
        return context

    def form_valid(self, form):
        user = self.request.user
        logout(self.request)
        user_delete(user=user)
        messages.success(self.request, _("Your account and everything in it were deleted."))
        return redirect(settings.LOGOUT_REDIRECT_URL)


def account_me_redirect(request):
    """The account page moved from /accounts/me/ to /accounts/."""
    return redirect("accounts:account", permanent=True)


class ConnectionsView(social_views.ConnectionsView):
    """allauth's disconnect form, answered on the account page. The last way to log in
    cannot be removed (allauth's rule: a social login goes only while a password or
    another social login is left)."""

    success_url = reverse_lazy("accounts:account")

    def get(self, request, *args, **kwargs):
        return redirect("accounts:account")
