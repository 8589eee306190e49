"""Fast tests of the Google Calendar fake: auth and scopes, the token endpoint, events list/get/insert/patch/delete,
incremental sync, freeBusy, push channels, every fault, partial responses, the world-building API."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes import faults
from tests.fakes.google_calendar import (
    CHANNEL_DEFAULT_TTL,
    CHANNEL_MAX_TTL,
    JWT_BEARER_GRANT,
    READ_ONLY_SCOPES,
    REAL_TOKEN_URL,
    SCOPE_CALENDAR,
    SCOPE_CALENDAR_READONLY,
    SCOPE_EVENTS,
    TOKEN_LIFETIME_SECONDS,
    FakeGoogleCalendar,
    apply_fields,
    parse_fields,
)
from tests.fakes.server import serve

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
COACH = "coach@example.com"
AUTH = {"Authorization": "Bearer test-token"}
API = "/calendar/v3"
EVENTS = f"{API}/calendars/primary/events"
SERVICE_ACCOUNT = "scheduler@fearvana-test.iam.gserviceaccount.com"


def at(hour: int, minute: int = 0, day: int = 23) -> datetime:
    """A UTC moment in late November 2026."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def timed(start: datetime, end: datetime, **fields: Any) -> dict[str, Any]:
    """An Event body with UTC start/end."""
    return {"start": {"dateTime": stamp(start)}, "end": {"dateTime": stamp(end)}, **fields}


@pytest.fixture
def fake() -> FakeGoogleCalendar:
    return FakeGoogleCalendar(now=NOW)


@pytest.fixture
async def client(fake: FakeGoogleCalendar) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://www.googleapis.com", headers=AUTH) as http:
        yield http


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def assertion(key: rsa.RSAPrivateKey, *, algorithm: str = "RS256", signer: Any = None, **claims: Any) -> str:
    """A service-account JWT (defaults: calendar scope, Google's token URL, one hour from NOW)."""
    base: dict[str, Any] = {
        "iss": SERVICE_ACCOUNT,
        "scope": SCOPE_CALENDAR,
        "aud": REAL_TOKEN_URL,
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 3600,
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, signer or key, algorithm=algorithm)


def assert_error(response: httpx.Response, status: int, reason: str, *, domain: str = "global") -> dict[str, Any]:
    """The response is Google's error envelope with this status and first reason; returns ``error``."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == status
    assert error["message"]
    assert error["errors"][0]["reason"] == reason
    assert error["errors"][0]["domain"] == domain
    assert error["errors"][0]["message"]
    return error


async def insert(client: httpx.AsyncClient, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = await client.post(EVENTS, json=body, params=params)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def list_ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get(EVENTS, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def list_ids_params(client: httpx.AsyncClient, params: httpx.QueryParams) -> list[str]:
    response = await client.get(EVENTS, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# ------------------------------------------------------------------------------------------------ auth and scopes


async def test_a_request_without_credentials_is_401_login_required(fake: FakeGoogleCalendar) -> None:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://www.googleapis.com") as anonymous:
        response = await anonymous.get(EVENTS)
    error = assert_error(response, 401, "required")
    assert error["status"] == "UNAUTHENTICATED"
    assert error["errors"][0] == {
        "domain": "global",
        "reason": "required",
        "message": "Login Required.",
        "locationType": "header",
        "location": "Authorization",
    }
    assert error["message"].startswith("Request is missing required authentication credential.")
    assert response.headers["www-authenticate"].startswith("Bearer realm=")


@pytest.mark.parametrize("header", ["Bearer nope", "Basic dGVzdA==", "Bearer ", "test-token"])
async def test_a_bad_token_is_401_auth_error(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get(EVENTS, headers={"Authorization": header})
    error = assert_error(response, 401, "authError")
    assert error["status"] == "UNAUTHENTICATED"
    assert error["errors"][0]["message"] == "Invalid Credentials"
    assert error["errors"][0]["location"] == "Authorization"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_the_oauth_token_query_parameter_authenticates(fake: FakeGoogleCalendar) -> None:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://www.googleapis.com") as http:
        assert (await http.get(EVENTS, params={"oauth_token": "test-token"})).status_code == 200
        assert (await http.get(EVENTS, params={"oauth_token": "nope"})).status_code == 401


async def test_expired_tokens_answer_401_until_a_new_one_is_minted(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient
) -> None:
    fake.expire_tokens()
    assert_error(await client.get(EVENTS), 401, "authError")
    minted = await client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "test-refresh-token",
            "client_id": "test-client-id",
            "client_secret": "test-client-secret",
        },
    )
    assert minted.status_code == 200
    token = minted.json()["access_token"]
    assert (await client.get(EVENTS, headers={"Authorization": f"Bearer {token}"})).status_code == 200
    assert fake.token_requests == 1


async def test_minted_tokens_expire_on_the_fake_clock(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    token = await refresh(client)
    bearer = {"Authorization": f"Bearer {token}"}
    fake.advance(timedelta(seconds=TOKEN_LIFETIME_SECONDS - 1))
    assert (await client.get(EVENTS, headers=bearer)).status_code == 200
    fake.advance(timedelta(seconds=1))
    assert_error(await client.get(EVENTS, headers=bearer), 401, "authError")


async def test_a_read_only_token_cannot_write(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    fake.set_scopes(READ_ONLY_SCOPES)
    response = await client.post(EVENTS, json=timed(at(9), at(10)))
    error = assert_error(response, 403, "insufficientPermissions")
    assert error["message"] == "Request had insufficient authentication scopes."
    assert error["status"] == "PERMISSION_DENIED"
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert error["details"][0]["metadata"]["method"] == "calendar.v3.Events.Insert"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert (await client.get(EVENTS)).status_code == 200
    body = {"timeMin": stamp(at(0)), "timeMax": stamp(at(23)), "items": [{"id": "primary"}]}
    assert (await client.post(f"{API}/freeBusy", json=body)).status_code == 200
    assert fake.created_events() == []


async def test_the_events_scope_alone_cannot_query_free_busy(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient
) -> None:
    fake.set_scopes([SCOPE_EVENTS])
    body = {"timeMin": stamp(at(0)), "timeMax": stamp(at(23)), "items": [{"id": "primary"}]}
    assert_error(await client.post(f"{API}/freeBusy", json=body), 403, "insufficientPermissions")
    await insert(client, timed(at(9), at(10)))


async def test_the_scope_check_comes_before_scripted_faults(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient
) -> None:
    fake.set_scopes(READ_ONLY_SCOPES)
    fake.fail_next("unavailable")
    assert_error(await client.post(EVENTS, json=timed(at(9), at(10))), 403, "insufficientPermissions")
    assert_error(await client.get(EVENTS), 503, "backendError")


# ------------------------------------------------------------------------------------------------ token endpoint


async def refresh(client: httpx.AsyncClient, **extra: str) -> str:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": "test-refresh-token",
        "client_id": "test-client-id",
        "client_secret": "test-client-secret",
        **extra,
    }
    response = await client.post("/token", data=form)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_the_refresh_grant_answers_a_bearer_token(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "test-refresh-token",
            "client_id": "test-client-id",
            "client_secret": "test-client-secret",
        },
    )
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == TOKEN_LIFETIME_SECONDS
    assert body["scope"] == SCOPE_CALENDAR
    issued = fake.issued_tokens[-1]
    assert (issued.value, issued.subject, issued.grant) == (body["access_token"], COACH, "refresh_token")
    assert issued.expires_at == NOW + timedelta(seconds=TOKEN_LIFETIME_SECONDS)


async def test_the_token_endpoint_also_reads_json_bodies(client: httpx.AsyncClient) -> None:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": "test-refresh-token",
        "client_id": "test-client-id",
        "client_secret": "test-client-secret",
    }
    response = await client.post("/token", json=form)
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


async def test_the_refresh_grant_accepts_http_basic_client_authentication(client: httpx.AsyncClient) -> None:
    basic = base64.b64encode(b"test-client-id:test-client-secret").decode()
    response = await client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": "test-refresh-token"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200
    assert response.json()["access_token"].startswith("ya29.")


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"refresh_token": ""}, 400, "invalid_request"),
        ({"refresh_token": "never-issued"}, 400, "invalid_grant"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"scope": f"{SCOPE_CALENDAR} https://www.googleapis.com/auth/gmail.send"}, 400, "invalid_scope"),
    ],
)
async def test_refresh_grant_errors(client: httpx.AsyncClient, form: dict[str, str], status: int, error: str) -> None:
    base = {
        "grant_type": "refresh_token",
        "refresh_token": "test-refresh-token",
        "client_id": "test-client-id",
        "client_secret": "test-client-secret",
    }
    response = await client.post("/token", data={**base, **form})
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_description"]


async def test_a_revoked_refresh_token_is_invalid_grant(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    fake.revoke_refresh_token("test-refresh-token")
    response = await client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "test-refresh-token",
            "client_id": "test-client-id",
            "client_secret": "test-client-secret",
        },
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


async def test_a_refresh_may_narrow_the_scopes(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    fake.set_scopes([SCOPE_CALENDAR, SCOPE_CALENDAR_READONLY])
    token = await refresh(client, scope=SCOPE_CALENDAR_READONLY)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get(EVENTS, headers=bearer)).status_code == 200
    assert_error(await client.post(EVENTS, json=timed(at(9), at(10)), headers=bearer), 403, "insufficientPermissions")


async def test_the_jwt_grant_impersonates_its_subject(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    fake.add_event(start=at(9), end=at(10), summary="Coaching")
    response = await client.post(
        "/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion(rsa_key, sub=COACH)}
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert response.json()["scope"] == SCOPE_CALENDAR
    listed = await client.get(EVENTS, headers={"Authorization": f"Bearer {token}"})
    assert [item["summary"] for item in listed.json()["items"]] == ["Coaching"]
    assert fake.issued_tokens[-1].grant == "jwt-bearer"


async def test_a_jwt_without_subject_reaches_the_service_accounts_own_calendar(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    response = await client.post("/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion(rsa_key)})
    bearer = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert_error(await client.get(EVENTS, headers=bearer), 404, "notFound")
    assert (await client.get(f"{API}/calendars/{COACH}/events", headers=bearer)).status_code == 200
    fake.add_calendar(SERVICE_ACCOUNT)
    assert (await client.get(EVENTS, headers=bearer)).status_code == 200


async def test_the_jwt_audience_may_be_the_fakes_own_token_url(
    client: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    jwt_here = assertion(rsa_key, aud="https://www.googleapis.com/token")
    response = await client.post("/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": jwt_here})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"aud": "https://example.com/token"}, "invalid_grant"),
        ({"exp": int(NOW.timestamp()) + 7200}, "invalid_grant"),
        ({"iat": int(NOW.timestamp()) - 7200, "exp": int(NOW.timestamp()) - 3600}, "invalid_grant"),
        ({"scope": None}, "invalid_scope"),
        ({"iss": None}, "invalid_grant"),
    ],
)
async def test_jwt_grant_errors(
    client: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey, claims: dict[str, Any], error: str
) -> None:
    response = await client.post(
        "/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion(rsa_key, **claims)}
    )
    assert (response.status_code, response.json()["error"]) == (400, error)


@pytest.mark.parametrize("bad", ["not-a-jwt", "HS256"])
async def test_undecodable_or_non_rs256_assertions_are_invalid_grant(
    client: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey, bad: str
) -> None:
    value = (
        bad if bad == "not-a-jwt" else assertion(rsa_key, algorithm="HS256", signer="a-shared-secret-of-32-bytes!!!!!")
    )
    response = await client.post("/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": value})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


async def test_a_registered_service_account_has_its_signature_checked(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake.add_service_account(SERVICE_ACCOUNT, public_pem(other))
    wrong = await client.post("/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion(rsa_key)})
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    fake.add_service_account(SERVICE_ACCOUNT, public_pem(rsa_key))
    right = await client.post("/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion(rsa_key)})
    assert right.status_code == 200


async def test_every_token_request_is_counted(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    tokens = await asyncio.gather(*(refresh(client) for _ in range(5)))
    assert len(set(tokens)) == 5
    assert fake.token_requests == 5
    assert [r.path for r in fake.requests] == ["/token"] * 5


async def test_unscoped_faults_skip_the_token_endpoint(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    fake.fail_next("unavailable")
    await refresh(client)
    assert_error(await client.get(EVENTS), 503, "backendError")


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        ("unavailable", 503, "temporarily_unavailable"),
        ("auth", 400, "invalid_grant"),
        ("rate_limited", 429, "rate_limit_exceeded"),
        ("quota", 429, "rate_limit_exceeded"),
    ],
)
async def test_faults_aimed_at_the_token_endpoint(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient, fault: faults.FaultName, status: int, error: str
) -> None:
    fake.fail_next(fault, path_contains="/token")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": "test-refresh-token",
        "client_id": "test-client-id",
        "client_secret": "test-client-secret",
    }
    response = await client.post("/token", data=form)
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert (await client.post("/token", data=form)).status_code == 200


async def test_a_malformed_token_answer(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    fake.fail_next("malformed", path_contains="/token")
    response = await client.post("/token", data={"grant_type": "refresh_token"})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


# ------------------------------------------------------------------------------------------------ events.list


async def test_list_shape_and_time_zone_rendering() -> None:
    fake = FakeGoogleCalendar(now=NOW, time_zone="Europe/Berlin")
    fake.add_event(start=at(9), end=at(10), summary="Coaching")
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://www.googleapis.com", headers=AUTH) as http:
        body = (await http.get(EVENTS)).json()
        in_utc = (await http.get(EVENTS, params={"timeZone": "UTC"})).json()
        in_new_york = (await http.get(EVENTS, params={"timeZone": "America/New_York"})).json()
        bad_zone = await http.get(EVENTS, params={"timeZone": "Mars/Olympus"})
    assert body["kind"] == "calendar#events"
    assert body["summary"] == COACH
    assert body["timeZone"] == in_utc["timeZone"] == "Europe/Berlin"
    assert body["accessRole"] == "owner"
    assert body["defaultReminders"] == [{"method": "popup", "minutes": 10}]
    assert body["updated"] == "2026-11-23T08:00:00.000Z"
    assert body["etag"].startswith('"') and body["etag"].endswith('"')
    item = body["items"][0]
    assert item["start"] == {"dateTime": "2026-11-23T10:00:00+01:00"}
    assert item["end"] == {"dateTime": "2026-11-23T11:00:00+01:00"}
    assert in_utc["items"][0]["start"] == {"dateTime": "2026-11-23T09:00:00Z"}
    assert in_new_york["items"][0]["start"] == {"dateTime": "2026-11-23T04:00:00-05:00"}
    assert (item["created"], item["updated"]) == ("2026-11-23T08:00:00.000Z", "2026-11-23T08:00:00.000Z")
    assert item["creator"] == item["organizer"] == {"email": COACH, "self": True}
    assert item["iCalUID"] == f"{item['id']}@google.com"
    assert item["htmlLink"].startswith("https://www.google.com/calendar/event?eid=")
    assert (item["status"], item["sequence"], item["eventType"]) == ("confirmed", 0, "default")
    assert item["reminders"] == {"useDefault": True}
    assert_error(bad_zone, 400, "invalid")


async def test_the_time_window_bounds_end_and_start_exclusively(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient
) -> None:
    ends_at_min = fake.add_event(start=at(8), end=at(9))
    overlaps_min = fake.add_event(start=at(8, 30), end=at(9, 30))
    inside = fake.add_event(start=at(10), end=at(11))
    overlaps_max = fake.add_event(start=at(11, 30), end=at(12, 30))
    starts_at_max = fake.add_event(start=at(12), end=at(13))
    ids = await list_ids(client, timeMin=stamp(at(9)), timeMax=stamp(at(12)))
    assert ids == [overlaps_min, inside, overlaps_max]
    assert ends_at_min not in ids and starts_at_max not in ids
    with_offset = await list_ids(client, timeMin="2026-11-23T10:00:00+01:00", timeMax="2026-11-23T13:00:00.999+01:00")
    assert with_offset == [overlaps_min, inside, overlaps_max]


@pytest.mark.parametrize("bad", ["2026-11-23T09:00:00", "2026-11-23", "tomorrow"])
async def test_time_bounds_need_an_offset(client: httpx.AsyncClient, bad: str) -> None:
    assert_error(await client.get(EVENTS, params={"timeMin": bad}), 400, "badRequest")


async def test_an_empty_time_window_is_time_range_empty(client: httpx.AsyncClient) -> None:
    response = await client.get(EVENTS, params={"timeMin": stamp(at(10)), "timeMax": stamp(at(10))})
    error = assert_error(response, 400, "timeRangeEmpty", domain="calendar")
    assert error["errors"][0]["location"] == "timeMax"


async def test_ordering(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    late = fake.add_event(start=at(15), end=at(16))
    early = fake.add_event(start=at(9), end=at(10))
    middle = fake.add_event(start=at(12), end=at(13))
    fake.advance(timedelta(minutes=5))
    fake.update_event("primary", early, {"summary": "moved last in update order"})
    assert await list_ids(client) == [late, early, middle]
    assert await list_ids(client, singleEvents="true", orderBy="startTime") == [early, middle, late]
    assert await list_ids(client, orderBy="updated") == [late, middle, early]
    error = assert_error(await client.get(EVENTS, params={"orderBy": "startTime"}), 400, "invalid")
    assert error["message"] == "The requested ordering is not available for the particular query."
    assert error["errors"][0]["location"] == "orderBy"
    assert_error(await client.get(EVENTS, params={"orderBy": "summary"}), 400, "invalid")


async def test_pages_follow_next_page_token_and_the_sync_token_ends_them(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient
) -> None:
    created = [fake.add_event(start=at(9 + i), end=at(10 + i)) for i in range(5)]
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params = {"maxResults": "2", **({"pageToken": token} if token else {})}
        body = (await client.get(EVENTS, params=params)).json()
        pages += 1
        seen += [item["id"] for item in body["items"]]
        assert not ("nextPageToken" in body and "nextSyncToken" in body)
        token = body.get("nextPageToken")
        if token is None:
            assert "nextSyncToken" in body
            break
    assert seen == created
    assert pages == 3


async def test_the_fakes_page_size_caps_max_results(client: httpx.AsyncClient) -> None:
    fake = FakeGoogleCalendar(now=NOW, page_size=1)
    fake.add_event(start=at(9), end=at(10))
    fake.add_event(start=at(11), end=at(12))
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://www.googleapis.com", headers=AUTH) as http:
        body = (await http.get(EVENTS, params={"maxResults": "250"})).json()
    assert len(body["items"]) == 1
    assert "nextPageToken" in body


async def test_a_page_token_belongs_to_its_query(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    for i in range(3):
        fake.add_event(start=at(9 + i), end=at(10 + i))
    first = (await client.get(EVENTS, params={"maxResults": "1", "timeMin": stamp(at(0))})).json()
    token = first["nextPageToken"]
    same_query = await client.get(EVENTS, params={"maxResults": "2", "timeMin": stamp(at(0)), "pageToken": token})
    assert same_query.status_code == 200
    assert len(same_query.json()["items"]) == 2
    other_query = await client.get(EVENTS, params={"maxResults": "1", "pageToken": token})
    assert assert_error(other_query, 400, "invalid")["errors"][0]["location"] == "pageToken"
    assert_error(await client.get(EVENTS, params={"pageToken": "garbage!"}), 400, "invalid")


@pytest.mark.parametrize(("value", "status"), [("0", 400), ("-1", 400), ("x", 400), ("1", 200), ("999999", 200)])
async def test_max_results_bounds(fake: FakeGoogleCalendar, client: httpx.AsyncClient, value: str, status: int) -> None:
    fake.add_event(start=at(9), end=at(10))
    assert (await client.get(EVENTS, params={"maxResults": value})).status_code == status


async def test_q_searches_text_and_people(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    by_summary = fake.add_event(start=at(9), end=at(10), summary="Fearvana Coaching")
    by_description = fake.add_event(start=at(10), end=at(11), description="talk about the SACRED edge")
    by_location = fake.add_event(start=at(11), end=at(12), location="Zoom room 7")
    by_attendee = fake.add_event(
        start=at(12), end=at(13), attendees=[{"email": "kim@example.com", "displayName": "Kim Known"}]
    )
    by_organizer = fake.add_event(
        start=at(13), end=at(14), organizer={"email": "boss@example.com", "displayName": "The Boss"}
    )
    assert await list_ids(client, q="coaching") == [by_summary]
    assert await list_ids(client, q="sacred") == [by_description]
    assert await list_ids(client, q="zoom") == [by_location]
    assert await list_ids(client, q="KIM@example.com") == [by_attendee]
    assert await list_ids(client, q="known") == [by_attendee]
    assert await list_ids(client, q="boss") == [by_organizer]
    assert await list_ids(client, q="fearvana coaching") == [by_summary]
    assert await list_ids(client, q="fearvana zoom") == []


async def test_extended_property_filters(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    first = fake.add_event(
        start=at(9), end=at(10), private_properties={"customer": "42"}, shared_properties={"app": "fearvana"}
    )
    second = fake.add_event(start=at(10), end=at(11), private_properties={"customer": "43"})
    fake.add_event(start=at(11), end=at(12), shared_properties={"customer": "42"})
    assert await list_ids(client, privateExtendedProperty="customer=42") == [first]
    both = [("privateExtendedProperty", "customer=42"), ("privateExtendedProperty", "customer=43")]
    assert await list_ids_params(client, httpx.QueryParams(tuple(both))) == [first, second]
    across = [("privateExtendedProperty", "customer=42"), ("sharedExtendedProperty", "app=fearvana")]
    assert await list_ids_params(client, httpx.QueryParams(tuple(across))) == [first]
    miss = [("privateExtendedProperty", "customer=43"), ("sharedExtendedProperty", "app=fearvana")]
    assert await list_ids_params(client, httpx.QueryParams(tuple(miss))) == []
    assert_error(await client.get(EVENTS, params={"privateExtendedProperty": "customer"}), 400, "invalid")


async def test_repeated_property_filters_can_be_made_to_match_all() -> None:
    fake = FakeGoogleCalendar(now=NOW, extended_property_match="all")
    both = fake.add_event(start=at(9), end=at(10), private_properties={"customer": "42", "kind": "session"})
    fake.add_event(start=at(10), end=at(11), private_properties={"customer": "42"})
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://www.googleapis.com", headers=AUTH) as http:
        query = httpx.QueryParams(
            [("privateExtendedProperty", "customer=42"), ("privateExtendedProperty", "kind=session")]
        )
        body = (await http.get(EVENTS, params=query)).json()
    assert [item["id"] for item in body["items"]] == [both]


async def test_cancelled_events_are_hidden_unless_asked_for(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient
) -> None:
    kept = fake.add_event(start=at(9), end=at(10))
    gone = fake.add_event(start=at(10), end=at(11))
    fake.cancel_event("primary", gone)
    assert await list_ids(client) == [kept]
    assert await list_ids(client, showDeleted="true") == [kept, gone]
    assert (await client.get(f"{EVENTS}/{gone}")).json()["status"] == "cancelled"


async def test_incremental_sync_returns_what_changed(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    untouched = fake.add_event(start=at(9), end=at(10))
    edited = fake.add_event(start=at(10), end=at(11))
    deleted = fake.add_event(start=at(11), end=at(12))
    full = (await client.get(EVENTS)).json()
    assert [item["id"] for item in full["items"]] == [untouched, edited, deleted]
    token = full["nextSyncToken"]
    fake.advance(timedelta(minutes=1))
    await client.patch(f"{EVENTS}/{edited}", json={"summary": "renamed"})
    assert (await client.delete(f"{EVENTS}/{deleted}")).status_code == 204
    added = await insert(client, timed(at(14), at(15)))
    changes = (await client.get(EVENTS, params={"syncToken": token})).json()
    assert [item["id"] for item in changes["items"]] == [edited, deleted, added["id"]]
    assert [item["status"] for item in changes["items"]] == ["confirmed", "cancelled", "confirmed"]
    again = (await client.get(EVENTS, params={"syncToken": changes["nextSyncToken"]})).json()
    assert again["items"] == []
    assert "nextSyncToken" in again
    assert untouched not in [item["id"] for item in changes["items"]]


@pytest.mark.parametrize(
    "params",
    [
        {"timeMin": "2026-11-23T00:00:00Z"},
        {"q": "x"},
        {"orderBy": "updated"},
        {"privateExtendedProperty": "a=b"},
        {"updatedMin": "2026-11-23T00:00:00Z"},
        {"iCalUID": "x@google.com"},
    ],
)
async def test_sync_tokens_refuse_incompatible_parameters(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    token = (await client.get(EVENTS)).json()["nextSyncToken"]
    response = await client.get(EVENTS, params={"syncToken": token, **params})
    assert assert_error(response, 400, "invalid")["errors"][0]["location"] == "syncToken"
    assert "nextSyncToken" not in (await client.get(EVENTS, params=params)).json()


async def test_sync_tokens_refuse_show_deleted_false(client: httpx.AsyncClient) -> None:
    token = (await client.get(EVENTS)).json()["nextSyncToken"]
    assert_error(await client.get(EVENTS, params={"syncToken": token, "showDeleted": "false"}), 400, "invalid")
    assert (await client.get(EVENTS, params={"syncToken": token, "showDeleted": "true"})).status_code == 200


async def test_stale_sync_tokens_require_a_full_sync(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    fake.add_calendar("team@example.com")
    token = (await client.get(EVENTS)).json()["nextSyncToken"]
    other = (await client.get(f"{API}/calendars/team@example.com/events")).json()["nextSyncToken"]
    for stale in (other, "CPDAlvWDx70CEPDAlvWDx70CGAU=", token[:-2]):
        error = assert_error(
            await client.get(EVENTS, params={"syncToken": stale}), 410, "fullSyncRequired", domain="calendar"
        )
        assert error["message"] == "Sync token is no longer valid, a full sync is required."
    assert (await client.get(EVENTS, params={"syncToken": token})).status_code == 200
    fake.invalidate_sync_tokens()
    assert_error(await client.get(EVENTS, params={"syncToken": token}), 410, "fullSyncRequired", domain="calendar")


async def test_updated_min(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    old = fake.add_event(start=at(9), end=at(10))
    fake.advance(timedelta(hours=1))
    fresh = fake.add_event(start=at(10), end=at(11))
    fake.cancel_event("primary", fresh)
    assert await list_ids(client, updatedMin=stamp(NOW + timedelta(minutes=30))) == [fresh]
    assert await list_ids(client, updatedMin=stamp(NOW)) == [old, fresh]
    fake.forget_history_before(NOW + timedelta(minutes=10))
    response = await client.get(EVENTS, params={"updatedMin": stamp(NOW)})
    assert_error(response, 410, "updatedMinTooLongAgo", domain="calendar")


async def test_max_attendees_keeps_only_the_calendars_own_entry(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient
) -> None:
    fake.add_event(start=at(9), end=at(10), attendees=[COACH, "a@example.com", "b@example.com"])
    item = (await client.get(EVENTS, params={"maxAttendees": "2"})).json()["items"][0]
    assert item["attendees"] == [{"email": COACH, "responseStatus": "needsAction", "organizer": True, "self": True}]
    assert item["attendeesOmitted"] is True
    full = (await client.get(EVENTS, params={"maxAttendees": "3"})).json()["items"][0]
    assert len(full["attendees"]) == 3
    assert "attendeesOmitted" not in full


async def test_ical_uid_and_event_type_filters(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    one = fake.add_event(start=at(9), end=at(10))
    fake.add_event(start=at(10), end=at(11))
    assert await list_ids(client, iCalUID=f"{one}@google.com") == [one]
    assert await list_ids(client, eventTypes="focusTime") == []
    assert len(await list_ids(client, eventTypes="default")) == 2
    assert_error(await client.get(EVENTS, params={"eventTypes": "meeting"}), 400, "invalid")


async def test_all_day_events_use_the_calendars_time_zone() -> None:
    fake = FakeGoogleCalendar(now=NOW, time_zone="America/Los_Angeles")
    day = fake.add_event(start=date(2026, 11, 24), end=date(2026, 11, 25), summary="Retreat")
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://www.googleapis.com", headers=AUTH) as http:
        item = (await http.get(f"{EVENTS}/{day}")).json()
        # local midnight in Los Angeles is 08:00Z: a window ending at 07:59Z misses it
        before = (await http.get(EVENTS, params={"timeMax": "2026-11-24T07:59:00Z"})).json()["items"]
        after = (await http.get(EVENTS, params={"timeMax": "2026-11-24T08:01:00Z"})).json()["items"]
    assert (item["start"], item["end"]) == ({"date": "2026-11-24"}, {"date": "2026-11-25"})
    assert (before, [i["id"] for i in after]) == ([], [day])


async def test_calendar_ids_primary_and_case(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    event_id = fake.add_event(start=at(9), end=at(10))
    for calendar_id in ("primary", COACH, "Coach@Example.COM", "coach%40example.com"):
        body = (await client.get(f"{API}/calendars/{calendar_id}/events")).json()
        assert [item["id"] for item in body["items"]] == [event_id], calendar_id
    assert_error(await client.get(f"{API}/calendars/nobody@example.com/events"), 404, "notFound")


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [
        ("owner", 200, 200),
        ("writer", 200, 200),
        ("reader", 200, 403),
        ("freeBusyReader", 403, 403),
        ("none", 404, 404),
    ],
)
async def test_access_roles(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient, role: Any, read: int, write: int
) -> None:
    fake.add_calendar("team@example.com", access_role=role)
    url = f"{API}/calendars/team@example.com/events"
    listed = await client.get(url)
    created = await client.post(url, json=timed(at(9), at(10)))
    assert (listed.status_code, created.status_code) == (read, write)
    if read == 200:
        assert listed.json()["accessRole"] == role
    if write == 403:
        assert_error(created, 403, "requiredAccessLevel", domain="calendar")


# ------------------------------------------------------------------------------------------------ events.get


async def test_get_an_event(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    event_id = fake.add_event(start=at(9), end=at(10), summary="Coaching", time_zone="Europe/Berlin")
    body = (await client.get(f"{EVENTS}/{event_id}", params={"timeZone": "Asia/Tokyo"})).json()
    assert body["start"] == {"dateTime": "2026-11-23T18:00:00+09:00", "timeZone": "Europe/Berlin"}
    assert body == {**fake.event("primary", event_id), "start": body["start"], "end": body["end"]}
    assert_error(await client.get(f"{EVENTS}/nosuchevent"), 404, "notFound")


# ------------------------------------------------------------------------------------------------ events.insert


async def test_insert_answers_the_created_event(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    body = timed(
        at(9),
        at(10),
        summary="Coaching with Kim",
        description="Session 3",
        location="Zoom",
        attendees=[{"email": "kim@example.com", "displayName": "Kim"}],
        extendedProperties={"private": {"fearvanaCustomerId": "cust-42"}},
        reminders={"useDefault": False, "overrides": [{"method": "email", "minutes": 60}]},
        transparency="opaque",
        visibility="private",
    )
    created = await insert(client, body, sendUpdates="all")
    assert len(created["id"]) == 26
    assert set(created["id"]) <= set("0123456789abcdefghijklmnopqrstuv")
    assert created["summary"] == "Coaching with Kim"
    assert created["attendees"] == [{"email": "kim@example.com", "displayName": "Kim", "responseStatus": "needsAction"}]
    assert created["extendedProperties"] == {"private": {"fearvanaCustomerId": "cust-42"}}
    assert created["reminders"] == {"useDefault": False, "overrides": [{"method": "email", "minutes": 60}]}
    assert created["visibility"] == "private"
    assert "transparency" not in created  # the default is not echoed
    assert fake.created_events() == [created]
    update = fake.sent_updates[-1]
    assert (update.action, update.send_updates, update.attendees) == ("insert", "all", ("kim@example.com",))


@pytest.mark.parametrize(("params", "expected"), [({}, "none"), ({"sendNotifications": "true"}, "all")])
async def test_the_effective_send_updates_is_recorded(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient, params: dict[str, str], expected: str
) -> None:
    await insert(client, timed(at(9), at(10)), **params)
    assert fake.sent_updates[-1].send_updates == expected
    assert_error(await client.post(EVENTS, json=timed(at(9), at(10)), params={"sendUpdates": "some"}), 400, "invalid")


@pytest.mark.parametrize("event_id", ["abcde", "0123456789abcdefghijklmnopqrstuv", "v" * 1024])
async def test_a_client_chosen_base32hex_id_is_kept(client: httpx.AsyncClient, event_id: str) -> None:
    assert (await insert(client, timed(at(9), at(10), id=event_id)))["id"] == event_id


@pytest.mark.parametrize("event_id", ["abcd", "v" * 1025, "abcdw", "ABCDE", "abc-def", "abc_def", ""])
async def test_other_client_ids_are_invalid(client: httpx.AsyncClient, event_id: str) -> None:
    response = await client.post(EVENTS, json=timed(at(9), at(10), id=event_id))
    assert assert_error(response, 400, "invalid")["message"] == "Invalid resource id value."


async def test_a_duplicate_id_is_409_even_after_deletion(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    await insert(client, timed(at(9), at(10), id="booking0001"))
    error = assert_error(await client.post(EVENTS, json=timed(at(9), at(10), id="booking0001")), 409, "duplicate")
    assert error["message"] == "The requested identifier already exists."
    await client.delete(f"{EVENTS}/booking0001")
    assert_error(await client.post(EVENTS, json=timed(at(9), at(10), id="booking0001")), 409, "duplicate")
    assert len(fake.created_events()) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"start": {"dateTime": "2026-11-23T09:00:00Z"}}, "required"),
        ({"end": {"dateTime": "2026-11-23T09:00:00Z"}}, "required"),
        ({}, "required"),
        ({"start": {"dateTime": "2026-11-23T09:00:00"}, "end": {"dateTime": "2026-11-23T10:00:00"}}, "required"),
        (
            {"start": {"dateTime": "2026-11-23T09:00:00", "timeZone": "Nowhere/Else"}, "end": {"date": "2026-11-24"}},
            "invalid",
        ),
        ({"start": {"date": "2026-11-23"}, "end": {"dateTime": "2026-11-23T10:00:00Z"}}, "invalid"),
        ({"start": {"dateTime": "yesterday"}, "end": {"dateTime": "2026-11-23T10:00:00Z"}}, "invalid"),
        (timed(at(9), at(10), attendees=[{"displayName": "no email"}]), "required"),
        (timed(at(9), at(10), attendees=[{"email": "not-an-email"}]), "invalid"),
        (timed(at(9), at(10), attendees=[{"email": "a@example.com", "responseStatus": "maybe"}]), "invalid"),
        (timed(at(9), at(10), status="postponed"), "invalid"),
        (timed(at(9), at(10), transparency="see-through"), "invalid"),
        (timed(at(9), at(10), summary=42), "invalid"),
        (timed(at(9), at(10), extendedProperties={"private": {"n": 1}}), "invalid"),
        (timed(at(9), at(10), reminders={"overrides": [{"method": "sms", "minutes": 5}]}), "required"),
        (timed(at(9), at(10), reminders={"overrides": [{"method": "popup", "minutes": 40321}]}), "invalid"),
    ],
)
async def test_insert_validation(client: httpx.AsyncClient, body: dict[str, Any], reason: str) -> None:
    assert_error(await client.post(EVENTS, json=body), 400, reason)


async def test_an_end_before_the_start_is_an_empty_range(client: httpx.AsyncClient) -> None:
    assert_error(await client.post(EVENTS, json=timed(at(10), at(9))), 400, "timeRangeEmpty", domain="calendar")
    assert (await client.post(EVENTS, json=timed(at(10), at(10)))).status_code == 200


async def test_a_body_that_is_not_json_is_a_parse_error(client: httpx.AsyncClient) -> None:
    response = await client.post(EVENTS, content=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(response, 400, "parseError")
    assert_error(await client.post(EVENTS, json=[1, 2]), 400, "parseError")


async def test_default_reminders_and_overrides_together_are_refused(client: httpx.AsyncClient) -> None:
    reminders = {"useDefault": True, "overrides": [{"method": "popup", "minutes": 5}]}
    assert_error(
        await client.post(EVENTS, json=timed(at(9), at(10), reminders=reminders)),
        400,
        "cannotUseDefaultRemindersAndSpecifyOverride",
    )


async def test_a_local_time_with_a_time_zone(client: httpx.AsyncClient) -> None:
    body = {
        "start": {"dateTime": "2026-11-24T09:00:00", "timeZone": "America/New_York"},
        "end": {"dateTime": "2026-11-24T10:00:00", "timeZone": "America/New_York"},
    }
    created = await insert(client, body)
    assert created["start"] == {"dateTime": "2026-11-24T14:00:00Z", "timeZone": "America/New_York"}


async def test_read_only_and_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    body = timed(
        at(9),
        at(10),
        htmlLink="https://evil.example.com",
        created="2000-01-01T00:00:00Z",
        organizer={"email": "someone@example.com"},
        hangoutLink="https://meet.google.com/aaa-bbbb-ccc",
        kind="calendar#nonsense",
        favouriteColour="teal",
    )
    created = await insert(client, body)
    assert created["htmlLink"].startswith("https://www.google.com/calendar/event?eid=")
    assert created["created"] == "2026-11-23T08:00:00.000Z"
    assert created["organizer"] == {"email": COACH, "self": True}
    assert "hangoutLink" not in created
    assert created["kind"] == "calendar#event"
    assert "favouriteColour" not in created


async def test_extended_property_limits(client: httpx.AsyncClient) -> None:
    properties = {"k" * 44: "kept", "k" * 45: "dropped", "long": "v" * 2000}
    created = await insert(client, timed(at(9), at(10), extendedProperties={"private": properties}))
    assert created["extendedProperties"]["private"] == {"k" * 44: "kept", "long": "v" * 1024}
    too_many = {"private": {f"p{i}": "x" for i in range(200)}, "shared": {f"s{i}": "x" for i in range(101)}}
    assert_error(await client.post(EVENTS, json=timed(at(9), at(10), extendedProperties=too_many)), 400, "invalid")


def meet_request(request_id: str = "req-1", kind: str = "hangoutsMeet") -> dict[str, Any]:
    return {"createRequest": {"requestId": request_id, "conferenceSolutionKey": {"type": kind}}}


async def test_a_meet_conference_is_created_with_conference_data_version_1(client: httpx.AsyncClient) -> None:
    created = await insert(client, timed(at(9), at(10), conferenceData=meet_request()), conferenceDataVersion="1")
    conference = created["conferenceData"]
    assert created["hangoutLink"] == conference["entryPoints"][0]["uri"]
    assert created["hangoutLink"].startswith("https://meet.google.com/")
    assert conference["createRequest"]["status"] == {"statusCode": "success"}
    assert conference["createRequest"]["requestId"] == "req-1"
    assert conference["conferenceSolution"]["key"] == {"type": "hangoutsMeet"}
    assert conference["entryPoints"][0]["entryPointType"] == "video"
    assert created["hangoutLink"].endswith(conference["conferenceId"])
    ignored = await insert(client, timed(at(9), at(10), conferenceData=meet_request()))
    assert "conferenceData" not in ignored and "hangoutLink" not in ignored
    bad_type = await client.post(
        EVENTS, json=timed(at(9), at(10), conferenceData=meet_request(kind="zoom")), params={"conferenceDataVersion": 1}
    )
    assert assert_error(bad_type, 400, "invalid")["message"] == "Invalid conference type value."
    assert_error(
        await client.post(EVENTS, json=timed(at(9), at(10)), params={"conferenceDataVersion": 2}), 400, "invalid"
    )


async def test_an_existing_conference_can_be_copied(client: httpx.AsyncClient) -> None:
    conference = {
        "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
        "entryPoints": [{"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij"}],
        "conferenceId": "abc-defg-hij",
    }
    created = await insert(client, timed(at(9), at(10), conferenceData=conference), conferenceDataVersion="1")
    assert created["conferenceData"] == conference
    assert created["hangoutLink"] == "https://meet.google.com/abc-defg-hij"
    incomplete = await client.post(
        EVENTS, json=timed(at(9), at(10), conferenceData={"conferenceId": "x"}), params={"conferenceDataVersion": 1}
    )
    assert_error(incomplete, 400, "invalid")


async def test_pending_and_failed_conferences(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    fake.conference_status = "pending"
    pending = await insert(client, timed(at(9), at(10), conferenceData=meet_request()), conferenceDataVersion="1")
    assert pending["conferenceData"]["createRequest"]["status"] == {"statusCode": "pending"}
    assert "hangoutLink" not in pending and "entryPoints" not in pending["conferenceData"]
    fake.complete_pending_conferences()
    done = (await client.get(f"{EVENTS}/{pending['id']}")).json()
    assert done["conferenceData"]["createRequest"]["status"] == {"statusCode": "success"}
    assert done["hangoutLink"].startswith("https://meet.google.com/")
    fake.conference_status = "failure"
    failed = await insert(client, timed(at(9), at(10), conferenceData=meet_request("r2")), conferenceDataVersion="1")
    assert failed["conferenceData"]["createRequest"]["status"] == {"statusCode": "failure"}
    assert "hangoutLink" not in failed


# ------------------------------------------------------------------------------------------------ events.patch


async def test_patch_merges_objects_replaces_arrays_and_clears_nulls(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient
) -> None:
    event_id = fake.add_event(
        start=at(9),
        end=at(10),
        summary="Coaching",
        location="Zoom",
        attendees=["a@example.com", "b@example.com"],
        private_properties={"customer": "42", "stale": "yes"},
    )
    fake.advance(timedelta(minutes=3))
    patch = {
        "location": None,
        "attendees": [{"email": "c@example.com"}],
        "extendedProperties": {"private": {"stale": None, "booking": "b-1"}},
        "htmlLink": "ignored",
    }
    response = await client.patch(f"{EVENTS}/{event_id}", json=patch, params={"sendUpdates": "none"})
    body = response.json()
    assert response.status_code == 200
    assert body["summary"] == "Coaching"
    assert "location" not in body
    assert [a["email"] for a in body["attendees"]] == ["c@example.com"]
    assert body["extendedProperties"]["private"] == {"customer": "42", "booking": "b-1"}
    assert body["updated"] == "2026-11-23T08:03:00.000Z"
    assert body["created"] == "2026-11-23T08:00:00.000Z"
    assert body["sequence"] == 0
    assert fake.sent_updates[-1].action == "patch"


async def test_rescheduling_bumps_sequence_and_etag(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    event_id = fake.add_event(start=at(9), end=at(10), time_zone="Europe/Berlin")
    before = fake.event("primary", event_id)
    response = await client.patch(
        f"{EVENTS}/{event_id}", json={"start": {"dateTime": stamp(at(11))}, "end": {"dateTime": stamp(at(12))}}
    )
    body = response.json()
    assert body["sequence"] == 1
    assert body["etag"] != before["etag"]
    assert body["start"] == {"dateTime": "2026-11-23T11:00:00Z"}  # start replaced whole: its timeZone is gone
    stale = await client.patch(f"{EVENTS}/{event_id}", json={"summary": "x"}, headers={"If-Match": before["etag"]})
    assert assert_error(stale, 412, "conditionNotMet")["errors"][0]["location"] == "If-Match"
    current = await client.patch(f"{EVENTS}/{event_id}", json={"summary": "x"}, headers={"If-Match": body["etag"]})
    assert current.status_code == 200


async def test_patching_to_cancelled_then_deleting_is_410(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    event_id = fake.add_event(start=at(9), end=at(10))
    cancelled = await client.patch(f"{EVENTS}/{event_id}", json={"status": "cancelled"})
    assert cancelled.json()["status"] == "cancelled"
    assert await list_ids(client) == []
    assert_error(await client.delete(f"{EVENTS}/{event_id}"), 410, "deleted")


async def test_patch_validation_and_unknown_events(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    event_id = fake.add_event(start=at(9), end=at(10))
    assert_error(await client.patch(f"{EVENTS}/nosuchevent", json={"summary": "x"}), 404, "notFound")
    assert_error(
        await client.patch(f"{EVENTS}/{event_id}", json={"end": {"dateTime": stamp(at(8))}}),
        400,
        "timeRangeEmpty",
        domain="calendar",
    )
    assert fake.event("primary", event_id)["end"] == {"dateTime": "2026-11-23T10:00:00Z"}


async def test_patch_adds_a_conference_once_per_request_id(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    event_id = fake.add_event(start=at(9), end=at(10))
    first = (
        await client.patch(
            f"{EVENTS}/{event_id}", json={"conferenceData": meet_request()}, params={"conferenceDataVersion": 1}
        )
    ).json()
    again = (
        await client.patch(
            f"{EVENTS}/{event_id}", json={"conferenceData": meet_request()}, params={"conferenceDataVersion": 1}
        )
    ).json()
    other = (
        await client.patch(
            f"{EVENTS}/{event_id}", json={"conferenceData": meet_request("req-2")}, params={"conferenceDataVersion": 1}
        )
    ).json()
    assert first["hangoutLink"] == again["hangoutLink"]
    assert other["hangoutLink"] != first["hangoutLink"]
    untouched = (await client.patch(f"{EVENTS}/{event_id}", json={"conferenceData": None})).json()
    assert untouched["hangoutLink"] == other["hangoutLink"]  # conferenceDataVersion 0 ignores conferenceData


# ------------------------------------------------------------------------------------------------ events.delete


async def test_delete_is_204_then_410(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    event_id = fake.add_event(start=at(9), end=at(10), attendees=["kim@example.com"])
    response = await client.delete(f"{EVENTS}/{event_id}", params={"sendUpdates": "all"})
    assert response.status_code == 204
    assert response.content == b""
    assert fake.event("primary", event_id)["status"] == "cancelled"
    assert (fake.sent_updates[-1].action, fake.sent_updates[-1].send_updates) == ("delete", "all")
    error = assert_error(await client.delete(f"{EVENTS}/{event_id}"), 410, "deleted")
    assert error["message"] == "Resource has been deleted"
    assert_error(await client.delete(f"{EVENTS}/nosuchevent"), 404, "notFound")


# ------------------------------------------------------------------------------------------------ freeBusy


DAY_START = at(0)
DAY_END = at(0, day=24)


def free_busy(*ids: str, start: datetime = DAY_START, end: datetime = DAY_END, **extra: Any) -> dict[str, Any]:
    """A FreeBusyRequest body for the calendars ``ids`` (default window: 23 November, UTC)."""
    return {"timeMin": stamp(start), "timeMax": stamp(end), "items": [{"id": i} for i in ids], **extra}


async def test_busy_periods_merge_clip_and_skip(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    fake.add_event(start=at(22, day=22), end=at(1), summary="overnight, clipped at timeMin")
    fake.add_event(start=at(9), end=at(10))
    fake.add_event(start=at(9, 30), end=at(10, 30), summary="overlaps")
    fake.add_event(start=at(10, 30), end=at(11), summary="touches")
    fake.add_event(start=at(12), end=at(13), status="tentative")
    fake.add_event(start=at(14), end=at(15), transparency="transparent")
    cancelled = fake.add_event(start=at(15), end=at(16))
    fake.cancel_event("primary", cancelled)
    fake.add_event(start=at(16), end=at(17), attendees=[{"email": COACH, "responseStatus": "declined"}])
    fake.add_event(start=at(17), end=at(17), summary="zero length")
    fake.add_event(start=at(23), end=at(2, day=24), summary="clipped at timeMax")
    response = await client.post(f"{API}/freeBusy", json=free_busy("primary"))
    body = response.json()
    assert body["kind"] == "calendar#freeBusy"
    assert (body["timeMin"], body["timeMax"]) == ("2026-11-23T00:00:00.000Z", "2026-11-24T00:00:00.000Z")
    assert body["calendars"]["primary"] == {
        "busy": [
            {"start": "2026-11-23T00:00:00Z", "end": "2026-11-23T01:00:00Z"},
            {"start": "2026-11-23T09:00:00Z", "end": "2026-11-23T11:00:00Z"},
            {"start": "2026-11-23T12:00:00Z", "end": "2026-11-23T13:00:00Z"},
            {"start": "2026-11-23T23:00:00Z", "end": "2026-11-24T00:00:00Z"},
        ]
    }
    helper = fake.busy_periods("primary", at(0), at(0, day=24))
    assert [(stamp(s), stamp(e)) for s, e in helper] == [
        (b["start"], b["end"]) for b in body["calendars"]["primary"]["busy"]
    ]


async def test_free_busy_time_zones(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    fake.add_event(start=at(15), end=at(16))
    body = free_busy(COACH, start=at(5), end=at(20), timeZone="America/New_York")
    body["timeMin"] = "2026-11-23T00:00:00-05:00"
    answer = (await client.post(f"{API}/freeBusy", json=body)).json()
    assert answer["timeMin"] == "2026-11-23T05:00:00.000Z"
    assert answer["calendars"][COACH]["busy"] == [
        {"start": "2026-11-23T10:00:00-05:00", "end": "2026-11-23T11:00:00-05:00"}
    ]
    assert_error(await client.post(f"{API}/freeBusy", json={**body, "timeZone": "Mars/Base"}), 400, "invalid")


async def test_all_day_events_are_busy_in_the_calendars_zone() -> None:
    fake = FakeGoogleCalendar(now=NOW, time_zone="Europe/Berlin")
    fake.add_event(start=date(2026, 11, 24), end=date(2026, 11, 25))
    assert fake.busy_periods("primary", at(0), at(0, day=26)) == [(at(23), at(23, day=24))]


async def test_free_busy_per_calendar_errors(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    fake.add_calendar("hidden@example.com", access_role="none")
    fake.add_calendar("shared@example.com", access_role="freeBusyReader")
    fake.add_event("shared@example.com", start=at(9), end=at(10))
    answer = (
        await client.post(
            f"{API}/freeBusy", json=free_busy("nobody@example.com", "hidden@example.com", "shared@example.com")
        )
    ).json()
    not_found = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
    assert answer["calendars"]["nobody@example.com"] == not_found
    assert answer["calendars"]["hidden@example.com"] == not_found
    assert answer["calendars"]["shared@example.com"]["busy"] == [
        {"start": "2026-11-23T09:00:00Z", "end": "2026-11-23T10:00:00Z"}
    ]


async def test_free_busy_calendar_limits(client: httpx.AsyncClient) -> None:
    ids = [f"person{i}@example.com" for i in range(3)]
    answer = (await client.post(f"{API}/freeBusy", json=free_busy(*ids, calendarExpansionMax=2))).json()
    assert answer["calendars"][ids[2]]["errors"] == [{"domain": "global", "reason": "tooManyCalendarsRequested"}]
    assert answer["calendars"][ids[1]]["errors"] == [{"domain": "global", "reason": "notFound"}]
    for bad in ({"calendarExpansionMax": 51}, {"calendarExpansionMax": 0}, {"groupExpansionMax": 101}):
        assert_error(await client.post(f"{API}/freeBusy", json={**free_busy(*ids), **bad}), 400, "invalid")
    many = [f"p{i}@example.com" for i in range(51)]
    answer = (await client.post(f"{API}/freeBusy", json=free_busy(*many))).json()
    assert answer["calendars"][many[50]]["errors"][0]["reason"] == "tooManyCalendarsRequested"


async def test_free_busy_window_rules(client: httpx.AsyncClient) -> None:
    ninety = free_busy("primary", start=at(0), end=at(0) + timedelta(days=90))
    assert (await client.post(f"{API}/freeBusy", json=ninety)).status_code == 200
    longer = free_busy("primary", start=at(0), end=at(0) + timedelta(days=90, seconds=1))
    error = assert_error(await client.post(f"{API}/freeBusy", json=longer), 400, "timeRangeTooLong", domain="calendar")
    assert error["message"] == "The requested time range is too long."
    empty = free_busy("primary", start=at(9), end=at(9))
    assert_error(await client.post(f"{API}/freeBusy", json=empty), 400, "timeRangeEmpty", domain="calendar")
    missing = {"timeMax": stamp(at(9)), "items": [{"id": "primary"}]}
    assert assert_error(await client.post(f"{API}/freeBusy", json=missing), 400, "required")["message"] == (
        "Missing timeMin parameter."
    )
    no_offset = {**free_busy("primary"), "timeMin": "2026-11-23T00:00:00"}
    assert_error(await client.post(f"{API}/freeBusy", json=no_offset), 400, "invalid")


# ------------------------------------------------------------------------------------------------ push


WATCH = f"{EVENTS}/watch"


def channel_body(channel_id: str = "chan-1", **extra: Any) -> dict[str, Any]:
    return {
        "id": channel_id,
        "type": "web_hook",
        "address": "https://hooks.fearvana.test/google",
        "token": "secret-token",
        **extra,
    }


async def test_watch_answers_a_channel_and_records_a_sync_message(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient
) -> None:
    response = await client.post(WATCH, json=channel_body())
    channel = response.json()
    assert response.status_code == 200
    assert channel["kind"] == "api#channel"
    assert channel["id"] == "chan-1"
    assert channel["token"] == "secret-token"
    assert channel["resourceUri"] == "https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json"
    assert isinstance(channel["expiration"], str)
    expiration = datetime.fromtimestamp(int(channel["expiration"]) / 1000, tz=UTC)
    assert expiration == NOW + CHANNEL_DEFAULT_TTL
    [sync] = fake.notifications
    assert sync.address == "https://hooks.fearvana.test/google"
    assert sync.body == b""
    assert sync.headers["X-Goog-Channel-ID"] == "chan-1"
    assert sync.headers["X-Goog-Channel-Token"] == "secret-token"
    assert sync.headers["X-Goog-Resource-ID"] == channel["resourceId"]
    assert sync.headers["X-Goog-Resource-URI"] == channel["resourceUri"]
    assert sync.state == "sync"
    assert sync.headers["X-Goog-Message-Number"] == "1"
    assert parsedate_to_datetime(sync.headers["X-Goog-Channel-Expiration"]) == expiration
    request = sync.to_httpx()
    assert (request.method, str(request.url), request.content) == ("POST", sync.address, b"")


async def test_changes_notify_watchers_until_the_channel_stops(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient
) -> None:
    channel = (await client.post(WATCH, json=channel_body())).json()
    await insert(client, timed(at(9), at(10)))
    fake.add_event("primary", start=at(11), end=at(12))
    assert [n.state for n in fake.notifications] == ["sync", "exists", "exists"]
    assert [n.headers["X-Goog-Message-Number"] for n in fake.notifications] == ["1", "2", "3"]
    stop = await client.post(f"{API}/channels/stop", json={"id": "chan-1", "resourceId": channel["resourceId"]})
    assert (stop.status_code, stop.content) == (204, b"")
    await insert(client, timed(at(13), at(14)))
    assert len(fake.notifications) == 3
    again = await client.post(f"{API}/channels/stop", json={"id": "chan-1", "resourceId": channel["resourceId"]})
    assert_error(again, 404, "notFound")


async def test_a_stop_needs_the_matching_resource_id(client: httpx.AsyncClient) -> None:
    await client.post(WATCH, json=channel_body())
    assert_error(await client.post(f"{API}/channels/stop", json={"id": "chan-1", "resourceId": "x"}), 404, "notFound")


async def test_channels_expire(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    requested = int((NOW + timedelta(hours=1)).timestamp() * 1000)
    channel = (await client.post(WATCH, json=channel_body(expiration=requested))).json()
    assert channel["expiration"] == str(requested)
    fake.advance(timedelta(hours=2))
    fake.add_event(start=at(11), end=at(12))
    assert [n.state for n in fake.notifications] == ["sync"]
    capped = (await client.post(WATCH, json=channel_body("chan-2", expiration="99999999999999"))).json()
    capped_at = datetime.fromtimestamp(int(capped["expiration"]) / 1000, tz=UTC)
    assert capped_at == fake.now() + CHANNEL_MAX_TTL


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (channel_body(address="http://hooks.fearvana.test/google"), "push.webhookUrlNotHttps"),
        (channel_body(type="email"), "invalid"),
        (channel_body(id=""), "required"),
        (channel_body(id="x" * 65), "invalid"),
        (channel_body(id="has space"), "invalid"),
        (channel_body(expiration=int(NOW.timestamp() * 1000) - 1), "invalid"),
        ({"id": "chan-9", "type": "web_hook"}, "required"),
    ],
)
async def test_watch_validation(client: httpx.AsyncClient, body: dict[str, Any], reason: str) -> None:
    assert_error(await client.post(WATCH, json=body), 400, reason)


async def test_a_channel_id_must_be_unique(client: httpx.AsyncClient) -> None:
    assert (await client.post(WATCH, json=channel_body())).status_code == 200
    assert_error(await client.post(WATCH, json=channel_body()), 400, "channelIdNotUnique")


async def test_build_notification(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    await client.post(WATCH, json=channel_body(token=None))
    built = fake.build_notification("chan-1", "not_exists")
    assert built.state == "not_exists"
    assert built.headers["X-Goog-Message-Number"] == "2"
    assert "X-Goog-Channel-Token" not in built.headers
    assert len(fake.notifications) == 1
    assert fake.channels[0]["id"] == "chan-1"


# ------------------------------------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    ("fault", "variant", "status", "reason", "domain", "message"),
    [
        ("rate_limited", None, 403, "rateLimitExceeded", "usageLimits", "Rate Limit Exceeded"),
        ("rate_limited", "403", 403, "rateLimitExceeded", "usageLimits", "Rate Limit Exceeded"),
        ("rate_limited", "429", 429, "rateLimitExceeded", "usageLimits", "Rate Limit Exceeded"),
        ("rate_limited", "user", 403, "userRateLimitExceeded", "usageLimits", "User Rate Limit Exceeded"),
        ("quota", None, 403, "quotaExceeded", "usageLimits", "Calendar usage limits exceeded."),
        ("unavailable", None, 503, "backendError", "global", "The service is currently unavailable."),
        ("unavailable", "500", 500, "backendError", "global", "Backend Error"),
        ("auth", None, 401, "authError", "global", "Invalid Credentials"),
    ],
)
async def test_faults_in_googles_envelope(
    fake: FakeGoogleCalendar,
    client: httpx.AsyncClient,
    fault: faults.FaultName,
    variant: str | None,
    status: int,
    reason: str,
    domain: str,
    message: str,
) -> None:
    fake.fail_next(fault, variant=variant)
    response = await client.get(EVENTS)
    error = assert_error(response, status, reason, domain=domain)
    assert error["errors"][0]["message"] == message
    assert "retry-after" not in response.headers
    assert (await client.get(EVENTS)).status_code == 200


async def test_a_malformed_answer_is_cut_off_json(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    fake.fail_next("malformed")
    response = await client.get(EVENTS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_the_slow_fault_waits_then_answers(
    fake: FakeGoogleCalendar, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faults, "SLOW_SECONDS", 0.05)
    fake.fail_next("slow")
    started = time.monotonic()
    response = await client.get(EVENTS)
    assert time.monotonic() - started >= 0.05
    assert response.status_code == 200


async def test_faults_count_down_and_match_paths(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    fake.fail_next("quota", times=2, path_contains="/freeBusy")
    assert (await client.get(EVENTS)).status_code == 200
    body = free_busy("primary")
    assert [(await client.post(f"{API}/freeBusy", json=body)).status_code for _ in range(3)] == [403, 403, 200]
    fake.fail_next("quota")
    fake.clear_faults()
    assert (await client.get(EVENTS)).status_code == 200


def test_fail_next_rejects_unknown_faults_and_variants(fake: FakeGoogleCalendar) -> None:
    with pytest.raises(ValueError, match="variant"):
        fake.fail_next("quota", variant="429")
    with pytest.raises(ValueError, match="variant"):
        fake.fail_next("rate_limited", variant="418")
    with pytest.raises(ValueError, match="unknown fault"):
        fake.fail_next("teapot")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ partial responses


async def test_the_fields_selector(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    event_id = fake.add_event(start=at(9), end=at(10), summary="Coaching")
    body = (await client.get(EVENTS, params={"fields": "items(id,start/dateTime),nextSyncToken"})).json()
    assert set(body) == {"items", "nextSyncToken"}
    assert body["items"] == [{"id": event_id, "start": {"dateTime": "2026-11-23T09:00:00Z"}}]
    star = (await client.get(f"{EVENTS}/{event_id}", params={"fields": "*"})).json()
    assert star == fake.event("primary", event_id)
    assert_error(await client.get(EVENTS, params={"fields": "items(id"}), 400, "invalidParameter")


def test_parse_and_apply_fields() -> None:
    tree = parse_fields("a,b/c,d(e,f/g),b/h")
    assert tree == {"a": None, "b": {"c": None, "h": None}, "d": {"e": None, "f": {"g": None}}}
    value = {"a": 1, "b": {"c": 2, "h": 3, "x": 4}, "d": [{"e": 5, "f": {"g": 6, "y": 7}}], "z": 8}
    assert apply_fields(value, tree) == {"a": 1, "b": {"c": 2, "h": 3}, "d": [{"e": 5, "f": {"g": 6}}]}
    assert parse_fields("b,b/c") == {"b": None}
    for bad in ("", "a,", "a(b", "a)b", "a//b"):
        with pytest.raises(ValueError, match="bad field|unbalanced|unexpected"):
            parse_fields(bad)


# ------------------------------------------------------------------------------------------------ plumbing and world


async def test_unknown_routes_and_methods_are_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(f"{API}/users/me/calendarList"), 404, "notFound")
    assert_error(await client.put(f"{EVENTS}/abcde", json={}), 404, "notFound")
    assert_error(await client.get("/calendar/v2/calendars/primary/events"), 404, "notFound")


async def test_alt_must_be_json(client: httpx.AsyncClient) -> None:
    assert (await client.get(EVENTS, params={"alt": "json", "prettyPrint": "false"})).status_code == 200
    assert_error(await client.get(EVENTS, params={"alt": "media"}), 400, "invalid")


async def test_every_request_is_recorded(fake: FakeGoogleCalendar, client: httpx.AsyncClient) -> None:
    await client.post(EVENTS, json=timed(at(9), at(10)), params={"sendUpdates": "none"})
    await client.get(f"{API}/nowhere")
    first, second = fake.requests
    assert (first.method, first.path, first.query) == ("POST", EVENTS, "sendUpdates=none")
    assert first.headers["authorization"] == "Bearer test-token"
    assert json.loads(first.body)["start"] == {"dateTime": "2026-11-23T09:00:00Z"}
    assert (second.method, second.path) == ("GET", f"{API}/nowhere")


async def test_it_serves_over_real_http(fake: FakeGoogleCalendar) -> None:
    fake.add_event(start=at(9), end=at(10), summary="Coaching")
    with serve(fake.app) as base_url:
        async with httpx.AsyncClient(base_url=base_url, headers=AUTH) as http:
            response = await http.get(EVENTS)
    assert response.status_code == 200
    assert response.json()["items"][0]["summary"] == "Coaching"


def test_world_validation(fake: FakeGoogleCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        fake.add_event(start=datetime(2026, 11, 23, 9), end=at(10))
    with pytest.raises(ValueError, match="Invalid resource id"):
        fake.add_event(start=at(9), end=at(10), event_id="NOPE!")
    with pytest.raises(ValueError, match="time range is empty"):
        fake.add_event(start=at(10), end=at(9))
    with pytest.raises(KeyError):
        fake.add_event("nobody@example.com", start=at(9), end=at(10))
    with pytest.raises(ValueError, match="exists already"):
        fake.add_calendar(COACH)
    with pytest.raises(ValueError, match="time zone"):
        fake.add_calendar("x@example.com", time_zone="Atlantis/Capital")
    with pytest.raises(ValueError, match="page_size"):
        FakeGoogleCalendar(page_size=0)


def test_world_reads_and_reset(fake: FakeGoogleCalendar) -> None:
    fake.add_calendar("team@example.com", time_zone="Asia/Tokyo", summary="Team")
    kept = fake.add_event("team@example.com", start="2026-11-23T09:00:00Z", end="2026-11-23T10:00:00Z")
    gone = fake.add_event("team@example.com", start=at(10), end=at(11), event_id="gone00001")
    fake.cancel_event("team@example.com", gone)
    assert [e["id"] for e in fake.events("team@example.com")] == [kept, gone]
    assert [e["id"] for e in fake.events("team@example.com", include_cancelled=False)] == [kept]
    assert fake.event("team@example.com", kept)["start"] == {"dateTime": "2026-11-23T18:00:00+09:00"}
    assert fake.created_events() == []
    fake.set_scopes(READ_ONLY_SCOPES)
    fake.reset()
    assert fake.events() == []
    with pytest.raises(KeyError):
        fake.events("team@example.com")
    assert fake.issued_tokens[0].scopes == frozenset({SCOPE_CALENDAR})
