"""The composition root: ``build_runtime(settings)`` wires store, adapters, guard and tokenizer.

The manager, the CLI and (later) the HTTP service all build their dependencies here and nowhere else;
nothing is created at import time. ``Runtime.aclose()`` releases everything it built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, cast

import httpx

from fearvana_integration.adapters.base import Adapter, CRMAdapter, EmailAdapter, SchedulingAdapter
from fearvana_integration.adapters.http import build_http_client
from fearvana_integration.adapters.mock_support import MockBehaviour
from fearvana_integration.adapters.registry import adapter_class
from fearvana_integration.adapters.scheduling.mock import MockSchedulingAdapter
from fearvana_integration.adapters.scheduling.mock_calendar import StoreCalendar
from fearvana_integration.cache import DEFAULT_NAMESPACE, SourceCache
from fearvana_integration.clock import Clock, SystemClock
from fearvana_integration.config import Settings, SourceKind
from fearvana_integration.context.assembler import ContextAssembler
from fearvana_integration.context.tokens import Tokenizer, get_tokenizer
from fearvana_integration.errors import ConfigurationError
from fearvana_integration.observability.audit import AuditLog
from fearvana_integration.resilience.booking_lock import (
    BookingLock,
    FileBookingLock,
    PostgresBookingLock,
    RedisBookingLock,
)
from fearvana_integration.resilience.breaker import BreakerConfig, CircuitBreaker, MemoryBreakerStore
from fearvana_integration.resilience.breaker_redis import RedisBreakerStore
from fearvana_integration.resilience.guard import SourceGuard
from fearvana_integration.store.engine import create_engine, sqlite_path
from fearvana_integration.store.repository import CustomerStore


@dataclass
class Runtime:
    """Everything one process needs to serve contexts and actions."""

    settings: Settings
    clock: Clock
    store: CustomerStore
    crm: CRMAdapter | None
    scheduling: SchedulingAdapter | None
    email: EmailAdapter | None
    guard: SourceGuard
    tokenizer: Tokenizer
    assembler: ContextAssembler
    cache: SourceCache
    breakers: dict[str, CircuitBreaker]
    breaker_store: MemoryBreakerStore | RedisBreakerStore
    audit: AuditLog
    booking_lock: BookingLock
    http_client: httpx.AsyncClient | None = None

    def adapters(self) -> dict[str, Adapter | None]:
        """Optional sources by key (None when disabled)."""
        return {"crm": self.crm, "scheduling": self.scheduling, "email": self.email}

    async def aclose(self) -> None:
        """Close adapters, the cache, the breaker store and the store's pool."""
        for adapter in self.adapters().values():
            if adapter is not None:
                await adapter.aclose()
        await self.guard.aclose()
        for breaker in self.breakers.values():
            await breaker.aclose()
        await self.audit.aclose()
        await self.booking_lock.aclose()
        await self.cache.aclose()
        if isinstance(self.breaker_store, RedisBreakerStore):
            await self.breaker_store.aclose()
        await self.store.aclose()
        if self.http_client is not None:
            await self.http_client.aclose()


A = TypeVar("A", bound=Adapter)


def _build_adapter(
    settings: Settings, kind: SourceKind, clock: Clock, base: type[A], http: _LazyHttpClient
) -> A | None:
    if not settings.enabled(kind):
        return None
    cls = adapter_class(kind, settings.provider(kind))
    if not issubclass(cls, base):
        raise ConfigurationError(f"{cls.__name__} is not a {base.__name__}")
    if issubclass(cls, MockBehaviour):
        adapter: A = cls.get_instance()
        cast(MockBehaviour, adapter).configure(
            latency_ms=settings.mock_latency_range_ms,
            failure_rate=settings.mock_failure_rate_for(kind),
            seed=settings.mock_seed,
            clock=clock,
        )
        return adapter
    return cls.from_settings(settings, http_client=http.get(), clock=clock)


class _LazyHttpClient:
    """The runtime's one HTTP client, created only when a real vendor adapter needs it."""

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self.client: httpx.AsyncClient | None = None

    def get(self) -> httpx.AsyncClient:
        if self.client is None:
            self.client = build_http_client(self.timeout_seconds)
        return self.client


def build_runtime(settings: Settings, *, clock: Clock | None = None, namespace: str = DEFAULT_NAMESPACE) -> Runtime:
    """Wire one runtime from settings (ConfigurationError for an unavailable provider).

    ``namespace`` prefixes every shared key (cache, breakers): tests use their own.
    """
    clock = clock or SystemClock()
    # mypy refuses abstract classes as type[A] arguments; they are only used for isinstance checks here.
    # A whole request may take longer than one source call (writes, paging); the guard bounds reads.
    http = _LazyHttpClient(max(settings.context_deadline_ms / 1000, 10.0))
    crm = _build_adapter(settings, "crm", clock, CRMAdapter, http)  # type: ignore[type-abstract]
    scheduling = _build_adapter(settings, "scheduling", clock, SchedulingAdapter, http)  # type: ignore[type-abstract]
    email = _build_adapter(settings, "email", clock, EmailAdapter, http)  # type: ignore[type-abstract]
    store = CustomerStore(
        create_engine(settings),
        settings.database_backend,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        url=settings.database_url.get_secret_value(),
    )
    if isinstance(scheduling, MockSchedulingAdapter):
        # Bookings and cancellations go to the project's store: every worker sees one calendar.
        scheduling.use_calendar(StoreCalendar(store))
    cache = SourceCache(settings, clock, namespace=namespace)
    breaker_store = build_breaker_store(settings, namespace)
    breakers = {
        source: CircuitBreaker(source, breaker_store, breaker_config(settings, source), clock)
        for source in ("supabase", "crm", "scheduling", "email")
    }
    # The store is probed while its breaker is open (a ping costs nothing; a vendor call would cost quota).
    breakers["supabase"].probe = store.ping
    breakers["supabase"].probe_timeout_seconds = settings.timeout_seconds("supabase")
    guard = SourceGuard(clock, cache=cache if settings.cache_enabled else None, breakers=breakers)
    tokenizer = get_tokenizer(settings.tokenizer_encoding)
    assembler = ContextAssembler(
        settings=settings,
        store=store,
        crm=crm,
        scheduling=scheduling,
        guard=guard,
        tokenizer=tokenizer,
        clock=clock,
    )
    return Runtime(
        settings=settings,
        clock=clock,
        store=store,
        crm=crm,
        scheduling=scheduling,
        email=email,
        guard=guard,
        tokenizer=tokenizer,
        assembler=assembler,
        cache=cache,
        breakers=breakers,
        breaker_store=breaker_store,
        audit=AuditLog(
            store, clock, settings.audit_spool_root(), database_url=settings.database_url.get_secret_value()
        ),
        booking_lock=build_booking_lock(settings, store, namespace),
        http_client=http.client,
    )


def breaker_config(settings: Settings, source: str) -> BreakerConfig:
    """``CIRCUIT_BREAKER_THRESHOLD`` / ``CIRCUIT_BREAKER_TIMEOUT`` (the store: ``STORE_BREAKER_OPEN_SECONDS``);
    a trial may take twice the source timeout."""
    # The store is required for every request: after a short stall it must be probed again within
    # seconds, while a vendor that failed is better left alone for longer.
    open_seconds = (
        settings.store_breaker_open_seconds if source == "supabase" else settings.circuit_breaker_timeout / 1000
    )
    return BreakerConfig(
        threshold=settings.circuit_breaker_threshold,
        open_seconds=open_seconds,
        trial_timeout_seconds=max(2 * settings.timeout_seconds(source), 1.0),
    )


def build_breaker_store(
    settings: Settings, namespace: str = DEFAULT_NAMESPACE
) -> MemoryBreakerStore | RedisBreakerStore:
    """Shared in Redis with ``CACHE_BACKEND=redis``, else in this process."""
    if settings.cache_backend == "redis" and settings.redis_url is not None:
        return RedisBreakerStore(
            settings.redis_url.get_secret_value(),
            prefix=f"{namespace}:breaker:",
            timeout_seconds=settings.cache_timeout_ms / 1000,
        )
    return MemoryBreakerStore()


def build_booking_lock(settings: Settings, store: CustomerStore, namespace: str = DEFAULT_NAMESPACE) -> BookingLock:
    """Postgres advisory lock with a Postgres store; else Redis when the cache is shared; else a lock
    file beside the SQLite database (every worker on this machine)."""
    if store.backend == "postgres":
        return PostgresBookingLock(store.engine)
    if settings.cache_backend == "redis" and settings.redis_url is not None:
        return RedisBookingLock(settings.redis_url.get_secret_value(), prefix=f"{namespace}:booking-lock:")
    database = sqlite_path(settings.database_url.get_secret_value())
    return FileBookingLock(database.parent / f".{database.name}.booking-lock")
