"""Model-connection fixtures: a scripted stub HTTP server, and the real local model server.

`stub_llm` is a tiny OpenAI-compatible HTTP server on a loopback port that answers from
a script, so the real SDK is exercised end to end (no mocks inside it). `local_llm_server`
starts llama-cpp-python's server with the embedded SmolLM2 model once per test session.
"""

from __future__ import annotations

import contextlib
import json
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from coach import local_server
from coach.llm import OpenAIChatClient

LOCAL_MODEL_ALIAS = "SmolLM2-135M-Instruct"
# Small and quick: integration tests check the plumbing, not the prose.
INTEGRATION_MAX_TOKENS = 32
INTEGRATION_N_CTX = 2048


# --- The stub server -------------------------------------------------------------------


def completion_body(content: str = "Hello from the stub.", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 1,
        "model": "stub-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }
    body.update(overrides)
    return body


def chunk_event(text: str | None = None, *, usage: dict[str, int] | None = None) -> dict[str, Any]:
    choices = [] if text is None else [{"index": 0, "delta": {"content": text}}]
    event: dict[str, Any] = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "stub-model",
        "choices": choices,
    }
    if usage is not None:
        event["usage"] = usage
    return event


def error_body(message: str = "Something went wrong.", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


@dataclass
class StubResponse:
    """One scripted answer. `events` makes it a server-sent-events stream."""

    status: int = 200
    body: Any = None  # dict (sent as JSON) or str (sent as is)
    events: list[dict[str, Any] | str] | None = None
    done: bool = True  # end the stream with `data: [DONE]`
    cut: bool = False  # after the events, drop the connection mid-body
    drop: bool = False  # close the connection without answering
    delay: float = 0.0  # seconds before answering
    headers: dict[str, str] = field(default_factory=dict)
    # A stream's body as these bytes, each piece a read of its own (instead of `events`).
    raw: list[bytes] | None = None
    hold: float = 0.0  # seconds between the last piece and the body's end


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any]
    client_port: int = 0  # the same for requests on one kept-alive connection


class StubLLMServer:
    def __init__(self) -> None:
        self.script: deque[StubResponse] = deque()
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle(self) -> None:
                # A client that gave up on a response closes its connection.
                with contextlib.suppress(ConnectionResetError):
                    super().handle()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with stub._lock:
                    stub.requests.append(
                        RecordedRequest(
                            self.path,
                            {name.lower(): value for name, value in self.headers.items()},
                            json.loads(raw or b"{}"),
                            self.client_address[1],
                        )
                    )
                    response = stub.script.popleft() if stub.script else StubResponse()
                # The client may have given up already (a timeout test).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._answer(response)

            def _answer(self, response: StubResponse) -> None:
                if response.delay:
                    time.sleep(response.delay)
                if response.drop:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if response.events is not None or response.raw is not None:
                    self._answer_stream(response)
                    return
                body = response.body if response.body is not None else completion_body()
                payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(response.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def _answer_stream(self, response: StubResponse) -> None:
                self.send_response(response.status)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                lines = [e if isinstance(e, str) else json.dumps(e) for e in response.events or []]
                if response.done and not response.cut and response.raw is None:
                    lines.append("[DONE]")
                pieces = response.raw or [f"data: {line}\n\n".encode() for line in lines]
                for data in pieces:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                    if response.raw:
                        time.sleep(0.01)  # raw pieces reach the client as reads of their own
                if response.hold:
                    time.sleep(response.hold)
                if response.cut:  # no terminating chunk: the client sees a broken body
                    # Let the client read the last piece first: aiohttp raises a broken body
                    # before handing over what it had buffered with it.
                    time.sleep(0.3)
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(b"0\r\n\r\n")

        self.httpd = ThreadingHTTPServer((local_server.LOOPBACK, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://{local_server.LOOPBACK}:{self.port}/v1"

    def queue(self, *responses: StubResponse) -> None:
        with self._lock:
            self.script.extend(responses)

    def client(self, **options: Any) -> OpenAIChatClient:
        """Our client pointed at this stub; no retry pause, a short timeout."""
        settings: dict[str, Any] = {
            "base_url": self.base_url,
            "model": "stub-model",
            "timeout": 5.0,
            "retry_delay": 0.0,
        }
        settings.update(options)
        return OpenAIChatClient(**settings)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stub_llm() -> Iterator[StubLLMServer]:
    server = StubLLMServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- The real local model ----------------------------------------------------------------


@pytest.fixture(scope="session")
def local_llm_server() -> Iterator[local_server.LocalServer]:
    """llama-cpp-python's server with SmolLM2, on a free loopback port, for the whole session.

    A missing llama-cpp-python or model file is a failure, never a skip.
    """
    with tempfile.TemporaryFile() as log:
        try:
            with local_server.start_server(
                model_alias=LOCAL_MODEL_ALIAS, n_ctx=INTEGRATION_N_CTX, log=log, ready_timeout=120
            ) as server:
                yield server
                return
        except local_server.LocalServerError as exc:
            log.seek(0)
            output = log.read().decode(errors="replace")[-3000:]
            pytest.fail(f"The local model server did not start: {exc}\n{output}", pytrace=False)


@pytest.fixture
def live_local_llm_server(
    local_llm_server: local_server.LocalServer,
) -> Iterator[local_server.LocalServer]:
    """The session's server, checked alive before and after the test (with its output if not)."""

    def check(when: str) -> None:
        if local_llm_server.process.poll() is not None:
            pytest.fail(
                f"The local model server died {when} this test "
                f"(status {local_llm_server.process.returncode}):\n"
                + local_llm_server.output_tail(),
                pytrace=False,
            )

    check("before")
    yield local_llm_server
    check("during")


@pytest.fixture
def local_llm_client(
    live_local_llm_server: local_server.LocalServer,
) -> Iterator[OpenAIChatClient]:
    client = OpenAIChatClient(
        base_url=live_local_llm_server.base_url,
        model=live_local_llm_server.model_alias,
        max_tokens=INTEGRATION_MAX_TOKENS,
        timeout=60.0,
    )
    try:
        yield client
    finally:
        client.close()
