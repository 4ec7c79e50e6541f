"""An ASGI live server for the browser tests: streamed replies need the ASGI stack
(docs/streaming.md), which pytest-django's threaded WSGI `live_server` is not."""

import socket
import threading
import time
from dataclasses import dataclass

import pytest

from knowledge.testing import fake_embeddings  # noqa: F401 - a fixture

SERVER_START_SECONDS = 10.0
SERVER_STOP_SECONDS = 10.0


@dataclass(frozen=True)
class AsgiLiveServer:
    url: str

    def __str__(self) -> str:
        return self.url


@pytest.fixture
def asgi_live_server(transactional_db):
    """uvicorn serving project.asgi (and the static files, as `live_server` does) on a free
    port in a background thread; yields its base URL in `.url`.

    The test's data must be committed for the server's threads to see it, hence
    `transactional_db`. The fake model (`fake_llm`) is swapped process-wide, so the
    server uses it too.
    """
    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.db import connections

    from project.asgi import application

    # Requests run in threads of their own: keep no connection open after a request, so
    # nothing holds the test database when it is flushed or dropped.
    conn_max_age = {alias: connections.settings[alias]["CONN_MAX_AGE"] for alias in connections}
    for alias in connections:
        connections.settings[alias]["CONN_MAX_AGE"] = 0
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            ASGIStaticFilesHandler(application),
            lifespan="off",
            log_level="warning",
            timeout_graceful_shutdown=3,
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="asgi-live-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("The ASGI live server did not start.")
        time.sleep(0.02)
    try:
        yield AsgiLiveServer(url=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(SERVER_STOP_SECONDS)
        if thread.is_alive():
            server.force_exit = True
            thread.join(SERVER_STOP_SECONDS)
        listener.close()
        for alias, value in conn_max_age.items():
            connections.settings[alias]["CONN_MAX_AGE"] = value
