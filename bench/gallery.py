"""The gallery at scale: 100,000 sessions and 1,000,000 messages.

    python bench/gallery.py                      # SQLite (a separate file)
    DATABASE_URL=postgres://... python bench/gallery.py   # SQLite, then PostgreSQL

Fills a fresh database quickly (executemany / COPY in big batches, not the ORM), then
times the real pages through Django's test client, views and templates included: the
first page, a deep page, the last page, one coach, a search that finds many and a search
that finds nothing (every row scanned), plus the JSON API's first page. Prints the median
and 95th percentile, and the number of queries each page ran.

On PostgreSQL the data goes into a database of its own next to DATABASE_URL's
(`<name>_gallery_bench`), created and dropped here: the database you name is not
touched. SQLite uses a file in the temporary directory (--sqlite to choose).
Each database is measured in a child process of its own, so settings stay untouched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent

WORD_LINES = (
    "sleep calm focus breathe walk run stretch morning evening habit stress anxious tired",
    "career interview promotion raise manager team project deadline meeting presentation",
    "water sugar coffee vegetables weight strength yoga meditation journal gratitude",
    "phone screen reading budget savings friends family partner weekend travel study exam",
    "language guitar painting cooking garden posture back knees energy motivation routine",
)
WORDS = " ".join(WORD_LINES).split(" ")
# One rare word in about one session in 2,000 (in its prompts only), for "search finds few".
RARE_WORD = "marathon"
MISSING_WORD = "xylophonist"


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


# --- the child: one database -----------------------------------------------------


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()  # 'testserver' allowed, as for tests
    settings.DEBUG = False  # no query log kept in memory (we count with a wrapper)

    vendor = connection.vendor
    print(f"\n== {vendor}: {args.sessions:,} sessions, {args.messages:,} messages ==", flush=True)
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrate: {time.perf_counter() - started:.1f}s", flush=True)
    started = time.perf_counter()
    fill(connection, sessions=args.sessions, messages=args.messages, users=args.users)
    print(f"fill: {time.perf_counter() - started:.1f}s", flush=True)
    if vendor == "postgresql":
        # What autovacuum does soon after a load this size: planner statistics, and the
        # visibility map that index-only scans need. Measuring before it would be
        # measuring a database nobody runs.
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(f"VACUUM ANALYZE: {time.perf_counter() - started:.1f}s", flush=True)
    elif args.analyze:
        # SQLite never analyses by itself (Django does not ask it to): off by default.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print("ANALYZE run", flush=True)
    if args.fill_only:
        return
    measure(connection, repeat=args.repeat, sessions=args.sessions, explain=args.explain)


def fill(connection, *, sessions: int, messages: int, users: int) -> None:
    from accounts.models import User
    from coach.models import Coach
    from sessions_app.models import CoachingSession, Message, Prompt

    rng = random.Random(42)
    coaches = list(Coach.objects.values_list("id", "system_prompt", "few_shot"))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(days=730)
    step = dt.timedelta(days=730) / sessions
    vendor = connection.vendor

    def when(value: dt.datetime) -> str:
        if vendor == "sqlite":
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value.isoformat()

    user_rows = (
        (
            f"member{i}",
            "!unusable",
            f"member{i}@example.com",
            f"Member {i}" if i % 3 else "",
            False,
            False,
            True,
            "",
            "",
            when(start),
        )
        for i in range(users)
    )
    bulk(
        connection,
        User,
        [
            "username",
            "password",
            "email",
            "display_name",
            "is_superuser",
            "is_staff",
            "is_active",
            "first_name",
            "last_name",
            "date_joined",
        ],
        user_rows,
    )
    first_user = User.objects.order_by("id").values_list("id", flat=True).first()

    # Sessions get ids 1..n in order of creation (a fresh table), so children can
    # refer to them without reading them back.
    per_session = max(messages // sessions, 0)
    extra = messages - per_session * sessions

    def session_rows():
        for i in range(sessions):
            coach_id, system_prompt, few_shot = coaches[i % len(coaches)]
            created = when(start + step * i)
            yield (
                i + 1,
                first_user + rng.randrange(users),
                coach_id,
                sentence(rng, rng.randint(3, 7)).capitalize(),
                system_prompt,
                json.dumps(few_shot),
                created,
                created,
            )

    bulk(
        connection,
        CoachingSession,
        [
            "id",
            "owner_id",
            "coach_id",
            "title",
            "system_prompt",
            "few_shot",
            "created_at",
            "updated_at",
        ],
        session_rows(),
    )

    def prompt_rows():
        for i in range(sessions):
            created = when(start + step * i)
            rare = f" {RARE_WORD}" if i % 2000 == 7 else ""
            yield (i + 1, "current_state", "[]", sentence(rng, rng.randint(5, 25)), created)
            yield (i + 1, "goal", json.dumps([rng.choice(WORDS)]), sentence(rng, 8) + rare, created)
            yield (i + 1, "misc", "[]", sentence(rng, rng.randint(0, 12)), created)

    bulk(connection, Prompt, ["session_id", "kind", "tags", "text", "created_at"], prompt_rows())

    replies = [sentence(rng, 40) for _ in range(200)]

    def message_rows():
        for i in range(sessions):
            base = start + step * i
            n = per_session + (1 if i < extra else 0)
            for j in range(n):
                role = "assistant" if j % 2 == 0 else "user"
                content = rng.choice(replies) if role == "assistant" else sentence(rng, 10)
                yield (
                    i + 1,
                    role,
                    content,
                    "ok",
                    "",
                    "bench" if role == "assistant" else "",
                    when(base + dt.timedelta(seconds=30 * (j + 1))),
                )

    bulk(
        connection,
        Message,
        ["session_id", "role", "content", "status", "error", "model_name", "created_at"],
        message_rows(),
    )
    if vendor == "postgresql":
        with connection.cursor() as cursor:
            table = CoachingSession._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"  # noqa: E501, S608
            )


def bulk(connection, model, columns: list[str], rows, batch: int = 20_000) -> None:
    """Insert rows fast: COPY on PostgreSQL, executemany in big batches on SQLite."""
    table = model._meta.db_table
    started = time.perf_counter()
    count = 0
    connection.ensure_connection()
    raw = connection.connection
    if connection.vendor == "postgresql":
        copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        raw.commit()
    else:
        placeholders = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
        cursor = raw.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        chunk = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= batch:
                cursor.executemany(sql, chunk)
                count += len(chunk)
                chunk = []
        if chunk:
            cursor.executemany(sql, chunk)
            count += len(chunk)
        raw.commit()
        cursor.execute("PRAGMA synchronous=NORMAL")
    print(f"  {table}: {count:,} rows in {time.perf_counter() - started:.1f}s", flush=True)


def measure(connection, *, repeat: int, sessions: int, explain: bool) -> None:
    from django.test import Client

    from coach.models import Coach

    coach = Coach.objects.order_by("position").first()
    pages = -(-sessions // 20)
    cases = [
        ("first page", "/"),
        ("page 50", "/?page=50"),
        (f"deep page ({pages // 2:,})", f"/?page={pages // 2}"),
        (f"last page ({pages:,})", f"/?page={pages}"),
        ("one coach", f"/?coach={coach.slug}"),
        ("one coach, deep", f"/?coach={coach.slug}&page={pages // 6}"),
        ("search: common word", "/?q=sleep"),
        ("search: two words", "/?q=sleep+coffee"),
        (f"search: rare word ({RARE_WORD})", f"/?q={RARE_WORD}"),
        ("search: no match", f"/?q={MISSING_WORD}"),
        ("API first page", "/api/sessions/"),
        ("API search", "/api/sessions/?q=sleep"),
    ]
    client = Client()
    print(f"\n{'page':36} {'median':>9} {'p95':>9} {'queries':>8}  (ms, {repeat} runs)")
    for label, url in cases:
        times = []
        queries = 0
        for i in range(repeat + 1):
            counter = QueryCounter()
            with connection.execute_wrapper(counter):
                t0 = time.perf_counter()
                response = client.get(url)
                elapsed = (time.perf_counter() - t0) * 1000
            assert response.status_code == 200, (url, response.status_code)
            if i:  # the first run warms caches
                times.append(elapsed)
            queries = counter.count
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        print(f"{label:36} {statistics.median(times):9.1f} {p95:9.1f} {queries:8d}", flush=True)
        if explain:
            explain_page(connection, url)


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def explain_page(connection, url: str) -> None:
    """The plan of the page's main query (the selector, sliced like the page)."""
    from urllib.parse import parse_qs, urlsplit

    from sessions_app.selectors import session_list_public

    query = parse_qs(urlsplit(url).query)
    page = int(query.get("page", ["1"])[0])
    qs = session_list_public(coach_slug=query.get("coach", [None])[0], q=query.get("q", [None])[0])[
        (page - 1) * 20 : page * 20
    ]
    print("   ", qs.explain().replace("\n", "\n    "))


# --- the parent: which databases ------------------------------------------------


def run_child(database_url: str, args) -> int:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_DEBUG": "1"}
    command = [sys.executable, __file__, "--child", *child_args(args)]
    return subprocess.call(command, env=env, cwd=ROOT)


def child_args(args) -> list[str]:
    out = [
        f"--sessions={args.sessions}",
        f"--messages={args.messages}",
        f"--users={args.users}",
        f"--repeat={args.repeat}",
    ]
    if args.analyze:
        out.append("--analyze")
    if args.explain:
        out.append("--explain")
    if args.fill_only:
        out.append("--fill-only")
    return out


def postgres_bench(url: str, args) -> int:
    import psycopg

    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "postgres") + "_gallery_bench"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        return run_child(urlunsplit(parts._replace(path=f"/{name}")), args)
    finally:
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per page")
    parser.add_argument("--fill-only", action="store_true", help="fill, measure nothing")
    parser.add_argument("--analyze", action="store_true", help="SQLite: run ANALYZE after the fill")
    parser.add_argument("--explain", action="store_true", help="print each page's query plan")
    parser.add_argument("--sqlite", help="the SQLite file (default: in the temp directory)")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument(
        "--only", choices=["sqlite", "postgresql"], help="measure one database only"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    status = 0
    if args.only in (None, "sqlite"):
        sqlite = Path(args.sqlite or Path(tempfile.gettempdir()) / "stepwise-gallery-bench.sqlite3")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite}{suffix}").unlink(missing_ok=True)
        status = run_child(f"sqlite:///{sqlite}", args)
        if not args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{sqlite}{suffix}").unlink(missing_ok=True)
    url = os.environ.get("DATABASE_URL", "").strip()
    if args.only in (None, "postgresql"):
        if url.startswith(("postgres://", "postgresql://")):
            status = postgres_bench(url, args) or status
        elif args.only:
            print("--only postgresql needs DATABASE_URL=postgres://...", file=sys.stderr)
            status = 2
    return status


if __name__ == "__main__":
    sys.exit(main())
