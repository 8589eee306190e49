"""A scheduling platform in memory: one coach, weekday working hours, deterministic sessions per customer.

The coach works Monday-Friday 09:00-17:00 UTC on a 30-minute grid; about a quarter of the hours are
taken by other commitments (derived from the date, so every process agrees). Each customer's sessions
are derived from their id (or their demo scenario) and anchored to the current UTC day. Bookings and
cancellations are recorded in a calendar (memory, or the project's store so that every worker shares
them and a restart keeps them) and checked again before booking, so two customers never get one slot.
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
from fearvana_integration.adapters.scheduling.mock_calendar import MemoryCalendar, MockCalendar
from fearvana_integration.clock import Clock, SystemClock
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.domain.scheduling import (
    DEFAULT_DURATIONS_MINUTES,
    Appointment,
    AppointmentType,
    DateRange,
    ListedAppointment,
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
    """In-memory scheduling with the same contract (and conformance suite) as Calendly, Acuity, Google.

    Invented sessions live in this process; bookings and cancellations go to :attr:`calendar` (memory,
    or the project's store once the runtime binds it with :meth:`use_calendar`).
    """

    name: ClassVar[str] = "mock"
    source: ClassVar[str] = "scheduling"

    def __init__(self, clock: Clock | None = None) -> None:
        MockBehaviour.__init__(self, clock or SystemClock())
        SchedulingAdapter.__init__(self, self.clock)
        self._appointments: dict[str, list[Appointment]] = {}
        self._emails: dict[str, str] = {}
        self.calendar: MockCalendar = MemoryCalendar()
        self._lock = asyncio.Lock()

    def _clear_data(self) -> None:
        self._appointments.clear()
        self._emails.clear()
        self.calendar = MemoryCalendar()

    def use_calendar(self, calendar: MockCalendar) -> None:
        """Record bookings and cancellations in ``calendar`` (the runtime passes the store's)."""
        self.calendar = calendar

    # World setup for tests ------------------------------------------------------------------------

    def put_appointments(self, customer: CustomerRef, appointments: list[Appointment]) -> None:
        """Replace the customer's invented sessions."""
        self._appointments[str(customer.id)] = list(appointments)
        self._emails[str(customer.id)] = customer.email

    # Contract -------------------------------------------------------------------------------------

    async def ping(self) -> None:
        """Always reachable unless a fault is scripted."""
        await self._enter("ping")

    async def get_upcoming_appointments(self, customer: CustomerRef, days: int = 14) -> list[Appointment]:
        """Scheduled sessions from now to ``days`` ahead, soonest first."""
        await self._enter("get_upcoming_appointments", str(customer.id))
        return self._upcoming(await self._customer_appointments(customer), days)

    async def get_past_appointments(self, customer: CustomerRef, limit: int = 20) -> list[Appointment]:
        """Sessions that have started, newest first."""
        await self._enter("get_past_appointments", str(customer.id))
        return self._past(await self._customer_appointments(customer))[:limit]

    async def count_completed_sessions(self, customer: CustomerRef) -> int:
        """Completed sessions ever."""
        await self._enter("count_completed_sessions", str(customer.id))
        return sum(1 for a in self._past(await self._customer_appointments(customer)) if a.status == "completed")

    async def get_scheduling_context(self, customer: CustomerRef) -> SchedulingContext:
        """One simulated call (a real platform may need several)."""
        await self._enter("get_scheduling_context", str(customer.id))
        appointments = await self._customer_appointments(customer)
        past = self._past(appointments)
        count = sum(1 for a in past if a.status == "completed")
        return build_scheduling_context(self._upcoming(appointments, 14), past, count, self.clock.now())

    async def get_availability(self, date_range: DateRange, appointment_type: AppointmentType) -> list[TimeSlot]:
        """Free grid slots of the type's duration inside the range, from now on."""
        await self._enter("get_availability")
        return await self._free_slots(date_range, appointment_type)

    async def book_appointment(
        self,
        customer: CustomerRef,
        slot: TimeSlot,
        appointment_type: AppointmentType,
        booking_id: str | None = None,
    ) -> Appointment:
        """Re-check the slot and book it, or raise SlotUnavailable with alternatives.

        Workers in other processes are kept apart by the caller's booking lock; this lock covers
        the coroutines of this process when the adapter is used on its own.
        """
        await self._enter("book_appointment", str(customer.id))
        duration = DEFAULT_DURATIONS_MINUTES[appointment_type]
        start = slot.start_time
        end = start + timedelta(minutes=duration)
        async with self._lock:
            if booking_id is not None:
                earlier = await self.calendar.by_booking(booking_id)
                if earlier is not None:
                    return earlier
            problem = self._slot_problem(start, end, await self._taken(start, end))
            if problem is None:
                appointment_id = f"mock-appt-{uuid.uuid4().hex[:16]}"
                appointment = Appointment(
                    id=appointment_id,
                    customer_id=customer.id,
                    type=appointment_type,
                    start_time=start,
                    end_time=end,
                    duration=duration,
                    status="scheduled",
                    join_url=f"https://meet.fearvana.local/{appointment_id}",
                    provider_ref=f"mock-slot:{appointment_type}:{start.isoformat()}",
                )
                await self.calendar.record(appointment, customer.email, booking_id)
                return appointment
        raise SlotUnavailable(
            f"The slot at {start.strftime('%Y-%m-%d %H:%M')} UTC is not available: {problem}",
            alternatives=await self.alternatives_near(slot, appointment_type),
        )

    async def list_appointments(self, date_range: DateRange) -> list[ListedAppointment]:
        """Scheduled sessions starting in the range: every booking, and the invented sessions of
        every customer this process has seen."""
        await self._enter("list_appointments")
        start, end = date_range.start_date, date_range.end_date
        merged: dict[str, tuple[Appointment, str | None]] = {
            a.id: (a, self._emails.get(str(a.customer_id)))
            for appointments in self._appointments.values()
            for a in appointments
        }
        merged.update({a.id: (a, email) for a, email in await self.calendar.between(start, end)})
        listed = [
            ListedAppointment(
                id=a.id,
                type=a.type,
                start_time=a.start_time,
                end_time=a.end_time,
                status=a.status,
                invitee_email=email,
                customer_id=a.customer_id,
                join_url=a.join_url,
                provider_ref=a.provider_ref,
            )
            for a, email in merged.values()
            if a.status == "scheduled" and start <= a.start_time < end
        ]
        return sorted(listed, key=lambda a: a.start_time)

    async def cancel_appointment(self, customer: CustomerRef, appointment_id: str) -> Appointment:
        """Cancel one of the customer's own scheduled sessions."""
        await self._enter("cancel_appointment", str(customer.id))
        for appointment in await self._customer_appointments(customer):
            if appointment.id != appointment_id:
                continue
            if appointment.status == "cancelled":
                return appointment
            if appointment.status != "scheduled" or appointment.start_time <= self.clock.now():
                raise ProviderRejected(
                    "This appointment has already taken place and cannot be cancelled",
                    source="scheduling",
                    operation="cancel_appointment",
                )
            cancelled = appointment.model_copy(update={"status": "cancelled"})
            await self.calendar.record(cancelled, customer.email)
            return cancelled
        raise AppointmentNotFound(appointment_id)

    # Calendar -------------------------------------------------------------------------------------

    def _upcoming(self, appointments: list[Appointment], days: int) -> list[Appointment]:
        now = self.clock.now()
        horizon = now + timedelta(days=days)
        return sorted(
            (a for a in appointments if a.status == "scheduled" and now <= a.start_time < horizon),
            key=lambda a: a.start_time,
        )

    def _past(self, appointments: list[Appointment]) -> list[Appointment]:
        now = self.clock.now()
        return sorted(
            (a for a in appointments if a.start_time < now and a.status != "cancelled"),
            key=lambda a: a.start_time,
            reverse=True,
        )

    def _busy_hour(self, moment: datetime) -> bool:
        rng = random.Random(f"{self.seed}:busy:{moment.date().isoformat()}:{moment.hour}")
        return rng.random() < BUSY_SHARE

    async def _taken(self, start: datetime, end: datetime) -> list[Appointment]:
        """Scheduled sessions overlapping ``[start, end)``: invented ones this process knows, and
        every recorded booking (a recorded change wins over the invented session it changes)."""
        merged = {a.id: a for appointments in self._appointments.values() for a in appointments}
        merged.update({a.id: a for a, _ in await self.calendar.between(start, end)})
        return [a for a in merged.values() if a.status == "scheduled" and a.start_time < end and start < a.end_time]

    def _slot_problem(self, start: datetime, end: datetime, taken: list[Appointment]) -> str | None:
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
        if any(other.start_time < end and start < other.end_time for other in taken):
            return "it is already booked"
        return None

    async def _free_slots(self, date_range: DateRange, appointment_type: AppointmentType) -> list[TimeSlot]:
        duration = DEFAULT_DURATIONS_MINUTES[appointment_type]
        taken = await self._taken(date_range.start_date, date_range.end_date)
        slots: list[TimeSlot] = []
        day = date_range.start_date.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < date_range.end_date:
            start = day.replace(hour=WORK_START_HOUR)
            while start + timedelta(minutes=duration) <= day.replace(hour=WORK_END_HOUR):
                end = start + timedelta(minutes=duration)
                if (
                    date_range.start_date <= start
                    and end <= date_range.end_date
                    and self._slot_problem(start, end, taken) is None
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

    async def _customer_appointments(self, customer: CustomerRef) -> list[Appointment]:
        """The invented sessions with the recorded changes laid over them (by id), plus bookings."""
        key = str(customer.id)
        self._emails[key] = customer.email
        if key not in self._appointments:
            self._appointments[key] = self._generate(customer)
        merged = {a.id: a for a in self._appointments[key]}
        merged.update({a.id: a for a in await self.calendar.of_customer(customer.id)})
        return list(merged.values())

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
