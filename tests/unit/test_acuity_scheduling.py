"""Acuity specifics, against the in-process Acuity fake: what we send, how often, and what the customer sees."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

import httpx
import pytest

from fearvana_integration.adapters.scheduling.acuity import (
    DEFAULT_BASE_URL,
    AcuitySchedulingAdapter,
    RequestLimiter,
    client_names,
    join_url,
    type_key,
)
from fearvana_integration.clock import FakeClock
from fearvana_integration.config import load_settings
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.domain.scheduling import DateRange
from fearvana_integration.errors import (
    AppointmentNotFound,
    CapabilityNotSupported,
    ConfigurationError,
    ProviderAuthError,
    ProviderRejected,
    ProviderResponseInvalid,
    RateLimited,
    SlotUnavailable,
)
from tests.conformance.harness import KNOWN, NOW, OTHER, SchedulingWorld
from tests.conformance.harness_acuity import API_KEY, COACH_TIME_ZONE, USER_ID, AcuityWorld, install_world
from tests.fakes.acuity import FakeAcuity
from tests.fakes.faults import RecordedRequest

BASE_URL = "http://acuity.test"
API = "/api/v1"
TWO_WEEKS = DateRange(start_date=NOW, end_date=NOW + timedelta(days=14))
WEEK = DateRange(start_date=NOW, end_date=NOW + timedelta(days=7))
NEW = CustomerRef(id=UUID("44444444-4444-4444-8444-444444444444"), email="nell.new@example.com")


class TimeoutAfterCreate(httpx.ASGITransport):
    """The fake books, then the answer is lost: what a read timeout on ``POST /appointments`` looks like."""

    def __init__(self, app: Any, lose: int) -> None:
        super().__init__(app=app)
        self.lose = lose

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.method == "POST" and request.url.path == f"{API}/appointments" and self.lose > 0:
            self.lose -= 1
            await response.aclose()
            raise httpx.ReadTimeout("the answer never came", request=request)
        return response


@dataclass
class World:
    fake: FakeAcuity
    clock: FakeClock
    ids: AcuityWorld
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def adapter(
        self, *, mapped: bool = True, transport: httpx.AsyncBaseTransport | None = None, **options: Any
    ) -> AcuitySchedulingAdapter:
        client = httpx.AsyncClient(transport=transport or httpx.ASGITransport(app=self.fake.app))
        self.clients.append(client)
        settings: dict[str, Any] = {
            "user_id": str(USER_ID),
            "api_key": API_KEY,
            "base_url": BASE_URL,
            "calendar_id": str(self.ids.calendar),
            "time_zone": COACH_TIME_ZONE,
        }
        if mapped:
            settings["event_types"] = {ours: str(type_id) for ours, type_id in self.ids.types.items()}
        # Pacing (10 requests a second) has its own test; elsewhere it would only make the suite slow.
        settings["limiter"] = RequestLimiter(per_second=None)
        settings.update(options)
        return AcuitySchedulingAdapter(http_client=client, clock=self.clock, **settings)

    def sent(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.fake.requests
            if (method is None or r.method == method) and (path is None or r.path == f"{API}{path}")
        ]


def query(request: RecordedRequest) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(request.query, keep_blank_values=True).items()}


def body(request: RecordedRequest) -> Any:
    return json.loads(request.body)


def booked_at(world: World, start: datetime) -> list[str]:
    """Clients of the non-canceled appointments starting at ``start``, as the fake holds them."""
    return [
        a["email"]
        for a in world.fake.appointments(include_canceled=False)
        if datetime.strptime(a["datetime"], "%Y-%m-%dT%H:%M:%S%z") == start
    ]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FakeClock(NOW)
    fake = FakeAcuity(user_id=USER_ID, api_key=API_KEY, business_timezone=COACH_TIME_ZONE, now=clock.now)
    state = World(fake, clock, install_world(fake))
    yield state
    for client in state.clients:
        await client.aclose()


# Booking --------------------------------------------------------------------------------------------------------


async def test_every_booking_is_checked_right_before_it_is_made_with_the_time_exactly_as_offered(world: World) -> None:
    adapter = world.adapter()
    slot = (await adapter.get_availability(WEEK, "coaching-session"))[0]
    offered_text = slot.provider_ref.split(":", 3)[3]
    assert offered_text == "2026-11-23T09:00:00-0800"  # as /availability/times offered it (Los Angeles time)
    world.fake.requests.clear()

    appointment = await adapter.book_appointment(KNOWN, slot, "coaching-session")

    check, create = world.sent()
    assert (check.method, check.path) == ("POST", f"{API}/availability/check-times")
    assert (create.method, create.path) == ("POST", f"{API}/appointments")
    assert body(check) == {
        "datetime": offered_text,
        "appointmentTypeID": world.ids.types["coaching-session"],
        "calendarID": world.ids.calendar,
    }
    assert body(create) == {
        "datetime": offered_text,
        "appointmentTypeID": world.ids.types["coaching-session"],
        "calendarID": world.ids.calendar,
        "firstName": "Kim",
        "lastName": "Known",
        "email": KNOWN.email,
        "timezone": "UTC",
    }
    assert "admin" not in query(create)  # a client booking: Acuity validates availability itself
    assert appointment.start_time == slot.start_time and appointment.status == "scheduled"
    assert appointment.join_url == "https://meet.example.com/akshay"  # the calendar's location
    stored = world.fake.appointment(int(appointment.id))
    assert (stored["email"], stored["firstName"], stored["lastName"]) == (KNOWN.email, "Kim", "Known")


async def test_a_slot_check_times_calls_invalid_is_refused_with_alternatives_and_nothing_is_created(
    world: World,
) -> None:
    adapter = world.adapter()
    slot = (await adapter.get_availability(WEEK, "coaching-session"))[0]
    world.fake.add_appointment(
        OTHER.email, slot.start_time, appointment_type_id=world.ids.types["coaching-session"]
    )  # taken in the meantime
    world.fake.requests.clear()

    with pytest.raises(SlotUnavailable) as info:
        await adapter.book_appointment(KNOWN, slot, "coaching-session")

    assert "not an available time slot" in str(info.value)  # Acuity's reason is passed on
    assert info.value.alternatives
    assert slot.start_time not in {a.start_time for a in info.value.alternatives}
    assert world.sent("POST", "/appointments") == []
    assert len(world.sent("POST", "/availability/check-times")) == 1
    assert booked_at(world, slot.start_time) == [OTHER.email]


async def test_a_create_that_timed_out_after_acuity_booked_returns_that_booking_instead_of_booking_again(
    world: World,
) -> None:
    adapter = world.adapter(transport=TimeoutAfterCreate(world.fake.app, lose=1))
    slot = (await adapter.get_availability(WEEK, "check-in"))[0]

    appointment = await adapter.book_appointment(KNOWN, slot, "check-in")

    assert len(world.sent("POST", "/appointments")) == 1  # never sent twice
    assert booked_at(world, slot.start_time) == [KNOWN.email]
    assert world.fake.appointment(int(appointment.id))["email"] == KNOWN.email
    assert appointment.start_time == slot.start_time and appointment.type == "check-in"


async def test_a_create_refused_before_booking_is_sent_once_more_after_looking(world: World) -> None:
    adapter = world.adapter()
    slot = (await adapter.get_availability(WEEK, "check-in"))[0]
    world.fake.requests.clear()
    world.fake.fail_next("unavailable", path_contains="/appointments")  # the create answers 503, books nothing

    appointment = await adapter.book_appointment(KNOWN, slot, "check-in")

    assert [(r.method, r.path.removeprefix(API)) for r in world.fake.requests] == [
        ("POST", "/availability/check-times"),
        ("POST", "/appointments"),  # 503
        ("GET", "/appointments"),  # is it there? no
        ("POST", "/appointments"),
    ]
    assert booked_at(world, slot.start_time) == [KNOWN.email]
    assert appointment.start_time == slot.start_time


async def test_a_booking_id_retry_looks_first_and_books_nothing_more(world: World) -> None:
    adapter = world.adapter()
    slot = (await adapter.get_availability(WEEK, "coaching-session"))[0]
    first = await adapter.book_appointment(KNOWN, slot, "coaching-session", booking_id="bk-1")
    world.fake.requests.clear()

    again = await adapter.book_appointment(KNOWN, slot, "coaching-session", booking_id="bk-1")

    assert again.id == first.id
    [look] = world.sent()
    assert (look.method, look.path) == ("GET", f"{API}/appointments")
    assert query(look)["email"] == KNOWN.email
    assert query(look)["appointmentTypeID"] == str(world.ids.types["coaching-session"])


async def test_a_slot_taken_between_check_and_create_is_slot_unavailable(world: World) -> None:
    adapter = world.adapter()
    slot = (await adapter.get_availability(WEEK, "coaching-session"))[0]
    original = world.fake._check_times

    async def check_then_lose_the_race(request: Any, params: dict[str, str]) -> Any:
        answer = await original(request, params)
        world.fake.add_appointment(
            OTHER.email, slot.start_time, appointment_type_id=world.ids.types["coaching-session"]
        )
        return answer

    world.fake._handlers["_check_times"] = check_then_lose_the_race
    with pytest.raises(SlotUnavailable) as info:
        await adapter.book_appointment(KNOWN, slot, "coaching-session")
    assert info.value.alternatives
    assert len(world.sent("POST", "/appointments")) == 1


async def test_a_customer_without_a_name_books_under_the_email(world: World) -> None:
    adapter = world.adapter()
    slot = (await adapter.get_availability(WEEK, "check-in"))[0]
    await adapter.book_appointment(NEW, slot, "check-in")
    [create] = world.sent("POST", "/appointments")
    assert (body(create)["firstName"], body(create)["lastName"]) == ("nell.new", "-")


def test_client_names() -> None:
    assert client_names(KNOWN) == ("Kim", "Known")
    assert client_names(CustomerRef(id=KNOWN.id, email="a@b.co", display_name="Ana María López")) == (
        "Ana",
        "María López",
    )
    assert client_names(CustomerRef(id=KNOWN.id, email="a@b.co", display_name="Cher")) == ("Cher", "-")
    assert client_names(CustomerRef(id=KNOWN.id, email="a@b.co", display_name="  ")) == ("a", "-")


# Cancelling -----------------------------------------------------------------------------------------------------


async def _booked(world: World, adapter: AcuitySchedulingAdapter) -> str:
    slot = (await adapter.get_availability(WEEK, "coaching-session"))[0]  # later today, 9 hours ahead
    return (await adapter.book_appointment(KNOWN, slot, "coaching-session")).id


async def test_cancel_too_close_to_the_start_says_so(world: World) -> None:
    adapter = world.adapter()
    appointment_id = await _booked(world, adapter)
    world.fake.set_client_rules(cancel_notice=timedelta(hours=24))
    with pytest.raises(ProviderRejected, match="too close to the start to cancel"):
        await adapter.cancel_appointment(KNOWN, appointment_id)
    assert world.fake.appointment(int(appointment_id))["canceled"] is False


async def test_cancel_not_allowed_says_so(world: World) -> None:
    adapter = world.adapter()
    appointment_id = await _booked(world, adapter)
    world.fake.set_client_rules(can_cancel=False)
    with pytest.raises(ProviderRejected, match="this appointment cannot be cancelled"):
        await adapter.cancel_appointment(KNOWN, appointment_id)
    assert world.fake.appointment(int(appointment_id))["canceled"] is False


async def test_cancel_reads_first_and_cancels_as_the_client(world: World) -> None:
    adapter = world.adapter()
    appointment_id = await _booked(world, adapter)
    world.fake.requests.clear()
    cancelled = await adapter.cancel_appointment(KNOWN, appointment_id)
    read, cancel = world.sent()
    assert (read.method, read.path) == ("GET", f"{API}/appointments/{appointment_id}")
    assert (cancel.method, cancel.path) == ("PUT", f"{API}/appointments/{appointment_id}/cancel")
    assert "admin" not in query(cancel)
    assert cancelled.status == "cancelled"
    # Cancelling again changes nothing and sends no second cancel.
    world.fake.requests.clear()
    assert (await adapter.cancel_appointment(KNOWN, appointment_id)).status == "cancelled"
    assert world.sent("PUT") == []


async def test_only_the_customers_own_appointments_can_be_cancelled(world: World) -> None:
    adapter = world.adapter()
    appointment_id = await _booked(world, adapter)
    world.fake.requests.clear()
    for customer, target in ((OTHER, appointment_id), (KNOWN, "999999999"), (KNOWN, "abc"), (KNOWN, "")):
        with pytest.raises(AppointmentNotFound):
            await adapter.cancel_appointment(customer, target)
    assert world.sent("PUT") == []
    assert len(world.sent()) == 2  # "abc" and "" are not Acuity ids: no request at all
    # An appointment on another calendar is not this coach's.
    other_calendar = world.fake.add_calendar("Another coach")
    elsewhere = world.fake.add_appointment(
        KNOWN.email,
        NOW + timedelta(days=2),
        appointment_type_id=world.fake.add_appointment_type("Other", 30, calendar_ids=[other_calendar]),
        calendar_id=other_calendar,
    )
    with pytest.raises(AppointmentNotFound):
        await adapter.cancel_appointment(KNOWN, str(elsewhere))


# Reading appointments -------------------------------------------------------------------------------------------


async def test_one_scheduling_context_is_one_request(world: World) -> None:
    adapter = world.adapter()
    ctx = await adapter.get_scheduling_context(KNOWN)
    [request] = world.sent()
    assert request.path == f"{API}/appointments"
    params = query(request)
    assert params["email"] == KNOWN.email and params["showall"] == "true" and params["direction"] == "DESC"
    assert params["calendarID"] == str(world.ids.calendar) and params["excludeForms"] == "true"
    assert params["maxDate"] == (NOW + timedelta(days=15)).date().isoformat() and "minDate" not in params
    world_ = SchedulingWorld()
    assert ctx.session_count == len(world_.past_days)
    assert ctx.next_appointment is not None and ctx.next_appointment.start_time == NOW + timedelta(hours=30)
    assert ctx.last_session is not None and ctx.last_session.notes == world_.notes


async def test_without_a_type_map_the_types_are_read_once_and_matched_by_name(world: World) -> None:
    adapter = world.adapter(mapped=False)
    first = await adapter.get_scheduling_context(KNOWN)
    assert [r.path for r in world.sent()] == [f"{API}/appointment-types", f"{API}/appointments"]
    world.fake.requests.clear()
    second = await adapter.get_scheduling_context(KNOWN)
    assert [r.path for r in world.sent()] == [f"{API}/appointments"]  # the types are cached
    assert first == second
    assert first.next_appointment is not None and first.next_appointment.type == "coaching-session"
    slots = await adapter.get_availability(WEEK, "check-in")
    assert slots and all(s.duration == 30 for s in slots)
    world.clock.advance(601)
    world.fake.requests.clear()
    await adapter.get_scheduling_context(KNOWN)
    assert [r.path for r in world.sent()] == [f"{API}/appointment-types", f"{API}/appointments"]


async def test_a_type_the_account_does_not_offer_is_not_supported(world: World) -> None:
    fake = FakeAcuity(user_id=USER_ID, api_key=API_KEY, now=world.clock.now)
    calendar = fake.add_calendar("Coach")
    fake.add_appointment_type("Coaching session", 60)
    fake.add_appointment_type("Intro call", 15)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as client:
        adapter = AcuitySchedulingAdapter(
            http_client=client, clock=world.clock, user_id=USER_ID, api_key=API_KEY, base_url=BASE_URL
        )
        assert await adapter.get_availability(WEEK, "coaching-session")
        with pytest.raises(CapabilityNotSupported, match="SCHEDULING_EVENT_TYPE_MAP"):
            await adapter.get_availability(WEEK, "workshop")
        mapped = AcuitySchedulingAdapter(
            http_client=client,
            clock=world.clock,
            user_id=USER_ID,
            api_key=API_KEY,
            base_url=BASE_URL,
            event_types={"check-in": "123"},
            calendar_id=calendar,
        )
        with pytest.raises(CapabilityNotSupported, match="appointmentTypeID 123"):
            await mapped.get_availability(WEEK, "check-in")


def test_type_names_are_compared_without_case_spaces_or_punctuation() -> None:
    assert type_key("Coaching Session") == "coaching-session"
    assert type_key(" Check in ") == "check-in"
    assert type_key("FOLLOW-UP!") == "follow-up"


async def test_status_notes_and_join_links(world: World) -> None:
    adapter = world.adapter()
    past = await adapter.get_past_appointments(KNOWN, limit=20)
    statuses = {a.start_time: a.status for a in past}
    assert statuses[NOW - timedelta(days=35)] == "no-show"
    assert [a for a in past if a.status == "cancelled"] == []  # plain cancellations are not sessions
    assert all(a.notes == SchedulingWorld().notes for a in past if a.status == "completed")
    assert {a.join_url for a in past} == {"https://meet.example.com/akshay"}
    assert join_url("Zoom: https://zoom.us/j/123?pwd=x. Dial-in below") == "https://zoom.us/j/123?pwd=x"
    assert join_url("Studio 4, Main Street") is None


async def test_a_long_history_is_read_in_date_windows_without_losing_or_repeating_a_session(world: World) -> None:
    session = world.ids.types["coaching-session"]
    for week in range(1, 251):  # five years of weekly sessions, on top of the world's four
        world.fake.add_appointment(KNOWN.email, NOW - timedelta(days=60 + 7 * week), appointment_type_id=session)
    adapter = world.adapter()

    count = await adapter.count_completed_sessions(KNOWN)

    assert count == 250 + len(SchedulingWorld().past_days)
    windows = [query(r) for r in world.sent("GET", "/appointments")]
    assert len(windows) == 3  # 100 rows a page, the next window starting at the last row's date
    assert all(w["max"] == "100" and w["direction"] == "DESC" for w in windows)
    max_dates = [w["maxDate"] for w in windows]
    assert max_dates == sorted(max_dates, reverse=True) and len(set(max_dates)) == 3

    world.fake.requests.clear()
    recent = await adapter.get_past_appointments(KNOWN, limit=20)
    assert len(recent) == 20 and len(world.sent()) == 1  # the newest page has enough


async def test_a_day_with_more_rows_than_a_page_asks_for_more_at_once(world: World) -> None:
    check_in = world.ids.types["check-in"]
    day = NOW + timedelta(days=2)
    for n in range(150):
        world.fake.add_appointment(f"c{n}@example.com", day + timedelta(minutes=n), appointment_type_id=check_in)
    adapter = world.adapter()
    listed = await adapter.list_appointments(DateRange(start_date=day, end_date=day + timedelta(hours=4)))
    assert len(listed) == 150
    assert {query(r)["max"] for r in world.sent("GET", "/appointments")} >= {"100", "200"}
    assert len({a.id for a in listed}) == 150


async def test_list_appointments_names_invitees_and_leaves_customer_ids_to_the_caller(world: World) -> None:
    adapter = world.adapter()
    listed = await adapter.list_appointments(TWO_WEEKS)
    assert {a.invitee_email for a in listed} == {KNOWN.email, "stranger@example.com"}
    assert all(a.customer_id is None and a.status == "scheduled" for a in listed)
    stranger = next(a for a in listed if a.invitee_email == "stranger@example.com")
    assert stranger.type == "check-in"
    [request] = world.sent()
    assert query(request)["calendarID"] == str(world.ids.calendar) and "email" not in query(request)


# Availability ---------------------------------------------------------------------------------------------------


async def test_fourteen_days_of_availability_cost_two_month_reads_and_one_read_per_free_day(world: World) -> None:
    adapter = world.adapter()

    slots = await adapter.get_availability(TWO_WEEKS, "coaching-session")

    dates = world.sent("GET", "/availability/dates")
    times = world.sent("GET", "/availability/times")
    assert sorted(query(r)["month"] for r in dates) == ["2026-11", "2026-12"]
    weekdays = ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]
    weekdays += ["2026-11-30", "2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"]
    assert sorted(query(r)["date"] for r in times) == weekdays
    assert len(world.sent()) == 2 + 10 + 1  # + the appointment types (durations), cached afterwards
    for request in dates + times:
        params = query(request)
        assert params["timezone"] == COACH_TIME_ZONE and params["calendarID"] == str(world.ids.calendar)
    assert [s.start_time for s in slots] == sorted(s.start_time for s in slots)
    assert slots[0].start_time == datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 09:00 in Los Angeles
    assert all(s.duration == 60 and s.end_time - s.start_time == timedelta(minutes=60) for s in slots)

    world.fake.requests.clear()
    await adapter.get_availability(TWO_WEEKS, "coaching-session")
    assert len(world.sent()) == 12


async def test_availability_starts_now_not_at_the_start_of_the_range(world: World) -> None:
    world.clock.set(datetime(2026, 11, 24, 20, 15, tzinfo=UTC))  # Tuesday 12:15 in Los Angeles
    adapter = world.adapter()
    earlier = DateRange(start_date=NOW, end_date=NOW + timedelta(days=3))
    slots = await adapter.get_availability(earlier, "check-in")
    assert slots and min(s.start_time for s in slots) >= world.clock.now()
    assert "2026-11-23" not in {query(r)["date"] for r in world.sent("GET", "/availability/times")}


# Errors and limits ------------------------------------------------------------------------------------------------


async def test_credentials_travel_as_basic_auth(world: World) -> None:
    adapter = world.adapter()
    await adapter.ping()
    [request] = world.sent("GET", "/me")
    expected = base64.b64encode(f"{USER_ID}:{API_KEY}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert API_KEY not in request.query


@pytest.mark.parametrize(
    ("fault", "reason", "says"),
    [
        ("auth", "invalid", "SCHEDULING_API_KEY"),
        ("expired", "expired", "expired"),
        ("missing_scope", "missing_scope", "plan does not include API access"),
        ("quota", "missing_scope", "plan does not include API access"),
    ],
)
async def test_auth_failures_say_what_to_fix(world: World, fault: Any, reason: str, says: str) -> None:
    adapter = world.adapter()
    world.fake.fail_next(fault)
    with pytest.raises(ProviderAuthError, match=says) as info:
        await adapter.get_upcoming_appointments(KNOWN)
    assert info.value.reason == reason and info.value.source == "scheduling"


async def test_a_wrong_key_is_invalid(world: World) -> None:
    with pytest.raises(ProviderAuthError) as info:
        await world.adapter(api_key="wrong").ping()
    assert info.value.reason == "invalid"


async def test_rate_limits_wait_as_told_else_one_second(world: World) -> None:
    adapter = world.adapter()
    world.fake.fail_next("rate_limited")
    with pytest.raises(RateLimited) as info:
        await adapter.ping()
    assert info.value.retry_after == 1.0
    world.fake.retry_after = 7
    world.fake.fail_next("rate_limited")
    with pytest.raises(RateLimited) as told:
        await adapter.ping()
    assert told.value.retry_after == 7.0


async def test_a_payload_outside_the_documented_shape_is_invalid(world: World) -> None:
    adapter = world.adapter()
    world.fake.fail_next("malformed")
    with pytest.raises(ProviderResponseInvalid):
        await adapter.get_upcoming_appointments(KNOWN)
    naive = world.fake.add_appointment(
        KNOWN.email, NOW + timedelta(days=1), appointment_type_id=world.ids.types["check-in"]
    )
    original = world.fake._render

    def without_offset(appointment: Any, *, forms: bool = True) -> dict[str, Any]:
        rendered = original(appointment, forms=forms)
        if rendered["id"] == naive:
            rendered["datetime"] = rendered["datetime"][:19]  # no UTC offset: the instant is unknowable
        return rendered

    world.fake._render = without_offset  # type: ignore[method-assign]
    with pytest.raises(ProviderResponseInvalid, match="offset"):
        await adapter.get_upcoming_appointments(KNOWN)


async def test_requests_are_capped_in_flight_and_per_second() -> None:
    now = [0.0]
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    limiter = RequestLimiter(concurrency=3, per_second=5, monotonic=lambda: now[0], sleep=sleep)
    in_flight = 0
    most = 0
    started: list[float] = []

    async def request() -> None:
        nonlocal in_flight, most
        async with limiter.slot():
            in_flight += 1
            most = max(most, in_flight)
            started.append(now[0])
            await asyncio.sleep(0)
            in_flight -= 1

    await asyncio.gather(*(request() for _ in range(12)))
    assert most <= 3
    for index, start in enumerate(started):
        assert sum(1 for other in started[index:] if other - start < 1.0) <= 5
    assert sleeps  # the burst had to wait


async def test_the_adapter_keeps_at_most_ten_requests_in_flight(world: World) -> None:
    in_flight = 0
    most = 0
    app = world.fake.app

    async def counting(scope: Any, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0.02)
            await app(scope, receive, send)
        finally:
            in_flight -= 1

    # Pacing off, so only the in-flight cap holds the 20 day reads of two searches back.
    adapter = world.adapter(transport=httpx.ASGITransport(app=counting), limiter=RequestLimiter(per_second=None))
    await asyncio.gather(*(adapter.get_availability(TWO_WEEKS, "check-in") for _ in range(2)))
    assert len(world.sent("GET", "/availability/times")) == 20
    assert most == 10


# Configuration ----------------------------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    return {"SCHEDULING_PROVIDER": "acuity", **extra}


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        (_env(SCHEDULING_API_KEY="k"), "Missing required environment variable: SCHEDULING_ACUITY_USER_ID"),
        (_env(SCHEDULING_ACUITY_USER_ID="123"), "Missing required environment variable: SCHEDULING_API_KEY"),
        (_env(SCHEDULING_ACUITY_USER_ID="me@example.com", SCHEDULING_API_KEY="k"), "SCHEDULING_ACUITY_USER_ID"),
        (_env(SCHEDULING_ACUITY_USER_ID="1", SCHEDULING_API_KEY="k", SCHEDULING_CALENDAR_ID="Coach"), "CALENDAR_ID"),
        (
            _env(SCHEDULING_ACUITY_USER_ID="1", SCHEDULING_API_KEY="k", SCHEDULING_EVENT_TYPE_MAP='{"check-in": "x"}'),
            "SCHEDULING_EVENT_TYPE_MAP",
        ),
    ],
)
def test_configuration_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(env, read_env_files=False)


async def test_from_settings_and_the_api_path(world: World) -> None:
    env = _env(SCHEDULING_ACUITY_USER_ID=" 123 ", SCHEDULING_API_KEY="key")
    async with httpx.AsyncClient() as client:
        default = AcuitySchedulingAdapter.from_settings(
            load_settings(env, read_env_files=False), http_client=client, clock=world.clock
        )
        assert default.http.base_url == DEFAULT_BASE_URL and default.user_id == "123"
        assert default.event_types == {} and default.calendar_id is None and default.time_zone.key == "UTC"
        for endpoint in ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v1/"):
            configured = AcuitySchedulingAdapter.from_settings(
                load_settings(
                    {
                        **env,
                        "SCHEDULING_ENDPOINT": endpoint,
                        "SCHEDULING_EVENT_TYPE_MAP": '{"check-in": 7002}',
                        "SCHEDULING_CALENDAR_ID": "4001",
                        "SCHEDULING_TIME_ZONE": "Europe/Berlin",
                    },
                    read_env_files=False,
                ),
                http_client=client,
                clock=world.clock,
            )
            assert configured.http.base_url == "http://127.0.0.1:8080/api/v1"
            assert configured.event_types == {"check-in": 7002} and configured.calendar_id == "4001"
            assert configured.time_zone.key == "Europe/Berlin"
        with pytest.raises(ConfigurationError, match="SCHEDULING_API_KEY"):
            AcuitySchedulingAdapter(http_client=client, clock=world.clock, user_id="1", api_key=" ")
