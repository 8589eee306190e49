"""The first hour, in real processes: every failure a newcomer can cause is one ``error:`` line naming
the cause and the next step, with the documented exit code — never a traceback or a page of logs."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_services
from tests.services.conftest import POSTGRES_ADMIN_DSN, create_database, drop_database, postgres_answers

SCRIPT = Path(sys.executable).parent / "fearvana-integration"


def run(*args: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, with only the given settings (none from this shell)."""
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT")}
    clean.update({"MOCK_LATENCY_MS": "0", **env})
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=timeout)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """An empty database of this test's own on the local PostgreSQL."""
    if not asyncio.run(postgres_answers()):
        message = f"PostgreSQL does not answer at {POSTGRES_ADMIN_DSN} (see SERVICES.md)"
        if require_services():
            pytest.fail(message)
        pytest.skip(message)
    name = f"fitest_{uuid.uuid4().hex[:12]}"
    url = asyncio.run(create_database(name))
    yield url
    asyncio.run(drop_database(name))


def test_serve_on_a_busy_port(tmp_path: Path, demo_db: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("serve", "--port", str(port), cwd=tmp_path, DATABASE_URL=f"sqlite:///{demo_db}")
    assert result.returncode == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in one_error_line(result)
    assert not (tmp_path / ".env.local").exists()


@pytest.mark.services
def test_postgres_before_db_init(tmp_path: Path, postgres_url: str) -> None:
    # A Supabase project as the app leaves it (here: the local copy's app schema) but without `db init`.
    assert run("db", "init", "--supabase-compat", cwd=tmp_path, DATABASE_URL=postgres_url).returncode == 0
    drop = f"psql -q -h 127.0.0.1 -U postgres -d {postgres_url.rsplit('/', 1)[1]} -c 'DROP SCHEMA integration CASCADE'"
    assert subprocess.run(drop, shell=True, capture_output=True).returncode == 0
    context = run("context", "kim@example.com", cwd=tmp_path, DATABASE_URL=postgres_url)
    assert context.returncode == 1
    line = one_error_line(context)
    assert "fearvana-integration's own schema" in line and "run `fearvana-integration db init`" in line
    health = run("health", cwd=tmp_path, DATABASE_URL=postgres_url)
    assert health.returncode == 1 and "status: unhealthy" in health.stdout
    assert "run `fearvana-integration db init`" in " ".join(health.stdout.split())  # the table wraps long details
    store = json.loads(run("health", "--format", "json", cwd=tmp_path, DATABASE_URL=postgres_url).stdout)
    assert store["services"]["supabase"]["schema"] == "mismatch"


@pytest.mark.services
def test_wrong_database_name_and_wrong_login(tmp_path: Path, postgres_url: str) -> None:
    missing = run("context", "kim@example.com", cwd=tmp_path, DATABASE_URL=postgres_url + "_missing")
    assert missing.returncode == 1
    assert "The database in DATABASE_URL does not exist" in one_error_line(missing)
    stranger = postgres_url.replace("postgres@", "nobody_at_all@")
    refused = run("context", "kim@example.com", cwd=tmp_path, DATABASE_URL=stranger)
    assert refused.returncode == 1
    assert "check the user and password in DATABASE_URL" in one_error_line(refused)


def test_no_database_server_there(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens once the block ends
    result = run("context", "kim@example.com", cwd=tmp_path, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/x")
    assert result.returncode == 1
    line = one_error_line(result)
    assert f"Cannot reach the database at 127.0.0.1:{port}" in line and "DATABASE_URL" in line


def test_unreachable_redis_is_named_by_health_and_config_check(tmp_path: Path, demo_db: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"DATABASE_URL": f"sqlite:///{demo_db}", "CACHE_BACKEND": "redis", "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    context = run("context", "demo@fearvana.local", cwd=tmp_path, **env)
    assert context.returncode == 0 and context.stdout.startswith("# Customer context")  # a miss, not an outage
    health = run("health", cwd=tmp_path, **env)
    assert health.returncode == 0 and "status: degraded" in health.stdout
    assert "cache: redis DOES NOT ANSWER" in health.stdout and "check REDIS_URL" in health.stdout
    check = run("config", "check", cwd=tmp_path, **env)
    assert check.returncode == 0 and "DOES NOT ANSWER" in check.stdout


def test_a_provider_this_version_does_not_build(tmp_path: Path, demo_db: Path) -> None:
    result = run("context", "demo@fearvana.local", cwd=tmp_path, DATABASE_URL=f"sqlite:///{demo_db}",
                 EMAIL_PROVIDER="sendgrid")  # fmt: skip
    assert result.returncode == 2
    assert (
        one_error_line(result) == "error: EMAIL_PROVIDER=sendgrid is not implemented in this version; available: mock"
    )


def test_an_unknown_customer_and_a_missing_database_file(tmp_path: Path, demo_db: Path) -> None:
    unknown = run("context", "nobody@fearvana.local", cwd=tmp_path, DATABASE_URL=f"sqlite:///{demo_db}")
    assert unknown.returncode == 1 and one_error_line(unknown) == "error: Customer not found: nobody@fearvana.local"
    missing = run("context", "demo@fearvana.local", cwd=tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/none.db")
    assert missing.returncode == 1 and "run `fearvana-integration db seed-demo`" in one_error_line(missing)
