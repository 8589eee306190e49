"""Real servers (SERVICES.md): skipped with a reason when absent, failing under FEARVANA_REQUIRE_SERVICES=1."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
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
