import pytest
from django.urls import reverse

from conftest import PASSWORD

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
    assert response.context["form"].errors["password2"]
    assert not django_user_model.objects.filter(username="newbie").exists()


def test_signup_honours_safe_next(client):
    response = client.post(
        "/accounts/signup/?next=/sessions/new/",
        {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response["Location"] == "/sessions/new/"


def test_login_and_logout(client, user):
    response = client.post(LOGIN, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session.get("_auth_user_id") == str(user.pk)

    assert client.get("/accounts/logout/").status_code == 405  # POST only
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_login_wrong_password_shows_error(client, user):
    response = client.post(LOGIN, {"username": user.username, "password": "wrong"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()


@pytest.mark.parametrize("target", ["/sessions/new/", "/sessions/1/?tab=chat"])
def test_login_honours_same_site_next(client, user, target):
    response = client.post(
        f"{LOGIN}?next={target}", {"username": user.username, "password": PASSWORD, "next": target}
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
    response = client.post(LOGIN, {"username": user.username, "password": PASSWORD, "next": target})
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
    settings.AUTH_RATE = "3/m"
    for _ in range(3):
        assert client.post(LOGIN, {"username": user.username, "password": "x"}).status_code == 200
    response = client.post(LOGIN, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert "_auth_user_id" not in client.session
    # Another address is not affected.
    other = client.post(
        LOGIN, {"username": user.username, "password": PASSWORD}, REMOTE_ADDR="10.9.9.9"
    )
    assert other.status_code == 302


def test_signup_page_throttled(client, settings, django_user_model):
    settings.AUTH_RATE = "2/m"
    for i in range(2):
        client.post("/accounts/signup/", {"username": f"u{i}", "password1": "1", "password2": "1"})
    response = client.post(
        "/accounts/signup/", {"username": "late", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 429
    assert not django_user_model.objects.filter(username="late").exists()


def test_login_page_get_is_not_throttled(client, settings):
    settings.AUTH_RATE = "1/m"
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
