"""The OAuth stand-in itself: each endpoint's happy path and refusals, in the providers' shapes."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from http.client import HTTPConnection
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from accounts.testing.oauth_standin import OAuthStandIn, Outcome, Provider, ScriptedUser

CALLBACK = "http://testserver/accounts/github/login/callback/"
OCTO = ScriptedUser(
    uid="101", login="octo", name="Octo Cat", email="octo@example.com", email_verified=True
)
HONG = ScriptedUser(uid="2024", nickname="홍길동", email="hong@example.kr", email_verified=True)


@pytest.fixture
def standin() -> Iterator[OAuthStandIn]:
    with OAuthStandIn() as running:
        yield running


def call(
    url: str,
    method: str = "GET",
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request, redirects not followed: (status, headers, body)."""
    parts = urlsplit(url)
    connection = HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    body = urlencode(form) if form is not None else None
    all_headers = dict(headers or {})
    if body is not None:
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        path = f"{parts.path}?{parts.query}" if parts.query else parts.path
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def authorize_url(standin: OAuthStandIn, provider: Provider, **extra: str) -> str:
    base = standin.github_urls() if provider == "github" else standin.kakao_urls()
    params = {
        "client_id": "the-client",
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "state": "s-123",
        "scope": "user:email" if provider == "github" else "account_email profile_nickname",
        **extra,
    }
    return f"{base['authorize_url']}?{urlencode(params)}"


def authorize(standin: OAuthStandIn, provider: Provider, **extra: str) -> dict[str, str]:
    """Authorize and return the query the provider redirected back with."""
    status, headers, _ = call(authorize_url(standin, provider, **extra))
    assert status == 302
    location = urlsplit(headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    return dict(parse_qsl(location.query))


def exchange(
    standin: OAuthStandIn, provider: Provider, code: str, **extra: str
) -> tuple[int, dict[str, str], bytes]:
    token_url = (standin.github_urls() if provider == "github" else standin.kakao_urls())[
        "access_token_url"
    ]
    form = {
        "redirect_uri": CALLBACK,
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "the-client",
        "client_secret": "the-secret",
        **extra,
    }
    return call(token_url, "POST", form, {"Accept": "application/json"})


def token_for(standin: OAuthStandIn, provider: Provider, user: ScriptedUser) -> str:
    standin.next_user(provider, user)
    _, _, body = exchange(standin, provider, authorize(standin, provider)["code"])
    return json.loads(body)["access_token"]


def get_json(url: str, authorization: str) -> tuple[int, object]:
    status, _, body = call(url, headers={"Authorization": authorization})
    return status, json.loads(body)


@pytest.mark.parametrize("provider", ["github", "kakao"])
def test_authorize_redirects_back_with_a_code_and_the_state(standin, provider):
    standin.next_user(provider, OCTO)
    back = authorize(standin, provider)
    assert back["state"] == "s-123"
    assert back["code"]
    assert "error" not in back


def test_the_redirect_keeps_the_callbacks_own_query(standin):
    standin.next_user("github", OCTO)
    status, headers, _ = call(authorize_url(standin, "github", redirect_uri=f"{CALLBACK}?next=/x"))
    assert status == 302
    assert dict(parse_qsl(urlsplit(headers["Location"]).query)).keys() == {"next", "code", "state"}


@pytest.mark.parametrize("provider", ["github", "kakao"])
def test_denied_consent_redirects_back_with_access_denied_and_the_state(standin, provider):
    standin.next_user(provider, ScriptedUser(uid="1", outcome=Outcome.DENY))
    back = authorize(standin, provider)
    assert back["error"] == "access_denied"
    assert back["state"] == "s-123"
    assert "code" not in back


@pytest.mark.parametrize("provider", ["github", "kakao"])
def test_a_bad_state_comes_back_tampered_with_a_code(standin, provider):
    standin.next_user(provider, ScriptedUser(uid="1", outcome=Outcome.BAD_STATE))
    back = authorize(standin, provider)
    assert back["code"]
    assert back["state"] not in ("", "s-123")


def test_authorize_without_a_scripted_user_is_refused(standin):
    status, _, body = call(authorize_url(standin, "github"))
    assert status == 400
    assert b"next_user" in body


def test_scripted_users_are_used_once_each_in_order(standin):
    standin.next_user("kakao", ScriptedUser(uid="1", outcome=Outcome.DENY))
    standin.next_user("kakao", HONG)
    assert authorize(standin, "kakao")["error"] == "access_denied"
    assert "code" in authorize(standin, "kakao")
    assert call(authorize_url(standin, "kakao"))[0] == 400


def test_github_token_is_form_encoded_unless_json_is_asked_for(standin):
    standin.next_user("github", OCTO)
    standin.next_user("github", OCTO)
    token_url = standin.github_urls()["access_token_url"]
    form = {"code": authorize(standin, "github")["code"], "client_id": "the-client"}

    status, headers, body = call(token_url, "POST", form)  # what allauth sends: no Accept
    assert status == 200
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    token = dict(parse_qsl(body.decode()))
    assert token["access_token"].startswith("gho_")
    assert token["token_type"] == "bearer"
    assert token["scope"] == "user:email"

    status, headers, body = exchange(standin, "github", authorize(standin, "github")["code"])
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["access_token"].startswith("gho_")


def test_kakao_token_is_json_with_expiry_and_refresh_token(standin):
    standin.next_user("kakao", HONG)
    status, _, body = exchange(standin, "kakao", authorize(standin, "kakao")["code"])
    assert status == 200
    token = json.loads(body)
    assert token["token_type"] == "bearer"
    assert token["access_token"]
    assert token["refresh_token"]
    assert token["expires_in"] > 0


def test_a_code_works_once(standin):
    standin.next_user("github", OCTO)
    code = authorize(standin, "github")["code"]
    assert "access_token" in json.loads(exchange(standin, "github", code)[2])
    status, _, body = exchange(standin, "github", code)
    assert status == 200  # GitHub's way: the error is in the body
    assert json.loads(body)["error"] == "bad_verification_code"


@pytest.mark.parametrize(
    "change",
    [
        {"code": "not-issued"},
        {"client_id": "another-client"},
        {"redirect_uri": "http://testserver/elsewhere/"},
    ],
)
def test_kakao_token_refuses_what_authorize_did_not_issue(standin, change):
    standin.next_user("kakao", HONG)
    issued = {"code": authorize(standin, "kakao")["code"]}
    status, _, body = exchange(standin, "kakao", **(issued | change))
    assert status == 400
    assert "access_token" not in json.loads(body)


def test_a_code_works_only_at_its_own_provider(standin):
    standin.next_user("github", OCTO)
    status, _, body = exchange(standin, "kakao", authorize(standin, "github")["code"])
    assert status == 400
    assert json.loads(body)["error"] == "invalid_grant"


def test_configured_client_credentials_are_checked_in_the_form_or_basic_auth():
    with OAuthStandIn(clients={"github": ("the-client", "the-secret")}) as standin:
        for _ in range(3):
            standin.next_user("github", OCTO)
        wrong = exchange(standin, "github", authorize(standin, "github")["code"], client_secret="x")
        assert json.loads(wrong[2])["error"] == "incorrect_client_credentials"
        right = exchange(standin, "github", authorize(standin, "github")["code"])
        assert "access_token" in json.loads(right[2])
        basic = base64.b64encode(b"the-client:the-secret").decode()
        status, _, body = call(
            standin.github_urls()["access_token_url"],
            "POST",
            {"code": authorize(standin, "github")["code"]},
            {"Authorization": f"Basic {basic}", "Accept": "application/json"},
        )
        assert status == 200
        assert "access_token" in json.loads(body)


def test_pkce_verifier_must_match_the_challenge(standin):
    verifier = "a-long-enough-code-verifier-for-the-stand-in-0123456789"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    pkce = {"code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256"}
    standin.next_user("github", OCTO)
    standin.next_user("github", OCTO)
    wrong = exchange(standin, "github", authorize(standin, "github", **pkce)["code"])
    assert json.loads(wrong[2])["error"] == "bad_verification_code"
    code = authorize(standin, "github", **pkce)["code"]
    right = exchange(standin, "github", code, code_verifier=verifier)
    assert "access_token" in json.loads(right[2])


def test_github_user_and_emails_in_githubs_shape(standin):
    token = token_for(standin, "github", OCTO)
    urls = standin.github_urls()
    status, user = get_json(urls["profile_url"], f"token {token}")
    assert status == 200
    assert isinstance(user, dict)
    assert user["id"] == 101
    assert user["login"] == "octo"
    assert user["name"] == "Octo Cat"
    assert user["email"] == "octo@example.com"
    assert user["html_url"] == f"{standin.github_url}/octo"
    assert user["avatar_url"].startswith(standin.github_url)
    status, emails = get_json(urls["emails_url"], f"Bearer {token}")
    assert status == 200
    assert emails == [
        {"email": "octo@example.com", "primary": True, "verified": True, "visibility": "public"}
    ]


def test_github_private_unverified_and_missing_emails(standin):
    urls = standin.github_urls()
    private = ScriptedUser(uid="7", login="shy", email="shy@example.com", email_public=False)
    token = token_for(standin, "github", private)
    assert get_json(urls["profile_url"], f"token {token}")[1]["email"] is None
    [email] = get_json(urls["emails_url"], f"token {token}")[1]
    assert email["email"] == "shy@example.com"
    assert email["verified"] is False
    assert email["visibility"] == "private"

    token = token_for(standin, "github", ScriptedUser(uid="8", login="nomail"))
    assert get_json(urls["profile_url"], f"token {token}")[1]["email"] is None
    assert get_json(urls["emails_url"], f"token {token}") == (200, [])


def test_github_emails_need_the_user_email_scope(standin):
    standin.next_user("github", OCTO)
    code = authorize(standin, "github", scope="read:user")["code"]
    token = json.loads(exchange(standin, "github", code)[2])["access_token"]
    status, body = get_json(standin.github_urls()["emails_url"], f"token {token}")
    assert status == 404
    assert body == {"message": "Not Found"}


def test_kakao_profile_in_kakaos_shape_with_a_korean_nickname(standin):
    token = token_for(standin, "kakao", HONG)
    status, profile = get_json(standin.kakao_urls()["profile_url"], f"Bearer {token}")
    assert status == 200
    assert isinstance(profile, dict)
    assert profile["id"] == 2024
    assert profile["properties"]["nickname"] == "홍길동"
    account = profile["kakao_account"]
    assert account["profile"]["nickname"] == "홍길동"
    assert account["email"] == "hong@example.kr"
    assert account["is_email_valid"] is True
    assert account["is_email_verified"] is True


def test_kakao_profile_without_email_or_nickname(standin):
    token = token_for(standin, "kakao", ScriptedUser(uid="9"))
    _, profile = get_json(standin.kakao_urls()["profile_url"], f"Bearer {token}")
    assert isinstance(profile, dict)
    account = profile["kakao_account"]
    assert account["has_email"] is False
    assert "email" not in account
    assert "profile" not in account
    assert account["profile_nickname_needs_agreement"] is True


def test_wrong_tokens_are_refused(standin):
    github_token = token_for(standin, "github", OCTO)
    kakao_token = token_for(standin, "kakao", HONG)
    github_user, kakao_profile = (
        standin.github_urls()["profile_url"],
        standin.kakao_urls()["profile_url"],
    )
    assert get_json(github_user, "token not-a-token")[0] == 401
    assert get_json(github_user, f"token {kakao_token}")[0] == 401
    assert call(github_user)[0] == 401
    assert get_json(standin.github_urls()["emails_url"], "token nope")[0] == 401
    assert get_json(kakao_profile, "Bearer not-a-token") == (
        401,
        {"msg": "this access token does not exist", "code": -401},
    )
    assert get_json(kakao_profile, f"Bearer {github_token}")[0] == 401
    assert get_json(kakao_profile, f"token {kakao_token}")[0] == 401  # Kakao wants Bearer


def test_requests_are_recorded_for_assertions(standin):
    token = token_for(standin, "kakao", HONG)
    get_json(standin.kakao_urls()["profile_url"], f"Bearer {token}")
    call(f"{standin.base_url}/nowhere")
    assert [(r.provider, r.endpoint, r.method) for r in standin.requests] == [
        ("kakao", "authorize", "GET"),
        ("kakao", "token", "POST"),
        ("kakao", "profile", "GET"),
        ("nowhere", "unknown", "GET"),
    ]
    [token_request] = standin.requests_for("kakao", "token")
    assert token_request.form["client_secret"] == "the-secret"
    assert standin.requests_for("kakao", "profile")[0].headers["authorization"] == f"Bearer {token}"
    standin.reset()
    assert standin.requests == []


def test_unknown_paths_and_wrong_methods_are_refused(standin):
    assert call(f"{standin.base_url}/github/api/v3/repos")[0] == 404
    assert call(standin.github_urls()["access_token_url"])[0] == 405


def test_start_and_stop_without_a_with_block():
    standin = OAuthStandIn().start()
    try:
        assert standin.github_url.startswith("http://127.0.0.1:")
        assert call(f"{standin.base_url}/nowhere")[0] == 404
    finally:
        standin.stop()
    with pytest.raises(RuntimeError):
        standin.base_url  # noqa: B018
