"""Social login end to end, with no network: the Django test client goes through the whole
redirect dance (our login URL, the provider's authorize URL at the OAuth stand-in, our
callback) and allauth's real views and adapters, with GitHub and Kakao played by
accounts/testing/oauth_standin.py (`social_dance`, accounts/tests/conftest.py).

The rules are issue 11's and docs/accounts.md's: who a first login creates, when a login
joins an existing account (a verified address only), `next`, connecting and
disconnecting, the day's sign-up cap, configured providers only, and the day's usage kept
across a deleted account.
"""

import re

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.test import Client

from accounts.models import User
from accounts.testing.oauth_standin import Outcome, ScriptedUser
from accounts.tests.conftest import HONG, OCTO
from coach.models import DailyUsage
from coach.quota import quota_day
from conftest import PASSWORD
from sessions_app.tests.public_builders import build_session

pytestmark = pytest.mark.django_db

SIGNUP_FORM = "/accounts/3rdparty/signup/"
CONNECTIONS = "/accounts/3rdparty/"
CANCELLED = "/accounts/3rdparty/login/cancelled/"


def logged_in_user(client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def field_value(html: str, name: str) -> str:
    """The value a form's text input is prefilled with ("" for none)."""
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert tag, f"no {name} in the form"
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


def connect_action(html: str, provider: str) -> str:
    """The form action of the account page's connect button for `provider`."""
    match = re.search(rf'action="(/accounts/{provider}/login/\?process=connect[^"]*)"', html)
    assert match, f"no connect button for {provider}"
    return match.group(1).replace("&amp;", "&")


# --- A first login creates an account --------------------------------------------------


def test_first_github_login_creates_the_account_and_follows_next(client, social_dance):
    dance = social_dance(client, "github", OCTO, next_url="/sessions/mine/")

    assert dance.response.status_code == 302
    assert dance.location == "/sessions/mine/"
    user = User.objects.get()
    assert (user.username, user.display_name, user.email) == ("octo", "octo", "octo@example.com")
    assert not user.has_usable_password()
    assert logged_in_user(client) == user
    account = SocialAccount.objects.get()
    assert (account.user, account.provider, account.uid) == (user, "github", "101")
    assert EmailAddress.objects.get(user=user).verified


def test_the_email_is_never_shown_on_public_pages(client, social_dance):
    social_dance(client, "github", OCTO)
    user = User.objects.get()
    session = build_session(owner=user, title="Sleep before midnight")

    visitor = Client()
    for url in ("/", f"/sessions/{session.pk}/"):
        page = visitor.get(url).content.decode()
        assert "Sleep before midnight" in page
        assert "octo" in page  # the public name is there...
        assert "octo@example.com" not in page  # ...the address is not


def test_a_private_github_address_is_found_through_user_emails(client, social_dance):
    octo = ScriptedUser(
        uid="102", login="shy", email="shy@example.com", email_verified=True, email_public=False
    )
    social_dance(client, "github", octo)
    user = User.objects.get()
    assert user.email == "shy@example.com"
    assert EmailAddress.objects.get(user=user).verified


def test_first_kakao_login_with_a_korean_nickname(client, social_dance):
    dance = social_dance(client, "kakao", HONG, next_url="/sessions/new/")

    assert dance.location == "/sessions/new/"
    user = User.objects.get()
    assert (user.username, user.display_name) == ("홍길동", "홍길동")
    assert user.email == "hong@example.kr"
    assert logged_in_user(client) == user
    assert SocialAccount.objects.get().uid == "2024"


def test_a_kakao_nickname_with_a_space_asks_for_a_login_name(client, social_dance):
    spaced = ScriptedUser(
        uid="2025", nickname="홍 길동", email="gd@example.kr", email_verified=True
    )
    dance = social_dance(client, "kakao", spaced, next_url="/sessions/mine/")

    assert dance.location == SIGNUP_FORM
    assert not User.objects.exists()
    assert logged_in_user(client) is None
    form = client.get(SIGNUP_FORM).content.decode()
    assert field_value(form, "username") == "홍 길동"
    assert field_value(form, "display_name") == "홍 길동"

    # The prefilled login name is refused; another one completes the sign-up.
    refused = client.post(SIGNUP_FORM, {"username": "홍 길동", "display_name": "홍 길동"})
    assert refused.status_code == 200
    assert not User.objects.exists()
    done = client.post(
        SIGNUP_FORM, {"username": "gildong", "display_name": "홍 길동", "email": "gd@example.kr"}
    )
    assert done.status_code == 302
    assert done["Location"] == "/sessions/mine/"
    user = User.objects.get()
    assert (user.username, user.display_name) == ("gildong", "홍 길동")
    assert logged_in_user(client) == user
    assert SocialAccount.objects.get(provider="kakao").user == user


def test_a_kakao_login_without_the_email_consent_still_signs_up(client, social_dance):
    social_dance(client, "kakao", ScriptedUser(uid="2031", nickname="이메일없음"))
    user = User.objects.get()
    assert (user.username, user.email) == ("이메일없음", "")
    assert not EmailAddress.objects.exists()
    assert logged_in_user(client) == user


def test_a_kakao_login_without_a_nickname_asks_for_the_names(client, social_dance):
    dance = social_dance(client, "kakao", ScriptedUser(uid="2032", email="n@example.kr"))
    assert dance.location == SIGNUP_FORM
    form = client.get(SIGNUP_FORM).content.decode()
    assert field_value(form, "username") == ""
    assert field_value(form, "display_name") == ""
    done = client.post(SIGNUP_FORM, {"username": "nonick", "display_name": "No Nick"})
    assert done.status_code == 302
    assert User.objects.get().username == "nonick"


@pytest.mark.parametrize(
    ("provider", "scripted", "taken"),
    [
        ("github", ScriptedUser(uid="103", login="mina", email="m@gh.example"), "mina"),
        ("kakao", ScriptedUser(uid="2026", nickname="Mina", email="m@kakao.example"), "mina"),
    ],
)
def test_a_taken_name_asks_for_another(client, social_dance, make_user, provider, scripted, taken):
    owner = make_user(taken)
    dance = social_dance(client, provider, scripted)

    assert dance.location == SIGNUP_FORM
    assert list(User.objects.all()) == [owner]
    form = client.get(SIGNUP_FORM).content.decode()
    assert field_value(form, "username").casefold() == taken  # prefilled, to be changed
    # Not prefilled with a public name the form would refuse (another member's login name).
    assert field_value(form, "display_name") == ""
    refused = client.post(
        SIGNUP_FORM, {"username": "mina-two", "display_name": taken, "email": scripted.email}
    )
    assert "That public name is taken" in refused.content.decode()

    done = client.post(
        SIGNUP_FORM, {"username": "mina-two", "display_name": "Mina Two", "email": scripted.email}
    )
    assert done.status_code == 302
    user = User.objects.get(username="mina-two")
    assert user.display_name == "Mina Two"
    assert logged_in_user(client) == user
    assert SocialAccount.objects.get().user == user
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


# --- Joining an existing account by email ----------------------------------------------


@pytest.mark.parametrize(
    ("provider", "scripted"),
    [
        ("github", ScriptedUser(uid="104", login="octavia-gh", email="octavia@example.com")),
        ("kakao", ScriptedUser(uid="2027", nickname="옥타비아", email="octavia@example.com")),
    ],
)
def test_a_verified_address_logs_into_the_existing_account(
    client, social_dance, make_user, provider, scripted
):
    octavia = make_user("octavia")
    EmailAddress.objects.create(user=octavia, email=octavia.email, verified=True, primary=True)
    verified = ScriptedUser(**{**vars(scripted), "email_verified": True})

    dance = social_dance(client, provider, verified, next_url="/sessions/mine/")

    assert dance.location == "/sessions/mine/"
    assert logged_in_user(client) == octavia
    assert SocialAccount.objects.get().user == octavia
    assert User.objects.count() == 1
    octavia.refresh_from_db()
    assert octavia.check_password(PASSWORD)  # her own address was verified: nothing to fear


def test_joining_an_account_whose_address_was_never_verified_wipes_its_password(
    client, social_dance, make_user
):
    """allauth's guard against an account made in advance with somebody's address: whoever
    set that password may not be the address's owner, who has just proved it."""
    octavia = make_user("octavia")  # User.email only, no verified EmailAddress
    social_dance(client, "github", ScriptedUser(**{**vars(OCTO), "email": octavia.email}))

    assert logged_in_user(client) == octavia
    octavia.refresh_from_db()
    assert not octavia.has_usable_password()


@pytest.mark.parametrize(
    ("provider", "scripted"),
    [
        (
            "github",
            ScriptedUser(uid="105", login="mallory", email="victim@example.com"),
        ),
        (
            "kakao",
            ScriptedUser(uid="2028", nickname="mallory", email="victim@example.com"),
        ),
        (  # Kakao vouched for an address that no longer receives mail
            "kakao",
            ScriptedUser(
                uid="2029",
                nickname="mallory",
                email="victim@example.com",
                email_verified=True,
                email_valid=False,
            ),
        ),
    ],
    ids=["github-unverified", "kakao-unverified", "kakao-verified-but-invalid"],
)
def test_an_address_not_vouched_for_never_takes_over_an_account(
    client, social_dance, make_user, provider, scripted
):
    victim = make_user("victim")
    EmailAddress.objects.create(user=victim, email=victim.email, verified=True, primary=True)

    dance = social_dance(client, provider, scripted)

    assert logged_in_user(client) is None
    assert not SocialAccount.objects.filter(user=victim).exists()
    assert dance.location == SIGNUP_FORM  # the short form, with nobody logged in
    # Keeping the address on the form does not make an account with it...
    kept = client.post(
        SIGNUP_FORM, {"username": "mallory", "display_name": "Mallory", "email": victim.email}
    )
    assert kept.status_code == 200
    assert "An account already exists with this email address" in kept.content.decode()
    assert list(User.objects.all()) == [victim]
    assert logged_in_user(client) is None
    # ...and another address makes an account of its own, not the victim's.
    other = client.post(
        SIGNUP_FORM, {"username": "mallory", "display_name": "Mallory", "email": "m@evil.example"}
    )
    assert other.status_code == 302
    mallory = User.objects.get(username="mallory")
    assert logged_in_user(client) == mallory
    assert SocialAccount.objects.get().user == mallory
    assert list(EmailAddress.objects.filter(email__iexact=victim.email)) == [
        EmailAddress.objects.get(user=victim)
    ]
    victim.refresh_from_db()
    assert victim.check_password(PASSWORD)


def test_a_kakao_address_that_no_longer_receives_mail_is_stored_unverified(client, social_dance):
    stale = ScriptedUser(
        uid="2030",
        nickname="옛주소",
        email="old@example.kr",
        email_verified=True,
        email_valid=False,
    )
    social_dance(client, "kakao", stale)

    user = User.objects.get()
    assert logged_in_user(client) == user
    assert EmailAddress.objects.get(user=user).verified is False


# --- Refused and failed logins ---------------------------------------------------------


@pytest.mark.parametrize("provider", ["github", "kakao"])
def test_denied_consent_lands_on_the_cancelled_page(client, social_dance, provider):
    denied = ScriptedUser(uid="106", login="no", nickname="no", outcome=Outcome.DENY)
    dance = social_dance(client, provider, denied, next_url="/sessions/mine/")

    assert "error=access_denied" in dance.callback_url
    assert dance.location == CANCELLED
    page = client.get(CANCELLED)
    assert page.status_code == 200
    assert "Login Cancelled" in page.content.decode()
    assert not User.objects.exists()
    assert logged_in_user(client) is None


@pytest.mark.parametrize("provider", ["github", "kakao"])
def test_a_bad_state_shows_the_login_failure_page(client, social_dance, social_providers, provider):
    tampered = ScriptedUser(uid="107", login="x", nickname="x", outcome=Outcome.BAD_STATE)
    dance = social_dance(client, provider, tampered)

    assert dance.response.status_code == 401
    assert "Third-Party Login Failure" in dance.response.content.decode()
    assert not User.objects.exists()
    assert logged_in_user(client) is None
    # allauth stopped at the state: the code was never exchanged.
    assert not social_providers.requests_for(provider, "token")


# --- next on the social callback -------------------------------------------------------


@pytest.mark.parametrize("provider", ["github", "kakao"])
def test_social_login_follows_a_same_site_next(client, social_dance, provider):
    dance = social_dance(
        client,
        provider,
        ScriptedUser(uid="108", login="nx", nickname="nx"),
        next_url="/sessions/mine/?page=2",
    )
    assert dance.location == "/sessions/mine/?page=2"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "http://evil.example/steal",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https:evil.example",
        "http://testserver.evil.example/",
    ],
)
@pytest.mark.parametrize("provider", ["github", "kakao"])
def test_social_login_refuses_open_redirects(client, social_dance, provider, target):
    dance = social_dance(
        client, provider, ScriptedUser(uid="109", login="nx", nickname="nx"), next_url=target
    )
    assert dance.response.status_code == 302
    assert dance.location == "/"
    assert logged_in_user(client) is not None


def test_an_existing_social_login_refuses_open_redirects_too(client, social_dance):
    social_dance(client, "github", OCTO)
    client.logout()
    dance = social_dance(client, "github", OCTO, next_url="https://evil.example/")
    assert dance.location == "/"
    dance = social_dance(client, "github", OCTO, next_url="/sessions/mine/")
    assert dance.location == "/sessions/mine/"
    assert logged_in_user(client) == User.objects.get()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example"])
def test_connect_refuses_open_redirects(client, social_dance, user, target):
    client.force_login(user)
    dance = social_dance(client, "github", OCTO, process="connect", next_url=target)
    assert dance.location == CONNECTIONS  # which shows the account page
    assert client.get(CONNECTIONS)["Location"] == "/accounts/"
    assert SocialAccount.objects.get().user == user


def test_the_short_form_refuses_open_redirects(client, social_dance):
    spaced = ScriptedUser(uid="110", nickname="홍 길동")
    dance = social_dance(client, "kakao", spaced, next_url="//evil.example")
    assert dance.location == SIGNUP_FORM
    done = client.post(SIGNUP_FORM, {"username": "gildong", "display_name": "홍 길동"})
    assert done["Location"] == "/"


# --- Connecting and disconnecting from the account page --------------------------------


def test_connect_from_the_account_page(client, social_dance, user):
    client.force_login(user)
    page = client.get("/accounts/").content.decode()
    action = connect_action(page, "github")

    dance = social_dance(client, "github", OCTO, start_url=action)

    assert dance.location == "/accounts/"
    assert logged_in_user(client) == user
    assert SocialAccount.objects.get().user == user
    assert User.objects.count() == 1
    page = client.get("/accounts/").content.decode()
    assert "account__connection--github" in page
    assert "GitHub: octo" in page
    assert "Disconnect GitHub" in page
    # The connected provider's button is gone; the other one is still offered.
    assert "/accounts/github/login/?process=connect" not in page
    assert connect_action(page, "kakao")


def test_disconnect_from_the_account_page(client, social_dance, user):
    client.force_login(user)
    social_dance(client, "kakao", HONG, process="connect", next_url="/accounts/")
    account = SocialAccount.objects.get(user=user)

    response = client.post(CONNECTIONS, {"account": account.pk})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/"
    assert not SocialAccount.objects.exists()
    page = client.get("/accounts/").content.decode()
    assert "account__connection--kakao" not in page
    assert connect_action(page, "kakao")


def test_the_last_way_to_log_in_cannot_be_disconnected(client, social_dance):
    social_dance(client, "github", OCTO)
    account = SocialAccount.objects.get()
    page = client.get("/accounts/").content.decode()
    assert "your only way to log in: set a password before you disconnect it" in page
    assert "Disconnect GitHub" not in page

    response = client.post(CONNECTIONS, {"account": account.pk})

    assert response.status_code == 200
    assert "Your account has no password set up." in response.content.decode()
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_with_two_social_logins_one_can_go(client, social_dance):
    social_dance(client, "github", OCTO)
    social_dance(client, "kakao", HONG, process="connect", next_url="/accounts/")
    user = User.objects.get()
    assert SocialAccount.objects.filter(user=user).count() == 2
    github = SocialAccount.objects.get(provider="github")

    assert client.post(CONNECTIONS, {"account": github.pk})["Location"] == "/accounts/"
    kakao = SocialAccount.objects.get()
    assert kakao.provider == "kakao"
    refused = client.post(CONNECTIONS, {"account": kakao.pk})
    assert refused.status_code == 200
    assert SocialAccount.objects.filter(pk=kakao.pk).exists()


def test_an_outsider_cannot_disconnect_anothers_login(client, social_dance, user, outsider):
    client.force_login(user)
    social_dance(client, "github", OCTO, process="connect", next_url="/accounts/")
    account = SocialAccount.objects.get()

    intruder = Client()
    intruder.force_login(outsider)
    response = intruder.post(CONNECTIONS, {"account": account.pk})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert SocialAccount.objects.get().user == user
    # And a visitor is sent to log in.
    visitor = Client().post(CONNECTIONS, {"account": account.pk})
    assert visitor.status_code == 302
    assert visitor["Location"].startswith("/accounts/login/")
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_connecting_a_login_that_belongs_to_another_member_is_refused(client, social_dance, user):
    social_dance(client, "github", OCTO)  # octo's account
    octo = User.objects.get(username="octo")
    client.logout()
    client.force_login(user)

    dance = social_dance(client, "github", OCTO, process="connect", next_url="/accounts/")

    assert dance.response.status_code == 302
    assert SocialAccount.objects.get().user == octo
    assert logged_in_user(client) == user


# --- The day's sign-up cap -------------------------------------------------------------


def test_the_daily_signup_cap_stops_a_second_social_signup(client, social_dance, settings):
    settings.SIGNUP_DAILY_LIMIT = 1
    social_dance(client, "github", OCTO)
    assert User.objects.count() == 1
    client.logout()

    dance = social_dance(client, "kakao", HONG)

    assert dance.response.status_code == 429
    assert "Too many accounts were created from your network today" in (
        dance.response.content.decode()
    )
    assert User.objects.count() == 1
    assert logged_in_user(client) is None
    # Logging in to the account already made is not a sign-up.
    client.logout()
    assert social_dance(client, "github", OCTO).location == "/"
    assert logged_in_user(client) == User.objects.get()


def test_the_daily_signup_cap_holds_on_the_short_form(client, social_dance, settings):
    """The short form was shown while a sign-up was left; the cap is used up (by a
    password sign-up from the same address) before it is posted."""
    settings.SIGNUP_DAILY_LIMIT = 1
    dance = social_dance(client, "kakao", ScriptedUser(uid="111", nickname="홍 길동"))
    assert dance.location == SIGNUP_FORM
    neighbour = Client().post(
        "/accounts/signup/", {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert neighbour.status_code == 302

    response = client.post(SIGNUP_FORM, {"username": "gildong", "display_name": "홍 길동"})

    assert response.status_code == 429
    assert list(User.objects.values_list("username", flat=True)) == ["newbie"]
    assert not SocialAccount.objects.exists()


# --- Only configured providers ---------------------------------------------------------


@pytest.mark.parametrize("page", ["/accounts/login/", "/accounts/signup/"])
def test_the_buttons_show_for_configured_providers(client, social_providers, page):
    html = client.get(page).content.decode()
    assert "Continue with GitHub" in html
    assert "Continue with Kakao" in html
    assert 'action="/accounts/github/login/?process=login"' in html


def test_the_buttons_carry_next(client, social_providers):
    html = client.get("/accounts/login/?next=/sessions/new/").content.decode()
    assert 'action="/accounts/kakao/login/?process=login&amp;next=%2Fsessions%2Fnew%2F"' in html


@pytest.mark.parametrize("page", ["/accounts/login/", "/accounts/signup/"])
def test_no_button_without_an_app(client, no_social_providers, page):
    html = client.get(page).content.decode()
    assert "Continue with" not in html
    assert "social-login" not in html


@pytest.mark.parametrize("provider", ["github", "kakao"])
def test_an_unconfigured_provider_is_not_found(client, no_social_providers, provider):
    assert client.post(f"/accounts/{provider}/login/").status_code == 404
    assert client.get(f"/accounts/{provider}/login/callback/?code=x&state=y").status_code == 404


def test_only_the_configured_provider_shows(client, settings, oauth_standin):
    from accounts.tests.conftest import providers_setting

    settings.SOCIALACCOUNT_PROVIDERS = providers_setting(
        settings.SOCIALACCOUNT_PROVIDERS, ("kakao",)
    )
    html = client.get("/accounts/login/").content.decode()
    assert "Continue with Kakao" in html
    assert "Continue with GitHub" not in html
    assert client.post("/accounts/github/login/").status_code == 404


# --- A deleted account's day -----------------------------------------------------------


def test_deleting_and_logging_in_again_keeps_the_days_usage(client, social_dance):
    social_dance(client, "github", OCTO)
    first = User.objects.get()
    DailyUsage.objects.create(user=first, day=quota_day(), count=3)

    deleted = client.post("/accounts/delete/", {"confirm": "octo"})
    assert deleted.status_code == 302
    assert not User.objects.exists()
    assert not SocialAccount.objects.exists()

    social_dance(client, "github", OCTO)

    again = User.objects.get()
    assert again.pk != first.pk
    assert logged_in_user(client) == again
    assert DailyUsage.objects.get(user=again, day=quota_day()).count == 3


def test_a_new_github_account_starts_the_day_at_zero(client, social_dance):
    social_dance(client, "github", OCTO)
    assert not DailyUsage.objects.filter(user=User.objects.get()).exists()


# --- The login buttons in a real browser -----------------------------------------------


def form_action_sources(response) -> list[str]:
    policy = response["Content-Security-Policy"]
    directive = next(d.split() for d in policy.split(";") if d.split()[:1] == ["form-action"])
    return directive[1:]


@pytest.mark.parametrize("page", ["/accounts/login/", "/accounts/signup/", "/accounts/"])
def test_the_csp_lets_the_login_buttons_reach_the_providers(client, social_providers, user, page):
    if page == "/accounts/":
        client.force_login(user)  # the connect buttons
    response = client.get(page)
    assert "Continue with GitHub" in response.content.decode()
    sources = form_action_sources(response)
    assert "https://github.com" in sources
    assert "https://kauth.kakao.com" in sources
