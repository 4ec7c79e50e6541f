"""Many people waiting on the model at once: bursts of turns through the real server.

    python bench/concurrency.py                        # SQLite, sizes 50, 200, 1000
    python bench/concurrency.py --db both --json out.json
    python bench/concurrency.py --quick                # smoke run: sizes 5 and 20
    git worktree add /tmp/stepwise-before 6deb010     # the code before streaming
    python bench/concurrency.py --app-dir /tmp/stepwise-before --python /tmp/venv/bin/python \
        --modes json,instant --label before            # its own Procfile, in a venv of its own

Starts the site exactly as the Procfile's `web:` line does (whatever that line says), with
the model replaced by the stand-in server (coach/testing/standin_server.py: 50 words over
5 s per reply by default), on a scratch database migrated with `manage.py migrate`:
SQLite in the temporary directory, or PostgreSQL `stepwise_bench` created and dropped next
to `--pg-url`'s server (with Redis `--redis-url` as the cache). Settings are
production-like: `DJANGO_DEBUG=0` with a throwaway secret key (no query log kept in
memory), `DJANGO_SECURE_SSL_REDIRECT=0` because the bench speaks plain HTTP, and a daily
limits high enough never to refuse. Members, API tokens and one session each (its three
answers and a first plan) are written straight to the database.

Then, for each size N:
- **streamed burst**: N turns at once, `POST /api/sessions/<id>/messages/` with
  `Accept: text/event-stream`: the time to the first `event: delta`, the time until all
  have reached `event: done`; `event: error`, a status other than 200, a broken
  connection, or no `done` within the time limit is an error. The deltas of every turn
  are joined and compared with the stored reply (`done`) and with the stand-in's text.
- **whole-reply burst**: the same without the SSE Accept header (201 expected).
- meanwhile, from a separate process, `GET /api/coaches/` on a fixed schedule (20/s,
  open loop: the latency is counted from when the request was due).
- the server's CPU seconds (master and workers, from /proc, before and after; less its idle
  cost and the GETs', measured alone first) per turn and per relayed token, and its
  resident memory (sampled every 0.5 s); on PostgreSQL also the database and Redis
  servers' CPU and this database's counters in pg_stat_database, per turn.
Then 1,000 (the largest size) turns with the stand-in waiting 8 s before the first token
(the GET is also summarised apart for the GETs due while the turns wait, before the
first token is due, and for those due once every turn has been opened, its `start` event
received, so that all of them only wait), and sequential follow-ups with an instant model:
50 each on a short session of its own (its plan, then this turn), JSON then streamed,
and 50 in one session that grows by a turn each time.

The load client is raw asyncio protocols over plain sockets (no HTTP library), so that
it stays far cheaper than the server; its own CPU is printed beside the server's. Every
wait has a limit, and the servers it started are stopped (process group) on the way out.
The server's log is kept (path printed), and its errors and tracebacks are summarised.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coach.testing.standin_server import reply_text  # noqa: E402 - no Django in there

STANDIN = ROOT / "coach" / "testing" / "standin_server.py"
# The bare reference (bench/bare_reference.py), run from this checkout.
BARE_WEB = "uvicorn bench.bare_reference:application --workers 2 --port $PORT"
PG_BENCH_DB = "stepwise_bench"
COACH_SLUG = "meditation-guide"
CLK_TCK = os.sysconf("SC_CLK_TCK")
FOLLOW_UP = "What should I do on the first weekend?"


# --- small helpers -------------------------------------------------------------------


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.4999)))
    return ordered[rank - 1]


def fmt_s(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_ms(value: float | None) -> str:
    if value == float("inf"):
        return "failed"
    return "-" if value is None else f"{value * 1000:.0f}"


def run_loop(coro):
    """asyncio.run, on uvloop when it is installed (a cheaper client)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# --- /proc: CPU and memory of a process tree ----------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_cpu_seconds(root: int) -> float:
    """utime + stime of the tree, plus what the root has reaped (workers that died)."""
    ticks = 0
    for pid in descendants(root):
        fields = _stat(pid)
        if fields:
            ticks += int(fields[11]) + int(fields[12])
            if pid == root:
                ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (every core), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def server_pids(*names: str) -> list[int]:
    """The top process of each running server called `names` (postmaster, redis-server):
    its tree holds every backend."""
    comm = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                comm[int(entry)] = Path(f"/proc/{entry}/comm").read_text().strip()
    tops = []
    for pid, name in comm.items():
        if name in names:
            fields = _stat(pid)
            if fields and comm.get(int(fields[1])) not in names:
                tops.append(pid)
    return tops


PG_STAT_COLUMNS = (
    "xact_commit + xact_rollback",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
)
PG_STAT_NAMES = ("transactions", "rows_scanned", "rows_fetched", "inserted", "updated", "deleted")


def pg_stats(url: str) -> dict[str, int]:
    """This database's counters in pg_stat_database (every backend's, once flushed)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT {', '.join(PG_STAT_COLUMNS)} FROM pg_stat_database"  # noqa: S608 - constants
            " WHERE datname = current_database()"
        ).fetchone()
    return dict(zip(PG_STAT_NAMES, (int(v) for v in row), strict=True))


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssSampler:
    def __init__(self, root: int):
        self.root = root
        self.max_one = 0.0
        self.max_sum = 0.0
        self.processes = 0

    def sample(self) -> None:
        pids = descendants(self.root)
        values = [rss_mib(pid) for pid in pids]
        self.processes = max(self.processes, len(pids))
        self.max_one = max(self.max_one, max(values, default=0.0))
        self.max_sum = max(self.max_sum, sum(values))

    async def run(self, every: float = 0.5) -> None:
        while True:
            self.sample()
            await asyncio.sleep(every)


# --- the load client: one HTTP/1.1 exchange per connection, as a protocol ------------


@dataclass
class Outcome:
    kind: str = "pending"  # done | error_event | http_<status> | reset | timeout | eof | connect
    status: int | None = None
    started: float = 0.0
    opened: float | None = None  # seconds after `started`: the `start` event (the turn open)
    first_delta: float | None = None  # seconds after `started`
    finished: float | None = None  # seconds after `started`
    deltas: int = 0
    raw_deltas: list[bytes] = field(default_factory=list)  # data of each delta, unparsed
    final: dict | None = None  # the done event's data, or the JSON body
    detail: str = ""


class Exchange(asyncio.Protocol):
    """Sends one request (Connection: close) and reads the answer: SSE events as they
    come (chunked or not), or the whole body.

    With `read_every`, once the first delta has arrived the socket is read only every
    `read_every` seconds (the kernel holds what comes meanwhile): one receive for several
    events, so a thousand streams cost the client little. Times after the first delta
    are then late by up to `read_every`."""

    def __init__(
        self,
        request: bytes,
        outcome: Outcome,
        *,
        sse: bool,
        keep_text: bool,
        read_every: float = 0.0,
    ):
        self.request = request
        self.outcome = outcome
        self.sse = sse
        self.keep_text = keep_text
        self.read_every = read_every
        self.paused = False
        self.loop = asyncio.get_running_loop()
        self.finished = self.loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.in_body = False
        self.chunked = False
        self.length: int | None = None
        self.received = 0
        self.raw = bytearray()  # undecoded chunked bytes
        self.body = bytearray()  # decoded body (non-SSE) or pending SSE text
        self.event_stream = False

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.finished.done():
            return
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self._parse_head(bytes(self.head[:end]))
            data = bytes(self.head[end + 4 :])
            self.in_body = True
            if self.finished.done():
                return
        if self.chunked:
            self._dechunk(data)
        else:
            self._payload(data)
            self.received += len(data)
            if self.length is not None and self.received >= self.length:
                self._end_of_body()
        if (
            self.read_every
            and self.outcome.first_delta is not None
            and not self.finished.done()
            and not self.paused
            and self.transport is not None
        ):
            self.paused = True
            self.transport.pause_reading()
            self.loop.call_later(self.read_every, self._resume)

    def _resume(self) -> None:
        self.paused = False
        if not self.finished.done() and self.transport is not None:
            with contextlib.suppress(RuntimeError):
                self.transport.resume_reading()

    def connection_lost(self, exc) -> None:
        if not self.finished.done():
            if self.in_body and not self.chunked and self.length is None:
                self._end_of_body()  # read until close
            if not self.finished.done():
                self._finish("reset" if exc else "eof", str(exc or "closed before the end"))

    # parsing
    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        try:
            self.outcome.status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            self._finish("eof", f"bad status line {lines[0]!r}")
            return
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if "content-length" in headers:
            self.length = int(headers["content-length"])
        self.event_stream = headers.get("content-type", "").startswith("text/event-stream")
        if self.length == 0 and not self.chunked:
            self._end_of_body()

    def _dechunk(self, data: bytes) -> None:
        self.raw += data
        while True:
            line_end = self.raw.find(b"\r\n")
            if line_end < 0:
                return
            size = int(bytes(self.raw[:line_end]).split(b";", 1)[0] or b"0", 16)
            if size == 0:
                self._end_of_body()
                return
            if len(self.raw) < line_end + 2 + size + 2:
                return
            chunk = bytes(self.raw[line_end + 2 : line_end + 2 + size])
            del self.raw[: line_end + 2 + size + 2]
            self._payload(chunk)
            if self.finished.done():
                return

    def _payload(self, data: bytes) -> None:
        self.body += data
        if self.sse and self.event_stream and self.outcome.status == 200:
            if b"\r" in self.body:
                self.body = bytearray(self.body.replace(b"\r\n", b"\n"))
            while True:
                end = self.body.find(b"\n\n")
                if end < 0:
                    return
                event = bytes(self.body[:end])
                del self.body[: end + 2]
                self._event(event)
                if self.finished.done():
                    return

    def _event(self, raw: bytes) -> None:
        name = b"message"
        data = []
        for line in raw.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip()
            elif line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))
        if name == b"start":
            self.outcome.opened = self.loop.time() - self.outcome.started
        elif name == b"delta":
            now = self.loop.time() - self.outcome.started
            if self.outcome.first_delta is None:
                self.outcome.first_delta = now
            self.outcome.deltas += 1
            if self.keep_text:
                self.outcome.raw_deltas.append(b"\n".join(data))
        elif name == b"done":
            with contextlib.suppress(ValueError):
                self.outcome.final = json.loads(b"\n".join(data))
            self._finish("done")
        elif name == b"error":
            detail = b"\n".join(data).decode(errors="replace")[:300]
            self._finish("error_event", detail)

    def _end_of_body(self) -> None:
        if self.finished.done():
            return
        status = self.outcome.status
        if self.sse and self.event_stream and status == 200:
            self._finish("eof", "stream ended without done or error")
            return
        with contextlib.suppress(ValueError):
            self.outcome.final = json.loads(bytes(self.body) or b"null")
        if status is not None and 200 <= status < 300:
            self._finish("ok")
        else:
            self._finish(f"http_{status}", bytes(self.body[:300]).decode(errors="replace"))

    def _finish(self, kind: str, detail: str = "") -> None:
        if self.finished.done():
            return
        self.outcome.kind = kind
        self.outcome.detail = detail
        self.outcome.finished = self.loop.time() - self.outcome.started
        self.finished.set_result(None)
        if self.transport is not None:
            self.transport.close()


def build_request(
    method: str,
    path: str,
    port: int,
    *,
    token: str | None = None,
    body: dict | None = None,
    sse: bool = False,
) -> bytes:
    payload = json.dumps(body).encode() if body is not None else b""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Accept: " + ("text/event-stream" if sse else "application/json"),
        "Connection: close",
        "User-Agent: stepwise-bench",
    ]
    if token:
        lines.append(f"Authorization: Token {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def exchange(
    port: int,
    request: bytes,
    *,
    sse: bool,
    timeout: float,
    started: float | None = None,
    keep_text: bool = False,
    read_every: float = 0.0,
) -> Outcome:
    loop = asyncio.get_running_loop()
    outcome = Outcome(started=loop.time() if started is None else started)
    protocol = Exchange(request, outcome, sse=sse, keep_text=keep_text, read_every=read_every)
    deadline = outcome.started + timeout
    try:
        transport, _ = await asyncio.wait_for(
            loop.create_connection(lambda: protocol, "127.0.0.1", port),
            max(0.1, deadline - loop.time()),
        )
    except (TimeoutError, OSError) as exc:
        outcome.kind = "connect"
        outcome.detail = repr(exc)
        outcome.finished = loop.time() - outcome.started
        return outcome
    try:
        await asyncio.wait_for(asyncio.shield(protocol.finished), max(0.1, deadline - loop.time()))
    except TimeoutError:
        outcome.kind = "timeout"
        outcome.finished = loop.time() - outcome.started
        transport.abort()
    return outcome


# --- the unrelated GET, in a process of its own ---------------------------------------


def probe_child(argv: list[str]) -> None:
    """`_probe PORT RATE MAX_SECONDS`: GET /api/coaches/ RATE times a second until SIGTERM;
    prints one JSON line: [[seconds since due, kind, status, wall clock when due], ...]."""
    port, rate, max_seconds = int(argv[0]), float(argv[1]), float(argv[2])

    async def run() -> list:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        request = build_request("GET", "/api/coaches/", port)
        print("READY", flush=True)
        tasks = []
        start, wall_start = loop.time(), time.time()
        index = 0
        while not stop.is_set() and loop.time() - start < max_seconds:
            due = start + index / rate
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, due - loop.time()))
            if stop.is_set():
                break
            tasks.append(
                asyncio.ensure_future(exchange(port, request, sse=False, timeout=30, started=due))
            )
            index += 1
        done = await asyncio.gather(*tasks)
        return [[o.finished, o.kind, o.status, wall_start + i / rate] for i, o in enumerate(done)]

    print(json.dumps(run_loop(run())), flush=True)


class Probe:
    def __init__(self, port: int, rate: float, max_seconds: float):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "_probe", str(port), str(rate), str(max_seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = self.proc.stdout.readline()  # type: ignore[union-attr]
        if ready.strip() != "READY":
            raise RuntimeError(f"probe did not start: {ready!r}")

    def stop(self) -> list:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=45)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            return []
        lines = [line for line in out.splitlines() if line.startswith("[")]
        return json.loads(lines[-1]) if lines else []


def summarize_probe(rows: list) -> dict:
    """Percentiles over every GET sent: one that failed counts as infinitely slow."""
    ok = [r[0] for r in rows if r[1] == "ok" and r[2] == 200]
    every = [r[0] if r[1] == "ok" and r[2] == 200 else float("inf") for r in rows]
    kinds: dict[str, int] = {}
    for r in rows:
        if not (r[1] == "ok" and r[2] == 200):
            key = r[1] if r[1] != "ok" else f"http_{r[2]}"
            kinds[key] = kinds.get(key, 0) + 1
    return {
        "count": len(rows),
        "errors": len(rows) - len(ok),
        "error_kinds": kinds,
        "p50": pct(every, 50),
        "p95": pct(every, 95),
        "max": max(every) if every else None,
        "p95_of_answered": pct(ok, 95),
    }


# --- scratch database, members and sessions -----------------------------------------


def pg_admin(url: str, sql: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql)


def setup_child(argv: list[str]) -> None:
    """`_setup APP_DIR COUNT`: migrate, then COUNT members with a token and a session each.
    Runs in the app's checkout with its settings (DATABASE_URL from the environment);
    prints one JSON line: {"sessions": [[id, token], ...], "versions": {...}}."""
    app_dir, count = argv[0], int(argv[1])
    os.chdir(app_dir)
    sys.path.insert(0, app_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    from coach.models import Coach
    from sessions_app.models import CoachingSession, Message, Prompt

    call_command("migrate", verbosity=0, interactive=False)
    coach = Coach.objects.get(slug=COACH_SLUG)
    user_model = get_user_model()
    unusable = make_password(None)
    with transaction.atomic():
        users = user_model.objects.bulk_create(
            [user_model(username=f"bench{i:05d}", password=unusable) for i in range(count)]
        )
        if connection.vendor == "sqlite" or any(u.pk is None for u in users):
            users = list(user_model.objects.filter(username__startswith="bench").order_by("id"))
        tokens = Token.objects.bulk_create(
            [Token(key=Token.generate_key(), user=user) for user in users]
        )
        sessions = CoachingSession.objects.bulk_create(
            [
                CoachingSession(
                    owner=user,
                    coach=coach,
                    title=f"Sleep better, bench {i}",
                    system_prompt=coach.system_prompt,
                    few_shot=coach.few_shot,
                )
                for i, user in enumerate(users)
            ]
        )
        if any(s.pk is None for s in sessions):
            sessions = list(CoachingSession.objects.order_by("id"))
        Prompt.objects.bulk_create(
            [
                Prompt(session=s, kind=kind, tags=tags, text=text)
                for s in sessions
                for kind, tags, text in (
                    ("current_state", [], "I sleep badly and feel tired."),
                    ("goal", [], "Sleep seven hours a night."),
                    ("misc", [], "Ten minutes a day."),
                )
            ]
        )
        Message.objects.bulk_create(
            [
                Message(session=s, role="assistant", content="1. Breathe slowly.\n2. Begin.")
                for s in sessions
            ]
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sqlite_version()" if connection.vendor == "sqlite" else "SHOW server_version"
        )
        db_version = cursor.fetchone()[0]
    by_user = {t.user_id: t.key for t in tokens}
    rows = [[s.pk, by_user[s.owner_id]] for s in sessions]
    print(json.dumps({"sessions": rows, "db_version": f"{connection.vendor} {db_version}"}))


# --- processes: the stand-in model and the site ---------------------------------------


def procfile_web(app_dir: Path) -> str:
    for line in (app_dir / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"No web: line in {app_dir / 'Procfile'}")


def stop_group(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the process group, SIGKILL whatever is left after `grace` seconds."""
    if proc.poll() is not None:
        return  # its group may be gone, and its number given to someone else
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def start_standin(tokens: int, seconds: float) -> tuple[subprocess.Popen, int]:
    command = [sys.executable, str(STANDIN), "--port", "0", "--tokens", str(tokens)]
    command += ["--seconds", str(seconds)]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line.startswith("READY "):
        stop_group(proc)
        raise RuntimeError(f"stand-in did not start: {line!r}")
    return proc, int(line.split()[1])


def http_json(port: int, method: str, path: str, body: dict | None = None, timeout=10.0):
    """A blocking little request, for setup and control (not measured)."""

    async def go():
        request = build_request(method, path, port, body=body)
        return await exchange(port, request, sse=False, timeout=timeout)

    outcome = run_loop(go())
    return outcome.status, outcome.final


def standin_control(port: int, **changes) -> None:
    status, body = http_json(port, "POST", "/_standin/config", changes)
    if status != 200:
        raise RuntimeError(f"stand-in config failed: {status} {body}")


def standin_wait_idle(port: int, limit: float = 90.0) -> int:
    """Wait until the stand-in has no stream open (the last turns really ended)."""
    deadline = time.monotonic() + limit
    open_now = -1
    while time.monotonic() < deadline:
        _, stats = http_json(port, "GET", "/_standin/stats")
        open_now = (stats or {}).get("streams_open", -1)
        if open_now == 0:
            return 0
        time.sleep(0.5)
    return open_now


def start_site(
    app_dir: Path, env: dict, log_path: Path, command: str | None = None
) -> subprocess.Popen:
    command = command or procfile_web(app_dir)
    simple = not re.search(r"[;&|<>`$()]", command)
    shell_command = f"exec {command}" if simple else command
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            ["/bin/sh", "-c", shell_command],
            cwd=app_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(proc: subprocess.Popen, port: int, limit: float = 90.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the site exited with {proc.returncode} before it was ready")
        with contextlib.suppress(Exception):
            status, _ = http_json(port, "GET", "/api/coaches/", timeout=5)
            if status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError("the site did not answer GET /api/coaches/ in time")


def site_env(args, *, database_url: str, redis_url: str, port: int, standin_port: int) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "COACH_", "OPENAI_", "GUNICORN_", "STEPWISE_"))
        and k not in ("DATABASE_URL", "REDIS_URL", "PORT", "WEB_CONCURRENCY")
    }
    env.update(
        PATH=f"{Path(args.python).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        PORT=str(port),
        WEB_CONCURRENCY=str(args.workers),
        DATABASE_URL=database_url,
        OPENAI_BASE_URL=f"http://127.0.0.1:{standin_port}/v1",
        OPENAI_API_KEY="x",
        COACH_LLM_MODEL="standin",
        COACH_DAILY_LIMIT="1000000",
        # Limits made for people, not for a load test: the site's daily cap on the model,
        # replies a session, and the API's per-address rate (the GETs come from one).
        COACH_SITE_DAILY_LIMIT="0",
        COACH_SESSION_MAX_TURNS="100000",
        STEPWISE_API_ANON_RATE="1000000/min",
        STEPWISE_API_USER_RATE="1000000/min",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-only-" + os.urandom(24).hex(),
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    for setting in args.setting:
        name, _, value = setting.partition("=")
        env[name] = value
    return env


# --- measurements --------------------------------------------------------------------


@dataclass
class Context:
    args: argparse.Namespace
    port: int
    standin_port: int
    site: subprocess.Popen
    standin: subprocess.Popen
    sessions: list  # [[id, token], ...]
    tokens: int
    idle_cpu_per_s: float = 0.0  # the site's CPU a second, idle
    cpu_per_get: float = 0.0  # the site's CPU for one unrelated GET
    pg_url: str = ""  # the scratch PostgreSQL database, when that is the one measured
    db_pids: list[int] = field(default_factory=list)  # PostgreSQL's and Redis's servers


def check_standin(ctx: Context) -> None:
    code = ctx.standin.poll()
    if code is not None:
        raise RuntimeError(f"the stand-in model server exited ({code}) during the run")


def turn_request(ctx: Context, index: int, *, sse: bool, content: str = FOLLOW_UP) -> bytes:
    session_id, token = ctx.sessions[index]
    return build_request(
        "POST",
        f"/api/sessions/{session_id}/messages/",
        ctx.port,
        token=token,
        body={"content": content},
        sse=sse,
    )


def joined_deltas(outcome: Outcome) -> str | None:
    try:
        return "".join(json.loads(raw)["text"] for raw in outcome.raw_deltas)
    except (ValueError, KeyError, TypeError):
        return None


def reply_of(outcome: Outcome, sse: bool) -> str | None:
    final = outcome.final
    if not isinstance(final, dict):
        return None
    if not sse:
        final = final.get("assistant_message") or {}
    content = final.get("content")
    return content if isinstance(content, str) else None


async def burst(
    ctx: Context, n: int, *, sse: bool, label: str, tokens: int, waiting: float | None = None
) -> dict:
    """n turns at once; the unrelated GET beside them; CPU and memory of the site.
    `waiting`: the model's first-token delay, to summarise apart the GETs due before it."""
    loop = asyncio.get_running_loop()
    timeout = ctx.args.burst_timeout
    probe = Probe(ctx.port, ctx.args.get_rate, timeout + 30)
    sampler = RssSampler(ctx.site.pid)
    sampler_task = asyncio.ensure_future(sampler.run())
    pg_before = await loop.run_in_executor(None, pg_stats, ctx.pg_url) if ctx.pg_url else None
    db_before = sum(tree_cpu_seconds(pid) for pid in ctx.db_pids)
    cpu_before = tree_cpu_seconds(ctx.site.pid)
    standin_before = tree_cpu_seconds(ctx.standin.pid)
    client_before = time.process_time()
    busy_before = machine_busy_seconds()
    started, started_wall = loop.time(), time.time()
    try:
        outcomes = await asyncio.gather(
            *(
                exchange(
                    ctx.port,
                    turn_request(ctx, i, sse=sse),
                    sse=sse,
                    timeout=timeout,
                    started=started,
                    keep_text=sse,
                    read_every=ctx.args.read_every,
                )
                for i in range(n)
            )
        )
    finally:
        wall = loop.time() - started
        cpu = tree_cpu_seconds(ctx.site.pid) - cpu_before
        standin_cpu = tree_cpu_seconds(ctx.standin.pid) - standin_before
        client_cpu = time.process_time() - client_before
        busy = machine_busy_seconds() - busy_before
        db_cpu = sum(tree_cpu_seconds(pid) for pid in ctx.db_pids) - db_before
        sampler_task.cancel()
        sampler.sample()
        probe_rows = await loop.run_in_executor(None, probe.stop)
    good_kind = "done" if sse else "ok"
    good = [o for o in outcomes if o.kind == good_kind and o.status == (200 if sse else 201)]
    good_ids = {id(o) for o in good}
    expected = reply_text(tokens).strip()
    wrong_text = 0
    split_text = 0
    for o in good:
        stored = reply_of(o, sse)
        if stored is None or stored.strip() != expected:
            wrong_text += 1
        if sse and joined_deltas(o) != (stored or ""):
            split_text += 1
    errors: dict[str, int] = {}
    details: dict[str, str] = {}
    for o in outcomes:
        if id(o) not in good_ids:
            key = o.kind if o.kind != "ok" else f"http_{o.status}"
            errors[key] = errors.get(key, 0) + 1
            details.setdefault(key, o.detail)
    answered = sum(1 for r in probe_rows if r[1] == "ok")
    turn_cpu = max(0.0, cpu - ctx.idle_cpu_per_s * wall - ctx.cpu_per_get * answered)
    finished = [o.finished for o in good if o.finished is not None]
    ttfd = [o.first_delta for o in good if o.first_delta is not None]
    turns = len(good)
    result = {
        "label": label,
        "n": n,
        "path": "sse" if sse else "json",
        "ok": turns,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "error_examples": details,
        "wrong_text": wrong_text,
        "deltas_not_matching_done": split_text if sse else None,
        "deltas_per_turn": (sum(o.deltas for o in good) / turns) if sse and turns else None,
        "all_done_s": max(finished) if finished and not errors else None,
        "last_done_s": max(finished) if finished else None,
        "wall_s": wall,
        "turn_p50_s": pct(finished, 50),
        "turn_p95_s": pct(finished, 95),
        "ttfd_p50_s": pct(ttfd, 50),
        "ttfd_p95_s": pct(ttfd, 95),
        "get": summarize_probe(probe_rows),
        "server_cpu_s": cpu,
        "server_cpu_turns_s": turn_cpu,
        "cpu_per_turn_ms": 1000 * turn_cpu / turns if turns else None,
        "cpu_per_token_ms": 1000 * turn_cpu / (turns * tokens) if turns else None,
        "standin_cpu_s": standin_cpu,
        "client_cpu_s": client_cpu,
        # Everything else the machine did meanwhile (the GET prober, and whatever else
        # runs on it): high values mean the figures were taken on a shared, busy machine.
        "other_cpu_s": max(0.0, busy - cpu - standin_cpu - client_cpu - db_cpu),
        # The PostgreSQL and Redis servers (whole servers: other users of them count too).
        "db_server_cpu_s": db_cpu if ctx.db_pids else None,
        "db_server_cpu_per_turn_ms": 1000 * db_cpu / turns if ctx.db_pids and turns else None,
        "machine_cores": os.cpu_count(),
        "rss_max_mib": sampler.max_one,
        "rss_sum_mib": sampler.max_sum,
        "processes": sampler.processes,
    }
    check_standin(ctx)
    left = await loop.run_in_executor(None, standin_wait_idle, ctx.standin_port)
    if ctx.pg_url and pg_before is not None:
        # Backends report their counters when idle for a while (up to 10 s): wait for it.
        await asyncio.sleep(max(0.0, 11.0 - (loop.time() - started - wall)))
        pg_after = await loop.run_in_executor(None, pg_stats, ctx.pg_url)
        result["pg_per_turn"] = {
            k: (pg_after[k] - pg_before[k]) / turns if turns else None for k in PG_STAT_NAMES
        }
    if waiting is not None:
        # While the burst arrives (its turns being opened) and then while every turn only
        # waits for its first token (all have had their `start` event; none its first
        # token): the second is what a waiting turn costs the rest of the site.
        until = started_wall + waiting
        result["get_while_waiting"] = summarize_probe(
            [r for r in probe_rows if started_wall <= r[3] < until]
        )
        opened = [o.opened for o in outcomes if o.opened is not None]
        if sse and len(opened) == n:
            all_open = started_wall + max(opened)
            result["all_opened_s"] = max(opened)
            result["get_while_all_wait"] = summarize_probe(
                [r for r in probe_rows if all_open <= r[3] < until]
            )
    print_burst(result, flush=True)
    if left:
        print(f"   (the stand-in still had {left} streams open after 90 s)", flush=True)
    return result


async def sequential(ctx: Context, indexes: list[int], *, sse: bool, session: str) -> dict:
    """Follow-ups one after the other (the instant model), the i-th on session
    `indexes[i]`: on fresh sessions (each has its plan, then this one turn) or all on one
    session, which grows by a turn each time."""
    times, errors = [], {}
    for index in indexes:
        o = await exchange(ctx.port, turn_request(ctx, index, sse=sse), sse=sse, timeout=30)
        if o.kind == ("done" if sse else "ok") and o.status == (200 if sse else 201):
            times.append(o.finished)
        else:
            key = o.kind if o.kind != "ok" else f"http_{o.status}"
            errors[key] = errors.get(key, 0) + 1
    result = {
        "label": "instant model, sequential",
        "path": "sse" if sse else "json",
        "session": session,
        "n": len(indexes),
        "ok": len(times),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "p50_s": pct(times, 50),
        "p95_s": pct(times, 95),
    }
    print(
        f"  instant model, {result['n']} sequential {result['path']} follow-ups, {session}: "
        f"p50 {fmt_ms(result['p50_s'])} ms, p95 {fmt_ms(result['p95_s'])} ms, "
        f"errors {result['errors']} {errors or ''}",
        flush=True,
    )
    return result


async def background(ctx: Context, seconds: float) -> dict:
    """The site's CPU idle, then for each unrelated GET: subtracted from the bursts' CPU."""
    loop = asyncio.get_running_loop()
    before = tree_cpu_seconds(ctx.site.pid)
    started = loop.time()
    await asyncio.sleep(3.0)
    idle_wall = loop.time() - started
    ctx.idle_cpu_per_s = (tree_cpu_seconds(ctx.site.pid) - before) / idle_wall
    probe = Probe(ctx.port, ctx.args.get_rate, seconds + 30)
    before = tree_cpu_seconds(ctx.site.pid)
    started = loop.time()
    await asyncio.sleep(seconds)
    rows = await loop.run_in_executor(None, probe.stop)
    cpu = tree_cpu_seconds(ctx.site.pid) - before
    wall = loop.time() - started
    answered = sum(1 for r in rows if r[1] == "ok") or 1
    ctx.cpu_per_get = max(0.0, cpu - ctx.idle_cpu_per_s * wall) / answered
    result = {
        "idle_cpu_ms_per_s": 1000 * ctx.idle_cpu_per_s,
        "cpu_ms_per_get": 1000 * ctx.cpu_per_get,
        "get": summarize_probe(rows),
    }
    get = result["get"]
    print(
        f"  quiet site: idle CPU {result['idle_cpu_ms_per_s']:.0f} ms/s; {ctx.args.get_rate:g}"
        f" GET/s: {result['cpu_ms_per_get']:.1f} ms CPU each, p50/p95/max"
        f" {fmt_ms(get['p50'])}/{fmt_ms(get['p95'])}/{fmt_ms(get['max'])} ms",
        flush=True,
    )
    return result


async def detect_streaming(ctx: Context, index: int) -> tuple[bool, str]:
    o = await exchange(
        ctx.port, turn_request(ctx, index, sse=True), sse=True, timeout=60, keep_text=True
    )
    if o.kind == "done" and o.status == 200:
        return True, f"200 text/event-stream, {o.deltas} deltas"
    return False, f"{o.kind} status={o.status} {o.detail[:200]}"


def print_get(label: str, get: dict, flush: bool = False) -> None:
    """One summary of the unrelated GET (summarize_probe), under a burst's line."""
    print(
        f"  {'':<22} {label}: p50/p95/max {fmt_ms(get['p50'])}/{fmt_ms(get['p95'])}/"
        f"{fmt_ms(get['max'])} ms ({get['count']} sent, {get['errors']} failed)",
        flush=flush,
    )


def print_burst(r: dict, flush: bool = False) -> None:
    get = r["get"]
    extra = ""
    if r["path"] == "sse":
        extra = (
            f" ttfd p50/p95 {fmt_s(r['ttfd_p50_s'])}/{fmt_s(r['ttfd_p95_s'])} s,"
            f" {fmt_s(r['deltas_per_turn'], 1)} deltas/turn,"
        )
    print(
        f"  {r['label']:<22} N={r['n']:<5} done {r['ok']}/{r['n']} in"
        f" {fmt_s(r['last_done_s'])} s (turn p50/p95 {fmt_s(r['turn_p50_s'])}/"
        f"{fmt_s(r['turn_p95_s'])}),{extra} errors {r['errors']} {r['error_kinds'] or ''}"
        f"{' wrong text ' + str(r['wrong_text']) if r['wrong_text'] else ''}\n"
        f"  {'':<22} GET p50/p95/max {fmt_ms(get['p50'])}/{fmt_ms(get['p95'])}/"
        f"{fmt_ms(get['max'])} ms ({get['count']} sent, {get['errors']} failed"
        f"{' ' + str(get['error_kinds']) if get['errors'] else ''});"
        f" site CPU {r['server_cpu_s']:.1f} s ({r['server_cpu_turns_s']:.1f} s for the turns)"
        f" = {fmt_s(r['cpu_per_turn_ms'], 1)} ms/turn,"
        f" {fmt_s(r['cpu_per_token_ms'], 3)} ms/token; RSS max {r['rss_max_mib']:.0f} MiB,"
        f" sum {r['rss_sum_mib']:.0f} MiB ({r['processes']} processes);"
        f" stand-in CPU {r['standin_cpu_s']:.1f} s, client CPU {r['client_cpu_s']:.1f} s,"
        f" anything else on the machine {r['other_cpu_s']:.1f} s in {r['wall_s']:.0f} s",
        flush=flush,
    )
    waiting = r.get("get_while_waiting")
    if waiting is not None:
        print_get("GET due while the turns wait for their first token", waiting, flush=flush)
    all_wait = r.get("get_while_all_wait")
    if all_wait is not None:
        when = (
            f"GET due once all {r['n']} were open ({r['all_opened_s']:.1f} s),"
            " before any first token"
        )
        print_get(when, all_wait, flush=flush)
    if r.get("db_server_cpu_s") is not None:
        print(
            f"  {'':<22} PostgreSQL+Redis servers' CPU {r['db_server_cpu_s']:.1f} s"
            f" = {fmt_s(r['db_server_cpu_per_turn_ms'], 1)} ms/turn",
            flush=flush,
        )
    if r.get("pg_per_turn"):
        per = r["pg_per_turn"]
        print(
            f"  {'':<22} per turn in pg_stat_database (GETs included): "
            + ", ".join(f"{k} {fmt_s(v, 1)}" for k, v in per.items()),
            flush=flush,
        )
    for kind, detail in (r.get("error_examples") or {}).items():
        if detail:
            print(f"  {'':<22} e.g. {kind}: {detail[:240]}", flush=flush)


# --- the server's log ------------------------------------------------------------------


def log_summary(path: Path) -> dict:
    text = path.read_text(errors="replace") if path.exists() else ""
    lines = text.splitlines()
    status_counts: dict[str, int] = {}
    for line in lines:
        m = re.search(r'HTTP/1\.[01]" (\d{3})\b', line)
        if m:
            status_counts[m.group(1)] = status_counts.get(m.group(1), 0) + 1
    tracebacks: dict[str, str] = {}
    counts: dict[str, int] = {}
    i = 0
    while i < len(lines):
        if lines[i].startswith("Traceback"):
            j = i + 1
            while j < len(lines) and (lines[j].startswith((" ", "\t")) or not lines[j].strip()):
                j += 1
            last = lines[j] if j < len(lines) else ""
            block = "\n".join(lines[max(0, i - 1) : j + 1])
            counts[last] = counts.get(last, 0) + 1
            tracebacks.setdefault(last, block)
            i = j + 1
        else:
            i += 1
    access = re.compile(r'HTTP/1\.[01]" \d{3}\b')
    notable = [
        line
        for line in lines
        if not access.search(line)
        and not line.startswith((" ", "\t"))
        and re.search(
            r"ERROR|CRITICAL|WARNING|TIMEOUT|[Ee]rror|[Ff]ailed|[Ee]xception|Traceback|"
            r"Worker .* (was sent|exited)|interrupted|Internal Server Error",
            line,
        )
    ]
    kinds: dict[str, int] = {}
    for line in notable:
        key = re.sub(r"\d+", "N", re.sub(r"^\[[^]]*\] \[\d+\] ", "", line))[:160]
        kinds[key] = kinds.get(key, 0) + 1
    return {
        "path": str(path),
        "lines": len(lines),
        "statuses": status_counts,
        "exceptions": counts,
        "tracebacks": list(tracebacks.values())[:5],
        "notable": notable[:40],
        "notable_count": len(notable),
        "notable_kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:20]),
    }


# --- one database ------------------------------------------------------------------------


def run_database(db: str, args) -> dict:
    app_dir = Path(args.app_dir).resolve()
    tag = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{args.label}-{db}")
    log_path = Path(tempfile.gettempdir()) / f"stepwise-bench-{tag}-{os.getpid()}.log"
    log_path.unlink(missing_ok=True)
    sizes = args.sizes
    result: dict = {"db": db, "label": args.label, "app_dir": str(app_dir), "bursts": []}
    result["procfile_web"] = BARE_WEB if db == "bare" else procfile_web(app_dir)
    print(f"\n== {args.label}: {db}; web: {result['procfile_web']} ==", flush=True)
    with contextlib.ExitStack() as stack:
        if db == "bare":
            database_url = redis_url = ""
        elif db == "sqlite":
            sqlite_path = Path(tempfile.gettempdir()) / f"stepwise-bench-{tag}-{os.getpid()}.db"
            database_url = f"sqlite:///{sqlite_path}"
            redis_url = ""

            def drop_sqlite() -> None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)

            drop_sqlite()
            stack.callback(drop_sqlite)
        else:
            database_url = urlunsplit(urlsplit(args.pg_url)._replace(path=f"/{PG_BENCH_DB}"))
            redis_url = args.redis_url
            pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)')
            pg_admin(args.pg_url, f'CREATE DATABASE "{PG_BENCH_DB}"')
            stack.callback(
                pg_admin, args.pg_url, f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)'
            )

        standin, standin_port = start_standin(args.tokens, args.seconds)
        stack.callback(stop_group, standin, 5)
        port = free_port()
        env = site_env(
            args,
            database_url=database_url,
            redis_url=redis_url,
            port=port,
            standin_port=standin_port,
        )

        # + one to probe streaming, one for the sequential follow-ups in one session, and
        # a fresh session for each of the others (JSON, then streamed).
        count = max(sizes) + 2 + 2 * args.sequential
        started = time.monotonic()
        if db == "bare":  # nothing to set up: any session id, no token
            data = {"db_version": "none", "sessions": [[i + 1, ""] for i in range(count)]}
        else:
            setup = subprocess.run(
                [args.python, __file__, "_setup", str(app_dir), str(count)],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if setup.returncode != 0:
                raise RuntimeError(f"setup failed:\n{setup.stderr[-3000:]}")
            data = json.loads(setup.stdout.strip().splitlines()[-1])
        result["db_version"] = data["db_version"]
        print(
            f"migrate + {count} members, tokens and sessions: "
            f"{time.monotonic() - started:.1f} s ({data['db_version']})",
            flush=True,
        )

        site = start_site(app_dir, env, log_path, command=BARE_WEB if db == "bare" else None)
        stack.callback(stop_group, site, 30)
        wait_ready(site, port)
        print(f"site ready on 127.0.0.1:{port} (log {log_path})", flush=True)
        ctx = Context(
            args=args,
            port=port,
            standin_port=standin_port,
            site=site,
            standin=standin,
            sessions=data["sessions"],
            tokens=args.tokens,
            pg_url=database_url if db == "postgres" else "",
            db_pids=server_pids("postgres", "redis-server") if db == "postgres" else [],
        )
        try:
            run_loop(measure(ctx, db, result))
        finally:
            result["log"] = log_summary(log_path)
            print_log_summary(result["log"])
    return result


async def measure(ctx: Context, db: str, result: dict) -> None:
    args = ctx.args
    loop = asyncio.get_running_loop()
    fresh = 2 * args.sequential
    probe_index, seq_long = len(ctx.sessions) - fresh - 2, len(ctx.sessions) - fresh - 1
    seq_json = list(range(len(ctx.sessions) - fresh, len(ctx.sessions) - args.sequential))
    seq_sse = list(range(len(ctx.sessions) - args.sequential, len(ctx.sessions)))
    streaming, how = await detect_streaming(ctx, probe_index)
    result["streaming"] = streaming
    result["streaming_check"] = how
    print(f"streaming endpoint: {'yes' if streaming else 'not available'} ({how})", flush=True)
    # Warm every worker (imports, first connection to the model and the database).
    await asyncio.gather(
        *(
            exchange(ctx.port, turn_request(ctx, i, sse=False), sse=False, timeout=60)
            for i in range(min(8, max(args.sizes)))
        )
    )
    await loop.run_in_executor(None, standin_wait_idle, ctx.standin_port)
    result["background"] = await background(ctx, args.background_seconds)
    modes = args.modes
    # On a quiet server first, an instant model: a follow-up in a short session (its plan,
    # then this turn), then as many in one session that grows to that many turns.
    if "instant" in modes:
        await loop.run_in_executor(None, lambda: standin_control(ctx.standin_port, instant=True))
        try:
            result["sequential"] = [
                await sequential(ctx, seq_json, sse=False, session="short sessions")
            ]
            if streaming:
                result["sequential"].append(
                    await sequential(ctx, seq_sse, sse=True, session="short sessions")
                )
            result["sequential"].append(
                await sequential(
                    ctx,
                    [seq_long] * args.sequential,
                    sse=False,
                    session=f"one session growing to {args.sequential} turns",
                )
            )
        finally:
            await loop.run_in_executor(
                None, lambda: standin_control(ctx.standin_port, instant=False)
            )
    for n in args.sizes:
        if "sse" in modes:
            if streaming:
                result["bursts"].append(
                    await burst(ctx, n, sse=True, label="streamed", tokens=args.tokens)
                )
            else:
                print(f"  streamed               N={n:<5} skipped: not available", flush=True)
        if "json" in modes:
            result["bursts"].append(
                await burst(ctx, n, sse=False, label="whole reply (JSON)", tokens=args.tokens)
            )
    if "wait" in modes:
        n = max(args.sizes)
        await loop.run_in_executor(
            None, lambda: standin_control(ctx.standin_port, first_token_delay=args.wait)
        )
        try:
            label = f"first token after {args.wait:g} s"
            result["bursts"].append(
                await burst(
                    ctx, n, sse=streaming, label=label, tokens=args.tokens, waiting=args.wait
                )
            )
        finally:
            await loop.run_in_executor(
                None, lambda: standin_control(ctx.standin_port, first_token_delay=0.0)
            )


def print_log_summary(log: dict) -> None:
    print(
        f"site log: {log['lines']} lines, statuses {log['statuses']},"
        f" {log['notable_count']} warnings/errors, exceptions {log['exceptions'] or 'none'}",
        flush=True,
    )
    for line, count in list(log["notable_kinds"].items())[:12]:
        print(f"  | {count:>6} x {line}", flush=True)
    for block in log["tracebacks"][:3]:
        print("  " + block.replace("\n", "\n  | ")[:3000], flush=True)


# --- report ---------------------------------------------------------------------------


def machine() -> dict:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "client_loop": loop_name(),
    }


def print_table(runs: list[dict]) -> None:
    print(
        "\n| run | db | path | N | all done (s) | errors | TTFD p50/p95 (s) |"
        " GET p50/p95/max (ms) | CPU/turn (ms) | CPU/token (ms) | RSS max/sum (MiB) |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        for r in run["bursts"]:
            get = r["get"]
            ttfd = (
                f"{fmt_s(r['ttfd_p50_s'])}/{fmt_s(r['ttfd_p95_s'])}" if r["path"] == "sse" else "-"
            )
            print(
                f"| {run['label']}: {r['label']} | {run['db']} | {r['path']} | {r['n']} |"
                f" {fmt_s(r['last_done_s'], 1)} | {r['errors']} | {ttfd} |"
                f" {fmt_ms(get['p50'])}/{fmt_ms(get['p95'])}/{fmt_ms(get['max'])} |"
                f" {fmt_s(r['cpu_per_turn_ms'], 1)} | {fmt_s(r['cpu_per_token_ms'], 2)} |"
                f" {r['rss_max_mib']:.0f}/{r['rss_sum_mib']:.0f} |"
            )
        for s in run.get("sequential", []):
            print(
                f"| {run['label']}: instant model, sequential, {s.get('session', '')}"
                f" | {run['db']} | {s['path']} |"
                f" {s['n']} | p50 {fmt_ms(s['p50_s'])} ms, p95 {fmt_ms(s['p95_s'])} ms |"
                f" {s['errors']} | | | | | |"
            )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Bursts of turns through the Procfile's server and a stand-in model.",
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--sizes", default="50,200,1000", help="burst sizes (50,200,1000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: sizes 5,20, short waits")
    parser.add_argument(
        "--modes",
        default="sse,json,wait,instant",
        help="any of sse (streamed bursts), json (whole-reply bursts), wait (first token after"
        " --wait s, at the largest size), instant (sequential follow-ups, instant model)",
    )
    parser.add_argument("--json", metavar="PATH", help="write every figure here")
    parser.add_argument("--app-dir", default=str(ROOT), help="the checkout to run (its Procfile)")
    parser.add_argument("--label", default="", help="name of this run in the report")
    parser.add_argument(
        "--bare",
        action="store_true",
        help="measure the bare reference instead of the site (bench/bare_reference.py: "
        "no database, auth or storage; the floor on this machine)",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the app's Python (its venv's bin/ comes first on the site's PATH)",
    )
    parser.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY (2)")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the site, e.g. COACH_DB_THREADS=2 (repeatable)",
    )
    parser.add_argument("--tokens", type=int, default=50, help="stand-in: words per reply (50)")
    parser.add_argument("--seconds", type=float, default=5.0, help="stand-in: seconds a reply (5)")
    parser.add_argument("--wait", type=float, default=8.0, help="first-token delay of 'wait' (8)")
    parser.add_argument("--sequential", type=int, default=50, help="instant follow-ups (50)")
    parser.add_argument("--get-rate", type=float, default=20.0, help="unrelated GETs a second")
    parser.add_argument(
        "--background-seconds",
        type=float,
        default=10.0,
        help="measure the GETs alone this long first (10)",
    )
    parser.add_argument(
        "--read-every",
        type=float,
        default=0.2,
        help="after its first delta, read each stream every this many seconds (0.2; 0: at once)",
    )
    parser.add_argument(
        "--burst-timeout", type=float, default=240.0, help="limit for one burst, s (240)"
    )
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = "5,20"
        args.wait = min(args.wait, 2.0)
        args.sequential = min(args.sequential, 10)
        args.seconds = min(args.seconds, 2.0)
        args.background_seconds = min(args.background_seconds, 3.0)
    args.sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    args.modes = {m.strip() for m in args.modes.split(",") if m.strip()}
    args.label = args.label or (
        "bare reference"
        if args.bare
        else "this checkout"
        if Path(args.app_dir).resolve() == ROOT
        else Path(args.app_dir).name
    )
    return args


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> None:
    if argv and argv[0] == "_setup":
        setup_child(argv[1:])
        return
    if argv and argv[0] == "_probe":
        probe_child(argv[1:])
        return
    args = parse_args(argv)
    raise_nofile()
    # SIGTERM ends the bench like Ctrl-C: the servers it started are stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    report = {
        "machine": machine(),
        "command": " ".join(shlex.quote(a) for a in [sys.argv[0], *argv]),
        "runs": [],
    }
    print(f"machine: {report['machine']}", flush=True)
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if args.bare:
        dbs = ["bare"]
    for db in dbs:
        report["runs"].append(run_database(db, args))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    print_table(report["runs"])
    if args.json:
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main(sys.argv[1:])
