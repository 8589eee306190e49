"""Breaker state shared by every instance through Redis, falling back to memory when Redis is down.

Each breaker is a Redis hash. :meth:`RedisBreakerStore.apply` reads it under ``WATCH``, runs the
pure :func:`transition` and writes the result in ``MULTI/EXEC`` — retried when another instance wrote
in between — so exactly one instance starts the half-open trial. The hot path (a closed breaker that
stays closed) is one ``HGETALL`` and no write.
"""

from __future__ import annotations

import time

import redis
import redis.asyncio as aioredis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, WatchError

from fearvana_integration.resilience.breaker import (
    BreakerConfig,
    BreakerState,
    Decision,
    MemoryBreakerStore,
    Operation,
    transition,
)

log = structlog.get_logger("fearvana_integration.breaker")
RETRY_REDIS_AFTER_SECONDS = 5.0
STATE_TTL_SECONDS = 7 * 24 * 3600  # an idle breaker's state is forgotten after a week


class RedisBreakerStore:
    """Shared breaker states; a local MemoryBreakerStore takes over while Redis does not answer."""

    def __init__(self, url: str, *, prefix: str = "fi:breaker:", timeout_seconds: float = 0.25) -> None:
        self.url = url
        self.prefix = prefix
        # No retries: redis-py's default retries with backoff turn one stalled server into seconds.
        self.client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
        )
        self.timeout_seconds = timeout_seconds
        self.fallback = MemoryBreakerStore()
        self._down_until = 0.0

    def _key(self, name: str) -> str:
        return self.prefix + name

    def _redis_usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def _mark_down(self, error: Exception) -> None:
        if self._redis_usable():
            log.warning("redis unreachable: circuit breakers use local state", error=type(error).__name__)
        self._down_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS

    async def apply(
        self, name: str, operation: Operation, now: float, config: BreakerConfig, token: str
    ) -> tuple[BreakerState, Decision]:
        """Atomic read-transition-write on the shared hash (or on local state while Redis is down)."""
        if not self._redis_usable():
            return await self.fallback.apply(name, operation, now, config, token)
        key = self._key(name)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        current = BreakerState.from_fields(await pipe.hgetall(key))
                        new, decision = transition(current, operation, now, config, token)
                        if new == current:
                            await pipe.unwatch()  # type: ignore[no-untyped-call]
                            return new, decision
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.hset(key, mapping=dict(new.as_fields()))  # type: ignore[arg-type]
                        pipe.expire(key, STATE_TTL_SECONDS)
                        await pipe.execute()
                        return new, decision
                    except WatchError:
                        continue
        except (RedisError, OSError) as error:
            self._mark_down(error)
            return await self.fallback.apply(name, operation, now, config, token)

    async def read(self, name: str) -> BreakerState:
        """The shared state (or the local one while Redis is down)."""
        if self._redis_usable():
            try:
                return BreakerState.from_fields(await self.client.hgetall(self._key(name)))
            except (RedisError, OSError) as error:
                self._mark_down(error)
        return await self.fallback.read(name)

    async def clear(self, name: str) -> None:
        """Close the breaker for every instance."""
        await self.fallback.clear(name)
        try:
            await self.client.delete(self._key(name))
        except (RedisError, OSError) as error:
            self._mark_down(error)

    def clear_sync(self, name: str) -> None:
        """:meth:`clear` from synchronous code (a short blocking call; admin use only)."""
        self.fallback.clear_sync(name)
        try:
            with redis.Redis.from_url(self.url, socket_timeout=self.timeout_seconds) as client:
                client.delete(self._key(name))
        except (RedisError, OSError) as error:
            self._mark_down(error)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()
