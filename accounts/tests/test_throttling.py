import pytest
from django.contrib import admin
from django.test import RequestFactory

from accounts.throttling import (
    SignupCapReached,
    signup_address,
    signup_daily_check,
    signup_daily_count,
    throttle_admin_login,
)
from project.http import UNKNOWN_IP


def request_from(address: str):
    return RequestFactory().post("/accounts/signup/", REMOTE_ADDR=address)


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:a:b:1:2:3:4", "2001:db8:a:b::/64"),
        ("2001:DB8:A:B::", "2001:db8:a:b::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("not an address", UNKNOWN_IP),
    ],
)
def test_signup_address_is_the_ipv4_address_or_the_ipv6_slash_64(address, key):
    assert signup_address(request_from(address)) == key


def test_signup_daily_cap_counts_in_the_shared_cache(settings):
    settings.SIGNUP_DAILY_LIMIT = 2
    request = request_from("192.0.2.7")
    for _ in range(2):
        signup_daily_check(request)
        signup_daily_count(request)
    with pytest.raises(SignupCapReached) as caught:
        signup_daily_check(request)
    assert 23 * 3600 < caught.value.retry_after <= 24 * 3600
    signup_daily_check(request_from("192.0.2.8"))  # another address


def test_signup_daily_cap_off_with_zero(settings):
    settings.SIGNUP_DAILY_LIMIT = 0
    request = request_from("192.0.2.7")
    for _ in range(3):
        signup_daily_count(request)
    signup_daily_check(request)


def test_signup_daily_cap_default_without_the_setting(settings):
    del settings.SIGNUP_DAILY_LIMIT  # the lead adds it; until then the default, 20
    request = request_from("192.0.2.7")
    for _ in range(20):
        signup_daily_count(request)
    with pytest.raises(SignupCapReached):
        signup_daily_check(request)


def test_admin_login_is_wrapped_once():
    view = admin.site.login
    assert getattr(view, "stepwise_ratelimited", False)
    throttle_admin_login(admin.site)
    assert admin.site.login is view
