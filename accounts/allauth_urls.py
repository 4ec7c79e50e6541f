"""allauth's pages, mounted under /accounts/ after ours (accounts/urls.py): password reset
and change, email addresses, the social sign-up form, GitHub and Kakao login.

Built from allauth's parts rather than `allauth.urls`, to leave out its deprecated,
unnamed /accounts/social/... redirects (every URL of ours has a name and an
authorization rule), and so that a provider this site has no app for answers 404:
allauth lets SocialApp.DoesNotExist through, a 500.
"""

import functools

from allauth.socialaccount.models import SocialApp
from allauth.urls import build_provider_urlpatterns
from django.http import Http404
from django.urls import URLPattern, URLResolver, include, path
from django.utils.translation import gettext


def _not_set_up_is_404(view):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except SocialApp.DoesNotExist as exc:
            raise Http404(gettext("This way to log in is not set up on this site.")) from exc

    return wrapped


def _guarded(patterns: list) -> list:
    guarded = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = _guarded(pattern.url_patterns)
            guarded.append(URLResolver(pattern.pattern, inner))
        elif isinstance(pattern, URLPattern):
            view = _not_set_up_is_404(pattern.callback)
            guarded.append(URLPattern(pattern.pattern, view, pattern.default_args, pattern.name))
    return guarded


urlpatterns = [
    path("", include("allauth.account.urls")),
    path("3rdparty/", include("allauth.socialaccount.urls")),
    *_guarded(build_provider_urlpatterns()),
]
