"""SourceGuard: the one place every source call goes through — cache → circuit breaker → timeout.

:meth:`SourceGuard.fetch` returns a :class:`Sourced` value (fresh, stale with its age, or
unavailable with the reason) and never raises for a source failure, so one broken source cannot break
a customer's context; :meth:`SourceGuard.call` is the same path without the cache, for writes, and
raises. Concurrent misses of one key share one source call (in this process, and across processes
when the cache is in Redis); a failing source is answered with its last good value for up to
``CACHE_STALE_MAX_SECONDS``; an open breaker answers at once without touching the network.

Latency never waits on a source that answered before (stale-while-revalidate): a value past its TTL
is served at once while one background refresh per key fetches a new one — still called fresh up to
twice its TTL (what any TTL cache may serve), ``stale`` and "refreshing" beyond. A value read in the
last fifth of its TTL is refreshed ahead in the background, so customers read often never expire.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import structlog

from fearvana_integration.cache import Cached, Codec, SourceCache
from fearvana_integration.clock import Clock
from fearvana_integration.domain.sourced import Sourced
from fearvana_integration.errors import (
    CapabilityNotSupported,
    CircuitOpen,
    CustomerNotFound,
    IntegrationError,
    ProviderAuthError,
    ProviderError,
    ProviderTimeout,
    StoreUnavailable,
    auth_problem,
    source_label,
)
from fearvana_integration.observability import tracing
from fearvana_integration.resilience.breaker import CircuitBreaker

T = TypeVar("T")
log = structlog.get_logger("fearvana_integration.guard")
LOCK_POLL_SECONDS = 0.01
REFRESH_AHEAD_FRACTION = 0.8  # a value read after 80 % of its TTL is refreshed in the background
REMEMBERED_FAILURES = 4096
FRESH_GRACE_TTLS = 2.0  # served while revalidating, a value up to twice its TTL old still counts as fresh


class Deadline:
    """The time left for one request (``CONTEXT_DEADLINE_MS``)."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._ends_at = clock.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(self._ends_at - self._clock.monotonic(), 0.0)

    def bound(self, timeout: float) -> float:
        """``timeout`` shortened to what is left of the deadline."""
        return min(timeout, self.remaining())


@dataclass(frozen=True)
class Part(Generic[T]):
    """One cacheable piece of a customer's data: which source it comes from and how long it keeps."""

    source: str
    name: str
    ttl: float
    codec: Codec[T]
    timeout: float


def _counts(error: BaseException) -> bool:
    if isinstance(error, TimeoutError | StoreUnavailable):
        return True
    if isinstance(error, ProviderError):
        return error.counts_for_breaker
    return False


class SourceGuard:
    """Applies cache, breaker and timeout to source calls, the same way for every source."""

    def __init__(
        self,
        clock: Clock,
        *,
        cache: SourceCache | None = None,
        breakers: dict[str, CircuitBreaker] | None = None,
    ) -> None:
        self.clock = clock
        self.cache = cache
        self.breakers = breakers or {}
        # (source, operation, seconds, outcome) for every call that reached the breaker — metrics.
        self.observer: Callable[[str, str, float, str], None] | None = None
        self._flights: dict[str, asyncio.Future[Sourced[Any]]] = {}
        self._refreshing: set[asyncio.Task[None]] = set()
        # Why the latest background refresh of a key failed (most recent last, bounded): its cached
        # value is then served as stale with that reason, not passed off as fresh.
        self._refresh_failures: OrderedDict[str, str] = OrderedDict()

    # Writes and uncached reads ---------------------------------------------------------------------

    async def call(
        self,
        source: str,
        operation: str,
        load: Callable[[], Awaitable[T]],
        *,
        timeout_seconds: float,
        deadline: Deadline,
    ) -> T:
        """Breaker and timeout around one call; raises its error (CircuitOpen without calling out).

        With tracing on, the call is a span (source, operation, outcome) and current while it runs, so
        its vendor requests and store statements are its children; off, ``span`` is None and that is all.
        """
        span = tracing.source_span(source, operation)
        outcome = "error"
        try:
            breaker = self.breakers.get(source)
            started = time.perf_counter()
            try:
                token = await breaker.before_call(operation) if breaker else ""
            except CircuitOpen:
                outcome = "circuit_open"
                self._observe(source, operation, started, outcome)
                raise
            limit = deadline.bound(timeout_seconds)
            try:
                async with asyncio.timeout(limit):
                    value = await load()
            except TimeoutError:
                outcome = "timeout"
                if breaker:
                    await breaker.record_failure(token)
                self._observe(source, operation, started, outcome)
                raise ProviderTimeout(
                    f"{source_label(source)} did not answer within {limit:.3g} s", source=source, operation=operation
                ) from None
            except BaseException as error:
                outcome = type(error).__name__
                if breaker:
                    await (breaker.record_failure(token) if _counts(error) else breaker.record_success(token))
                self._observe(source, operation, started, outcome)
                raise
            if breaker:
                await breaker.record_success(token)
            outcome = "ok"
            self._observe(source, operation, started, outcome)
            return value
        finally:
            if span is not None:
                span.end(outcome)

    def _observe(self, source: str, operation: str, started: float, outcome: str) -> None:
        if self.observer is not None:
            self.observer(source, operation, time.perf_counter() - started, outcome)

    # Cached reads ---------------------------------------------------------------------------------

    async def fetch(
        self,
        part: Part[T],
        customer_id: str,
        provider: str,
        load: Callable[[], Awaitable[T]],
        deadline: Deadline,
        *,
        cached: Cached[T] | None = None,
        use_cache: bool = True,
    ) -> Sourced[T]:
        """The part's value: from the cache while fresh, else from the source (one call for all
        concurrent askers), else its last good value marked stale, else unavailable with the reason.

        CustomerNotFound is raised, not degraded: it is an answer, not a failure.
        """
        if self.cache is None or not use_cache:
            return await self._guarded(part, provider, load, deadline, None)
        key = self.cache.key(customer_id, part.name)
        entry = cached if cached is not None else await self.cache.read(key, part.codec)
        if entry is not None and not entry.readable():
            entry = None
        if entry is not None and part.ttl > 0:
            age = self.cache.age(entry)
            if age < part.ttl * REFRESH_AHEAD_FRACTION:
                self.cache.hits += 1
                return self._from_cache(entry, provider)
            if age < part.ttl + self.cache.stale_max:
                self.cache.hits += 1
                self._refresh_in_background(part, key, customer_id, provider, load, entry)
                failure = self._refresh_failures.get(key) if age >= part.ttl else None
                if failure is not None:
                    return self._stale(entry, provider, failure)
                if age < part.ttl * FRESH_GRACE_TTLS:
                    return self._from_cache(entry, provider)
                return self._stale(entry, provider, "refreshing in the background")
        flight = self._flights.get(key)
        if flight is not None:
            self.cache.hits += 1
            return await self._wait(flight, deadline)
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            result = await self._fill(part, key, customer_id, provider, load, deadline, entry)
            self._remember_refresh(key, result)
        except BaseException as error:
            flight.set_exception(error)
            flight.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        else:
            flight.set_result(result)
            return result
        finally:
            self._flights.pop(key, None)

    def _refresh_in_background(
        self,
        part: Part[T],
        key: str,
        customer_id: str,
        provider: str,
        load: Callable[[], Awaitable[T]],
        entry: Cached[T],
    ) -> None:
        """Start the one refresh of ``key`` unless it is already running here (another process's
        refresh holds the fill lock, and then this one gives way at once)."""
        if key in self._flights:
            return
        flight: asyncio.Future[Sourced[Any]] = asyncio.get_running_loop().create_future()
        self._flights[key] = flight

        async def refresh() -> None:
            try:
                result = await self._fill(
                    part, key, customer_id, provider, load, Deadline(self.clock, part.timeout), entry, wait=False
                )
            except CustomerNotFound:
                # Gone from the store since it was cached: nobody may be served the old copy.
                assert self.cache is not None
                await self.cache.delete(key)
                flight.set_exception(CustomerNotFound(customer_id))
                flight.exception()
            except BaseException as error:  # a background task has nobody to raise to
                if not flight.done():
                    flight.set_exception(error)
                    flight.exception()
                if isinstance(error, asyncio.CancelledError):
                    raise
                log.warning("background refresh failed", source=part.source, part=part.name, error=type(error).__name__)
            else:
                flight.set_result(result)
                self._remember_refresh(key, result)
            finally:
                self._flights.pop(key, None)

        # A fresh context: this task outlives the request that started it and must not carry its ids.
        task = asyncio.get_running_loop().create_task(
            refresh(), name=f"refresh:{part.name}", context=contextvars.Context()
        )
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    def _remember_refresh(self, key: str, result: Sourced[Any]) -> None:
        if result.status == "fresh" or result.reason == "refreshed by another instance":
            self._refresh_failures.pop(key, None)
            return
        self._refresh_failures[key] = result.reason or "the refresh failed"
        self._refresh_failures.move_to_end(key)
        while len(self._refresh_failures) > REMEMBERED_FAILURES:
            self._refresh_failures.popitem(last=False)

    async def settled(self) -> None:
        """Wait until the background refreshes running now have finished (tests, benchmarks)."""
        while self._refreshing:
            await asyncio.gather(*list(self._refreshing), return_exceptions=True)

    async def aclose(self) -> None:
        """Stop background refreshes (at shutdown)."""
        for task in list(self._refreshing):
            task.cancel()
        if self._refreshing:
            await asyncio.gather(*self._refreshing, return_exceptions=True)

    async def _wait(self, flight: asyncio.Future[Sourced[Any]], deadline: Deadline) -> Sourced[T]:
        try:
            async with asyncio.timeout(deadline.remaining()):
                return await asyncio.shield(flight)
        except TimeoutError:
            return Sourced(None, "unavailable", "", None, reason="no answer within the request deadline")

    async def _fill(
        self,
        part: Part[T],
        key: str,
        customer_id: str,
        provider: str,
        load: Callable[[], Awaitable[T]],
        deadline: Deadline,
        entry: Cached[T] | None,
        *,
        wait: bool = True,
    ) -> Sourced[T]:
        assert self.cache is not None
        cache = self.cache
        token = await cache.try_lock(key, hold_seconds=part.timeout + 1)
        if token is None and not wait:  # another process is refreshing it already
            return (
                self._from_cache(entry, provider)
                if entry is not None
                else self._fallback(part, provider, entry, "refreshed by another instance")
            )
        while token is None:  # another process is fetching the same part: wait for its result
            await asyncio.sleep(LOCK_POLL_SECONDS)
            latest = await cache.read(key, part.codec)
            if latest is not None and cache.is_fresh(latest, part.ttl) and latest.readable():
                cache.hits += 1
                return self._from_cache(latest, provider)
            if deadline.remaining() <= 0:
                return self._fallback(part, provider, entry, "no answer within the request deadline")
            token = await cache.try_lock(key, hold_seconds=part.timeout + 1)
        try:
            cache.misses += 1
            result = await self._guarded(part, provider, load, deadline, entry)
            if result.status == "fresh" and result.fetched_at is not None:
                fresh = Cached(result.value, result.fetched_at.timestamp())
                await cache.write(key, part.codec, fresh, part.ttl, customer_id)  # type: ignore[arg-type]
            return result
        finally:
            await cache.unlock(key, token)

    async def _guarded(
        self,
        part: Part[T],
        provider: str,
        load: Callable[[], Awaitable[T]],
        deadline: Deadline,
        entry: Cached[T] | None,
    ) -> Sourced[T]:
        try:
            value = await self.call(part.source, part.name, load, timeout_seconds=part.timeout, deadline=deadline)
        except CircuitOpen as error:
            return self._fallback(
                part, provider, entry, self._open_reason(part.source, error), next_attempt_at=error.next_attempt_at
            )
        except CustomerNotFound:
            raise
        except ProviderAuthError as error:
            return self._fallback(part, provider, entry, auth_problem(error))
        except (ProviderError, CapabilityNotSupported, StoreUnavailable) as error:
            return self._fallback(part, provider, entry, str(error))
        except IntegrationError as error:
            return self._fallback(part, provider, entry, str(error))
        return Sourced(value=value, status="fresh", source=provider, fetched_at=self.clock.now())

    def _open_reason(self, source: str, error: CircuitOpen) -> str:
        breaker = self.breakers.get(source)
        failures = breaker.last_known.failures if breaker else 0
        when = error.next_attempt_at.strftime("%H:%M:%S UTC") if error.next_attempt_at else "later"
        return f"circuit breaker open after {failures} failures in a row; next try after {when}"

    def _from_cache(self, entry: Cached[T], provider: str) -> Sourced[T]:
        return Sourced(
            value=entry.value,
            status="fresh",
            source=provider,
            fetched_at=datetime.fromtimestamp(entry.fetched_at, UTC),
            from_cache=True,
        )

    def _stale(self, entry: Cached[T], provider: str, reason: str) -> Sourced[T]:
        assert self.cache is not None
        return Sourced(
            value=entry.value,
            status="stale",
            source=provider,
            fetched_at=datetime.fromtimestamp(entry.fetched_at, UTC),
            from_cache=True,
            reason=reason,
            age_seconds=round(self.cache.age(entry), 1),
        )

    def _fallback(
        self,
        part: Part[T],
        provider: str,
        entry: Cached[T] | None,
        reason: str,
        *,
        next_attempt_at: datetime | None = None,
    ) -> Sourced[T]:
        log.warning("source unavailable", source=part.source, part=part.name, reason=reason)
        if entry is not None and self.cache is not None and self.cache.usable_stale(entry, part.ttl):
            return self._stale(entry, provider, reason)
        return Sourced(
            value=None,
            status="unavailable",
            source=provider,
            fetched_at=None,
            reason=reason,
            next_attempt_at=next_attempt_at,
        )

    @staticmethod
    def disabled(source: str, provider: str) -> Sourced[T]:
        """The value of a source switched off with ``*_ENABLED=false``."""
        return Sourced(
            value=None,
            status="disabled",
            source=provider,
            fetched_at=None,
            reason=f"{source_label(source)} is disabled",
        )
