from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.utils.http import url_has_allowed_host_and_scheme
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


@auth_ratelimit("accounts.login")
class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


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
        return context
