import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_valid_token_reads_as_its_user(user):
    token = Token.objects.create(user=user)
    response = with_token(token.key).get("/api/me/")
    assert response.status_code == 200
    assert response.json()["username"] == user.username


def test_an_unknown_token_is_refused_in_drfs_words(user):
    Token.objects.create(user=user)
    response = with_token("0" * 40).get("/api/me/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    assert response["WWW-Authenticate"] == "Token"


def test_the_token_of_a_deactivated_account_is_refused(user):
    token = Token.objects.create(user=user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = with_token(token.key).get("/api/me/")
    assert response.status_code == 401
    assert response.json() == {"detail": "User inactive or deleted."}


def test_one_persons_token_never_reads_as_another(user, outsider):
    mine, theirs = Token.objects.create(user=user), Token.objects.create(user=outsider)
    assert with_token(mine.key).get("/api/me/").json()["username"] == user.username
    assert with_token(theirs.key).get("/api/me/").json()["username"] == outsider.username
    assert with_token(mine.key).get("/api/me/").json()["username"] == user.username
