"""The settings guard and deploy checks, run in fresh processes with controlled environments."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, debug: str | None = "1", **env: str) -> subprocess.CompletedProcess:
    """manage.py in a fresh process, with `env` and none of ours; with DJANGO_DEBUG=`debug`
    ("1", as `make` runs it, unless said otherwise; None: not set at all)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPENAI_"))}
    clean.pop("DATABASE_URL", None)
    clean.pop("REDIS_URL", None)
    if debug is not None:
        clean["DJANGO_DEBUG"] = debug
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_empty_environment_is_production_and_needs_a_secret_key():
    result = run_manage("check", debug=None)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert "make run" in result.stderr  # how to run it locally instead


def test_debug_off_without_secret_key_refuses_to_start():
    result = run_manage("check", debug="0")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_debug_is_off_unless_asked_for():
    code = "from django.conf import settings as s; print(s.DEBUG)"
    production = run_manage(
        "shell", "--no-imports", "-c", code, debug=None, DJANGO_SECRET_KEY="s" * 60
    )
    assert production.stdout.split() == ["False"], production.stderr
    local = run_manage("shell", "--no-imports", "-c", code)
    assert local.stdout.split() == ["True"], local.stderr


def test_the_local_secret_key_is_made_once_and_kept(tmp_path):
    from project.settings import local_secret_key

    key = local_secret_key(tmp_path / ".secret_key")
    assert len(key) >= 50
    assert local_secret_key(tmp_path / ".secret_key") == key
    assert ".secret_key" in (ROOT / ".gitignore").read_text()


def test_the_release_step_runs_the_deploy_checks_before_migrating():
    release = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("release:")
    )
    assert "check --deploy --fail-level WARNING &&" in release
    assert release.index("check --deploy") < release.index("migrate")


def test_deploy_checks_fail_without_a_shared_cache():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        debug="0",
        DJANGO_SECRET_KEY="x" * 20 + "a-long-random-production-secret-key-9f8e7d6c",
        DJANGO_ALLOWED_HOSTS="stepwise.example",
    )
    assert result.returncode != 0
    assert "stepwise.W001" in result.stderr + result.stdout


def test_deploy_checks_pass_with_debug_off():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        debug="0",
        DJANGO_SECRET_KEY="x" * 20 + "a-long-random-production-secret-key-9f8e7d6c",
        DJANGO_ALLOWED_HOSTS="stepwise.example",
        REDIS_URL="redis://127.0.0.1:6379/15",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ssl_redirect_can_be_turned_off_alone():
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0)"
    )
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        debug="0",
        DJANGO_SECRET_KEY="s" * 60,
        DJANGO_SECURE_SSL_REDIRECT="0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True"]


def test_hsts_include_subdomains_is_opt_in():
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_HSTS_SECONDS > 0, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)"
    )
    production = {"debug": "0", "DJANGO_SECRET_KEY": "s" * 60}
    default = run_manage("shell", "--no-imports", "-c", code, **production)
    assert default.stdout.split() == ["True", "False", "False"], default.stderr
    opted = run_manage(
        "shell", "--no-imports", "-c", code, DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="1", **production
    )
    assert opted.stdout.split() == ["True", "True", "False"], opted.stderr


def test_proxy_header_only_behind_proxy():
    code = (
        "from django.conf import settings as s; print(getattr(s, 'SECURE_PROXY_SSL_HEADER', None))"
    )
    assert run_manage("shell", "--no-imports", "-c", code).stdout.strip() == "None"
    behind = run_manage("shell", "--no-imports", "-c", code, DJANGO_BEHIND_PROXY="1")
    assert "HTTP_X_FORWARDED_PROTO" in behind.stdout


def test_no_pending_migrations():
    result = run_manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout


POOL_CODE = (
    "from django.conf import settings as s; d = s.DATABASES['default'];"
    "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'], d['OPTIONS'].get('pool'))"
)


def test_postgres_uses_a_pool_sized_from_the_environment():
    url = "postgres://stepwise@127.0.0.1:5432/stepwise"
    default = run_manage("shell", "--no-imports", "-c", POOL_CODE, DATABASE_URL=url)
    assert default.returncode == 0, default.stderr
    pool = {"min_size": 2, "max_size": 10, "timeout": 30.0}
    assert default.stdout.strip() == f"0 False {pool}"

    sized = run_manage(
        "shell",
        "--no-imports",
        "-c",
        POOL_CODE,
        DATABASE_URL=url,
        DATABASE_POOL_MIN_SIZE="1",
        DATABASE_POOL_MAX_SIZE="20",
        DATABASE_POOL_TIMEOUT="5",
    )
    assert sized.stdout.strip() == "0 False {'min_size': 1, 'max_size': 20, 'timeout': 5.0}"


def test_pool_keeps_the_options_of_the_url():
    code = "from django.conf import settings as s; print(sorted(s.DATABASES['default']['OPTIONS']))"
    url = "postgres://stepwise@127.0.0.1:5432/stepwise?sslmode=require"
    result = run_manage("shell", "--no-imports", "-c", code, DATABASE_URL=url)
    assert result.stdout.strip() == "['pool', 'sslmode']", result.stderr


def test_pool_sizes_are_checked():
    result = run_manage(
        "check",
        DATABASE_URL="postgres://stepwise@127.0.0.1:5432/stepwise",
        DATABASE_POOL_MIN_SIZE="5",
        DATABASE_POOL_MAX_SIZE="4",
    )
    assert result.returncode != 0
    assert "DATABASE_POOL_MAX_SIZE must be at least" in result.stderr


def test_sqlite_has_no_pool():
    result = run_manage("shell", "--no-imports", "-c", POOL_CODE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "False", "None"]


def test_streaming_heartbeat_must_beat_the_stale_limit():
    result = run_manage(
        "check", COACH_STREAM_HEARTBEAT_SECONDS="60", COACH_STREAM_STALE_SECONDS="60"
    )
    assert result.returncode != 0
    assert "COACH_STREAM_HEARTBEAT_SECONDS must be shorter" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_postgres_pool_lends_and_takes_back_connections():
    """Under `make test-postgres`: more threads than connections, each with a short step."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (make test-postgres)")
    pool = connection.pool
    assert pool is not None
    max_size = pool.max_size

    def step(_: int) -> int:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                return cursor.fetchone()[0]
        finally:
            connection.close()  # back to the pool, as at the end of every request

    with ThreadPoolExecutor(max_workers=max_size * 3) as threads:
        assert sum(threads.map(step, range(max_size * 6))) == max_size * 6
    assert pool.get_stats()["pool_size"] <= max_size


def test_mail_server_from_email_url():
    code = (
        "from django.conf import settings as s;"
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_PASSWORD, s.EMAIL_USE_TLS)"
    )
    result = run_manage(
        "shell", "--no-imports", "-c", code, EMAIL_URL="smtp://me:s%3Acret@mail.example:2587"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "mail.example",
        "2587",
        "s:cret",
        "True",
    ]


def test_mail_is_printed_on_the_console_unless_configured():
    code = "from django.conf import settings as s; print(s.EMAIL_BACKEND)"
    result = run_manage("shell", "--no-imports", "-c", code)
    assert result.stdout.strip() == "django.core.mail.backends.console.EmailBackend"


def test_a_bad_email_url_or_verification_mode_stops_with_one_line():
    result = run_manage("check", EMAIL_URL="http://mail.example")
    assert result.returncode != 0
    assert "EMAIL_URL must start with smtp://" in result.stderr
    result = run_manage("check", ACCOUNT_EMAIL_VERIFICATION="sometimes")
    assert result.returncode != 0
    assert "ACCOUNT_EMAIL_VERIFICATION must be none, optional or mandatory" in result.stderr


def test_mandatory_verification_asks_for_an_email_and_a_verified_one_before_the_model():
    code = (
        "from django.conf import settings as s;"
        "print(s.COACH_REQUIRE_VERIFIED_EMAIL, 'email*' in s.ACCOUNT_SIGNUP_FIELDS)"
    )
    result = run_manage("shell", "--no-imports", "-c", code, ACCOUNT_EMAIL_VERIFICATION="mandatory")
    assert result.stdout.split() == ["True", "True"]
    result = run_manage("shell", "--no-imports", "-c", code)
    assert result.stdout.split() == ["False", "False"]


def test_social_providers_from_the_environment():
    code = (
        "from django.conf import settings as s; p = s.SOCIALACCOUNT_PROVIDERS;"
        "print(p['github'].get('APPS', [{}])[0].get('client_id'), 'APPS' in p['kakao'],"
        " p['github'].get('GITHUB_URL'))"
    )
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        GITHUB_CLIENT_ID="gh-id",
        GITHUB_CLIENT_SECRET="gh-secret",
        GITHUB_URL="https://github.example",
    )
    assert result.stdout.split() == ["gh-id", "False", "https://github.example"]
