"""`make run`: the development web server, plus the embedded model when no other is set.

With neither OPENAI_API_KEY nor OPENAI_BASE_URL set, this starts llama-cpp-python's
OpenAI-compatible server on 127.0.0.1:COACH_LOCAL_LLM_PORT (serving SmolLM2), waits
until it answers, then runs `manage.py runserver`. Ctrl-C (or SIGTERM, or either
process exiting) stops both. With a key or a base URL set, only the web server runs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from coach import local_server


class _Stop(Exception):
    """SIGINT (Ctrl-C), SIGTERM or SIGHUP arrived: stop both servers."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


class Command(BaseCommand):
    help = (
        "Run the development web server and, unless OPENAI_API_KEY or OPENAI_BASE_URL is "
        "set, the embedded local model server beside it. Ctrl-C stops both."
    )
    requires_system_checks: list[str] = []  # runserver runs them

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=8000, help="Web server port on 127.0.0.1 (8000)."
        )
        parser.add_argument(
            "--addrport", help="Web server address and port, as for runserver (overrides --port)."
        )
        parser.add_argument(
            "--noreload", action="store_true", help="Do not restart the web server on changes."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        addrport = options["addrport"] or f"127.0.0.1:{options['port']}"
        web_command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "runserver"]
        web_command += [addrport, *(["--noreload"] if options["noreload"] else [])]

        # Our own handler for SIGINT too: a shell starts background jobs with it ignored.
        stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, _raise_stop) for sig in stop_signals}
        children: list[tuple[str, subprocess.Popen[bytes]]] = []
        try:
            if settings.COACH_LLM_USES_LOCAL_SERVER:
                self._start_model_server(children)
            else:
                self.stdout.write(
                    f"Using the model {settings.COACH_LLM_MODEL} at {settings.OPENAI_BASE_URL} "
                    "(no local model server)."
                )
            children.append(("web server", local_server.spawn(web_command)))
            self._supervise(children)
        except _Stop:
            self.stdout.write("Stopping…")
        finally:
            for _name, process in reversed(children):
                local_server.stop(process)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start_model_server(self, children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
        port = settings.COACH_LOCAL_LLM_PORT
        try:
            local_server.check_server_installed()
            if not local_server.port_is_free(port):
                raise local_server.LocalServerError(
                    f"Port {port} is already in use, so the local model server cannot listen "
                    "on it. Stop whatever uses it (another `make run`?), or choose another "
                    "port with COACH_LOCAL_LLM_PORT."
                )
            command = local_server.server_command(
                port=port,
                model_alias=settings.COACH_LLM_MODEL,
                model=settings.COACH_LOCAL_LLM_GGUF or None,
                n_ctx=settings.COACH_LOCAL_LLM_CONTEXT,
            )
        except local_server.LocalServerError as exc:
            raise CommandError(str(exc)) from exc
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

    def _supervise(self, children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
        """Wait until one of the children exits; the caller then stops the others."""
        while True:
            for name, process in children:
                code = process.poll()
                if code is not None:
                    raise CommandError(f"The {name} exited (status {code}); stopping.")
            time.sleep(0.5)
