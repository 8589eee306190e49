"""Scheduling models: date ranges, slots, appointments and the scheduling part of the context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from fearvana_integration.domain.base import DomainModel, UtcDateTime

AppointmentType = Literal["coaching-session", "check-in", "assessment", "follow-up", "workshop"]
AppointmentStatus = Literal["scheduled", "completed", "cancelled", "no-show", "pending-link"]

APPOINTMENT_TYPES: tuple[str, ...] = ("coaching-session", "check-in", "assessment", "follow-up", "workshop")
DEFAULT_DURATIONS_MINUTES: dict[str, int] = {
    "coaching-session": 60,
    "check-in": 30,
    "assessment": 90,
    "follow-up": 30,
    "workshop": 120,
}

UPCOMING_WINDOW = timedelta(days=14)
PREPARATION_WINDOW = timedelta(hours=48)
RECENT_SESSIONS = 5
MAX_RANGE = timedelta(days=62)
# Any range or slot stays inside these dates: adapters add days and hours to them (a week of alternatives,
# a day's working hours, a zone's offset), which must never leave datetime's range (year 9999). Which of
# them may be searched or booked depends on the clock: see ``slot_search_problem`` and ``booking_problem``.
EARLIEST_DATE = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_DATE = datetime(9000, 1, 1, tzinfo=UTC)
MAX_SLOT_MINUTES = 24 * 60
MAX_PROVIDER_REF_CHARS = 1000


class DateRange(DomainModel):
    """A half-open time range ``[start_date, end_date)``."""

    start_date: UtcDateTime
    end_date: UtcDateTime

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        if self.end_date - self.start_date > MAX_RANGE:
            raise ValueError(f"end_date must be at most {MAX_RANGE.days} days after start_date")
        if self.start_date < EARLIEST_DATE:
            raise ValueError(f"start_date must not be before {EARLIEST_DATE.date().isoformat()}")
        if self.end_date > LATEST_DATE:
            raise ValueError(f"end_date must not be after {LATEST_DATE.date().isoformat()}")
        return self


class TimeSlot(DomainModel):
    """A bookable (or taken) slot in the coach's calendar."""

    start_time: UtcDateTime
    end_time: UtcDateTime
    duration: int = Field(ge=1, le=MAX_SLOT_MINUTES, description="Minutes")
    available: bool = True
    appointment_type: AppointmentType
    provider_ref: str = Field(max_length=MAX_PROVIDER_REF_CHARS)

    @field_validator("provider_ref")
    @classmethod
    def _printable_ref(cls, value: str) -> str:
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise ValueError("provider_ref must not contain control characters")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TimeSlot:
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        if int((self.end_time - self.start_time).total_seconds() // 60) != self.duration:
            raise ValueError("duration must equal end_time - start_time in minutes")
        return self


class Appointment(DomainModel):
    """A session between the coach and the customer."""

    id: str
    customer_id: UUID
    type: AppointmentType
    start_time: UtcDateTime
    end_time: UtcDateTime
    duration: int
    notes: str | None = None
    outcome: str | None = None
    status: AppointmentStatus = "scheduled"
    join_url: str | None = None
    provider_ref: str
    # Where the customer completes a booking the platform would not make for us (status "pending-link").
    booking_url: str | None = None


class ListedAppointment(DomainModel):
    """A session in the coach's calendar as listed for every customer at once (reminders).

    The platform knows the invitee by email; ``customer_id`` is set only where the platform carries
    our own stamp (Google's private extended property), otherwise the caller resolves the email.
    """

    id: str
    type: AppointmentType | None = None
    start_time: UtcDateTime
    end_time: UtcDateTime
    status: AppointmentStatus = "scheduled"
    invitee_email: str | None = None
    customer_id: UUID | None = None
    join_url: str | None = None
    provider_ref: str


class SchedulingContext(DomainModel):
    """The customer's sessions: what is next, what happened lately."""

    next_appointment: Appointment | None
    upcoming_appointments: list[Appointment]
    last_session: Appointment | None
    recent_sessions: list[Appointment]
    session_count: int
    preparation_due: bool
    preparation_brief: list[str] | None = Field(
        default=None,
        description="For a session within 48 h: what to prepare from — a few lines computed from the context",
    )


def build_scheduling_context(
    upcoming: list[Appointment], past: list[Appointment], session_count: int, now: datetime
) -> SchedulingContext:
    """Derive the context from a provider's appointments, the same way for every provider.

    ``upcoming``: appointments from now on (any order); ``past``: earlier ones (any order);
    ``session_count``: completed sessions over the customer's whole history.
    """
    horizon = now + UPCOMING_WINDOW
    scheduled = sorted(
        (a for a in upcoming if a.status == "scheduled" and now <= a.start_time < horizon),
        key=lambda a: a.start_time,
    )
    completed = sorted((a for a in past if a.status == "completed"), key=lambda a: a.start_time, reverse=True)
    next_appointment = scheduled[0] if scheduled else None
    return SchedulingContext(
        next_appointment=next_appointment,
        upcoming_appointments=scheduled,
        last_session=completed[0] if completed else None,
        recent_sessions=completed[:RECENT_SESSIONS],
        session_count=session_count,
        preparation_due=next_appointment is not None and next_appointment.start_time - now <= PREPARATION_WINDOW,
    )


def slot_search_problem(date_range: DateRange, now: datetime, horizon_days: int) -> str | None:
    """Why free slots may not be searched for in ``date_range`` at ``now``, naming the field, or None.

    The range (at most ``MAX_RANGE``, checked by :class:`DateRange`) must end in the future and no later
    than ``horizon_days`` (``BOOKING_HORIZON_DAYS``) from now; it may start in the past (only future
    slots are ever offered).
    """
    if date_range.end_date <= now:
        return "end_date must be in the future"
    if date_range.end_date > now + timedelta(days=horizon_days):
        return f"end_date must be at most {horizon_days} days from now (BOOKING_HORIZON_DAYS)"
    return None


def booking_problem(slot: TimeSlot, now: datetime, horizon_days: int) -> str | None:
    """Why ``slot`` may not be booked at ``now``, naming the field, or None: it must start in the future
    and at most ``horizon_days`` (``BOOKING_HORIZON_DAYS``) from now."""
    if slot.start_time <= now:
        return "slot.start_time must be in the future"
    if slot.start_time > now + timedelta(days=horizon_days):
        return f"slot.start_time must be at most {horizon_days} days from now (BOOKING_HORIZON_DAYS)"
    return None
