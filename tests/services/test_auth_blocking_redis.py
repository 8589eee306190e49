"""Failed-auth blocking shared through Redis: two service instances see one count and one block."""

from __future__ import annotations

import asyncio

from fearvana_integration.config import load_settings
from fearvana_integration.service.throttle import FailedAuthLimiter, RedisFailures


def _limiter(redis_url: str, namespace: str, **env: str) -> FailedAuthLimiter:
    values = {"CACHE_BACKEND": "redis", "REDIS_URL": redis_url, "AUTH_MAX_FAILURES": "3", **env}
    return FailedAuthLimiter(load_settings(values, read_env_files=False), namespace=namespace)


async def test_failures_on_two_instances_add_up_and_block_both(redis_url: str, namespace: str) -> None:
    first, second = _limiter(redis_url, namespace), _limiter(redis_url, namespace)
    try:
        assert isinstance(first.store, RedisFailures)
        for limiter in (first, second, first):
            await limiter.failed("203.0.113.7")
        assert await second.blocked_for("203.0.113.7") == 0  # 3 failures: at the limit, not over it
        await second.failed("203.0.113.7")
        for limiter in (first, second):
            remaining = await limiter.blocked_for("203.0.113.7")
            assert 890 < remaining <= 900
        assert await first.blocked_for("203.0.113.8") == 0  # another client is not affected
    finally:
        await first.aclose()
        await second.aclose()


async def test_blocks_expire_after_the_block_period(redis_url: str, namespace: str) -> None:
    limiter = _limiter(redis_url, namespace, AUTH_MAX_FAILURES="1", AUTH_BLOCK_SECONDS="1")
    try:
        await limiter.failed("198.51.100.1")
        await limiter.failed("198.51.100.1")
        assert 0 < await limiter.blocked_for("198.51.100.1") <= 1
        await asyncio.sleep(1.1)
        assert await limiter.blocked_for("198.51.100.1") == 0
    finally:
        await limiter.aclose()


async def test_an_unreachable_redis_falls_back_to_local_counts(namespace: str) -> None:
    limiter = _limiter("redis://127.0.0.1:1/0", namespace, AUTH_MAX_FAILURES="1")
    try:
        await limiter.failed("192.0.2.5")
        await limiter.failed("192.0.2.5")
        assert await limiter.blocked_for("192.0.2.5") > 0
    finally:
        await limiter.aclose()
