import pytest
from rest_framework.authtoken.models import Token

from accounts.models import User
from conftest import PASSWORD
from project.settings import auth_rate_limits

pytestmark = pytest.mark.django_db


def test_signup_api_returns_token(api_client, django_user_model):
    response = api_client.post(
        "/api/auth/signup/", {"username": "ana", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201
    user = django_user_model.objects.get(username="ana")
    assert response.json() == {
        "id": user.id,
        "username": "ana",
        "public_name": user.public_name,
        "token": Token.objects.get(user=user).key,
    }
    assert "ana" not in user.public_name


def test_signup_api_field_errors(api_client, user):
    response = api_client.post(
        "/api/auth/signup/", {"username": user.username, "password": "short"}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()


def test_signup_api_weak_password(api_client):
    response = api_client.post(
        "/api/auth/signup/", {"username": "ana", "password": "12345678"}, format="json"
    )
    assert response.status_code == 400
    assert "password" in response.json()


def test_signup_api_malformed_json(api_client):
    response = api_client.post("/api/auth/signup/", "{nope", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_token_login_and_use_and_logout(api_client, user):
    response = api_client.post(
        "/api/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get("/api/me/quota/").status_code == 200

    assert api_client.post("/api/auth/logout/").status_code == 204
    assert not Token.objects.filter(key=token).exists()
    assert api_client.get("/api/me/quota/").status_code == 401


def test_token_wrong_password(api_client, user):
    response = api_client.post(
        "/api/auth/token/", {"username": user.username, "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert "detail" in response.json()


def test_logout_api_anonymous_refused(api_client):
    assert api_client.post("/api/auth/logout/").status_code == 401


def test_token_api_throttled(api_client, user, settings):
    settings.ACCOUNT_RATE_LIMITS = auth_rate_limits("2/m")
    for _ in range(2):
        api_client.post(
            "/api/auth/token/", {"username": user.username, "password": "x"}, format="json"
        )
    response = api_client.post(
        "/api/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 429
    assert "detail" in response.json()
    assert "token" not in response.json()


def test_signup_api_throttled(api_client, settings):
    settings.ACCOUNT_RATE_LIMITS = auth_rate_limits("1/m")
    api_client.post("/api/auth/signup/", {"username": "a1", "password": PASSWORD}, format="json")
    response = api_client.post(
        "/api/auth/signup/", {"username": "a2", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 429


# --- Public names and case-insensitive usernames at sign-up ----------------------------------


def test_signup_api_takes_a_public_name(api_client, django_user_model):
    response = api_client.post(
        "/api/auth/signup/",
        {"username": "ana", "password": PASSWORD, "display_name": "Ana R."},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["public_name"] == "Ana R."
    assert django_user_model.objects.get(username="ana").display_name == "Ana R."


def test_signup_api_refuses_a_taken_public_name(api_client, make_user, django_user_model):
    make_user("juno", display_name="Juno B.")
    for taken in ["juno b.", "JUNO"]:  # a public name, a login name
        response = api_client.post(
            "/api/auth/signup/",
            {"username": "ana", "password": PASSWORD, "display_name": taken},
            format="json",
        )
        assert response.status_code == 400
        assert "display_name" in response.json()
    assert not django_user_model.objects.filter(username="ana").exists()


@pytest.mark.parametrize("variant", ["Mina", "MINA"])
def test_signup_api_case_variant_is_a_clean_400(api_client, user, variant):
    response = api_client.post(
        "/api/auth/signup/", {"username": variant, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"username": ["A user with that username already exists."]}


def test_signup_api_race_is_a_clean_400(api_client, user, monkeypatch, django_user_model):
    """Both sign-ups pass every check; the database's unique index refuses the second."""
    from accounts import selectors

    monkeypatch.setattr(selectors, "username_taken", lambda username: False)
    monkeypatch.setattr(django_user_model, "full_clean", lambda self, **kwargs: None)
    response = api_client.post(
        "/api/auth/signup/", {"username": "MINA", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"username": ["A user with that username already exists."]}
    assert django_user_model.objects.count() == 1


# --- Sign-ups per address per day -------------------------------------------------------------


def _signup(api_client, name, **extra):
    return api_client.post(
        "/api/auth/signup/", {"username": name, "password": PASSWORD}, format="json", **extra
    )


def test_signup_api_daily_cap_per_address(api_client, settings, django_user_model):
    settings.SIGNUP_DAILY_LIMIT = 2
    assert _signup(api_client, "a1").status_code == 201
    assert _signup(api_client, "a2").status_code == 201
    refused = _signup(api_client, "a3")
    assert refused.status_code == 429
    assert "Too many accounts" in refused.json()["detail"]
    assert 0 < int(refused["Retry-After"]) <= 24 * 3600
    assert not django_user_model.objects.filter(username="a3").exists()
    # Another address has its own day.
    assert _signup(api_client, "b1", REMOTE_ADDR="198.51.100.9").status_code == 201


def test_signup_api_failed_attempts_do_not_use_the_day(api_client, settings):
    settings.SIGNUP_DAILY_LIMIT = 1
    weak = api_client.post(
        "/api/auth/signup/", {"username": "a1", "password": "123"}, format="json"
    )
    assert weak.status_code == 400
    assert _signup(api_client, "a1").status_code == 201


def test_signup_api_daily_cap_counts_an_ipv6_slash_64(api_client, settings):
    settings.SIGNUP_DAILY_LIMIT = 2
    assert _signup(api_client, "v1", REMOTE_ADDR="2001:db8:1:2::1").status_code == 201
    assert _signup(api_client, "v2", REMOTE_ADDR="2001:db8:1:2:ffff::9").status_code == 201
    # Same /64, another address in it: refused.
    assert _signup(api_client, "v3", REMOTE_ADDR="2001:db8:1:2:abcd::1").status_code == 429
    # The next /64 is someone else.
    assert _signup(api_client, "v4", REMOTE_ADDR="2001:db8:1:3::1").status_code == 201


# --- The member's own account: GET/PATCH /api/auth/me/ ------------------------------------------

ME = "/api/auth/me/"


def test_me_refuses_anonymous(api_client):
    assert api_client.get(ME).status_code == 401
    assert api_client.patch(ME, {"display_name": "X"}, format="json").status_code == 401


def test_me_shows_the_account_to_its_member(user_api, user):
    response = user_api.get(ME)
    assert response.status_code == 200
    assert response.json() == {
        "id": user.pk,
        "username": "mina",
        "display_name": "",
        "public_name": user.public_name,
    }


def test_me_patch_changes_the_public_name(user_api, user):
    response = user_api.patch(ME, {"display_name": " Mina  K. "}, format="json")
    assert response.status_code == 200
    assert response.json()["public_name"] == "Mina K."
    user.refresh_from_db()
    assert user.display_name == "Mina K."


@pytest.mark.parametrize("name", ["", "x" * 41, "juno b.", "Juno", "Member 0badc0de"])
def test_me_patch_refuses_a_bad_or_taken_name(user_api, user, make_user, name):
    make_user("juno", display_name="Juno B.")
    response = user_api.patch(ME, {"display_name": name}, format="json")
    assert response.status_code == 400
    assert "display_name" in response.json()
    user.refresh_from_db()
    assert user.display_name == ""


def test_me_patch_by_an_outsider_changes_only_the_outsider(outsider_api, user, outsider):
    response = outsider_api.patch(ME, {"display_name": "Someone"}, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == outsider.pk
    user.refresh_from_db()
    assert user.display_name == ""
    # And the outsider cannot take the member's login name as a public name.
    assert outsider_api.patch(ME, {"display_name": "mina"}, format="json").status_code == 400


def test_me_put_is_not_allowed(user_api):
    assert user_api.put(ME, {"display_name": "X"}, format="json").status_code == 405


# --- /api/me/ ---------------------------------------------------------------------------


def test_me_shows_the_profile_connections_and_quota(user_api, user):
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount

    from coach.services import quota_reserve

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    SocialAccount.objects.create(
        user=user, provider="github", uid="101", extra_data={"login": "octo"}
    )
    quota_reserve(user=user)
    response = user_api.get("/api/me/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["username"] == "mina"
    assert body["public_name"] == user.public_name
    assert body["email"] == "mina@example.com"
    assert body["email_verified"] is True
    assert body["has_password"] is True
    assert [(c["provider"], c["label"]) for c in body["connections"]] == [("github", "octo")]
    assert body["quota"]["used"] == 1
    assert body["quota"]["remaining"] == body["quota"]["limit"] - 1


def test_me_needs_a_login(api_client):
    assert api_client.get("/api/me/").status_code == 401
    assert api_client.delete("/api/me/?confirm=mina").status_code == 401


def test_api_me_patch_changes_the_public_name(user_api, user):
    response = user_api.patch("/api/me/", {"display_name": "Mina the Calm"}, format="json")
    assert response.status_code == 200
    assert response.json()["public_name"] == "Mina the Calm"


def test_me_delete_needs_the_login_name(user_api, user, django_user_model):
    response = user_api.delete("/api/me/?confirm=someone-else")
    assert response.status_code == 400
    assert "confirm" in response.json()
    assert django_user_model.objects.filter(pk=user.pk).exists()

    assert user_api.delete("/api/me/").status_code == 400
    assert django_user_model.objects.filter(pk=user.pk).exists()


def test_me_delete_deletes_only_the_callers_account(user_api, user, outsider, django_user_model):
    from sessions_app.models import CoachingSession
    from sessions_app.tests.factories import make_session

    make_session(owner=user)
    theirs = make_session(owner=outsider)
    # The outsider's name does not delete the outsider's account, nor the caller's.
    assert user_api.delete(f"/api/me/?confirm={outsider.username}").status_code == 400
    response = user_api.delete("/api/me/?confirm=MINA")
    assert response.status_code == 204
    assert not django_user_model.objects.filter(pk=user.pk).exists()
    assert django_user_model.objects.filter(pk=outsider.pk).exists()
    assert CoachingSession.objects.filter(pk=theirs.pk).exists()
    # The API token went with the account.
    assert not Token.objects.filter(user_id=user.pk).exists()


def test_a_headless_session_token_calls_the_whole_api(api_client, user, coach):
    """A front end that logged in through allauth's headless API (app client) sends
    X-Session-Token, and DRF accepts it on every /api/ endpoint."""
    response = api_client.post(
        "/_allauth/app/v1/auth/login",
        {"username": user.username, "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    token = response.json()["meta"]["session_token"]
    headers = {"HTTP_X_SESSION_TOKEN": token}
    assert api_client.get("/api/me/", **headers).json()["username"] == "mina"
    assert api_client.get("/api/me/quota/", **headers).status_code == 200
    assert api_client.get("/api/sessions/?mine=1", **headers).status_code == 200
    # Logged out through headless: the token no longer works.
    assert api_client.delete("/_allauth/app/v1/auth/session", **headers).status_code == 401
    assert api_client.get("/api/me/", **headers).status_code == 401


def test_a_bad_headless_token_is_anonymous(api_client):
    assert api_client.get("/api/me/", HTTP_X_SESSION_TOKEN="nope").status_code == 401


def test_headless_signup_and_login_are_throttled(api_client, settings):
    settings.ACCOUNT_RATE_LIMITS = auth_rate_limits("1/m")
    body = {"username": "x", "password": "wrong-password-1"}
    api_client.post("/_allauth/app/v1/auth/login", body, format="json")
    response = api_client.post("/_allauth/app/v1/auth/login", body, format="json")
    assert response.status_code == 429


def test_cors_allows_only_listed_origins(api_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
    preflight = {
        "HTTP_ORIGIN": "https://app.example",
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "x-session-token",
    }
    response = api_client.options("/api/me/", **preflight)
    assert response["Access-Control-Allow-Origin"] == "https://app.example"
    assert "x-session-token" in response["Access-Control-Allow-Headers"]
    other = api_client.options("/api/me/", **{**preflight, "HTTP_ORIGIN": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other
    page = api_client.get("/", HTTP_ORIGIN="https://app.example")
    assert "Access-Control-Allow-Origin" not in page  # pages are never cross-origin


def test_an_unverified_member_is_told_to_confirm_the_address_first(user_api, settings, fake_llm):
    settings.COACH_REQUIRE_VERIFIED_EMAIL = True
    body = {"coach": "meditation-guide", "goal": {"text": "Sleep better"}}
    response = user_api.post("/api/sessions/", body, format="json")
    assert response.status_code == 403
    assert "Confirm your email address" in response.json()["detail"]
    assert "Retry-After" not in response
    assert not fake_llm.calls


def test_signup_api_records_the_email_and_mails_a_confirmation(api_client, mailoutbox):
    from allauth.account.models import EmailAddress

    body = {"username": "ana", "password": PASSWORD, "email": "Ana@Example.com"}
    assert api_client.post("/api/auth/signup/", body, format="json").status_code == 201
    address = EmailAddress.objects.get(user__username="ana")
    assert (address.email, address.verified, address.primary) == ("ana@example.com", False, True)
    assert [message.to for message in mailoutbox] == [["ana@example.com"]]


@pytest.mark.parametrize("url", ["/api/me/", "/api/auth/me/"])
def test_me_patch_takes_a_json_object_only(user_api, url):
    form = user_api.patch(url, {"display_name": "Formed"}, format="multipart")
    assert form.status_code == 415
    assert user_api.patch(url, "null", content_type="application/json").status_code == 400
    assert user_api.patch(url, "[]", content_type="application/json").status_code == 400


def test_headless_signup_past_the_daily_cap_is_a_json_429(api_client, settings):
    settings.SIGNUP_DAILY_LIMIT = 1
    first = {"username": "first1", "password": PASSWORD}
    assert api_client.post("/_allauth/app/v1/auth/signup", first, format="json").status_code in (
        200,
        401,  # signed up; allauth's app client may still ask for a step
    )
    second = {"username": "second2", "password": PASSWORD}
    response = api_client.post("/_allauth/app/v1/auth/signup", second, format="json")
    assert response.status_code == 429
    assert "Too many accounts" in response.json()["detail"]
    assert int(response["Retry-After"]) > 0


def test_the_last_headless_sign_up_of_the_day_is_answered_as_a_sign_up(api_client, settings):
    """allauth asks whether sign-up is open again while answering one that needs a
    confirmed address: the account just made must not turn its own answer into a 429."""
    settings.SIGNUP_DAILY_LIMIT = 1
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    body = {"username": "first1", "email": "first1@example.com", "password": PASSWORD}
    response = api_client.post("/_allauth/app/v1/auth/signup", body, format="json")
    assert response.status_code == 401, response.content  # waiting for the address
    assert "Too many accounts" not in response.content.decode()
    assert User.objects.filter(username="first1").exists()
    second = {"username": "second2", "email": "s2@example.com", "password": PASSWORD}
    response = api_client.post("/_allauth/app/v1/auth/signup", second, format="json")
    assert response.status_code == 429


def test_a_headless_login_from_a_capped_address_is_not_the_sign_up_cap(api_client, settings, user):
    settings.SIGNUP_DAILY_LIMIT = 1
    body = {"username": "first1", "password": PASSWORD}
    api_client.post("/_allauth/app/v1/auth/signup", body, format="json")
    api_client.delete("/_allauth/app/v1/auth/session")
    wrong = {"username": user.username, "password": "not-the-password-1"}
    assert api_client.post("/_allauth/app/v1/auth/login", wrong, format="json").status_code == 400
    right = {"username": user.username, "password": PASSWORD}
    assert api_client.post("/_allauth/app/v1/auth/login", right, format="json").status_code == 200
