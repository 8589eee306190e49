"""The Google Calendar scheduling adapter against the in-process Google Calendar fake: slots, tokens, bookings,
limits, configuration and the requests it sends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fearvana_integration.adapters.http import build_http_client
from fearvana_integration.adapters.scheduling.google_calendar import (
    QUOTA_BACKOFF,
    RATE_LIMIT_RETRY_SECONDS,
    SCOPES,
    GoogleCalendarSchedulingAdapter,
    GoogleCredentials,
    OAuthRefreshToken,
    ServiceAccountKey,
    event_id_for,
)
from fearvana_integration.clock import FakeClock
from fearvana_integration.config import load_settings
from fearvana_integration.domain.scheduling import DateRange, TimeSlot
from fearvana_integration.domain.working_hours import WorkingHours
from fearvana_integration.errors import (
    AppointmentNotFound,
    ConfigurationError,
    ProviderAuthError,
    ProviderRejected,
    ProviderResponseInvalid,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    SlotUnavailable,
)
from tests.conformance.harness import KNOWN, NOW, OTHER
from tests.conformance.harness_google_calendar import (
    API_URL,
    COACH,
    SERVICE_ACCOUNT,
    TOKEN_URL,
    install_world,
    new_fake,
    service_account_info,
)
from tests.fakes.faults import RecordedRequest
from tests.fakes.google_calendar import FakeGoogleCalendar
from tests.fakes.server import serve

EVENTS_PATH = "/calendar/v3/calendars/primary/events"
FREEBUSY_PATH = "/calendar/v3/freeBusy"
SA_CREDENTIALS = ServiceAccountKey(info=service_account_info(), subject=COACH)
OAUTH_CREDENTIALS = OAuthRefreshToken(
    client_id="test-client-id",
    client_secret=SecretStr("test-client-secret"),
    refresh_token=SecretStr("test-refresh-token"),
)


# ------------------------------------------------------------------------------------------------ plumbing


class Gate:
    """Holds requests to one path while closed, so concurrent callers really overlap.

    ASGITransport runs the fake inline: a request that never waits never yields to the event loop.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._open = asyncio.Event()
        self._open.set()
        self.held = 0
        self.arrived = asyncio.Event()

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"] == self.path and not self._open.is_set():
                self.held += 1
                self.arrived.set()
                await self._open.wait()
            await app(scope, receive, send)

        return wrapper


def with_retry_after(app: ASGIApp, seconds: str) -> ASGIApp:
    """The app, with a ``Retry-After`` header on every 403/429 (Google documents none; honoured if sent)."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (403, 429):
                message = {**message, "headers": [*message.get("headers", []), (b"retry-after", seconds.encode())]}
            await send(message)

        await app(scope, receive, sending)

    return wrapper


@dataclass
class Account:
    """The fake account, the client on it and the adapter under test."""

    fake: FakeGoogleCalendar
    client: httpx.AsyncClient
    adapter: GoogleCalendarSchedulingAdapter
    clock: FakeClock

    def api_requests(self, path_suffix: str = "") -> list[RecordedRequest]:
        return [r for r in self.fake.requests if r.path.startswith("/calendar/v3") and r.path.endswith(path_suffix)]

    def token_requests(self) -> list[RecordedRequest]:
        return [r for r in self.fake.requests if r.path == "/token"]


Builder = Callable[..., Awaitable[Account]]


@pytest.fixture
async def build() -> AsyncIterator[Builder]:
    """Builds accounts; every client and adapter built is closed afterwards."""
    made: list[Account] = []

    async def factory(
        *,
        now: datetime = NOW,
        hours: str = "mon-fri 09:00-17:00",
        zone: str = "America/New_York",
        buffer_minutes: int = 0,
        slot_step_minutes: int = 30,
        credentials: GoogleCredentials = SA_CREDENTIALS,
        world: bool = True,
        wrap: Callable[[ASGIApp], ASGIApp] | None = None,
        fake: FakeGoogleCalendar | None = None,
        calendar_id: str = "primary",
    ) -> Account:
        fake = fake or new_fake()
        if world:
            install_world(fake)
        app: ASGIApp = fake.app if wrap is None else wrap(fake.app)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        clock = FakeClock(now)
        adapter = GoogleCalendarSchedulingAdapter(
            http_client=client,
            clock=clock,
            credentials=credentials,
            calendar_id=calendar_id,
            base_url=API_URL,
            token_url=TOKEN_URL,
            working_hours=WorkingHours.parse(hours, zone),
            buffer_minutes=buffer_minutes,
            slot_step_minutes=slot_step_minutes,
        )
        account = Account(fake, client, adapter, clock)
        made.append(account)
        return account

    yield factory
    for account in made:
        await account.adapter.aclose()
        await account.client.aclose()


def query(request: RecordedRequest) -> dict[str, list[str]]:
    return parse_qs(request.query)


def slot_at(start: datetime, minutes: int = 60, appointment_type: Any = "coaching-session") -> TimeSlot:
    return TimeSlot(
        start_time=start,
        end_time=start + timedelta(minutes=minutes),
        duration=minutes,
        appointment_type=appointment_type,
        provider_ref="test",
    )


def week(start: datetime = NOW, days: int = 7) -> DateRange:
    return DateRange(start_date=start, end_date=start + timedelta(days=days))


# ------------------------------------------------------------------------------------------------ slots


async def test_slots_follow_local_working_hours_across_a_dst_change(build: Builder) -> None:
    # New York leaves daylight saving time on Sunday 2026-11-01: 09:00 local is 13:00 UTC before, 14:00 after.
    thursday = datetime(2026, 10, 29, 0, 0, tzinfo=UTC)
    account = await build(now=thursday, world=False)
    slots = await account.adapter.get_availability(week(thursday, 6), "check-in")
    by_day: dict[str, list[datetime]] = {}
    for slot in slots:
        by_day.setdefault(slot.start_time.date().isoformat(), []).append(slot.start_time)
    assert sorted(by_day) == ["2026-10-29", "2026-10-30", "2026-11-02", "2026-11-03"]  # no weekend
    assert [(min(v).hour, max(v).hour, max(v).minute) for v in by_day.values()] == [
        (13, 20, 30),
        (13, 20, 30),
        (14, 21, 30),
        (14, 21, 30),
    ]
    assert all(len(v) == 16 for v in by_day.values())  # 8 hours of 30-minute steps
    assert all(s.duration == 30 and s.end_time - s.start_time == timedelta(minutes=30) for s in slots)


async def test_busy_periods_widened_by_the_buffer_are_not_offered(build: Builder) -> None:
    account = await build(world=False, buffer_minutes=15, zone="UTC")
    monday = NOW.replace(hour=0)
    account.fake.add_event(start=monday.replace(hour=10), end=monday.replace(hour=11), summary="Busy")
    slots = await account.adapter.get_availability(week(NOW, 1), "check-in")
    starts = [s.start_time.strftime("%H:%M") for s in slots]
    # 09:30-10:00 ends inside the 15-minute buffer before 10:00, 11:00 starts inside the one after 11:00.
    assert starts[:3] == ["09:00", "11:30", "12:00"]
    assert "09:30" not in starts and "11:00" not in starts


async def test_slots_step_from_each_periods_opening_and_fit_inside_it(build: Builder) -> None:
    account = await build(world=False, hours="mon 09:15-10:30; mon 14:00-15:00", zone="UTC", slot_step_minutes=20)
    slots = await account.adapter.get_availability(week(NOW, 1), "check-in")
    assert [s.start_time.strftime("%H:%M") for s in slots] == ["09:15", "09:35", "09:55", "14:00", "14:20"]


async def test_a_slot_already_begun_is_not_offered_and_the_grid_keeps_its_anchor(build: Builder) -> None:
    account = await build(world=False, zone="UTC", now=NOW.replace(hour=10, minute=7))
    slots = await account.adapter.get_availability(week(NOW.replace(hour=10, minute=7), 1), "check-in")
    assert slots[0].start_time == NOW.replace(hour=10, minute=30)


async def test_one_free_busy_request_per_14_day_search_and_none_without_working_hours(build: Builder) -> None:
    account = await build()
    await account.adapter.ping()  # a token exists
    account.fake.requests.clear()
    slots = await account.adapter.get_availability(week(NOW, 14), "coaching-session")
    assert slots
    [request] = account.fake.requests
    assert (request.method, request.path) == ("POST", FREEBUSY_PATH)
    body = json.loads(request.body)
    assert body["items"] == [{"id": "primary"}]
    assert datetime.fromisoformat(body["timeMin"]) == slots[0].start_time
    assert datetime.fromisoformat(body["timeMax"]) <= NOW + timedelta(days=14)
    # The world's sessions are busy: the first (Tuesday 14:00 UTC) is not offered, nor the coach's meeting.
    starts = {s.start_time for s in slots}
    assert NOW + timedelta(hours=30) not in starts
    assert NOW + timedelta(hours=7) not in starts
    account.fake.requests.clear()
    saturday = NOW + timedelta(days=5)
    assert await account.adapter.get_availability(week(saturday, 2), "check-in") == []
    assert account.fake.requests == []


async def test_a_calendar_google_cannot_read_is_an_error_not_a_free_week(build: Builder) -> None:
    account = await build(calendar_id="someone-else@fearvana.test")
    with pytest.raises(ProviderAuthError, match="SCHEDULING_CALENDAR_ID"):
        await account.adapter.get_availability(week(), "check-in")


# ------------------------------------------------------------------------------------------------ tokens


async def test_ten_concurrent_calls_make_one_token_request_without_blocking_the_loop(build: Builder) -> None:
    gate = Gate("/token")
    account = await build(wrap=gate.wrap)
    gate.close()
    beats = 0

    async def heartbeat() -> None:
        nonlocal beats
        while True:
            beats += 1
            await asyncio.sleep(0)

    pulse = asyncio.ensure_future(heartbeat())
    calls = [asyncio.ensure_future(account.adapter.get_availability(week(), "check-in")) for _ in range(10)]
    async with asyncio.timeout(5):
        await gate.arrived.wait()
    seen = beats
    for _ in range(50):
        await asyncio.sleep(0)
    # Other coroutines keep running while the refresh (signing in a thread, posting on the loop) waits.
    assert beats > seen and not any(call.done() for call in calls)
    pulse.cancel()
    gate.open()
    async with asyncio.timeout(5):
        results = await asyncio.gather(*calls)
    assert all(results) and all(r == results[0] for r in results)
    assert len(account.token_requests()) == 1 == account.fake.token_requests
    assert len(account.api_requests(FREEBUSY_PATH)) == 10


async def test_the_service_account_signs_a_delegated_jwt_with_our_scopes(build: Builder) -> None:
    account = await build()
    await account.adapter.ping()
    [token_request] = account.token_requests()
    form = parse_qs(token_request.body.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    [issued] = [t for t in account.fake.issued_tokens if t.grant == "jwt-bearer"]
    assert issued.subject == COACH  # the fake checked the RS256 signature with the key's public half
    assert issued.scopes == frozenset(SCOPES)
    [api] = account.api_requests()
    assert api.headers["authorization"] == f"Bearer {issued.value}"


async def test_an_oauth_refresh_token_is_exchanged_once_and_reused(build: Builder) -> None:
    account = await build(credentials=OAUTH_CREDENTIALS)
    await account.adapter.ping()
    await account.adapter.get_upcoming_appointments(KNOWN)
    [token_request] = account.token_requests()
    form = parse_qs(token_request.body.decode())
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["test-refresh-token"]
    assert "scope" not in form  # the token keeps what the user consented to


async def test_an_expired_token_is_replaced_once_and_the_request_retried(build: Builder) -> None:
    account = await build()
    await account.adapter.ping()
    account.fake.expire_tokens()
    upcoming = await account.adapter.get_upcoming_appointments(KNOWN)
    assert len(upcoming) == 2
    assert len(account.token_requests()) == 2  # the first one, and one for both concurrent 401s


async def test_a_token_is_renewed_before_it_expires(build: Builder) -> None:
    account = await build()
    await account.adapter.ping()
    account.clock.advance(3599 - 299)  # within five minutes of the end of its life
    await account.adapter.ping()
    assert len(account.token_requests()) == 2
    first, second = (r.headers["authorization"] for r in account.api_requests())
    assert first != second


async def test_a_revoked_refresh_token_is_an_expired_auth_error_shared_by_every_waiter(build: Builder) -> None:
    account = await build(credentials=OAUTH_CREDENTIALS)
    account.fake.revoke_refresh_token("test-refresh-token")
    results = await asyncio.gather(
        *(account.adapter.get_upcoming_appointments(KNOWN) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, ProviderAuthError) and r.reason == "expired" for r in results)
    assert len({id(r) for r in results}) == 5  # each caller its own copy
    assert "reconnect" in str(results[0])
    assert account.fake.token_requests == 1


async def test_a_deleted_service_account_key_is_an_expired_auth_error(build: Builder) -> None:
    fake = new_fake()
    other = service_account_info()  # the same key, registered for another account: the signature fails
    fake.add_service_account(SERVICE_ACCOUNT, _other_public_key())
    account = await build(fake=fake, credentials=ServiceAccountKey(info=other, subject=COACH))
    with pytest.raises(ProviderAuthError) as info:
        await account.adapter.ping()
    assert info.value.reason == "expired" and info.value.operation == "ping"


@cache
def _other_public_key() -> str:
    """The public half of a key nobody signs with (the service account's key was deleted and replaced)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


async def test_a_token_without_the_events_scope_is_a_missing_scope_error(build: Builder) -> None:
    account = await build(credentials=OAUTH_CREDENTIALS)
    account.fake.set_scopes(["https://www.googleapis.com/auth/calendar.freebusy"])
    assert await account.adapter.get_availability(week(), "check-in")  # freeBusy is allowed
    with pytest.raises(ProviderAuthError) as info:
        await account.adapter.get_scheduling_context(KNOWN)
    assert info.value.reason == "missing_scope"
    assert "calendar.events" in str(info.value)


@pytest.mark.parametrize(
    ("status", "body", "error", "reason"),
    [
        (400, {"error": "invalid_scope", "error_description": "Bad Request"}, ProviderAuthError, "missing_scope"),
        (
            401,
            {"error": "unauthorized_client", "error_description": "Client is unauthorized"},
            ProviderAuthError,
            "missing_scope",
        ),
        (
            401,
            {"error": "invalid_client", "error_description": "The OAuth client was not found."},
            ProviderAuthError,
            "invalid",
        ),
        (503, {"error": "temporarily_unavailable"}, ProviderUnavailable, None),
        (429, {"error": "rate_limit_exceeded"}, RateLimited, None),
        (200, {"token_type": "Bearer"}, ProviderResponseInvalid, None),
    ],
)
async def test_token_endpoint_answers_map_to_the_error_tree_without_retries(
    status: int, body: dict[str, str], error: type[Exception], reason: str | None
) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        adapter = GoogleCalendarSchedulingAdapter(
            http_client=client,
            clock=FakeClock(NOW),
            credentials=OAUTH_CREDENTIALS,
            base_url=API_URL,
            token_url=TOKEN_URL,
        )
        with pytest.raises(error) as info:
            await adapter.ping()
    assert len(calls) == 1  # google-auth's own retry loop (sleeping 1-2 s) is bypassed
    assert str(calls[0].url) == TOKEN_URL
    if reason is not None:
        assert isinstance(info.value, ProviderAuthError) and info.value.reason == reason


# ------------------------------------------------------------------------------------------------ reading sessions


async def test_one_context_costs_two_concurrent_list_requests(build: Builder) -> None:
    account = await build()
    context = await account.adapter.get_scheduling_context(KNOWN)
    assert len(account.token_requests()) == 1
    lists = account.api_requests()
    assert len(lists) == 2 and all(r.method == "GET" and r.path == EVENTS_PATH for r in lists)
    stamped, searched = sorted((query(r) for r in lists), key=lambda q: "q" in q)
    assert stamped["privateExtendedProperty"] == [f"customerId={KNOWN.id}"]
    assert searched["q"] == [KNOWN.email]
    for params in (stamped, searched):
        assert params["singleEvents"] == ["true"] and params["orderBy"] == ["startTime"]
        assert "timeMin" not in params  # the whole history: the completed-session count needs it
        assert datetime.fromisoformat(params["timeMax"][0]) == NOW + timedelta(days=14)
    assert context.session_count == 4 and context.next_appointment is not None
    assert context.next_appointment.join_url is not None and context.next_appointment.join_url.startswith(
        "https://meet.google.com/"
    )
    account.fake.requests.clear()
    await account.adapter.get_scheduling_context(KNOWN)
    assert len(account.fake.requests) == 2  # the token is reused


async def test_sessions_made_by_hand_count_when_the_customer_is_an_attendee(build: Builder) -> None:
    account = await build(world=False)
    fake = account.fake
    hand_made = fake.add_event(
        start=NOW - timedelta(days=2),
        end=NOW - timedelta(days=2) + timedelta(minutes=45),
        summary="Call with Kim",
        description="<p>Talked about <b>sleep</b><br>Next: journaling &amp; walks</p>",
        attendees=[COACH, {"email": "Known@Example.com", "responseStatus": "accepted"}],
    )
    fake.add_event(  # mentions the email in its text only: not a session with the customer
        start=NOW - timedelta(days=3), end=NOW - timedelta(days=3, hours=-1), description=f"ask {KNOWN.email}"
    )
    fake.add_event(  # another customer's booking that lists the email too: not this customer's
        start=NOW - timedelta(days=4),
        end=NOW - timedelta(days=4, hours=-1),
        attendees=[KNOWN.email, OTHER.email],
        private_properties={"customerId": str(OTHER.id), "appointmentType": "check-in"},
    )
    fake.add_event(  # declined by the customer: called off
        start=NOW - timedelta(days=5),
        end=NOW - timedelta(days=5, hours=-1),
        attendees=[{"email": KNOWN.email, "responseStatus": "declined"}],
    )
    past = await account.adapter.get_past_appointments(KNOWN)
    assert [(a.id, a.status) for a in past] == [(hand_made, "completed")]
    assert past[0].type == "coaching-session" and past[0].duration == 45
    assert past[0].notes == "Talked about sleep\nNext: journaling & walks"
    assert await account.adapter.count_completed_sessions(KNOWN) == 1


async def test_status_mapping_of_stamped_sessions(build: Builder) -> None:
    account = await build(world=False)
    fake = account.fake
    stamp = {"customerId": str(KNOWN.id), "appointmentType": "assessment", "outcome": "Booked the retreat"}

    def add(start: datetime, **extra: Any) -> str:
        return fake.add_event(
            start=start, end=start + timedelta(hours=1), attendees=[KNOWN.email], private_properties=stamp, **extra
        )

    done = add(NOW - timedelta(days=1))
    in_progress = add(NOW - timedelta(minutes=30))
    missed = fake.add_event(
        start=NOW - timedelta(days=2),
        end=NOW - timedelta(days=2, hours=-1),
        attendees=[KNOWN.email],
        private_properties={**stamp, "appointmentStatus": "no-show"},
    )
    cancelled = add(NOW - timedelta(days=3))
    fake.cancel_event("primary", cancelled)
    past = {a.id: a for a in await account.adapter.get_past_appointments(KNOWN)}
    assert {k: v.status for k, v in past.items()} == {done: "completed", in_progress: "scheduled", missed: "no-show"}
    assert past[done].type == "assessment" and past[done].outcome == "Booked the retreat"


async def test_list_appointments_names_the_invitee_not_the_coach(build: Builder) -> None:
    account = await build(world=False)
    fake = account.fake
    start = NOW + timedelta(days=1)
    ours = fake.add_event(
        start=start,
        end=start + timedelta(minutes=30),
        attendees=[KNOWN.email],
        private_properties={"customerId": str(KNOWN.id), "appointmentType": "check-in"},
    )
    by_hand = fake.add_event(
        start=start + timedelta(hours=2),
        end=start + timedelta(hours=3),
        attendees=[{"email": COACH, "responseStatus": "accepted"}, "lead@example.com"],
        conference=True,
    )
    fake.add_event(start=start + timedelta(hours=4), end=start + timedelta(hours=5), summary="Focus time")
    fake.add_event(
        start=start + timedelta(hours=6),
        end=start + timedelta(hours=7),
        attendees=[{"email": "gone@example.com", "responseStatus": "declined"}],
    )
    listed = await account.adapter.list_appointments(week())
    assert [(a.id, a.invitee_email, a.customer_id, a.type) for a in listed] == [
        (ours, KNOWN.email, KNOWN.id, "check-in"),
        (by_hand, "lead@example.com", None, None),
    ]
    assert listed[1].join_url is not None


# ------------------------------------------------------------------------------------------------ booking


async def test_booking_stamps_invites_and_asks_for_a_meet_link(build: Builder) -> None:
    account = await build()
    await account.adapter.ping()
    account.fake.requests.clear()
    slot = (await account.adapter.get_availability(week(), "check-in"))[0]
    account.fake.requests.clear()
    appointment = await account.adapter.book_appointment(KNOWN, slot, "check-in", booking_id="bk-42")
    freebusy, insert = account.fake.requests
    assert (freebusy.method, freebusy.path, insert.method, insert.path) == ("POST", FREEBUSY_PATH, "POST", EVENTS_PATH)
    assert query(insert)["sendUpdates"] == ["all"] and query(insert)["conferenceDataVersion"] == ["1"]
    body = json.loads(insert.body)
    assert body["id"] == event_id_for("booking:bk-42") == appointment.id
    assert body["extendedProperties"]["private"] == {
        "customerId": str(KNOWN.id),
        "appointmentType": "check-in",
        "bookingId": "bk-42",
    }
    assert body["attendees"] == [{"email": KNOWN.email, "displayName": "Kim Known"}]
    assert body["start"]["timeZone"] == "America/New_York"
    assert appointment.join_url is not None and appointment.join_url.startswith("https://meet.google.com/")
    assert (appointment.status, appointment.type, appointment.duration) == ("scheduled", "check-in", 30)
    [update] = account.fake.sent_updates
    assert (update.send_updates, update.attendees) == ("all", (KNOWN.email,))


async def test_the_same_booking_id_twice_makes_one_event(build: Builder) -> None:
    account = await build()
    slot = (await account.adapter.get_availability(week(), "coaching-session"))[0]
    first = await account.adapter.book_appointment(KNOWN, slot, "coaching-session", booking_id="bk-1")
    again = await account.adapter.book_appointment(KNOWN, slot, "coaching-session", booking_id="bk-1")
    assert again.id == first.id
    assert len(account.fake.created_events()) == 1


async def test_a_duplicate_id_409_returns_the_earlier_booking(build: Builder) -> None:
    # The first attempt reached Google but its answer was lost, and freeBusy does not show it (yet): the
    # insert answers 409 and the existing event is returned instead of a second one.
    account = await build()
    start = NOW + timedelta(days=1, hours=8)  # Tuesday 16:00 UTC, 11:00 in New York
    earlier = account.fake.add_event(
        event_id=event_id_for("booking:bk-7"),
        start=start,
        end=start + timedelta(hours=1),
        attendees=[KNOWN.email],
        private_properties={"customerId": str(KNOWN.id), "appointmentType": "coaching-session", "bookingId": "bk-7"},
        transparency="transparent",
    )
    appointment = await account.adapter.book_appointment(KNOWN, slot_at(start), "coaching-session", booking_id="bk-7")
    assert appointment.id == earlier
    assert [r.method for r in account.api_requests()] == ["POST", "POST", "GET"]  # freeBusy, insert (409), get
    assert account.fake.created_events() == []
    with pytest.raises(SlotUnavailable):  # the same booking id cannot take another customer's event
        await account.adapter.book_appointment(OTHER, slot_at(start), "coaching-session", booking_id="bk-7")


async def test_a_lost_answer_then_a_retry_without_booking_id_books_once(build: Builder) -> None:
    lost = {"done": False}

    def losing(app: ASGIApp) -> ASGIApp:
        async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
            await app(scope, receive, send)
            if scope["method"] == "POST" and scope["path"] == EVENTS_PATH and not lost["done"]:
                lost["done"] = True
                raise httpx.ReadTimeout("the answer never arrived")

        return wrapper

    account = await build(wrap=losing)
    slot = (await account.adapter.get_availability(week(), "check-in"))[0]
    with pytest.raises(ProviderUnavailable):
        await account.adapter.book_appointment(KNOWN, slot, "check-in")
    retried = await account.adapter.book_appointment(KNOWN, slot, "check-in")
    [created] = account.fake.created_events()
    assert (
        retried.id
        == created["id"]
        == event_id_for(f"slot:{KNOWN.id}|{slot.start_time.isoformat().replace('+00:00', 'Z')}|check-in")
    )


async def test_rebooking_a_cancelled_slot_uses_the_next_id(build: Builder) -> None:
    account = await build()
    slot = (await account.adapter.get_availability(week(), "check-in"))[0]
    first = await account.adapter.book_appointment(KNOWN, slot, "check-in")
    await account.adapter.cancel_appointment(KNOWN, first.id)
    second = await account.adapter.book_appointment(KNOWN, slot, "check-in")
    assert second.id == f"{first.id}g1" and second.status == "scheduled"
    assert [e["status"] for e in account.fake.created_events()] == ["cancelled", "confirmed"]


async def test_a_slot_outside_working_hours_or_in_the_past_is_refused_with_alternatives(build: Builder) -> None:
    account = await build()
    for start in (NOW + timedelta(hours=1), NOW - timedelta(hours=1)):  # 04:00 in New York; the past
        with pytest.raises(SlotUnavailable) as info:
            await account.adapter.book_appointment(KNOWN, slot_at(start), "coaching-session")
        assert info.value.alternatives
    assert account.fake.created_events() == []


# ------------------------------------------------------------------------------------------------ cancelling


async def test_cancel_deletes_with_updates_and_a_gone_event_is_already_cancelled(build: Builder) -> None:
    account = await build()
    slot = (await account.adapter.get_availability(week(), "check-in"))[0]
    booked = await account.adapter.book_appointment(KNOWN, slot, "check-in")
    account.fake.requests.clear()
    cancelled = await account.adapter.cancel_appointment(KNOWN, booked.id)
    get, delete = account.fake.requests
    assert (get.method, delete.method, query(delete)["sendUpdates"]) == ("GET", "DELETE", ["all"])
    assert cancelled.status == "cancelled"
    assert (await account.adapter.cancel_appointment(KNOWN, booked.id)).status == "cancelled"


async def test_events_we_did_not_book_for_the_customer_cannot_be_cancelled(build: Builder) -> None:
    account = await build()
    start = NOW + timedelta(days=2)
    by_hand = account.fake.add_event(start=start, end=start + timedelta(hours=1), attendees=[KNOWN.email])
    for event_id in (by_hand, "no-such-appointment", "../../freeBusy"):
        with pytest.raises(AppointmentNotFound):
            await account.adapter.cancel_appointment(KNOWN, event_id)
    assert all(r.method == "GET" for r in account.api_requests())


async def test_a_session_that_has_started_cannot_be_cancelled(build: Builder) -> None:
    account = await build()
    past = (await account.adapter.get_past_appointments(KNOWN, limit=1))[0]
    with pytest.raises(ProviderRejected):
        await account.adapter.cancel_appointment(KNOWN, past.id)


# ------------------------------------------------------------------------------------------------ limits


async def test_calendar_usage_limits_are_a_quota_with_a_long_reset_and_no_retry(build: Builder) -> None:
    account = await build()
    await account.adapter.ping()
    account.fake.requests.clear()
    account.fake.fail_next("quota")
    with pytest.raises(QuotaExhausted) as info:
        await account.adapter.get_availability(week(), "check-in")
    assert info.value.resets_at == NOW + QUOTA_BACKOFF
    assert info.value.operation == "get_availability" and "usage limits" in str(info.value)
    assert len(account.fake.requests) == 1


@pytest.mark.parametrize("variant", ["403", "429", "user"])
async def test_rate_limits_sent_as_403_or_429_are_rate_limited(build: Builder, variant: str) -> None:
    account = await build()
    account.fake.fail_next("rate_limited", variant=variant)
    with pytest.raises(RateLimited) as info:
        await account.adapter.get_availability(week(), "check-in")
    assert info.value.retry_after == RATE_LIMIT_RETRY_SECONDS and info.value.retryable
    assert len(account.api_requests()) == 1


async def test_a_retry_after_header_is_honoured(build: Builder) -> None:
    account = await build(wrap=lambda app: with_retry_after(app, "7"))
    account.fake.fail_next("rate_limited")
    with pytest.raises(RateLimited) as info:
        await account.adapter.get_availability(week(), "check-in")
    assert info.value.retry_after == 7.0


# ------------------------------------------------------------------------------------------------ configuration


def key_file(tmp_path: Path, content: str | dict[str, object] | None = None) -> str:
    path = tmp_path / "key.json"
    info = service_account_info() if content is None else content
    path.write_text(info if isinstance(info, str) else json.dumps(info))
    return str(path)


def google_settings(**env: str) -> Any:
    return load_settings({"SCHEDULING_PROVIDER": "google", **env}, read_env_files=False)


def test_nothing_set_names_both_credential_sets() -> None:
    with pytest.raises(ConfigurationError) as info:
        google_settings()
    message = str(info.value)
    for name in (
        "SCHEDULING_GOOGLE_SERVICE_ACCOUNT_FILE",
        "SCHEDULING_GOOGLE_SUBJECT",
        "SCHEDULING_OAUTH_CLIENT_ID",
        "SCHEDULING_OAUTH_CLIENT_SECRET",
        "SCHEDULING_OAUTH_REFRESH_TOKEN",
    ):
        assert name in message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SCHEDULING_GOOGLE_SUBJECT": "coach@x.test"}, "SCHEDULING_GOOGLE_SERVICE_ACCOUNT_FILE"),
        ({"SCHEDULING_OAUTH_CLIENT_ID": "id"}, "SCHEDULING_OAUTH_CLIENT_SECRET, SCHEDULING_OAUTH_REFRESH_TOKEN"),
        (
            {"SCHEDULING_OAUTH_CLIENT_ID": "id", "SCHEDULING_OAUTH_REFRESH_TOKEN": "r"},
            "variable: SCHEDULING_OAUTH_CLIENT_SECRET",
        ),
        (
            {
                "SCHEDULING_OAUTH_CLIENT_ID": "i",
                "SCHEDULING_OAUTH_CLIENT_SECRET": "s",
                "SCHEDULING_OAUTH_REFRESH_TOKEN": "r",
                "SCHEDULING_OAUTH_TOKEN_URL": "not a url",
            },
            "SCHEDULING_OAUTH_TOKEN_URL",
        ),
    ],
)
def test_an_incomplete_credential_set_names_what_is_missing(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        google_settings(**env)


def test_a_key_file_needs_a_subject_and_excludes_oauth(tmp_path: Path) -> None:
    path = key_file(tmp_path)
    with pytest.raises(ConfigurationError, match="SCHEDULING_GOOGLE_SUBJECT"):
        google_settings(SCHEDULING_GOOGLE_SERVICE_ACCOUNT_FILE=path)
    with pytest.raises(ConfigurationError, match="not both"):
        google_settings(
            SCHEDULING_GOOGLE_SERVICE_ACCOUNT_FILE=path,
            SCHEDULING_GOOGLE_SUBJECT=COACH,
            SCHEDULING_OAUTH_REFRESH_TOKEN="r",
        )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot be read"),
        ("{not json", "is not a JSON key file"),
        ({"type": "authorized_user", "client_email": "a@b.c", "private_key": "x"}, "not a service-account key"),
        ({"type": "service_account"}, "missing or invalid: client_email, private_key"),
        ({"type": "service_account", "client_email": "a@b.c", "private_key": "-----BEGIN nothing"}, "not a valid PEM"),
    ],
)
def test_an_unreadable_or_invalid_key_file_is_a_clear_configuration_error(
    tmp_path: Path, content: str | dict[str, object] | None, expected: str
) -> None:
    path = str(tmp_path / "missing.json") if content is None else key_file(tmp_path, content)
    with pytest.raises(ConfigurationError) as info:
        google_settings(SCHEDULING_GOOGLE_SERVICE_ACCOUNT_FILE=path, SCHEDULING_GOOGLE_SUBJECT=COACH)
    assert "SCHEDULING_GOOGLE_SERVICE_ACCOUNT_FILE" in str(info.value) and expected in str(info.value)
    assert "PRIVATE KEY" not in str(info.value)


async def test_from_settings_over_real_sockets(tmp_path: Path) -> None:
    fake = new_fake()
    install_world(fake)
    with serve(fake.app) as base:
        # The key file's token_uri is Google's: the override must win, or google-auth would reach Google.
        path = key_file(tmp_path, service_account_info(token_uri="https://oauth2.googleapis.com/token"))
        settings = google_settings(
            SCHEDULING_GOOGLE_SERVICE_ACCOUNT_FILE=path,
            SCHEDULING_GOOGLE_SUBJECT=COACH,
            SCHEDULING_ENDPOINT=f"{base}/calendar/v3",
            SCHEDULING_OAUTH_TOKEN_URL=f"{base}/token",
            SCHEDULING_WORKING_HOURS="mon-fri 09:00-17:00",
            SCHEDULING_TIME_ZONE="America/New_York",
            SCHEDULING_BUFFER_MINUTES="10",
            SCHEDULING_DURATIONS='{"check-in": 20}',
        )
        client = build_http_client(5.0)
        adapter = GoogleCalendarSchedulingAdapter.from_settings(settings, http_client=client, clock=FakeClock(NOW))
        try:
            context = await adapter.get_scheduling_context(KNOWN)
            slots = await adapter.get_availability(week(), "check-in")
        finally:
            await adapter.aclose()
            await client.aclose()
    assert context.session_count == 4
    assert slots[0].duration == 20 and slots[0].start_time == NOW.replace(hour=14)
    assert fake.token_requests == 1


async def test_the_settings_build_the_calendar_and_credentials() -> None:
    settings = google_settings(
        SCHEDULING_OAUTH_CLIENT_ID="i",
        SCHEDULING_OAUTH_CLIENT_SECRET="s",
        SCHEDULING_OAUTH_REFRESH_TOKEN="r",
        SCHEDULING_CALENDAR_ID="coach@fearvana.test",
        SCHEDULING_SLOT_STEP_MINUTES="15",
    )
    assert settings.scheduling_provider == "google-calendar"
    async with httpx.AsyncClient() as client:
        adapter = GoogleCalendarSchedulingAdapter.from_settings(settings, http_client=client, clock=FakeClock(NOW))
    assert adapter.calendar_id == "coach@fearvana.test" and adapter.step == timedelta(minutes=15)


def test_event_ids_are_base32hex_and_stable() -> None:
    first = event_id_for("booking:x")
    assert first == event_id_for("booking:x") != event_id_for("booking:y")
    assert len(first) == 32 and set(first) <= set("0123456789abcdefghijklmnopqrstuv")
    assert event_id_for("booking:x", 2) == f"{first}g2"
