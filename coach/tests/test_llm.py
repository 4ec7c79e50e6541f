"""The OpenAI client at our boundary, against a scripted stub server on loopback.

The real `openai` SDK makes real HTTP requests here; only the server is ours. What we
check: what is sent, what comes back, which failures become which of our errors, and
that only connection errors, timeouts and 5xx are retried (once), never a 4xx.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import runpy
import time
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings

from coach import llm
from coach.llm import (
    LLMAuthError,
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    OpenAIChatClient,
    Reply,
    ReplyChunk,
    build_openai_client,
    get_chat_client,
    reset_chat_client,
    use_chat_client,
)
from coach.local_server import free_port
from coach.testing.fakes import FakeChatClient
from coach.tests.conftest import (
    StubResponse,
    chunk_event,
    completion_body,
    error_body,
)

MESSAGES = [
    {"role": "system", "content": "You are a coach."},
    {"role": "user", "content": "## What I want\nfocus"},
]


def complete(client: OpenAIChatClient) -> Reply:
    return client.complete(MESSAGES)


def stream(client: OpenAIChatClient) -> Reply:
    items = list(client.stream(MESSAGES))
    assert isinstance(items[-1], Reply)
    return items[-1]


CALLS = [pytest.param(complete, id="complete"), pytest.param(stream, id="stream")]


# --- What is sent, what comes back ----------------------------------------------------


def test_complete_sends_model_messages_and_max_tokens(stub_llm):
    client = stub_llm.client(model="my-model", max_tokens=123, temperature=0.2)

    reply = client.complete(MESSAGES)

    assert reply == Reply(
        content="Hello from the stub.",
        model="stub-model",
        prompt_tokens=12,
        completion_tokens=5,
        finish_reason="stop",
    )
    [request] = stub_llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "my-model"
    assert request.body["messages"] == MESSAGES
    assert request.body["max_tokens"] == 123
    assert request.body["temperature"] == 0.2
    assert not request.body.get("stream")


def test_without_a_key_a_placeholder_is_sent(stub_llm):
    stub_llm.client(api_key="").complete(MESSAGES)
    assert stub_llm.requests[0].headers["authorization"] == f"Bearer {llm.NO_KEY_PLACEHOLDER}"


def test_the_key_is_sent_as_bearer_token(stub_llm):
    stub_llm.client(api_key="sk-test-123").complete(MESSAGES)
    assert stub_llm.requests[0].headers["authorization"] == "Bearer sk-test-123"


def test_reply_without_usage_or_model_keeps_the_configured_model(stub_llm):
    body = completion_body("Hi.", model="")
    del body["usage"]
    stub_llm.queue(StubResponse(body=body))

    reply = stub_llm.client(model="configured").complete(MESSAGES)

    assert reply == Reply(content="Hi.", model="configured", finish_reason="stop")


def test_stream_yields_pieces_then_the_whole_reply_with_usage(stub_llm):
    usage = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    stub_llm.queue(
        StubResponse(events=[chunk_event("Breathe"), chunk_event(" in."), chunk_event(usage=usage)])
    )
    client = stub_llm.client(max_tokens=77)

    items = list(client.stream(MESSAGES))

    assert items == [
        ReplyChunk("Breathe"),
        ReplyChunk(" in."),
        Reply(content="Breathe in.", model="stub-model", prompt_tokens=9, completion_tokens=3),
    ]
    body = stub_llm.requests[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 77
    assert body["messages"] == MESSAGES


def test_a_reply_cut_by_the_length_limit_says_so(stub_llm):
    cut = {**chunk_event(""), "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    body = completion_body("1. Dim the")
    body["choices"][0]["finish_reason"] = "length"
    stub_llm.queue(StubResponse(events=[chunk_event("1. Dim the"), cut]), StubResponse(body=body))
    client = stub_llm.client()

    streamed = list(client.stream(MESSAGES))[-1]
    whole = client.complete(MESSAGES)

    assert streamed.finish_reason == whole.finish_reason == "length"
    assert streamed.cut_short and whole.cut_short


def test_stream_without_usage_reports_none(stub_llm):
    # llama-cpp-python's server ignores stream_options: no usage chunk.
    stub_llm.queue(StubResponse(events=[chunk_event("Rest."), {**chunk_event(""), "model": ""}]))

    items = list(stub_llm.client(model="local").stream(MESSAGES))

    assert items[-1] == Reply(content="Rest.", model="stub-model")


def test_stream_read_as_it_arrives_whatever_its_line_ends(stub_llm):
    # Events cut between reads, CRLF line ends, a comment and an id: what real servers do.
    first = json.dumps(chunk_event("Slow ")).encode()
    second = json.dumps(chunk_event("breaths.")).encode()
    stub_llm.queue(
        StubResponse(
            raw=[
                b": ping\r\n\r\ndata: " + first[:10],
                first[10:] + b"\r\n\r",
                b"\nid: 2\r\ndata: " + second + b"\r\n\r\n",
                b"data: [DONE]\r\n\r\n",
            ]
        )
    )

    items = list(stub_llm.client().stream(MESSAGES))

    assert items == [
        ReplyChunk("Slow "),
        ReplyChunk("breaths."),
        Reply(content="Slow breaths.", model="stub-model"),
    ]


def test_a_compressed_stream_is_read(stub_llm):
    # A proxy in front of the model server may compress the event stream.
    events = [chunk_event("Quiet "), chunk_event("mind.")]
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    compressed = gzip.compress(body + b"data: [DONE]\n\n")
    stub_llm.queue(StubResponse(raw=[compressed], headers={"Content-Encoding": "gzip"}))

    assert list(stub_llm.client().stream(MESSAGES))[-1].content == "Quiet mind."


def test_stream_that_ends_without_done_keeps_its_reply(stub_llm):
    stub_llm.queue(StubResponse(events=[chunk_event("All "), chunk_event("there.")], done=False))

    assert list(stub_llm.client().stream(MESSAGES))[-1].content == "All there."


def test_the_connection_is_used_again_after_a_stream(stub_llm):
    stub_llm.queue(
        StubResponse(events=[chunk_event("One.")]), StubResponse(events=[chunk_event("Two.")])
    )
    client = stub_llm.client()

    list(client.stream(MESSAGES))
    list(client.stream(MESSAGES))

    first, second = stub_llm.requests
    assert first.client_port == second.client_port


def test_a_body_left_open_after_done_does_not_hold_the_reply(stub_llm):
    done = b"data: [DONE]\n\n"
    piece = b"data: " + json.dumps(chunk_event("Done.")).encode() + b"\n\n"
    stub_llm.queue(StubResponse(raw=[piece, done], hold=3.0))
    started = time.monotonic()

    reply = list(stub_llm.client().stream(MESSAGES))[-1]

    assert reply.content == "Done."
    assert time.monotonic() - started < 2.0


def test_the_sdk_client_is_built_once_and_reused(stub_llm):
    stub_llm.queue(StubResponse(), StubResponse(events=[chunk_event("Streamed.")]))
    client = stub_llm.client()
    sdk = client._sdk
    client.complete(MESSAGES)
    list(client.stream(MESSAGES))
    assert client._sdk is sdk
    assert len(stub_llm.requests) == 2


def test_aclose_closes_the_loops_sdk_client_and_a_later_call_makes_a_new_one(stub_llm):
    # What the ASGI lifespan's shutdown does (project/asgi.py).
    stub_llm.queue(StubResponse(), StubResponse())
    client = stub_llm.client()

    async def scenario():
        await client.acomplete(MESSAGES)
        first = client._sdk
        await client.aclose()
        assert first.is_closed()
        await client.acomplete(MESSAGES)
        assert client._sdk is not first
        await client.aclose()

    async_to_sync(scenario)()
    assert len(stub_llm.requests) == 2


def test_aopen_makes_the_loops_sdk_client_before_the_first_request(stub_llm):
    # What the ASGI lifespan's startup does (project/asgi.py).
    stub_llm.queue(StubResponse())
    client = stub_llm.client()

    async def scenario():
        await client.aopen()
        made = client._sdks[asyncio.get_running_loop()]
        await client.acomplete(MESSAGES)
        assert client._sdk is made
        await client.aclose()

    async_to_sync(scenario)()
    assert len(stub_llm.requests) == 1


# --- Error mapping and retries --------------------------------------------------------


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize(
    ("status", "body", "error_class", "attempts"),
    [
        (400, error_body("context_length_exceeded"), LLMBadResponse, 1),
        (401, error_body("Incorrect API key provided: sk-abc"), LLMAuthError, 1),
        (403, error_body("Forbidden"), LLMAuthError, 1),
        (404, error_body("The model `nope` does not exist"), LLMBadResponse, 1),
        # The SDK would retry these three by default; we never retry a 4xx.
        (408, error_body("Request timeout"), LLMBadResponse, 1),
        (409, error_body("Conflict"), LLMBadResponse, 1),
        (429, error_body("Rate limit reached", code="rate_limit_exceeded"), LLMRateLimited, 1),
        (422, error_body("Unprocessable"), LLMBadResponse, 1),
        (500, error_body("Internal error"), LLMBadResponse, 2),
        (502, "<html>Bad gateway</html>", LLMBadResponse, 2),
        (503, error_body("Overloaded"), LLMBadResponse, 2),
    ],
)
def test_status_errors_become_our_errors_and_only_5xx_is_retried(
    stub_llm, call, status, body, error_class, attempts
):
    stub_llm.queue(*[StubResponse(status=status, body=body)] * 2)

    with pytest.raises(error_class) as caught:
        call(stub_llm.client())

    assert type(caught.value) is error_class
    assert str(caught.value) == str(error_class.default_message)
    assert len(stub_llm.requests) == attempts


@pytest.mark.parametrize("call", CALLS)
def test_exhausted_quota_says_so(stub_llm, call):
    stub_llm.queue(StubResponse(status=429, body=error_body("Quota", code="insufficient_quota")))

    with pytest.raises(LLMRateLimited) as caught:
        call(stub_llm.client())

    assert str(caught.value) == str(llm.QUOTA_EXHAUSTED_MESSAGE)
    assert len(stub_llm.requests) == 1


@pytest.mark.parametrize("call", CALLS)
def test_a_5xx_then_success_is_retried_once(stub_llm, call):
    stub_llm.queue(StubResponse(status=500, body=error_body()))
    if call is stream:
        stub_llm.queue(StubResponse(events=[chunk_event("Second time.")]))

    reply = call(stub_llm.client())

    assert reply.content in {"Hello from the stub.", "Second time."}
    assert len(stub_llm.requests) == 2


@pytest.mark.parametrize("call", CALLS)
def test_dropped_connection_is_retried_once_then_unavailable(stub_llm, call):
    stub_llm.queue(StubResponse(drop=True), StubResponse(drop=True), StubResponse())

    with pytest.raises(LLMUnavailable) as caught:
        call(stub_llm.client())

    assert str(caught.value) == str(LLMUnavailable.default_message)
    assert len(stub_llm.requests) == 2


@pytest.mark.parametrize("call", CALLS)
def test_dropped_connection_then_success(stub_llm, call):
    stub_llm.queue(StubResponse(drop=True))
    if call is stream:
        stub_llm.queue(StubResponse(events=[chunk_event("Back.")]))

    assert call(stub_llm.client()).content in {"Hello from the stub.", "Back."}
    assert len(stub_llm.requests) == 2


@pytest.mark.parametrize("call", CALLS)
def test_timeout_is_retried_once_then_reported(stub_llm, call):
    stub_llm.queue(StubResponse(delay=1.0), StubResponse(delay=1.0))
    started = time.monotonic()

    with pytest.raises(LLMTimeout) as caught:
        call(stub_llm.client(timeout=0.3))

    assert str(caught.value) == str(LLMTimeout.default_message)
    assert len(stub_llm.requests) == 2
    assert time.monotonic() - started < 2.0  # two timeouts of 0.3 s, no SDK back-off


@pytest.mark.parametrize("call", CALLS)
def test_unreachable_server_is_unavailable(call):
    client = OpenAIChatClient(
        base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", retry_delay=0.0
    )
    started = time.monotonic()

    with pytest.raises(LLMUnavailable) as caught:
        call(client)

    assert "cannot be reached" in str(caught.value)
    assert time.monotonic() - started < 5.0


def test_retries_can_be_turned_off(stub_llm):
    stub_llm.queue(StubResponse(status=500, body=error_body()), StubResponse())

    with pytest.raises(LLMBadResponse):
        stub_llm.client(max_retries=0).complete(MESSAGES)

    assert len(stub_llm.requests) == 1


def test_never_more_than_one_retry(stub_llm):
    stub_llm.queue(*[StubResponse(status=500, body=error_body())] * 5)

    with pytest.raises(LLMBadResponse):
        stub_llm.client(max_retries=5).complete(MESSAGES)

    assert len(stub_llm.requests) == 2


def test_our_error_keeps_the_sdk_error_as_cause_for_the_logs(stub_llm):
    import openai

    stub_llm.queue(StubResponse(status=401, body=error_body("Incorrect API key provided")))

    with pytest.raises(LLMAuthError) as caught:
        stub_llm.client().complete(MESSAGES)

    assert isinstance(caught.value.__cause__, openai.AuthenticationError)
    assert caught.value.status_code == 502


# --- Answers we cannot use ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("not json at all", id="not-json"),
        pytest.param({"id": "x", "object": "chat.completion"}, id="no-choices"),
        pytest.param(completion_body(choices=[]), id="empty-choices"),
    ],
)
def test_unreadable_answer_is_a_bad_response(stub_llm, body):
    stub_llm.queue(StubResponse(body=body))

    with pytest.raises(LLMBadResponse):
        stub_llm.client().complete(MESSAGES)

    assert len(stub_llm.requests) == 1


@pytest.mark.parametrize("call", CALLS)
def test_empty_reply_is_a_bad_response(stub_llm, call):
    stub_llm.queue(StubResponse(body=completion_body("  "), events=[] if call is stream else None))

    with pytest.raises(LLMBadResponse) as caught:
        call(stub_llm.client())

    assert "empty" in str(caught.value)


def test_stream_cut_after_pieces_is_reported_and_not_retried(stub_llm):
    stub_llm.queue(StubResponse(events=[chunk_event("Half a "), chunk_event("plan")], cut=True))
    pieces: list[str] = []

    with pytest.raises(LLMUnavailable):
        for item in stub_llm.client().stream(MESSAGES):
            pieces.append(item.text)

    assert pieces == ["Half a ", "plan"]
    assert len(stub_llm.requests) == 1  # a retry would repeat what the user already saw


def test_stream_error_event_is_a_bad_response(stub_llm):
    stub_llm.queue(StubResponse(events=[chunk_event("Hi"), error_body("Model crashed")]))

    with pytest.raises(LLMBadResponse):
        list(stub_llm.client().stream(MESSAGES))


def test_stream_with_garbage_event_is_a_bad_response(stub_llm):
    stub_llm.queue(StubResponse(events=["{not json"]))

    with pytest.raises(LLMBadResponse):
        list(stub_llm.client().stream(MESSAGES))


def test_closing_a_stream_early_releases_it(stub_llm):
    stub_llm.queue(StubResponse(events=[chunk_event("One "), chunk_event("two")]))
    client = stub_llm.client()

    items = client.stream(MESSAGES)
    assert next(items) == ReplyChunk("One ")
    items.close()

    assert client.complete(MESSAGES).content == "Hello from the stub."


def test_every_error_has_a_status_and_readable_words():
    for error_class in (LLMUnavailable, LLMTimeout, LLMAuthError, LLMRateLimited, LLMBadResponse):
        error = error_class()
        assert isinstance(error, LLMError)
        assert error.status_code in {502, 503, 504}
        assert str(error) == str(error_class.default_message)
        assert "openai" not in str(error).lower()


# --- Built from settings, lazily, once -------------------------------------------------


@pytest.fixture
def fresh_client():
    reset_chat_client()
    yield
    reset_chat_client()


def test_client_is_built_from_settings(settings, fresh_client):
    settings.OPENAI_API_KEY = "sk-from-settings"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.COACH_LLM_MODEL = "configured-model"
    settings.COACH_LLM_TIMEOUT = 12.0
    settings.COACH_LLM_MAX_RETRIES = 0
    settings.COACH_LLM_MAX_TOKENS = 321

    client = build_openai_client()

    assert isinstance(client, OpenAIChatClient)
    assert (client.model, client.base_url) == ("configured-model", "http://127.0.0.1:9/v1")
    assert (client.timeout, client.max_retries, client.max_tokens) == (12.0, 0, 321)
    assert client._sdk.api_key == "sk-from-settings"
    assert client._sdk.max_retries == 0  # the SDK's own retries are off


def test_a_key_without_base_url_means_openai(settings, fresh_client):
    settings.OPENAI_API_KEY = "sk-x"
    settings.OPENAI_BASE_URL = ""

    client = build_openai_client()

    assert client.base_url == "https://api.openai.com/v1"  # built, never called


def load_settings(monkeypatch, **env: str) -> dict:
    """project/settings.py evaluated afresh under `env` (the model variables cleared first)."""
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "COACH_LLM_MODEL",
        "COACH_LOCAL_LLM_PORT",
        "COACH_LOCAL_MODEL_FILE",
        "COACH_LOCAL_LLM_GGUF",
        "COACH_LOCAL_CONTEXT",
        "COACH_LOCAL_LLM_CONTEXT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("COACH_LLM_CONTEXT_TOKENS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(Path(django_settings.BASE_DIR) / "project" / "settings.py"))


def test_embedded_default_without_key_or_url(monkeypatch):
    loaded = load_settings(monkeypatch, COACH_LOCAL_LLM_PORT="8099")

    assert loaded["COACH_LLM_USES_LOCAL_SERVER"] is True
    assert loaded["OPENAI_BASE_URL"] == "http://127.0.0.1:8099/v1"
    assert loaded["COACH_LLM_MODEL"] == "SmolLM2-135M-Instruct"
    # Never plan a conversation longer than the embedded server's window.
    assert loaded["COACH_LLM_CONTEXT_TOKENS"] == loaded["COACH_LOCAL_CONTEXT"] == 4096
    assert loaded["COACH_LLM_IS_DEMO"] is True


def test_a_local_model_file_names_the_model_and_is_no_demo(monkeypatch):
    loaded = load_settings(
        monkeypatch, COACH_LOCAL_MODEL_FILE="/models/qwen2.5-1.5b-instruct-q4_k_m.gguf"
    )

    assert loaded["COACH_LLM_USES_LOCAL_SERVER"] is True
    assert loaded["COACH_LLM_IS_DEMO"] is False
    assert loaded["COACH_LLM_MODEL"] == "qwen2.5-1.5b-instruct-q4_k_m"
    # 0: runlocal reads the window from the file and passes it on.
    assert loaded["COACH_LOCAL_CONTEXT"] == 0
    assert loaded["COACH_LLM_CONTEXT_TOKENS"] == 4096


def test_the_older_local_setting_names_still_work(monkeypatch):
    loaded = load_settings(
        monkeypatch, COACH_LOCAL_LLM_GGUF="/models/phi.gguf", COACH_LOCAL_LLM_CONTEXT="2048"
    )

    assert loaded["COACH_LOCAL_MODEL_FILE"] == "/models/phi.gguf"
    assert loaded["COACH_LOCAL_CONTEXT"] == loaded["COACH_LLM_CONTEXT_TOKENS"] == 2048


@pytest.mark.parametrize(
    "env",
    [
        {"OPENAI_API_KEY": "sk-x"},
        {"OPENAI_BASE_URL": "http://localhost:11434/v1", "OPENAI_API_KEY": "ollama"},
        {"OPENAI_BASE_URL": "http://localhost:8000/v1"},
    ],
)
def test_a_key_or_url_means_no_local_server(monkeypatch, env):
    loaded = load_settings(monkeypatch, **env)

    assert loaded["COACH_LLM_USES_LOCAL_SERVER"] is False
    assert loaded["OPENAI_BASE_URL"] == env.get("OPENAI_BASE_URL", "")
    assert loaded["COACH_LLM_MODEL"] == "gpt-4o-mini"
    assert loaded["COACH_LLM_CONTEXT_TOKENS"] == 6000


def test_without_a_key_a_placeholder_key_is_configured(settings, fresh_client):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = "http://127.0.0.1:8081/v1"

    client = build_openai_client()

    assert client._sdk.api_key == llm.NO_KEY_PLACEHOLDER


def test_get_chat_client_builds_lazily_and_reuses(settings, fresh_client):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"

    first = get_chat_client()

    assert isinstance(first, OpenAIChatClient)
    assert get_chat_client() is first
    reset_chat_client()
    assert get_chat_client() is not first


def test_use_chat_client_swaps_at_the_boundary(fresh_client):
    fake = FakeChatClient("Planned.")
    with use_chat_client(fake):
        assert get_chat_client() is fake
        assert get_chat_client().complete(MESSAGES).content == "Planned."
    assert fake.calls == [MESSAGES]


def test_only_coach_llm_imports_openai():
    root = Path(django_settings.BASE_DIR)
    offenders = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "node_modules"]
        for name in files:
            path = Path(folder) / name
            if path.suffix != ".py" or path in (
                root / "coach" / "llm" / "openai_client.py",
                root / "coach" / "llm" / "embeddings.py",
                Path(__file__),
                # The stand-in model server's own test checks it against the real SDK.
                root / "coach" / "tests" / "test_standin_server.py",
                # The bench's floor: a relay with nothing of ours in it.
                root / "bench" / "bare_reference.py",
            ):
                continue
            lines = path.read_text(encoding="utf-8").splitlines()
            if any(line.strip().startswith(("import openai", "from openai")) for line in lines):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
