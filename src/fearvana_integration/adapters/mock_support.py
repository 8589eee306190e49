"""What the three mock adapters share: process-wide singletons, simulated latency and failures,
scripted faults, per-operation call counters and deterministic per-customer randomness."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from fearvana_integration.clock import Clock, SystemClock
from fearvana_integration.errors import ProviderUnavailable, source_label


@dataclass(frozen=True)
class SlowResponse:
    """A scripted fault: the call takes ``seconds`` longer (to exercise timeouts)."""

    seconds: float


Fault = BaseException | type[BaseException] | SlowResponse


@dataclass(frozen=True)
class MockCall:
    """One call a mock served: which operation, for whom, how long it pretended to take."""

    operation: str
    customer_id: str | None
    latency_seconds: float
    failed: bool


@dataclass
class _ScriptedFault:
    fault: Fault
    remaining: int


class MockBehaviour:
    """Mixin giving a mock adapter its knobs. Subclasses set ``source`` and implement ``_clear_data``."""

    source: ClassVar[str]
    _instances: ClassVar[dict[type, Any]] = {}

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.latency_ms: tuple[int, int] = (50, 200)
        self.failure_rate = 0.0
        self.seed = 0
        self.call_counts: Counter[str] = Counter()
        self.calls: deque[MockCall] = deque(maxlen=100_000)
        self._faults: dict[str, list[_ScriptedFault]] = {}
        self._noise = random.Random()
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @classmethod
    def get_instance(cls) -> Self:
        """The process-wide instance (created on first use); the runtime uses it when a mock is selected."""
        instance = MockBehaviour._instances.get(cls)
        if instance is None:
            instance = cls()
            MockBehaviour._instances[cls] = instance
        return instance

    def configure(
        self,
        *,
        latency_ms: tuple[int, int] | None = None,
        failure_rate: float | None = None,
        seed: int | None = None,
        clock: Clock | None = None,
    ) -> Self:
        """Set the knobs (``MOCK_LATENCY_MS``, ``*_MOCK_FAILURE_RATE``, ``MOCK_SEED``, the clock)."""
        if latency_ms is not None:
            self.latency_ms = latency_ms
        if failure_rate is not None:
            self.failure_rate = failure_rate
        if seed is not None and seed != self.seed:
            self.seed = seed
            self._clear_data()
        if clock is not None:
            self.clock = clock
        return self

    def clear_all_data(self) -> None:
        """Forget every write, scripted fault and counter; generated data comes back as it was."""
        self._clear_data()
        self._faults.clear()
        self.call_counts.clear()
        self.calls.clear()

    def _clear_data(self) -> None:
        raise NotImplementedError

    def inject_fault(self, operation: str, error: Fault, times: int = 1) -> None:
        """Make the next ``times`` calls of ``operation`` (or ``"*"`` for any) fail with ``error``."""
        if times < 1:
            raise ValueError("times must be at least 1")
        self._faults.setdefault(operation, []).append(_ScriptedFault(error, times))

    def customer_rng(self, customer_key: str, purpose: str) -> random.Random:
        """A generator seeded by (MOCK_SEED, customer, purpose): the same data in every process."""
        return random.Random(f"{self.seed}:{self.source}:{purpose}:{customer_key}")

    def _take_fault(self, operation: str) -> Fault | None:
        for key in (operation, "*"):
            queue = self._faults.get(key)
            if queue:
                scripted = queue[0]
                scripted.remaining -= 1
                if scripted.remaining <= 0:
                    queue.pop(0)
                return scripted.fault
        return None

    async def _enter(self, operation: str, customer_id: str | None = None) -> None:
        """Count the call, wait the simulated latency, then apply a scripted or random failure."""
        self.call_counts[operation] += 1
        low, high = self.latency_ms
        latency = (low if low == high else self._noise.uniform(low, high)) / 1000
        fault = self._take_fault(operation)
        if isinstance(fault, SlowResponse):
            latency += fault.seconds
            fault = None
        failed = fault is not None or (self.failure_rate > 0 and self._noise.random() < self.failure_rate)
        self.calls.append(MockCall(operation, customer_id, latency, failed))
        if latency > 0:
            await self.sleep(latency)
        if fault is not None:
            raise fault
        if failed:
            raise ProviderUnavailable(
                f"Mock {source_label(self.source)} failure (simulated by the failure rate)",
                source=self.source,
                operation=operation,
            )
