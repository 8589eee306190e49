"""No input gives a 500 (issue 12): dates near the end of time, tokens whose algorithm and key do not
match, NUL-only summaries, absurd numbers; authorization comes before body validation; 404s and 422s
never echo what was submitted; an unexpected error is still correlated (body, header and log)."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fearvana_integration.domain.crm import Interaction
from fearvana_integration.domain.scheduling import DateRange, TimeSlot
from fearvana_integration.errors import InvalidInput
from tests.service.conftest import (
    AUDIENCE,
    DEMO,
    HEAVY,
    AppFactory,
    LogCapture,
    bearer,
    customer_token,
    remember,
    service_token,
)

SERVICE = bearer(service_token())
SLOTS = "/api/scheduling/slots"
CONTEXT = f"/api/customers/{DEMO}/context"


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(slug), body
    assert body["correlationId"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body


def fields(body: dict[str, Any]) -> list[str]:
    return [item["field"] for item in body.get("errors", [])]


def a_slot(start: datetime, minutes: int = 60) -> dict[str, Any]:
    return {
        "startTime": start.isoformat(),
        "endTime": (start + timedelta(minutes=minutes)).isoformat(),
        "duration": minutes,
        "available": True,
        "appointmentType": "coaching-session",
        "providerRef": "mock-slot:coaching-session",
    }


def next_weekday_at_ten(after: datetime) -> datetime:
    day = (after + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


# Finding 1: datetimes near the end of time, the booking horizon ----------------------------------------


def test_slots_at_the_end_of_time_are_a_422_naming_the_field(client: TestClient) -> None:
    response = client.get(
        SLOTS, params={"start": "9999-12-31T00:00:00Z", "end": "9999-12-31T23:00:00Z"}, headers=SERVICE
    )
    body = problem(response, 422, "invalid-input")
    assert body["detail"].startswith("end_date ")
    assert "9999" not in response.text


@pytest.mark.parametrize(
    ("start_days", "end_days", "detail"),
    [
        (400, 401, "end_date must be at most 365 days from now (BOOKING_HORIZON_DAYS)"),
        (-10, -3, "end_date must be in the future"),  # nothing can be booked there
        (1, 70, "end_date must be at most 62 days after start_date"),
        (3, 2, "end_date must be after start_date"),
    ],
)
def test_slot_searches_are_bounded(client: TestClient, start_days: int, end_days: int, detail: str) -> None:
    now = datetime.now(UTC)
    params = {
        "start": (now + timedelta(days=start_days)).isoformat(),
        "end": (now + timedelta(days=end_days)).isoformat(),
    }
    body = problem(client.get(SLOTS, params=params, headers=SERVICE), 422, "invalid-input")
    assert body["detail"] == detail


def test_slot_search_within_the_horizon_is_served(client: TestClient) -> None:
    now = datetime.now(UTC)
    params = {"start": (now + timedelta(days=300)).isoformat(), "end": (now + timedelta(days=360)).isoformat()}
    response = client.get(SLOTS, params=params, headers=SERVICE)
    assert response.status_code == 200 and response.json()


def test_horizon_follows_the_setting(make_client: AppFactory) -> None:
    client = make_client(BOOKING_HORIZON_DAYS="30")
    now = datetime.now(UTC)
    params = {"start": (now + timedelta(days=20)).isoformat(), "end": (now + timedelta(days=40)).isoformat()}
    body = problem(client.get(SLOTS, params=params, headers=SERVICE), 422, "invalid-input")
    assert body["detail"] == "end_date must be at most 30 days from now (BOOKING_HORIZON_DAYS)"
    far = a_slot(next_weekday_at_ten(now + timedelta(days=35)))
    refused = client.post(f"/api/customers/{DEMO}/appointments", json={"slot": far}, headers=SERVICE)
    detail = problem(refused, 422, "invalid-input")["detail"]
    assert detail == "slot.start_time must be at most 30 days from now (BOOKING_HORIZON_DAYS)"


@pytest.mark.parametrize(
    "start",
    [
        datetime(9999, 12, 31, 10, tzinfo=UTC),
        datetime(9999, 12, 31, 22, 59, tzinfo=UTC),
        datetime(2025, 12, 1, 10, tzinfo=UTC),  # the past
        datetime.now(UTC) + timedelta(days=500),  # beyond the horizon
    ],
)
def test_bookings_only_in_the_future_and_within_the_horizon(client: TestClient, start: datetime) -> None:
    response = client.post(f"/api/customers/{DEMO}/appointments", json={"slot": a_slot(start)}, headers=SERVICE)
    body = problem(response, 422, "invalid-input")
    assert body["detail"].startswith("slot.start_time must be ")
    assert start.isoformat()[:16] not in response.text


def test_a_booking_next_week_still_works(client: TestClient) -> None:
    now = datetime.now(UTC)
    params = {"start": (now + timedelta(days=1)).isoformat(), "end": (now + timedelta(days=8)).isoformat()}
    slot = client.get(SLOTS, params=params, headers=SERVICE).json()[0]
    made = client.post(f"/api/customers/{DEMO}/appointments", json={"slot": slot}, headers=SERVICE)
    assert made.status_code == 201, made.text


def test_library_api_raises_invalid_input(client: TestClient) -> None:
    manager = client.app.state.services.manager  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    now = datetime.now(UTC)
    beyond = DateRange(start_date=now + timedelta(days=400), end_date=now + timedelta(days=401))
    with pytest.raises(InvalidInput, match="end_date.*365 days"):
        portal.call(manager.get_available_slots, beyond)
    past = TimeSlot.model_validate(a_slot(datetime(2025, 12, 1, 10, tzinfo=UTC)))
    with pytest.raises(InvalidInput, match="start_time.*future"):
        portal.call(manager.book_appointment, DEMO, past)
    future = Interaction(type="chat", timestamp=now + timedelta(days=30), summary="from the future")
    with pytest.raises(InvalidInput, match="timestamp"):
        portal.call(manager.log_interaction, DEMO, future)


def test_domain_models_refuse_dates_without_room_for_arithmetic() -> None:
    end_of_time = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="end_date"):
        DateRange(start_date=end_of_time - timedelta(hours=23), end_date=end_of_time)
    with pytest.raises(ValueError, match="duration"):
        TimeSlot.model_validate(a_slot(datetime(2027, 1, 4, 10, tzinfo=UTC), minutes=60 * 24 * 400))


# Finding 2: an unexpected error is correlated ---------------------------------------------------------


@pytest.mark.parametrize("offered", [None, "req-boom-7"])
def test_unexpected_error_is_one_correlated_500(client: TestClient, logs: LogCapture, offered: str | None) -> None:
    async def explode(*_: object, **__: object) -> None:
        raise ZeroDivisionError("division by zero, deep inside")

    client.app.state.services.manager.get_customer_context = explode  # type: ignore[attr-defined]
    headers = {**SERVICE, **({"X-Request-ID": offered} if offered else {})}
    response = client.get(CONTEXT, headers=headers)
    body = problem(response, 500, "internal-error")
    request_id = response.headers["x-request-id"]
    assert offered is None or request_id == offered
    assert "ZeroDivisionError" not in response.text and "deep inside" not in response.text
    records = [json.loads(line) for line in logs.lines if line.startswith("{")]
    errors = [r for r in records if r.get("level") == "error"]
    assert len(errors) == 1, errors
    assert errors[0]["event"] == "unexpected error"
    assert errors[0]["correlation_id"] == body["correlationId"] == request_id
    assert errors[0]["error_type"] == "ZeroDivisionError"
    access = [r for r in records if r.get("event") == "request"]
    assert access and access[-1]["status"] == 500 and access[-1]["correlation_id"] == request_id


def test_an_error_once_the_response_started_is_logged_once_and_not_answered_twice(
    client: TestClient, logs: LogCapture
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("mid-stream")

    async def streaming() -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/plain")

    client.app.add_api_route("/test-only/stream", streaming)  # type: ignore[attr-defined]
    response = client.get("/test-only/stream", headers={"X-Request-ID": "req-stream-1"})
    assert response.status_code == 200 and response.text == "partial"  # no problem body appended
    records = [json.loads(line) for line in logs.lines if line.startswith("{")]
    errors = [r for r in records if r.get("level") == "error"]
    assert [(r["event"], r.get("correlation_id")) for r in errors] == [("unexpected error", "req-stream-1")]


# Finding 3: JWKS keys of the other type, odd headers -------------------------------------------------


@dataclass
class MixedKeys:
    """A JWKS with one RSA and one EC key (and room for junk entries)."""

    rsa_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    ec_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    extra: list[Any] = field(default_factory=list)
    document: Any = None

    def jwks(self) -> Any:
        if self.document is not None:
            return self.document
        rsa_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa_key.public_key(), as_dict=True)
        ec_jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.ec_key.public_key(), as_dict=True)
        return {
            "keys": [
                {**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"},
                {**ec_jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"},
                *self.extra,
            ]
        }

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(lambda request: httpx.Response(200, json=self.jwks()))


def claims() -> dict[str, Any]:
    return {"sub": str(DEMO), "role": "authenticated", "aud": AUDIENCE, "exp": int(time.time()) + 600}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: Any, payload: Any = None, signature: bytes = b"sig") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(payload or claims()).encode()), b64(signature)])


@pytest.fixture
def keys() -> MixedKeys:
    return MixedKeys()


def mismatched_tokens(keys: MixedKeys) -> list[str]:
    c = claims()
    return [
        jwt.encode(c, keys.ec_key, algorithm="ES256", headers={"kid": "rsa-1"}),  # EC alg, RSA kid
        jwt.encode(c, keys.rsa_key, algorithm="RS256", headers={"kid": "ec-1"}),  # RSA alg, EC kid
        jwt.encode(c, keys.rsa_key, algorithm="PS256", headers={"kid": "ec-1"}),  # PSS alg, EC kid
        raw_token({"alg": "ES384", "kid": "ec-1"}, signature=b"\x01" * 96),  # P-256 key, P-384 algorithm
        raw_token({"alg": "EdDSA", "kid": "rsa-1"}, signature=b"\x01" * 64),
        raw_token({"alg": "PS256", "kid": "rsa-1"}, signature=b"\x01" * 7),  # published for RS256 only
        jwt.encode(c, "not-the-secret-but-long-enough-for-hs256!!", algorithm="HS256", headers={"kid": "rsa-1"}),
        raw_token({"alg": "none", "kid": "rsa-1"}, signature=b""),
        raw_token({"alg": "RS256", "kid": 7}),
        raw_token({"alg": ["RS256"], "kid": "rsa-1"}),
        raw_token({"alg": "RS256", "kid": {"$ne": 1}}),
        raw_token(["RS256"]),
        raw_token("RS256"),
        raw_token({"alg": "ES256", "kid": "rsa-1"}, signature=b"\x00" * 64),
        raw_token({"alg": "RS256", "kid": "rsa-1"}, payload={"exp": 1e400}),
        "!!!." + b64(b"{}") + ".sig",
        b64(b"\xff\xfe\xfd") + "." + b64(b"{}") + ".sig",
        "a.b",
        "a.b.c.d",
    ]


def test_mismatched_algorithms_and_odd_headers_are_401s(make_client: AppFactory, keys: MixedKeys) -> None:
    client = _with_jwks(make_client, keys, AUTH_MAX_FAILURES="1000")
    ok_rsa = jwt.encode(claims(), keys.rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    ok_ec = jwt.encode(claims(), keys.ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert client.get(CONTEXT, headers=bearer(remember(ok_rsa))).status_code == 200
    assert client.get(CONTEXT, headers=bearer(remember(ok_ec))).status_code == 200
    for token in mismatched_tokens(keys):
        response = client.get(CONTEXT, headers=bearer(remember(token)))
        problem(response, 401, "authentication-failed")


def test_mismatched_tokens_are_counted_like_any_bad_token(make_client: AppFactory, keys: MixedKeys) -> None:
    client = _with_jwks(make_client, keys, AUTH_MAX_FAILURES="3", AUTH_BLOCK_SECONDS="60")
    tokens = [remember(t) for t in mismatched_tokens(keys)]
    for token in tokens[:3]:
        problem(client.get(CONTEXT, headers=bearer(token)), 401, "authentication-failed")
    problem(client.get(CONTEXT, headers=bearer(tokens[3])), 429, "too-many-failed-attempts")
    metrics = client.get("/metrics").text
    assert 'fearvana_auth_failures_total{status="401"} 3.0' in metrics


@pytest.mark.parametrize(
    "document",
    [
        [1, 2, 3],
        "keys",
        {"keys": "nope"},
        {"keys": [{"kid": "rsa-1", "kty": "RSA", "n": "!!", "e": "AQAB"}, {"kid": "x", "kty": "oct", "k": 5}]},
    ],
)
def test_a_broken_jwks_document_is_a_401_not_a_500(make_client: AppFactory, keys: MixedKeys, document: Any) -> None:
    keys.document = document
    client = _with_jwks(make_client, keys)
    token = jwt.encode(claims(), keys.rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    problem(client.get(CONTEXT, headers=bearer(remember(token))), 401, "authentication-failed")


def test_one_bad_jwks_entry_does_not_hide_the_good_ones(make_client: AppFactory, keys: MixedKeys) -> None:
    keys.extra = [{"kid": "junk", "kty": "RSA", "n": "!!", "e": "AQAB"}, "not-a-key", {"kid": "oct", "kty": "oct"}]
    client = _with_jwks(make_client, keys)
    token = jwt.encode(claims(), keys.ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert client.get(CONTEXT, headers=bearer(remember(token))).status_code == 200


def _with_jwks(make_client: AppFactory, keys: MixedKeys, **env: str) -> TestClient:
    """A started service whose JWKS issuer serves ``keys`` (the factory only needs ``transport()``)."""
    return make_client(keys, **env)


# Finding 4: 404s do not echo ---------------------------------------------------------------------------


def test_not_found_details_do_not_echo_the_submitted_id(client: TestClient) -> None:
    marker = "zq-" + "x" * 150
    gone = client.delete(f"/api/customers/{DEMO}/appointments/{marker}", headers=SERVICE)
    body = problem(gone, 404, "appointment-not-found")
    assert marker not in gone.text and "zq-" not in body["detail"]
    stranger = uuid4()
    missing = client.get(f"/api/customers/{stranger}/context", headers=SERVICE)
    problem(missing, 404, "customer-not-found")
    assert str(stranger) not in missing.text


# Finding 5: summaries of NULs and control characters ---------------------------------------------------


@pytest.mark.parametrize(
    "summary", ["\x00", "\x00\x00\x00", " \x00 ", "\x01\x02", "\t\n \r", "\u200b", "before\x00after"]
)
def test_summaries_without_visible_text_or_with_nul_are_refused(client: TestClient, summary: str) -> None:
    body = {"type": "chat", "timestamp": "2026-11-25T10:00:00Z", "summary": summary}
    response = client.post(f"/api/customers/{DEMO}/interactions", json=body, headers=SERVICE)
    assert fields(problem(response, 422, "validation-error")) == ["summary"]


def test_nul_in_metadata_is_refused_and_ordinary_text_is_kept(client: TestClient) -> None:
    url = f"/api/customers/{DEMO}/interactions"
    base = {"type": "chat", "timestamp": "2026-11-25T10:00:00Z", "summary": "Talked about\tsleep\nand food"}
    for metadata in ({"note": "a\x00b"}, {"a\x00": 1}, {"deep": [{"x": ["\x00"]}]}):
        response = client.post(url, json={**base, "metadata": metadata}, headers=SERVICE)
        assert fields(problem(response, 422, "validation-error")) == ["metadata"], metadata
    ok = client.post(url, json={**base, "metadata": {"channel": "web", "n": [1, 2.5, None, True]}}, headers=SERVICE)
    assert ok.status_code == 201, ok.text


# Finding 6: authorization before body validation -------------------------------------------------------


def test_another_customers_id_is_403_whatever_the_body(client: TestClient) -> None:
    own = bearer(remember(customer_token(DEMO)))
    json_body = {"headers": {**own, "content-type": "application/json"}}
    for content in (b'{"slot": 5}', b"{not json", b"", b"\xff\xfe", b"[]"):
        booked = client.post(f"/api/customers/{HEAVY}/appointments", content=content, **json_body)  # type: ignore[arg-type]
        problem(booked, 403, "forbidden")
        logged = client.post(f"/api/customers/{DEMO}/interactions", content=content, **json_body)  # type: ignore[arg-type]
        problem(logged, 403, "forbidden")  # service role only
    problem(client.get(f"/api/customers/{HEAVY}/context", params={"max_tokens": 1}, headers=own), 403, "forbidden")
    long_id = "y" * 500
    problem(client.delete(f"/api/customers/{HEAVY}/appointments/{long_id}", headers=own), 403, "forbidden")


def test_no_token_is_401_whatever_the_body(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    problem(
        client.post(f"/api/customers/{DEMO}/appointments", content=b"{not json", headers=headers),
        401,
        "authentication-failed",
    )


def test_service_role_may_act_for_anyone_and_gets_the_422(client: TestClient) -> None:
    headers = {**SERVICE, "content-type": "application/json"}
    bad = client.post(f"/api/customers/{HEAVY}/appointments", content=b'{"slot": 5}', headers=headers)
    assert fields(problem(bad, 422, "validation-error")) == ["slot"]
    broken = client.post(f"/api/customers/{HEAVY}/appointments", content=b"{not json", headers=headers)
    assert fields(problem(broken, 422, "validation-error")) == ["body"]
    not_json = client.post(
        f"/api/customers/{HEAVY}/interactions", content=b"hello", headers={**SERVICE, "content-type": "text/plain"}
    )
    problem(not_json, 422, "validation-error")
    own = bearer(remember(customer_token(HEAVY)))
    mine = client.post(f"/api/customers/{HEAVY}/appointments", json={"slot": 5}, headers=own)
    assert fields(problem(mine, 422, "validation-error")) == ["slot"]


def test_openapi_still_documents_the_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    booking = spec["paths"]["/api/customers/{customer_id}/appointments"]["post"]
    interaction = spec["paths"]["/api/customers/{customer_id}/interactions"]["post"]
    assert booking["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/BookingRequest")
    assert interaction["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/Interaction")
    assert "slot" in spec["components"]["schemas"]["BookingRequest"]["properties"]
    assert booking["requestBody"]["required"] is True


# Finding 8: a fuzz of every route with extreme values -------------------------------------------------

TIMES = [
    "9999-12-31T00:00:00Z",
    "9999-12-31T23:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2026-13-40T25:61:61Z",
    "2027-01-04T10:00:00",
    (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0).isoformat(),
    (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    "",
    "\x00",
]
NUMBERS = [0, -1, 1, 60, 1440, 2**31, 2**63, -(2**63), 10**4200, 1e308, -1e308, 0.5]
TEXT = st.text(max_size=30) | st.sampled_from(["\x00", " \x00", "\u200b", "x" * 6000, "%00", "../.."])
SCALAR = st.sampled_from(TIMES) | st.sampled_from(NUMBERS) | TEXT | st.booleans() | st.none()
JSON = st.recursive(
    SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12
)


@st.composite
def slot_bodies(draw: st.DrawFn) -> Any:
    """A slot whose fields agree (so the request gets past the model) or not, with extreme dates."""
    start = draw(st.sampled_from(TIMES))
    duration = draw(st.sampled_from(NUMBERS))
    end: Any = draw(st.sampled_from(TIMES))
    try:
        if draw(st.booleans()):
            end = (datetime.fromisoformat(start) + timedelta(minutes=duration)).isoformat()
    except (ValueError, OverflowError, TypeError):
        pass
    slot = {"startTime": start, "endTime": end, "duration": duration, "providerRef": draw(TEXT)}
    slot["appointmentType"] = draw(st.sampled_from(["coaching-session", "workshop", "x"]))
    return draw(st.just({"slot": slot, "type": draw(st.sampled_from(["check-in", "x"]))}) | JSON)


INTERACTIONS = st.fixed_dictionaries(
    {"type": st.sampled_from(["chat", "call"]), "timestamp": st.sampled_from(TIMES), "summary": TEXT},
    optional={"metadata": JSON, "id": TEXT, "sentiment": JSON},
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], Any]:
    """(method, path, query, JSON body) for one of the routes that take input."""
    route = draw(st.sampled_from(["slots", "context", "interactions", "book", "cancel", "bad-customer"]))
    if route == "slots":
        start = draw(st.sampled_from(TIMES))
        end = draw(st.sampled_from(TIMES) | st.sampled_from([1, 23, 24 * 30, 24 * 70, -1]).map(str))
        with contextlib.suppress(ValueError, OverflowError):  # a number: that many hours after start
            end = (datetime.fromisoformat(start) + timedelta(hours=int(end))).isoformat()
        query = {"start": start, "end": end}
        return "GET", SLOTS, {**query, "type": draw(st.sampled_from(["check-in", "workshop", "x"]))}, None
    if route == "context":
        query = {"max_tokens": str(draw(st.sampled_from(NUMBERS))), "format": draw(st.sampled_from(["json", "x"]))}
        return "GET", CONTEXT, query, None
    if route == "interactions":
        return "POST", f"/api/customers/{DEMO}/interactions", {}, draw(INTERACTIONS | JSON)
    if route == "book":
        return "POST", f"/api/customers/{DEMO}/appointments", {}, draw(slot_bodies())
    if route == "cancel":
        encoded = st.sampled_from(["%00", "%F0%9F%92%A9" * 60, "a" * 201, "x%20y", "%2e%2e"])
        appointment = draw(encoded | TEXT.filter(bool).map(lambda text: quote(text, safe="")))
        return "DELETE", f"/api/customers/{DEMO}/appointments/{appointment}", {}, None
    return "GET", f"/api/customers/{draw(st.sampled_from(['%00', 'x' * 300, '0' * 32]))}/context", {}, None


@given(request=requests())
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_input_gives_a_5xx(client: TestClient, request: tuple[str, str, dict[str, str], Any]) -> None:
    method, path, query, body = request
    content = None if body is None else json.dumps(body, allow_nan=True).encode()
    headers = {**SERVICE, "content-type": "application/json"}
    response = client.request(method, path, params=query, content=content, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        problem(response, response.status_code, "")
