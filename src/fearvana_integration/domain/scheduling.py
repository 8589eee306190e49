"""Scheduling models: date ranges, slots, appointments and the scheduling part of the context."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from fearvana_integration.domain.base import DomainModel, UtcDateTime

AppointmentType = Literal["coaching-session", "check-in", "assessment", "follow-up", "workshop"]
AppointmentStatus = Literal["scheduled", "completed", "cancelled", "no-show"]

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


class DateRange(DomainModel):
    """A half-open time range ``[start_date, end_date)``."""

    start_date: UtcDateTime
    end_date: UtcDateTime

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        if self.end_date - self.start_date > MAX_RANGE:
            raise ValueError(f"a date range may span at most {MAX_RANGE.days} days")
        return self


class TimeSlot(DomainModel):
    """A bookable (or taken) slot in the coach's calendar."""

    start_time: UtcDateTime
    end_time: UtcDateTime
    duration: int = Field(description="Minutes")
    available: bool = True
    appointment_type: AppointmentType
    provider_ref: str

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


class SchedulingContext(DomainModel):
    """The customer's sessions: what is next, what happened lately."""

    next_appointment: Appointment | None
    upcoming_appointments: list[Appointment]
    last_session: Appointment | None
    recent_sessions: list[Appointment]
    session_count: int
    preparation_due: bool


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
