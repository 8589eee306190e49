"""The shared world and fault vocabulary of the conformance suites, and one harness per adapter.

A harness builds an adapter, installs the world into whatever backs it (the mock's memory, or a
vendor's fake server) and scripts faults. Every registered adapter must have a harness listed in
``harnesses.py``: ``test_registry.py`` fails otherwise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

from fearvana_integration.adapters.base import Adapter, CRMAdapter, EmailAdapter, SchedulingAdapter
from fearvana_integration.adapters.crm.mock import MockCRMAdapter, MockCrmRecord
from fearvana_integration.adapters.email.mock import MockEmailAdapter
from fearvana_integration.adapters.mock_support import SlowResponse
from fearvana_integration.adapters.scheduling.mock import MockSchedulingAdapter
from fearvana_integration.clock import FakeClock
from fearvana_integration.domain.crm import CrmContact, InteractionRecord, Ticket
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.domain.scheduling import Appointment
from fearvana_integration.errors import (
    ProviderAuthError,
    ProviderResponseInvalid,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)

Fault = Literal["unavailable", "rate_limited", "quota", "auth", "malformed", "slow", "expired", "missing_scope"]
FAULTS: tuple[Fault, ...] = ("unavailable", "rate_limited", "quota", "auth", "malformed", "slow")
# Scheduling harnesses also script the two auth failures health and the AI's notes tell apart.
AUTH_FAULTS: tuple[Fault, ...] = ("expired", "missing_scope")

# A Monday morning, before the coach's working hours start.
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

KNOWN = CustomerRef(
    id=UUID("11111111-1111-4111-8111-111111111111"), email="known@example.com", display_name="Kim Known"
)
OTHER = CustomerRef(
    id=UUID("22222222-2222-4222-8222-222222222222"), email="other@example.com", display_name="Ola Other"
)
UNKNOWN = CustomerRef(id=UUID("33333333-3333-4333-8333-333333333333"), email="nobody@example.com")


@dataclass(frozen=True)
class CrmWorld:
    """What the CRM holds about KNOWN (OTHER exists too, UNKNOWN does not)."""

    stage: str = "active"
    tags: tuple[str, ...] = ("newsletter", "sacred-edge-program")
    sentiment: str = "positive"
    last_interaction: datetime = NOW - timedelta(days=3)
    open_tickets: tuple[tuple[str, str], ...] = (("Billing question", "high"), ("Sync problem", "low"))
    closed_tickets: tuple[str, ...] = ("Old closed issue",)


@dataclass(frozen=True)
class SchedulingWorld:
    """KNOWN's sessions relative to NOW."""

    upcoming_hours: tuple[int, ...] = (30, 30 + 7 * 24)  # the first within 48 h
    past_days: tuple[int, ...] = (7, 14, 21, 28)
    no_show_days: tuple[int, ...] = (35,)
    later_than_window_days: int = 20  # scheduled, but beyond the 14-day upcoming window
    notes: str = "Worked on the morning routine."


@dataclass
class Harness(ABC):
    """Builds one adapter against its backing world and scripts faults."""

    clock: FakeClock = field(default_factory=lambda: FakeClock(NOW))

    @abstractmethod
    async def start(self) -> Adapter:
        """The adapter, with the world installed."""

    @abstractmethod
    def fail_next(self, operation: str, fault: Fault) -> None:
        """Make the next call of ``operation`` fail with ``fault``."""

    async def stop(self) -> None:  # noqa: B027 - optional
        """Release servers and clients."""


def mock_fault(fault: Fault) -> BaseException | SlowResponse:
    """The error a real adapter would raise for each scripted fault, as the mock raises it."""
    faults: dict[Fault, BaseException | SlowResponse] = {
        "unavailable": ProviderUnavailable("503 Service Unavailable", source="mock"),
        "rate_limited": RateLimited("429 Too Many Requests", source="mock", retry_after=2.0),
        "quota": QuotaExhausted("daily quota used up", source="mock", resets_at=NOW + timedelta(hours=16)),
        "auth": ProviderAuthError("401 Unauthorized", source="mock"),
        "expired": ProviderAuthError("401 token expired", source="mock", reason="expired"),
        "missing_scope": ProviderAuthError("403 missing scope", source="mock", reason="missing_scope"),
        "malformed": ProviderResponseInvalid("malformed JSON", source="mock"),
        "slow": SlowResponse(5.0),
    }
    return faults[fault]


class MockCrmHarness(Harness):
    """The mock CRM with the world in memory."""

    async def start(self) -> CRMAdapter:
        adapter = MockCRMAdapter(self.clock).configure(latency_ms=(0, 0))
        world = CrmWorld()
        tickets = [
            Ticket(id=f"t{i}", subject=subject, status="open", priority=priority, created_at=NOW - timedelta(days=i))
            for i, (subject, priority) in enumerate(world.open_tickets, start=1)
        ] + [Ticket(id="t9", subject=s, status="closed", priority=None) for s in world.closed_tickets]
        adapter.put_record(
            KNOWN.email,
            MockCrmRecord(
                contact=CrmContact(id="c-known", email=KNOWN.email, display_name=KNOWN.display_name),
                stage="active",
                tags=list(world.tags),
                sentiment="positive",
                last_interaction=world.last_interaction,
                tickets=tickets,
                history=[
                    InteractionRecord(
                        crm_id="h1", type="call", timestamp=world.last_interaction, summary="Intro call", sentiment=None
                    )
                ],
            ),
        )
        adapter.put_record(
            OTHER.email,
            MockCrmRecord(
                contact=CrmContact(id="c-other", email=OTHER.email),
                stage="vip",
                tags=[],
                sentiment="neutral",
                last_interaction=None,
                tickets=[],
            ),
        )
        adapter.put_record(UNKNOWN.email, None)
        self.adapter = adapter
        return adapter

    def fail_next(self, operation: str, fault: Fault) -> None:
        self.adapter.inject_fault(operation, mock_fault(fault))


def world_appointments(customer: CustomerRef, world: SchedulingWorld) -> list[Appointment]:
    """KNOWN's sessions as Appointment objects (for backends that take them directly)."""

    def make(start: datetime, status: str, index: int) -> Appointment:
        return Appointment.model_validate(
            {
                "id": f"appt-{index}",
                "customer_id": customer.id,
                "type": "coaching-session",
                "start_time": start,
                "end_time": start + timedelta(minutes=60),
                "duration": 60,
                "notes": world.notes if status == "completed" else None,
                "outcome": "Committed to next step" if status == "completed" else None,
                "status": status,
                "provider_ref": f"world:{index}",
            }
        )

    appointments = [make(NOW + timedelta(hours=h), "scheduled", i) for i, h in enumerate(world.upcoming_hours)]
    appointments += [make(NOW - timedelta(days=d), "completed", 10 + i) for i, d in enumerate(world.past_days)]
    appointments += [make(NOW - timedelta(days=d), "no-show", 20 + i) for i, d in enumerate(world.no_show_days)]
    appointments.append(make(NOW + timedelta(days=world.later_than_window_days), "scheduled", 30))
    return appointments


class MockSchedulingHarness(Harness):
    """The mock scheduling platform with the world in memory."""

    async def start(self) -> SchedulingAdapter:
        adapter = MockSchedulingAdapter(self.clock).configure(latency_ms=(0, 0))
        adapter.put_appointments(KNOWN, world_appointments(KNOWN, SchedulingWorld()))
        adapter.put_appointments(OTHER, [])
        self.adapter = adapter
        return adapter

    def fail_next(self, operation: str, fault: Fault) -> None:
        self.adapter.inject_fault(operation, mock_fault(fault))


class MockEmailHarness(Harness):
    """The mock email service."""

    async def start(self) -> EmailAdapter:
        self.adapter = MockEmailAdapter(self.clock).configure(latency_ms=(0, 0))
        return self.adapter

    def fail_next(self, operation: str, fault: Fault) -> None:
        self.adapter.inject_fault(operation, mock_fault(fault))
