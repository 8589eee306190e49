"""A scheduling platform in memory: one coach, weekday working hours, deterministic sessions per customer.

The coach works Monday-Friday 09:00-17:00 UTC on a 30-minute grid; about a quarter of the hours are
taken by other commitments (derived from the date, so every process agrees). Each customer's sessions
are derived from their id (or their demo scenario) and anchored to the current UTC day. Bookings are
checked again under a lock, so two customers can never get the same slot.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import datetime, timedelta
from typing import ClassVar

from fearvana_integration.adapters.base import SchedulingAdapter
from fearvana_integration.adapters.mock_scenarios import SessionPattern, scenario_for
from fearvana_integration.adapters.mock_support import MockBehaviour
from fearvana_integration.clock import Clock, SystemClock
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.domain.scheduling import (
    DEFAULT_DURATIONS_MINUTES,
    Appointment,
    AppointmentType,
    DateRange,
    SchedulingContext,
    TimeSlot,
    build_scheduling_context,
)
from fearvana_integration.errors import AppointmentNotFound, ProviderRejected, SlotUnavailable

WORK_START_HOUR = 9
WORK_END_HOUR = 17
GRID_MINUTES = 30
BUSY_SHARE = 0.25
_NOTES = (
    "Worked on the morning routine; customer committed to 20 minutes of meditation.",
    "Reviewed sleep data; agreed to a fixed bedtime on weeknights.",
    "Explored fear around the career change; set a Sacred Edge experiment.",
    "Budget review: savings rate up two points since last month.",
    "Relationship check-in: planned a weekly date night.",
)
_OUTCOMES = ("Committed to next step", "Goal adjusted", "Breakthrough on limiting belief", "Needs follow-up")


class MockSchedulingAdapter(MockBehaviour, SchedulingAdapter):
    """In-memory scheduling with the same contract (and conformance suite) as Calendly, Acuity, Google."""

    name: ClassVar[str] = "mock"
    source: ClassVar[str] = "scheduling"

    def __init__(self, clock: Clock | None = None) -> None:
        MockBehaviour.__init__(self, clock or SystemClock())
        SchedulingAdapter.__init__(self, self.clock)
        self._appointments: dict[str, list[Appointment]] = {}
        self._lock = asyncio.Lock()

    def _clear_data(self) -> None:
        self._appointments.clear()

    # World setup for tests ------------------------------------------------------------------------

    def put_appointments(self, customer: CustomerRef, appointments: list[Appointment]) -> None:
        """Replace the customer's sessions."""
        self._appointments[str(customer.id)] = list(appointments)

    # Contract -------------------------------------------------------------------------------------

    async def ping(self) -> None:
        """Always reachable unless a fault is scripted."""
        await self._enter("ping")

    async def get_upcoming_appointments(self, customer: CustomerRef, days: int = 14) -> list[Appointment]:
        """Scheduled sessions from now to ``days`` ahead, soonest first."""
        await self._enter("get_upcoming_appointments", str(customer.id))
        return self._upcoming(customer, days)

    async def get_past_appointments(self, customer: CustomerRef, limit: int = 20) -> list[Appointment]:
        """Sessions that have started, newest first."""
        await self._enter("get_past_appointments", str(customer.id))
        return self._past(customer)[:limit]

    async def count_completed_sessions(self, customer: CustomerRef) -> int:
        """Completed sessions ever."""
        await self._enter("count_completed_sessions", str(customer.id))
        return sum(1 for a in self._past(customer) if a.status == "completed")

    async def get_scheduling_context(self, customer: CustomerRef) -> SchedulingContext:
        """One simulated call (a real platform may need several)."""
        await self._enter("get_scheduling_context", str(customer.id))
        past = self._past(customer)
        count = sum(1 for a in past if a.status == "completed")
        return build_scheduling_context(self._upcoming(customer, 14), past, count, self.clock.now())

    async def get_availability(self, date_range: DateRange, appointment_type: AppointmentType) -> list[TimeSlot]:
        """Free grid slots of the type's duration inside the range, from now on."""
        await self._enter("get_availability")
        return self._free_slots(date_range, appointment_type)

    async def book_appointment(
        self, customer: CustomerRef, slot: TimeSlot, appointment_type: AppointmentType
    ) -> Appointment:
        """Re-check the slot under the lock and book it, or raise SlotUnavailable with alternatives."""
        await self._enter("book_appointment", str(customer.id))
        duration = DEFAULT_DURATIONS_MINUTES[appointment_type]
        start = slot.start_time
        end = start + timedelta(minutes=duration)
        async with self._lock:
            problem = self._slot_problem(start, end)
            if problem is None:
                appointment = Appointment(
                    id=f"mock-appt-{uuid.uuid4().hex[:16]}",
                    customer_id=customer.id,
                    type=appointment_type,
                    start_time=start,
                    end_time=end,
                    duration=duration,
                    status="scheduled",
                    join_url=None,
                    provider_ref=f"mock-slot:{appointment_type}:{start.isoformat()}",
                )
                appointment = appointment.model_copy(
                    update={"join_url": f"https://meet.fearvana.local/{appointment.id}"}
                )
                self._customer_appointments(customer).append(appointment)
                return appointment
        raise SlotUnavailable(
            f"The slot at {start.strftime('%Y-%m-%d %H:%M')} UTC is not available: {problem}",
            alternatives=await self.alternatives_near(slot, appointment_type),
        )

    async def cancel_appointment(self, customer: CustomerRef, appointment_id: str) -> Appointment:
        """Cancel one of the customer's own scheduled sessions."""
        await self._enter("cancel_appointment", str(customer.id))
        appointments = self._customer_appointments(customer)
        for index, appointment in enumerate(appointments):
            if appointment.id != appointment_id:
                continue
            if appointment.status == "cancelled":
                return appointment
            if appointment.status != "scheduled" or appointment.start_time <= self.clock.now():
                raise ProviderRejected(
                    f"Appointment {appointment_id} has already taken place and cannot be cancelled",
                    source="scheduling",
                    operation="cancel_appointment",
                )
            cancelled = appointment.model_copy(update={"status": "cancelled"})
            appointments[index] = cancelled
            return cancelled
        raise AppointmentNotFound(appointment_id)

    # Calendar -------------------------------------------------------------------------------------

    def _upcoming(self, customer: CustomerRef, days: int) -> list[Appointment]:
        now = self.clock.now()
        horizon = now + timedelta(days=days)
        return sorted(
            (
                a
                for a in self._customer_appointments(customer)
                if a.status == "scheduled" and now <= a.start_time < horizon
            ),
            key=lambda a: a.start_time,
        )

    def _past(self, customer: CustomerRef) -> list[Appointment]:
        now = self.clock.now()
        return sorted(
            (a for a in self._customer_appointments(customer) if a.start_time < now and a.status != "cancelled"),
            key=lambda a: a.start_time,
            reverse=True,
        )

    def _busy_hour(self, moment: datetime) -> bool:
        rng = random.Random(f"{self.seed}:busy:{moment.date().isoformat()}:{moment.hour}")
        return rng.random() < BUSY_SHARE

    def _slot_problem(self, start: datetime, end: datetime) -> str | None:
        if start < self.clock.now():
            return "it is in the past"
        if start.weekday() >= 5 or start.minute % GRID_MINUTES or start.second or start.microsecond:
            return "it is outside the coach's working hours"
        if start.hour < WORK_START_HOUR or end > start.replace(hour=WORK_END_HOUR, minute=0):
            return "it is outside the coach's working hours"
        hour = start.replace(minute=0)
        while hour < end:
            if self._busy_hour(hour):
                return "the coach is busy then"
            hour += timedelta(hours=1)
        for appointments in self._appointments.values():
            for other in appointments:
                if other.status == "scheduled" and other.start_time < end and start < other.end_time:
                    return "it is already booked"
        return None

    def _free_slots(self, date_range: DateRange, appointment_type: AppointmentType) -> list[TimeSlot]:
        duration = DEFAULT_DURATIONS_MINUTES[appointment_type]
        slots: list[TimeSlot] = []
        day = date_range.start_date.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < date_range.end_date:
            start = day.replace(hour=WORK_START_HOUR)
            while start + timedelta(minutes=duration) <= day.replace(hour=WORK_END_HOUR):
                end = start + timedelta(minutes=duration)
                if (
                    date_range.start_date <= start
                    and end <= date_range.end_date
                    and self._slot_problem(start, end) is None
                ):
                    slots.append(
                        TimeSlot(
                            start_time=start,
                            end_time=end,
                            duration=duration,
                            available=True,
                            appointment_type=appointment_type,
                            provider_ref=f"mock-slot:{appointment_type}:{start.isoformat()}",
                        )
                    )
                start += timedelta(minutes=GRID_MINUTES)
            day += timedelta(days=1)
        return slots

    # Generated sessions ---------------------------------------------------------------------------

    def _customer_appointments(self, customer: CustomerRef) -> list[Appointment]:
        key = str(customer.id)
        if key not in self._appointments:
            self._appointments[key] = self._generate(customer)
        return self._appointments[key]

    def _generate(self, customer: CustomerRef) -> list[Appointment]:
        rng = self.customer_rng(str(customer.id), "scheduling")
        scenario = scenario_for(customer.email)
        pattern: SessionPattern = scenario.sessions if scenario else "generated"
        today = self.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        hour = rng.randrange(WORK_START_HOUR, WORK_END_HOUR - 1)
        past_days: list[int] = []
        upcoming: list[datetime] = []
        if pattern == "regular":
            past_days = [7 * i for i in range(1, rng.randrange(6, 13))]
            upcoming = [today + timedelta(days=3, hours=16), today + timedelta(days=10, hours=16)]
        elif pattern == "lapsed":
            past_days = [50 + 7 * i for i in range(6)]
        elif pattern == "booked":
            past_days = [60 + 7 * i for i in range(3)]
            upcoming = [today + timedelta(days=5, hours=15)]
        elif pattern == "prep-due":
            past_days = [7 * i for i in range(1, 5)]
            upcoming = [today + timedelta(days=1, hours=10), today + timedelta(days=8, hours=10)]
        elif pattern == "generated":
            past_days = [7 * i + rng.randrange(3) for i in range(1, rng.randrange(1, 11))]
            if rng.random() < 0.7:
                upcoming = [today + timedelta(days=rng.randrange(1, 10), hours=hour)]
        appointments = [
            self._generated_past(customer, today - timedelta(days=days) + timedelta(hours=hour), rng)
            for days in past_days
        ]
        appointments += [self._generated_upcoming(customer, start) for start in upcoming]
        return appointments

    def _generated_past(self, customer: CustomerRef, start: datetime, rng: random.Random) -> Appointment:
        no_show = rng.random() < 0.1
        return self._appointment(
            customer,
            start,
            status="no-show" if no_show else "completed",
            notes=None if no_show else rng.choice(_NOTES),
            outcome=None if no_show else rng.choice(_OUTCOMES),
        )

    def _generated_upcoming(self, customer: CustomerRef, start: datetime) -> Appointment:
        return self._appointment(customer, start, status="scheduled", notes=None, outcome=None)

    def _appointment(
        self, customer: CustomerRef, start: datetime, *, status: str, notes: str | None, outcome: str | None
    ) -> Appointment:
        duration = DEFAULT_DURATIONS_MINUTES["coaching-session"]
        appointment_id = f"mock-appt-{uuid.uuid5(customer.id, start.isoformat()).hex[:16]}"
        return Appointment.model_validate(
            {
                "id": appointment_id,
                "customer_id": customer.id,
                "type": "coaching-session",
                "start_time": start,
                "end_time": start + timedelta(minutes=duration),
                "duration": duration,
                "notes": notes,
                "outcome": outcome,
                "status": status,
                "join_url": f"https://meet.fearvana.local/{appointment_id}" if status == "scheduled" else None,
                "provider_ref": f"mock-event:{appointment_id}",
            }
        )
