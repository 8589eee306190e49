"""Real servers (SERVICES.md): skipped with a reason when absent, failing under FEARVANA_REQUIRE_SERVICES=1."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import redis
import redis.asyncio as aioredis

from tests.conftest import require_services

REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _redis_answers() -> bool:
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


@pytest.fixture
async def redis_url() -> str:
    """The Redis server's URL, if it answers."""
    if not await _redis_answers():
        message = f"Redis does not answer at {REDIS_URL} (see SERVICES.md)"
        if require_services():
            pytest.fail(message)
        pytest.skip(message)
    return REDIS_URL


@pytest.fixture
async def namespace(redis_url: str) -> AsyncIterator[str]:
    """A key namespace of this test's own, removed afterwards."""
    name = f"fitest-{uuid.uuid4().hex[:12]}"
    yield name
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"*{name}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def postgres_answers() -> bool:
    """Whether the shared PostgreSQL server accepts a connection."""
    import asyncpg

    try:
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=2)
    except Exception:
        return False
    await connection.close()
    return True


async def create_database(name: str) -> str:
    """A new empty database on the shared server (tests never touch existing ones)."""
    import asyncpg

    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


async def drop_database(name: str) -> None:
    """Drop a test database, closing whatever still holds it."""
    import asyncpg

    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def postgres_available() -> None:
    """Skip (or, in CI, fail) when PostgreSQL does not answer."""
    import asyncio

    if not asyncio.run(postgres_answers()):
        message = "PostgreSQL does not answer at 127.0.0.1:5432 (see SERVICES.md)"
        if require_services():
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class PrivateRedis:
    """A redis-server of this test's own, on a unix socket, that the test may freeze (SIGSTOP)."""

    url: str
    process: subprocess.Popen[bytes]

    def stall(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """Never the shared server at 6379: pausing that would stall every other test using it."""
    if shutil.which("redis-server") is None:
        if require_services():
            pytest.fail("redis-server is not installed (see SERVICES.md)")
        pytest.skip("redis-server is not installed (see SERVICES.md)")
    directory = tempfile.mkdtemp(prefix="fi-redis-")  # short: unix socket paths are limited to ~100 bytes
    socket_path = os.path.join(directory, "redis.sock")
    command = ["redis-server", "--port", "0", "--unixsocket", socket_path, "--unixsocketperm", "700"]
    command += ["--save", "", "--appendonly", "no", "--dir", directory]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = PrivateRedis(f"unix://{socket_path}", process)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(unix_socket_path=socket_path, socket_timeout=1) as probe:
                    probe.ping()
                break
            except (redis.RedisError, OSError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            server.resume()  # a stopped process cannot act on SIGTERM
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


async def seeded_database(name: str, count: int = 6) -> str:
    """A new database built as the app builds it (Supabase pieces, the app's SQL, sign-ups), this
    project's schema on top, and ``count`` demo customers."""
    from fearvana_integration.config import load_settings
    from fearvana_integration.store.admin import init_postgres
    from fearvana_integration.store.demo import seed_demo
    from fearvana_integration.store.engine import create_engine
    from tests.conftest import FIXED_NOW

    url = await create_database(name)
    engine = create_engine(load_settings({"DATABASE_URL": url}, read_env_files=False), pooled=False)
    try:
        await init_postgres(engine, supabase_compat=True)
        await seed_demo(engine, "postgres", count=count, now=FIXED_NOW)
    finally:
        await engine.dispose()
    return url
