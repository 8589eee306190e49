"""Where the mock scheduling platform keeps what changes: bookings and cancellations.

The mock invents each customer's history and standing sessions (deterministically, per process);
only what someone *does* — a booking, a cancellation — is recorded here. In memory by default (tests,
the conformance suite); in the project's own store (``integration.mock_appointments``) when the
runtime binds it, so every worker sees the same calendar and a restart forgets nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

import sqlalchemy as sa

from fearvana_integration.domain.scheduling import Appointment

if TYPE_CHECKING:
    from fearvana_integration.store.repository import CustomerStore


class MockCalendar(Protocol):
    """Recorded changes to the mock's calendar."""

    async def of_customer(self, customer_id: UUID) -> list[Appointment]:
        """The customer's recorded appointments (bookings, and cancellations of invented ones)."""
        ...

    async def between(self, start: datetime, end: datetime) -> list[tuple[Appointment, str | None]]:
        """Recorded appointments overlapping ``[start, end)``, any customer, with the invitee's email."""
        ...

    async def by_booking(self, booking_id: str) -> Appointment | None:
        """The appointment made with ``booking_id``, if any."""
        ...

    async def record(self, appointment: Appointment, email: str | None, booking_id: str | None = None) -> None:
        """Add or replace (same id) one appointment."""
        ...

    async def clear(self) -> None:
        """Forget everything (tests)."""
        ...


class MemoryCalendar:
    """This process only."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[Appointment, str | None, str | None]] = {}

    async def of_customer(self, customer_id: UUID) -> list[Appointment]:
        """See :class:`MockCalendar`."""
        return [a for a, _, _ in self.rows.values() if a.customer_id == customer_id]

    async def between(self, start: datetime, end: datetime) -> list[tuple[Appointment, str | None]]:
        """See :class:`MockCalendar`."""
        return [(a, email) for a, email, _ in self.rows.values() if a.start_time < end and start < a.end_time]

    async def by_booking(self, booking_id: str) -> Appointment | None:
        """See :class:`MockCalendar`."""
        return next((a for a, _, bid in self.rows.values() if bid == booking_id), None)

    async def record(self, appointment: Appointment, email: str | None, booking_id: str | None = None) -> None:
        """See :class:`MockCalendar`."""
        previous = self.rows.get(appointment.id)
        self.rows[appointment.id] = (appointment, email, booking_id or (previous[2] if previous else None))

    async def clear(self) -> None:
        """See :class:`MockCalendar`."""
        self.rows.clear()


class StoreCalendar:
    """The project's own table, written as ``service_role`` (the mock acts for the platform)."""

    def __init__(self, store: CustomerStore) -> None:
        self.store = store
        self.table = store.tables.mock_appointments

    @staticmethod
    def _appointment(row: sa.Row[tuple[object, ...]]) -> Appointment:
        fields = row._mapping
        return Appointment.model_validate(
            {
                "id": fields["id"],
                "customer_id": fields["customer_id"],
                "type": fields["type"],
                "start_time": fields["start_time"],
                "end_time": fields["end_time"],
                "duration": int((fields["end_time"] - fields["start_time"]).total_seconds() // 60),
                "notes": fields["notes"],
                "outcome": fields["outcome"],
                "status": fields["status"],
                "join_url": fields["join_url"],
                "provider_ref": f"mock-event:{fields['id']}",
            }
        )

    async def of_customer(self, customer_id: UUID) -> list[Appointment]:
        """See :class:`MockCalendar`."""
        query = sa.select(self.table).where(self.table.c.customer_id == customer_id)
        async with self.store.transaction(None, role="service_role") as conn:
            return [self._appointment(row) for row in await conn.execute(query)]

    async def between(self, start: datetime, end: datetime) -> list[tuple[Appointment, str | None]]:
        """See :class:`MockCalendar`."""
        query = sa.select(self.table).where(self.table.c.start_time < end, self.table.c.end_time > start)
        async with self.store.transaction(None, role="service_role") as conn:
            return [(self._appointment(row), row._mapping["email"]) for row in await conn.execute(query)]

    async def by_booking(self, booking_id: str) -> Appointment | None:
        """See :class:`MockCalendar`."""
        query = sa.select(self.table).where(self.table.c.booking_id == booking_id)
        async with self.store.transaction(None, role="service_role") as conn:
            row = (await conn.execute(query)).first()
        return self._appointment(row) if row is not None else None

    async def record(self, appointment: Appointment, email: str | None, booking_id: str | None = None) -> None:
        """See :class:`MockCalendar` (a replaced row keeps its booking id)."""
        values = {
            "customer_id": appointment.customer_id,
            "email": email,
            "type": appointment.type,
            "start_time": appointment.start_time,
            "end_time": appointment.end_time,
            "status": appointment.status,
            "notes": appointment.notes,
            "outcome": appointment.outcome,
            "join_url": appointment.join_url,
            "updated_at": datetime.now(appointment.start_time.tzinfo),
        }
        async with self.store.transaction(None, role="service_role") as conn:
            updated = await conn.execute(sa.update(self.table).where(self.table.c.id == appointment.id).values(values))
            if not updated.rowcount:
                await conn.execute(sa.insert(self.table).values(id=appointment.id, booking_id=booking_id, **values))

    async def clear(self) -> None:
        """See :class:`MockCalendar`."""
        async with self.store.transaction(None, role="service_role") as conn:
            await conn.execute(sa.delete(self.table))
