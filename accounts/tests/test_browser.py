"""Logging in in a real browser: headless Chromium (Debian's) driven by Playwright against the
ASGI stack (`asgi_live_server`), with GitHub and Kakao played by the OAuth stand-in on
127.0.0.1. The browser follows every redirect of the dance itself: our login URL, the
provider's authorize URL, our callback, then `next`.

Log in with GitHub, log in with Kakao, connect a provider from the account page, an
unverified address that must not take over an account, and a password reset by email (the
live server runs in this process, so its mail lands in django.core.mail.outbox).

One Chromium for the module; each test opens a fresh context (no cookies carried over).
"""

import copy
import re
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.core import mail
from django.db import connections

from accounts.models import User
from accounts.testing.oauth_standin import ScriptedUser
from accounts.tests.conftest import HONG, OCTO
from conftest import PASSWORD

pytestmark = [
    pytest.mark.browser,
    # As sessions_app's browser tests: mixing flushed and restored databases in one run
    # makes the restore trip over re-created content types.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
NEW_PASSWORD = "another-Long-passphrase-for-tests-9"


@pytest.fixture
def chromium(asgi_live_server):
    """Headless Chromium, started after the test database is set up (as in
    sessions_app/tests/test_browser.py): Playwright's sync API leaves an event loop
    running in this thread, and Django then hands out fresh connection objects, which
    would miss the contents `serialized_rollback` restores. The ORM calls in the tests
    need DJANGO_ALLOW_ASYNC_UNSAFE for the same reason."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make browser` installs it"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    connections.close_all()


class Watcher:
    """What must never happen on a page: script errors, CSP violations."""

    def __init__(self, page):
        self.problems: list[str] = []
        page.on("console", self.console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def console(self, message):
        text = message.text
        if (
            message.type == "error" or "Content Security Policy" in text
        ) and "Failed to load resource" not in text:
            self.problems.append(f"console {message.type}: {text}")


@pytest.fixture
def providers_in_form_action(settings, social_providers):
    """Our CSP's form-action with the stand-in's origin in it, as project/settings.py
    has GitHub's and Kakao's (SOCIAL_LOGIN_ORIGINS): a login button's POST is answered
    with a redirect to the provider, and browsers hold every hop to form-action."""
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"] = [
        *policy["DIRECTIVES"]["form-action"],
        social_providers.base_url,
    ]
    settings.CONTENT_SECURITY_POLICY = policy


@pytest.fixture
def page(chromium, asgi_live_server, social_providers, providers_in_form_action):
    """A fresh browser context on the live server, with GitHub and Kakao at the stand-in."""
    context = chromium.new_context(base_url=asgi_live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.watcher = Watcher(page)
    yield page
    context.close()
    connections.close_all()


def nav(page):
    return page.get_by_role("navigation", name="Main")


def expect_logged_in_as(page, public_name: str) -> None:
    from playwright.sync_api import expect

    expect(nav(page).locator(".site-nav__who")).to_contain_text(public_name)


def expect_logged_out(page) -> None:
    from playwright.sync_api import expect

    expect(nav(page).get_by_role("link", name="Log in")).to_be_visible()
    expect(nav(page).locator(".site-nav__who")).to_have_count(0)


def log_in_with_password(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label(re.compile(r"^Password:?$")).fill(password)
    page.locator("main form").first.get_by_role("button", name="Log in").click()


def test_log_in_with_github(page, social_providers):
    from playwright.sync_api import expect

    social_providers.next_user("github", OCTO)
    page.goto("/accounts/login/?next=/sessions/mine/")
    page.get_by_role("button", name="Continue with GitHub").click()

    expect(page).to_have_url(re.compile(r"/sessions/mine/$"))
    expect_logged_in_as(page, "octo")
    user = User.objects.get()
    assert (user.username, user.display_name, user.email) == ("octo", "octo", "octo@example.com")
    assert SocialAccount.objects.get().user == user
    # The browser went to the provider and back: authorize, then our server's token and
    # profile requests.
    assert [r.endpoint for r in social_providers.requests_for("github")] == [
        "authorize",
        "token",
        "user",
        "emails",
    ]
    assert page.watcher.problems == []


def test_log_in_with_kakao(page, social_providers):
    from playwright.sync_api import expect

    social_providers.next_user("kakao", HONG)
    page.goto("/accounts/signup/")
    page.get_by_role("button", name="Continue with Kakao").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect_logged_in_as(page, "홍길동")
    page.goto("/accounts/")
    expect(page.locator(".account__public-name")).to_contain_text("홍길동")
    expect(page.locator(".account__connection--kakao")).to_contain_text("Kakao: 홍길동")
    user = User.objects.get()
    assert (user.username, user.display_name) == ("홍길동", "홍길동")
    assert page.watcher.problems == []


def test_connect_a_provider_from_the_account_page(page, social_providers, user):
    from playwright.sync_api import expect

    log_in_with_password(page, user.username, PASSWORD)
    expect_logged_in_as(page, user.public_name)
    page.goto("/accounts/")
    logins = page.locator(".account__logins")
    expect(logins.locator(".account__connection")).to_have_count(0)

    social_providers.next_user("github", OCTO)
    page.get_by_role("button", name="Continue with GitHub").click()

    expect(page).to_have_url(re.compile(r"/accounts/$"))
    expect(logins.locator(".account__connection--github")).to_contain_text("GitHub: octo")
    expect(page.get_by_role("button", name="Disconnect GitHub")).to_be_visible()
    # Connected once: only Kakao is still offered.
    expect(page.get_by_role("button", name="Continue with GitHub")).to_have_count(0)
    expect(page.get_by_role("button", name="Continue with Kakao")).to_be_visible()
    assert SocialAccount.objects.get().user == user
    assert User.objects.count() == 1

    # And back out again: the password is still there, so GitHub can go.
    page.get_by_role("button", name="Disconnect GitHub").click()
    expect(page).to_have_url(re.compile(r"/accounts/$"))
    expect(logins.locator(".account__connection")).to_have_count(0)
    assert not SocialAccount.objects.exists()
    assert page.watcher.problems == []


def test_an_unverified_address_does_not_take_over_the_account(page, social_providers, make_user):
    from playwright.sync_api import expect

    victim = make_user("victim")
    EmailAddress.objects.create(user=victim, email=victim.email, verified=True, primary=True)
    social_providers.next_user(
        "github",
        ScriptedUser(uid="666", login="mallory", email=victim.email, email_verified=False),
    )
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Continue with GitHub").click()

    # Not logged in anywhere: the short form, as for any new account.
    expect(page).to_have_url(re.compile(r"/accounts/3rdparty/signup/$"))
    expect_logged_out(page)
    assert not SocialAccount.objects.exists()
    # Keeping the victim's address is refused...
    page.get_by_role("button", name="Sign Up").click()
    expect(page.locator("#id_email_error")).to_contain_text(
        "An account already exists with this email address"
    )
    expect_logged_out(page)
    # ...and the victim's account is untouched and still theirs.
    victim.refresh_from_db()
    assert victim.check_password(PASSWORD)
    assert list(User.objects.all()) == [victim]
    assert not SocialAccount.objects.exists()
    assert page.watcher.problems == []


def test_reset_a_forgotten_password_by_email(page, user):
    from playwright.sync_api import expect

    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(re.compile(r"/accounts/password/reset/$"))
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Reset My Password").click()
    expect(page).to_have_url(re.compile(r"/accounts/password/reset/done/$"))

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+/", message.body)
    assert link, message.body
    page.goto(link.group(0))
    page.get_by_label(re.compile(r"^New Password:?$")).fill(NEW_PASSWORD)
    page.get_by_label(re.compile(r"^New Password \(again\):?$")).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change Password").click()
    expect(page).to_have_url(re.compile(r"/accounts/password/reset/key/done/$"))
    expect_logged_out(page)

    log_in_with_password(page, user.username, PASSWORD)  # the old one no longer works
    expect(page.locator("main")).to_contain_text("not correct")
    expect_logged_out(page)
    log_in_with_password(page, user.username, NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/$"))
    expect_logged_in_as(page, user.public_name)
    assert page.watcher.problems == []
