from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.generic import FormView

from accounts.forms import PublicNameForm, SignupForm
from accounts.services import user_create, user_public_name_set
from accounts.throttling import (
    LOGIN_GROUP,
    SignupCapReached,
    auth_ratelimit,
    signup_daily_check,
    signup_daily_count,
)


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


@auth_ratelimit(LOGIN_GROUP)
class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # `next` is already checked: Django's LoginView keeps only a same-site target.
        context["reason"] = login_reason(context.get("next") or "")
        return context


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default): a link or an image cannot log anyone out."""


@auth_ratelimit("accounts.signup")
class SignupView(FormView):
    template_name = "accounts/signup.html"
    form_class = SignupForm

    def post(self, request, *args, **kwargs):
        try:
            signup_daily_check(request)
        except SignupCapReached as exc:
            response = render(request, "429.html", {"message": str(exc)}, status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        try:
            user = user_create(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                email=form.cleaned_data.get("email") or "",
                display_name=form.cleaned_data.get("display_name") or "",
            )
        except ValidationError as exc:
            # Taken by a concurrent sign-up since the form's check: the same field error.
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return self.form_invalid(form)
        signup_daily_count(self.request)
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        self.success_url = safe_next_url(self.request)
        return super().form_valid(form)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["next"] = safe_next_url(self.request, fallback="")
        context["reason"] = signup_reason(context["next"])
        return context


class AccountView(LoginRequiredMixin, FormView):
    """The member's own account: the public name, and the way to their sessions."""

    template_name = "accounts/account.html"
    form_class = PublicNameForm
    success_url = reverse_lazy("accounts:account")

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        return kwargs

    def get_initial(self):
        return {"display_name": self.request.user.display_name}

    def form_valid(self, form):
        user_public_name_set(user=self.request.user, display_name=form.cleaned_data["display_name"])
        messages.success(
            self.request,
            _("Your public name is now “%(name)s”.") % {"name": self.request.user.public_name},
        )
        return super().form_valid(form)
