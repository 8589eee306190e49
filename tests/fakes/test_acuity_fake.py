"""FakeAcuity: routes behave as its docstring says, availability is hours minus bookings, faults render, auth holds."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time as clock
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from tests.fakes import faults
from tests.fakes.acuity import (
    MESSAGES,
    ROUTES,
    FakeAcuity,
    FakeRoute,
    build_webhook,
    clock_time,
    iso_offset,
    long_date,
    parse_datetime,
    zone,
)
from tests.fakes.faults import FAULT_NAMES
from tests.fakes.server import serve

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 00:00 in Los Angeles (PST, -0800)
USER_ID = 11145481
API_KEY = "test-api-key"
TOKEN = "oauth-access-token"
BASE = "https://acuityscheduling.com/api/v1"
LA = zone("America/Los_Angeles")
NY = zone("America/New_York")


def la(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """An instant given as Los Angeles wall-clock time in 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=LA).astimezone(UTC)


@dataclass(frozen=True)
class World:
    coach: int  # Los Angeles, Mon–Fri 09–17, 30-minute grid
    east: int  # New York, Mon–Fri 09–12
    session: int  # 60 min, on both calendars
    checkin: int  # 30 min, on coach only


@pytest.fixture
def fake() -> FakeAcuity:
    return FakeAcuity(user_id=USER_ID, api_key=API_KEY, oauth_tokens=[TOKEN], now=lambda: NOW)


@pytest.fixture
def world(fake: FakeAcuity) -> World:
    coach = fake.add_calendar("Coach Carla", timezone="America/Los_Angeles")
    east = fake.add_calendar(
        "East Coach", timezone="America/New_York", hours={d: [("09:00", "12:00")] for d in range(5)}
    )
    session = fake.add_appointment_type("Coaching Session", 60, price="150.00", category="Coaching")
    checkin = fake.add_appointment_type("Check-in", 30, calendar_ids=[coach])
    return World(coach, east, session, checkin)


@pytest.fixture
async def client(fake: FakeAcuity) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, auth=(str(USER_ID), API_KEY)) as http:
        yield http


def assert_error(response: httpx.Response, status: int, code: str, message: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"status_code", "message", "error"}
    assert body["status_code"] == status
    assert body["error"] == code
    if message is not None:
        assert body["message"] == message


def booking(world: World, when: str, **extra: Any) -> dict[str, Any]:
    return {
        "datetime": when,
        "appointmentTypeID": world.session,
        "calendarID": world.coach,
        "firstName": "Kim",
        "lastName": "Known",
        "email": "kim@example.com",
        **extra,
    }


async def times(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/availability/times", params=params)
    assert response.status_code == 200, response.text
    return [item["time"] for item in response.json()]


# ------------------------------------------------------------------------------------------------------------ auth


def _path(route: FakeRoute) -> str:
    return route.path.replace("{id}", "900000001")


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_every_route_refuses_missing_or_wrong_credentials(fake: FakeAcuity, world: World, route: Any) -> None:
    fake.add_appointment("kim@example.com", la(24, 10), appointment_type_id=world.session)
    wrong_basic = base64.b64encode(f"{USER_ID}:wrong".encode()).decode()
    wrong_user = base64.b64encode(f"1:{API_KEY}".encode()).decode()
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as anonymous:
        for headers in (
            {},
            {"Authorization": f"Basic {wrong_basic}"},
            {"Authorization": f"Basic {wrong_user}"},
            {"Authorization": "Basic !!!"},
            {"Authorization": "Bearer wrong"},
            {"Authorization": API_KEY},
        ):
            response = await anonymous.request(route.method, _path(route), headers=headers, json={})
            assert_error(response, 401, "unauthorized", "Unauthorized")


async def test_basic_and_bearer_credentials_are_accepted(fake: FakeAcuity) -> None:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        basic = await http.get("/me", auth=(str(USER_ID), API_KEY))
        bearer = await http.get("/me", headers={"Authorization": f"Bearer {TOKEN}"})
    assert basic.status_code == bearer.status_code == 200
    assert basic.json()["id"] == USER_ID
    assert basic.json()["timezone"] == "America/Los_Angeles"


async def test_a_plan_without_api_access_is_forbidden(fake: FakeAcuity, client: httpx.AsyncClient) -> None:
    fake.set_plan("Emerging", api_access=False)
    assert_error(await client.get("/me"), 403, "forbidden", "Forbidden")
    fake.set_plan("Powerhouse", api_access=True)
    assert (await client.get("/me")).json()["plan"] == "Powerhouse"


# ------------------------------------------------------------------------------------------------ listing appointments


async def test_list_hides_canceled_unless_asked(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    active = fake.add_appointment("kim@example.com", la(24, 10), appointment_type_id=world.session)
    gone = fake.add_appointment("kim@example.com", la(25, 10), appointment_type_id=world.session, canceled=True)
    no_show = fake.add_appointment(
        "kim@example.com", la(16, 10), appointment_type_id=world.session, canceled=True, no_show=True
    )

    def ids(response: httpx.Response) -> list[int]:
        return [a["id"] for a in response.json()]

    assert ids(await client.get("/appointments")) == [active]
    assert set(ids(await client.get("/appointments", params={"canceled": "true"}))) == {gone, no_show}
    assert set(ids(await client.get("/appointments", params={"showall": "true"}))) == {active, gone, no_show}
    rendered = {a["id"]: a for a in (await client.get("/appointments", params={"showall": "true"})).json()}
    assert "noShow" not in rendered[active] and rendered[active]["canceled"] is False
    assert rendered[gone]["noShow"] is False and rendered[gone]["canceled"] is True
    assert rendered[no_show]["noShow"] is True


async def test_list_is_a_bare_array_newest_first_with_max(
    fake: FakeAcuity, world: World, client: httpx.AsyncClient
) -> None:
    made = [fake.add_appointment("kim@example.com", la(10 + d, 9), appointment_type_id=world.session) for d in range(5)]
    response = await client.get("/appointments")
    assert isinstance(response.json(), list)
    assert [a["id"] for a in response.json()] == made[::-1]  # default DESC
    ascending = await client.get("/appointments", params={"direction": "ASC", "max": 2})
    assert [a["id"] for a in ascending.json()] == made[:2]
    latest = await client.get("/appointments", params={"max": 2})
    assert [a["id"] for a in latest.json()] == made[:-3:-1]
    assert_error(await client.get("/appointments", params={"max": "lots"}), 400, "bad_request")


async def test_list_default_max_is_100(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    for n in range(105):
        fake.add_appointment(f"c{n}@example.com", NOW - timedelta(hours=n), appointment_type_id=world.session)
    assert len((await client.get("/appointments")).json()) == 100
    assert len((await client.get("/appointments", params={"max": 105})).json()) == 105


async def test_list_filters(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    fake.add_intake_field(11, "Goal")
    kim = fake.add_appointment(
        "Kim@Example.com",
        la(24, 10),
        appointment_type_id=world.session,
        first_name="Kim",
        last_name="Known",
        phone="5551234",
        fields={11: "Sleep"},
    )
    east = fake.add_appointment("kim@example.com", la(24, 9), appointment_type_id=world.session, calendar_id=world.east)
    other = fake.add_appointment("ola@example.com", la(24, 11), appointment_type_id=world.checkin, first_name="Ola")

    async def ids(**params: Any) -> set[int]:
        response = await client.get("/appointments", params=params)
        assert response.status_code == 200, response.text
        return {a["id"] for a in response.json()}

    assert await ids(email="KIM@example.com") == {kim, east}
    assert await ids(calendarID=world.east) == {east}
    assert await ids(appointmentTypeID=world.checkin) == {other}
    assert await ids(firstName="ola") == {other}
    assert await ids(lastName="Known") == {kim}
    assert await ids(phone="5551234") == {kim}
    assert await ids(**{"field:11": "Sleep"}) == {kim}
    assert await ids(email="nobody@example.com") == set()


async def test_min_and_max_date_are_inclusive_calendar_dates(
    fake: FakeAcuity, world: World, client: httpx.AsyncClient
) -> None:
    late = fake.add_appointment("k@example.com", la(24, 16, 30), appointment_type_id=world.checkin)  # 00:30 UTC 25th
    next_day = fake.add_appointment("k@example.com", la(25, 9), appointment_type_id=world.checkin)
    before = fake.add_appointment("k@example.com", la(23, 9), appointment_type_id=world.checkin)

    async def ids(**params: str) -> set[int]:
        return {a["id"] for a in (await client.get("/appointments", params=params)).json()}

    assert await ids(minDate="2026-11-24", maxDate="2026-11-24") == {late}
    assert await ids(minDate="2026-11-24") == {late, next_day}
    assert await ids(maxDate="2026-11-24") == {late, before}
    assert_error(await client.get("/appointments", params={"minDate": "24/11/2026"}), 400, "bad_request")


async def test_exclude_forms_leaves_out_the_forms(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    fake.add_intake_field(11, "Goal")
    fake.add_appointment("k@example.com", la(24, 10), appointment_type_id=world.session, fields={11: "Sleep"})
    full = (await client.get("/appointments")).json()[0]
    (form,) = full["forms"]
    assert form["values"] == [{"id": form["values"][0]["id"], "fieldID": 11, "value": "Sleep", "name": "Goal"}]
    assert "Goal: Sleep" in full["formsText"]
    slim = (await client.get("/appointments", params={"excludeForms": "true"})).json()[0]
    assert "forms" not in slim and "formsText" not in slim


async def test_appointment_rendering(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    appointment = fake.add_appointment(
        "kim@example.com",
        la(23, 9),
        appointment_type_id=world.session,
        first_name="Kim",
        last_name="Known",
        notes="Worked on the morning routine.",
        timezone="Asia/Tokyo",
        labels=[{"id": 3, "name": "Completed", "color": "pink"}],
    )
    body = (await client.get(f"/appointments/{appointment}")).json()
    assert body["id"] == appointment
    assert body["datetime"] == "2026-11-23T09:00:00-0800"  # calendar time zone
    assert body["calendarTimezone"] == "America/Los_Angeles"
    assert body["timezone"] == "Asia/Tokyo"
    assert (body["date"], body["time"], body["endTime"]) == (
        "November 24, 2026",
        "2:00am",
        "3:00am",
    )  # client's (UTC: 23rd)
    assert body["duration"] == "60" and body["price"] == "150.00" and body["type"] == "Coaching Session"
    assert body["calendar"] == "Coach Carla" and body["calendarID"] == world.coach
    assert body["appointmentTypeID"] == world.session and body["category"] == "Coaching"
    assert body["notes"] == "Worked on the morning routine."
    assert body["labels"] == [{"id": 3, "name": "Completed", "color": "pink"}]
    assert body["datetimeCreated"] == "2026-11-23T00:00:00-0800" and body["dateCreated"] == "November 23, 2026"
    assert body["canClientCancel"] is False  # 1 h away, 24 h notice
    assert body["forms"] == []


async def test_summer_times_carry_the_daylight_offset(
    fake: FakeAcuity, world: World, client: httpx.AsyncClient
) -> None:
    appointment = fake.add_appointment("k@example.com", la(2, 14, month=7), appointment_type_id=world.session)
    body = (await client.get(f"/appointments/{appointment}")).json()
    assert body["datetime"] == "2026-07-02T14:00:00-0700"
    assert (body["date"], body["time"]) == ("July 2, 2026", "2:00pm")


async def test_get_unknown_appointment_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/appointments/12345"), 404, "not_found", "Not Found.")
    assert_error(
        await client.get("/appointments/abc"), 404, "not_found", "Not Found. Did you mean `/appointments/{id:number}`?"
    )


async def test_can_client_cancel_follows_the_notice(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    soon = fake.add_appointment("k@example.com", NOW + timedelta(hours=23), appointment_type_id=world.session)
    later = fake.add_appointment("k@example.com", NOW + timedelta(hours=25), appointment_type_id=world.session)
    assert fake.appointment(soon)["canClientCancel"] is False
    assert fake.appointment(later)["canClientCancel"] is True
    assert fake.appointment(later)["canClientReschedule"] is True
    fake.set_client_rules(can_cancel=False)
    assert fake.appointment(later)["canClientCancel"] is False
    assert fake.appointment(later)["canClientReschedule"] is True


# ---------------------------------------------------------------------------------------------- types and calendars


async def test_appointment_types_and_calendars(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    retired = fake.add_appointment_type("Old Workshop", 90, active=False)
    types = (await client.get("/appointment-types")).json()
    assert [t["id"] for t in types] == [world.session, world.checkin]
    session = types[0]
    assert session["duration"] == 60 and session["name"] == "Coaching Session" and session["active"] is True
    assert session["calendarIDs"] == [world.coach, world.east] and types[1]["calendarIDs"] == [world.coach]
    everything = (await client.get("/appointment-types", params={"includeDeleted": "true"})).json()
    assert retired in [t["id"] for t in everything]
    calendars = (await client.get("/calendars")).json()
    assert [(c["id"], c["name"], c["timezone"]) for c in calendars] == [
        (world.coach, "Coach Carla", "America/Los_Angeles"),
        (world.east, "East Coach", "America/New_York"),
    ]


# ---------------------------------------------------------------------------------------------------- availability


async def test_times_are_working_hours_minus_bookings(
    fake: FakeAcuity, world: World, client: httpx.AsyncClient
) -> None:
    fake.add_appointment("k@example.com", la(24, 10), appointment_type_id=world.session)
    fake.add_appointment("x@example.com", la(24, 13), appointment_type_id=world.checkin, canceled=True)
    offered = await times(client, date="2026-11-24", appointmentTypeID=world.session, calendarID=world.coach)
    expected_hours = ["09:00"] + [f"{h:02d}:{m:02d}" for h in range(11, 16) for m in (0, 30)] + ["16:00"]
    assert offered == [f"2026-11-24T{hm}:00-0800" for hm in expected_hours]  # 09:30–10:30 overlap; last ends 17:00
    response = await client.get(
        "/availability/times", params={"date": "2026-11-24", "appointmentTypeID": world.session}
    )
    assert all(item["slotsAvailable"] >= 1 for item in response.json())


async def test_times_respect_the_grid_duration_and_paddings(fake: FakeAcuity, client: httpx.AsyncClient) -> None:
    room = fake.add_calendar("Room", hours={1: [("09:00", "11:00")]}, step_minutes=45)
    long = fake.add_appointment_type("Long", 60, calendar_ids=[room])
    padded = fake.add_appointment_type("Padded", 15, calendar_ids=[room], padding_after=30)
    assert await times(client, date="2026-11-24", appointmentTypeID=long) == [
        "2026-11-24T09:00:00-0800",
        "2026-11-24T09:45:00-0800",
    ]
    fake.add_appointment("k@example.com", la(24, 10, 15), appointment_type_id=long)
    # 09:45 + 15 min + 30 min padding would reach into the 10:15 booking; 10:30 is inside it
    assert await times(client, date="2026-11-24", appointmentTypeID=padded) == ["2026-11-24T09:00:00-0800"]
    assert await times(client, date="2026-11-23", appointmentTypeID=long) == []  # no Monday hours


async def test_padding_before_keeps_a_gap_after_the_previous_booking(
    fake: FakeAcuity, client: httpx.AsyncClient
) -> None:
    studio = fake.add_calendar("Studio", hours={1: [("09:00", "11:00")]})
    short = fake.add_appointment_type("Short", 30, calendar_ids=[studio])
    prepared = fake.add_appointment_type("Prepared", 30, calendar_ids=[studio], padding_before=30)
    fake.add_appointment("k@example.com", la(24, 9), appointment_type_id=short)
    assert await times(client, date="2026-11-24", appointmentTypeID=short) == [
        f"2026-11-24T{hm}:00-0800" for hm in ("09:30", "10:00", "10:30")
    ]
    assert await times(client, date="2026-11-24", appointmentTypeID=prepared) == [
        f"2026-11-24T{hm}:00-0800" for hm in ("10:00", "10:30")
    ]


async def test_times_without_a_calendar_union_the_calendars(world: World, client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/availability/times", params={"date": "2026-11-24", "appointmentTypeID": world.session}
    )
    slots = {item["time"]: item["slotsAvailable"] for item in response.json()}
    assert slots["2026-11-24T06:00:00-0800"] == 1  # 09:00 in New York only
    assert slots["2026-11-24T09:00:00-0800"] == 1  # Los Angeles only (New York closed at noon)
    assert "2026-11-24T08:30:00-0800" not in slots  # 11:30 New York + 60 min passes noon


async def test_times_in_the_requested_time_zone(world: World, client: httpx.AsyncClient) -> None:
    offered = await times(
        client, date="2026-11-24", appointmentTypeID=world.session, calendarID=world.coach, timezone="America/New_York"
    )
    assert offered[0] == "2026-11-24T12:00:00-0500"  # 09:00 Los Angeles
    assert offered[-1] == "2026-11-24T19:00:00-0500"
    default_to_calendar = await times(client, date="2026-11-24", appointmentTypeID=world.session, calendarID=world.east)
    assert default_to_calendar[0] == "2026-11-24T09:00:00-0500"
    assert_error(
        await client.get(
            "/availability/times",
            params={"date": "2026-11-24", "appointmentTypeID": world.session, "timezone": "Mars/Olympus"},
        ),
        400,
        "invalid_timezone",
        'Invalid timezone "Mars/Olympus".',
    )


async def test_times_hide_the_past_and_honour_the_booking_window(
    fake: FakeAcuity, world: World, client: httpx.AsyncClient
) -> None:
    fake.set_now(la(23, 12, 10))
    today = await times(client, date="2026-11-23", appointmentTypeID=world.checkin)
    assert today[0] == "2026-11-23T12:30:00-0800"
    fake.set_booking_window(min_notice=timedelta(hours=2), max_days_ahead=2)
    assert (await times(client, date="2026-11-23", appointmentTypeID=world.checkin))[0] == "2026-11-23T14:30:00-0800"
    assert await times(client, date="2026-11-26", appointmentTypeID=world.checkin) == []


async def test_times_can_ignore_an_appointment_for_rescheduling(
    fake: FakeAcuity, world: World, client: httpx.AsyncClient
) -> None:
    mine = fake.add_appointment("k@example.com", la(24, 9), appointment_type_id=world.session)
    params = {"date": "2026-11-24", "appointmentTypeID": world.session, "calendarID": world.coach}
    assert "2026-11-24T09:30:00-0800" not in await times(client, **params)
    assert "2026-11-24T09:30:00-0800" in await times(client, **params, **{"ignoreAppointmentIDs[]": mine})


async def test_availability_parameter_errors(world: World, client: httpx.AsyncClient) -> None:
    get = client.get
    assert_error(await get("/availability/times", params={"appointmentTypeID": world.session}), 400, "required_date")
    assert_error(
        await get("/availability/times", params={"date": "tomorrow", "appointmentTypeID": world.session}),
        400,
        "invalid_date",
    )
    assert_error(
        await get("/availability/times", params={"date": "2026-11-24"}),
        400,
        "required_appointment_type_id",
        MESSAGES["required_appointment_type_id"],
    )
    assert_error(
        await get("/availability/times", params={"date": "2026-11-24", "appointmentTypeID": 999}),
        400,
        "invalid_appointment_type",
        'The appointment type "999" does not exist.',
    )
    assert_error(
        await get(
            "/availability/dates", params={"month": "2026-11", "appointmentTypeID": world.session, "calendarID": 5}
        ),
        400,
        "invalid_calendar",
        'The calendar "5" does not exist.',
    )
    assert_error(await get("/availability/dates", params={"appointmentTypeID": world.session}), 400, "required_month")
    assert_error(
        await get("/availability/dates", params={"month": "2026-13", "appointmentTypeID": world.session}),
        400,
        "invalid_month",
    )


async def test_dates_are_days_with_a_free_slot(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    for hour in range(9, 17):  # fill Wednesday on the coach calendar
        fake.add_appointment("k@example.com", la(25, hour), appointment_type_id=world.session)
    response = await client.get("/availability/dates", params={"month": "2026-11", "appointmentTypeID": world.checkin})
    assert response.json() == [
        {"date": d} for d in ("2026-11-23", "2026-11-24", "2026-11-26", "2026-11-27", "2026-11-30")
    ]
    december = await client.get("/availability/dates", params={"month": "2026-12", "appointmentTypeID": world.checkin})
    assert december.json()[0] == {"date": "2026-12-01"}
    assert len(december.json()) == 23  # every December weekday (the window reaches January 22)


async def test_check_times(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    fake.add_appointment("k@example.com", la(24, 10), appointment_type_id=world.session)
    valid = await client.post(
        "/availability/check-times",
        json={"datetime": "2026-11-24T09:00:00-0800", "appointmentTypeID": world.session, "calendarID": world.coach},
    )
    assert valid.status_code == 200
    assert valid.json() == {
        "datetime": "2026-11-24T09:00:00-0800",
        "appointmentTypeID": world.session,
        "calendarID": world.coach,
        "valid": True,
    }
    both = await client.post(
        "/availability/check-times",
        json=[
            {"datetime": "2026-11-24T10:30:00-0800", "appointmentTypeID": world.session, "calendarID": world.coach},
            {"datetime": "2026-11-24 09:00", "appointmentTypeID": world.session},
        ],
    )
    assert both.status_code == 200
    taken, anywhere = both.json()
    assert taken["valid"] is False
    assert taken["reason"] == 'The time "2026-11-24T10:30:00-0800" is not an available time slot.'
    assert anywhere == {
        "datetime": "2026-11-24T09:00:00-0800",
        "appointmentTypeID": world.session,
        "calendarID": world.coach,  # New York is closed then; Los Angeles is free
        "valid": True,
    }
    assert_error(
        await client.post("/availability/check-times", json={"appointmentTypeID": world.session}),
        400,
        "required_datetime",
    )
    assert_error(await client.post("/availability/check-times", json=[]), 400, "bad_request")


# ------------------------------------------------------------------------------------------------------------ booking


async def test_booking_an_offered_slot(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    response = await client.post("/appointments", json=booking(world, "2026-11-24T09:00:00-0800", phone="555"))
    assert response.status_code == 200
    body = response.json()
    assert body["datetime"] == "2026-11-24T09:00:00-0800" and body["calendarID"] == world.coach
    assert (body["firstName"], body["lastName"], body["email"], body["phone"]) == (
        "Kim",
        "Known",
        "kim@example.com",
        "555",
    )
    assert body["canceled"] is False and body["notes"] == ""
    assert (await client.get(f"/appointments/{body['id']}")).json() == body
    offered = await times(client, date="2026-11-24", appointmentTypeID=world.session, calendarID=world.coach)
    assert "2026-11-24T09:00:00-0800" not in offered and "2026-11-24T09:30:00-0800" not in offered
    assert fake.events == [("scheduled", body["id"])]
    assert fake.emails == [("confirmation", body["id"])]


@pytest.mark.parametrize(
    "when",
    [
        "2026-11-24T09:00:00-08:00",
        "2026-11-24T17:00:00Z",
        "2026-11-24T09:00",
        "2026-11-24 9:00am",
        "2026-11-24 09:00:00",
    ],
)
async def test_datetime_forms_are_parsed_like_strtotime(world: World, client: httpx.AsyncClient, when: str) -> None:
    response = await client.post("/appointments", json=booking(world, when))
    assert response.status_code == 200, response.text
    assert response.json()["datetime"] == "2026-11-24T09:00:00-0800"


async def test_naive_datetimes_use_the_calendar_zone_else_the_business_zone(
    world: World, client: httpx.AsyncClient
) -> None:
    east = await client.post("/appointments", json=booking(world, "2026-11-24T09:00", calendarID=world.east))
    assert east.json()["datetime"] == "2026-11-24T09:00:00-0500"
    anywhere = booking(world, "2026-11-24T10:00")
    del anywhere["calendarID"]
    picked = await client.post("/appointments", json=anywhere)
    assert picked.status_code == 200, picked.text
    assert picked.json()["datetime"] == "2026-11-24T10:00:00-0800" and picked.json()["calendarID"] == world.coach


async def test_booking_picks_the_first_free_calendar_or_says_none(
    fake: FakeAcuity, world: World, client: httpx.AsyncClient
) -> None:
    body = booking(world, "2026-11-24T09:00:00-0500")  # 06:00 in Los Angeles: only New York works
    del body["calendarID"]
    assert (await client.post("/appointments", json=body)).json()["calendarID"] == world.east
    again = await client.post("/appointments", json=body)
    assert_error(again, 400, "no_available_calendar", "We could not find an available calendar.")


@pytest.mark.parametrize(
    ("when", "code"),
    [
        ("2026-11-24T09:10:00-0800", "not_available"),  # off the grid
        ("2026-11-24T16:30:00-0800", "not_available"),  # would end after 17:00
        ("2026-11-28T10:00:00-0800", "not_available"),  # Saturday
        ("2026-11-23T07:00:00Z", "not_available_min_hours_in_advance"),  # the past
        ("2027-03-01T10:00:00-0800", "not_available_max_days_in_advance"),
    ],
)
async def test_unoffered_times_are_refused(world: World, client: httpx.AsyncClient, when: str, code: str) -> None:
    response = await client.post("/appointments", json=booking(world, when))
    assert_error(response, 400, code, MESSAGES[code].format(when))


async def test_a_taken_slot_is_refused_and_bookings_are_not_idempotent(
    fake: FakeAcuity, world: World, client: httpx.AsyncClient
) -> None:
    first = await client.post("/appointments", json=booking(world, "2026-11-24T09:00:00-0800"))
    assert first.status_code == 200
    again = await client.post("/appointments", json=booking(world, "2026-11-24T09:00:00-0800"))
    assert_error(again, 400, "not_available", 'The time "2026-11-24T09:00:00-0800" is not an available time slot.')
    overlapping = await client.post("/appointments", json=booking(world, "2026-11-24T09:30:00-0800"))
    assert_error(overlapping, 400, "not_available")
    admin = booking(world, "2026-11-24T09:00:00-0800")
    one = await client.post("/appointments", params={"admin": "true"}, json=admin)
    two = await client.post("/appointments", params={"admin": "true"}, json=admin)
    assert one.status_code == two.status_code == 200
    assert len({first.json()["id"], one.json()["id"], two.json()["id"]}) == 3


async def test_concurrent_bookings_of_one_slot_book_once(world: World, client: httpx.AsyncClient) -> None:
    results = await asyncio.gather(
        *(client.post("/appointments", json=booking(world, "2026-11-24T11:00:00-0800")) for _ in range(5))
    )
    assert sorted(r.status_code for r in results) == [200, 400, 400, 400, 400]


async def test_admin_booking(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    body = {
        "datetime": "2026-11-28T06:15:00-0800",  # Saturday, off the grid: admins skip availability
        "appointmentTypeID": world.session,
        "calendarID": world.coach,
        "firstName": "Bob",
        "lastName": "McTest",
        "notes": "My notes.",
    }
    response = await client.post("/appointments", params={"admin": "true", "noEmail": "true"}, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["notes"] == "My notes." and response.json()["email"] == ""
    assert fake.emails == []
    assert fake.events == [("scheduled", response.json()["id"])]
    no_calendar = {k: v for k, v in body.items() if k != "calendarID"}
    assert_error(
        await client.post("/appointments", params={"admin": "true"}, json=no_calendar),
        400,
        "required_calendar_id",
        'The parameter "calendarID" is required.',
    )
    as_client = await client.post("/appointments", json=booking(world, "2026-11-24T09:00:00-0800", notes="secret"))
    assert as_client.json()["notes"] == ""


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"firstName": ""}, "required_first_name", 'Attribute "firstName" is required.'),
        ({"lastName": None}, "required_last_name", 'Attribute "lastName" is required.'),
        ({"email": ""}, "required_email", 'Attribute "email" is required.'),
        ({"email": "not-an-email"}, "invalid_email", 'Invalid "email" attribute value.'),
        ({"fields": [{"id": 1, "value": "x"}]}, "invalid_fields", 'The field "1" does not exist on this appointment.'),
        ({"appointmentTypeID": None}, "required_appointment_type_id", 'The parameter "appointmentTypeID" is required.'),
        (
            {"appointmentTypeID": 987654321},
            "invalid_appointment_type",
            'The appointment type "987654321" does not exist.',
        ),
        ({"calendarID": 987654321}, "invalid_calendar", 'The calendar "987654321" does not exist.'),
        ({"datetime": ""}, "required_datetime", 'The parameter "datetime" is required.'),
        ({"datetime": "asdf"}, "invalid_datetime", 'The datetime "asdf" is invalid.'),
        ({"datetime": "2026-02-30T10:00"}, "invalid_datetime", 'The datetime "2026-02-30T10:00" is invalid.'),
        ({"timezone": "Aint/No_Timezone"}, "invalid_timezone", 'Invalid timezone "Aint/No_Timezone".'),
    ],
)
async def test_booking_validation_errors(
    world: World, client: httpx.AsyncClient, change: dict[str, Any], code: str, message: str
) -> None:
    response = await client.post("/appointments", json=booking(world, "2026-11-24T09:00:00-0800", **change))
    assert_error(response, 400, code, message)


async def test_bodies_that_are_not_json_objects(world: World, client: httpx.AsyncClient) -> None:
    for content in (b"", b"datetime=2026-11-24", b"[1]", b"null"):
        response = await client.post("/appointments", content=content, headers={"Content-Type": "application/json"})
        assert_error(response, 400, "bad_request", "Expected a JSON object.")


async def test_intake_fields(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    fake.add_intake_field(4, "Consent", required=True)
    fake.add_intake_field(5, "Goal")
    missing = await client.post("/appointments", json=booking(world, "2026-11-24T09:00:00-0800"))
    assert_error(missing, 400, "required_field", 'The field "4" is required.')
    ok = await client.post(
        "/appointments",
        json=booking(
            world, "2026-11-24T09:00:00-0800", fields=[{"id": 4, "value": "yes"}, {"id": "5", "value": "Calm"}]
        ),
    )
    assert ok.status_code == 200, ok.text
    values = {v["fieldID"]: v["value"] for v in ok.json()["forms"][0]["values"]}
    assert values == {4: "yes", 5: "Calm"}
    admin = await client.post(
        "/appointments", params={"admin": "true"}, json=booking(world, "2026-11-24T11:00:00-0800")
    )
    assert admin.status_code == 200  # admins skip required fields


# ------------------------------------------------------------------------------------------------------------ cancel


async def test_cancel(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    appointment = fake.add_appointment("kim@example.com", la(25, 10), appointment_type_id=world.session)
    response = await client.put(f"/appointments/{appointment}/cancel", json={"cancelNote": "Travelling"})
    assert response.status_code == 200
    assert response.json()["canceled"] is True and response.json()["noShow"] is False
    assert (await client.get("/appointments")).json() == []
    assert "2026-11-25T10:00:00-0800" in await times(
        client, date="2026-11-25", appointmentTypeID=world.session, calendarID=world.coach
    )
    again = await client.put(f"/appointments/{appointment}/cancel")
    assert again.status_code == 200 and again.json()["canceled"] is True
    assert fake.events == [("canceled", appointment)] and fake.emails == [("cancellation", appointment)]


async def test_cancel_rules_for_clients_and_admins(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    soon = fake.add_appointment("k@example.com", NOW + timedelta(hours=5), appointment_type_id=world.session)
    assert_error(
        await client.put(f"/appointments/{soon}/cancel"),
        400,
        "cancel_too_close",
        "Clients are not allowed to cancel this close to the time of the appointment.",
    )
    admin = await client.put(
        f"/appointments/{soon}/cancel", params={"admin": "true", "noEmail": "true"}, json={"noShow": True}
    )
    assert admin.status_code == 200 and admin.json()["noShow"] is True
    assert fake.emails == []
    fake.set_client_rules(can_cancel=False)
    later = fake.add_appointment("k@example.com", NOW + timedelta(days=5), appointment_type_id=world.session)
    assert_error(
        await client.put(f"/appointments/{later}/cancel"),
        400,
        "cancel_not_allowed",
        "Clients are not allowed to cancel.",
    )
    fake.set_client_rules(cancel_notice=timedelta(hours=1))
    assert (await client.put(f"/appointments/{later}/cancel", json={"noShow": True})).json()["noShow"] is False
    assert_error(await client.put("/appointments/123/cancel"), 404, "not_found")


# -------------------------------------------------------------------------------------------------------- reschedule


async def test_reschedule(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    appointment = fake.add_appointment("k@example.com", la(25, 10), appointment_type_id=world.session)
    overlapping = await client.put(
        f"/appointments/{appointment}/reschedule", json={"datetime": "2026-11-25T10:30:00-0800"}
    )
    assert overlapping.status_code == 200, overlapping.text  # its own old slot does not block it
    assert overlapping.json()["datetime"] == "2026-11-25T10:30:00-0800"
    moved = await client.put(
        f"/appointments/{appointment}/reschedule",
        json={"datetime": "2026-11-26T09:00:00-0500", "calendarID": world.east, "timezone": "America/New_York"},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["calendarID"] == world.east and moved.json()["time"] == "9:00am"
    assert fake.events == [("rescheduled", appointment)] * 2
    auto = await client.put(
        f"/appointments/{appointment}/reschedule", json={"datetime": "2026-11-27T13:00:00-0800", "calendarID": None}
    )
    assert auto.json()["calendarID"] == world.coach


async def test_reschedule_refusals(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    mine = fake.add_appointment("k@example.com", la(25, 10), appointment_type_id=world.session)
    fake.add_appointment("o@example.com", la(26, 10), appointment_type_id=world.session)
    taken = await client.put(f"/appointments/{mine}/reschedule", json={"datetime": "2026-11-26T10:00:00-0800"})
    assert_error(taken, 400, "not_available", 'The time "2026-11-26T10:00:00-0800" is not an available time slot.')
    assert_error(await client.put(f"/appointments/{mine}/reschedule", json={}), 400, "required_datetime")
    admin = await client.put(
        f"/appointments/{mine}/reschedule", params={"admin": "true"}, json={"datetime": "2026-11-26T10:00:00-0800"}
    )
    assert admin.status_code == 200  # admins skip availability
    soon = fake.add_appointment("k@example.com", NOW + timedelta(hours=2), appointment_type_id=world.session)
    assert_error(
        await client.put(f"/appointments/{soon}/reschedule", json={"datetime": "2026-11-27T10:00:00-0800"}),
        400,
        "reschedule_too_close",
    )
    gone = fake.add_appointment("k@example.com", la(30, 10), appointment_type_id=world.session, canceled=True)
    assert_error(
        await client.put(f"/appointments/{gone}/reschedule", json={"datetime": "2026-11-27T10:00:00-0800"}),
        400,
        "reschedule_canceled",
        "Canceled appointments may not be rescheduled.",
    )
    fake.set_client_rules(can_reschedule=False)
    assert_error(
        await client.put(f"/appointments/{mine}/reschedule", json={"datetime": "2026-11-27T10:00:00-0800"}),
        400,
        "reschedule_not_allowed",
    )


# ------------------------------------------------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("unavailable", 503, "service_unavailable"),
        ("rate_limited", 429, "too_many_requests"),
        ("quota", 403, "forbidden"),
        ("auth", 401, "unauthorized"),
    ],
)
async def test_faults_render_in_acuity_format(
    fake: FakeAcuity, client: httpx.AsyncClient, fault: Any, status: int, code: str
) -> None:
    fake.fail_next(fault)
    response = await client.get("/me")
    assert_error(response, status, code)
    assert "retry-after" not in response.headers
    assert (await client.get("/me")).status_code == 200


async def test_auth_faults_expired_token_and_plan_without_api_access(
    fake: FakeAcuity, client: httpx.AsyncClient
) -> None:
    fake.fail_next("expired")
    expired = await client.get("/appointments")
    assert_error(expired, 401, "invalid_token", "The access token provided has expired")
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    fake.fail_next("missing_scope", path_contains="/availability/")
    assert (await client.get("/me")).status_code == 200  # the path does not match: not consumed
    assert_error(await client.get("/availability/dates"), 403, "forbidden", "Forbidden")
    assert (await client.get("/me")).status_code == 200


def test_unknown_faults_are_refused(fake: FakeAcuity) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        fake.fail_next("revoked")  # type: ignore[arg-type]


async def test_rate_limited_is_the_documented_429(fake: FakeAcuity, client: httpx.AsyncClient) -> None:
    fake.fail_next("rate_limited")
    assert_error(
        await client.get("/calendars"),
        429,
        "too_many_requests",
        "Rate limit reached. Limit 10req/s and 20 concurrent connections.",
    )


async def test_retry_after_can_be_switched_on() -> None:
    fake = FakeAcuity(user_id=USER_ID, api_key=API_KEY, now=lambda: NOW, retry_after=1)
    fake.fail_next("rate_limited")
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, auth=(str(USER_ID), API_KEY)) as http:
        response = await http.get("/me")
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"


async def test_malformed_fault(fake: FakeAcuity, client: httpx.AsyncClient) -> None:
    fake.fail_next("malformed")
    response = await client.get("/appointments")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


async def test_slow_fault_answers_normally_after_the_delay(
    fake: FakeAcuity, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faults, "SLOW_SECONDS", 0.05)
    fake.fail_next("slow")
    started = clock.monotonic()
    response = await client.get("/me")
    assert clock.monotonic() - started >= 0.05
    assert response.status_code == 200


async def test_faults_count_match_paths_and_come_before_auth(fake: FakeAcuity, world: World) -> None:
    fake.fail_next("unavailable", times=2, path_contains="/availability/")
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as anonymous:
        params: dict[str, str | int] = {"date": "2026-11-24", "appointmentTypeID": world.session}
        assert (await anonymous.get("/me")).status_code == 401
        assert (await anonymous.get("/availability/times", params=params)).status_code == 503
        assert (await anonymous.get("/availability/dates", params=params)).status_code == 503
        assert (await anonymous.get("/availability/times", params=params)).status_code == 401
    assert set(FAULT_NAMES) == {"unavailable", "rate_limited", "quota", "auth", "malformed", "slow"}


# ------------------------------------------------------------------------------------------------------ routing


async def test_unknown_paths_wrong_methods_and_the_json_suffix(world: World, client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/clients"), 404, "not_found")
    assert_error(await client.get("https://acuityscheduling.com/appointments"), 404, "not_found")
    assert_error(await client.delete("/appointments"), 405, "method_not_allowed", "Method Not Allowed")
    assert_error(await client.post("/calendars", json={}), 405, "method_not_allowed")
    suffixed = await client.get("/appointment-types.json")
    assert suffixed.status_code == 200 and len(suffixed.json()) == 2


# ------------------------------------------------------------------------------------------------- control API


async def test_requests_are_recorded(world: World, fake: FakeAcuity, client: httpx.AsyncClient) -> None:
    await client.post("/appointments", params={"noEmail": "true"}, json=booking(world, "2026-11-24T09:00:00-0800"))
    (recorded,) = fake.requests
    assert (recorded.method, recorded.path, recorded.query) == ("POST", "/api/v1/appointments", "noEmail=true")
    assert recorded.headers["authorization"].startswith("Basic ")
    assert json.loads(recorded.body)["email"] == "kim@example.com"


async def test_reset_forgets_everything(fake: FakeAcuity, world: World, client: httpx.AsyncClient) -> None:
    appointment = fake.add_appointment("k@example.com", la(24, 10), appointment_type_id=world.session)
    fake.fail_next("unavailable", path_contains="/nowhere")
    fake.set_plan("Emerging", api_access=False)
    await client.get("/me")
    fake.reset()
    assert fake.requests == [] and fake.events == []
    with pytest.raises(KeyError):
        fake.appointment(appointment)
    assert (await client.get("/calendars")).json() == []
    assert (await client.get("/nowhere")).status_code == 404


def test_world_building_validates(fake: FakeAcuity, world: World) -> None:
    with pytest.raises(ValueError, match="time zone"):
        fake.add_calendar("Nowhere", timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="HH:MM"):
        fake.add_calendar("Bad", hours={0: [("9am", "5pm")]})
    with pytest.raises(ValueError, match="empty"):
        fake.add_calendar("Bad", hours={0: [("17:00", "09:00")]})
    with pytest.raises(ValueError, match="exists"):
        fake.add_calendar("Twin", calendar_id=world.coach)
    with pytest.raises(KeyError):
        fake.add_appointment_type("Orphan", 30, calendar_ids=[1])
    with pytest.raises(KeyError):
        fake.add_appointment("k@example.com", NOW, appointment_type_id=1)
    with pytest.raises(KeyError):
        fake.add_appointment("k@example.com", NOW, appointment_type_id=world.session, calendar_id=1)
    with pytest.raises(ValueError, match="noShow"):
        fake.add_appointment("k@example.com", NOW, appointment_type_id=world.session, no_show=True)
    with pytest.raises(KeyError):
        fake.add_appointment("k@example.com", NOW, appointment_type_id=world.session, fields={9: "x"})


def test_world_inspection(fake: FakeAcuity, world: World) -> None:
    first = fake.add_appointment("Kim@example.com", la(25, 10), appointment_type_id=world.session)
    second = fake.add_appointment("kim@example.com", la(24, 10), appointment_type_id=world.session, canceled=True)
    fake.add_appointment("ola@example.com", la(24, 11), appointment_type_id=world.session)
    assert [a["id"] for a in fake.appointments(email="KIM@example.com")] == [second, first]
    assert [a["id"] for a in fake.appointments(email="kim@example.com", include_canceled=False)] == [first]
    naive = fake.add_appointment("n@example.com", datetime(2026, 11, 24, 17, 0), appointment_type_id=world.session)
    assert fake.appointment(naive)["datetime"] == "2026-11-24T09:00:00-0800"  # naive = UTC


def test_clock(fake: FakeAcuity) -> None:
    assert fake.now() == NOW
    fake.set_now(datetime(2026, 12, 1, 12, 0))
    assert fake.now() == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    fake.set_now(lambda: NOW + timedelta(hours=1))
    assert fake.now() == NOW + timedelta(hours=1)


# ----------------------------------------------------------------------------------------------------------- webhooks


def test_webhook_delivery_is_signed_with_the_api_key(fake: FakeAcuity, world: World) -> None:
    appointment = fake.add_appointment("k@example.com", la(24, 10), appointment_type_id=world.checkin)
    delivery = fake.webhook("scheduled", appointment)
    assert delivery.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert list(parse_qsl(delivery.body.decode())) == [
        ("action", "scheduled"),
        ("id", str(appointment)),
        ("calendarID", str(world.coach)),
        ("appointmentTypeID", str(world.checkin)),
    ]
    expected = base64.b64encode(hmac.new(API_KEY.encode(), delivery.body, hashlib.sha256).digest()).decode()
    assert delivery.headers["X-Acuity-Signature"] == expected
    forged = build_webhook("scheduled", appointment, world.coach, world.checkin, api_key="someone-else")
    assert forged.headers["X-Acuity-Signature"] != expected
    assert build_webhook("appointment.canceled", 1, 2, 3, api_key=API_KEY).form["action"] == "appointment.canceled"
    with pytest.raises(ValueError, match="unknown webhook action"):
        build_webhook("deleted", 1, 2, 3, api_key=API_KEY)
    with pytest.raises(KeyError):
        fake.webhook("scheduled", 1)


# ------------------------------------------------------------------------------------------------------------ helpers


def test_rendering_helpers() -> None:
    moment = datetime(2026, 11, 23, 20, 5, tzinfo=UTC)
    assert iso_offset(moment, LA) == "2026-11-23T12:05:00-0800"
    assert clock_time(moment.astimezone(LA)) == "12:05pm"
    assert clock_time(datetime(2026, 1, 1, 0, 30)) == "12:30am"
    assert long_date(datetime(2026, 3, 1)) == "March 1, 2026"
    assert parse_datetime("2026-11-24 2:15pm", NY) == datetime(2026, 11, 24, 19, 15, tzinfo=UTC)
    assert parse_datetime("2026-11-24T09:00+0530", NY) == datetime(2026, 11, 24, 3, 30, tzinfo=UTC)
    for bad in ("asdf", "2026-11-24T25:00", "2026-11-24 13:00pm", "24.11.2026"):
        with pytest.raises(ValueError):  # noqa: PT011 - the message is the input or datetime's own wording
            parse_datetime(bad, NY)


async def test_serves_over_real_http(fake: FakeAcuity, world: World) -> None:
    fake.add_appointment("kim@example.com", la(24, 10), appointment_type_id=world.session)
    with serve(fake.app) as base_url:
        async with httpx.AsyncClient(base_url=base_url + "/api/v1", auth=(str(USER_ID), API_KEY)) as http:
            response = await http.get("/appointments", params={"email": "kim@example.com"})
    assert response.status_code == 200
    assert [a["email"] for a in response.json()] == ["kim@example.com"]
