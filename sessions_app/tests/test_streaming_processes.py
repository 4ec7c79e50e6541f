"""Streaming across real processes: two ASGI servers on one database, a resume that
lands on the other server, a server killed with SIGKILL mid-reply, and SIGTERM.

The servers are `uvicorn project.asgi:application` processes on a scratch database of
their own (a SQLite file, or a scratch PostgreSQL database when the suite runs on
PostgreSQL), in front of the stand-in model server. Nothing here is faked in-process.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from coach.local_server import free_port
from coach.testing.standin_server import StandinConfig, StandinServer
from sessions_app.tests.sse import parse_block, text_of

BASE_DIR = Path(settings.BASE_DIR)
STALE_SECONDS = 3


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinServer]:
    server = StandinServer(StandinConfig(tokens=30, seconds=3.0))
    server.start_in_thread()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def database_url(tmp_path_factory, django_db_blocker) -> Iterator[str]:
    """A migrated scratch database, outside the test database's transactions."""
    if connection.vendor == "postgresql":
        name = f"stepwise_proc_{uuid.uuid4().hex[:8]}"
        params = connection.settings_dict
        host = params.get("HOST") or "127.0.0.1"
        port = params.get("PORT") or 5432
        base = f"postgres://{params['USER']}@{host}:{port}"
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        url = f"{base}/{name}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('proc') / 'db.sqlite3'}"
    subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "migrate", "--noinput", "-v0"],
        env=server_env(url, model_url="http://127.0.0.1:9/v1"),
        check=True,
        timeout=120,
    )
    yield url
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_env(database_url: str, *, model_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "COACH_"))}
    env.update(
        DATABASE_URL=database_url,
        OPENAI_BASE_URL=model_url,
        OPENAI_API_KEY="stand-in",
        DJANGO_DEBUG="1",
        COACH_STREAM_STALE_SECONDS=str(STALE_SECONDS),
        COACH_STREAM_HEARTBEAT_SECONDS="0.5",
        COACH_STREAM_FLUSH_SECONDS="0.3",
        COACH_SHUTDOWN_GRACE_SECONDS="10",
    )
    env.update(extra)
    return env


class Server:
    def __init__(self, database_url: str, model_port: int, **extra: str):
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "project.asgi:application"),
                *("--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"),
            ],
            cwd=BASE_DIR,
            env=server_env(database_url, model_url=f"http://127.0.0.1:{model_port}/v1", **extra),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if self.request("GET", "/api/coaches/")[0] == 200:
                    return
            assert self.process.poll() is None, "the server exited"
            time.sleep(0.2)
        raise AssertionError("the server did not start")

    def request(self, method: str, path: str, body=None, token: str | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, json.loads(data) if data else None

    def stream(self, method: str, path: str, body=None, token=None, headers=None):
        """An open SSE response: iterate `events()`, `close()` to hang up."""
        return EventStream(self.port, method, path, body, token, headers or {})

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)


class EventStream:
    def __init__(self, port, method, path, body, token, headers):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Accept": "text/event-stream", "Content-Type": "application/json", **headers}
        if token:
            headers["Authorization"] = f"Token {token}"
        self.conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.read()

    def events(self) -> Iterator[dict]:
        lines: list[str] = []
        while True:
            line = self.response.readline()
            if not line:
                return
            line = line.decode().rstrip("\n")
            if line:
                lines.append(line)
                continue
            event, lines = parse_block("\n".join(lines)), []
            if event["event"]:
                yield event
                if event["event"] in ("done", "error"):
                    return

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.sock.shutdown(2)
        self.conn.close()


def take(stream: EventStream, deltas: int) -> list[dict]:
    taken: list[dict] = []
    for event in stream.events():
        taken.append(event)
        if sum(e["event"] == "delta" for e in taken) >= deltas:
            break
    return taken


@pytest.fixture
def servers(database_url, standin) -> Iterator[list[Server]]:
    started = [Server(database_url, standin.port), Server(database_url, standin.port)]
    yield started
    for server in started:
        server.stop(signal.SIGKILL, timeout=5)


def sign_up(server: Server) -> str:
    username = f"p{uuid.uuid4().hex[:10]}"
    status, body = server.request(
        "POST", "/api/auth/signup/", {"username": username, "password": "a-long-pass-phrase-9"}
    )
    assert status == 201, body
    return body["token"]


def start_session(server: Server, token: str) -> int:
    status, body = server.request(
        "POST",
        "/api/sessions/",
        {"coach": "meditation-guide", "goal": {"text": "Sleep by midnight"}},
        token=token,
    )
    assert status == 201, body
    return body["id"]


def used(server: Server, token: str) -> int:
    return server.request("GET", "/api/me/quota/", token=token)[1]["used"]


def test_a_reply_resumed_on_another_server_joins_up_exactly(servers, standin):
    a, b = servers
    standin.config.seconds = 3.0
    token = sign_up(a)
    session_id = start_session(b, token)

    first_stream = a.stream(
        "POST", f"/api/sessions/{session_id}/messages/", {"content": "And then?"}, token
    )
    first = take(first_stream, 3)
    first_stream.close()  # the tab is closed; generation goes on in server A
    message_id = first[0]["data"]["message"]["id"]
    last_id = [e for e in first if e["event"] == "delta"][-1]["id"]

    resumed_stream = b.stream(
        "GET", f"/api/messages/{message_id}/stream/", headers={"Last-Event-ID": str(last_id)}
    )
    resumed = list(resumed_stream.events())

    assert resumed[-1]["event"] == "done"
    _status, detail = b.request("GET", f"/api/sessions/{session_id}/")
    stored = detail["messages"][-1]["content"]
    assert text_of(first) + text_of(resumed) == stored  # no gap, no repeat
    assert len(stored) > len(text_of(first))
    assert resumed[-1]["data"]["content"] == stored
    # Stop asked on server B reaches a reply written by server A.
    stopping = a.stream(
        "POST", f"/api/sessions/{session_id}/messages/", {"content": "Stop soon"}, token
    )
    begun = take(stopping, 2)
    status, body = b.request(
        "POST", f"/api/messages/{begun[0]['data']['message']['id']}/stop/", {}, token
    )
    assert status == 200 and body["status"] == "stopped", body
    assert list(stopping.events())[-1]["data"]["status"] == "stopped"


def test_a_killed_server_leaves_an_interrupted_turn_refunded_once(servers, standin):
    a, b = servers
    standin.config.seconds = 6.0
    token = sign_up(a)
    session_id = start_session(b, token)
    assert used(b, token) == 1

    stream = a.stream("POST", f"/api/sessions/{session_id}/messages/", {"content": "Go"}, token)
    begun = take(stream, 2)
    message_id = begun[0]["data"]["message"]["id"]
    assert used(b, token) == 2
    time.sleep(0.5)  # let a flush reach the database
    a.stop(signal.SIGKILL)
    stream.close()

    follow = list(b.stream("GET", f"/api/messages/{message_id}/stream/").events())
    assert follow[-1]["event"] == "error"
    assert follow[-1]["data"]["status"] == "interrupted"
    assert text_of(follow)  # the text that reached the database is kept
    assert used(b, token) == 1  # given back
    again = list(b.stream("GET", f"/api/messages/{message_id}/stream/").events())
    assert again[-1]["data"]["status"] == "interrupted"
    assert used(b, token) == 1  # once

    standin.config.seconds = 0.5
    retried = list(b.stream("POST", f"/api/sessions/{session_id}/retry/", {}, token).events())
    assert retried[-1]["event"] == "done"
    assert used(b, token) == 2


def test_sigterm_lets_a_running_turn_finish(servers, standin):
    a, b = servers
    standin.config.seconds = 2.0
    token = sign_up(a)
    session_id = start_session(b, token)

    stream = a.stream("POST", f"/api/sessions/{session_id}/messages/", {"content": "Go"}, token)
    message_id = take(stream, 1)[0]["data"]["message"]["id"]
    stream.close()
    assert a.stop(signal.SIGTERM) is not None

    _status, detail = b.request("GET", f"/api/sessions/{session_id}/")
    last = detail["messages"][-1]
    assert last["id"] == message_id
    assert last["status"] == "ok"
    assert len(last["content"]) > 20


def test_sigterm_past_the_grace_time_marks_the_turn_interrupted(database_url, standin):
    standin.config.seconds = 30.0
    a = Server(database_url, standin.port, COACH_SHUTDOWN_GRACE_SECONDS="0.5")
    b = Server(database_url, standin.port)
    try:
        token = sign_up(a)
        standin.config.seconds = 0.2
        session_id = start_session(b, token)
        standin.config.seconds = 30.0
        stream = a.stream("POST", f"/api/sessions/{session_id}/messages/", {"content": "Go"}, token)
        take(stream, 1)
        stream.close()
        assert a.stop(signal.SIGTERM, timeout=20) is not None
        _status, detail = b.request("GET", f"/api/sessions/{session_id}/")
        assert detail["messages"][-1]["status"] == "interrupted"
        assert used(b, token) == 1  # the interrupted turn was given back
    finally:
        a.stop(signal.SIGKILL, timeout=5)
        b.stop(signal.SIGKILL, timeout=5)
