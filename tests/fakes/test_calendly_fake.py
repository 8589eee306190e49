"""FakeCalendly: each route works as documented, scoping/paging/availability/booking rules hold, every fault and
mode (plan, token kind, scopes, expiry) renders in Calendly's format, OAuth refresh rotates, webhooks are signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from tests.fakes import calendly as calendly_module
from tests.fakes.calendly import (
    ACCESS_TOKEN_SECONDS,
    MSG_SLOT_TAKEN,
    EventType,
    FakeCalendly,
    iso,
    parse_time,
    sign_webhook,
)
from tests.fakes.faults import FAULT_NAMES, RETRY_AFTER_SECONDS, FaultName
from tests.fakes.server import serve

TOKEN = "test-token"
BASE = "https://api.calendly.com"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday, before working hours
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def fake() -> FakeCalendly:
    return FakeCalendly(token=TOKEN, now=NOW)


@pytest.fixture
async def client(fake: FakeCalendly) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=AUTH) as http:
        yield http


@pytest.fixture
def coaching(fake: FakeCalendly) -> EventType:
    return fake.add_event_type("Coaching Session", 60, slug="coaching")


def uri(kind: str, uuid: str) -> str:
    return f"{BASE}/{kind}/{uuid}"


def me(fake: FakeCalendly) -> str:
    return uri("users", fake.me.uuid)


def org(fake: FakeCalendly) -> str:
    return uri("organizations", fake.organization.uuid)


def at(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def error(title: str, message: str, *details: tuple[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"title": title, "message": message}
    if details:
        body["details"] = [{"parameter": p, "message": m} for p, m in details]
    return body


def invalid(parameter: str, message: str) -> dict[str, Any]:
    return error("Invalid Argument", "The supplied parameters are invalid.", (parameter, message))


def booking(event_type: EventType, start: datetime, email: str = "kim@example.com", **extra: Any) -> dict[str, Any]:
    return {
        "event_type": uri("event_types", event_type.uuid),
        "start_time": iso(start),
        "invitee": {"email": email, "name": "Kim Lee", "timezone": "Europe/Berlin"},
        **extra,
    }


async def collect(client: httpx.AsyncClient, url: str, params: dict[str, Any]) -> tuple[list[Any], int]:
    """Every item of a paged collection (following next_page_token), and how many pages it took."""
    items: list[Any] = []
    pages = 0
    token: str | None = None
    while True:
        response = await client.get(url, params={**params, **({"page_token": token} if token else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["collection"]
        pages += 1
        token = body["pagination"]["next_page_token"]
        if token is None:
            return items, pages


# ---------------------------------------------------------------------------------------------------------------- auth

ROUTES = [
    ("GET", "/users/me"),
    ("GET", "/event_types"),
    ("GET", "/event_types/x"),
    ("GET", "/event_type_available_times"),
    ("GET", "/scheduled_events"),
    ("GET", "/scheduled_events/x"),
    ("GET", "/scheduled_events/x/invitees"),
    ("GET", "/scheduled_events/x/invitees/y"),
    ("POST", "/scheduled_events/x/cancellation"),
    ("POST", "/invitees"),
    ("POST", "/scheduling_links"),
    ("GET", "/no/such/route"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Token {TOKEN}", TOKEN])
async def test_every_route_needs_the_bearer_token(
    fake: FakeCalendly, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        response = await http.request(method, path, headers=headers)
    assert response.status_code == 401
    assert response.json() == error("Unauthenticated", "The access token is invalid")
    assert "X-RateLimit-Limit" in response.headers


async def test_users_me_builds_uris_from_the_base_url_it_is_called_on(fake: FakeCalendly) -> None:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8123", headers=AUTH) as http:
        response = await http.get("/users/me")
    assert response.status_code == 200
    resource = response.json()["resource"]
    assert resource["uri"] == f"http://127.0.0.1:8123/users/{fake.me.uuid}"
    assert resource["current_organization"] == f"http://127.0.0.1:8123/organizations/{fake.organization.uuid}"
    assert resource["email"] == "coach@fearvana.test"
    assert resource["scheduling_url"] == "https://calendly.com/fearvana-coach"
    assert resource["timezone"] == "UTC"
    assert resource["created_at"].endswith("Z") and len(resource["created_at"]) == len("2026-11-23T09:00:00.000000Z")


async def test_unknown_route_is_a_calendly_404(client: httpx.AsyncClient) -> None:
    response = await client.delete("/event_types")
    assert response.status_code == 404
    assert response.json() == error("Resource Not Found", "The server could not find the requested resource.")


# --------------------------------------------------------------------------------------------------------- event types


async def test_event_types_need_organization_or_user(client: httpx.AsyncClient, coaching: EventType) -> None:
    response = await client.get("/event_types")
    assert response.status_code == 400
    assert response.json() == invalid("organization", "organization or user is required")


async def test_event_types_by_user_filter_sort_and_page(
    client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType
) -> None:
    fake.add_event_type("Intro Call", 15)
    fake.add_event_type("Archived", 30, active=False)
    other = fake.add_user("Other Coach", "other@fearvana.test")
    fake.add_event_type("Not mine", 30, owner=other)
    response = await client.get("/event_types", params={"user": me(fake), "count": 1})
    body = response.json()
    assert [t["name"] for t in body["collection"]] == ["Archived"]  # name:asc
    assert body["pagination"]["count"] == 1
    assert body["pagination"]["previous_page"] is None
    token = body["pagination"]["next_page_token"]
    assert (
        body["pagination"]["next_page"]
        == f"{BASE}/event_types?user={me(fake).replace(':', '%3A').replace('/', '%2F')}&count=1&page_token={token}"
    )
    names, pages = await collect(client, "/event_types", {"user": me(fake), "count": 1, "active": "true"})
    assert [t["name"] for t in names] == ["Coaching Session", "Intro Call"]
    assert pages == 2
    descending = await client.get("/event_types", params={"user": me(fake), "sort": "name:desc"})
    assert [t["name"] for t in descending.json()["collection"]] == ["Intro Call", "Coaching Session", "Archived"]
    first = names[0]
    assert first["uri"] == uri("event_types", coaching.uuid)
    assert (first["duration"], first["slug"], first["kind"], first["active"]) == (60, "coaching", "solo", True)
    assert first["scheduling_url"] == "https://calendly.com/fearvana-coach/coaching"
    assert first["profile"] == {"type": "User", "name": "Akshay Coach", "owner": me(fake)}


async def test_previous_page_links_back(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    for name in ("A", "B", "C"):
        fake.add_event_type(name, 30)
    first = (await client.get("/event_types", params={"user": me(fake), "count": 2})).json()
    second = (await client.get(first["pagination"]["next_page"])).json()
    assert [t["name"] for t in second["collection"]] == ["C"]
    assert second["pagination"]["next_page"] is None
    back = (await client.get(second["pagination"]["previous_page"])).json()
    assert [t["name"] for t in back["collection"]] == ["A", "B"]


async def test_event_types_of_the_organization_need_an_admin(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    other = fake.add_user("Other Coach", "other@fearvana.test")
    fake.add_event_type("Mine", 30)
    fake.add_event_type("Theirs", 30, owner=other)
    denied = await client.get("/event_types", params={"organization": org(fake)})
    assert denied.status_code == 403
    assert denied.json() == error("Permission Denied", "You do not have permission")
    fake.set_token_kind("admin")
    allowed = await client.get("/event_types", params={"organization": org(fake)})
    assert [t["name"] for t in allowed.json()["collection"]] == ["Mine", "Theirs"]
    theirs = await client.get("/event_types", params={"organization": org(fake), "user": uri("users", other.uuid)})
    assert [t["name"] for t in theirs.json()["collection"]] == ["Theirs"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"count": "0"}, "count"),
        ({"count": "101"}, "count"),
        ({"count": "ten"}, "count"),
        ({"active": "yes"}, "active"),
        ({"sort": "duration:asc"}, "sort"),
        ({"page_token": "not-a-token"}, "page_token"),
    ],
)
async def test_event_type_list_validates_parameters(
    client: httpx.AsyncClient, fake: FakeCalendly, params: dict[str, str], parameter: str
) -> None:
    response = await client.get("/event_types", params={"user": me(fake), **params})
    assert response.status_code == 400
    assert response.json()["details"][0]["parameter"] == parameter


async def test_uri_parameters_must_be_uris_this_fake_issued(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    foreign = await client.get("/event_types", params={"user": f"https://example.com/users/{fake.me.uuid}"})
    assert foreign.status_code == 400
    assert foreign.json()["details"][0]["parameter"] == "user"
    bare = await client.get("/event_types", params={"user": fake.me.uuid})
    assert bare.status_code == 400
    unknown = await client.get("/event_types", params={"user": uri("users", "00000000-0000-0000-0000-000000000000")})
    assert unknown.status_code == 404


async def test_get_event_type(client: httpx.AsyncClient, coaching: EventType) -> None:
    response = await client.get(f"/event_types/{coaching.uuid}")
    assert response.json()["resource"]["name"] == "Coaching Session"
    assert (await client.get("/event_types/nope")).status_code == 404


# -------------------------------------------------------------------------------------------------------- availability


async def available(client: httpx.AsyncClient, event_type: EventType, start: datetime, end: datetime) -> Any:
    params = {"event_type": uri("event_types", event_type.uuid), "start_time": iso(start), "end_time": iso(end)}
    return await client.get("/event_type_available_times", params=params)


async def test_available_times_are_working_hours_minus_bookings(
    client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType
) -> None:
    fake.book(coaching, at(10), "a@example.com")
    fake.add_busy(fake.me, at(13), at(14, 30))
    canceled = fake.add_event(coaching, at(15), status="canceled")
    assert canceled.status == "canceled"
    response = await available(client, coaching, at(8), at(23, 59))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"collection"}  # no pagination
    starts = [slot["start_time"] for slot in body["collection"]]
    expected = [at(9), at(11), at(11, 30), at(12), at(14, 30), at(15), at(15, 30), at(16)]
    assert starts == [iso(s) for s in expected]
    first = body["collection"][0]
    assert first == {
        "status": "available",
        "invitees_remaining": 1,
        "start_time": "2026-11-23T09:00:00.000000Z",
        "scheduling_url": "https://calendly.com/fearvana-coach/coaching/2026-11-23T09:00:00Z?month=2026-11&date=2026-11-23",
    }


async def test_available_times_follow_the_hosts_time_zone_and_weekdays(
    client: httpx.AsyncClient, fake: FakeCalendly
) -> None:
    coach = fake.add_user(
        "NY Coach",
        "ny@fearvana.test",
        timezone="America/New_York",
        working_hours={0: [(time(9), time(11))], 5: [(time(10), time(11))]},
    )
    call = fake.add_event_type("NY call", 60, owner=coach, increment_minutes=60)
    response = await available(client, call, at(8), at(8, day=29))
    starts = [slot["start_time"] for slot in response.json()["collection"]]
    # November: EST = UTC-5. Monday 9-11 local → 14:00, 15:00 UTC; Saturday 10-11 local → 15:00 UTC.
    assert starts == [iso(at(14)), iso(at(15)), iso(at(15, day=28))]


async def test_available_times_respect_now_and_minimum_notice(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    fake.set_now(at(11, 10))
    call = fake.add_event_type("Call", 30, min_notice=timedelta(hours=2))
    starts = [s["start_time"] for s in (await available(client, call, at(11, 10), at(23))).json()["collection"]]
    assert starts[0] == iso(at(13, 30))
    assert starts[-1] == iso(at(16, 30))


async def test_group_event_types_report_invitees_remaining(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    group = fake.add_event_type("Group session", 60, max_invitees=3, increment_minutes=60)
    event, _ = fake.book(group, at(9), "a@example.com")
    fake.add_invitee(event, "b@example.com")
    slots = (await available(client, group, at(8), at(11))).json()["collection"]
    assert [(s["start_time"], s["invitees_remaining"]) for s in slots] == [(iso(at(9)), 1), (iso(at(10)), 3)]
    fake.add_invitee(event, "c@example.com")
    slots = (await available(client, group, at(8), at(11))).json()["collection"]
    assert [s["start_time"] for s in slots] == [iso(at(10))]


@pytest.mark.parametrize(
    ("start", "end", "parameter", "message"),
    [
        (at(7), at(12), "start_time", "must be in the future"),
        (at(12), at(12), "end_time", "must be after start_time"),
        (at(9), at(9, 1, day=30), "end_time", "date range can be no greater than 1 week (7 days)"),
    ],
)
async def test_available_times_validate_the_range(
    client: httpx.AsyncClient,
    coaching: EventType,
    start: datetime,
    end: datetime,
    parameter: str,
    message: str,
) -> None:
    response = await available(client, coaching, start, end)
    assert response.status_code == 400
    assert response.json() == invalid(parameter, message)


async def test_available_times_accept_exactly_seven_days(client: httpx.AsyncClient, coaching: EventType) -> None:
    response = await available(client, coaching, at(9), at(9, day=30))
    assert response.status_code == 200
    assert len(response.json()["collection"]) == 5 * 15  # Mon-Fri, 09:00..16:00 every 30 min


async def test_available_times_parameters(client: httpx.AsyncClient, coaching: EventType) -> None:
    missing = await client.get("/event_type_available_times", params={"start_time": iso(at(9))})
    assert missing.json() == invalid("event_type", "is required")
    unknown = await client.get(
        "/event_type_available_times",
        params={"event_type": uri("event_types", "nope"), "start_time": iso(at(9)), "end_time": iso(at(10))},
    )
    assert unknown.status_code == 404
    garbled = await client.get(
        "/event_type_available_times",
        params={"event_type": uri("event_types", coaching.uuid), "start_time": "tomorrow", "end_time": iso(at(10))},
    )
    assert garbled.json()["details"][0]["parameter"] == "start_time"


# -------------------------------------------------------------------------------------------------------------- events


async def test_scheduled_events_list_renders_calendly_events(
    client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType
) -> None:
    event, invitee = fake.book(
        coaching,
        at(10),
        "kim@example.com",
        "Kim Lee",
        notes="Discussed sleep",
        guests=["partner@example.com"],
        no_show=True,
        questions_and_answers=[("Goal?", "Sleep better")],
    )
    response = await client.get("/scheduled_events", params={"user": me(fake)})
    assert response.status_code == 200
    [rendered] = response.json()["collection"]
    assert rendered["uri"] == uri("scheduled_events", event.uuid)
    assert rendered["name"] == "Coaching Session"
    assert rendered["status"] == "active"
    assert (rendered["start_time"], rendered["end_time"]) == (iso(at(10)), iso(at(11)))
    assert rendered["event_type"] == uri("event_types", coaching.uuid)
    assert rendered["location"] == {
        "type": "google_conference",
        "status": "pushed",
        "join_url": f"https://calendly.com/events/{event.uuid}/google_meet",
    }
    assert rendered["invitees_counter"] == {"total": 1, "active": 1, "limit": 1}
    assert rendered["event_memberships"] == [
        {"user": me(fake), "user_email": "coach@fearvana.test", "user_name": "Akshay Coach"}
    ]
    assert [g["email"] for g in rendered["event_guests"]] == ["partner@example.com"]
    assert rendered["meeting_notes_plain"] == "Discussed sleep"
    assert rendered["meeting_notes_html"] == "<p>Discussed sleep</p>"
    assert "cancellation" not in rendered
    invitees = (await client.get(f"/scheduled_events/{event.uuid}/invitees")).json()["collection"]
    [person] = invitees
    assert person["uri"] == f"{uri('scheduled_events', event.uuid)}/invitees/{invitee.uuid}"
    assert (person["email"], person["name"], person["status"]) == ("kim@example.com", "Kim Lee", "active")
    assert person["event"] == rendered["uri"]
    assert person["questions_and_answers"] == [{"question": "Goal?", "answer": "Sleep better", "position": 0}]
    assert person["no_show"]["uri"].startswith(f"{BASE}/invitee_no_shows/")
    assert person["cancel_url"] == f"https://calendly.com/cancellations/{invitee.uuid}"
    assert person["reschedule_url"] == f"https://calendly.com/reschedulings/{invitee.uuid}"
    single = (await client.get(f"/scheduled_events/{event.uuid}/invitees/{invitee.uuid}")).json()["resource"]
    assert single == person
    assert (await client.get(f"/scheduled_events/{event.uuid}")).json()["resource"] == rendered


async def test_scheduled_events_filters(client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType) -> None:
    fake.book(coaching, at(9, day=2), "Kim@Example.com")
    fake.book(coaching, at(9, day=20), "kim@example.com", status="canceled")
    fake.book(coaching, at(9, day=25), "sam@example.com")
    fake.book(coaching, at(11, day=25), "kim@example.com")

    async def starts(**params: str) -> list[str]:
        response = await client.get("/scheduled_events", params={"user": me(fake), **params})
        assert response.status_code == 200, response.text
        return [e["start_time"] for e in response.json()["collection"]]

    everything = [iso(at(9, day=2)), iso(at(9, day=20)), iso(at(9, day=25)), iso(at(11, day=25))]
    assert await starts() == everything
    assert await starts(sort="start_time:desc") == everything[::-1]
    assert await starts(invitee_email="KIM@example.com") == [everything[0], everything[1], everything[3]]
    assert await starts(status="canceled") == [everything[1]]
    assert await starts(status="active", invitee_email="kim@example.com") == [everything[0], everything[3]]
    assert await starts(min_start_time=iso(at(9, day=20)), max_start_time=iso(at(11, day=25))) == everything[1:3]
    assert await starts(min_start_time="2026-11-20T09:00:00Z") == everything[1:]
    items, pages = await collect(client, "/scheduled_events", {"user": me(fake), "count": 3})
    assert [e["start_time"] for e in items] == everything
    assert pages == 2


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"status": "done"}, "status"),
        ({"sort": "created_at:asc"}, "sort"),
        ({"min_start_time": "yesterday"}, "min_start_time"),
        ({"invitee_email": "nobody"}, "invitee_email"),
        ({"count": "500"}, "count"),
    ],
)
async def test_scheduled_events_validate_parameters(
    client: httpx.AsyncClient, fake: FakeCalendly, params: dict[str, str], parameter: str
) -> None:
    response = await client.get("/scheduled_events", params={"user": me(fake), **params})
    assert response.status_code == 400
    assert response.json()["details"][0]["parameter"] == parameter


async def test_scheduled_events_scoping_rules(
    client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType
) -> None:
    other = fake.add_user("Other Coach", "other@fearvana.test")
    theirs = fake.add_event_type("Theirs", 30, owner=other)
    fake.book(coaching, at(10), "a@example.com")
    their_event, _ = fake.book(theirs, at(11), "b@example.com")
    outsider_org = fake.add_organization("Elsewhere")
    outsider = fake.add_user("Outsider", "out@elsewhere.test", organization=outsider_org)
    them, outside = uri("users", other.uuid), uri("users", outsider.uuid)

    async def get(**params: str) -> httpx.Response:
        return await client.get("/scheduled_events", params=params)

    assert (await get()).json() == invalid("organization", "organization or user is required")
    assert (await get(organization=org(fake))).json() == error("Permission Denied", "You do not have permission")
    assert (await get(user=them)).json() == error("Permission Denied", "You do not have permission")
    assert (await get(organization=uri("organizations", outsider_org.uuid))).status_code == 403
    mine = await get(user=me(fake), organization=org(fake))
    assert len(mine.json()["collection"]) == 1
    assert (await client.get(f"/scheduled_events/{their_event.uuid}")).json() == error(
        "Permission Denied", "You are not allowed to view this event"
    )
    fake.set_token_kind("admin")
    assert len((await get(organization=org(fake))).json()["collection"]) == 2
    assert (await get(user=them)).json() == error(
        "Permission Denied",
        "Please also specify organization when requesting events for a user within your organization.",
    )
    assert [e["name"] for e in (await get(user=them, organization=org(fake))).json()["collection"]] == ["Theirs"]
    assert (await get(user=outside, organization=org(fake))).json() == error(
        "Permission Denied", "This user is not in your organization"
    )
    assert (await client.get(f"/scheduled_events/{their_event.uuid}")).status_code == 200


async def test_invitee_list_filters_and_sorts(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    group = fake.add_event_type("Group", 60, max_invitees=5)
    event = fake.add_event(group, at(10))
    fake.add_invitee(event, "a@example.com", created_at=at(1, day=20))
    fake.add_invitee(event, "b@example.com", status="canceled", created_at=at(2, day=20))
    fake.add_invitee(event, "c@example.com", first_name="Cy", last_name="Doe", created_at=at(3, day=20))

    async def emails(**params: str) -> list[str]:
        response = await client.get(f"/scheduled_events/{event.uuid}/invitees", params=params)
        return [i["email"] for i in response.json()["collection"]]

    assert await emails() == ["a@example.com", "b@example.com", "c@example.com"]
    assert await emails(sort="created_at:desc") == ["c@example.com", "b@example.com", "a@example.com"]
    assert await emails(status="active") == ["a@example.com", "c@example.com"]
    assert await emails(email="B@example.com") == ["b@example.com"]
    named = (await client.get(f"/scheduled_events/{event.uuid}/invitees", params={"email": "c@example.com"})).json()
    assert (named["collection"][0]["first_name"], named["collection"][0]["name"]) == ("Cy", "Cy Doe")
    assert (await client.get("/scheduled_events/nope/invitees")).status_code == 404
    assert (await client.get(f"/scheduled_events/{event.uuid}/invitees/nope")).status_code == 404


# ------------------------------------------------------------------------------------------------------------- booking


async def test_create_invitee_books_the_slot(
    client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType
) -> None:
    body = booking(
        coaching,
        at(9),
        questions_and_answers=[{"question": "Goal?", "answer": "Focus", "position": 0}],
        event_guests=["Guest@Example.com"],
        tracking={"utm_source": "coach-app"},
    )
    response = await client.post("/invitees", json=body)
    assert response.status_code == 201, response.text
    resource = response.json()["resource"]
    [event] = fake.events()
    assert resource["event"] == uri("scheduled_events", event.uuid)
    assert resource["uri"].startswith(resource["event"] + "/invitees/")
    assert (resource["status"], resource["email"], resource["name"]) == ("active", "kim@example.com", "Kim Lee")
    assert resource["timezone"] == "Europe/Berlin"
    assert resource["cancel_url"].startswith("https://calendly.com/cancellations/")
    assert resource["reschedule_url"].startswith("https://calendly.com/reschedulings/")
    assert resource["invitee_scheduled_by"] == me(fake)
    assert resource["tracking"]["utm_source"] == "coach-app"
    assert resource["questions_and_answers"] == [{"question": "Goal?", "answer": "Focus", "position": 0}]
    assert (event.start, event.end, event.status) == (at(9), at(10), "active")
    listed = (await client.get("/scheduled_events", params={"user": me(fake)})).json()["collection"]
    assert [e["uri"] for e in listed] == [resource["event"]]
    assert [g["email"] for g in listed[0]["event_guests"]] == ["guest@example.com"]
    slots = (await available(client, coaching, at(8), at(10))).json()["collection"]
    assert iso(at(9)) not in [s["start_time"] for s in slots]


async def test_create_invitee_with_first_and_last_name(
    client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType
) -> None:
    body = booking(coaching, at(9))
    body["invitee"] = {"email": "kim@example.com", "first_name": "Kim", "last_name": "Lee", "timezone": "UTC"}
    resource = (await client.post("/invitees", json=body)).json()["resource"]
    assert (resource["first_name"], resource["last_name"], resource["name"]) == ("Kim", "Lee", "Kim Lee")


async def test_a_taken_slot_is_refused_and_posting_is_not_idempotent(
    client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType
) -> None:
    assert (await client.post("/invitees", json=booking(coaching, at(9)))).status_code == 201
    again = await client.post("/invitees", json=booking(coaching, at(9)))
    assert again.status_code == 400
    assert again.json() == invalid("start_time", MSG_SLOT_TAKEN)
    overlapping = await client.post("/invitees", json=booking(coaching, at(9, 30)))
    assert overlapping.status_code == 400
    assert (await client.post("/invitees", json=booking(coaching, at(10)))).status_code == 201
    assert len(fake.events()) == 2


async def test_group_bookings_share_the_event_until_full(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    group = fake.add_event_type("Group", 60, max_invitees=2)
    first = await client.post("/invitees", json=booking(group, at(9), "a@example.com"))
    second = await client.post("/invitees", json=booking(group, at(9), "a@example.com"))
    third = await client.post("/invitees", json=booking(group, at(9), "c@example.com"))
    assert (first.status_code, second.status_code, third.status_code) == (201, 201, 400)
    assert first.json()["resource"]["event"] == second.json()["resource"]["event"]
    assert first.json()["resource"]["uri"] != second.json()["resource"]["uri"]
    [event] = fake.events()
    assert [i.email for i in event.invitees] == ["a@example.com", "a@example.com"]
    rendered = (await client.get(f"/scheduled_events/{event.uuid}")).json()["resource"]
    assert rendered["invitees_counter"] == {"total": 2, "active": 2, "limit": 2}


@pytest.mark.parametrize(
    ("start", "why"),
    [
        (at(7), "in the past"),
        (at(9, 15), "off the grid"),
        (at(16, 30), "runs past closing"),
        (at(9, day=28), "Saturday"),
    ],
)
async def test_only_open_slots_can_be_booked(
    client: httpx.AsyncClient, coaching: EventType, start: datetime, why: str
) -> None:
    response = await client.post("/invitees", json=booking(coaching, start))
    assert response.status_code == 400, why
    assert response.json()["details"] == [{"parameter": "start_time", "message": MSG_SLOT_TAKEN}]


@pytest.mark.parametrize(
    ("change", "parameter"),
    [
        ({"invitee": {"email": "kim@example.com", "timezone": "UTC"}}, "invitee.name"),
        ({"invitee": {"email": "kim", "name": "K", "timezone": "UTC"}}, "invitee.email"),
        ({"invitee": {"email": "kim@example.com", "name": "K"}}, "invitee.timezone"),
        ({"invitee": {"email": "kim@example.com", "name": "K", "timezone": "Mars/Olympus"}}, "invitee.timezone"),
        ({"invitee": None}, "invitee"),
        ({"start_time": "9am"}, "start_time"),
        ({"event_type": None}, "event_type"),
        ({"location": {"kind": "zoom_conference"}}, "location.kind"),
        ({"location": "zoom"}, "location"),
        ({"questions_and_answers": [{"question": "Goal?"}]}, "questions_and_answers[0].answer"),
        ({"event_guests": ["not-an-email"]}, "event_guests"),
        ({"event_guests": [f"g{i}@example.com" for i in range(11)]}, "event_guests"),
    ],
)
async def test_create_invitee_validates_the_body(
    client: httpx.AsyncClient, coaching: EventType, change: dict[str, Any], parameter: str
) -> None:
    body = {**booking(coaching, at(9)), **change}
    response = await client.post("/invitees", json=body)
    assert response.status_code == 400
    assert response.json()["details"][0]["parameter"] == parameter


async def test_create_invitee_location_choice(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    phone = fake.add_event_type("Phone", 30, locations=[("outbound_call", None), ("physical", "Studio 1")])
    missing_number = await client.post("/invitees", json=booking(phone, at(9), location={"kind": "outbound_call"}))
    assert missing_number.json()["details"][0]["parameter"] == "location.location"
    called = await client.post(
        "/invitees", json=booking(phone, at(9), location={"kind": "outbound_call", "location": "+1 555 0100"})
    )
    assert called.status_code == 201
    studio = await client.post("/invitees", json=booking(phone, at(10), location={"kind": "physical"}))
    assert studio.status_code == 201
    locations = [
        e["location"] for e in (await client.get("/scheduled_events", params={"user": me(fake)})).json()["collection"]
    ]
    assert locations == [
        {"type": "outbound_call", "location": "+1 555 0100"},
        {"type": "physical", "location": "Studio 1"},
    ]


async def test_create_invitee_unknown_or_inactive_event_type(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    gone = await client.post(
        "/invitees", json={**booking(fake.add_event_type("X", 30), at(9)), "event_type": uri("event_types", "nope")}
    )
    assert gone.status_code == 404
    inactive = fake.add_event_type("Paused", 30, active=False)
    paused = await client.post("/invitees", json=booking(inactive, at(9)))
    assert paused.json() == invalid("event_type", "is not active")
    not_json = await client.post("/invitees", content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400


async def test_free_plan_cannot_book(client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType) -> None:
    fake.set_plan("free")
    response = await client.post("/invitees", json=booking(coaching, at(9)))
    assert response.status_code == 403
    assert response.json() == error("Permission Denied", "Please upgrade to a paid Calendly account.")
    assert fake.events() == []
    assert response.headers["X-RateLimit-Limit"] == "50"


async def test_paid_booking_caps_per_minute_hour_and_day(
    client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType
) -> None:
    for _ in range(10):
        await client.post("/invitees", json=booking(coaching, at(7)))  # refused slot, still counts
    limited = await client.post("/invitees", json=booking(coaching, at(9)))
    assert limited.status_code == 429
    assert limited.json()["title"] == "Too Many Requests"
    assert (limited.headers["X-RateLimit-Limit"], limited.headers["X-RateLimit-Remaining"]) == ("10", "0")
    assert limited.headers["X-RateLimit-Reset"] == "60"
    assert "Retry-After" not in limited.headers
    assert (await client.get("/users/me")).status_code == 200  # only this endpoint is capped
    for _minute in range(4):
        fake.advance(timedelta(minutes=1))
        for _ in range(10):
            await client.post("/invitees", json=booking(coaching, at(7)))
    fake.advance(timedelta(minutes=1))
    hourly = await client.post("/invitees", json=booking(coaching, at(9)))
    assert (hourly.status_code, hourly.headers["X-RateLimit-Limit"]) == (429, "50")
    assert hourly.headers["X-RateLimit-Reset"] == str(3600 - 5 * 60)
    for hour in range(1, 3):
        fake.set_now(NOW + timedelta(hours=hour))
        for minute in range(5):
            fake.set_now(NOW + timedelta(hours=hour, minutes=minute))
            for _ in range(10):
                await client.post("/invitees", json=booking(coaching, at(7)))
    fake.set_now(NOW + timedelta(hours=3))
    daily = await client.post("/invitees", json=booking(coaching, at(12)))
    assert (daily.status_code, daily.headers["X-RateLimit-Limit"]) == (429, "100")
    assert daily.headers["X-RateLimit-Reset"] == str(13 * 3600)
    fake.set_now(NOW + timedelta(days=1))
    assert (await client.post("/invitees", json=booking(coaching, at(9, day=24)))).status_code == 201


@pytest.mark.parametrize(("plan", "limit"), [("trial", 5), ("enterprise", 500)])
async def test_booking_caps_by_tier(
    client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType, plan: Any, limit: int
) -> None:
    fake.set_plan(plan)
    fake.rate_limit_per_minute = 10_000
    for _ in range(limit):
        await client.post("/invitees", json=booking(coaching, at(7)))
    response = await client.post("/invitees", json=booking(coaching, at(9)))
    assert (response.status_code, response.headers["X-RateLimit-Limit"]) == (429, str(limit))


# -------------------------------------------------------------------------------------------------------------- cancel


async def test_cancel_event(client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType) -> None:
    event, _ = fake.book(coaching, at(10), "kim@example.com")
    fake.set_now(at(9))
    response = await client.post(f"/scheduled_events/{event.uuid}/cancellation", json={"reason": "Coach ill"})
    assert response.status_code == 201
    assert response.json() == {
        "resource": {
            "canceled_by": "Akshay Coach",
            "reason": "Coach ill",
            "canceler_type": "host",
            "created_at": iso(at(9)),
        }
    }
    rendered = (await client.get(f"/scheduled_events/{event.uuid}")).json()["resource"]
    assert rendered["status"] == "canceled"
    assert rendered["cancellation"]["reason"] == "Coach ill"
    assert rendered["invitees_counter"] == {"total": 1, "active": 0, "limit": 1}
    [person] = (await client.get(f"/scheduled_events/{event.uuid}/invitees")).json()["collection"]
    assert (person["status"], person["cancellation"]["canceler_type"]) == ("canceled", "host")
    again = await client.post(f"/scheduled_events/{event.uuid}/cancellation", json={})
    assert again.status_code == 403
    assert again.json() == error("Permission Denied", "Event is already canceled")
    assert iso(at(10)) in [
        s["start_time"] for s in (await available(client, coaching, at(9), at(11))).json()["collection"]
    ]


async def test_cancel_without_a_body_and_its_refusals(
    client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType
) -> None:
    event, _ = fake.book(coaching, at(10), "kim@example.com")
    assert (await client.post(f"/scheduled_events/{event.uuid}/cancellation")).status_code == 201
    assert fake.event(event.uuid).cancellation is not None
    assert fake.event(event.uuid).cancellation.reason is None  # type: ignore[union-attr]
    past, _ = fake.book(coaching, at(9, day=20), "old@example.com")
    response = await client.post(f"/scheduled_events/{past.uuid}/cancellation")
    assert response.json() == error("Permission Denied", "Event in the past")
    assert (await client.post("/scheduled_events/nope/cancellation")).status_code == 404
    later, _ = fake.book(coaching, at(11), "later@example.com")
    too_long = await client.post(f"/scheduled_events/{later.uuid}/cancellation", json={"reason": "x" * 10_001})
    assert too_long.json() == invalid("reason", "must be at most 10000 characters")


async def test_only_hosts_or_admins_cancel(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    other = fake.add_user("Other Coach", "other@fearvana.test")
    event, _ = fake.book(fake.add_event_type("Theirs", 30, owner=other), at(10), "kim@example.com")
    denied = await client.post(f"/scheduled_events/{event.uuid}/cancellation")
    assert denied.json() == error("Permission Denied", "You are not allowed to cancel this event")
    fake.set_token_kind("admin")
    assert (await client.post(f"/scheduled_events/{event.uuid}/cancellation")).status_code == 201


# --------------------------------------------------------------------------------------------------------------- links


async def test_scheduling_links(client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType) -> None:
    owner = uri("event_types", coaching.uuid)
    response = await client.post(
        "/scheduling_links", json={"max_event_count": 1, "owner": owner, "owner_type": "EventType"}
    )
    assert response.status_code == 201
    resource = response.json()["resource"]
    assert (resource["owner"], resource["owner_type"]) == (owner, "EventType")
    assert resource["booking_url"].startswith("https://calendly.com/d/")
    assert resource["booking_url"].endswith("/coaching")
    assert [link.booking_url for link in fake.scheduling_links] == [resource["booking_url"]]
    bad_count = await client.post(
        "/scheduling_links", json={"max_event_count": 2, "owner": owner, "owner_type": "EventType"}
    )
    assert bad_count.json() == invalid("max_event_count", "must be 1")
    bad_type = await client.post("/scheduling_links", json={"max_event_count": 1, "owner": owner, "owner_type": "User"})
    assert bad_type.json()["details"][0]["parameter"] == "owner_type"
    unknown = await client.post(
        "/scheduling_links",
        json={"max_event_count": 1, "owner": uri("event_types", "nope"), "owner_type": "EventType"},
    )
    assert unknown.status_code == 404


# ------------------------------------------------------------------------------------------------------- limits, modes


async def test_every_response_carries_the_rate_limit_headers(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    fake.set_now(datetime(2026, 11, 23, 8, 0, 15, tzinfo=UTC))
    first = await client.get("/users/me")
    second = await client.get("/event_types")  # a 400 counts too
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("500", "499")
    assert first.headers["X-RateLimit-Reset"] == "45"
    assert second.status_code == 400
    assert second.headers["X-RateLimit-Remaining"] == "498"


async def test_too_many_requests_in_a_minute_is_a_429(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    fake.rate_limit_per_minute = 3
    statuses = [(await client.get("/users/me")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = await client.get("/users/me")
    assert limited.json()["title"] == "Too Many Requests"
    assert (limited.headers["X-RateLimit-Limit"], limited.headers["X-RateLimit-Remaining"]) == ("3", "0")
    assert "Retry-After" not in limited.headers
    fake.advance(timedelta(minutes=1))
    assert (await client.get("/users/me")).status_code == 200


async def test_free_plan_has_the_smaller_limit(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    fake.set_plan("free")
    statuses = [(await client.get("/users/me")).status_code for _ in range(51)]
    assert statuses.count(200) == 50
    assert statuses[-1] == 429


async def test_missing_scope_is_a_403(client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType) -> None:
    fake.set_token_scopes({"scheduled_events:read", "event_types:read"})
    assert (await client.get("/scheduled_events", params={"user": me(fake)})).status_code == 200
    refused = await client.post("/invitees", json=booking(coaching, at(9)))
    assert refused.status_code == 403
    assert refused.json() == error(
        "Permission Denied",
        "The access token does not have the required scope.",
        ("scope", "scheduled_events:write is required"),
    )
    assert (await client.get("/users/me")).json()["details"][0]["message"] == "users:read is required"
    fake.set_token_scopes({"scheduled_events:write"})  # write includes read
    assert (await client.get("/scheduled_events", params={"user": me(fake)})).status_code == 200
    assert (await client.get("/event_types", params={"user": me(fake)})).status_code == 403
    fake.set_token_scopes(None)
    assert (await client.get("/users/me")).status_code == 200


async def test_expired_token_is_a_401_until_refreshed(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    fake.expire_token()
    expired = await client.get("/users/me")
    assert expired.status_code == 401
    assert expired.json() == error("Unauthenticated", "The access token expired")
    fresh = (await refresh(client, fake)).json()
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {fresh['access_token']}"})
    assert response.status_code == 200


def test_world_methods_check_their_input(fake: FakeCalendly) -> None:
    with pytest.raises(ValueError, match="time zone"):
        fake.add_user("X", "x@example.com", timezone="Nowhere/Land")
    with pytest.raises(ValueError, match="location kind"):
        fake.add_event_type("X", 30, locations=[("carrier_pigeon", None)])
    with pytest.raises(ValueError, match="positive"):
        fake.add_event_type("X", 0)
    with pytest.raises(ValueError, match="weekday"):
        fake.set_working_hours(fake.me, {7: [(time(9), time(10))]})
    with pytest.raises(ValueError, match="end after"):
        fake.set_working_hours(fake.me, {0: [(time(10), time(9))]})
    with pytest.raises(ValueError, match="plan"):
        fake.set_plan("gold")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="token kind"):
        fake.set_token_kind("root")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_page_size"):
        FakeCalendly(max_page_size=0)


async def test_max_page_size_caps_what_count_asks_for(fake: FakeCalendly, coaching: EventType) -> None:
    capped = FakeCalendly(now=NOW, max_page_size=2)
    event_type = capped.add_event_type("Call", 30)
    for day in (2, 3, 4, 5, 6):
        capped.book(event_type, at(9, day=day), "a@example.com")
    transport = httpx.ASGITransport(app=capped.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=AUTH) as http:
        items, pages = await collect(http, "/scheduled_events", {"user": uri("users", capped.me.uuid), "count": 100})
    assert (len(items), pages) == (5, 3)


# --------------------------------------------------------------------------------------------------------------- OAuth


async def refresh(client: httpx.AsyncClient, fake: FakeCalendly, token: str | None = None) -> httpx.Response:
    return await client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token or fake.current_refresh_token(),
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
        },
    )


async def test_refresh_token_grant_rotates_tokens(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    first = await refresh(client, fake, "test-refresh-token")
    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == ACCESS_TOKEN_SECONDS == 7200
    assert body["created_at"] == int(NOW.timestamp())
    assert body["owner"] == me(fake)
    assert body["organization"] == org(fake)
    assert body["refresh_token"] != "test-refresh-token"
    assert "X-RateLimit-Limit" not in first.headers
    reused = await refresh(client, fake, "test-refresh-token")
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert set(reused.json()) == {"error", "error_description"}
    second = await refresh(client, fake, body["refresh_token"])
    assert second.status_code == 200
    assert fake.token_requests == 3
    for issued in (body, second.json()):  # an earlier access token still works until it expires
        response = await client.get("/users/me", headers={"Authorization": f"Bearer {issued['access_token']}"})
        assert response.status_code == 200


async def test_access_tokens_expire_after_two_hours(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    access = (await refresh(client, fake)).json()["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    fake.advance(timedelta(seconds=ACCESS_TOKEN_SECONDS - 1))
    assert (await client.get("/users/me", headers=headers)).status_code == 200
    fake.advance(timedelta(seconds=1))
    expired = await client.get("/users/me", headers=headers)
    assert expired.json() == error("Unauthenticated", "The access token expired")
    assert (await client.get("/users/me")).status_code == 200  # the personal access token does not expire


async def test_token_endpoint_client_authentication(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    basic = base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
    form = {"grant_type": "refresh_token", "refresh_token": fake.current_refresh_token()}
    with_basic = await client.post("/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"})
    assert with_basic.status_code == 200
    wrong = await client.post(
        "/oauth/token",
        data={**form, "refresh_token": fake.current_refresh_token(), "client_id": "x", "client_secret": "y"},
        headers={"Authorization": ""},
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    grant = await client.post(
        "/oauth/token",
        data={"grant_type": "password", "client_id": fake.client_id, "client_secret": fake.client_secret},
    )
    assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")
    as_json = await client.post("/oauth/token", json={**form, "client_id": fake.client_id})
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
    assert fake.token_requests == 4


async def test_only_eight_tokens_a_minute(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    statuses = [(await refresh(client, fake)).status_code for _ in range(9)]
    assert statuses == [200] * 8 + [429]
    fake.advance(timedelta(minutes=1))
    assert (await refresh(client, fake)).status_code == 200


async def test_token_owner_uris_point_at_the_api_when_called_on_the_auth_host(fake: FakeCalendly) -> None:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://auth.calendly.com") as http:
        body = (await refresh(http, fake)).json()
    assert body["owner"] == me(fake)


async def test_token_endpoint_faults_and_single_flight_counting(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    fake.fail_next("unavailable", path_contains="/oauth/token")
    assert (await refresh(client, fake)).status_code == 503
    assert (await refresh(client, fake)).status_code == 200
    assert fake.token_requests == 2
    assert [r.path for r in fake.requests] == ["/oauth/token", "/oauth/token"]


# -------------------------------------------------------------------------------------------------------------- faults


async def test_unavailable_is_a_503_in_calendly_shape(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    fake.fail_next("unavailable")
    response = await client.get("/users/me")
    assert response.status_code == 503
    assert response.json() == {
        "title": "Service Unavailable",
        "message": "The service is temporarily unavailable. Please try again later.",
    }


async def test_rate_limited_fault_has_headers_and_retry_after(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    fake.fail_next("rate_limited")
    response = await client.get("/users/me")
    assert response.status_code == 429
    assert response.json()["title"] == "Too Many Requests"
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.headers["X-RateLimit-Limit"] == "500"
    assert int(response.headers["X-RateLimit-Reset"]) in range(1, 61)


async def test_quota_fault_is_the_daily_booking_cap(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    fake.fail_next("quota")
    response = await client.post("/invitees", json={})
    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert (response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Remaining"]) == ("100", "0")
    assert response.headers["X-RateLimit-Reset"] == str(16 * 3600)  # 08:00 → midnight UTC


async def test_auth_fault_is_an_expired_token_even_with_a_good_one(
    client: httpx.AsyncClient, fake: FakeCalendly
) -> None:
    fake.fail_next("auth")
    response = await client.get("/users/me")
    assert response.status_code == 401
    assert response.json() == error("Unauthenticated", "The access token expired")
    assert (await client.get("/users/me")).status_code == 200


async def test_malformed_is_200_json_that_does_not_parse(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    fake.fail_next("malformed")
    response = await client.get("/scheduled_events")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


async def test_slow_waits_then_answers_normally(
    client: httpx.AsyncClient, fake: FakeCalendly, monkeypatch: pytest.MonkeyPatch
) -> None:
    waited: list[bool] = []

    async def fake_slow() -> None:
        waited.append(True)

    monkeypatch.setattr(calendly_module, "slow", fake_slow)
    fake.fail_next("slow")
    response = await client.get("/users/me")
    assert waited == [True]
    assert response.status_code == 200


async def test_faults_honour_times_and_path_contains(client: httpx.AsyncClient, fake: FakeCalendly) -> None:
    fake.fail_next("unavailable", times=2, path_contains="/scheduled_events")
    assert (await client.get("/users/me")).status_code == 200
    assert (await client.get("/scheduled_events")).status_code == 503
    assert (await client.get("/scheduled_events/x")).status_code == 503
    assert (await client.get("/scheduled_events", params={"user": me(fake)})).status_code == 200


async def test_auth_faults_tell_an_expired_token_from_a_missing_scope(
    client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType
) -> None:
    fake.fail_next("expired", path_contains="/scheduled_events")
    fake.fail_next("missing_scope", path_contains="/invitees")
    assert (await client.get("/users/me")).status_code == 200  # not the path: untouched
    expired = await client.get("/scheduled_events", params={"user": me(fake)})
    assert expired.status_code == 401
    assert expired.json() == error("Unauthenticated", "The access token expired")
    assert "X-RateLimit-Limit" in expired.headers
    refused = await client.post("/invitees", json=booking(coaching, at(9)))
    assert refused.status_code == 403
    assert refused.json() == error(
        "Permission Denied",
        "The access token does not have the required scope.",
        ("scope", "scheduled_events:write is required"),  # the scope of the route it hit
    )
    assert not fake.events()  # refused before the handler ran
    assert (await client.get("/scheduled_events", params={"user": me(fake)})).status_code == 200
    assert (await client.post("/invitees", json=booking(coaching, at(9)))).status_code == 201


async def test_auth_faults_honour_times_and_are_forgotten_on_reset(
    client: httpx.AsyncClient, fake: FakeCalendly
) -> None:
    fake.fail_next("missing_scope", times=2)
    assert [(await client.get("/users/me")).status_code for _ in range(3)] == [403, 403, 200]
    fake.fail_next("expired")
    fake.reset()
    assert (await client.get("/users/me")).status_code == 200
    with pytest.raises(ValueError, match="times"):
        fake.fail_next("expired", times=0)


@pytest.mark.parametrize("fault", FAULT_NAMES)
async def test_every_fault_is_recorded_and_then_cleared(
    client: httpx.AsyncClient, fake: FakeCalendly, fault: FaultName, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_wait() -> None:
        return None

    monkeypatch.setattr(calendly_module, "slow", no_wait)
    fake.fail_next(fault)
    first = await client.get("/users/me")
    second = await client.get("/users/me")
    assert second.status_code == 200
    assert len(fake.requests) == 2
    assert first.status_code == {"unavailable": 503, "rate_limited": 429, "quota": 429, "auth": 401}.get(fault, 200)


# ------------------------------------------------------------------------------------------------------------ webhooks


def test_sign_webhook_matches_an_independent_hmac() -> None:
    body = b'{"event":"invitee.created"}'
    expected = hmac.new(b"key", b'1700000000.{"event":"invitee.created"}', hashlib.sha256).hexdigest()
    assert sign_webhook("key", body, 1700000000) == f"t=1700000000,v1={expected}"
    assert sign_webhook("key", body.decode(), 1700000000) == f"t=1700000000,v1={expected}"


def test_webhook_delivery_carries_the_invitee_and_its_event(fake: FakeCalendly, coaching: EventType) -> None:
    event, invitee = fake.book(coaching, at(10), "kim@example.com", "Kim Lee")
    body, headers = fake.webhook("invitee.created", invitee, signing_key="s3cret", base="http://127.0.0.1:9")
    timestamp, signature = headers["Calendly-Webhook-Signature"].split(",")
    assert timestamp == f"t={int(NOW.timestamp())}"
    mac = hmac.new(b"s3cret", timestamp[2:].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert signature == f"v1={mac}"
    delivery = json.loads(body)
    assert delivery["event"] == "invitee.created"
    assert delivery["created_by"] == f"http://127.0.0.1:9/users/{fake.me.uuid}"
    assert delivery["payload"]["email"] == "kim@example.com"
    assert delivery["payload"]["scheduled_event"]["uri"] == f"http://127.0.0.1:9/scheduled_events/{event.uuid}"


# ----------------------------------------------------------------------------------------------------- control surface


async def test_requests_are_recorded(client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType) -> None:
    await client.post("/invitees", json=booking(coaching, at(9)), params={"x": "1"})
    [recorded] = fake.requests
    assert (recorded.method, recorded.path, recorded.query) == ("POST", "/invitees", "x=1")
    assert recorded.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(recorded.body)["start_time"] == iso(at(9))


async def test_reset_forgets_everything(client: httpx.AsyncClient, fake: FakeCalendly, coaching: EventType) -> None:
    fake.book(coaching, at(10), "kim@example.com")
    old_me = fake.me.uuid
    await refresh(client, fake)
    fake.fail_next("unavailable")
    fake.reset()
    assert fake.requests == [] and fake.token_requests == 0 and fake.events() == []
    assert fake.me.uuid == old_me  # ids start again
    assert fake.current_refresh_token() == "test-refresh-token"
    response = await client.get("/scheduled_events", params={"user": me(fake)})
    assert response.status_code == 200
    assert response.json()["collection"] == []


def test_times_render_and_parse_like_calendly() -> None:
    assert iso(datetime(2026, 11, 23, 9, tzinfo=UTC)) == "2026-11-23T09:00:00.000000Z"
    assert parse_time("2026-11-23T09:00:00.000000Z") == at(9)
    assert parse_time("2026-11-23T10:00:00+01:00") == at(9)
    assert parse_time("2026-11-23T09:00:00.123456789Z").microsecond == 123456
    assert parse_time("2026-11-23T09:00Z") == at(9)
    for bad in ("2026-11-23", "9am", "2026-11-23 09:00:00Z"):
        with pytest.raises(ValueError, match="ISO-8601"):
            parse_time(bad)


def test_default_clock_is_aware_utc() -> None:
    assert abs(FakeCalendly().now() - datetime.now(UTC)) < timedelta(minutes=1)


def test_serves_over_real_http_with_uris_on_that_host(fake: FakeCalendly, coaching: EventType) -> None:
    fake.book(coaching, at(10), "kim@example.com")
    with serve(fake.app) as base_url:
        me_body = httpx.get(f"{base_url}/users/me", headers=AUTH).json()["resource"]
        listed = httpx.get(f"{base_url}/scheduled_events", params={"user": me_body["uri"]}, headers=AUTH)
    assert me_body["uri"] == f"{base_url}/users/{fake.me.uuid}"
    assert listed.status_code == 200
    assert listed.json()["collection"][0]["uri"].startswith(f"{base_url}/scheduled_events/")
