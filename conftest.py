"""Fixtures shared by every app's tests: members, an outsider, staff, API clients, a coach."""

import pytest
from django.core.cache import cache
from django.utils import translation
from rest_framework.test import APIClient

from coach.models import Coach

PASSWORD = "correct-horse-battery-staple-42"


@pytest.fixture(autouse=True)
def _english_afterwards():
    """A request in another language activates it for the thread (LocaleMiddleware does
    not deactivate it): leave the default language for the next test."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, **extra):
        return django_user_model.objects.create_user(
            username=username, password=PASSWORD, email=f"{username}@example.com", **extra
        )

    return make


@pytest.fixture
def user(make_user):
    return make_user("mina")


@pytest.fixture
def outsider(make_user):
    """Somebody else: must be refused everything that belongs to `user`."""
    return make_user("outsider")


@pytest.fixture
def staff(make_user):
    return make_user("staffer", is_staff=True, is_superuser=True)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def user_api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def outsider_api(outsider):
    client = APIClient()
    client.force_authenticate(outsider)
    return client


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def coach(db):
    return Coach.objects.get(slug="meditation-guide")


@pytest.fixture
def fake_llm():
    """Replace the model client at our boundary; queue replies or LLMError instances on it."""
    from coach.llm import use_chat_client
    from coach.testing.fakes import FakeChatClient

    fake = FakeChatClient()
    with use_chat_client(fake):
        yield fake
