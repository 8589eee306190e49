"""The scripted-fault vocabulary every vendor fake shares, and a log of the requests it served.

Each fake renders a fault in its own vendor's wire format (status, headers, error body); this
module only decides *which* request gets *which* fault.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import Request

FaultName = Literal["unavailable", "rate_limited", "quota", "auth", "malformed", "slow"]
FAULT_NAMES: tuple[FaultName, ...] = ("unavailable", "rate_limited", "quota", "auth", "malformed", "slow")

SLOW_SECONDS = 5.0
RETRY_AFTER_SECONDS = 2


@dataclass
class ScriptedFault:
    """``fault`` for the next ``remaining`` requests whose path contains ``path_contains`` (any when None)."""

    fault: FaultName
    remaining: int
    path_contains: str | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """One request a fake received (for tests asserting what the adapter sent)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FaultScript:
    """Faults waiting for requests, first scripted first served."""

    pending: list[ScriptedFault] = field(default_factory=list)

    def add(self, fault: FaultName, *, times: int = 1, path_contains: str | None = None) -> None:
        """Script ``fault`` for the next ``times`` matching requests."""
        if fault not in FAULT_NAMES:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULT_NAMES)}")
        self.pending.append(ScriptedFault(fault, times, path_contains))

    def take(self, path: str) -> FaultName | None:
        """The fault for a request to ``path``, consuming one use of it; None when none applies."""
        for scripted in self.pending:
            if scripted.path_contains is None or scripted.path_contains in path:
                scripted.remaining -= 1
                if scripted.remaining <= 0:
                    self.pending.remove(scripted)
                return scripted.fault
        return None

    def clear(self) -> None:
        """Forget every scripted fault."""
        self.pending.clear()


async def record(request: Request) -> RecordedRequest:
    """The request as a :class:`RecordedRequest` (reads the body)."""
    return RecordedRequest(
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.body(),
    )


async def slow() -> None:
    """What the ``slow`` fault does before answering normally: take longer than any sane timeout."""
    await asyncio.sleep(SLOW_SECONDS)
