"""Blocking clients after repeated failed authentications (SPEC §8).

The client is the peer IP (``X-Forwarded-For`` only when the peer is one of ``TRUSTED_PROXIES``).
Only 401s count. More than ``AUTH_MAX_FAILURES`` within ``AUTH_FAILURE_WINDOW_SECONDS`` blocks every
request from that client for ``AUTH_BLOCK_SECONDS`` (429 + Retry-After) and logs an alert. With
``CACHE_BACKEND=redis`` the counts and blocks are shared by every instance.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Protocol

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from fearvana_integration.config import Settings
from fearvana_integration.errors import ConfigurationError

log = structlog.get_logger("fearvana_integration.auth")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(raw: str | None) -> list[Network]:
    """``TRUSTED_PROXIES``: comma-separated IPs or CIDRs."""
    networks = []
    for item in (raw or "").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ConfigurationError(f"Invalid environment variable TRUSTED_PROXIES: {item.strip()!r}") from None
    return networks


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's IP: the peer, or — behind trusted proxies — the nearest untrusted hop they report."""
    if peer is None:
        return "unknown"

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    if not trusted or not is_trusted(peer) or not forwarded_for:
        return peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        if not is_trusted(hop):
            return hop
    return peer


class FailureStore(Protocol):
    """Where failures and blocks are kept."""

    async def blocked_for(self, client: str) -> float:
        """Seconds the client remains blocked (0: not blocked)."""
        ...

    async def add_failure(self, client: str) -> int:
        """Record a 401; the number of failures within the window."""
        ...

    async def block(self, client: str) -> None:
        """Block the client for the block period."""
        ...


class MemoryFailures:
    """Counts of this process."""

    def __init__(self, window: float, block_seconds: float) -> None:
        self.window, self.block_seconds = window, block_seconds
        self.failures: dict[str, deque[float]] = {}
        self.blocked_until: dict[str, float] = {}

    async def blocked_for(self, client: str) -> float:
        """Remaining block."""
        return max(self.blocked_until.get(client, 0.0) - time.monotonic(), 0.0)

    async def add_failure(self, client: str) -> int:
        """Sliding window of failure times."""
        now = time.monotonic()
        times = self.failures.setdefault(client, deque())
        times.append(now)
        while times and times[0] <= now - self.window:
            times.popleft()
        return len(times)

    async def block(self, client: str) -> None:
        """Block and forget the counted failures."""
        self.blocked_until[client] = time.monotonic() + self.block_seconds
        self.failures.pop(client, None)


class RedisFailures:
    """Counts shared by every instance (a sorted set per client, a block key with a TTL)."""

    def __init__(self, url: str, window: float, block_seconds: float, prefix: str) -> None:
        self.client = aioredis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self.window, self.block_seconds, self.prefix = window, block_seconds, prefix
        self.fallback = MemoryFailures(window, block_seconds)

    async def blocked_for(self, client: str) -> float:
        """Remaining block (from the key's TTL)."""
        try:
            ttl = await self.client.pttl(f"{self.prefix}block:{client}")
        except (RedisError, OSError):
            return await self.fallback.blocked_for(client)
        return max(ttl, 0) / 1000

    async def add_failure(self, client: str) -> int:
        """ZADD now, trim the window, count."""
        key, now = f"{self.prefix}fail:{client}", time.time()
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.zadd(key, {uuid.uuid4().hex: now})
                pipe.zremrangebyscore(key, 0, now - self.window)
                pipe.zcard(key)
                pipe.expire(key, int(self.window) + 1)
                results = await pipe.execute()
            return int(results[2])
        except (RedisError, OSError):
            return await self.fallback.add_failure(client)

    async def block(self, client: str) -> None:
        """SET the block key with the block period as TTL."""
        try:
            await self.client.set(f"{self.prefix}block:{client}", "1", px=int(self.block_seconds * 1000))
            await self.client.delete(f"{self.prefix}fail:{client}")
        except (RedisError, OSError):
            await self.fallback.block(client)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


class FailedAuthLimiter:
    """The policy on top of a store."""

    def __init__(self, settings: Settings, store: FailureStore | None = None, namespace: str = "fi") -> None:
        self.max_failures = settings.auth_max_failures
        self.block_seconds = settings.auth_block_seconds
        self.trusted = parse_proxies(settings.trusted_proxies)
        if store is not None:
            self.store = store
        elif settings.cache_backend == "redis" and settings.redis_url is not None:
            self.store = RedisFailures(
                settings.redis_url.get_secret_value(),
                settings.auth_failure_window_seconds,
                settings.auth_block_seconds,
                f"{namespace}:auth:",
            )
        else:
            self.store = MemoryFailures(settings.auth_failure_window_seconds, settings.auth_block_seconds)

    async def blocked_for(self, client: str) -> float:
        """Seconds the client remains blocked."""
        return await self.store.blocked_for(client)

    async def failed(self, client: str) -> None:
        """Count a 401; block (and alert) when the count passes the limit."""
        if await self.store.add_failure(client) > self.max_failures:
            await self.store.block(client)
            log.error(
                "authentication failures: client blocked",
                alert=True,
                client=client,
                failures=self.max_failures + 1,
                block_seconds=self.block_seconds,
            )

    async def aclose(self) -> None:
        """Release connections."""
        if isinstance(self.store, RedisFailures):
            await self.store.aclose()
