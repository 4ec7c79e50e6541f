"""Every URL of the project, every method it serves, as four people: anonymous, the
owner of a session, another member (the outsider) and staff.

A URL pattern without a rule here fails `test_every_url_has_a_rule`: a new URL must
say who may do what before it can land.
"""

import json
from urllib.parse import urlencode

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from knowledge.models import Passage
from sessions_app.tests.factories import make_session

ROLES = ("anon", "owner", "other", "staff")
LOGIN = 302  # a page that needs login redirects to /accounts/login/?next=...


def same(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def members(anon: int, member: int) -> dict[str, int]:
    return {"anon": anon, "owner": member, "other": member, "staff": member}


def owner_only(anon: int, owner: int) -> dict[str, int]:
    return {"anon": anon, "owner": owner, "other": 403, "staff": 403}


# name -> method -> (request body, expected status by role)
RULES: dict[str, dict[str, tuple[dict | None, dict[str, int]]]] = {
    # Pages
    "sessions:gallery": {"GET": (None, same(200)), "POST": (None, same(405))},
    "sessions:new": {"GET": (None, members(LOGIN, 200)), "POST": ({}, members(LOGIN, 400))},
    "sessions:mine": {"GET": (None, members(LOGIN, 200))},
    "sessions:detail": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "sessions:export": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "sessions:message-create": {
        "POST": ({"content": "hi"}, owner_only(LOGIN, 302)),
        "GET": (None, members(LOGIN, 405)),
    },
    "sessions:retry": {"POST": ({}, owner_only(LOGIN, 302)), "GET": (None, members(LOGIN, 405))},
    # On the session's last reply: regenerated (302 to it), or nothing to continue (302).
    "sessions:message-continue": {
        "POST": ({}, owner_only(LOGIN, 302)),
        "GET": (None, members(LOGIN, 405)),
    },
    "sessions:message-regenerate": {
        "POST": ({}, owner_only(LOGIN, 302)),
        "GET": (None, members(LOGIN, 405)),
    },
    "sessions:delete": {
        "GET": (None, owner_only(LOGIN, 200)),
        "POST": ({}, owner_only(LOGIN, 302)),
    },
    # A member who is logged in is sent on from the login and sign-up pages (allauth).
    "accounts:signup": {"GET": (None, members(200, 302)), "POST": ({}, members(200, 302))},
    "accounts:login": {"GET": (None, members(200, 302)), "POST": ({}, members(200, 302))},
    "accounts:logout": {"GET": (None, same(405)), "POST": ({}, same(302))},
    # API
    "auth-api:signup": {"POST": ({}, same(400)), "GET": (None, same(405))},
    "auth-api:token": {"POST": ({}, same(400)), "GET": (None, same(405))},
    "auth-api:logout": {"POST": ({}, members(401, 204)), "GET": (None, members(401, 405))},
    "coach-api:coach-list": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "coach-api:quota": {"GET": (None, members(401, 200)), "POST": ({}, members(401, 405))},
    "sessions-api:session-list": {"GET": (None, same(200)), "POST": ({}, members(401, 400))},
    "sessions-api:session-detail": {
        "GET": (None, same(200)),
        "DELETE": (None, owner_only(401, 204)),
        "PUT": ({}, members(401, 405)),
        "PATCH": ({}, members(401, 405)),
    },
    "sessions-api:message-create": {
        "POST": ({"content": "hi"}, owner_only(401, 201)),
        "GET": (None, members(401, 405)),
    },
    "sessions-api:retry": {"POST": ({}, owner_only(401, 409)), "GET": (None, members(401, 405))},
    # A reply: anyone may follow it (a finished one answers at once); the owner stops it
    # (409 here: it is not being written).
    "sessions-api:message-stream": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "sessions-api:message-stop": {
        "POST": ({}, owner_only(401, 409)),
        "GET": (None, members(401, 405)),
    },
    # A message (an earlier version too) is public; the owner continues the last reply
    # when it was cut short (409 here: it was not) or writes it again.
    "sessions-api:message-detail": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "sessions-api:message-continue": {
        "POST": ({}, owner_only(401, 409)),
        "GET": (None, members(401, 405)),
    },
    "sessions-api:message-regenerate": {
        "POST": ({}, owner_only(401, 201)),
        "GET": (None, members(401, 405)),
    },
    "api-schema": {"GET": (None, same(200))},
    "api-docs": {"GET": (None, same(200))},
    # Django's set_language: POST sets the language cookie (when the code is valid) and
    # redirects to `next`; GET changes nothing and redirects too. Anyone may switch.
    "set_language": {"POST": ({}, same(302)), "GET": (None, same(302))},
    # Anyone may report a session (the owner is told to delete it instead: 400 too).
    "sessions:report": {"GET": (None, same(200)), "POST": ({}, same(400))},
    "sessions-api:session-report": {"POST": ({}, same(400)), "GET": (None, same(405))},
    # A member's own account: the page and GET/PATCH /api/auth/me/.
    "accounts:account": {"GET": (None, members(LOGIN, 200)), "POST": ({}, members(LOGIN, 200))},
    "auth-api:me": {
        "GET": (None, members(401, 200)),
        "PATCH": ({}, members(401, 200)),
        "PUT": ({}, members(401, 405)),
        "POST": ({}, members(401, 405)),
    },
    "accounts:account-old": {"GET": (None, same(301)), "POST": ({}, same(301))},
    "accounts:delete": {
        "GET": (None, members(LOGIN, 200)),
        "POST": ({}, members(LOGIN, 200)),  # the confirmation is missing: the form again
    },
    # Disconnecting a social login: the form answers on the account page; GET goes there.
    "accounts:connections": {"GET": (None, same(302)), "POST": ({}, members(LOGIN, 200))},
    "api-me": {
        "GET": (None, members(401, 200)),
        "PATCH": ({}, members(401, 200)),
        "DELETE": ({}, members(401, 400)),  # no confirmation: nothing is deleted
        "POST": ({}, members(401, 405)),
    },
    # allauth's pages. account_login, account_signup and account_logout are the same
    # paths as ours above (ours come first and serve them).
    "account_login": {"GET": (None, members(200, 302)), "POST": ({}, members(200, 302))},
    "account_signup": {"GET": (None, members(200, 302)), "POST": ({}, members(200, 302))},
    "account_logout": {"GET": (None, same(405)), "POST": ({}, same(302))},
    "account_change_password": {
        "GET": (None, members(LOGIN, 200)),
        "POST": ({}, members(LOGIN, 200)),
    },
    # Only for an account without a password (a social sign-up); others go to "change".
    "account_set_password": {"GET": (None, same(302)), "POST": ({}, same(302))},
    "account_email": {"GET": (None, members(LOGIN, 200)), "POST": ({}, members(LOGIN, 302))},
    "account_confirm_email": {"GET": (None, same(200)), "POST": ({}, same(404))},
    "account_email_verification_sent": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "account_inactive": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "account_reset_password": {"GET": (None, same(200)), "POST": ({}, same(200))},
    "account_reset_password_done": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "account_reset_password_from_key": {"GET": (None, same(200)), "POST": ({}, same(200))},
    "account_reset_password_from_key_done": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "account_reauthenticate": {
        "GET": (None, members(LOGIN, 200)),
        "POST": ({}, members(LOGIN, 200)),
    },
    # Login and reauthentication by code are off: these send everyone on.
    "account_confirm_login_code": {"GET": (None, same(302)), "POST": ({}, same(302))},
    "account_confirm_reauthentication_code": {"GET": (None, same(302)), "POST": ({}, same(302))},
    "account_request_reauthentication_code": {"GET": (None, same(302)), "POST": ({}, same(302))},
    "socialaccount_connections": {"GET": (None, same(302)), "POST": ({}, members(LOGIN, 200))},
    "socialaccount_login_cancelled": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "socialaccount_login_error": {"GET": (None, same(401)), "POST": ({}, same(405))},
    # Only in the middle of a social sign-up; without one, back to the login page.
    "socialaccount_signup": {"GET": (None, same(302)), "POST": ({}, same(302))},
    # A provider without an app (none here) is not there.
    "github_login": {"GET": (None, same(404)), "POST": ({}, same(404))},
    "github_callback": {"GET": (None, same(404)), "POST": ({}, same(404))},
    "kakao_login": {"GET": (None, same(404)), "POST": ({}, same(404))},
    "kakao_callback": {"GET": (None, same(404)), "POST": ({}, same(404))},
    # allauth's headless API, app client: it reads X-Session-Token, never the browser's
    # session, so every role here is anonymous to it.
    "headless:app:config": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "headless:app:account:login": {"GET": (None, same(405)), "POST": ({}, same(400))},
    "headless:app:account:signup": {"GET": (None, same(405)), "POST": ({}, same(400))},
    "headless:app:account:current_session": {"GET": (None, same(401)), "DELETE": ({}, same(401))},
    "headless:app:account:change_password": {"GET": (None, same(401)), "POST": ({}, same(401))},
    "headless:app:account:manage_email": {"GET": (None, same(401)), "POST": ({}, same(409))},
    "headless:app:account:reauthenticate": {"GET": (None, same(401)), "POST": ({}, same(401))},
    "headless:app:account:request_password_reset": {
        "GET": (None, same(405)),
        "POST": ({}, same(400)),
    },
    "headless:app:account:reset_password": {"GET": (None, same(400)), "POST": ({}, same(400))},
    "headless:app:account:verify_email": {"GET": (None, same(400)), "POST": ({}, same(400))},
    "headless:app:account:resend_email_verification_code": {
        "GET": (None, same(405)),
        "POST": ({}, same(409)),
    },
    "headless:app:account:confirm_login_code": {
        "GET": (None, same(409)),
        "POST": ({}, same(409)),
    },
    "headless:app:account:request_reauthentication_code": {
        "GET": (None, same(401)),
        "POST": ({}, same(401)),
    },
    "headless:app:account:confirm_reauthentication_code": {
        "GET": (None, same(401)),
        "POST": ({}, same(401)),
    },
    "headless:app:account:resend_reauthentication_code": {
        "GET": (None, same(401)),
        "POST": ({}, same(401)),
    },
    "headless:app:socialaccount:manage_providers": {
        "GET": (None, same(401)),
        "POST": ({}, same(401)),
    },
    "headless:app:socialaccount:provider_signup": {
        "GET": (None, same(409)),
        "POST": ({}, same(409)),
    },
    "headless:app:socialaccount:provider_token": {
        "GET": (None, same(405)),
        "POST": ({}, same(400)),
    },
    "headless:app:socialaccount:redirect_to_provider": {
        "GET": (None, same(405)),
        "POST": ({}, same(401)),
    },
    "headless:app:tokens:refresh": {"GET": (None, same(405)), "POST": ({}, same(400))},
    "headless:openapi_html": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "headless:openapi_json": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "headless:openapi_yaml": {"GET": (None, same(200)), "POST": ({}, same(405))},
    # Crawlers: robots.txt and the sitemaps, public and read-only.
    "robots": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "sitemap": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "sitemap-section": {"GET": (None, same(200)), "POST": ({}, same(405))},
    # Help pages: public, read-only.
    "model-help": {"GET": (None, same(200)), "POST": ({}, same(405))},
    # The knowledge library: public search (the API refuses a missing `q` with 400) and
    # passage pages, read-only.
    "knowledge:search": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "knowledge:passage": {"GET": (None, same(200)), "POST": ({}, same(405))},
    "knowledge-api:search": {"GET": (None, same(400)), "POST": ({}, same(405))},
}

# The admin's URLs come from its registered ModelAdmins; the admin site itself lets in
# staff only. These stand for all of them.
ADMIN_SAMPLES = [
    "admin:index",
    "admin:accounts_user_changelist",
    "admin:coach_coach_changelist",
    "admin:coach_dailyusage_changelist",
    "admin:sessions_app_coachingsession_changelist",
    "admin:sessions_app_prompt_changelist",
    "admin:sessions_app_message_changelist",
    "admin:sessions_app_sessionreport_changelist",
    "admin:coach_siteusage_changelist",
    "admin:knowledge_document_changelist",
    "admin:knowledge_document_add",
    "admin:knowledge_passage_changelist",
    "admin:knowledge_citation_changelist",
]


# Keys in allauth's URLs: a made-up one (the page says the link is not valid).
URL_ARGUMENTS = {
    "account_confirm_email": {"key": "not-a-key"},
    "account_reset_password_from_key": {"uidb36": "0", "key": "not-a-key"},
}


def url_names(patterns=None, namespace: str | None = None):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace
            ns = f"{namespace}:{inner}" if namespace and inner else (inner or namespace)
            yield from url_names(pattern.url_patterns, ns)
        elif isinstance(pattern, URLPattern):
            yield f"{namespace}:{pattern.name}" if namespace else pattern.name


def test_every_url_has_a_rule():
    names = set(url_names())
    # The admin's own catch-all pattern has no name; everything else must.
    unnamed = {n for n in names if n is None or (n.endswith(":None") and n != "admin:None")}
    assert not unnamed, "every URL pattern needs a name"
    project_names = {n for n in names if not n.startswith("admin:")}
    assert project_names - set(RULES) == set(), "URLs without an authorization rule"
    assert set(RULES) - project_names == set(), "rules for URLs that no longer exist"


CASES = [
    pytest.param(name, method, role, id=f"{name}-{method}-{role}")
    for name, methods in RULES.items()
    for method in methods
    for role in ROLES
]


@pytest.fixture
def people(make_user, staff):
    owner = make_user("owner")
    other = make_user("other")
    return {"anon": None, "owner": owner, "other": other, "staff": staff}


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "role"), CASES)
def test_rule(name, method, role, people, fake_llm):
    session = make_session(owner=people["owner"])
    body, expected = RULES[name][method]
    kwargs = {"pk": session.pk} if "<int:pk>" in route_of(name) else {}
    kwargs.update(URL_ARGUMENTS.get(name, {}))
    if name.startswith("sessions-api:message-") and name != "sessions-api:message-create":
        # these take a message's id
        kwargs = {"pk": session.messages.filter(role="assistant").first().pk}
    if name == "knowledge:passage":  # a passage of the starter libraries
        kwargs = {"pk": Passage.objects.order_by("pk").first().pk}
    if "<int:message_pk>" in route_of(name):  # a page about one message of the session
        kwargs["message_pk"] = session.messages.filter(role="assistant").first().pk
    url = reverse(name, kwargs=kwargs)
    client = APIClient()
    if people[role] is not None:
        client.force_login(people[role])
    response = client.generic(method, url, **request_body(url, body))
    assert response.status_code == expected[role], (
        f"{method} {url} as {role}: {response.status_code}"
    )
    if expected[role] == LOGIN and role == "anon" and not url.startswith("/accounts/"):
        if name == "set_language":  # back to `next` (none here: "/"), never to the login page
            assert response["Location"] == "/"
        else:
            assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize("name", ADMIN_SAMPLES)
def test_admin_is_staff_only(name, people):
    for role in ROLES:
        client = APIClient()
        if people[role] is not None:
            client.force_login(people[role])
        response = client.get(reverse(name))
        if role == "staff":
            assert response.status_code == 200
        else:
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("admin:login"))


def route_of(name: str) -> str:
    resolver = get_resolver()
    namespace, _, short = name.rpartition(":")
    for part in namespace.split(":") if namespace else ():
        resolver = resolver.namespace_dict[part][1]
    route = _route_in(resolver.url_patterns, short)
    if route is None:
        raise LookupError(name)
    return route


def _route_in(patterns, short: str) -> str | None:
    """The route named `short` among `patterns`, looking into includes without a namespace."""
    for pattern in patterns:
        if isinstance(pattern, URLPattern) and pattern.name == short:
            return str(pattern.pattern)
        if isinstance(pattern, URLResolver) and not pattern.namespace:
            inner = _route_in(pattern.url_patterns, short)
            if inner is not None:
                return str(pattern.pattern) + inner
    return None


def request_body(url: str, body: dict | None) -> dict:
    if body is None:
        return {}
    if url.startswith("/api/"):
        return {"data": json.dumps(body), "content_type": "application/json"}
    return {"data": urlencode(body), "content_type": "application/x-www-form-urlencoded"}
