"""A CRM that lives in memory: realistic, deterministic per customer, writes visible in later reads.

For development without API keys and for tests. About one customer in twelve is not in the CRM
(as in real life); the demo customers follow their scenarios (``mock_scenarios``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from fearvana_integration.adapters.base import CRMAdapter
from fearvana_integration.adapters.mock_scenarios import scenario_for
from fearvana_integration.adapters.mock_support import MockBehaviour
from fearvana_integration.clock import Clock
from fearvana_integration.domain.crm import (
    CrmContact,
    CRMContext,
    Interaction,
    InteractionRecord,
    LifecycleStage,
    Sentiment,
    Ticket,
)
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.errors import CustomerNotFound

_STAGES: tuple[LifecycleStage, ...] = ("onboarding", "active", "active", "active", "at-risk", "vip", "churned")
_SENTIMENTS: tuple[Sentiment, ...] = ("positive", "positive", "neutral", "neutral", "negative")
_TAGS = ("newsletter", "sacred-edge-program", "retreat-2026", "referral", "podcast-listener", "app-beta", "annual-plan")
_TICKET_SUBJECTS = (
    "Billing question about the annual plan",
    "Cannot sync workout data from my watch",
    "Request to move next session",
    "App crashes when logging sleep",
    "Invoice needed for employer reimbursement",
    "Question about the Sacred Edge workbook",
)
_HISTORY_SUMMARIES = (
    "Talked through the week's training plan and sleep routine.",
    "Customer shared progress on the morning meditation habit.",
    "Follow-up on the savings goal; agreed to review budget weekly.",
    "Check-in call: energy low after travel, adjusted targets.",
    "Email: sent the Sacred Edge reflection worksheet.",
)
_NOT_IN_CRM_ONE_IN = 12


@dataclass
class MockCrmRecord:
    """One contact in the mock CRM."""

    contact: CrmContact
    stage: LifecycleStage | None
    tags: list[str]
    sentiment: Sentiment | None
    last_interaction: datetime | None
    tickets: list[Ticket]
    history: list[InteractionRecord] = field(default_factory=list)


class MockCRMAdapter(MockBehaviour, CRMAdapter):
    """In-memory CRM with the same contract (and conformance suite) as HubSpot, Salesforce, Pipedrive."""

    name: ClassVar[str] = "mock"
    source: ClassVar[str] = "crm"

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self._records: dict[str, MockCrmRecord | None] = {}

    def _clear_data(self) -> None:
        self._records.clear()

    # World setup for tests ------------------------------------------------------------------------

    def put_record(self, email: str, record: MockCrmRecord | None) -> None:
        """Replace what the CRM knows about ``email`` (None: not in the CRM)."""
        self._records[email.strip().lower()] = record

    # Contract -------------------------------------------------------------------------------------

    async def ping(self) -> None:
        """Always reachable unless a fault is scripted."""
        await self._enter("ping")

    async def find_contact(self, customer: CustomerRef) -> CrmContact | None:
        """The contact by email, or None."""
        await self._enter("find_contact", str(customer.id))
        record = self._record(customer)
        return record.contact if record else None

    async def get_crm_context(self, customer: CustomerRef) -> CRMContext | None:
        """Stage, tags, sentiment, last interaction and open tickets, or None when not in the CRM."""
        await self._enter("get_crm_context", str(customer.id))
        record = self._record(customer)
        if record is None:
            return None
        open_tickets = [ticket for ticket in record.tickets if ticket.status != "closed"]
        return CRMContext(
            lifecycle_stage=record.stage,
            tags=list(record.tags),
            last_interaction=record.last_interaction,
            sentiment=record.sentiment,
            open_tickets=len(open_tickets),
            tickets=open_tickets,
            contact_email=record.contact.email if record.contact.email.lower() != customer.email.lower() else None,
        )

    async def get_open_tickets(self, customer: CustomerRef) -> list[Ticket]:
        """Open tickets, newest first."""
        await self._enter("get_open_tickets", str(customer.id))
        record = self._record(customer)
        if record is None:
            return []
        return [ticket for ticket in record.tickets if ticket.status != "closed"]

    async def get_interaction_history(self, customer: CustomerRef, limit: int = 20) -> list[InteractionRecord]:
        """Generated history plus everything logged, newest first."""
        await self._enter("get_interaction_history", str(customer.id))
        record = self._record(customer)
        if record is None:
            return []
        return sorted(record.history, key=lambda item: item.timestamp, reverse=True)[:limit]

    async def log_interaction(self, customer: CustomerRef, interaction: Interaction) -> str:
        """Append to the history, move the last-interaction date, take the sentiment."""
        await self._enter("log_interaction", str(customer.id))
        record = self._require(customer)
        crm_id = f"mock-note-{uuid.uuid4().hex[:12]}"
        record.history.append(
            InteractionRecord(
                crm_id=crm_id,
                type=interaction.type,
                timestamp=interaction.timestamp,
                summary=interaction.summary,
                sentiment=interaction.sentiment,
            )
        )
        if record.last_interaction is None or interaction.timestamp > record.last_interaction:
            record.last_interaction = interaction.timestamp
        if interaction.sentiment is not None:
            record.sentiment = interaction.sentiment
        return crm_id

    async def update_sentiment(self, customer: CustomerRef, sentiment: Sentiment) -> None:
        """Set the sentiment field."""
        await self._enter("update_sentiment", str(customer.id))
        self._require(customer).sentiment = sentiment

    # Data -----------------------------------------------------------------------------------------

    def _require(self, customer: CustomerRef) -> MockCrmRecord:
        record = self._record(customer)
        if record is None:
            raise CustomerNotFound(f"{customer.id} (not in the CRM)")
        return record

    def _record(self, customer: CustomerRef) -> MockCrmRecord | None:
        key = customer.email.strip().lower()
        if key not in self._records:
            self._records[key] = self._generate(customer)
        return self._records[key]

    def _generate(self, customer: CustomerRef) -> MockCrmRecord | None:
        rng = self.customer_rng(str(customer.id), "crm")
        scenario = scenario_for(customer.email)
        in_crm = scenario.in_crm if scenario else rng.randrange(_NOT_IN_CRM_ONE_IN) != 0
        if not in_crm:
            return None
        today = self.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        stage = scenario.stage if scenario and scenario.stage else rng.choice(_STAGES)
        sentiment = scenario.sentiment if scenario and scenario.sentiment else rng.choice(_SENTIMENTS)
        ticket_count = (
            scenario.open_tickets
            if scenario and scenario.open_tickets is not None
            else rng.choice((0, 0, 0, 1, 1, 2, 3))
        )
        tickets = [
            Ticket(
                id=f"mock-ticket-{rng.randrange(10**8):08d}",
                subject=subject,
                status=rng.choice(("open", "open", "pending")),
                priority=rng.choice(("low", "medium", "medium", "high")),
                created_at=today - timedelta(days=rng.randrange(1, 30)) + timedelta(hours=rng.randrange(8, 18)),
            )
            for subject in rng.sample(_TICKET_SUBJECTS, ticket_count)
        ]
        tickets.sort(key=lambda ticket: ticket.created_at or today, reverse=True)
        history = [
            InteractionRecord(
                crm_id=f"mock-note-{rng.randrange(16**12):012x}",
                type=rng.choice(("chat", "call", "email")),
                timestamp=today - timedelta(days=3 + 9 * i + rng.randrange(5)) + timedelta(hours=rng.randrange(8, 18)),
                summary=rng.choice(_HISTORY_SUMMARIES),
                sentiment=rng.choice(_SENTIMENTS),
            )
            for i in range(rng.randrange(2, 6))
        ]
        contact = CrmContact(
            id=f"mock-contact-{rng.randrange(16**10):010x}",
            email=customer.email,
            display_name=customer.display_name,
        )
        return MockCrmRecord(
            contact=contact,
            stage=stage,
            tags=sorted(rng.sample(_TAGS, rng.randrange(0, 4))),
            sentiment=sentiment,
            last_interaction=max((item.timestamp for item in history), default=None),
            tickets=tickets,
            history=history,
        )
