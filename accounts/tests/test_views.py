import re

import pytest
from django.urls import reverse

from conftest import PASSWORD
from project.settings import auth_rate_limits

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def test_signup_page_creates_user_and_logs_in(client, django_user_model):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "email": "n@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = django_user_model.objects.get(username="newbie")
    assert client.session["_auth_user_id"] == str(user.pk)


def test_signup_page_keeps_input_and_shows_errors(client, django_user_model):
    response = client.post(
        "/accounts/signup/",
        {"username": "newbie", "email": "n@example.com", "password1": "123", "password2": "123"},
    )
    assert response.status_code == 200
    assert b'value="newbie"' in response.content
    assert response.context["form"].errors["password1"]
    assert not django_user_model.objects.filter(username="newbie").exists()


def test_signup_honours_safe_next(client):
    response = client.post(
        "/accounts/signup/?next=/sessions/new/",
        {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response["Location"] == "/sessions/new/"


def test_login_and_logout(client, user):
    response = client.post(LOGIN, {"login": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session.get("_auth_user_id") == str(user.pk)

    assert client.get("/accounts/logout/").status_code == 405  # POST only
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_login_wrong_password_shows_error(client, user):
    response = client.post(LOGIN, {"login": user.username, "password": "wrong"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()


@pytest.mark.parametrize("target", ["/sessions/new/", "/sessions/1/?tab=chat"])
def test_login_honours_same_site_next(client, user, target):
    response = client.post(
        f"{LOGIN}?next={target}", {"login": user.username, "password": PASSWORD, "next": target}
    )
    assert response["Location"] == target


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
    ],
)
def test_login_refuses_open_redirects(client, user, target):
    response = client.post(LOGIN, {"login": user.username, "password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.parametrize(
    "target", ["//evil.example", "javascript:alert(1)", "https://evil.example"]
)
def test_signup_refuses_open_redirects(client, target):
    response = client.post(
        "/accounts/signup/",
        {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD, "next": target},
    )
    assert response["Location"] == "/"


def test_login_required_page_redirects_with_next(client):
    response = client.get("/sessions/new/")
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/sessions/new/"


def test_login_page_throttled_per_ip(client, user, settings):
    settings.ACCOUNT_RATE_LIMITS = auth_rate_limits("3/m")
    for _ in range(3):
        assert client.post(LOGIN, {"login": user.username, "password": "x"}).status_code == 200
    response = client.post(LOGIN, {"login": user.username, "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert "_auth_user_id" not in client.session
    # Another address is not affected.
    other = client.post(
        LOGIN, {"login": user.username, "password": PASSWORD}, REMOTE_ADDR="10.9.9.9"
    )
    assert other.status_code == 302


def test_signup_page_throttled(client, settings, django_user_model):
    settings.ACCOUNT_RATE_LIMITS = auth_rate_limits("2/m")
    for i in range(2):
        client.post("/accounts/signup/", {"username": f"u{i}", "password1": "1", "password2": "1"})
    response = client.post(
        "/accounts/signup/", {"username": "late", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 429
    assert not django_user_model.objects.filter(username="late").exists()


def test_login_page_get_is_not_throttled(client, settings):
    settings.ACCOUNT_RATE_LIMITS = auth_rate_limits("1/m")
    for _ in range(3):
        assert client.get(reverse("accounts:login")).status_code == 200


# --- Why you were sent to log in ------------------------------------------------------


def test_login_says_why_when_sent_from_the_wizard(client):
    page = client.get(f"{LOGIN}?next=/sessions/new/").text
    assert "Log in to start a coaching session." in page
    assert 'name="next" value="/sessions/new/"' in page
    # The way to sign up keeps where the person was going.
    assert 'href="/accounts/signup/?next=/sessions/new/"' in page


def test_login_says_why_with_a_coach_chosen(client):
    page = client.get(LOGIN, {"next": "/sessions/new/?coach=career-coach"}).text
    assert "Log in to start a coaching session." in page


def test_login_says_continue_for_any_other_page(client):
    page = client.get(LOGIN, {"next": "/sessions/mine/"}).text
    assert "Log in to continue." in page
    assert "start a coaching session" not in page


@pytest.mark.parametrize("query", ["", "?next=https://evil.example/sessions/new/"])
def test_login_says_nothing_without_a_same_site_next(client, query):
    page = client.get(f"{LOGIN}{query}").text
    assert "Log in to continue." not in page
    assert "Log in to start a coaching session." not in page
    assert 'name="next" value=""' in page


def test_signup_says_why_and_keeps_next(client):
    page = client.get("/accounts/signup/?next=/sessions/new/").text
    assert "Create an account to start a coaching session." in page
    assert 'name="next" value="/sessions/new/"' in page
    assert 'href="/accounts/login/?next=/sessions/new/"' in page
    other = client.get("/accounts/signup/", {"next": "/sessions/mine/"}).text
    assert "Create an account to continue." in other
    assert "Create an account to" not in client.get("/accounts/signup/").text


# --- Public names and case-insensitive usernames at sign-up ----------------------------------


def _signup(client, username, **extra):
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    data.update({k: v for k, v in extra.items() if not k.isupper()})
    return client.post("/accounts/signup/", data, **{k: v for k, v in extra.items() if k.isupper()})


def test_signup_page_offers_an_optional_public_name(client):
    page = client.get("/accounts/signup/").text
    assert 'name="display_name"' in page
    assert "your login name never is" in page


def test_signup_page_stores_the_public_name(client, django_user_model):
    response = _signup(client, "newbie", display_name="New Bee")
    assert response.status_code == 302
    assert django_user_model.objects.get(username="newbie").public_name == "New Bee"


def test_signup_page_refuses_a_taken_public_name(client, make_user, django_user_model):
    make_user("juno", display_name="Juno B.")
    response = _signup(client, "newbie", display_name="JUNO b.")
    assert response.status_code == 200
    assert response.context["form"].errors["display_name"]
    assert not django_user_model.objects.filter(username="newbie").exists()


def test_signup_page_case_variant_is_a_form_error(client, user, django_user_model):
    response = _signup(client, "MINA")
    assert response.status_code == 200
    assert response.context["form"].errors["username"]
    assert django_user_model.objects.count() == 1


def test_signup_page_race_is_a_form_error(client, user, monkeypatch, django_user_model):
    """The form's check passed, then another sign-up took the name: a form error, not a 500."""
    from accounts import selectors
    from accounts.forms import SignupForm

    monkeypatch.setattr(SignupForm, "clean_username", lambda self: self.cleaned_data["username"])
    monkeypatch.setattr(SignupForm, "_post_clean", lambda self: None)
    monkeypatch.setattr(selectors, "username_taken", lambda username: False)
    monkeypatch.setattr(django_user_model, "full_clean", lambda self, **kwargs: None)
    response = _signup(client, "Mina")
    assert response.status_code == 200
    assert response.context["form"].errors["username"] == [
        "A user with that username already exists."
    ]
    assert django_user_model.objects.count() == 1
    assert "_auth_user_id" not in client.session


def test_signup_page_daily_cap(client, settings, django_user_model):
    settings.SIGNUP_DAILY_LIMIT = 1
    assert _signup(client, "first").status_code == 302
    client.post("/accounts/logout/")
    response = _signup(client, "second")
    assert response.status_code == 429
    assert "Too many accounts were created from your network today" in response.text
    assert int(response["Retry-After"]) > 0
    assert not django_user_model.objects.filter(username="second").exists()
    assert _signup(client, "third", REMOTE_ADDR="203.0.113.5").status_code == 302


# --- The account page ---------------------------------------------------------------------------

ACCOUNT = "/accounts/"


def test_account_page_needs_login(client):
    response = client.get(ACCOUNT)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={ACCOUNT}"
    assert client.post(ACCOUNT, {"display_name": "X"}).status_code == 302


def test_account_page_shows_names_to_their_member(user_client, user):
    page = user_client.get(ACCOUNT).text
    assert user.public_name in page
    assert "mina" in page  # the login name, to its own member only
    assert 'href="/sessions/mine/"' in page


def test_account_page_changes_the_public_name(user_client, user):
    response = user_client.post(ACCOUNT, {"display_name": "Mina K."}, follow=True)
    assert response.redirect_chain == [(ACCOUNT, 302)]
    assert "Your public name is now “Mina K.”." in response.text
    user.refresh_from_db()
    assert user.display_name == "Mina K."


@pytest.mark.parametrize("name", ["", "juno b.", "JUNO", "x" * 41])
def test_account_page_refuses_a_bad_or_taken_name(user_client, user, make_user, name):
    make_user("juno", display_name="Juno B.")
    response = user_client.post(ACCOUNT, {"display_name": name})
    assert response.status_code == 200
    assert response.context["form"].errors["display_name"]
    user.refresh_from_db()
    assert user.display_name == ""


def test_account_page_of_an_outsider_is_their_own(client, user, outsider):
    client.force_login(outsider)
    client.post(ACCOUNT, {"display_name": "Out Sider"})
    user.refresh_from_db()
    outsider.refresh_from_db()
    assert user.display_name == ""
    assert outsider.display_name == "Out Sider"
    assert "mina" not in client.get(ACCOUNT).text


def test_header_menu_links_to_the_account_page(user_client):
    assert f'href="{ACCOUNT}"' in user_client.get("/").text


def test_the_old_account_address_moves_to_the_new_one(user_client):
    response = user_client.get("/accounts/me/")
    assert response.status_code == 301
    assert response["Location"] == ACCOUNT


def test_account_page_shows_logins_email_and_todays_requests(user_client, user, settings):
    from allauth.account.models import EmailAddress

    from coach.services import quota_reserve

    settings.COACH_DAILY_LIMIT = 5
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    quota_reserve(user=user)
    page = user_client.get(ACCOUNT).text
    assert "mina@example.com" in page and "not verified" in page
    assert "1 of 5 used" in page
    assert 'href="/accounts/password/change/"' in page
    assert 'href="/accounts/delete/"' in page
    assert "Continue with" not in page  # no provider is configured here


def test_a_social_only_account_is_offered_to_set_a_password(user_client, user):
    from allauth.socialaccount.models import SocialAccount

    user.set_unusable_password()
    user.save()
    SocialAccount.objects.create(user=user, provider="github", uid="7", extra_data={"login": "mk"})
    user_client.force_login(user)
    page = user_client.get(ACCOUNT).text
    assert 'href="/accounts/password/set/"' in page
    assert "GitHub: mk" in page
    assert "your only way to log in" in page  # no disconnect button for the last way in


# --- Deleting the account ---------------------------------------------------------------


def test_delete_page_needs_the_login_name(user_client, user, django_user_model):
    from sessions_app.tests.factories import make_session

    make_session(owner=user)
    page = user_client.get("/accounts/delete/")
    assert page.status_code == 200
    assert "your 1 session" in page.text
    response = user_client.post("/accounts/delete/", {"confirm": "not-me"})
    assert response.status_code == 200
    assert "That is not your login name. Nothing was deleted." in response.text
    assert django_user_model.objects.filter(pk=user.pk).exists()


def test_delete_page_deletes_the_account_and_logs_out(user_client, user, django_user_model):
    from sessions_app.models import CoachingSession
    from sessions_app.tests.factories import make_session

    session = make_session(owner=user)
    response = user_client.post("/accounts/delete/", {"confirm": "Mina"}, follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert "Your account and everything in it were deleted." in response.text
    assert not django_user_model.objects.filter(pk=user.pk).exists()
    assert "_auth_user_id" not in user_client.session
    # The session left the public gallery with the account.
    assert not CoachingSession.objects.filter(pk=session.pk).exists()
    assert user_client.get(f"/sessions/{session.pk}/").status_code == 404


def test_an_outsider_cannot_delete_someone_elses_account(client, user, outsider, django_user_model):
    client.force_login(outsider)
    response = client.post("/accounts/delete/", {"confirm": user.username})
    assert response.status_code == 200  # not their own name: nothing happens
    assert django_user_model.objects.filter(pk=user.pk).exists()
    assert django_user_model.objects.filter(pk=outsider.pk).exists()


# --- Password reset ------------------------------------------------------------------------


def test_password_reset_says_the_same_for_any_address(client, user, mailoutbox):
    known = client.post("/accounts/password/reset/", {"email": user.email}, follow=True)
    unknown = client.post("/accounts/password/reset/", {"email": "nobody@example.com"}, follow=True)
    assert (
        known.redirect_chain == unknown.redirect_chain == [("/accounts/password/reset/done/", 302)]
    )

    def visible(response, address):
        text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.text)
        return text.replace(address, "")

    assert visible(known, user.email) == visible(unknown, "nobody@example.com")
    assert [message.to for message in mailoutbox] == [[user.email], ["nobody@example.com"]]


def test_password_reset_by_email_sets_a_new_password(client, user, mailoutbox):
    client.post("/accounts/password/reset/", {"email": user.email})
    (link,) = re.findall(
        r"http://testserver(/accounts/password/reset/key/\S+/)", mailoutbox[0].body
    )
    form = client.get(link, follow=True)
    assert form.status_code == 200
    new = "a-brand-new-Passphrase-99"
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link,
        {"password1": new, "password2": new},
        follow=True,
    )
    assert done.status_code == 200
    user.refresh_from_db()
    assert user.check_password(new)


def test_password_reset_is_in_korean_too(client, user):
    page = client.get("/accounts/password/reset/", HTTP_ACCEPT_LANGUAGE="ko")
    assert page.status_code == 200
    assert "비밀번호" in page.text


def test_login_page_links_to_password_reset(client):
    assert 'href="/accounts/password/reset/"' in client.get(LOGIN).text


# --- The admin's login --------------------------------------------------------------------------


def test_admin_login_is_throttled(client, staff, settings):
    settings.ACCOUNT_RATE_LIMITS = auth_rate_limits("2/m")
    url = reverse("admin:login")
    for _ in range(2):
        assert client.post(url, {"username": staff.username, "password": "x"}).status_code == 200
    response = client.post(url, {"username": staff.username, "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # GETs are not counted; another address has its own count.
    assert client.get(url).status_code == 200
    other = client.post(
        url, {"username": staff.username, "password": PASSWORD}, REMOTE_ADDR="10.9.9.9"
    )
    assert other.status_code == 302


def test_admin_and_site_login_share_one_count(client, user, settings):
    settings.ACCOUNT_RATE_LIMITS = auth_rate_limits("2/m")
    client.post(LOGIN, {"login": user.username, "password": "x"})
    client.post(reverse("admin:login"), {"username": user.username, "password": "x"})
    assert client.post(LOGIN, {"login": user.username, "password": "x"}).status_code == 429


@pytest.mark.urls("accounts.tests.urls_moved_admin")
def test_admin_login_is_throttled_where_the_admin_moves(client, staff, settings):
    settings.ACCOUNT_RATE_LIMITS = auth_rate_limits("1/m")
    url = reverse("admin:login")
    assert url == "/backstage-7f3a/login/"
    client.post(url, {"username": staff.username, "password": "x"})
    assert client.post(url, {"username": staff.username, "password": PASSWORD}).status_code == 429


def test_admin_renaming_to_a_case_variant_is_a_form_error(client, staff, make_user):
    make_user("alice")
    bob = make_user("bob")
    client.force_login(staff)
    url = reverse("admin:accounts_user_change", args=[bob.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list)}
    data.update({"username": "Alice", "date_joined_0": "2026-01-01", "date_joined_1": "10:00:00"})
    response = client.post(url, data)
    assert response.status_code == 200
    assert "A user with that username already exists." in response.text
    bob.refresh_from_db()
    assert bob.username == "bob"
