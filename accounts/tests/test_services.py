import pytest
from django.core.exceptions import ValidationError

from accounts.services import user_create
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_user_create_hashes_password():
    user = user_create(username="kim", password=PASSWORD, email="kim@example.com")
    assert user.check_password(PASSWORD)
    assert user.password != PASSWORD


def test_user_create_rejects_weak_password(django_user_model):
    with pytest.raises(ValidationError):
        user_create(username="kim", password="password")
    assert not django_user_model.objects.exists()


def test_public_name_prefers_display_name(user):
    assert user.public_name == user.username
    user.display_name = "Mina K."
    assert user.public_name == "Mina K."
