"""Degradation that degrades: a stalled Redis is a cache miss (never a 503), and a stalled database
refuses requests quickly with `circuit-open` while its breaker is open, says `unhealthy`, and serves
again within seconds of recovering. Redis and PostgreSQL are stalled through servers and proxies of
the test's own, never the shared ones."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import structlog

from fearvana_integration.store.demo import demo_customer_id, demo_specs
from tests.service.conftest import bearer, service_token
from tests.service.test_blocking import client_from, running_app
from tests.services.conftest import PrivateRedis, drop_database, seeded_database
from tests.services.proxy import TcpProxy

pytestmark = pytest.mark.services


def _context(customer: uuid.UUID) -> str:
    return f"/api/customers/{customer}/context"


async def test_a_stalled_redis_is_a_miss_not_an_outage(demo_db: Path, private_redis: PrivateRedis) -> None:
    customers = [demo_customer_id(spec.email) for spec in demo_specs(12)]
    headers = bearer(service_token())
    async with (
        running_app(demo_db, CACHE_BACKEND="redis", REDIS_URL=private_redis.url) as app,
        client_from(app, "127.0.0.70") as client,
    ):
        for customer in customers[:6]:  # these are cached; the other six have never been read
            assert (await client.get(_context(customer), headers=headers)).status_code == 200
        private_redis.stall()
        try:
            with structlog.testing.capture_logs() as events:
                started = time.monotonic()
                answers = [await client.get(_context(customer), headers=headers) for customer in customers]
                elapsed = time.monotonic() - started
                health = (await client.get("/api/health/integrations")).json()
        finally:
            private_redis.resume()
        assert [answer.status_code for answer in answers] == [200] * 12
        # One short wait (CACHE_TIMEOUT_MS), then the cache is skipped: twelve contexts from the store
        # take far less than one request's 3 s deadline (the bound is loose; the figure is measured).
        assert elapsed < 3.0, elapsed
        assert any("cache not answering" in event["event"] for event in events)
        assert health["status"] == "degraded" and health["cache"]["reachable"] is False
        await asyncio.sleep(5.2)  # the cache is asked again after 5 s
        assert (await client.get(_context(customers[0]), headers=headers)).status_code == 200
        assert app.state.services.manager.runtime.cache.gate.allows()


@pytest.fixture(scope="module")
def stall_database() -> Iterator[str]:
    name = f"fitest_{uuid.uuid4().hex[:12]}"
    yield asyncio.run(seeded_database(name))
    asyncio.run(drop_database(name))


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy()
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.mark.usefixtures("postgres_available")
@pytest.mark.slow
async def test_an_eight_second_database_stall_ends_within_seconds_of_recovery(
    demo_db: Path, stall_database: str, proxy: TcpProxy
) -> None:
    demo = demo_customer_id("demo@fearvana.local")
    headers = bearer(service_token())
    url = stall_database.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    env = {
        "DATABASE_URL": url,
        "CACHE_ENABLED": "false",  # every request needs the store
        "STORE_TIMEOUT_MS": "500",
        "DB_CONNECT_TIMEOUT_SECONDS": "1",
    }
    async with running_app(demo_db, **env) as app, client_from(app, "127.0.0.71") as client:
        assert (await client.get(_context(demo), headers=headers)).status_code == 200
        proxy.cut("blackhole")  # the database stops answering (connections hang)
        stalled_at = time.monotonic()
        kinds: Counter[str] = Counter()
        open_problem: dict[str, object] | None = None
        health_while_open = None
        while time.monotonic() - stalled_at < 8:
            answer = await client.get(_context(demo), headers=headers)
            assert answer.status_code == 503, answer.text
            body = answer.json()
            kind = str(body["type"]).rsplit("/", 1)[-1]
            kinds[kind] += 1
            if kind == "circuit-open" and open_problem is None:
                open_problem = body
                health_while_open = await client.get("/api/health/integrations")
            await asyncio.sleep(0.1)
        proxy.restore()
        recovered_at = time.monotonic()
        while True:
            answer = await client.get(_context(demo), headers=headers, timeout=httpx.Timeout(10))
            if answer.status_code == 200:
                break
            assert time.monotonic() - recovered_at < 10, answer.text
            await asyncio.sleep(0.1)
        back_after = time.monotonic() - recovered_at
    # Refused quickly by the open breaker, with when it will be tried again …
    assert kinds["circuit-open"] > kinds["store-unavailable"], kinds
    assert open_problem is not None and "nextAttemptAt" in open_problem
    assert health_while_open is not None and health_while_open.status_code == 503
    assert health_while_open.json()["status"] == "unhealthy"
    # … and back within 5 s of the database's recovery (the probe closes the breaker within ~1 s).
    assert back_after < 5, back_after
