"""Failed-auth blocking shared through Redis: one count and one block for every instance, decided
atomically (exactly N 401s however many failures arrive at once), and still enforced while Redis
stalls or is down (each instance's mirror), with Redis the source of truth again once it answers."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import structlog

from fearvana_integration.config import load_settings
from fearvana_integration.service import throttle
from fearvana_integration.service.throttle import FailedAuthLimiter, RedisFailures, Verdict
from tests.service.test_blocking import client_from, metric, running_app, statuses
from tests.services.conftest import PrivateRedis

pytestmark = pytest.mark.services


def _limiter(redis_url: str, namespace: str, **env: str) -> FailedAuthLimiter:
    values = {"CACHE_BACKEND": "redis", "REDIS_URL": redis_url, "AUTH_MAX_FAILURES": "3", **env}
    return FailedAuthLimiter(load_settings(values, read_env_files=False), namespace=namespace)


@pytest.fixture
async def limiters(redis_url: str, namespace: str) -> AsyncIterator[list[FailedAuthLimiter]]:
    """Two limiters (two instances) sharing this test's namespace, N = 3."""
    made = [_limiter(redis_url, namespace), _limiter(redis_url, namespace)]
    yield made
    for limiter in made:
        await limiter.aclose()


def _counted(verdicts: list[Verdict]) -> int:
    return sum(verdict.blocked_for == 0 for verdict in verdicts)


async def test_failures_on_two_instances_add_up_and_block_both(limiters: list[FailedAuthLimiter]) -> None:
    first, second = limiters
    assert isinstance(first.store, RedisFailures)
    verdicts = [await limiter.failed("203.0.113.7") for limiter in (first, second, first)]
    assert [verdict.failures for verdict in verdicts] == [1, 2, 3] and _counted(verdicts) == 3
    assert await second.blocked_for("203.0.113.7") == 0  # 3 failures: at the limit, not over it
    fourth = await second.failed("203.0.113.7")
    assert fourth.new_block and fourth.store == "redis" and 899 < fourth.blocked_for <= 900
    for limiter in (first, second):
        assert 890 < await limiter.blocked_for("203.0.113.7") <= 900
        again = await limiter.failed("203.0.113.7")
        assert again.blocked_for > 0 and not again.new_block  # refused, not counted, no second alert
    assert await first.blocked_for("203.0.113.8") == 0  # another client is not affected


async def test_fifty_concurrent_failures_on_two_instances_get_exactly_n(limiters: list[FailedAuthLimiter]) -> None:
    first, second = limiters
    for limiter in limiters:  # connected and the script loaded: the burst measures counting, not start-up
        assert (await limiter.failed("192.0.2.250")).store == "redis"
    with structlog.testing.capture_logs() as events:
        verdicts = await asyncio.gather(*(limiter.failed("198.51.100.20") for limiter in (first, second) * 25))
    assert _counted(verdicts) == 3
    assert sum(verdict.new_block for verdict in verdicts) == 1
    assert all(verdict.store == "redis" for verdict in verdicts)
    alerts = [event for event in events if event.get("alert")]
    assert len(alerts) == 1 and alerts[0]["log_level"] == "error"
    assert alerts[0]["client"] == "198.51.100.20" and alerts[0]["failures"] == 4
    assert alerts[0]["block_seconds"] == 900 and alerts[0]["store"] == "redis"


async def test_one_ipv6_64_is_one_client_in_redis(limiters: list[FailedAuthLimiter]) -> None:
    first, second = limiters
    for n in range(3):
        assert (await (first, second)[n % 2].failed(f"2001:db8:7:7::{n + 1}")).blocked_for == 0
    assert (await second.failed("2001:db8:7:7:ffff::1")).new_block
    assert (await first.failed("2001:db8:7:8::1")).blocked_for == 0


async def test_blocks_expire_after_the_block_period(redis_url: str, namespace: str) -> None:
    limiter = _limiter(redis_url, namespace, AUTH_MAX_FAILURES="1", AUTH_BLOCK_SECONDS="1")
    try:
        assert (await limiter.failed("198.51.100.1")).blocked_for == 0
        assert (await limiter.failed("198.51.100.1")).new_block
        assert 0 < await limiter.blocked_for("198.51.100.1") <= 1
        await asyncio.sleep(1.1)
        assert await limiter.blocked_for("198.51.100.1") == 0
        assert (await limiter.failed("198.51.100.1")).blocked_for == 0  # a fresh window
    finally:
        await limiter.aclose()


async def test_redis_is_the_source_of_truth_while_it_answers(redis_url: str, namespace: str) -> None:
    """An operator who deletes the block key lifts the block on every instance, mirrors included."""
    limiter = _limiter(redis_url, namespace, AUTH_MAX_FAILURES="1")
    admin = aioredis.Redis.from_url(redis_url)
    try:
        await limiter.failed("198.51.100.2")
        assert (await limiter.failed("198.51.100.2")).new_block
        await admin.delete(f"{namespace}:auth:block:198.51.100.2")
        assert await limiter.blocked_for("198.51.100.2") == 0
        assert (await limiter.failed("198.51.100.2")).blocked_for == 0
    finally:
        await limiter.aclose()
        await admin.aclose()


async def test_an_unreachable_redis_falls_back_to_local_counts(namespace: str) -> None:
    limiter = _limiter("redis://127.0.0.1:1/0", namespace, AUTH_MAX_FAILURES="1")
    try:
        started = time.monotonic()
        first = await limiter.failed("192.0.2.5")
        assert first.blocked_for == 0 and first.store == "mirror"
        assert (await limiter.failed("192.0.2.5")).new_block
        assert await limiter.blocked_for("192.0.2.5") > 0
        assert time.monotonic() - started < 1  # one short timeout, no retries with backoff
    finally:
        await limiter.aclose()


async def test_fifty_concurrent_bad_tokens_through_two_apps_sharing_redis(
    demo_db: Path, redis_url: str, namespace: str
) -> None:
    async with AsyncExitStack() as stack:
        apps = []
        for _ in range(2):
            limiter = _limiter(redis_url, namespace, AUTH_MAX_FAILURES="5")
            apps.append(await stack.enter_async_context(running_app(demo_db, limiter=limiter)))
        one, two = [await stack.enter_async_context(client_from(app, "127.0.0.40")) for app in apps]
        warm_up = await stack.enter_async_context(client_from(apps[1], "127.0.0.39"))
        assert await statuses(warm_up, 1) == {401: 1}  # the second app connected, the script loaded
        assert await statuses(one, 1) == {401: 1}
        halves = await asyncio.gather(statuses(one, 25), statuses(two, 24))
        assert halves[0] + halves[1] == Counter({401: 4, 429: 45})  # 5 × 401 in all, the first included
        assert sum(metric(app, "fearvana_auth_blocks_total", store="redis") for app in apps) == 1
        alone = await stack.enter_async_context(client_from(apps[1], "127.0.0.41"))
        assert await statuses(alone, 50) == {401: 5, 429: 45}  # one app on Redis, all at once


async def test_blocks_hold_and_failures_count_while_redis_stalls(private_redis: PrivateRedis) -> None:
    first = _limiter(private_redis.url, "stall", AUTH_MAX_FAILURES="2")
    late = _limiter(private_redis.url, "stall", AUTH_MAX_FAILURES="2")
    try:
        for _ in range(2):
            assert (await first.failed("203.0.113.1")).blocked_for == 0
        assert (await first.failed("203.0.113.1")).new_block  # blocked through Redis before the stall
        assert (await first.failed("203.0.113.2")).blocked_for == 0  # one failure counted before the stall

        private_redis.stall()
        with structlog.testing.capture_logs() as events:
            started = time.monotonic()
            refused = await first.failed("203.0.113.1")
            assert refused.blocked_for > 890 and refused.store == "mirror"  # the mirrored block holds
            assert await first.blocked_for("203.0.113.1") > 890
            second = await first.failed("203.0.113.2")  # the mirror remembers its own earlier count
            assert second.blocked_for == 0 and second.failures == 2
            assert (await first.failed("203.0.113.2")).new_block
            news = [await first.failed("203.0.113.3") for _ in range(3)]  # new failures are counted locally
            assert [verdict.blocked_for == 0 for verdict in news] == [True, True, False] and news[2].new_block
            assert time.monotonic() - started < 1.5  # one short timeout, then the mirror answers at once
        alerts = [event for event in events if event.get("alert")]
        assert [alert["client"] for alert in alerts] == ["203.0.113.2", "203.0.113.3"]
        assert {alert["store"] for alert in alerts} == {"mirror"}
        assert any("redis unreachable" in event["event"] for event in events)

        private_redis.resume()
        await asyncio.sleep(throttle.RETRY_REDIS_AFTER_SECONDS + 0.1)
        # Redis answers again: the blocks the mirror decided are written there, for every instance.
        assert (await first.failed("203.0.113.3")).store == "redis"
        assert await late.blocked_for("203.0.113.3") > 890
        assert await late.blocked_for("203.0.113.2") > 890
        assert (await late.failed("203.0.113.4")).blocked_for == 0  # and Redis counts as before
    finally:
        await first.aclose()
        await late.aclose()


async def test_a_blocked_client_is_refused_by_the_app_while_redis_stalls(
    demo_db: Path, private_redis: PrivateRedis
) -> None:
    limiter = _limiter(private_redis.url, "stall-app", AUTH_MAX_FAILURES="2")
    async with running_app(demo_db, limiter=limiter) as app, client_from(app, "127.0.0.50") as client:
        for expected in (401, 401, 429):
            assert await statuses(client, 1) == {expected: 1}
        assert metric(app, "fearvana_auth_blocks_total", store="redis") == 1  # Redis answered in time
        private_redis.stall()
        started = time.monotonic()
        assert await statuses(client, 10) == {429: 10}
        assert (await client.get("/healthz")).status_code == 200
        async with client_from(app, "127.0.0.51") as newcomer:
            assert await statuses(newcomer, 5) == {401: 2, 429: 3}
        assert time.monotonic() - started < 2
        assert metric(app, "fearvana_auth_blocks_total", store="mirror") == 1
        private_redis.resume()
