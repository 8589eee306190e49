"""The routes of SPEC §10: shapes, errors as problems, correlation ids, metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from fearvana_integration.context.tokens import get_tokenizer
from tests.service.conftest import DEMO, HEAVY, LogCapture, bearer, customer_token, remember, service_token

SERVICE = bearer(service_token())


def test_context_json_and_prompt(client: TestClient) -> None:
    data = client.get(f"/api/customers/{DEMO}/context", params={"max_tokens": 2000}, headers=SERVICE).json()
    assert data["customerId"] == str(DEMO)
    assert data["tokenCount"] <= 2000 and data["maxTokens"] == 2000
    prompt = client.get(
        f"/api/customers/{DEMO}/context", params={"format": "prompt", "max_tokens": 2000}, headers=SERVICE
    )
    assert prompt.headers["content-type"].startswith("text/plain")
    assert get_tokenizer().count(prompt.text) <= 2000


def test_errors_are_problems(client: TestClient) -> None:
    missing = client.get("/api/customers/00000000-0000-4000-8000-000000000000/context", headers=SERVICE)
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("customer-not-found")
    budget = client.get(f"/api/customers/{DEMO}/context", params={"max_tokens": 10}, headers=SERVICE)
    assert budget.status_code == 422
    assert budget.json()["detail"] == "query.max_tokens: Input should be greater than or equal to 50"
    bad_id = client.get("/api/customers/not-a-uuid/context", headers=SERVICE)
    assert bad_id.status_code == 422
    assert bad_id.json()["errors"][0]["field"] == "path.customer_id"
    bad_format = client.get(f"/api/customers/{DEMO}/context", params={"format": "xml"}, headers=SERVICE)
    assert bad_format.status_code == 422 and "format" in bad_format.json()["detail"]


def test_bodies_are_validated_and_size_limited(client: TestClient) -> None:
    url = f"/api/customers/{DEMO}/interactions"
    naive = client.post(url, json={"type": "chat", "timestamp": "2026-11-25T10:00:00", "summary": "x"}, headers=SERVICE)
    assert naive.status_code == 422 and "timezone-aware" in naive.json()["detail"]
    unknown = client.post(
        url, json={"type": "fax", "timestamp": "2026-11-25T10:00:00Z", "summary": "x"}, headers=SERVICE
    )
    assert unknown.status_code == 422 and "type" in unknown.json()["detail"]
    too_long = client.post(
        url, json={"type": "chat", "timestamp": "2026-11-25T10:00:00Z", "summary": "x" * 5001}, headers=SERVICE
    )
    assert too_long.status_code == 422
    huge = client.post(
        url, content=b"{" + b" " * (70 * 1024) + b"}", headers={**SERVICE, "content-type": "application/json"}
    )
    assert huge.status_code == 413 and huge.json()["type"].endswith("body-too-large")
    broken = client.post(url, content=b"{not json", headers={**SERVICE, "content-type": "application/json"})
    assert broken.status_code == 422


def test_slots_booking_conflict_and_cancel(client: TestClient) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    params = {"start": start.isoformat(), "end": (start + timedelta(days=7)).isoformat(), "type": "check-in"}
    own = bearer(remember(customer_token(DEMO)))
    slots = client.get("/api/scheduling/slots", params=params, headers=own).json()
    assert slots and all(s["appointmentType"] == "check-in" for s in slots)
    booking = {"slot": slots[0], "type": "check-in"}
    made = client.post(f"/api/customers/{DEMO}/appointments", json=booking, headers=own)
    assert made.status_code == 201
    taken = client.post(f"/api/customers/{HEAVY}/appointments", json=booking, headers=SERVICE)
    assert taken.status_code == 409
    assert taken.json()["alternatives"], "a taken slot comes with alternatives"
    appointment_id = made.json()["id"]
    other = client.delete(f"/api/customers/{HEAVY}/appointments/{appointment_id}", headers=SERVICE)
    assert other.status_code == 404
    cancelled = client.delete(f"/api/customers/{DEMO}/appointments/{appointment_id}", headers=own)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    naive = client.get("/api/scheduling/slots", params={**params, "start": "2026-11-26T09:00:00"}, headers=own)
    assert naive.status_code == 422
    backwards = client.get("/api/scheduling/slots", params={**params, "end": params["start"]}, headers=own)
    assert backwards.status_code == 422 and "end_date must be after start_date" in backwards.json()["detail"]


def test_a_booking_id_makes_a_retried_booking_return_the_first(client: TestClient) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    params = {"start": start.isoformat(), "end": (start + timedelta(days=7)).isoformat(), "type": "follow-up"}
    own = bearer(remember(customer_token(DEMO)))
    slot = client.get("/api/scheduling/slots", params=params, headers=own).json()[0]
    booking = {"slot": slot, "type": "follow-up", "bookingId": "http-retry-0001"}
    first = client.post(f"/api/customers/{DEMO}/appointments", json=booking, headers=own)
    again = client.post(f"/api/customers/{DEMO}/appointments", json=booking, headers=own)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    bad = client.post(f"/api/customers/{DEMO}/appointments", json={**booking, "bookingId": "no spaces"}, headers=own)
    assert bad.status_code == 422
    client.delete(f"/api/customers/{DEMO}/appointments/{first.json()['id']}", headers=own)


def test_correlation_id_end_to_end(client: TestClient, logs: LogCapture) -> None:
    response = client.get(f"/api/customers/{DEMO}/context", headers={**SERVICE, "X-Request-ID": "req-e2e-42"})
    assert response.headers["x-request-id"] == "req-e2e-42"
    access = [json.loads(line) for line in logs.lines if '"request"' in line and "req-e2e-42" in line]
    assert access and access[0]["route"] == "/api/customers/{customer_id}/context" and access[0]["status"] == 200
    assert "duration_ms" in access[0]
    manager = client.app.state.services.manager  # type: ignore[attr-defined]
    rows = client.portal.call(manager.runtime.audit.show, DEMO, 20)  # type: ignore[union-attr]
    assert any(
        r["correlation_id"] == "req-e2e-42" and r["action"] == "context.read" and r["actor"] == "service" for r in rows
    )
    generated = client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert unsafe.headers["x-request-id"] != "bad id\nwith newline"


def test_context_bodies_are_never_logged(client: TestClient, logs: LogCapture) -> None:
    client.get(f"/api/customers/{HEAVY}/context", headers=SERVICE)
    assert not any("Ignore previous instructions" in line or "Harper Heavy" in line for line in logs.lines)


def test_health_and_metrics(client: TestClient) -> None:
    health = client.get("/api/health/integrations")
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    assert "circuitBreakers" in health.json() and "cache" in health.json()
    client.get(f"/api/customers/{DEMO}/context", headers=SERVICE)
    metrics = client.get("/metrics").text
    assert (
        'fearvana_http_request_duration_seconds_count{method="GET",route="/api/customers/{customer_id}/context",status="200"}'
        in metrics
    )
    assert 'fearvana_circuit_breaker_state{source="crm"} 0.0' in metrics
    assert "fearvana_cache_misses_total" in metrics or "fearvana_cache_misses" in metrics
    assert "fearvana_source_call_duration_seconds" in metrics
    assert client.get("/healthz").json()["status"] == "ok"


def test_logged_interaction_with_a_phone_number_keeps_it_out_of_the_logs(client: TestClient) -> None:
    body = {
        "type": "call",
        "timestamp": "2026-11-25T10:00:00Z",
        "summary": "Call me at +1 415 555 0134",
        "sentiment": "positive",
    }
    assert client.post(f"/api/customers/{DEMO}/interactions", json=body, headers=SERVICE).status_code == 201
