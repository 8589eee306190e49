"""The scheduling contract, run against every registered scheduling adapter."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from fearvana_integration.adapters.base import SchedulingAdapter
from fearvana_integration.domain.scheduling import DateRange
from fearvana_integration.errors import (
    AppointmentNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    SlotUnavailable,
)
from tests.conformance.harness import AUTH_FAULTS, FAULTS, KNOWN, NOW, OTHER, Fault, Harness, SchedulingWorld

WEEK = DateRange(start_date=NOW, end_date=NOW + timedelta(days=7))


async def test_upcoming_are_scheduled_sessions_in_the_window_soonest_first(scheduling: SchedulingAdapter) -> None:
    world = SchedulingWorld()
    upcoming = await scheduling.get_upcoming_appointments(KNOWN, days=14)
    assert [a.start_time for a in upcoming] == [NOW + timedelta(hours=h) for h in world.upcoming_hours]
    assert all(a.status == "scheduled" and a.customer_id == KNOWN.id for a in upcoming)


async def test_past_sessions_newest_first_with_limit(scheduling: SchedulingAdapter) -> None:
    past = await scheduling.get_past_appointments(KNOWN, limit=3)
    assert len(past) == 3
    assert [a.start_time for a in past] == sorted((a.start_time for a in past), reverse=True)
    assert all(a.start_time < NOW for a in past)


async def test_scheduling_context(scheduling: SchedulingAdapter) -> None:
    world = SchedulingWorld()
    ctx = await scheduling.get_scheduling_context(KNOWN)
    assert ctx.next_appointment is not None
    assert ctx.next_appointment.start_time == NOW + timedelta(hours=world.upcoming_hours[0])
    assert ctx.preparation_due  # the next one starts within 48 h
    assert ctx.session_count == len(world.past_days)  # no-shows are not sessions
    assert ctx.last_session is not None and ctx.last_session.start_time == NOW - timedelta(days=world.past_days[0])
    assert ctx.last_session.notes == world.notes
    assert len(ctx.recent_sessions) <= 5
    assert all(a.status == "completed" for a in ctx.recent_sessions)
    assert len(ctx.upcoming_appointments) == len(world.upcoming_hours)  # the one in 20 days is outside


async def test_customer_without_sessions(scheduling: SchedulingAdapter) -> None:
    ctx = await scheduling.get_scheduling_context(OTHER)
    assert ctx.next_appointment is None and not ctx.preparation_due
    assert ctx.session_count == 0 and ctx.recent_sessions == []


async def test_availability_is_free_future_slots_of_the_type(scheduling: SchedulingAdapter) -> None:
    slots = await scheduling.get_availability(WEEK, "check-in")
    assert slots, "a coach has some free time in a week"
    assert [s.start_time for s in slots] == sorted(s.start_time for s in slots)
    for slot in slots:
        assert slot.available and slot.appointment_type == "check-in" and slot.duration == 30
        assert WEEK.start_date <= slot.start_time and slot.end_time <= WEEK.end_date
    booked = await scheduling.get_upcoming_appointments(KNOWN, days=7)
    for slot in slots:
        for appointment in booked:
            assert not (slot.start_time < appointment.end_time and appointment.start_time < slot.end_time)


async def test_book_then_the_slot_is_gone(scheduling: SchedulingAdapter) -> None:
    slot = (await scheduling.get_availability(WEEK, "coaching-session"))[0]
    appointment = await scheduling.book_appointment(KNOWN, slot, "coaching-session")
    assert appointment.customer_id == KNOWN.id
    assert appointment.start_time == slot.start_time and appointment.status == "scheduled"
    assert appointment.id in {a.id for a in await scheduling.get_upcoming_appointments(KNOWN, days=14)}
    remaining = await scheduling.get_availability(WEEK, "coaching-session")
    assert slot.start_time not in {s.start_time for s in remaining}


async def test_taken_slot_raises_with_available_alternatives(scheduling: SchedulingAdapter) -> None:
    slot = (await scheduling.get_availability(WEEK, "coaching-session"))[0]
    await scheduling.book_appointment(OTHER, slot, "coaching-session")
    with pytest.raises(SlotUnavailable) as info:
        await scheduling.book_appointment(KNOWN, slot, "coaching-session")
    alternatives = info.value.alternatives
    assert alternatives and slot.start_time not in {a.start_time for a in alternatives}
    free = {s.start_time for s in await scheduling.get_availability(WEEK, "coaching-session")}
    assert {a.start_time for a in alternatives if a.end_time <= WEEK.end_date} <= free


async def test_concurrent_bookings_of_one_slot_never_double_book(scheduling: SchedulingAdapter) -> None:
    slot = (await scheduling.get_availability(WEEK, "check-in"))[0]
    results = await asyncio.gather(
        scheduling.book_appointment(KNOWN, slot, "check-in"),
        scheduling.book_appointment(OTHER, slot, "check-in"),
        return_exceptions=True,
    )
    booked = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, SlotUnavailable)]
    assert len(booked) == 1 and len(refused) == 1


async def test_cancel_own_appointment_frees_the_slot(scheduling: SchedulingAdapter) -> None:
    slot = (await scheduling.get_availability(WEEK, "coaching-session"))[0]
    appointment = await scheduling.book_appointment(KNOWN, slot, "coaching-session")
    cancelled = await scheduling.cancel_appointment(KNOWN, appointment.id)
    assert cancelled.status == "cancelled"
    assert appointment.id not in {a.id for a in await scheduling.get_upcoming_appointments(KNOWN, days=14)}
    assert slot.start_time in {s.start_time for s in await scheduling.get_availability(WEEK, "coaching-session")}


async def test_cannot_cancel_someone_elses_appointment(scheduling: SchedulingAdapter) -> None:
    slot = (await scheduling.get_availability(WEEK, "coaching-session"))[0]
    appointment = await scheduling.book_appointment(KNOWN, slot, "coaching-session")
    with pytest.raises(AppointmentNotFound):
        await scheduling.cancel_appointment(OTHER, appointment.id)
    with pytest.raises(AppointmentNotFound):
        await scheduling.cancel_appointment(KNOWN, "no-such-appointment")
    assert appointment.id in {a.id for a in await scheduling.get_upcoming_appointments(KNOWN, days=14)}


async def test_ping(scheduling: SchedulingAdapter) -> None:
    await scheduling.ping()


@pytest.mark.parametrize("fault", FAULTS)
async def test_faults_map_to_the_error_tree(
    scheduling_harness: Harness, scheduling: SchedulingAdapter, fault: Fault
) -> None:
    scheduling_harness.fail_next("get_availability", fault)
    if fault == "slow":
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await scheduling.get_availability(WEEK, "check-in")
        return
    with pytest.raises(ProviderError) as info:
        await scheduling.get_availability(WEEK, "check-in")
    if fault in ("unavailable", "rate_limited"):
        assert isinstance(info.value, ProviderUnavailable) and info.value.retryable
    if fault == "rate_limited":
        assert isinstance(info.value, RateLimited)
    assert await scheduling.get_availability(WEEK, "check-in")


async def test_a_retried_booking_with_its_booking_id_returns_the_same_appointment(
    scheduling: SchedulingAdapter,
) -> None:
    slot = (await scheduling.get_availability(WEEK, "coaching-session"))[0]
    first = await scheduling.book_appointment(KNOWN, slot, "coaching-session", booking_id="bk-0001")
    again = await scheduling.book_appointment(KNOWN, slot, "coaching-session", booking_id="bk-0001")
    assert again.id == first.id
    at_that_time = [
        a for a in await scheduling.get_upcoming_appointments(KNOWN, days=14) if a.start_time == slot.start_time
    ]
    assert len(at_that_time) == 1


async def test_list_appointments_is_the_whole_calendar_of_sessions(scheduling: SchedulingAdapter) -> None:
    world = SchedulingWorld()
    slot = (await scheduling.get_availability(WEEK, "check-in"))[0]
    booked = await scheduling.book_appointment(OTHER, slot, "check-in")
    window = DateRange(start_date=NOW, end_date=NOW + timedelta(days=14))
    listed = await scheduling.list_appointments(window)
    assert [a.start_time for a in listed] == sorted(a.start_time for a in listed)
    assert all(a.status == "scheduled" and window.start_date <= a.start_time < window.end_date for a in listed)

    def whose(entry_email: str | None, entry_customer: object) -> str | None:
        if entry_customer == KNOWN.id or entry_email == KNOWN.email:
            return "known"
        if entry_customer == OTHER.id or entry_email == OTHER.email:
            return "other"
        return None

    known = [a.start_time for a in listed if whose(a.invitee_email, a.customer_id) == "known"]
    assert known == [NOW + timedelta(hours=h) for h in world.upcoming_hours]
    assert [a.id for a in listed if whose(a.invitee_email, a.customer_id) == "other"] == [booked.id]


@pytest.mark.parametrize("fault", AUTH_FAULTS)
async def test_an_expired_token_or_a_missing_scope_is_said_so(
    scheduling_harness: Harness, scheduling: SchedulingAdapter, fault: Fault
) -> None:
    scheduling_harness.fail_next("get_upcoming_appointments", fault)
    with pytest.raises(ProviderAuthError) as info:
        await scheduling.get_upcoming_appointments(KNOWN, days=14)
    assert info.value.reason == fault
