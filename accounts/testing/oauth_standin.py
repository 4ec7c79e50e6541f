"""A loopback stand-in for the GitHub and Kakao OAuth2 providers, for tests only.

Tests never reach the internet, yet django-allauth's GitHub and Kakao adapters must go through a
whole login: the authorize redirect, the code-for-token exchange and the profile (and GitHub's
e-mail) look-ups. `OAuthStandIn` is a small threaded HTTP server on 127.0.0.1 that speaks just
enough of both providers for that, in their real response shapes:

    with OAuthStandIn() as standin:
        standin.next_user("github", ScriptedUser(uid="101", login="octo", name="Octo Cat",
                                                 email="octo@example.com", email_verified=True))
        with patch_allauth_adapters(standin):
            ...  # log in through allauth as usual
        assert standin.requests_for("github", "token")

GitHub is served in its Enterprise shape under `standin.github_url` (allauth's
SOCIALACCOUNT_PROVIDERS["github"]["GITHUB_URL"]): `/login/oauth/authorize`,
`/login/oauth/access_token`, `/api/v3/user` and `/api/v3/user/emails`. Kakao's paths are served
under `{base_url}/kakao` (see `kakao_urls()`): `/oauth/authorize`, `/oauth/token`, `/v2/user/me`.

The authorize endpoint shows no page: it redirects straight back to `redirect_uri` with a fresh
code and the state it was given, or with `error=access_denied` or a tampered state when the
scripted user says so (`Outcome`). Codes are single-use and bound to the client_id, redirect_uri
and PKCE challenge given at authorize; access tokens work only on their own provider's API.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

Provider = Literal["github", "kakao"]
PROVIDERS: tuple[Provider, ...] = ("github", "kakao")

# Path under the stand-in -> (provider, endpoint). Endpoint names are what `requests_for` takes.
_ROUTES: dict[str, tuple[Provider, str]] = {
    "/github/login/oauth/authorize": ("github", "authorize"),
    "/github/login/oauth/access_token": ("github", "token"),
    "/github/api/v3/user": ("github", "user"),
    "/github/api/v3/user/emails": ("github", "emails"),
    "/kakao/oauth/authorize": ("kakao", "authorize"),
    "/kakao/oauth/token": ("kakao", "token"),
    "/kakao/v2/user/me": ("kakao", "profile"),
}
_METHODS = {"authorize": {"GET"}, "token": {"POST"}, "user": {"GET"}, "emails": {"GET"}}
_METHODS["profile"] = {"GET", "POST"}  # Kakao takes either

_TIMESTAMP = "2026-01-01T00:00:00Z"


class Outcome(StrEnum):
    """What the scripted user does on the provider's consent screen."""

    GRANT = "grant"  # redirect back with a code and the state given
    DENY = "deny"  # redirect back with error=access_denied and the state given
    BAD_STATE = "bad_state"  # redirect back with a code but a state allauth never issued


@dataclass(frozen=True)
class ScriptedUser:
    """Who logs in next at the stand-in, and how.

    `uid` is the provider's account id (GitHub's and Kakao's are numbers; digits are sent as
    one). `login` and `name` are GitHub's; `nickname` is Kakao's (any script, e.g. "홍길동"),
    and a Kakao user without one has not agreed to share it. `email=None` is a user without
    an e-mail address. `email_public=False` is a GitHub user whose address is private: `/user`
    says `"email": null` and only `/user/emails` has it. `email_valid` is Kakao's
    `is_email_valid` (False: an address that no longer receives mail).
    """

    uid: str
    login: str = ""
    name: str | None = None
    nickname: str | None = None
    email: str | None = None
    email_verified: bool = False
    email_public: bool = True
    email_valid: bool = True
    outcome: Outcome = Outcome.GRANT


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stand-in received: header names in lower case, endpoint "unknown" for a
    path the stand-in does not serve."""

    provider: str
    endpoint: str
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True)
class _Grant:
    provider: Provider
    user: ScriptedUser
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str


@dataclass
class _Reply:
    status: HTTPStatus
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: HTTPStatus, data: Any) -> _Reply:
    body = json.dumps(data, ensure_ascii=False).encode()
    return _Reply(status, body, {"Content-Type": "application/json; charset=utf-8"})


def _text(status: HTTPStatus, message: str) -> _Reply:
    return _Reply(status, message.encode(), {"Content-Type": "text/plain; charset=utf-8"})


def _redirect(uri: str, params: dict[str, str]) -> _Reply:
    parts = urlsplit(uri)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return _Reply(HTTPStatus.FOUND, headers={"Location": urlunsplit(parts._replace(query=query))})


def _number(uid: str) -> int | str:
    return int(uid) if uid.isdigit() else uid


def _pkce_matches(grant: _Grant, verifier: str) -> bool:
    if not grant.code_challenge:
        return True
    if grant.code_challenge_method.upper() == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        expected = verifier
    return secrets.compare_digest(expected, grant.code_challenge)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret


class OAuthStandIn:
    """The stand-in server: `with OAuthStandIn() as standin:`, or `start()` and `stop()`.

    `clients` optionally maps a provider to the (client_id, secret) its token endpoint must be
    given; without it the token endpoint checks only that the client_id matches authorize's.
    """

    def __init__(
        self, *, port: int = 0, clients: Mapping[Provider, tuple[str, str]] | None = None
    ) -> None:
        self._port = port
        self._clients = dict(clients or {})
        self._lock = threading.Lock()
        self._queues: dict[Provider, deque[ScriptedUser]] = defaultdict(deque)
        self._grants: dict[str, _Grant] = {}
        self._tokens: dict[str, _Grant] = {}
        self._requests: list[RecordedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("the OAuth stand-in is already running")
        self._server = _Server(("127.0.0.1", self._port), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="oauth-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- where it is -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("start the OAuth stand-in first")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def github_url(self) -> str:
        """What SOCIALACCOUNT_PROVIDERS["github"]["GITHUB_URL"] should be."""
        return f"{self.base_url}/github"

    def github_urls(self) -> dict[str, str]:
        """The URLs allauth's GitHubOAuth2Adapter derives from GITHUB_URL, by its attribute."""
        web, api = self.github_url, f"{self.github_url}/api/v3"
        return {
            "web_url": web,
            "api_url": api,
            "authorize_url": f"{web}/login/oauth/authorize",
            "access_token_url": f"{web}/login/oauth/access_token",
            "profile_url": f"{api}/user",
            "emails_url": f"{api}/user/emails",
        }

    def kakao_urls(self) -> dict[str, str]:
        """Kakao's authorize, token and profile URLs, by KakaoOAuth2Adapter's attribute names."""
        base = f"{self.base_url}/kakao"
        return {
            "authorize_url": f"{base}/oauth/authorize",
            "access_token_url": f"{base}/oauth/token",
            "profile_url": f"{base}/v2/user/me",
        }

    # -- scripting and assertions --------------------------------------------------------------

    def next_user(self, provider: Provider, user: ScriptedUser) -> None:
        """Queue who logs in at `provider`'s next authorize request (one per request)."""
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; the stand-in serves {PROVIDERS}")
        with self._lock:
            self._queues[provider].append(user)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, provider: str, endpoint: str | None = None) -> list[RecordedRequest]:
        """Requests received for `provider` (and one endpoint of it: authorize, token, user,
        emails or profile), oldest first."""
        return [
            r for r in self.requests if r.provider == provider and endpoint in (None, r.endpoint)
        ]

    def reset(self) -> None:
        """Forget the queued users, issued codes and tokens and the recorded requests."""
        with self._lock:
            self._queues.clear()
            self._grants.clear()
            self._tokens.clear()
            self._requests.clear()

    # -- the protocol --------------------------------------------------------------------------

    def _handle(self, request: RecordedRequest) -> _Reply:
        with self._lock:
            self._requests.append(request)
        if request.endpoint == "unknown":
            return _text(HTTPStatus.NOT_FOUND, f"the OAuth stand-in serves no {request.path}")
        if request.method not in _METHODS[request.endpoint]:
            return _text(HTTPStatus.METHOD_NOT_ALLOWED, f"{request.method} {request.path}")
        provider: Provider = "github" if request.provider == "github" else "kakao"
        if request.endpoint == "authorize":
            return self._authorize(provider, request.query)
        if request.endpoint == "token":
            return self._token(provider, request.form, request.headers)
        grant = self._grant_for_token(provider, request.headers.get("authorization", ""))
        if grant is None:
            if provider == "github":
                return _json(
                    HTTPStatus.UNAUTHORIZED,
                    {
                        "message": "Bad credentials",
                        "documentation_url": "https://docs.github.com/rest",
                    },
                )
            return _json(
                HTTPStatus.UNAUTHORIZED, {"msg": "this access token does not exist", "code": -401}
            )
        if request.endpoint == "user":
            return _json(HTTPStatus.OK, self._github_user(grant.user))
        if request.endpoint == "emails":
            scopes = set(grant.scope.replace(",", " ").split())
            if not scopes & {"user", "user:email"}:
                # GitHub hides the endpoint from a token without the scope.
                return _json(HTTPStatus.NOT_FOUND, {"message": "Not Found"})
            return _json(HTTPStatus.OK, self._github_emails(grant.user))
        return _json(HTTPStatus.OK, self._kakao_profile(grant.user))

    def _authorize(self, provider: Provider, query: Mapping[str, str]) -> _Reply:
        redirect_uri, client_id = query.get("redirect_uri", ""), query.get("client_id", "")
        if not redirect_uri or not client_id or query.get("response_type", "code") != "code":
            return _text(
                HTTPStatus.BAD_REQUEST,
                "authorize needs client_id, redirect_uri and response_type=code",
            )
        with self._lock:
            queue = self._queues[provider]
            user = queue.popleft() if queue else None
        if user is None:
            return _text(
                HTTPStatus.BAD_REQUEST, f"no scripted user for {provider}: call next_user()"
            )
        state = {"state": query["state"]} if "state" in query else {}
        if user.outcome is Outcome.DENY:
            description = "The user has denied your application access."
            return _redirect(
                redirect_uri, {"error": "access_denied", "error_description": description, **state}
            )
        code = secrets.token_urlsafe(16)
        grant = _Grant(
            provider=provider,
            user=user,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=query.get("scope", ""),
            code_challenge=query.get("code_challenge", ""),
            code_challenge_method=query.get("code_challenge_method", "plain"),
        )
        with self._lock:
            self._grants[code] = grant
        if user.outcome is Outcome.BAD_STATE:
            state = {"state": f"tampered-{secrets.token_urlsafe(8)}"}
        return _redirect(redirect_uri, {"code": code, **state})

    def _token(
        self, provider: Provider, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> _Reply:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if basic := _basic_credentials(headers.get("authorization", "")):
            client_id, secret = basic
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # a code works once
        error = ""
        if form.get("grant_type", "authorization_code") != "authorization_code":
            error = "unsupported_grant_type"
        elif grant is None or grant.provider != provider:
            error = "bad_verification_code"
        elif client_id != grant.client_id or (
            provider in self._clients and (client_id, secret) != self._clients[provider]
        ):
            error = "incorrect_client_credentials"
        elif form.get("redirect_uri", grant.redirect_uri) != grant.redirect_uri:
            error = "redirect_uri_mismatch"
        elif not _pkce_matches(grant, form.get("code_verifier", "")):
            error = "bad_verification_code"
        if error or grant is None:
            return self._token_error(provider, error, headers)
        token = ("gho_" if provider == "github" else "") + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = grant
        if provider == "kakao":
            return _json(
                HTTPStatus.OK,
                {
                    "token_type": "bearer",
                    "access_token": token,
                    "expires_in": 21599,
                    "refresh_token": secrets.token_urlsafe(24),
                    "refresh_token_expires_in": 5183999,
                    "scope": grant.scope,
                },
            )
        data = {
            "access_token": token,
            "scope": grant.scope.replace(" ", ","),
            "token_type": "bearer",
        }
        return self._github_form_or_json(data, headers)

    def _token_error(self, provider: Provider, error: str, headers: Mapping[str, str]) -> _Reply:
        description = f"The OAuth stand-in refused the token request: {error}."
        if provider == "kakao":
            client = error == "incorrect_client_credentials"
            kakao_error = "invalid_client" if client else "invalid_grant"
            return _json(
                HTTPStatus.BAD_REQUEST, {"error": kakao_error, "error_description": description}
            )
        # GitHub answers a refused exchange with 200 and the error in the body.
        return self._github_form_or_json(
            {"error": error, "error_description": description}, headers
        )

    @staticmethod
    def _github_form_or_json(data: dict[str, str], headers: Mapping[str, str]) -> _Reply:
        if "application/json" in headers.get("accept", ""):
            return _json(HTTPStatus.OK, data)
        content_type = "application/x-www-form-urlencoded; charset=utf-8"
        return _Reply(HTTPStatus.OK, urlencode(data).encode(), {"Content-Type": content_type})

    def _grant_for_token(self, provider: Provider, authorization: str) -> _Grant | None:
        scheme, _, token = authorization.partition(" ")
        schemes = {"token", "bearer"} if provider == "github" else {"bearer"}
        if scheme.lower() not in schemes:
            return None
        with self._lock:
            grant = self._tokens.get(token.strip())
        return grant if grant is not None and grant.provider == provider else None

    # -- the providers' shapes -----------------------------------------------------------------

    def _github_user(self, user: ScriptedUser) -> dict[str, Any]:
        api = f"{self.github_url}/api/v3"
        return {
            "login": user.login,
            "id": _number(user.uid),
            "node_id": f"U_standin{user.uid}",
            "avatar_url": f"{self.github_url}/avatars/u/{user.uid}",
            "gravatar_id": "",
            "url": f"{api}/users/{user.login}",
            "html_url": f"{self.github_url}/{user.login}",
            "type": "User",
            "site_admin": False,
            "name": user.name,
            "company": None,
            "blog": "",
            "location": None,
            "email": user.email if user.email_public else None,
            "hireable": None,
            "bio": None,
            "public_repos": 0,
            "followers": 0,
            "following": 0,
            "created_at": _TIMESTAMP,
            "updated_at": _TIMESTAMP,
        }

    @staticmethod
    def _github_emails(user: ScriptedUser) -> list[dict[str, Any]]:
        if user.email is None:
            return []
        visibility = "public" if user.email_public else "private"
        return [
            {
                "email": user.email,
                "primary": True,
                "verified": user.email_verified,
                "visibility": visibility,
            }
        ]

    @staticmethod
    def _kakao_profile(user: ScriptedUser) -> dict[str, Any]:
        account: dict[str, Any] = {"profile_nickname_needs_agreement": user.nickname is None}
        properties: dict[str, str] = {}
        if user.nickname is not None:
            account["profile"] = {"nickname": user.nickname, "is_default_nickname": False}
            properties["nickname"] = user.nickname
        account["has_email"] = user.email is not None
        if user.email is not None:
            account |= {
                "email_needs_agreement": False,
                "is_email_valid": user.email_valid,
                "is_email_verified": user.email_verified,
                "email": user.email,
            }
        return {
            "id": _number(user.uid),
            "connected_at": _TIMESTAMP,
            "properties": properties,
            "kakao_account": account,
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], standin: OAuthStandIn
    ) -> None:
        super().__init__(address, handler)
        self.standin = standin


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the recorded requests are the log

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        is_form = self.headers.get_content_type() == "application/x-www-form-urlencoded"
        first_segment = url.path.strip("/").split("/")[0]
        provider, endpoint = _ROUTES.get(url.path, (first_segment, "unknown"))
        request = RecordedRequest(
            provider=provider,
            endpoint=endpoint,
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            form=dict(parse_qsl(body, keep_blank_values=True)) if is_form else {},
            headers={name.lower(): value for name, value in self.headers.items()},
        )
        reply = self.server.standin._handle(request)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)


@contextmanager
def patch_allauth_adapters(standin: OAuthStandIn) -> Iterator[None]:
    """Point allauth's GitHub and Kakao adapters at `standin` for the duration.

    GitHubOAuth2Adapter reads GITHUB_URL once, when its module is imported, so overriding
    SOCIALACCOUNT_PROVIDERS in a test does not move it; KakaoOAuth2Adapter has no setting at all.
    This sets the adapters' URL class attributes and puts the originals back afterwards.
    """
    from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter
    from allauth.socialaccount.providers.kakao.views import KakaoOAuth2Adapter

    targets = [
        (GitHubOAuth2Adapter, standin.github_urls()),
        (KakaoOAuth2Adapter, standin.kakao_urls()),
    ]
    saved = [(cls, {name: vars(cls)[name] for name in urls}) for cls, urls in targets]
    for cls, urls in targets:
        for name, url in urls.items():
            setattr(cls, name, url)
    try:
        yield
    finally:
        for cls, originals in saved:
            for name, value in originals.items():
                setattr(cls, name, value)
