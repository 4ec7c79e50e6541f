import pytest
from rest_framework.authtoken.models import Token

from conftest import PASSWORD

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
        "token": Token.objects.get(user=user).key,
    }


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
    settings.AUTH_RATE = "2/m"
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
    settings.AUTH_RATE = "1/m"
    api_client.post("/api/auth/signup/", {"username": "a1", "password": PASSWORD}, format="json")
    response = api_client.post(
        "/api/auth/signup/", {"username": "a2", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 429
