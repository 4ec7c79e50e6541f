"""The API's throttles: 429 with Retry-After past the rate, per address and per member."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_rates(settings):
    settings.API_THROTTLE_RATES = {"anon": "3/min", "user": "5/min"}


def test_anonymous_readers_are_throttled_per_address(api_client, low_rates):
    for _ in range(3):
        assert api_client.get("/api/coaches/").status_code == 200
    refused = api_client.get("/api/coaches/")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["detail"]
    # Another address has its own count.
    assert api_client.get("/api/coaches/", REMOTE_ADDR="198.51.100.7").status_code == 200


def test_members_have_their_own_higher_count(user_api, low_rates):
    for _ in range(5):
        assert user_api.get("/api/coaches/").status_code == 200
    assert user_api.get("/api/coaches/").status_code == 429
