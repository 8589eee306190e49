"""A value from a source together with how it was obtained: degraded is data, not an exception."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from fearvana_integration.domain.context import SourceFreshness, SourceStatus

T = TypeVar("T")


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """``value`` is None when ``status`` is ``unavailable`` or ``disabled``; ``reason`` then says why."""

    value: T | None
    status: SourceStatus
    source: str
    fetched_at: datetime | None
    from_cache: bool = False
    reason: str | None = None
    age_seconds: float | None = None
    # Set when the value is missing because the source's breaker is open: when it will be tried again.
    next_attempt_at: datetime | None = None

    @property
    def ok(self) -> bool:
        """Whether a value (fresh or stale) is present."""
        return self.status in ("fresh", "stale")

    def freshness(self) -> SourceFreshness:
        """The ``freshness`` entry of the context for this value."""
        return SourceFreshness(
            source=self.source,
            fetched_at=self.fetched_at,
            from_cache=self.from_cache,
            stale=self.status == "stale",
            status=self.status,
            reason=self.reason,
            age_seconds=self.age_seconds,
        )
