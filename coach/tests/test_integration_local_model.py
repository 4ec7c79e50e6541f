"""Against the real embedded model: llama-cpp-python's server with SmolLM2-135M.

The server starts once per test session (coach/tests/conftest.py, `local_llm_server`)
on a free loopback port. Replies are capped at a few tokens: these tests check the
plumbing, not the prose. A missing llama-cpp-python or model file fails them.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from coach import local_server
from coach.llm import (
    LLMUnavailable,
    OpenAIChatClient,
    Reply,
    ReplyChunk,
    reset_chat_client,
    use_chat_client,
)
from coach.models import Coach
from coach.prompting import build_messages, estimate_message_tokens, estimate_tokens
from coach.tests.conftest import INTEGRATION_MAX_TOKENS, LOCAL_MODEL_ALIAS
from sessions_app.models import PROMPT_CLASSES, PromptKind

pytestmark = pytest.mark.integration


def first_request(slug: str, state: str = "", goal: str = "", misc: str = "") -> list:
    coach = Coach.objects.get(slug=slug)
    answers = {
        PromptKind.CURRENT_STATE: {"tags": coach.state_options[:1], "text": state},
        PromptKind.GOAL: {"tags": coach.goal_options[:1], "text": goal},
        PromptKind.MISC: {"tags": [], "text": misc},
    }
    prompts = [PROMPT_CLASSES[kind](kind=kind, **answer) for kind, answer in answers.items()]
    return build_messages(
        system_prompt=coach.system_prompt, few_shot=coach.few_shot, prompts=prompts, history=[]
    )


# Every test talks to the career coach (no example turns, the shortest prompt) with the
# same answers, so the server reuses the evaluated prompt prefix from one test to the next.
COACH = "career-coach"


@pytest.mark.django_db
def test_full_reply_from_the_local_model(local_llm_client):
    messages = first_request(COACH, misc="5 hours a week, mornings.")

    reply = local_llm_client.complete(messages)

    assert reply.content.strip()
    assert reply.model == LOCAL_MODEL_ALIAS
    assert 0 < reply.completion_tokens <= INTEGRATION_MAX_TOKENS
    # The whole request's estimate is above the real count, and not wildly so.
    estimate = estimate_message_tokens(messages)
    assert reply.prompt_tokens <= estimate < 1.5 * reply.prompt_tokens


@pytest.mark.django_db
def test_streamed_reply_from_the_local_model(local_llm_client):
    messages = first_request(COACH, misc="5 hours a week, mornings.")

    items = list(local_llm_client.stream(messages))

    *chunks, final = items
    assert chunks and all(isinstance(chunk, ReplyChunk) for chunk in chunks)
    assert isinstance(final, Reply)
    assert final.content == "".join(chunk.text for chunk in chunks)
    assert final.content.strip()
    assert final.model == LOCAL_MODEL_ALIAS
    assert len(chunks) <= INTEGRATION_MAX_TOKENS  # about one token per piece


@pytest.mark.django_db
def test_follow_up_with_history(local_llm_client):
    coach = Coach.objects.get(slug=COACH)
    messages = build_messages(
        system_prompt=coach.system_prompt,
        few_shot=coach.few_shot,
        prompts=[PROMPT_CLASSES["goal"](kind="goal", tags=["get promoted"])],
        history=[
            {"role": "assistant", "content": "1. Ship one visible project this month."},
            {"role": "user", "content": "Make it simpler, please."},
        ],
    )

    reply = local_llm_client.complete(messages)

    assert reply.content.strip()
    assert reply.prompt_tokens <= estimate_message_tokens(messages)


@pytest.mark.django_db
def test_token_estimate_against_the_real_tokenizer():
    """estimate_tokens beside SmolLM2's own tokenizer, on what we really send."""
    import llama_cpp

    vocab = llama_cpp.Llama(
        model_path=str(local_server.model_path()), vocab_only=True, verbose=False
    )
    texts = [
        "I feel anxious and tired after a long week, and I want deep rest before bed.",
        "요즘 회사 일이 많아서 밤에 잠이 잘 안 와요. 자기 전에 10분 정도 할 수 있어요.",
        "Café crème, naïve résumé",
        "I have 5 hours a week, from 9:30 to 11:00 on Mondays.",
    ]
    for coach in Coach.objects.all():
        texts += [coach.system_prompt, *(turn["content"] for turn in coach.few_shot)]
        texts += [", ".join(coach.state_options), ", ".join(coach.goal_options)]

    real = [len(vocab.tokenize(text.encode(), add_bos=False, special=False)) for text in texts]
    estimated = [estimate_tokens(text) for text in texts]

    for text, n, guess in zip(texts, real, estimated, strict=True):
        assert 0.75 * n <= guess <= 1.5 * n, (text, n, guess)
    assert sum(estimated) >= sum(real)


@pytest.fixture
def client_from_settings(settings, live_local_llm_server):
    """get_chat_client() built from settings that point at the local server."""
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = live_local_llm_server.base_url
    settings.COACH_LLM_MODEL = live_local_llm_server.model_alias
    settings.COACH_LLM_MAX_TOKENS = INTEGRATION_MAX_TOKENS
    reset_chat_client()
    yield
    reset_chat_client()


@pytest.mark.django_db
def test_coach_chat_command(client_from_settings):
    stdin = io.StringIO(
        "student, since June\nland my first job\n5 hours a week, mornings.\n"
        "And next month?\n/quit\nnever read\n"
    )
    out = io.StringIO()

    call_command("coach_chat", coach=COACH, stdin=stdin, stdout=out)

    output = out.getvalue()
    assert "Career coach" in output
    assert "Where are you now?" in output
    assert "Options: student, junior developer" in output
    replies = [part.split("\nYou: ")[0].strip() for part in output.split("\nCoach: ")[1:]]
    assert len(replies) == 2  # the plan, then the follow-up; /quit ended it
    assert all(replies)
    assert stdin.read() == "never read\n"


@pytest.mark.django_db
def test_coach_chat_with_answers_as_options_ends_on_eof(client_from_settings):
    out = io.StringIO()

    call_command(
        "coach_chat",
        coach=COACH,
        state="student",
        goal="land my first job",
        misc="5 hours a week, mornings.",
        stdin=io.StringIO(""),
        stdout=out,
    )

    assert "Where are you now?" not in out.getvalue()
    assert out.getvalue().count("\nCoach: ") == 1


# --- An unreachable server: a clear error, quickly ----------------------------------------


def test_unreachable_server_is_a_clear_error_without_hanging():
    client = OpenAIChatClient(
        base_url=f"http://127.0.0.1:{local_server.free_port()}/v1", model=LOCAL_MODEL_ALIAS
    )
    started = time.monotonic()

    with pytest.raises(LLMUnavailable, match="cannot be reached"):
        client.complete([{"role": "user", "content": "Hello?"}])
    with pytest.raises(LLMUnavailable, match="cannot be reached"):
        list(client.stream([{"role": "user", "content": "Hello?"}]))

    assert time.monotonic() - started < 5  # refused at once, one retry after 0.5 s


@pytest.mark.django_db
def test_coach_chat_with_unreachable_server(settings):
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{local_server.free_port()}/v1"
    unreachable = OpenAIChatClient(base_url=settings.OPENAI_BASE_URL, model="m", retry_delay=0)

    with use_chat_client(unreachable), pytest.raises(CommandError, match="cannot be reached"):
        call_command(
            "coach_chat",
            coach="career-coach",
            state="student",
            goal="land my first job",
            misc="",
            stdin=io.StringIO(""),
            stdout=io.StringIO(),
        )


# --- manage.py runlocal --------------------------------------------------------------------


def wait_for(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def answers_http(port: int) -> bool:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/accounts/login/")
        return connection.getresponse().status > 0
    except OSError:
        return False
    finally:
        connection.close()


def runlocal(
    tmp_path: Path, web_port: int | None = None, **env: str
) -> tuple[subprocess.Popen[bytes], int, int]:
    """`manage.py runlocal` in a child process, on free ports, with its own SQLite file."""
    web_port = web_port or local_server.free_port()
    model_port = local_server.free_port()
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DJANGO_TEST"))
    }
    child_env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'runlocal.sqlite3'}",
            "COACH_LOCAL_LLM_PORT": str(model_port),
            # The embedded embedding server (knowledge library) too, on a port of its own.
            "COACH_LOCAL_EMBEDDING_PORT": str(local_server.free_port()),
            "COACH_LOCAL_CONTEXT": "2048",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runlocal", "--port", str(web_port), "--noreload"],
        cwd=django_settings.BASE_DIR,
        env=child_env,
        stdout=(tmp_path / "runlocal.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, web_port, model_port


def embedding_port(log: str) -> int:
    """The embedding server's port, as runlocal's output names it."""
    import re

    return int(re.search(r"local embedding server \(.*\) on http://127\.0\.0\.1:(\d+)/v1", log)[1])


def stop_runlocal(process: subprocess.Popen[bytes], sig: int) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=20)
    finally:
        local_server.stop(process)  # whatever is left of its group, should the test fail


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_runlocal_starts_model_and_web_server_and_stops_both(tmp_path, sig):
    process, web_port, model_port = runlocal(tmp_path)
    try:
        assert wait_for(lambda: answers_http(web_port)), (tmp_path / "runlocal.log").read_text()
        assert local_server.is_ready(model_port)
    finally:
        code = stop_runlocal(process, sig)

    log = (tmp_path / "runlocal.log").read_text()
    assert code == 0, log
    assert "The local model server is ready." in log
    assert "The local embedding server is ready." in log
    assert "a tiny offline model for trying Stepwise" in log  # the demo model
    assert local_server.port_is_free(web_port)
    assert local_server.port_is_free(model_port)
    assert local_server.port_is_free(embedding_port(log))


def test_runlocal_serves_a_model_file_under_its_own_name(tmp_path):
    """COACH_LOCAL_MODEL_FILE: the file's name labels replies, its context comes from it."""
    import http.client
    import json

    model_file = tmp_path / "my-coach-model.gguf"
    model_file.symlink_to(local_server.model_path())
    process, web_port, model_port = runlocal(
        tmp_path, COACH_LOCAL_MODEL_FILE=str(model_file), COACH_LOCAL_CONTEXT=""
    )
    try:
        assert wait_for(lambda: answers_http(web_port)), (tmp_path / "runlocal.log").read_text()
        connection = http.client.HTTPConnection("127.0.0.1", model_port, timeout=10)
        connection.request("GET", "/v1/models")
        served = json.loads(connection.getresponse().read())
        connection.close()
        assert [model["id"] for model in served["data"]] == ["my-coach-model"]
    finally:
        code = stop_runlocal(process, signal.SIGTERM)

    log = (tmp_path / "runlocal.log").read_text()
    assert code == 0, log
    assert f"Serving the model file {model_file}" in log
    assert "replies are labelled my-coach-model" in log
    assert "context: 8192 tokens (the file says 8192)" in log  # SmolLM2's own window
    assert "tiny offline model" not in log


def test_runlocal_with_a_missing_model_file_says_so_in_one_line(tmp_path):
    process, _web_port, model_port = runlocal(
        tmp_path, COACH_LOCAL_MODEL_FILE=str(tmp_path / "typo.gguf")
    )
    try:
        code = process.wait(timeout=60)
    finally:
        local_server.stop(process)

    log = (tmp_path / "runlocal.log").read_text()
    assert code != 0
    assert f"CommandError: The model file {tmp_path / 'typo.gguf'} does not exist." in log
    assert "Traceback" not in log
    assert local_server.port_is_free(model_port)


def test_runlocal_with_a_base_url_runs_only_the_web_server(tmp_path):
    import http.client

    process, web_port, model_port = runlocal(
        tmp_path, OPENAI_BASE_URL="http://127.0.0.1:9/v1", COACH_LLM_MODEL="elsewhere"
    )
    try:
        assert wait_for(lambda: answers_http(web_port)), (tmp_path / "runlocal.log").read_text()
        assert not local_server.is_ready(model_port)
        # The ASGI application under uvicorn, static files from ServeStatic's middleware.
        connection = http.client.HTTPConnection("127.0.0.1", web_port, timeout=10)
        connection.request("GET", "/static/css/site.css")
        response = connection.getresponse()
        assert (response.status, response.getheader("server")) == (200, "uvicorn")
        assert response.getheader("content-type").startswith("text/css")
        connection.close()
    finally:
        code = stop_runlocal(process, signal.SIGINT)

    log = (tmp_path / "runlocal.log").read_text()
    assert code == 0, log
    assert "no local model server" in log
    assert "llama" not in log.lower()


def test_runlocal_stops_the_model_server_when_the_web_server_exits(tmp_path):
    with socket.socket() as taken:  # the web port is taken: uvicorn gives up
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        process, _web_port, model_port = runlocal(tmp_path, web_port=taken.getsockname()[1])
        try:
            code = process.wait(timeout=60)
        finally:
            local_server.stop(process)

    log = (tmp_path / "runlocal.log").read_text()
    assert code != 0, log
    assert "The web server exited" in log
    assert local_server.port_is_free(model_port)


EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 - only parsed here, nothing binds to it


@pytest.mark.parametrize(
    ("addrport", "expected"),
    [
        ("8001", ("127.0.0.1", 8001)),
        (f"{EVERY_ADDRESS}:8001", (EVERY_ADDRESS, 8001)),
        ("0:8001", (EVERY_ADDRESS, 8001)),
        ("[::1]:8001", ("::1", 8001)),
    ],
)
def test_runlocal_reads_runserver_addresses(addrport, expected):
    from coach.management.commands.runlocal import parse_addrport

    assert parse_addrport(addrport) == expected


@pytest.mark.parametrize("addrport", ["", "host:", "host:http", "127.0.0.1:70000"])
def test_runlocal_refuses_bad_addresses(addrport):
    from coach.management.commands.runlocal import parse_addrport

    with pytest.raises(CommandError):
        parse_addrport(addrport)


def test_runlocal_web_command_is_uvicorn_on_the_asgi_application():
    from coach.management.commands.runlocal import uvicorn_command

    command = uvicorn_command("127.0.0.1", 8001, reload=True)
    assert command[:4] == [sys.executable, "-m", "uvicorn", "project.asgi:application"]
    assert "--reload" in command
    assert "--no-proxy-headers" in command
    watched = {Path(command[i + 1]) for i, arg in enumerate(command) if arg == "--reload-dir"}
    base = Path(django_settings.BASE_DIR)
    assert {base / "project", base / "coach", base / "templates"} <= watched
    assert not any(part.startswith(".") for path in watched for part in path.parts[1:])
    assert "--reload" not in uvicorn_command("127.0.0.1", 8001, reload=False)
