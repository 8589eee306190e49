"""The adapter contracts: one abstract class per kind of provider.

Every adapter is async and receives a :class:`CustomerRef`; a provider finds the customer by the
profile's email. Adapters translate their vendor's errors into the tree of ``errors.py`` — nothing
outside an adapter ever sees an httpx or vendor exception. An operation the vendor cannot do raises
:class:`CapabilityNotSupported`; a degraded answer is never dressed up as data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar, Literal, Self

from fearvana_integration.clock import Clock
from fearvana_integration.domain.crm import (
    CrmContact,
    CRMContext,
    Interaction,
    InteractionRecord,
    Sentiment,
    Ticket,
)
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.domain.email import EmailMessage
from fearvana_integration.domain.scheduling import (
    Appointment,
    AppointmentType,
    DateRange,
    ListedAppointment,
    SchedulingContext,
    TimeSlot,
    build_scheduling_context,
)

if TYPE_CHECKING:
    import httpx

    from fearvana_integration.config import Settings

AdapterKind = Literal["crm", "scheduling", "email"]


class Adapter(ABC):
    """What every adapter has: a name, a kind, its capabilities, a ping and a close."""

    name: ClassVar[str]
    kind: ClassVar[AdapterKind]
    capabilities: ClassVar[frozenset[str]]

    @abstractmethod
    async def ping(self) -> None:
        """One cheap authenticated round trip; raises a ProviderError when the provider is not usable."""

    @classmethod
    def from_settings(cls, settings: Settings, *, http_client: httpx.AsyncClient, clock: Clock) -> Self:
        """Build a real vendor's adapter from settings, on the runtime's shared HTTP client.

        Mocks are process-wide singletons instead (``get_instance``); they do not override this.
        """
        from fearvana_integration.errors import ConfigurationError

        raise ConfigurationError(f"{cls.__name__} cannot be built from settings")

    @classmethod
    def missing_settings(cls, settings: Settings) -> str | None:
        """What a real vendor's adapter still needs, as the error to show, or None when complete.

        By default the kind's API key (``CRM_API_KEY`` …); vendors that sign in otherwise override it.
        """
        key = getattr(settings, f"{cls.kind}_api_key")
        if key is None or not key.get_secret_value().strip():
            return f"Missing required environment variable: {cls.kind.upper()}_API_KEY"
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most adapters share the runtime's client
        """Release what the adapter owns (the shared HTTP client is closed by the runtime)."""


class CRMAdapter(Adapter):
    """A CRM: who the customer is to sales and support, and where interactions are logged."""

    kind: ClassVar[AdapterKind] = "crm"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"find_contact", "crm_context", "tickets", "interaction_history", "log_interaction", "update_sentiment"}
    )

    @abstractmethod
    async def find_contact(self, customer: CustomerRef) -> CrmContact | None:
        """The customer's CRM record by the profile's email; None when the CRM does not know them."""

    @abstractmethod
    async def get_crm_context(self, customer: CustomerRef) -> CRMContext | None:
        """Stage, tags, last interaction, sentiment and open tickets; None when not in the CRM.

        A stage the mapping does not know is ``None`` (never a guess); a CRM without tickets gives
        ``open_tickets=None``.
        """

    @abstractmethod
    async def get_open_tickets(self, customer: CustomerRef) -> list[Ticket]:
        """The customer's open tickets, newest first. CapabilityNotSupported where the CRM has none."""

    @abstractmethod
    async def get_interaction_history(self, customer: CustomerRef, limit: int = 20) -> list[InteractionRecord]:
        """Logged interactions, newest first, at most ``limit``."""

    @abstractmethod
    async def log_interaction(self, customer: CustomerRef, interaction: Interaction) -> str:
        """Record the interaction as the vendor's note/activity; returns the CRM's id for it.

        Raises CustomerNotFound when the customer is not in the CRM.
        """

    @abstractmethod
    async def update_sentiment(self, customer: CustomerRef, sentiment: Sentiment) -> None:
        """Set the customer's sentiment field. Raises CustomerNotFound when not in the CRM."""


class SchedulingAdapter(Adapter):
    """A scheduling platform: the coach's availability and the customer's sessions."""

    kind: ClassVar[AdapterKind] = "scheduling"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"upcoming", "past", "availability", "book", "cancel", "scheduling_context"}
    )

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    @abstractmethod
    async def get_upcoming_appointments(self, customer: CustomerRef, days: int = 14) -> list[Appointment]:
        """Scheduled appointments from now until ``days`` ahead, soonest first."""

    @abstractmethod
    async def get_past_appointments(self, customer: CustomerRef, limit: int = 20) -> list[Appointment]:
        """Appointments that have started, newest first, at most ``limit``."""

    @abstractmethod
    async def count_completed_sessions(self, customer: CustomerRef) -> int:
        """Completed sessions over the customer's whole history."""

    @abstractmethod
    async def get_availability(self, date_range: DateRange, appointment_type: AppointmentType) -> list[TimeSlot]:
        """Free slots of ``appointment_type`` in ``date_range``, earliest first."""

    @abstractmethod
    async def book_appointment(
        self,
        customer: CustomerRef,
        slot: TimeSlot,
        appointment_type: AppointmentType,
        booking_id: str | None = None,
    ) -> Appointment:
        """Book ``slot`` after re-checking it; SlotUnavailable (with alternatives) when it is taken.

        ``booking_id`` (the caller's id for this booking) makes a retry safe: an adapter that may
        already have booked it — the first attempt timed out after the platform acted — finds that
        booking and returns it instead of booking twice. A platform that would not book directly
        returns ``status="pending-link"`` with ``booking_url`` for the customer to finish.
        """

    @abstractmethod
    async def list_appointments(self, date_range: DateRange) -> list[ListedAppointment]:
        """Every customer's scheduled sessions starting in ``date_range``, soonest first (reminders):
        the coach's whole calendar of sessions, each with its invitee's email (and our customer id
        where the platform carries it). CapabilityNotSupported where the platform cannot list."""

    @abstractmethod
    async def cancel_appointment(self, customer: CustomerRef, appointment_id: str) -> Appointment:
        """Cancel the customer's own appointment; AppointmentNotFound for anyone else's."""

    async def get_scheduling_context(self, customer: CustomerRef) -> SchedulingContext:
        """Next and upcoming sessions (14 days), recent completed ones, count, preparation flag."""
        upcoming = await self.get_upcoming_appointments(customer, days=14)
        past = await self.get_past_appointments(customer, limit=20)
        count = await self.count_completed_sessions(customer)
        return build_scheduling_context(upcoming, past, count, self.clock.now())

    async def alternatives_near(
        self, slot: TimeSlot, appointment_type: AppointmentType, limit: int = 3
    ) -> list[TimeSlot]:
        """Free slots of the same type closest after ``slot`` (searching 7 days ahead)."""
        start = max(slot.start_time, self.clock.now())
        window = DateRange(start_date=start, end_date=start + timedelta(days=7))
        free = await self.get_availability(window, appointment_type)
        return [s for s in free if s.start_time != slot.start_time][:limit]


class EmailAdapter(Adapter):
    """An email service."""

    kind: ClassVar[AdapterKind] = "email"
    capabilities: ClassVar[frozenset[str]] = frozenset({"send"})

    @abstractmethod
    async def send(self, message: EmailMessage) -> str:
        """Hand the message to the provider; returns the provider's message id."""
