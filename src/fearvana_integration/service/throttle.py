"""Blocking clients after repeated failed authentications (SPEC §8).

**Who is a client.** The peer address (``X-Forwarded-For`` only when the peer is one of
``TRUSTED_PROXIES``), normalised so that one party cannot pose as many: an IPv4 address; an IPv6
address stands for its whole /64 (whoever has one address of a /64 usually has all 2^64 of them);
an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``) is that IPv4 address; ``ip:port`` and
``[ipv6]:port`` are the address; IPv6 loopback is ``::1``. Anything unparseable is the single client
``unknown`` — one bucket, so varying the garbage buys nothing.

**The rule.** With ``AUTH_MAX_FAILURES`` = N a client gets at most N 401s per
``AUTH_FAILURE_WINDOW_SECONDS``, however many requests it sends at once: the failure that would be
the N+1th is answered 429 instead, blocks the client for ``AUTH_BLOCK_SECONDS`` and raises the alert
(once per block); every failing request during the block is answered 429 (and not counted). Counting
and deciding are one step — a Lua script in Redis, code without an ``await`` in memory — so
concurrent failures cannot all slip in before the block. The limiter only ever sees requests whose
authentication failed or was missing: a valid token is never blocked (see ``authenticate`` in
``app.py``).

**Redis.** With ``CACHE_BACKEND=redis`` the counts and blocks are shared by every instance. Each
instance also mirrors in memory the blocks it learns of and the failures it saw itself. When Redis
does not answer — nothing at all for ``REDIS_TIMEOUT_SECONDS``, or this call for
``REDIS_HARD_TIMEOUT_SECONDS`` — the mirror decides (a known block stays in force, new failures are
still counted), Redis is left alone for ``RETRY_REDIS_AFTER_SECONDS``, and the blocks the mirror
decided meanwhile are written to Redis once it answers again; from then on Redis is the source of
truth again. Only failing requests ever wait for Redis: valid tokens never reach the limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import redis.asyncio as aioredis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from fearvana_integration.config import Settings
from fearvana_integration.errors import ConfigurationError

log = structlog.get_logger("fearvana_integration.auth")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
StoreName = Literal["memory", "redis", "mirror"]

UNKNOWN_CLIENT = "unknown"
IPV6_CLIENT_PREFIX = 64
REDIS_TIMEOUT_SECONDS = 0.25  # Redis answering nothing for this long counts as stalled
REDIS_HARD_TIMEOUT_SECONDS = 2.0  # no single call waits longer, whatever else Redis answers
RETRY_REDIS_AFTER_SECONDS = 1.0
T = TypeVar("T")
_PORT = re.compile(r"[0-9]{1,5}")
_MAX_HOP_LENGTH = 100  # longer than any address with a port and a zone: garbage, not worth parsing


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


def parse_address(text: str | None) -> Address | None:
    """The IP in a peer address or a forwarded hop (``1.2.3.4``, ``1.2.3.4:5555``, ``2001:db8::1``,
    ``[2001:db8::1]:443``, ``fe80::1%eth0``), IPv4-mapped IPv6 as IPv4, without a zone; None for garbage."""
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > _MAX_HOP_LENGTH:
        return None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and _PORT.fullmatch(rest[1:]))):
            return None
    elif text.count(":") == 1:  # IPv4 with a port (bare IPv6 has at least two colons)
        host, _, port = text.partition(":")
        if not _PORT.fullmatch(port):
            return None
    else:
        host = text
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id is not None:
            return ipaddress.IPv6Address(int(ip))  # the zone names our interface, not the client
    return ip


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's IP (normalised, see ``parse_address``): the peer, or — behind trusted proxies — the
    nearest untrusted hop they report; ``unknown`` when that is not an address.

    This is the address itself (what the access log shows); ``client_key`` turns it into the unit
    that is counted and blocked."""
    peer_ip = parse_address(peer)
    if peer_ip is None:
        return UNKNOWN_CLIENT

    def is_trusted(ip: Address | None) -> bool:
        if ip is None:
            return False
        # An IPv4 proxy may be listed in its IPv4-mapped IPv6 form too (addresses arrive as IPv4).
        forms = [ip, ipaddress.IPv6Address(f"::ffff:{ip}")] if isinstance(ip, ipaddress.IPv4Address) else [ip]
        return any(form in network for form in forms for network in trusted)

    if not trusted or not is_trusted(peer_ip) or not forwarded_for:
        return str(peer_ip)
    for hop in reversed([part for part in forwarded_for.split(",") if part.strip()]):
        hop_ip = parse_address(hop)
        if not is_trusted(hop_ip):
            # A garbage hop is not trusted either: it ends the walk as "unknown" rather than letting
            # whatever stands further left (chosen by the client) be believed.
            return str(hop_ip) if hop_ip is not None else UNKNOWN_CLIENT
    return str(peer_ip)


def client_key(address: str) -> str:
    """The unit that is counted and blocked: an IPv4 address, an IPv6 /64 (``2001:db8:1:2::/64``),
    ``::1`` for IPv6 loopback, ``unknown`` for anything unparseable. A key is its own key."""
    if address.endswith(f"/{IPV6_CLIENT_PREFIX}"):
        try:
            return str(ipaddress.IPv6Network(address))  # strict: only a /64 as this function writes it
        except ValueError:
            return UNKNOWN_CLIENT
    ip = parse_address(address)
    if ip is None:
        return UNKNOWN_CLIENT
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    if ip.is_loopback:
        return "::1"  # the loopback is one address; its /64 (::/64) also holds the IPv4-compatible range
    prefix = int(ip) >> (128 - IPV6_CLIENT_PREFIX) << (128 - IPV6_CLIENT_PREFIX)
    return str(ipaddress.IPv6Network((prefix, IPV6_CLIENT_PREFIX)))


@dataclass(frozen=True)
class Verdict:
    """What one failed authentication earned.

    ``blocked_for`` 0: answer 401 (the failure was counted, ``failures`` of them now in the window);
    above 0: answer 429 with that Retry-After. ``new_block``: this failure started the block (the
    N+1th; alert once). ``store``: who decided — ``mirror`` means Redis did not answer."""

    blocked_for: float
    failures: int
    new_block: bool
    store: StoreName


class FailureStore(Protocol):
    """Where failures and blocks are kept; ``fail`` counts and decides in one step."""

    async def fail(self, client: str) -> Verdict:
        """Record one failed authentication of ``client`` (a ``client_key``) and decide 401 or 429."""
        ...

    async def blocked_for(self, client: str) -> float:
        """Seconds the client remains blocked (0: not blocked)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class MemoryFailures:
    """Counts and blocks of this process (also the mirror behind ``RedisFailures``).

    Every method is synchronous underneath: in asyncio nothing else runs between counting a failure
    and deciding on it, which is what makes the decision atomic here."""

    def __init__(self, max_failures: int, window: float, block_seconds: float) -> None:
        self.max_failures, self.window, self.block_seconds = max_failures, window, block_seconds
        self.failures: dict[str, deque[float]] = {}
        self.blocked_until: dict[str, float] = {}
        self._sweep_at = 1024

    def decide(self, client: str, store: StoreName = "memory") -> Verdict:
        """Count the failure and decide, without yielding to the event loop."""
        return self.judge(client, self.note_failure(client), store)

    def note_failure(self, client: str) -> int:
        """Count a failure; its position in the window (1 = first), 0 when the client is blocked
        (failures during a block are refused, not counted)."""
        now = time.monotonic()
        self._sweep(now)
        if self.blocked_until.get(client, 0.0) > now:
            return 0
        times = self._window(client, now)
        times.append(now)
        return len(times)

    def judge(self, client: str, position: int, store: StoreName = "memory") -> Verdict:
        """Decide on a failure counted at ``position``: the first N are 401s, the N+1th starts the block."""
        now = time.monotonic()
        remaining = self.blocked_until.get(client, 0.0) - now
        if remaining > 0:
            return Verdict(remaining, 0, False, store)
        if position == 0:  # counted under a block that has ended since
            position = self.note_failure(client)
        if position <= self.max_failures:
            return Verdict(0.0, position, False, store)
        self.blocked_until[client] = now + self.block_seconds
        self.failures.pop(client, None)
        return Verdict(float(self.block_seconds), position, True, store)

    def remaining(self, client: str) -> float:
        """Seconds the client remains blocked."""
        return max(self.blocked_until.get(client, 0.0) - time.monotonic(), 0.0)

    def learn_block(self, client: str, seconds: float) -> None:
        """Mirror a block Redis holds."""
        self.blocked_until[client] = time.monotonic() + seconds
        self.failures.pop(client, None)

    def forget_block(self, client: str) -> None:
        """Redis says the client is not blocked (expired, or lifted by an operator)."""
        self.blocked_until.pop(client, None)

    async def fail(self, client: str) -> Verdict:
        """See ``decide``."""
        return self.decide(client)

    async def blocked_for(self, client: str) -> float:
        """See ``remaining``."""
        return self.remaining(client)

    async def aclose(self) -> None:
        """Nothing to release."""

    def _window(self, client: str, now: float) -> deque[float]:
        times = self.failures.setdefault(client, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def _sweep(self, now: float) -> None:
        """Drop expired entries once the tables have doubled since the last sweep: a flood from many
        addresses must not grow memory without bound, and the amortised cost stays O(1)."""
        if len(self.failures) + len(self.blocked_until) < self._sweep_at:
            return
        self.blocked_until = {client: until for client, until in self.blocked_until.items() if until > now}
        self.failures = {
            client: times for client, times in self.failures.items() if times and times[-1] > now - self.window
        }
        self._sweep_at = max(1024, 2 * (len(self.failures) + len(self.blocked_until)))


# Count-and-decide in one atomic step. Times come from Redis (TIME) so instances with skewed clocks
# share one window. Keys and value formats are those of the previous version (a sorted set of failure
# times in seconds, a block marker with a TTL), so old and new instances interoperate during a deploy.
# Returns {status, failures, block ms}: status 0 counted (401), 1 this failure started the block, 2
# already blocked (not counted).
_FAIL_SCRIPT = """
local failures, block = KEYS[1], KEYS[2]
local max_failures, window_ms, block_ms = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local pending_ms = tonumber(ARGV[5])
if pending_ms > 0 then
  redis.call('SET', block, '1', 'PX', pending_ms, 'NX')
end
local ttl = redis.call('PTTL', block)
if ttl > 0 then
  return {2, 0, ttl}
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', failures, '-inf', now - window_ms / 1000)
local count = redis.call('ZCARD', failures)
if count < max_failures then
  redis.call('ZADD', failures, now, ARGV[4])
  redis.call('PEXPIRE', failures, window_ms)
  return {0, count + 1, 0}
end
redis.call('SET', block, '1', 'PX', block_ms)
redis.call('DEL', failures)
return {1, count + 1, block_ms}
"""


class RedisFailures:
    """Counts and blocks shared by every instance, mirrored in memory for when Redis does not answer."""

    def __init__(
        self,
        url: str,
        max_failures: int,
        window: float,
        block_seconds: float,
        prefix: str,
        *,
        timeout_seconds: float = REDIS_TIMEOUT_SECONDS,
        hard_timeout_seconds: float = REDIS_HARD_TIMEOUT_SECONDS,
    ) -> None:
        # No retries: redis-py's default retries ten times with backoff, which turns a stalled server
        # into seconds of waiting per failed request. The socket timeouts are only a backstop; ``_call``
        # decides when Redis counts as stalled.
        self.client = aioredis.Redis.from_url(
            url,
            socket_timeout=hard_timeout_seconds,
            socket_connect_timeout=hard_timeout_seconds,
            retry=Retry(NoBackoff(), 0),
        )
        self.max_failures, self.window, self.block_seconds = max_failures, window, block_seconds
        self.prefix, self.timeout_seconds, self.hard_timeout_seconds = prefix, timeout_seconds, hard_timeout_seconds
        self.mirror = MemoryFailures(max_failures, window, block_seconds)
        # Blocks the mirror decided while Redis was away (client -> monotonic deadline): written to
        # Redis once it answers, so the block holds on every instance and a stall resets nothing.
        self.pending: dict[str, float] = {}
        self._script = self.client.register_script(_FAIL_SCRIPT)
        self._down_until = 0.0
        self._answered_at = time.monotonic()

    def _keys(self, client: str) -> list[str]:
        return [f"{self.prefix}fail:{client}", f"{self.prefix}block:{client}"]

    async def fail(self, client: str) -> Verdict:
        """The script decides; the mirror when Redis does not answer in time."""
        # Counted in the mirror before Redis is asked: whatever becomes of the call, this instance's
        # own count holds the failure, so a mirror standing in for a Redis that did not answer lets
        # through at most the first N of this instance's failures, as Redis would have.
        position = self.mirror.note_failure(client)
        if time.monotonic() >= self._down_until:
            window_ms, block_ms = int(self.window * 1000), int(self.block_seconds * 1000)
            pending_ms = self._pending_ms(client)
            args: list[int | str] = [self.max_failures, window_ms, block_ms, uuid.uuid4().hex, pending_ms]
            try:
                reply = await self._call(self._script(keys=self._keys(client), args=args))
                status, failures, ttl_ms = (int(value) for value in reply)
            except (RedisError, OSError, ValueError, TypeError) as error:
                self._mark_down(error)
            else:
                self.pending.pop(client, None)  # the script wrote it
                verdict = self._learn(client, position, status, failures, ttl_ms)
                if self.pending:
                    # Best effort: blocks that cannot be written now stay pending for the next answer.
                    with contextlib.suppress(RedisError, OSError):
                        await self._flush_pending()
                return verdict
        verdict = self.mirror.judge(client, position, "mirror")
        if verdict.new_block:
            self.pending[client] = time.monotonic() + verdict.blocked_for
        return verdict

    async def blocked_for(self, client: str) -> float:
        """Remaining block: the key's TTL, or the mirror's when Redis does not answer."""
        if time.monotonic() >= self._down_until:
            try:
                await self._flush_pending()
                ttl = int(await self._call(self.client.pttl(self._keys(client)[1])))
            except (RedisError, OSError) as error:
                self._mark_down(error)
            else:
                if ttl > 0:
                    self.mirror.learn_block(client, ttl / 1000)
                    return ttl / 1000
                if client not in self.pending:
                    self.mirror.forget_block(client)
                    return 0.0
        return self.mirror.remaining(client)

    async def _call(self, call: Awaitable[T]) -> T:
        """Await one Redis call; TimeoutError once Redis counts as stalled or gone.

        Stalled means that *Redis* has answered nothing for ``timeout_seconds`` — not that this one
        call took that long: under a burst of failures the event loop itself can take longer than
        that to get round to a reply, and a busy loop is no reason to give up shared counting (the
        mirrors alone would let N 401s through on every instance). No call waits longer than
        ``hard_timeout_seconds``."""
        task = asyncio.ensure_future(call)
        task.add_done_callback(_consume_outcome)
        started = time.monotonic()
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.timeout_seconds)
                if done:
                    result = task.result()
                    self._answered_at = time.monotonic()
                    return result
                now = time.monotonic()
                if now - self._answered_at >= self.timeout_seconds or now - started >= self.hard_timeout_seconds:
                    raise TimeoutError("redis did not answer")
        finally:
            task.cancel()  # no-op when done; else redis-py drops the connection the call was on

    def _learn(self, client: str, position: int, status: int, failures: int, block_ms: int) -> Verdict:
        """Mirror what Redis said, so the mirror can stand in for it later."""
        if status == 0:
            if self.mirror.remaining(client) > 0:
                self.mirror.forget_block(client)  # expired, or lifted by an operator: Redis knows
                if position == 0:
                    self.mirror.note_failure(client)  # not counted while the mirror thought it blocked
            return Verdict(0.0, failures, False, "redis")
        self.mirror.learn_block(client, block_ms / 1000)
        return Verdict(block_ms / 1000, failures, status == 1, "redis")

    def _pending_ms(self, client: str) -> int:
        deadline = self.pending.get(client)
        return max(int((deadline - time.monotonic()) * 1000), 0) if deadline is not None else 0

    async def _flush_pending(self) -> None:
        """Write the blocks the mirror decided while Redis was away (SET NX: a block Redis already
        has is kept as it is). Raises when Redis does not answer; the blocks then stay pending."""
        if not self.pending:
            return
        flushing = {client: self._pending_ms(client) for client in list(self.pending)}
        async with self.client.pipeline(transaction=False) as pipe:
            for client, remaining_ms in flushing.items():
                if remaining_ms > 0:
                    pipe.set(self._keys(client)[1], "1", px=remaining_ms, nx=True)
            await self._call(pipe.execute())
        for client in flushing:
            self.pending.pop(client, None)

    def _mark_down(self, error: BaseException) -> None:
        if time.monotonic() >= self._down_until:
            log.warning(
                "redis unreachable: failed-auth blocking uses this instance's mirror", error=type(error).__name__
            )
        self._down_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned call's error, so asyncio does not report it as never retrieved."""
    if not task.cancelled():
        task.exception()


class FailedAuthLimiter:
    """The policy on top of a store: normalises the client, alerts when a block starts."""

    def __init__(self, settings: Settings, store: FailureStore | None = None, namespace: str = "fi") -> None:
        self.max_failures = settings.auth_max_failures
        self.block_seconds = settings.auth_block_seconds
        self.trusted = parse_proxies(settings.trusted_proxies)
        window = settings.auth_failure_window_seconds
        self.store: FailureStore
        if store is not None:
            self.store = store
        elif settings.cache_backend == "redis" and settings.redis_url is not None:
            url = settings.redis_url.get_secret_value()
            self.store = RedisFailures(url, self.max_failures, window, self.block_seconds, f"{namespace}:auth:")
        else:
            self.store = MemoryFailures(self.max_failures, window, self.block_seconds)

    async def blocked_for(self, address: str) -> float:
        """Seconds the client (an address, see ``client_address``) remains blocked."""
        return await self.store.blocked_for(client_key(address))

    async def failed(self, address: str) -> Verdict:
        """Count a failed or missing authentication and decide: 401 (``blocked_for`` 0) or 429.

        The failure that starts a block logs the alert (once per block, even across instances)."""
        client = client_key(address)
        verdict = await self.store.fail(client)
        if verdict.new_block:
            log.error(
                "authentication failures: client blocked",
                alert=True,
                client=client,
                failures=verdict.failures,
                block_seconds=self.block_seconds,
                store=verdict.store,
            )
        return verdict

    async def aclose(self) -> None:
        """Release connections."""
        await self.store.aclose()


__all__ = [
    "FailedAuthLimiter",
    "FailureStore",
    "MemoryFailures",
    "RedisFailures",
    "Verdict",
    "client_address",
    "client_key",
    "parse_address",
    "parse_proxies",
]
