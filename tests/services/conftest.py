"""Real servers (SERVICES.md): skipped with a reason when absent, failing under FEARVANA_REQUIRE_SERVICES=1."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.conftest import require_services

REDIS_URL = "redis://127.0.0.1:6379/0"


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
