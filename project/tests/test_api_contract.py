"""The API's contract, checked by a machine: schemathesis (the CLI, every check, every
phase: examples, coverage, fuzzing and stateful) against a live ASGI server whose model
is faked at our boundary (coach.llm.use_chat_client), with a fixed seed.

The run is bounded: MAX_EXAMPLES per operation, one worker, and a time limit on the
process; on the 2-core development machine it takes about 75 seconds.

Streaming: schemathesis 4 parses `text/event-stream` answers and checks each event
against the schema (OpenAPI 3.0: the media type's `schema` describes one event), so the
event streams are covered for status, content type and event shape. The hooks module
(contract_hooks.py) makes half of the requests to a turn endpoint ask for the stream.
What an event's `data` JSON holds, and that the first event is `start`, OpenAPI 3.0
cannot say: test_stream_starts_with_start below and sessions_app/tests/test_api_turns.py
check it directly.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from project.settings import auth_rate_limits
from sessions_app.tests.conftest import asgi_live_server  # noqa: F401 - the fixture
from sessions_app.tests.sse import parse_block

pytestmark = [
    pytest.mark.contract,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SEED = 20240610
MAX_EXAMPLES = 100
RUN_TIMEOUT_SECONDS = 240
COACH = "meditation-guide"

# Operations left out, and why.
EXCLUDED = {
    # It revokes the very token the run authenticates with: every later request would be
    # anonymous. Its behaviour is tested in accounts/tests/test_api.py.
    "/api/auth/logout/": "revokes the token under test",
}
# Operations left out by their id, for the same reason.
EXCLUDED_OPERATIONS = {
    # DELETE /api/me/ deletes the account under test once it guesses the login name.
    # Its behaviour is tested in accounts/tests/test_api.py.
    "me_destroy": "deletes the account under test",
}

# Checks switched off for one operation, each with its reason: (method, path, check).
CHECKS_OFF: dict[tuple[str, str, str], str] = {
    (
        "POST",
        "/api/auth/signup/",
        "positive_data_acceptance",
    ): "A username must be free and a password strong enough (Django's validators: not too "
    "common, not all digits, not like the username). That depends on who signed up "
    "before and on a dictionary of common passwords, which no schema can say; such a "
    "request is a documented 400 with field errors.",
    (
        "POST",
        "/api/auth/token/",
        "positive_data_acceptance",
    ): "Any username and password are valid input; a wrong pair is a documented 400 "
    "(`detail`), as DRF's token endpoint has always answered.",
    (
        "PATCH",
        "/api/auth/me/",
        "positive_data_acceptance",
    ): "A public name must not be another member's name or a default-looking one, and "
    "must not hold invisible characters (Unicode categories C*, which a JSON Schema "
    "pattern cannot name): a documented 400 with field errors.",
    (
        "POST",
        "/api/sessions/",
        "positive_data_acceptance",
    ): "`coach` must be the slug of an active coach, and the tags that coach's options: "
    "data in the database, not something the schema can list. The run draws coaches and "
    "tags from the real ones most of the time (the dictionaries below), so most requests "
    "reach the model; the others are a documented 400 with field errors.",
    (
        "POST",
        "/api/sessions/{id}/report/",
        "positive_data_acceptance",
    ): "A member cannot report their own session, nor one twice: that depends on who "
    "owns the session and on earlier reports, not on the request. A documented 400.",
}


def _config(*, session_ids, message_ids, goal_tags, state_tags) -> str:
    """schemathesis.toml: the run's settings, the identifiers that exist (so that the
    operations on one session or message reach their logic, not only 404), and the
    checks switched off above."""

    def values(items) -> str:
        return (
            "["
            + ", ".join(f'"{item}"' if isinstance(item, str) else str(item) for item in items)
            + "]"
        )

    lines = [
        f"seed = {SEED}",
        "workers = 1",
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        'database = "none"',
        "[checks]",
        "enabled = true",
        "[dictionaries.session_ids]",
        f"values = {values(session_ids)}",
        "[dictionaries.message_ids]",
        f"values = {values(message_ids)}",
        "[dictionaries.coaches]",
        f'values = ["{COACH}"]',
        "[dictionaries.goal_tags]",
        f"values = {values(goal_tags)}",
        "[dictionaries.state_tags]",
        f"values = {values(state_tags)}",
        "[parameters]",
        '"body.coach" = { dictionary = "coaches", probability = 0.9 }',
        '"body.goal.tags[*]" = { dictionary = "goal_tags", probability = 0.9 }',
        '"body.current_state.tags[*]" = { dictionary = "state_tags", probability = 0.9 }',
    ]
    for prefix, dictionary in (
        ("/api/sessions/", "session_ids"),
        ("/api/messages/", "message_ids"),
    ):
        lines += [
            "[[operations]]",
            f'include-path-regex = "^{prefix}"',
            f'parameters = {{ "path.id" = {{ dictionary = "{dictionary}", probability = 0.7 }} }}',
        ]
    for (method, path, check), _reason in CHECKS_OFF.items():
        lines += [
            "[[operations]]",
            f'include-method = "{method}"',
            f'include-path = "{path}"',
            f"checks.{check}.enabled = false",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def open_limits(settings):
    """Limits high enough that the run tests the API, not the limits (which have their
    own tests): the daily quota, turns in flight, the throttles."""
    settings.COACH_DAILY_LIMIT = 1_000_000
    settings.COACH_DAILY_REFUNDS = 1_000_000
    settings.COACH_USER_TURNS_IN_FLIGHT = 1_000
    settings.COACH_SESSION_MAX_TURNS = 1_000_000
    settings.COACH_SITE_DAILY_LIMIT = 10_000_000
    settings.API_THROTTLE_RATES = {"anon": "1000000/min", "user": "1000000/min"}
    settings.ACCOUNT_RATE_LIMITS = auth_rate_limits("1000000/m")
    settings.SIGNUP_DAILY_LIMIT = 0
    settings.REPORT_RATES = ["1000000/h"]


def test_the_api_keeps_its_schema(
    asgi_live_server,  # noqa: F811
    fake_llm,
    open_limits,
    make_user,
    tmp_path,
):
    from rest_framework.authtoken.models import Token

    from coach.models import Coach
    from sessions_app.tests.public_builders import build_session

    user = make_user("contract")
    other = make_user("contract-other")
    token = Token.objects.create(user=user)
    coach = Coach.objects.get(slug=COACH)
    mine = build_session(
        owner=user, turns=[("assistant", "A plan"), ("user", "More?"), ("assistant", "Yes.")]
    )
    theirs = build_session(owner=other, turns=[("assistant", "Their plan")])
    sessions = [mine.pk, theirs.pk]
    messages = list(mine.messages.values_list("pk", flat=True)) + list(
        theirs.messages.values_list("pk", flat=True)
    )
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        _config(
            session_ids=sessions,
            message_ids=messages,
            goal_tags=coach.goal_options,
            state_tags=coach.state_options,
        )
    )
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{asgi_live_server.url}/api/schema/?format=json",
        "--header",
        f"Authorization: Token {token.key}",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    for path in EXCLUDED:
        command += ["--exclude-path", path]
    for operation_id in EXCLUDED_OPERATIONS:
        command += ["--exclude-operation-id", operation_id]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "project.tests.contract_hooks",
        "PYTHONPATH": str(django_settings.BASE_DIR),
    }
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-30000:] + result.stderr[-3000:]


def test_stream_starts_with_start(asgi_live_server, user, fake_llm):  # noqa: F811
    """What the schema cannot say of an event stream: its first event is `start`."""
    from urllib.request import urlopen

    from sessions_app.tests.public_builders import build_session

    session = build_session(owner=user, turns=[("assistant", "A plan")])
    message = session.messages.get()
    url = f"{asgi_live_server.url}/api/messages/{message.pk}/stream/"
    with urlopen(url, timeout=10) as response:  # noqa: S310 - our own live server
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        body = response.read().decode()
    events = [parse_block(block) for block in body.split("\n\n") if block.strip()]
    names = [event["event"] for event in events]
    assert names[0] == "start" and names[-1] == "done", names
    assert "".join(e["data"]["text"] for e in events if e["event"] == "delta") == "A plan"


# --- What the run found, each pinned by a direct test ------------------------------


@pytest.mark.django_db
def test_a_number_where_text_is_required_is_refused(user_api, user):
    from sessions_app.tests.factories import make_session

    session = make_session(owner=user)
    response = user_api.post(f"/api/sessions/{session.pk}/messages/", {"content": 0}, format="json")
    assert response.status_code == 400
    assert "content" in response.json()
    response = user_api.patch("/api/auth/me/", {"display_name": 0}, format="json")
    assert response.status_code == 400
    assert "display_name" in response.json()


@pytest.mark.django_db
def test_starting_a_session_takes_json_only(user_api):
    response = user_api.post(
        "/api/sessions/", {"coach": COACH, "goal": "deep rest"}, format="multipart"
    )
    assert response.status_code == 415
    assert "detail" in response.json()


@pytest.mark.django_db
def test_an_unknown_method_on_the_stream_is_a_json_405_not_a_csrf_page(user):
    from django.test import Client

    from sessions_app.tests.factories import make_session

    message = make_session(owner=user).messages.get()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.generic("QUERY", f"/api/messages/{message.pk}/stream/")
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.django_db
def test_the_schema_documents_what_drf_answers_everywhere(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if path.endswith("/stream/"):  # not throttled; a wrong token reads as none
                assert "429" not in responses and "401" not in responses
                assert "text/event-stream" in responses["200"]["content"]
                continue
            assert "429" in responses, (method, path)
            assert "Retry-After" in responses["429"].get("headers", {}), (method, path)
            if path not in ("/api/auth/signup/", "/api/auth/token/"):
                assert "401" in responses, (method, path)
            if method in ("post", "patch") and "requestBody" in operation:
                assert "400" in responses, (method, path)
    goal = schema["components"]["schemas"]["SessionCreateRequest"]["properties"]["goal"]
    assert goal["anyOf"], goal
