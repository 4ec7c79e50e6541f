"""Public pages never show an account's private fields: only those on an allowlist."""

import pytest
from django.contrib.auth import get_user_model
from django.db import models
from django.urls import reverse

from sessions_app.tests.public_builders import build_session

# The only account fields a public page or the public API may show: through
# `public_name` (the display name, or "Member <code>" when there is none; never the
# username).
PUBLIC_USER_FIELDS = {"display_name"}


def private_markers(user) -> dict[str, str]:
    """Give every text field of the account outside the allowlist a unique value."""
    markers = {}
    for field in get_user_model()._meta.concrete_fields:
        if field.name in PUBLIC_USER_FIELDS or not isinstance(field, models.CharField):
            continue
        value = f"zq{field.name.replace('_', '')}marker"
        if isinstance(field, models.EmailField):
            value = f"{value}@private.example"
        setattr(user, field.name, value[: field.max_length])
        markers[field.name] = getattr(user, field.name)
    user.save()
    return markers


@pytest.fixture
def owner_and_markers(make_user):
    owner = make_user("someone", display_name="Public Pen Name")
    markers = private_markers(owner)
    assert {"email", "username", "password", "first_name", "last_name"} <= set(markers)
    return owner, markers


def public_pages(session) -> list[str]:
    return [
        reverse("sessions:gallery"),
        reverse("sessions:gallery") + "?q=Walk",
        reverse("sessions:detail", args=[session.pk]),
        reverse("sessions:export", args=[session.pk]),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["anonymous", "member", "owner"])
def test_public_pages_show_only_allowlisted_account_fields(
    client, make_user, owner_and_markers, viewer
):
    owner, markers = owner_and_markers
    session = build_session(
        owner=owner, title="Walk more", turns=[("assistant", "Plan"), ("user", "Thanks")]
    )
    if viewer == "member":
        client.force_login(make_user("reader"))
    elif viewer == "owner":
        # The owner's own header names them by public name too; the page body is public.
        client.force_login(owner)
    for url in public_pages(session):
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        for field, value in markers.items():
            assert value not in body, f"{field} shown on {url}"
    gallery = client.get(reverse("sessions:gallery")).content.decode()
    assert "Public Pen Name" in gallery


# Every key the public API may answer with, at any depth.
PUBLIC_API_FIELDS = {
    # pagination
    "count",
    "next",
    "previous",
    "results",
    # sessions
    "id",
    "title",
    "coach",
    "owner",
    "created_at",
    "message_count",
    "prompts",
    "messages",
    # prompts
    "kind",
    "tags",
    "text",
    # messages
    "role",
    "content",
    "content_html",
    "status",
    "model",
    "finish_reason",
    "replaces",
    "sources",
    # a reply's sources: passages of the coach's public library
    "rank",
    "document",
    "heading",
    "score",
    "passage",
    "url",
}


def keys_of(data) -> set[str]:
    if isinstance(data, dict):
        return set(data) | set().union(*(keys_of(v) for v in data.values()))
    if isinstance(data, list):
        return set().union(*(keys_of(v) for v in data)) if data else set()
    return set()


@pytest.mark.django_db
def test_public_api_answers_only_allowlisted_fields(api_client, owner_and_markers):
    owner, markers = owner_and_markers
    session = build_session(
        owner=owner,
        title="Walk more",
        turns=[("assistant", "Plan"), ("failed", "Thanks")],
    )
    for url in (
        reverse("sessions-api:session-list"),
        reverse("sessions-api:session-list") + "?q=walk",
        reverse("sessions-api:session-detail", args=[session.pk]),
    ):
        response = api_client.get(url)
        assert response.status_code == 200, url
        assert keys_of(response.json()) <= PUBLIC_API_FIELDS, url
        body = response.content.decode()
        for field, value in markers.items():
            assert value not in body, f"{field} in {url}"
        assert "secret-internal-detail" not in body  # a model error stays private
        assert "Public Pen Name" in body
    for message in session.messages.all():
        response = api_client.get(reverse("sessions-api:message-detail", args=[message.pk]))
        assert keys_of(response.json()) <= PUBLIC_API_FIELDS
        assert "secret-internal-detail" not in response.content.decode()


@pytest.mark.django_db
def test_api_content_html_is_the_sanitised_page_html(api_client, user):
    from sessions_app.tests.html_checks import unsafe_bits

    hostile = "**Plan** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=y>"
    session = build_session(
        owner=user, turns=[("assistant", hostile), ("user", "<b>me</b>\nline two")]
    )
    detail = api_client.get(reverse("sessions-api:session-detail", args=[session.pk])).json()
    reply, mine = detail["messages"]
    assert reply["content"] == hostile  # the raw Markdown stays as written
    assert reply["content_html"].startswith("<p><strong>Plan</strong> &lt;script&gt;")
    assert unsafe_bits(reply["content_html"]) == []
    assert mine["content_html"] == "<p>&lt;b&gt;me&lt;/b&gt;<br>line two</p>"
