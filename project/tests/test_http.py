"""The client's address behind zero, one or two proxies, and what a client may forge."""

import pytest
from django.test import RequestFactory

from project.http import UNKNOWN_IP, client_ip, parse_ip


def request_from(remote: str = "203.0.113.9", forwarded: str | None = None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("198.51.100.7", "198.51.100.7"),
        (" 198.51.100.7 ", "198.51.100.7"),
        ("198.51.100.7:5678", "198.51.100.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("unknown", None),
        ("", None),
        ("1.2.3.4.5", None),
        ("<script>", None),
    ],
)
def test_parse_ip(value, expected):
    assert parse_ip(value) == expected


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXY_HOPS = 0
    assert client_ip(request_from(forwarded="1.1.1.1")) == "203.0.113.9"


def test_one_proxy_trusts_the_right_most_entry_only(settings):
    settings.TRUSTED_PROXY_HOPS = 1
    # A client forged the first entry; our proxy appended the address it saw.
    assert client_ip(request_from(forwarded="1.1.1.1, 198.51.100.7")) == "198.51.100.7"


def test_two_proxies_skip_the_inner_one(settings):
    settings.TRUSTED_PROXY_HOPS = 2
    forwarded = "1.1.1.1, 198.51.100.7, 10.0.0.2"
    assert client_ip(request_from(forwarded=forwarded)) == "198.51.100.7"


@pytest.mark.parametrize("forwarded", ["garbage", "198.51.100.999:80", ", ,", "[::1"])
def test_garbage_never_raises_and_counts_as_one_unknown_address(settings, forwarded):
    settings.TRUSTED_PROXY_HOPS = 1
    assert client_ip(request_from(forwarded=forwarded)) in (UNKNOWN_IP, "203.0.113.9")


def test_fewer_entries_than_hops_falls_back_to_the_peer(settings):
    settings.TRUSTED_PROXY_HOPS = 2
    assert client_ip(request_from(forwarded="198.51.100.7")) == "203.0.113.9"
    assert client_ip(request_from(remote="not-an-ip")) == UNKNOWN_IP


@pytest.mark.django_db
def test_a_garbage_address_on_login_is_no_500(client, settings):
    settings.TRUSTED_PROXY_HOPS = 1
    for forwarded in ("198.51.100.7:1234", "garbage", "[2001:db8::1]:80"):
        response = client.post(
            "/accounts/login/",
            {"login": "nobody", "password": "wrong"},
            HTTP_X_FORWARDED_FOR=forwarded,
        )
        assert response.status_code == 200
