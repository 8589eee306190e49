"""The health report (seed's JSON shape)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fearvana_integration.domain.base import DomainModel, UtcDateTime

HealthState = Literal["healthy", "degraded", "unhealthy"]
BreakerState = Literal["CLOSED", "OPEN", "HALF_OPEN"]


class ServiceHealth(DomainModel):
    """One dependency's ping."""

    healthy: bool
    latency: float | None = None
    enabled: bool = True
    provider: str | None = None
    backend: str | None = None
    error: str | None = None
    checked_at: UtcDateTime | None = None
    auth: Literal["ok", "expired", "missing_scope", "invalid"] | None = Field(
        default=None,
        description="Vendors only: ok, expired (refresh or reconnect), missing_scope (grant it), invalid (fix the key)",
    )
    schema_: Literal["ok", "mismatch"] | None = Field(
        default=None, alias="schema", description="The customer store only: the app's tables as this project reads them"
    )


class BreakerStatus(DomainModel):
    """One circuit breaker, as the health report shows it."""

    state: BreakerState
    failure_count: int
    opened_at: UtcDateTime | None = None
    next_attempt_at: UtcDateTime | None = None


class CacheStats(DomainModel):
    """Entries, hits, misses, hit rate."""

    size: int
    hits: int
    misses: int
    hit_rate: float
    backend: str = "memory"
    reachable: bool = Field(default=True, description="Whether the cache backend answers (Redis: a real ping)")
    error: str | None = None


class HealthStatus(DomainModel):
    """``status`` is unhealthy when the store fails, degraded when an optional source fails."""

    status: HealthState
    timestamp: UtcDateTime
    services: dict[str, ServiceHealth]
    cache: CacheStats | None = None
    circuit_breakers: dict[str, BreakerStatus] = {}
