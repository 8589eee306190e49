"""The Calendly scheduling adapter against the in-process Calendly fake: the requests it sends and what users see."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from fearvana_integration.adapters.http import build_http_client
from fearvana_integration.adapters.scheduling.calendly import (
    BookingCaps,
    CalendlySchedulingAdapter,
    appointment_type_of,
)
from fearvana_integration.clock import FakeClock
from fearvana_integration.config import load_settings
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.domain.scheduling import AppointmentType, DateRange, TimeSlot
from fearvana_integration.errors import (
    AppointmentNotFound,
    CapabilityNotSupported,
    ConfigurationError,
    ProviderAuthError,
    ProviderRejected,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    SlotUnavailable,
)
from tests.conformance.harness import KNOWN, NOW, OTHER
from tests.conformance.harness_calendly import install_world
from tests.fakes.calendly import EventType, FakeCalendly, iso
from tests.fakes.faults import RecordedRequest
from tests.fakes.server import serve

BASE = "http://calendly.test"
LOOPBACK = "http://127.0.0.1:8999"
TOKEN = "calendly-pat"
TOKEN_PATH = "/oauth/token"
WEEK = DateRange(start_date=NOW, end_date=NOW + timedelta(days=7))


class Gate:
    """Holds requests to one path while closed, so "concurrent" callers really overlap.

    ASGITransport runs the fake inline: a request that never waits never yields to the event loop.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._open = asyncio.Event()
        self._open.set()
        self.held = 0

    def close(self) -> None:
        self._open.clear()

    async def open_once_everyone_waits(self) -> None:
        for _ in range(1000):
            if self.held:
                break
            await asyncio.sleep(0)
        assert self.held, "no request arrived at the gate"
        for _ in range(200):  # let every other caller reach the adapter's lock
            await asyncio.sleep(0)
        self._open.set()

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"] == self.path and not self._open.is_set():
                self.held += 1
                await self._open.wait()
            await app(scope, receive, send)

        return wrapper


class PostInterrupted(httpx.AsyncBaseTransport):
    """The first ``POST /invitees`` times out — after the fake booked it (``booked=True``) or before."""

    def __init__(self, app: ASGIApp, *, booked: bool) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.booked = booked
        self.armed = True
        self.posts = 0  # POST /invitees the adapter sent, whether or not they reached the fake

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/invitees":
            self.posts += 1
        if self.armed and request.method == "POST" and request.url.path == "/invitees":
            self.armed = False
            if self.booked:
                response = await self.inner.handle_async_request(request)
                await response.aread()
            raise httpx.ReadTimeout("timed out waiting for Calendly", request=request)
        return await self.inner.handle_async_request(request)


@dataclass
class Account:
    """A fake Calendly account with the conformance world, and adapters built on it."""

    clock: FakeClock
    fake: FakeCalendly
    types: dict[str, EventType]
    gate: Gate = field(default_factory=lambda: Gate(TOKEN_PATH))
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=transport or httpx.ASGITransport(app=self.gate.wrap(self.fake.app)))
        self.clients.append(client)
        return client

    def adapter(self, transport: httpx.AsyncBaseTransport | None = None, **options: Any) -> CalendlySchedulingAdapter:
        if not any(key.startswith("oauth") for key in options):
            options.setdefault("api_key", TOKEN)
        return CalendlySchedulingAdapter(
            http_client=self.client(transport), clock=self.clock, base_url=BASE, token_url=BASE + TOKEN_PATH, **options
        )

    def oauth_adapter(self, **options: Any) -> CalendlySchedulingAdapter:
        return self.adapter(
            oauth_client_id=self.fake.client_id,
            oauth_client_secret=self.fake.client_secret,
            oauth_refresh_token=self.fake.current_refresh_token(),
            **options,
        )

    def sent(self, path: str | None = None, method: str | None = None) -> list[RecordedRequest]:
        return [
            r for r in self.fake.requests if (path is None or r.path == path) and (method is None or r.method == method)
        ]

    def uri(self, kind: str, uuid: str) -> str:
        return f"{BASE}/{kind}/{uuid}"


def query(request: RecordedRequest) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.query).items()}


@pytest.fixture
async def account() -> AsyncIterator[Account]:
    clock = FakeClock(NOW)
    fake = FakeCalendly(token=TOKEN, now=clock.now, token_kind="admin")
    state = Account(clock=clock, fake=fake, types=install_world(fake))
    try:
        yield state
    finally:
        for client in state.clients:
            await client.aclose()


async def first_slot(adapter: CalendlySchedulingAdapter, kind: AppointmentType = "coaching-session") -> TimeSlot:
    return (await adapter.get_availability(WEEK, kind))[0]


# Auth ---------------------------------------------------------------------------------------------------------------


async def test_a_personal_access_token_is_sent_as_a_bearer_token(account: Account) -> None:
    adapter = account.adapter()
    await adapter.get_upcoming_appointments(KNOWN)
    assert {r.headers["authorization"] for r in account.fake.requests} == {f"Bearer {TOKEN}"}
    assert account.fake.token_requests == 0


async def test_ten_concurrent_calls_after_expiry_make_one_token_request(account: Account) -> None:
    adapter = account.oauth_adapter()
    await adapter.get_upcoming_appointments(KNOWN)  # the first access token
    assert account.fake.token_requests == 1
    account.clock.advance(2 * 3600 + 1)  # Calendly's access tokens live two hours
    account.gate.close()
    calls = [asyncio.create_task(adapter.get_upcoming_appointments(KNOWN)) for _ in range(10)]
    await account.gate.open_once_everyone_waits()
    results = await asyncio.gather(*calls)
    assert account.fake.token_requests == 2  # one for all ten
    assert all(len(result) == 2 for result in results)
    tokens = {r.headers["authorization"] for r in account.sent("/scheduled_events")[-10:]}
    assert len(tokens) == 1  # everyone used the new token


async def test_a_token_refused_with_401_is_refreshed_once_and_the_request_sent_again(account: Account) -> None:
    adapter = account.oauth_adapter()
    await adapter.get_upcoming_appointments(KNOWN)
    account.fake.expire_token()  # revoked early: only the 401 says so
    upcoming = await adapter.get_upcoming_appointments(KNOWN)
    assert len(upcoming) == 2
    assert account.fake.token_requests == 2
    statuses = [r.path for r in account.fake.requests[-3:]]
    assert statuses == ["/scheduled_events", TOKEN_PATH, "/scheduled_events"]


async def test_rotated_refresh_tokens_are_used_for_the_next_refresh(account: Account) -> None:
    adapter = account.oauth_adapter()
    for _ in range(3):  # each refresh must present the refresh token the previous one returned
        await adapter.get_upcoming_appointments(KNOWN)
        account.clock.advance(2 * 3600)
    assert account.fake.token_requests == 3
    form = parse_qs(account.sent(TOKEN_PATH)[-1].body.decode())
    assert form["grant_type"] == ["refresh_token"]


async def test_a_used_up_refresh_token_is_an_expired_auth_error_naming_the_setting(account: Account) -> None:
    adapter = account.adapter(
        oauth_client_id=account.fake.client_id,
        oauth_client_secret=account.fake.client_secret,
        oauth_refresh_token="already-used",
    )
    with pytest.raises(ProviderAuthError, match="SCHEDULING_OAUTH_REFRESH_TOKEN") as info:
        await adapter.get_upcoming_appointments(KNOWN)
    assert info.value.reason == "expired"


async def test_a_wrong_client_secret_is_an_invalid_auth_error(account: Account) -> None:
    adapter = account.adapter(
        oauth_client_id=account.fake.client_id,
        oauth_client_secret="wrong",
        oauth_refresh_token=account.fake.current_refresh_token(),
    )
    with pytest.raises(ProviderAuthError, match="SCHEDULING_OAUTH_CLIENT_SECRET") as info:
        await adapter.ping()
    assert info.value.reason == "invalid"


async def test_401s_and_403s_say_why(account: Account) -> None:
    with pytest.raises(ProviderAuthError) as invalid:
        await account.adapter(api_key="not-a-token").ping()
    assert invalid.value.reason == "invalid"
    adapter = account.adapter()
    account.fake.expire_token(TOKEN)
    with pytest.raises(ProviderAuthError, match="expired") as expired:
        await adapter.get_upcoming_appointments(KNOWN)
    assert expired.value.reason == "expired"
    account.fake.reset()
    install_world(account.fake)
    account.fake.set_token_kind("admin")
    account.fake.set_token_scopes({"users:read", "event_types:read"})
    with pytest.raises(ProviderAuthError, match="scheduled_events:read is required") as scope:
        await account.adapter().get_upcoming_appointments(KNOWN)
    assert scope.value.reason == "missing_scope"


# Scope --------------------------------------------------------------------------------------------------------------


async def test_organization_scope_asks_users_me_once_then_lists_the_organization(account: Account) -> None:
    adapter = account.adapter()
    await adapter.get_upcoming_appointments(KNOWN)
    await adapter.get_past_appointments(KNOWN)
    assert len(account.sent("/users/me")) == 1
    for request in account.sent("/scheduled_events"):
        params = query(request)
        assert params["organization"] == account.uri("organizations", account.fake.organization.uuid)
        assert "user" not in params and params["invitee_email"] == KNOWN.email


async def test_a_configured_organization_needs_no_discovery(account: Account) -> None:
    adapter = account.adapter(organization=account.fake.organization.uuid)
    await adapter.get_upcoming_appointments(KNOWN)
    assert account.sent("/users/me") == []
    (listing,) = account.sent("/scheduled_events")
    assert query(listing)["organization"] == account.uri("organizations", account.fake.organization.uuid)


async def test_user_scope_lists_the_tokens_own_events(account: Account) -> None:
    account.fake.set_token_kind("user")  # a plain member may read only their own events
    adapter = account.adapter(scope="user")
    assert len(await adapter.get_upcoming_appointments(KNOWN)) == 2
    (listing,) = account.sent("/scheduled_events")
    params = query(listing)
    assert params["user"] == account.uri("users", account.fake.me.uuid) and "organization" not in params


async def test_organization_scope_with_a_member_token_is_a_missing_permission(account: Account) -> None:
    account.fake.set_token_kind("user")
    adapter = account.adapter()
    with pytest.raises(ProviderAuthError, match="SCHEDULING_CALENDLY_SCOPE=user") as info:
        await adapter.get_upcoming_appointments(KNOWN)
    assert info.value.reason == "missing_scope"
    with pytest.raises(ProviderAuthError):  # health notices it too, not only the first read
        await adapter.ping()


# Reads --------------------------------------------------------------------------------------------------------------


async def test_the_requests_of_one_scheduling_context(account: Account) -> None:
    adapter = account.adapter()
    context = await adapter.get_scheduling_context(KNOWN)
    assert context.session_count == 4 and context.next_appointment is not None
    first = [(r.method, r.path) for r in account.fake.requests]
    # /users/me once, upcoming + history, and each ended session's invitee (4 completed + 1 no-show)
    assert first.count(("GET", "/users/me")) == 1
    assert first.count(("GET", "/scheduled_events")) == 2
    assert len([p for _, p in first if p.endswith("/invitees")]) == 5
    assert len(first) == 8
    account.fake.requests.clear()
    again = await adapter.get_scheduling_context(KNOWN)
    assert again == context
    assert [(r.method, r.path) for r in account.fake.requests] == [("GET", "/scheduled_events")] * 2


async def test_a_recently_ended_session_is_asked_again_until_its_no_show_state_settles(account: Account) -> None:
    adapter = account.adapter()
    coaching = account.types["coaching-session"]
    _, invitee = account.fake.book(coaching, NOW - timedelta(hours=3), KNOWN.email)
    await adapter.get_scheduling_context(KNOWN)
    account.fake.requests.clear()
    invitee.no_show = ("no-show-1", NOW)  # the host marks the no-show after the session
    past = await adapter.get_past_appointments(KNOWN, limit=1)
    assert past[0].status == "no-show"
    assert len(account.sent(f"/scheduled_events/{invitee.event.uuid}/invitees")) == 1


async def test_statuses_notes_and_join_urls(account: Account) -> None:
    fake = account.fake
    coaching = account.types["coaching-session"]
    fake.book(coaching, NOW - timedelta(days=2), KNOWN.email, status="canceled", canceled_reason="ill")
    zoom_type = fake.add_event_type("Zoom Check-in", 30, locations=[("zoom_conference", None)])
    zoom_event, _ = fake.book(zoom_type, NOW + timedelta(days=2, hours=2), KNOWN.email)
    fake.book(coaching, NOW - timedelta(minutes=30), KNOWN.email)  # in progress
    adapter = account.adapter()
    past = await adapter.get_past_appointments(KNOWN, limit=4)
    assert [a.status for a in past] == ["scheduled", "cancelled", "completed", "completed"]
    assert past[2].notes == "Worked on the morning routine." and past[2].outcome is None
    upcoming = await adapter.get_upcoming_appointments(KNOWN, days=7)
    zoom = next(a for a in upcoming if a.id == zoom_event.uuid)
    assert zoom.type == "check-in" and zoom.duration == 30
    assert zoom.join_url is not None and zoom.join_url.startswith("https://zoom.us/j/")
    assert zoom.provider_ref == account.uri("scheduled_events", zoom_event.uuid)
    history = await adapter.get_past_appointments(KNOWN, limit=20)
    assert [a.status for a in history].count("no-show") == 1


async def test_a_group_session_the_customer_left_is_not_theirs_any_more(account: Account) -> None:
    fake = account.fake
    group = fake.add_event_type("Group Workshop", 120, max_invitees=5)
    event, _ = fake.book(group, NOW + timedelta(days=3, hours=2), OTHER.email)
    fake.add_invitee(event, KNOWN.email, status="canceled")
    adapter = account.adapter()
    assert event.uuid not in {a.id for a in await adapter.get_upcoming_appointments(KNOWN)}
    assert event.uuid in {a.id for a in await adapter.get_upcoming_appointments(OTHER)}


async def test_history_pages_are_followed_for_the_count(account: Account) -> None:
    account.fake.max_page_size = 2
    adapter = account.adapter()
    assert await adapter.count_completed_sessions(KNOWN) == 4
    history = [r for r in account.sent("/scheduled_events") if query(r)["sort"] == "start_time:desc"]
    assert len(history) == 3  # 5 past sessions, 2 a page
    assert "page_token" in query(history[1])


async def test_list_appointments_lists_every_invitee_and_remembers_them(account: Account) -> None:
    fake = account.fake
    group = fake.add_event_type("Group Workshop", 120, max_invitees=5)
    event, _ = fake.book(group, NOW + timedelta(days=2, hours=1), OTHER.email)
    fake.add_invitee(event, "third@example.com")
    fake.add_invitee(event, "gone@example.com", status="canceled")
    window = DateRange(start_date=NOW, end_date=NOW + timedelta(days=14))
    adapter = account.adapter()
    listed = await adapter.list_appointments(window)
    assert [(a.invitee_email, a.type) for a in listed if a.id == event.uuid] == [
        (OTHER.email, "workshop"),
        ("third@example.com", "workshop"),
    ]
    assert all(a.customer_id is None and a.status == "scheduled" for a in listed)
    assert len(account.sent(path=None, method="GET")) == 1 + 1 + 3  # me, the listing, one per event
    account.fake.requests.clear()
    await adapter.list_appointments(window)
    assert [r.path for r in account.fake.requests] == ["/scheduled_events"]  # invitees remembered
    fake.add_invitee(event, "late@example.com")
    account.fake.requests.clear()
    relisted = await adapter.list_appointments(window)
    assert "late@example.com" in {a.invitee_email for a in relisted}
    assert [r.path for r in account.fake.requests] == ["/scheduled_events", f"/scheduled_events/{event.uuid}/invitees"]


# Event types --------------------------------------------------------------------------------------------------------


def test_appointment_types_are_matched_by_name() -> None:
    assert appointment_type_of("Quick Check In") == "check-in"
    assert appointment_type_of("Follow-up coaching session") == "follow-up"
    assert appointment_type_of("Fear Assessment (90 min)") == "assessment"
    assert appointment_type_of("Sacred Edge Workshop") == "workshop"
    assert appointment_type_of("1:1 Coaching") == "coaching-session"
    assert appointment_type_of("Strategy Session") == "coaching-session"
    assert appointment_type_of("Intro call") is None


async def test_a_mapped_event_type_is_read_by_its_uuid_and_sets_the_slot_length(account: Account) -> None:
    deep = account.fake.add_event_type("Deep Dive", 45, slug="deep-dive")
    adapter = account.adapter(event_type_map={"coaching-session": account.uri("event_types", deep.uuid)})
    slots = await adapter.get_availability(WEEK, "coaching-session")
    assert slots and all(s.duration == 45 and s.provider_ref.endswith(deep.uuid) for s in slots)
    assert len(account.sent(f"/event_types/{deep.uuid}")) == 1
    assert account.sent("/event_types") == []  # no name matching needed
    booked = await adapter.book_appointment(KNOWN, slots[0], "coaching-session")
    assert booked.type == "coaching-session" and booked.duration == 45  # the map, reversed


async def test_unknown_event_types_are_coaching_sessions(account: Account) -> None:
    intro = account.fake.add_event_type("Intro call", 20)
    event, _ = account.fake.book(intro, NOW + timedelta(days=1, hours=2), KNOWN.email)
    upcoming = await account.adapter().get_upcoming_appointments(KNOWN)
    assert next(a for a in upcoming if a.id == event.uuid).type == "coaching-session"


async def test_a_type_without_an_event_type_names_the_map(account: Account) -> None:
    account.fake.event_type(account.types["workshop"].uuid).active = False
    with pytest.raises(CapabilityNotSupported, match="SCHEDULING_EVENT_TYPE_MAP"):
        await account.adapter().get_availability(WEEK, "workshop")


async def test_name_matching_prefers_the_exact_name_then_the_default_duration(account: Account) -> None:
    account.fake.add_event_type("Check-in (long)", 45, slug="check-in-long")
    account.fake.add_event_type("Checkin quick", 30, slug="quick")
    slots = await account.adapter().get_availability(WEEK, "check-in")
    assert slots[0].provider_ref.endswith(account.types["check-in"].uuid)  # "Check-in", slug check-in


# Availability -------------------------------------------------------------------------------------------------------


async def test_fourteen_days_are_two_requests_of_at_most_seven_days_from_now_on(account: Account) -> None:
    adapter = account.adapter()
    fortnight = DateRange(start_date=NOW - timedelta(hours=1), end_date=NOW + timedelta(days=14))
    slots = await adapter.get_availability(fortnight, "check-in")
    requests = account.sent("/event_type_available_times")
    assert len(requests) == 2
    windows = sorted(
        (datetime.fromisoformat(query(r)["start_time"]), datetime.fromisoformat(query(r)["end_time"])) for r in requests
    )
    assert windows[0][0] > NOW  # clipped to the future: Calendly refuses a start in the past
    assert windows[0][1] == windows[1][0] and windows[1][1] == fortnight.end_date
    assert all(end - start <= timedelta(days=7) for start, end in windows)
    assert [s.start_time for s in slots] == sorted(s.start_time for s in slots)
    assert slots[-1].start_time > NOW + timedelta(days=7)  # the second week is there
    assert all(s.duration == 30 and s.end_time <= fortnight.end_date for s in slots)


async def test_a_range_entirely_in_the_past_asks_nothing(account: Account) -> None:
    past = DateRange(start_date=NOW - timedelta(days=3), end_date=NOW - timedelta(days=1))
    assert await account.adapter().get_availability(past, "check-in") == []
    assert account.sent("/event_type_available_times") == []


# Booking ------------------------------------------------------------------------------------------------------------


async def test_booking_rechecks_the_slot_posts_the_invitee_and_stamps_the_booking_id(account: Account) -> None:
    adapter = account.adapter()
    slot = await first_slot(adapter)
    account.fake.requests.clear()
    booked = await adapter.book_appointment(KNOWN, slot, "coaching-session", booking_id="bk-42")
    paths = [(r.method, r.path) for r in account.fake.requests]
    assert paths == [
        ("GET", "/scheduled_events"),  # the booking id: is it booked already?
        ("GET", "/event_type_available_times"),  # the re-check
        ("POST", "/invitees"),
        ("GET", f"/scheduled_events/{booked.id}"),  # the join URL
    ]
    body = json.loads(account.sent("/invitees", "POST")[0].body)
    assert body["event_type"] == account.uri("event_types", account.types["coaching-session"].uuid)
    assert body["start_time"] == iso(slot.start_time)
    assert body["invitee"] == {"email": KNOWN.email, "name": KNOWN.display_name, "timezone": "UTC"}
    assert body["tracking"] == {"utm_source": "fearvana-integration", "utm_content": "bk-42"}
    event = account.fake.event(booked.id)
    assert event.invitees[0].tracking["utm_content"] == "bk-42"  # Calendly echoes it on the invitee
    assert booked.status == "scheduled" and booked.join_url and booked.start_time == slot.start_time


async def test_a_slot_taken_between_recheck_and_post_is_unavailable_with_alternatives(account: Account) -> None:
    adapter = account.adapter()
    slot = await first_slot(adapter)
    coaching = account.types["coaching-session"]

    class TakeItFirst(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.ASGITransport(app=account.fake.app)

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path == "/invitees":
                account.fake.book(coaching, slot.start_time, OTHER.email)  # someone on the booking page
            return await self.inner.handle_async_request(request)

    racing = account.adapter(transport=TakeItFirst())
    with pytest.raises(SlotUnavailable) as info:
        await racing.book_appointment(KNOWN, slot, "coaching-session")
    assert info.value.alternatives and slot.start_time not in {a.start_time for a in info.value.alternatives}


async def test_a_post_that_timed_out_after_booking_returns_that_booking(account: Account) -> None:
    transport = PostInterrupted(account.fake.app, booked=True)
    adapter = account.adapter(transport=transport)
    slot = await first_slot(adapter)
    booked = await adapter.book_appointment(KNOWN, slot, "coaching-session", booking_id="bk-1")
    again = await adapter.book_appointment(KNOWN, slot, "coaching-session", booking_id="bk-1")
    assert again.id == booked.id and booked.status == "scheduled"
    assert transport.posts == 1  # looked, never re-sent
    at_slot = [e for e in account.fake.events() if e.start == slot.start_time]
    assert len(at_slot) == 1 and len(at_slot[0].invitees) == 1


async def test_a_post_that_timed_out_before_booking_is_a_timeout_and_is_not_resent(account: Account) -> None:
    transport = PostInterrupted(account.fake.app, booked=False)
    adapter = account.adapter(transport=transport)
    slot = await first_slot(adapter)
    with pytest.raises(ProviderTimeout):
        await adapter.book_appointment(KNOWN, slot, "coaching-session", booking_id="bk-2")
    assert transport.posts == 1  # looked (nothing there), did not send again
    retried = await adapter.book_appointment(KNOWN, slot, "coaching-session", booking_id="bk-2")
    assert retried.start_time == slot.start_time and transport.posts == 2
    assert len([e for e in account.fake.events() if e.start == slot.start_time]) == 1


async def test_the_free_plan_falls_back_to_a_single_use_link_and_remembers_it(account: Account) -> None:
    account.fake.set_plan("free")
    adapter = account.adapter()
    slots = await adapter.get_availability(WEEK, "coaching-session")
    pending = await adapter.book_appointment(KNOWN, slots[0], "coaching-session", booking_id="bk-free")
    assert pending.status == "pending-link"
    assert pending.booking_url is not None and pending.booking_url.startswith("https://calendly.com/d/")
    assert pending.start_time == slots[0].start_time and pending.customer_id == KNOWN.id
    (link,) = account.fake.scheduling_links
    assert link.owner is account.types["coaching-session"] and link.booking_url == pending.booking_url
    assert json.loads(account.sent("/scheduling_links")[0].body)["max_event_count"] == 1
    assert not [e for e in account.fake.events() if e.start == slots[0].start_time]  # nothing booked
    again = await adapter.book_appointment(KNOWN, slots[0], "coaching-session", booking_id="bk-free")
    assert again == pending and len(account.fake.scheduling_links) == 1
    later = await adapter.book_appointment(OTHER, slots[3], "coaching-session")
    assert later.status == "pending-link"
    assert len(account.sent("/invitees", "POST")) == 1  # the plan is remembered: straight to the link


async def test_the_eleventh_booking_in_a_minute_is_refused_without_a_request(account: Account) -> None:
    adapter = account.adapter()
    monday = DateRange(start_date=NOW, end_date=NOW + timedelta(days=1))
    slots = await adapter.get_availability(monday, "check-in")
    for slot in slots[:10]:
        await adapter.book_appointment(KNOWN, slot, "check-in")
    sent = len(account.fake.requests)
    with pytest.raises(RateLimited) as info:
        await adapter.book_appointment(KNOWN, slots[10], "check-in")
    assert len(account.fake.requests) == sent
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 60
    account.clock.advance(61)
    assert (await adapter.book_appointment(KNOWN, slots[10], "check-in")).status == "scheduled"


def test_the_hourly_cap_is_a_quota_until_the_oldest_booking_leaves_the_hour() -> None:
    clock = FakeClock(NOW)
    caps = BookingCaps(clock)
    for _ in range(50):
        caps.check("book_appointment", clock.now())
        caps.record()
        clock.advance(7)  # under ten a minute
    with pytest.raises(QuotaExhausted) as info:
        caps.check("book_appointment", clock.now())
    assert info.value.resets_at == NOW + timedelta(seconds=3600)


async def test_calendlys_own_daily_booking_cap_is_a_quota(account: Account) -> None:
    adapter = account.adapter()
    slot = await first_slot(adapter)
    account.fake.fail_next("quota", path_contains="/invitees")
    with pytest.raises(QuotaExhausted) as info:
        await adapter.book_appointment(KNOWN, slot, "coaching-session")
    assert info.value.resets_at == datetime(2026, 11, 24, tzinfo=UTC)


# Cancel -------------------------------------------------------------------------------------------------------------


async def test_cancel_posts_a_cancellation_with_a_reason(account: Account) -> None:
    adapter = account.adapter()
    booked = await adapter.book_appointment(KNOWN, await first_slot(adapter), "coaching-session")
    cancelled = await adapter.cancel_appointment(KNOWN, booked.id)
    assert cancelled.status == "cancelled" and cancelled.id == booked.id
    (post,) = account.sent(f"/scheduled_events/{booked.id}/cancellation", "POST")
    assert "customer" in json.loads(post.body)["reason"]
    assert (await adapter.cancel_appointment(KNOWN, booked.id)).status == "cancelled"  # twice is fine
    assert len(account.sent(f"/scheduled_events/{booked.id}/cancellation", "POST")) == 1


async def test_ids_that_cannot_be_calendly_ids_are_not_found_without_a_request(account: Account) -> None:
    with pytest.raises(AppointmentNotFound):
        await account.adapter().cancel_appointment(KNOWN, "../users/me")
    assert account.fake.requests == []


async def test_a_group_session_or_a_started_one_is_not_cancelled(account: Account) -> None:
    fake = account.fake
    group = fake.add_event_type("Group Workshop", 120, max_invitees=5)
    event, _ = fake.book(group, NOW + timedelta(days=2, hours=1), KNOWN.email)
    fake.add_invitee(event, OTHER.email)
    adapter = account.adapter()
    with pytest.raises(ProviderRejected, match="group"):
        await adapter.cancel_appointment(KNOWN, event.uuid)
    started, _ = fake.book(account.types["check-in"], NOW - timedelta(minutes=10), KNOWN.email)
    with pytest.raises(ProviderRejected, match="started"):
        await adapter.cancel_appointment(KNOWN, started.uuid)
    assert event.status == "active" and started.status == "active"


# Configuration ------------------------------------------------------------------------------------------------------


def test_without_credentials_the_settings_name_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="SCHEDULING_API_KEY"):
        load_settings({"SCHEDULING_PROVIDER": "calendly"}, read_env_files=False)
    with pytest.raises(ConfigurationError) as info:
        load_settings({"SCHEDULING_PROVIDER": "calendly", "SCHEDULING_OAUTH_CLIENT_ID": "client"}, read_env_files=False)
    assert "SCHEDULING_OAUTH_CLIENT_SECRET, SCHEDULING_OAUTH_REFRESH_TOKEN" in str(info.value)
    assert "SCHEDULING_OAUTH_CLIENT_ID," not in str(info.value)


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"SCHEDULING_API_KEY": "pat"}, "pat"),
        (
            {
                "SCHEDULING_OAUTH_CLIENT_ID": "id",
                "SCHEDULING_OAUTH_CLIENT_SECRET": "secret",
                "SCHEDULING_OAUTH_REFRESH_TOKEN": "refresh",
            },
            "oauth",
        ),
    ],
)
async def test_from_settings_with_a_pat_or_oauth(account: Account, environment: dict[str, str], expected: str) -> None:
    settings = load_settings(
        {
            "SCHEDULING_PROVIDER": "calendly",
            "SCHEDULING_ENDPOINT": LOOPBACK,  # the settings take plain http only for a loopback host
            "SCHEDULING_CALENDLY_SCOPE": "user",
            "SCHEDULING_EVENT_TYPE_MAP": json.dumps({"check-in": account.types["check-in"].uuid}),
            **environment,
        },
        read_env_files=False,
    )
    adapter = CalendlySchedulingAdapter.from_settings(settings, http_client=account.client(), clock=account.clock)
    assert adapter.scope == "user" and adapter.base_url == LOOPBACK
    if expected == "pat":
        account.fake.add_token(account.fake.me, "pat")
        await adapter.ping()
        assert account.sent("/users/me")[0].headers["authorization"] == "Bearer pat"
    else:
        with pytest.raises(ProviderAuthError):  # the fake does not know these OAuth credentials
            await adapter.ping()
        assert account.fake.token_requests == 1


@pytest.mark.parametrize(
    ("options", "variable"),
    [
        ({"event_type_map": {"check-in": "not a uri/../x y"}}, "SCHEDULING_EVENT_TYPE_MAP"),
        ({"event_type_map": {"lunch": "AAAA"}}, "SCHEDULING_EVENT_TYPE_MAP"),
        ({"organization": "https://api.calendly.com/users/ME"}, "SCHEDULING_CALENDLY_ORGANIZATION"),
        ({"base_url": "api.calendly.com"}, "SCHEDULING_ENDPOINT"),
        (
            {
                "api_key": None,
                "oauth_client_id": "id",
                "oauth_client_secret": "secret",
                "oauth_refresh_token": "refresh",
                "token_url": "auth.calendly.com/oauth/token",
            },
            "SCHEDULING_OAUTH_TOKEN_URL",
        ),
        ({"api_key": None, "oauth_client_id": "id"}, "SCHEDULING_OAUTH_REFRESH_TOKEN"),
    ],
)
async def test_bad_options_are_configuration_errors_naming_the_variable(options: dict[str, Any], variable: str) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(ConfigurationError, match=variable):
            CalendlySchedulingAdapter(http_client=client, clock=FakeClock(NOW), **{"api_key": "pat", **options})


async def test_an_unknown_time_zone_is_sent_as_utc(account: Account) -> None:
    adapter = account.adapter()
    customer = CustomerRef(id=KNOWN.id, email=KNOWN.email, time_zone="Mars/Olympus")
    await adapter.book_appointment(customer, await first_slot(adapter), "coaching-session")
    assert json.loads(account.sent("/invitees", "POST")[0].body)["invitee"]["timezone"] == "UTC"


async def test_over_real_http_from_settings(account: Account) -> None:
    with serve(account.fake.app) as url:
        settings = load_settings(
            {"SCHEDULING_PROVIDER": "calendly", "SCHEDULING_ENDPOINT": url, "SCHEDULING_API_KEY": TOKEN},
            read_env_files=False,
        )
        client = build_http_client(5.0)
        try:
            adapter = CalendlySchedulingAdapter.from_settings(settings, http_client=client, clock=account.clock)
            await adapter.ping()
            context = await adapter.get_scheduling_context(KNOWN)
            slot = (await adapter.get_availability(WEEK, "check-in"))[0]
            booked = await adapter.book_appointment(OTHER, slot, "check-in", booking_id="bk-http")
        finally:
            await client.aclose()
    assert context.session_count == 4 and context.preparation_due
    assert booked.provider_ref.startswith(url) and booked.status == "scheduled"
