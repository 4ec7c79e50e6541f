"""allauth's pages, mounted under /accounts/ after ours (accounts/urls.py): password reset
and change, email addresses, the social sign-up form, GitHub and Kakao login. Built from
allauth's parts rather than `allauth.urls`, to leave out its deprecated, unnamed
/accounts/social/... redirects (every URL of ours has a name and an authorization rule)."""

from allauth.urls import build_provider_urlpatterns
from django.urls import include, path

urlpatterns = [
    path("", include("allauth.account.urls")),
    path("3rdparty/", include("allauth.socialaccount.urls")),
    *build_provider_urlpatterns(),
]
