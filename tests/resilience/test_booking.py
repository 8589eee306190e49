"""Booking through the manager: a booking id makes a retry safe, the mock platform's calendar lives in
the store (another process, or the next start, sees the same bookings), and the preparation brief
appears in the context of a customer whose session is near."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from fearvana_integration import IntegrationManager
from fearvana_integration.adapters.scheduling.mock import MockSchedulingAdapter
from fearvana_integration.domain.scheduling import DateRange
from fearvana_integration.errors import InvalidInput
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store.demo import demo_customer_id
from tests.conftest import SettingsFactory

DEMO = demo_customer_id("demo@fearvana.local")
OTHER = demo_customer_id("heavy@fearvana.local")


@pytest.fixture
def private_db(demo_db: Path, tmp_path: Path, make_settings: SettingsFactory) -> SettingsFactory:
    """Settings on a private copy of the demo database (bookings are written into it)."""
    copy = tmp_path / "booking.db"
    shutil.copyfile(demo_db, copy)
    return lambda **env: make_settings(DATABASE_URL=f"sqlite:///{copy}", **env)


async def _first_slot(manager: IntegrationManager) -> object:
    now = manager.runtime.clock.now()
    slots = await manager.get_available_slots(
        DateRange(start_date=now + timedelta(days=1), end_date=now + timedelta(days=8)), "check-in"
    )
    return slots[0]


async def test_a_retried_booking_returns_the_first_and_books_nothing_more(private_db: SettingsFactory) -> None:
    manager = IntegrationManager(build_runtime(private_db()))
    try:
        slot = await _first_slot(manager)
        first = await manager.book_appointment(DEMO, slot, "check-in", booking_id="retry-0001")  # type: ignore[arg-type]
        again = await manager.book_appointment(DEMO, slot, "check-in", booking_id="retry-0001")  # type: ignore[arg-type]
        assert again == first
        upcoming = await manager.runtime.scheduling.get_upcoming_appointments(  # type: ignore[union-attr]
            (await manager._customer(DEMO))[0], days=14
        )
        assert [a.id for a in upcoming if a.start_time == first.start_time] == [first.id]
        with pytest.raises(InvalidInput, match="already used for another booking"):
            await manager.book_appointment(OTHER, slot, "check-in", booking_id="retry-0001")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="booking_id must be"):
            await manager.book_appointment(DEMO, slot, "check-in", booking_id="no spaces allowed")  # type: ignore[arg-type]
    finally:
        await manager.aclose()


async def test_the_mock_calendar_outlives_the_process_that_booked(private_db: SettingsFactory) -> None:
    first = IntegrationManager(build_runtime(private_db()))
    try:
        slot = await _first_slot(first)
        booked = await first.book_appointment(DEMO, slot, "check-in")  # type: ignore[arg-type]
    finally:
        await first.aclose()
    MockSchedulingAdapter.get_instance().clear_all_data()  # a new process: nothing in memory
    second = IntegrationManager(build_runtime(private_db()))
    try:
        context = await second.get_customer_context(DEMO)
        assert context.scheduling_context is not None
        assert booked.id in {a.id for a in context.scheduling_context.upcoming_appointments}
        free = await second.get_available_slots(
            DateRange(start_date=slot.start_time, end_date=slot.end_time),
            "check-in",  # type: ignore[attr-defined]
        )
        assert free == []
        cancelled = await second.cancel_appointment(DEMO, booked.id)
        assert cancelled.status == "cancelled"
    finally:
        await second.aclose()


async def test_a_customer_with_a_session_tomorrow_gets_a_preparation_brief(make_settings: SettingsFactory) -> None:
    manager = IntegrationManager(build_runtime(make_settings()))
    try:
        context = await manager.get_customer_context(demo_customer_id("prep-due@fearvana.local"), 8000)
        scheduling = context.scheduling_context
        assert scheduling is not None and scheduling.preparation_due
        brief = scheduling.preparation_brief
        assert brief and brief[0].startswith("Since the last session (")
        assert any(line.startswith("Sacred Edge: ") for line in brief)
        assert any(line.startswith("Last session ") for line in brief)
        note = next(n for n in context.notes_for_ai if n.code == "preparation_due")
        assert "brief under the next session" in note.message
    finally:
        await manager.aclose()
