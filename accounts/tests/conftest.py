"""Social login without the network: the OAuth stand-in (accounts/testing/oauth_standin.py)
as GitHub and Kakao, providers configured to use it, and the whole redirect dance through
allauth's real views with the Django test client (`social_login`).

The browser tests (accounts/tests/test_browser.py) use the same stand-in and providers; the
browser follows the redirects itself.
"""

from __future__ import annotations

import copy
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.test import Client

from accounts.testing.oauth_standin import (
    OAuthStandIn,
    Provider,
    ScriptedUser,
    patch_allauth_adapters,
)
from sessions_app.tests.conftest import asgi_live_server  # noqa: F401 (the browser tests')

CLIENTS: dict[Provider, tuple[str, str]] = {
    "github": ("stepwise-github-client", "stepwise-github-secret"),
    "kakao": ("stepwise-kakao-rest-key", "stepwise-kakao-secret"),
}

OCTO = ScriptedUser(
    uid="101", login="octo", name="Octo Cat", email="octo@example.com", email_verified=True
)
HONG = ScriptedUser(uid="2024", nickname="홍길동", email="hong@example.kr", email_verified=True)


@pytest.fixture(scope="session")
def _standin_server() -> Iterator[OAuthStandIn]:
    with OAuthStandIn(clients=CLIENTS) as running:
        yield running


@pytest.fixture
def oauth_standin(_standin_server) -> Iterator[OAuthStandIn]:
    """GitHub and Kakao on 127.0.0.1 (one server for the whole run, reset for each test)."""
    _standin_server.reset()
    yield _standin_server
    _standin_server.reset()


def providers_setting(base: dict, providers: tuple[Provider, ...]) -> dict:
    """SOCIALACCOUNT_PROVIDERS from `base` with an app (the stand-in's client) for each of
    `providers`, and none for the others."""
    configured = copy.deepcopy(base)
    for provider in ("github", "kakao"):
        configured.setdefault(provider, {}).pop("APPS", None)
    for provider in providers:
        client_id, secret = CLIENTS[provider]
        configured[provider]["APPS"] = [{"client_id": client_id, "secret": secret}]
    return configured


@pytest.fixture
def social_providers(settings, oauth_standin) -> Iterator[OAuthStandIn]:
    """GitHub and Kakao configured (apps from settings, as the environment gives them) and
    allauth's adapters pointed at the stand-in; yields the stand-in to script users on."""
    settings.SOCIALACCOUNT_PROVIDERS = providers_setting(
        settings.SOCIALACCOUNT_PROVIDERS, ("github", "kakao")
    )
    with patch_allauth_adapters(oauth_standin):
        yield oauth_standin


@pytest.fixture
def no_social_providers(settings):
    """Neither provider has an app (whatever the environment of this run says)."""
    settings.SOCIALACCOUNT_PROVIDERS = providers_setting(settings.SOCIALACCOUNT_PROVIDERS, ())


def follow_provider_redirect(location: str) -> str:
    """GET the stand-in's authorize URL as a browser would and return where it sends the
    browser back to (our callback, with `code` and `state` or an `error`)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        response = opener.open(location, timeout=5)
    except urllib.error.HTTPError as exc:  # a 302 is "an error" once redirects are not followed
        if exc.code != 302:
            raise AssertionError(f"the stand-in answered {exc.code}: {exc.read()!r}") from exc
        return exc.headers["Location"]
    raise AssertionError(f"the stand-in did not redirect back: {response.status}")


@dataclass
class Dance:
    """What one social login went through: allauth's redirect to the provider, the
    provider's redirect back, and our callback's answer (not followed)."""

    start: object
    authorize_url: str
    callback_url: str
    response: object

    @property
    def location(self) -> str:
        return self.response["Location"]


def social_login(
    client: Client,
    standin: OAuthStandIn,
    provider: Provider,
    user: ScriptedUser | None,
    *,
    next_url: str | None = None,
    process: str = "login",
    start_url: str | None = None,
) -> Dance:
    """The whole redirect dance: POST to /accounts/<provider>/login/ (with `next` and
    `process`; or to `start_url`, a button's form action, as it is), GET the provider's
    authorize URL from its Location (scripted `user` at the stand-in; None when one is
    already queued), then GET our callback with the query the provider sent back, in the
    same client. Returns the steps; the callback's answer is not followed."""
    if user is not None:
        standin.next_user(provider, user)
    data = {"process": process}
    if next_url is not None:
        data["next"] = next_url
    if start_url is not None:
        start = client.post(start_url)
    else:
        start = client.post(f"/accounts/{provider}/login/", data)
    assert start.status_code == 302, (start.status_code, start.content[:500])
    authorize_url = start["Location"]
    assert authorize_url.startswith(f"{standin.base_url}/{provider}/"), authorize_url
    back = urlsplit(follow_provider_redirect(authorize_url))
    assert back.path == f"/accounts/{provider}/login/callback/", back
    response = client.get(f"{back.path}?{back.query}")
    return Dance(
        start=start,
        authorize_url=authorize_url,
        callback_url=f"{back.path}?{back.query}",
        response=response,
    )


@pytest.fixture
def social_dance(social_providers):
    """`social_dance(client, provider, user, next_url=..., process=...)`: `social_login`
    against the configured stand-in."""

    def dance(client, provider, user, **kwargs) -> Dance:
        return social_login(client, social_providers, provider, user, **kwargs)

    return dance
