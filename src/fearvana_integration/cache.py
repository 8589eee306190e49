"""The cache of source results (cashews): memory by default, Redis when several instances share it.

Each cached part of a customer's data (profile, activity, journey, CRM, scheduling, a fitted
context) is one key ``fi:v1:<customer>:<part>`` holding the value and the time it was fetched. A key
lives for its TTL plus ``CACHE_STALE_MAX_SECONDS``: fresh within the TTL, and kept after it only so
that a failing source can be answered with its last good value, marked stale. Every key carries the
tag ``customer:<id>``, so :meth:`SourceCache.invalidate` drops exactly one customer.

Freshness is judged against the injected clock (not the backend's own timer), so simulations with a
fake clock behave like real time. Values are kept as objects in memory and as JSON in Redis (cashews'
JSON pickler, never pickle: a compromised Redis must not be able to run code here). Cache failures are misses, never
errors: the cache makes the service faster, it must not make it less available. So every Redis
operation has its own small time budget (``CACHE_TIMEOUT_MS``), and once Redis has answered nothing
for that long the cache is not asked at all for a few seconds (:class:`CacheGate`): a stalled Redis
costs a request at most one short wait, never its deadline.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import structlog
from cashews import Cache, register_backend
from cashews.backends.redis import Redis as CashewsRedis
from cashews.picklers import PicklerType
from pydantic import TypeAdapter, ValidationError
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from fearvana_integration.clock import Clock
from fearvana_integration.config import Settings
from fearvana_integration.domain.health import CacheStats
from fearvana_integration.errors import ProviderUnavailable

T = TypeVar("T")
log = structlog.get_logger("fearvana_integration.cache")
DEFAULT_NAMESPACE = "fi"
LOCAL_COPIES = 256
GATE_OPEN_SECONDS = 5.0
_MISSING: Any = object()


# cashews knows redis:// and rediss://; a Redis on a unix socket (REDIS_URL=unix:///path) is the same backend.
register_backend("unix", CashewsRedis, pass_uri=True, pickler=PicklerType.DEFAULT)


class CacheGate:
    """The cache's own small breaker. Redis counts as stalled once an operation failed and nothing at
    all was answered for ``CACHE_TIMEOUT_MS`` (a slow answer under load, while others get theirs, is
    only a miss); it is then skipped — every read a miss, every write dropped — for
    ``GATE_OPEN_SECONDS`` and tried again. Monotonic time, not the injected clock: it measures the
    backend, not the domain."""

    def __init__(self, silence_seconds: float, open_seconds: float = GATE_OPEN_SECONDS) -> None:
        self.silence_seconds = silence_seconds
        self.open_seconds = open_seconds
        self.last_answer = time.monotonic()
        self.closed_until = 0.0

    def allows(self) -> bool:
        """Whether the backend may be asked now."""
        return time.monotonic() >= self.closed_until

    def answered(self) -> None:
        """An operation got its answer."""
        self.last_answer = time.monotonic()

    def failed(self, operation: str, error: BaseException) -> None:
        """An operation failed or ran out of time: shut the gate if Redis is silent, not just slow."""
        now = time.monotonic()
        silent = not isinstance(error, TimeoutError) or now - self.last_answer >= self.silence_seconds
        if silent and self.allows():
            self.closed_until = now + self.open_seconds
            log.warning(
                "cache not answering: serving from the sources",
                operation=operation,
                error=type(error).__name__,
                retry_in_seconds=self.open_seconds,
            )


class Cached(Generic[T]):
    """A cached value and when its source produced it (epoch seconds).

    Read from Redis, the value is parsed only when first used: deciding whether a fitted context
    can be reused needs every part's fetch time, not its (possibly large) value.
    """

    __slots__ = ("_body", "_codec", "_value", "fetched_at")

    def __init__(self, value: T, fetched_at: float) -> None:
        self._value: T | None = value
        self._body: str | None = None
        self._codec: Codec[T] | None = None
        self.fetched_at = fetched_at

    @classmethod
    def lazy(cls, body: str, fetched_at: float, codec: Codec[T]) -> Cached[T]:
        """An entry whose JSON ``body`` is parsed on first access to :attr:`value`."""
        entry: Cached[T] = cls.__new__(cls)
        entry._value, entry._body, entry._codec, entry.fetched_at = None, body, codec, fetched_at
        return entry

    def readable(self) -> bool:
        """Parse now if needed; False when the stored JSON no longer fits the model (an older release
        wrote it, say): the caller then treats the entry as missing."""
        try:
            self.value  # noqa: B018 - parsing is the point
        except ValueError as error:  # pydantic's ValidationError is a ValueError
            log.warning("dropping an unreadable cache entry", error=type(error).__name__)
            return False
        return True

    @property
    def value(self) -> T:
        """The cached value (parsed now if it came from Redis and was not used yet)."""
        if self._body is not None and self._codec is not None:
            self._value = self._codec.parse(self._body)
            self._body = None
        return self._value  # type: ignore[return-value]


class Codec(Generic[T]):
    """JSON for one part's type (used by the Redis backend)."""

    def __init__(self, kind: Any) -> None:
        self.adapter: TypeAdapter[T] = TypeAdapter(kind)

    def encode(self, cached: Cached[T]) -> str:
        """``<fetched_at>\\n<json>``."""
        return f"{cached.fetched_at!r}\n" + self.adapter.dump_json(cached.value).decode()

    def parse(self, body: str) -> T:
        """The value from its JSON (validated)."""
        return self.adapter.validate_json(body)

    def decode(self, raw: str | bytes) -> Cached[T]:
        """The inverse of :meth:`encode`."""
        text = raw.decode() if isinstance(raw, bytes) else raw
        stamp, _, body = text.partition("\n")
        return Cached.lazy(body, float(stamp), self)


class SourceCache:
    """Reads and writes cached parts; counts hits and misses; invalidates one customer."""

    def __init__(self, settings: Settings, clock: Clock, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.clock = clock
        self.namespace = namespace
        self.stale_max = float(settings.cache_stale_max_seconds)
        self.backend = settings.cache_backend
        self.timeout = settings.cache_timeout_ms / 1000
        self.gate = CacheGate(self.timeout)
        self.cache = Cache(name=f"{namespace}-{uuid.uuid4().hex[:8]}")
        if settings.cache_backend == "redis" and settings.redis_url is not None:
            url = settings.redis_url.get_secret_value()
            separator = "&" if "?" in url else "?"
            seconds = f"{max(self.timeout, 0.001):g}"
            self.cache.setup(
                f"{url}{separator}suppress=false&socket_timeout={seconds}&socket_connect_timeout={seconds}",
                pickle_type="json",
                retry=Retry(NoBackoff(), 0),  # redis-py's default retries turn one stall into seconds
                # Waiting for a free pooled connection counts against CACHE_TIMEOUT_MS: keep enough.
                max_connections=64,
                check_repr=False,  # a pickle-era safety net; our values are JSON text, and repr() of each costs
            )
        else:
            self.cache.setup(f"mem://?size={settings.cache_max_size}&check_interval=10")
        self.cache.register_tag(namespace + ":customer:{customer}", namespace + ":v1:{customer}:{part}")
        self.hits = 0
        self.misses = 0
        # Parsed copies of Redis entries whose key names their content (see read_immutable), most
        # recently used last: parsing a large fitted context costs more than everything else on a hit.
        self._local: OrderedDict[str, Cached[Any]] = OrderedDict()

    def key(self, customer_id: str, part: str) -> str:
        """The cache key of one part of one customer."""
        return f"{self.namespace}:v1:{customer_id}:{part}"

    def tag(self, customer_id: str) -> str:
        """The tag every key of a customer carries."""
        return f"{self.namespace}:customer:{customer_id}"

    @property
    def shared(self) -> bool:
        """Whether other processes see the same entries (Redis)."""
        return self.backend == "redis"

    async def _backend(self, operation: str, call: Callable[[], Awaitable[Any]], default: Any) -> Any:
        """One backend operation inside the cache's time budget and gate; ``default`` when it fails,
        is too slow, or the gate is shut. In memory nothing can stall, so nothing is added."""
        if not self.shared:
            try:
                return await call()
            except Exception as error:  # the backend's own errors vary; any failure is a miss
                log.warning(f"cache {operation} failed", error=type(error).__name__)
                return default
        if not self.gate.allows():
            return default
        try:
            async with asyncio.timeout(self.timeout):
                result = await call()
        except Exception as error:  # includes TimeoutError: slower than the budget is a miss
            self.gate.failed(operation, error)
            log.warning(f"cache {operation} failed", error=type(error).__name__)
            return default
        self.gate.answered()
        return result

    def _encode(self, codec: Codec[T], cached: Cached[T]) -> object:
        return codec.encode(cached) if self.shared else cached

    def _decode(self, codec: Codec[T], raw: object) -> Cached[T] | None:
        if raw is None:
            return None
        if isinstance(raw, Cached):
            return raw
        if isinstance(raw, str | bytes):
            try:
                return codec.decode(raw)
            except (ValidationError, ValueError) as error:
                log.warning("dropping an unreadable cache entry", error=type(error).__name__)
        return None

    async def read(self, key: str, codec: Codec[T]) -> Cached[T] | None:
        """The cached entry (fresh or not), or None."""
        raw = await self._backend("read", lambda: self.cache.get(key), None)
        return self._decode(codec, raw)

    async def read_immutable(self, key: str, codec: Codec[T]) -> Cached[T] | None:
        """Like :meth:`read`, for a key that names its content (a digest of what the value was made
        from), so a parsed copy kept in this process is as good as Redis' own; with Redis, recently
        used entries are answered from that copy without a round trip or a parse."""
        if not self.shared:
            return await self.read(key, codec)
        local = self._local.get(key)
        if local is not None:
            self._local.move_to_end(key)
            return local
        entry = await self.read(key, codec)
        if entry is not None and entry.readable():
            self._keep_local(key, entry)
        return entry

    def _keep_local(self, key: str, entry: Cached[Any]) -> None:
        self._local[key] = entry
        self._local.move_to_end(key)
        while len(self._local) > LOCAL_COPIES:
            self._local.popitem(last=False)

    async def write_immutable(self, key: str, codec: Codec[T], cached: Cached[T], ttl: float, customer_id: str) -> None:
        """:meth:`write` for a key that names its content; the entry is kept in this process too."""
        if self.shared:
            self._keep_local(key, cached)
        await self.write(key, codec, cached, ttl, customer_id, stamp=False)

    async def read_many(self, keys: Sequence[str], codecs: Sequence[Codec[Any]]) -> list[Cached[Any] | None]:
        """Several entries in one round trip."""
        raws = await self._backend("read", lambda: self.cache.get_many(*keys), _MISSING)
        if raws is _MISSING:
            return [None] * len(keys)
        return [self._decode(codec, raw) for codec, raw in zip(codecs, raws, strict=True)]

    async def write(
        self, key: str, codec: Codec[T], cached: Cached[T], ttl: float, customer_id: str, *, stamp: bool = True
    ) -> None:
        """Store for ``ttl`` plus the stale window, tagged with the customer.

        In Redis the fetch time is also stored under a key of its own (after the value), so that
        :meth:`read_stamps` can tell what a part's version is without transferring the part.
        """
        expire, tags = ttl + self.stale_max, [self.tag(customer_id)]

        async def store() -> None:
            await self.cache.set(key, self._encode(codec, cached), expire=expire, tags=tags)
            if self.shared and stamp:
                await self.cache.set(self.stamp_key(key), cached.fetched_at, expire=expire, tags=tags)

        await self._backend("write", store, None)

    @staticmethod
    def stamp_key(key: str) -> str:
        """Where Redis keeps the fetch time of the entry under ``key``."""
        return f"{key}:at"

    async def read_stamps(self, keys: Sequence[str]) -> list[float | None]:
        """The fetch times of several entries in one small round trip (None: absent or unreadable).

        A stamp can be briefly newer than the value beside it (two writers racing); whatever is built
        on a stamp was built from a value fetched at that time, so it stays a true version."""
        wanted = [self.stamp_key(key) for key in keys] if self.shared else list(keys)
        raws = await self._backend("read", lambda: self.cache.get_many(*wanted), _MISSING)
        if raws is _MISSING:
            return [None] * len(keys)
        if not self.shared:
            return [raw.fetched_at if isinstance(raw, Cached) else None for raw in raws]
        return [float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None for raw in raws]

    async def delete(self, *keys: str) -> None:
        """Drop specific entries (after a write changed what they hold)."""
        stamps = [self.stamp_key(key) for key in keys] if self.shared else []
        await self._backend("delete", lambda: self.cache.delete_many(*keys, *stamps), None)

    async def invalidate(self, customer_id: str) -> None:
        """Drop every cached part of one customer, and nothing of anyone else."""
        for key in [key for key in self._local if key.startswith(self.key(customer_id, ""))]:
            del self._local[key]
        try:
            # Several round trips (find the tag's keys, delete them): a larger bound than one read's.
            async with asyncio.timeout(max(10 * self.timeout, 1.0)):
                await self.cache.delete_tags(self.tag(customer_id))
        except Exception as error:
            raise ProviderUnavailable(
                f"Cache unavailable: could not invalidate ({type(error).__name__})", source="cache"
            ) from error

    def is_fresh(self, cached: Cached[Any], ttl: float) -> bool:
        """Fetched less than ``ttl`` seconds ago (by the injected clock)."""
        return self.clock.now().timestamp() - cached.fetched_at < ttl

    def age(self, cached: Cached[Any]) -> float:
        """Seconds since the value was fetched."""
        return max(self.clock.now().timestamp() - cached.fetched_at, 0.0)

    def usable_stale(self, cached: Cached[Any], ttl: float) -> bool:
        """Past its TTL but within ``CACHE_STALE_MAX_SECONDS`` of it."""
        return self.age(cached) < ttl + self.stale_max

    async def try_lock(self, key: str, hold_seconds: float) -> str | None:
        """Take the cross-process fill lock of ``key`` (Redis); a token, or None when another holds it.

        In memory there is no other process: the in-process single flight is enough.
        """
        token = uuid.uuid4().hex
        if not self.shared:
            return token
        # Unreachable or slow: fill without the lock (a duplicate source call beats waiting).
        taken = await self._backend(
            "lock", lambda: self.cache.set_lock(f"{self.namespace}:lock:{key}", token, expire=hold_seconds), True
        )
        return token if taken else None

    async def unlock(self, key: str, token: str) -> None:
        """Release a fill lock taken with :meth:`try_lock`."""
        if self.shared:
            await self._backend("unlock", lambda: self.cache.unlock(f"{self.namespace}:lock:{key}", token), None)

    async def stats(self) -> CacheStats:
        """Entries, hits, misses and hit rate (a coalesced waiter counts as a hit), and whether the
        backend answers: an unreachable Redis means instances silently stop sharing cache, breakers
        and failed-auth counts, so health must say so."""
        error: str | None = None
        try:
            async with asyncio.timeout(max(10 * self.timeout, 1.0)):
                size = await self.cache.get_keys_count()
                if self.shared:
                    await self.cache.ping()
        except Exception as failure:  # any backend failure is a finding here, not an error of health
            size = 0
            root: BaseException = failure
            while (root.__cause__ or root.__context__) is not None and not str(root):
                root = root.__cause__ or root.__context__  # type: ignore[assignment]
            error = f"{type(root).__name__}: {str(root)[:160]}"
        total = self.hits + self.misses
        return CacheStats(
            size=size,
            hits=self.hits,
            misses=self.misses,
            hit_rate=round(self.hits / total, 4) if total else 0.0,
            backend=self.backend,
            reachable=error is None,
            error=error,
        )

    async def ping(self) -> None:
        """One round trip to the backend."""
        await self.cache.ping()

    async def aclose(self) -> None:
        """Close connections and background tasks."""
        await self.cache.close()
