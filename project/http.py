"""Small HTTP helpers shared by the apps."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest

# What an address we cannot read counts as: one bucket, never an error.
UNKNOWN_IP = "0.0.0.0"  # noqa: S104 - a rate-limit key, not a bind address


def client_ip(request: HttpRequest) -> str:
    """The client's address, for per-IP limits: always a valid IPv4 or IPv6 address.

    With DJANGO_TRUSTED_PROXY_HOPS = n > 0, each of the n proxies in front of us appends
    the address it saw to X-Forwarded-For, so the n-th entry from the right is the
    client as our outermost proxy saw it; entries left of it can be forged. With 0 (the
    default) it is REMOTE_ADDR. An entry with a port (`1.2.3.4:5678`, `[::1]:80`) is
    read without it; anything unreadable counts as UNKNOWN_IP.
    """
    hops = settings.TRUSTED_PROXY_HOPS
    if hops > 0:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
        if len(entries) >= hops:
            return parse_ip(entries[-hops]) or UNKNOWN_IP
    return parse_ip(request.META.get("REMOTE_ADDR", "")) or UNKNOWN_IP


def parse_ip(value: str) -> str | None:
    """`value` as a normalised IP address, without a port; None if it is not one."""
    value = value.strip()
    candidates = [value]
    if value.startswith("[") and "]" in value:  # [v6]:port
        candidates = [value[1 : value.index("]")]]
    elif value.count(":") == 1:  # v4:port
        candidates.append(value.split(":", 1)[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate.split("%", 1)[0]))
        except ValueError:
            continue
    return None


def wants_json(request: HttpRequest) -> bool:
    """JSON for the API, allauth's headless API, and any client that asks for it."""
    return request.path.startswith(("/api/", "/_allauth/")) or (
        "application/json" in request.headers.get("Accept", "")
    )
