"""SourceGuard: the one place every optional source call gets its timeout and its failure handling.

A call returns a :class:`Sourced` value: fresh, or unavailable with the reason. It never raises for a
provider failure, so one broken source cannot break a customer's context.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from fearvana_integration.clock import Clock
from fearvana_integration.domain.sourced import Sourced
from fearvana_integration.errors import (
    CapabilityNotSupported,
    CustomerNotFound,
    IntegrationError,
    ProviderError,
    source_label,
)

T = TypeVar("T")
log = structlog.get_logger("fearvana_integration.guard")


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


class SourceGuard:
    """Applies the per-source timeout (bounded by the request's deadline) and classifies failures."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def call(
        self,
        source: str,
        provider: str,
        operation: str,
        fetch: Callable[[], Awaitable[T]],
        *,
        timeout: float,  # noqa: ASYNC109 - bounded by the deadline, applied with asyncio.timeout
        deadline: Deadline | None = None,
    ) -> Sourced[T]:
        """Run ``fetch`` for an optional source; failures become ``unavailable`` with a reason."""
        limit = deadline.bound(timeout) if deadline else timeout
        try:
            async with asyncio.timeout(limit):
                value = await fetch()
        except TimeoutError:
            reason = f"no answer within {limit:.3g} s"
        except CapabilityNotSupported as error:
            reason = str(error)
        except CustomerNotFound:
            raise
        except ProviderError as error:
            reason = str(error)
        except IntegrationError as error:
            reason = str(error)
        else:
            return Sourced(value=value, status="fresh", source=provider, fetched_at=self.clock.now())
        log.warning("source unavailable", source=source, provider=provider, operation=operation, reason=reason)
        return Sourced(value=None, status="unavailable", source=provider, fetched_at=None, reason=reason)

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
