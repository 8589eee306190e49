"""Circuit breakers: one per source, state in memory or shared by every instance through Redis.

ARCHITECTURE.md says why no library fits (pybreaker does not count async failures, aiobreaker's
Redis store is sync-only, purgatory has no reset and pins redis<6). The state machine here is one
pure function, :func:`transition`; the stores only persist its result (Redis atomically, with
WATCH/MULTI, so two instances can never both run the half-open trial).

    CLOSED --(threshold consecutive counted failures)--> OPEN
    OPEN --(timeout elapsed; exactly one caller)--> HALF_OPEN (trial)
    HALF_OPEN --(trial succeeds)--> CLOSED      HALF_OPEN --(trial fails)--> OPEN
    any success in CLOSED resets the count

A trial that never reports back (its process died) is given up after ``trial_timeout`` and another
caller may try. A breaker given a ``probe`` (the store's: one ``SELECT 1``) also checks in the
background while it is open and closes as soon as the probe succeeds, so a short stall ends for
everyone within about a second of recovery instead of at the end of the open period. When Redis
does not answer, a shared breaker keeps working on its in-memory state (and says so in a log line)
instead of becoming an outage itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal, Protocol

import structlog

from fearvana_integration.clock import Clock
from fearvana_integration.errors import CircuitOpen, StoreCircuitOpen

State = Literal["CLOSED", "OPEN", "HALF_OPEN"]
Operation = Literal["before", "success", "failure"]
log = structlog.get_logger("fearvana_integration.breaker")
PROBE_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class BreakerConfig:
    """``CIRCUIT_BREAKER_THRESHOLD``, ``CIRCUIT_BREAKER_TIMEOUT`` (as seconds) and the trial timeout."""

    threshold: int = 5
    open_seconds: float = 60.0
    trial_timeout_seconds: float = 30.0


@dataclass(frozen=True)
class BreakerState:
    """What is stored per breaker; times are epoch seconds (shared across machines)."""

    state: State = "CLOSED"
    failures: int = 0
    opened_at: float | None = None
    trial: str | None = None
    trial_started_at: float | None = None

    def as_fields(self) -> dict[str, str]:
        """Redis hash fields."""
        fields = {"state": self.state, "failures": str(self.failures)}
        for name in ("opened_at", "trial_started_at"):
            value = getattr(self, name)
            fields[name] = "" if value is None else repr(value)
        fields["trial"] = self.trial or ""
        return fields

    @classmethod
    def from_fields(cls, raw: Mapping[str | bytes, str | bytes]) -> BreakerState:
        """Parse a Redis hash (an empty hash is a fresh, closed breaker)."""
        if not raw:
            return cls()
        fields = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        state = fields.get("state", "CLOSED")
        return cls(
            state=state if state in ("CLOSED", "OPEN", "HALF_OPEN") else "CLOSED",  # type: ignore[arg-type]
            failures=int(fields.get("failures") or 0),
            opened_at=float(fields["opened_at"]) if fields.get("opened_at") else None,
            trial=fields.get("trial") or None,
            trial_started_at=float(fields["trial_started_at"]) if fields.get("trial_started_at") else None,
        )


@dataclass(frozen=True)
class Decision:
    """The outcome of ``before``: may the call go out, and is it the half-open trial?"""

    allowed: bool
    trial: bool = False
    next_attempt_at: float | None = None


def transition(
    current: BreakerState, operation: Operation, now: float, config: BreakerConfig, token: str
) -> tuple[BreakerState, Decision]:
    """The whole state machine: the new state and the decision, for one operation at ``now``."""
    allowed = Decision(allowed=True)
    if operation == "before":
        if current.state == "CLOSED":
            return current, allowed
        if current.state == "OPEN":
            reopen_at = (current.opened_at or now) + config.open_seconds
            if now >= reopen_at:
                return replace(current, state="HALF_OPEN", trial=token, trial_started_at=now), Decision(True, True)
            return current, Decision(False, next_attempt_at=reopen_at)
        started = current.trial_started_at or now
        if now >= started + config.trial_timeout_seconds:  # the trial never reported back
            return replace(current, trial=token, trial_started_at=now), Decision(True, True)
        return current, Decision(False, next_attempt_at=started + config.trial_timeout_seconds)
    if operation == "success":
        if current.state == "HALF_OPEN" and current.trial != token:
            return current, allowed  # a late answer from before the trial; the trial decides
        if current.state == "OPEN":
            return current, allowed
        return BreakerState(), allowed
    # failure
    if current.state == "HALF_OPEN":
        if current.trial != token:
            return current, allowed
        return BreakerState(state="OPEN", failures=current.failures, opened_at=now), allowed
    if current.state == "OPEN":
        return current, allowed
    failures = current.failures + 1
    if failures >= config.threshold:
        return BreakerState(state="OPEN", failures=failures, opened_at=now), allowed
    return replace(current, failures=failures), allowed


class BreakerStore(Protocol):
    """Persists breaker states; ``apply`` runs :func:`transition` atomically."""

    async def apply(
        self, name: str, operation: Operation, now: float, config: BreakerConfig, token: str
    ) -> tuple[BreakerState, Decision]:
        """Read, transition and write one breaker's state atomically."""
        ...

    async def read(self, name: str) -> BreakerState:
        """The current state."""
        ...

    async def clear(self, name: str) -> None:
        """Back to a fresh, closed breaker."""
        ...

    def clear_sync(self, name: str) -> None:
        """:meth:`clear` for synchronous callers."""
        ...


class MemoryBreakerStore:
    """Breaker states of this process."""

    def __init__(self) -> None:
        self.states: dict[str, BreakerState] = {}

    async def apply(
        self, name: str, operation: Operation, now: float, config: BreakerConfig, token: str
    ) -> tuple[BreakerState, Decision]:
        """No await between read and write: atomic within the event loop."""
        state, decision = transition(self.states.get(name, BreakerState()), operation, now, config, token)
        self.states[name] = state
        return state, decision

    async def read(self, name: str) -> BreakerState:
        """The current state."""
        return self.states.get(name, BreakerState())

    async def clear(self, name: str) -> None:
        """Forget the state."""
        self.states.pop(name, None)

    def clear_sync(self, name: str) -> None:
        """Forget the state."""
        self.states.pop(name, None)


class CircuitBreaker:
    """One source's breaker: :meth:`before_call`, then :meth:`record_success` or :meth:`record_failure`."""

    def __init__(
        self,
        name: str,
        store: BreakerStore,
        config: BreakerConfig,
        clock: Clock,
        *,
        probe: Callable[[], Awaitable[None]] | None = None,
        probe_timeout_seconds: float = 1.0,
    ) -> None:
        self.name = name
        self.store = store
        self.config = config
        self.clock = clock
        self.last_known = BreakerState()
        self.probe = probe
        self.probe_timeout_seconds = probe_timeout_seconds
        self._prober: asyncio.Task[None] | None = None

    def _now(self) -> float:
        return self.clock.now().timestamp()

    async def before_call(self, operation: str = "") -> str:
        """A token for this call, or CircuitOpen (no network touched) while the breaker is open."""
        token = uuid.uuid4().hex
        state, decision = await self.store.apply(self.name, "before", self._now(), self.config, token)
        self.last_known = state
        if not decision.allowed:
            self._start_probing()
            next_attempt = datetime.fromtimestamp(decision.next_attempt_at, UTC) if decision.next_attempt_at else None
            if self.name == "supabase":
                raise StoreCircuitOpen(next_attempt_at=next_attempt, operation=operation)
            raise CircuitOpen(self.name, next_attempt_at=next_attempt, operation=operation)
        return token

    async def record_success(self, token: str) -> None:
        """The call succeeded: closes a half-open breaker, resets the failure count."""
        self.last_known, _ = await self.store.apply(self.name, "success", self._now(), self.config, token)

    async def record_failure(self, token: str) -> None:
        """A failure that counts (unavailable, timeout, quota, auth, invalid response)."""
        before = self.last_known.state
        self.last_known, _ = await self.store.apply(self.name, "failure", self._now(), self.config, token)
        if self.last_known.state == "OPEN" and before != "OPEN":
            log.warning("circuit breaker opened", source=self.name, failures=self.last_known.failures)
            self._start_probing()

    def _start_probing(self) -> None:
        if self.probe is None or (self._prober is not None and not self._prober.done()):
            return
        # A fresh context: this task outlives the request that started it and must not carry its ids.
        self._prober = asyncio.get_running_loop().create_task(
            self._probe_until_closed(), name=f"probe:{self.name}", context=contextvars.Context()
        )

    async def _probe_until_closed(self) -> None:
        """While open, try the probe every second; close the breaker (for every instance) when it works."""
        assert self.probe is not None
        while True:
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
            if (await self.state()).state == "CLOSED":
                return
            try:
                async with asyncio.timeout(self.probe_timeout_seconds):
                    await self.probe()
            except Exception:  # still down (any failure of the probe means that); try again
                continue
            await self.areset()
            log.info("source answers again: circuit breaker closed", source=self.name)
            return

    async def aclose(self) -> None:
        """Stop background probing (at shutdown)."""
        if self._prober is not None and not self._prober.done():
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober

    async def state(self) -> BreakerState:
        """The current (shared) state."""
        self.last_known = await self.store.read(self.name)
        return self.last_known

    def reset(self) -> None:
        """Close the breaker now (the seed's synchronous API)."""
        self.store.clear_sync(self.name)
        self.last_known = BreakerState()

    async def areset(self) -> None:
        """Close the breaker and wait until every instance sees it closed."""
        await self.store.clear(self.name)
        self.last_known = BreakerState()

    def next_attempt_at(self, state: BreakerState) -> float | None:
        """When an open breaker will let a trial through (epoch seconds)."""
        if state.state == "OPEN" and state.opened_at is not None:
            return state.opened_at + self.config.open_seconds
        if state.state == "HALF_OPEN" and state.trial_started_at is not None:
            return state.trial_started_at + self.config.trial_timeout_seconds
        return None
