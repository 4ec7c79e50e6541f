"""The embedded model server's set-up: which file, which context, what `runlocal` says.

GGUF files are written here by a small writer (the format's header, no tensors), so
these tests need neither llama.cpp nor a model download. The real demo file is read
once, for its header only. Starting real servers is in test_integration_local_model.py.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from coach import local_server
from coach.local_server import LocalServerError, ModelInfo

# --- A GGUF writer for the tests ------------------------------------------------------------


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _value(value: Any) -> tuple[int, bytes]:
    if isinstance(value, bool):
        return 7, struct.pack("<?", value)
    if isinstance(value, int):
        return 4, struct.pack("<I", value)
    if isinstance(value, float):
        return 6, struct.pack("<f", value)
    if isinstance(value, str):
        return 8, _string(value)
    if isinstance(value, list) and value and isinstance(value[0], str):
        return 9, struct.pack("<IQ", 8, len(value)) + b"".join(map(_string, value))
    if isinstance(value, list):
        return 9, struct.pack("<IQ", 6, len(value)) + b"".join(struct.pack("<f", v) for v in value)
    raise TypeError(value)


def write_gguf(path: Path, metadata: dict[str, Any], *, version: int = 3) -> Path:
    """A GGUF file with this metadata and no tensors."""
    body = b""
    for key, value in metadata.items():
        kind, data = _value(value)
        body += _string(key) + struct.pack("<I", kind) + data
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", version, 0, len(metadata)) + body)
    return path


TEMPLATE = "{% for message in messages %}<|im_start|>{{ message['role'] }}\n" * 40


def tiny_model(tmp_path: Path, name: str = "tiny-chat.Q4_K_M.gguf", **overrides: Any) -> Path:
    metadata: dict[str, Any] = {
        "general.architecture": "qwen2",
        "general.name": "Tiny Chat",
        "qwen2.context_length": 32768,
        "qwen2.rope.freq_base": 1000000.0,
        "tokenizer.ggml.tokens": ["<|im_start|>", "hello", "안녕"] * 1000,
        "tokenizer.ggml.scores": [0.0, -1.5, -2.0] * 1000,
        "tokenizer.ggml.add_bos_token": False,
        "tokenizer.chat_template": TEMPLATE,
    }
    metadata.update(overrides)
    return write_gguf(tmp_path / name, {k: v for k, v in metadata.items() if v is not None})


# --- Reading the file ----------------------------------------------------------------------


def test_metadata_from_the_header(tmp_path):
    metadata = local_server.read_gguf_metadata(tiny_model(tmp_path))

    assert metadata["general.architecture"] == "qwen2"
    assert metadata["general.name"] == "Tiny Chat"
    assert metadata["qwen2.context_length"] == 32768
    assert metadata["qwen2.rope.freq_base"] == 1000000.0
    assert metadata["tokenizer.ggml.add_bos_token"] is False
    assert metadata["tokenizer.chat_template"] is True  # there is one; not kept
    assert "tokenizer.ggml.tokens" not in metadata  # arrays are skipped


def test_model_info(tmp_path):
    path = tiny_model(tmp_path)

    info = local_server.model_info(path)

    assert info == ModelInfo(
        path=path,
        architecture="qwen2",
        name="Tiny Chat",
        context_length=32768,
        has_chat_template=True,
    )
    assert info.label == "Tiny Chat"


def test_model_info_of_a_file_that_says_little(tmp_path):
    path = tiny_model(
        tmp_path,
        **{"general.name": None, "qwen2.context_length": None, "tokenizer.chat_template": None},
    )

    info = local_server.model_info(path)

    assert (info.context_length, info.has_chat_template) == (None, False)
    assert info.label == "tiny-chat.Q4_K_M"  # the file's name


def test_the_demo_models_header():
    info = local_server.model_info()

    assert info.path.name == local_server.GGUF_FILENAME
    assert info.architecture == "llama"
    assert info.context_length == 8192
    assert info.has_chat_template


@pytest.mark.parametrize(
    ("configured", "in_file", "expected"),
    [
        (0, 32768, 8192),  # what the file says, at most 8192
        (0, 2048, 2048),
        (0, None, 4096),  # the file does not say
        (16384, 32768, 16384),  # COACH_LOCAL_CONTEXT wins, above the cap too
        (1024, 32768, 1024),
    ],
)
def test_resolve_context(configured, in_file, expected):
    info = ModelInfo(path=Path("m.gguf"), context_length=in_file)

    assert local_server.resolve_context(info, configured) == expected


# --- Files that cannot be served: one clear line ---------------------------------------------


def test_a_missing_file(tmp_path):
    with pytest.raises(
        LocalServerError, match=r"^The model file .*nowhere\.gguf does not exist\.$"
    ):
        local_server.model_info(tmp_path / "nowhere.gguf")


def test_a_folder(tmp_path):
    with pytest.raises(LocalServerError, match="is not a file"):
        local_server.model_path(tmp_path)


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"PK\x03\x04 a zip, say")

    with pytest.raises(LocalServerError, match=r"model\.bin is not a GGUF file\.$"):
        local_server.model_path(path)


def test_a_cut_off_gguf_file(tmp_path):
    path = tiny_model(tmp_path)
    path.write_bytes(path.read_bytes()[:200])

    with pytest.raises(LocalServerError, match="is not a usable GGUF file: the file ends"):
        local_server.model_info(path)


def test_an_unsupported_gguf_version(tmp_path):
    path = write_gguf(tmp_path / "old.gguf", {"general.architecture": "llama"}, version=1)

    with pytest.raises(LocalServerError, match="GGUF version 1 is not supported"):
        local_server.model_info(path)


# --- The command line ------------------------------------------------------------------------


def test_server_command_takes_the_chat_template_from_the_file(tmp_path):
    path = tiny_model(tmp_path)

    command = local_server.server_command(
        port=8123, model_alias="tiny-chat.Q4_K_M", model=path, n_ctx=8192
    )

    assert command[1:3] == ["-m", "llama_cpp.server"]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options["--model"] == str(path)
    assert options["--model_alias"] == "tiny-chat.Q4_K_M"
    assert options["--n_ctx"] == "8192"
    assert "--chat_format" not in command  # llama-cpp-python then uses the file's template


# --- runlocal: what it says, what it starts --------------------------------------------------


@pytest.fixture
def local_settings(settings):
    settings.OPENAI_API_KEY = ""
    settings.COACH_LLM_USES_LOCAL_SERVER = True
    settings.COACH_LOCAL_LLM_PORT = local_server.free_port()
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{settings.COACH_LOCAL_LLM_PORT}/v1"
    # The embedding server has tests of its own (below).
    settings.COACH_EMBEDDING_USES_LOCAL_SERVER = False
    return settings


@pytest.fixture
def spawned(monkeypatch):
    """What runlocal starts, recorded; each child is a Python that exits at once."""
    calls: list[dict[str, Any]] = []
    real_spawn = local_server.spawn

    def spawn(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
        calls.append({"command": command, "env": options.get("env")})
        return real_spawn([sys.executable, "-c", "raise SystemExit(3)"], **options)

    monkeypatch.setattr(local_server, "spawn", spawn)
    return calls


def run(*args: str) -> tuple[str, str]:
    """runlocal's output, and the error it stopped with."""
    out = io.StringIO()
    with pytest.raises(CommandError) as stopped:
        call_command("runlocal", "--noreload", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue(), str(stopped.value)


@pytest.mark.django_db
def test_runlocal_says_the_demo_model_is_a_demo(local_settings, spawned):
    local_settings.COACH_LOCAL_MODEL_FILE = ""
    local_settings.COACH_LLM_IS_DEMO = True
    local_settings.COACH_LLM_MODEL = "SmolLM2-135M-Instruct"
    local_settings.COACH_LOCAL_CONTEXT = 4096

    output, error = run()

    assert "Replies come from SmolLM2-135M-Instruct, a tiny offline model" in output
    assert "cannot write a useful plan" in output
    for how in ("OPENAI_API_KEY=", "OPENAI_BASE_URL=", "COACH_LOCAL_MODEL_FILE=", "docs/model.md"):
        assert how in output
    assert "exited with status 3 before it was ready" in error
    (model_server,) = spawned
    assert "--n_ctx" in model_server["command"]
    assert model_server["command"][model_server["command"].index("--n_ctx") + 1] == "4096"


@pytest.mark.django_db
def test_runlocal_serves_a_model_file(local_settings, spawned, monkeypatch, tmp_path):
    path = tiny_model(tmp_path)
    local_settings.COACH_LOCAL_MODEL_FILE = str(path)
    local_settings.COACH_LLM_IS_DEMO = False
    local_settings.COACH_LLM_MODEL = "tiny-chat.Q4_K_M"
    local_settings.COACH_LOCAL_CONTEXT = 0
    monkeypatch.setattr(local_server, "wait_until_ready", lambda *args, **kwargs: None)

    output, error = run()

    assert "tiny offline model" not in output
    assert f"Serving the model file {path}" in output
    assert "model: Tiny Chat; replies are labelled tiny-chat.Q4_K_M" in output
    assert "context: 8192 tokens (the file says 32768, at most 8192" in output
    model_server, web_server, embed_pending = spawned
    command = model_server["command"]
    assert command[command.index("--model") + 1] == str(path)
    assert command[command.index("--model_alias") + 1] == "tiny-chat.Q4_K_M"
    assert command[command.index("--n_ctx") + 1] == "8192"
    # The web server plans its prompts for the window the model server has.
    assert web_server["command"][2] == "uvicorn"
    assert web_server["env"]["COACH_LOCAL_CONTEXT"] == "8192"
    # The documents waiting for embeddings (the starter libraries) are embedded beside it.
    assert embed_pending["command"][-2:] == ["knowledge_reindex", "--pending"]
    assert "exited (status 3)" in error


@pytest.mark.django_db
def test_runlocal_starts_the_embedding_server_beside_the_model(
    local_settings, spawned, monkeypatch
):
    local_settings.COACH_LOCAL_MODEL_FILE = ""
    local_settings.COACH_LLM_IS_DEMO = True
    local_settings.COACH_LOCAL_CONTEXT = 4096
    local_settings.COACH_EMBEDDING_USES_LOCAL_SERVER = True
    local_settings.COACH_LOCAL_EMBEDDING_PORT = local_server.free_port()
    monkeypatch.setattr(local_server, "wait_until_ready", lambda *args, **kwargs: None)

    output, _error = run()

    _model_server, embedding_server, _web_server, _embed_pending = spawned
    command = embedding_server["command"]
    assert command[1:3] == ["-m", "coach.embedding_server"]
    assert command[command.index("--port") + 1] == str(local_settings.COACH_LOCAL_EMBEDDING_PORT)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert "The local embedding server is ready." in output


@pytest.mark.django_db
def test_runlocal_refuses_a_taken_embedding_port(local_settings, spawned, monkeypatch):
    import socket

    local_settings.COACH_LOCAL_MODEL_FILE = ""
    local_settings.COACH_LOCAL_CONTEXT = 4096
    local_settings.COACH_EMBEDDING_USES_LOCAL_SERVER = True
    monkeypatch.setattr(local_server, "wait_until_ready", lambda *args, **kwargs: None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        local_settings.COACH_LOCAL_EMBEDDING_PORT = taken.getsockname()[1]
        _output, error = run()
    assert "COACH_LOCAL_EMBEDDING_PORT" in error
    assert len(spawned) == 1  # only the model server, stopped again


@pytest.mark.django_db
def test_runlocal_with_a_context_of_its_own(local_settings, spawned, tmp_path):
    local_settings.COACH_LOCAL_MODEL_FILE = str(tiny_model(tmp_path))
    local_settings.COACH_LLM_IS_DEMO = False
    local_settings.COACH_LOCAL_CONTEXT = 2048

    output, _error = run()

    assert "context: 2048 tokens (COACH_LOCAL_CONTEXT)" in output
    command = spawned[0]["command"]
    assert command[command.index("--n_ctx") + 1] == "2048"


@pytest.mark.django_db
def test_runlocal_warns_about_a_file_without_a_chat_template(local_settings, spawned, tmp_path):
    path = tiny_model(tmp_path, **{"tokenizer.chat_template": None})
    local_settings.COACH_LOCAL_MODEL_FILE = str(path)
    local_settings.COACH_LLM_IS_DEMO = False
    local_settings.COACH_LOCAL_CONTEXT = 0

    output, _error = run()

    assert "The file has no chat template" in output


@pytest.mark.django_db
@pytest.mark.parametrize("problem", ["missing", "not gguf"])
def test_runlocal_with_a_file_it_cannot_serve(local_settings, spawned, tmp_path, problem):
    path = tmp_path / "model.gguf"
    if problem == "not gguf":
        path.write_text("<!doctype html> a download page, not the model")
    local_settings.COACH_LOCAL_MODEL_FILE = str(path)
    local_settings.COACH_LLM_IS_DEMO = False
    local_settings.COACH_LOCAL_CONTEXT = 0

    output, error = run()

    assert error in (
        f"The model file {path} does not exist.",
        f"The model file {path} is not a GGUF file.",
    )
    assert "\n" not in error
    assert not spawned  # nothing was started
    assert "Serving" not in output
