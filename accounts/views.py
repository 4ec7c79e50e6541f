from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.generic import FormView

from accounts.forms import SignupForm
from accounts.services import user_create
from accounts.throttling import auth_ratelimit


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


@auth_ratelimit("accounts.login")
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

    def form_valid(self, form):
        user = user_create(
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password1"],
            email=form.cleaned_data.get("email") or "",
        )
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        self.success_url = safe_next_url(self.request)
        return super().form_valid(form)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["next"] = safe_next_url(self.request, fallback="")
        context["reason"] = signup_reason(context["next"])
        return context
