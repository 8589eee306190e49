"""The auth matrix of SPEC §8, JWKS rotation, and failed-auth blocking."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from fearvana_integration.service.throttle import client_address, parse_proxies
from tests.service.conftest import (
    AUDIENCE,
    DEMO,
    HEAVY,
    AppFactory,
    Keys,
    LogCapture,
    bearer,
    customer_token,
    remember,
    service_token,
)

CONTEXT = f"/api/customers/{DEMO}/context"


def problem(response: object, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["type"].endswith(slug)
    assert body["correlationId"] == response.headers["x-request-id"]  # type: ignore[attr-defined]
    assert "Traceback" not in response.text  # type: ignore[attr-defined]
    return body


@pytest.mark.parametrize(
    ("headers", "status", "slug"),
    [
        ({}, 401, "authentication-failed"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, 401, "authentication-failed"),
        (bearer("not-a-jwt"), 401, "authentication-failed"),
        (bearer(customer_token(DEMO)[:-4] + "AAAA"), 401, "authentication-failed"),  # bad signature
        (bearer(customer_token(DEMO, exp=int(time.time()) - 60)), 401, "authentication-failed"),  # expired
        (bearer(customer_token(DEMO, aud="someone-else")), 401, "authentication-failed"),
        (bearer(customer_token(DEMO, aud=None)), 401, "authentication-failed"),
        (bearer(customer_token(DEMO, role="anon")), 403, "forbidden"),
        (bearer(customer_token(HEAVY)), 403, "forbidden"),  # another customer's token
    ],
)
def test_refused(client: TestClient, headers: dict[str, str], status: int, slug: str) -> None:
    response = client.get(CONTEXT, headers=headers)
    body = problem(response, status, slug)
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert "demo@fearvana.local" not in str(body)


def test_every_secured_operation_refuses_missing_and_forged_tokens(make_client: AppFactory) -> None:
    """Walks the app's own OpenAPI, so a route added later without auth fails here."""
    client = make_client(AUTH_MAX_FAILURES="1000")
    forged = bearer(service_token()[:-4] + "AAAA")
    secured = []
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method, operation in operations.items():
            if not operation.get("security"):
                continue
            url = path.replace("{customer_id}", str(DEMO)).replace("{appointment_id}", "appt-1")
            secured.append(f"{method.upper()} {path}")
            for headers in ({}, forged):
                response = client.request(method.upper(), url, headers=headers, json={})
                problem(response, 401, "authentication-failed")
    assert len(secured) == 5, secured  # every route but the public health, liveness and metrics ones


def test_own_token_reads_own_context_without_crm_internal_labels(client: TestClient) -> None:
    response = client.get(CONTEXT, headers=bearer(remember(customer_token(DEMO))))
    assert response.status_code == 200
    crm = response.json()["crmContext"]
    assert crm["internalLabelsHidden"] is True
    assert crm["lifecycleStage"] is None and crm["sentiment"] is None and crm["tags"] == []
    prompt = client.get(CONTEXT, params={"format": "prompt"}, headers=bearer(customer_token(DEMO))).text
    assert "- Stage " not in prompt and "sentiment positive" not in prompt and "sentiment neutral" not in prompt
    assert "internal labels, not shown in the customer's own view" in prompt  # hidden, and it says so


def test_service_role_reads_anyone_with_everything(client: TestClient) -> None:
    token = remember(service_token())
    for customer in (DEMO, HEAVY):
        response = client.get(f"/api/customers/{customer}/context", headers=bearer(token))
        assert response.status_code == 200
        assert response.json()["crmContext"]["lifecycleStage"] in ("active", "vip")


def test_customer_token_on_a_service_only_route_is_forbidden(client: TestClient) -> None:
    body = {"type": "chat", "timestamp": "2026-11-25T10:00:00Z", "summary": "hello"}
    response = client.post(f"/api/customers/{DEMO}/interactions", json=body, headers=bearer(customer_token(DEMO)))
    problem(response, 403, "forbidden")
    ok = client.post(f"/api/customers/{DEMO}/interactions", json=body, headers=bearer(service_token()))
    assert ok.status_code == 201
    assert ok.json()["crmId"].startswith("mock-note-")


def test_jwks_tokens_and_key_rotation(make_client: AppFactory) -> None:
    keys = Keys()
    keys.add("key-1")
    client = make_client(keys)
    claims = {"sub": str(DEMO), "role": "authenticated", "aud": AUDIENCE, "exp": int(time.time()) + 600}
    assert client.get(CONTEXT, headers=bearer(keys.sign("key-1", claims))).status_code == 200
    assert keys.fetches == 1
    assert client.get(CONTEXT, headers=bearer(keys.sign("key-1", claims))).status_code == 200
    assert keys.fetches == 1  # cached
    keys.rotate_to("key-2")
    time.sleep(5.1)  # unknown kids refresh the JWKS at most every 5 s (a flood of forged kids cannot hammer it)
    assert client.get(CONTEXT, headers=bearer(keys.sign("key-2", claims))).status_code == 200
    assert keys.fetches == 2
    stale = client.get(CONTEXT, headers=bearer(keys.sign("key-1", claims)))
    problem(stale, 401, "authentication-failed")  # key-1 is no longer published
    forged = client.get(CONTEXT, headers=bearer(keys.sign("key-1", {**claims, "aud": "x"})))
    assert forged.status_code == 401


def test_hs256_is_refused_without_a_secret(make_client: AppFactory) -> None:
    keys = Keys()
    keys.add("k")
    client = make_client(keys, SUPABASE_JWT_SECRET="")
    problem(client.get(CONTEXT, headers=bearer(customer_token(DEMO))), 401, "authentication-failed")


def test_repeated_failures_block_the_client(make_client: AppFactory, logs: LogCapture) -> None:
    client = make_client(AUTH_MAX_FAILURES="3", AUTH_BLOCK_SECONDS="120")
    for _ in range(3):  # at most 3 401s ...
        problem(client.get(CONTEXT, headers=bearer("garbage")), 401, "authentication-failed")
    blocked = client.get(CONTEXT, headers=bearer("garbage"))  # ... the 4th failure is the first 429
    problem(blocked, 429, "too-many-failed-attempts")
    assert 100 < int(blocked.headers["retry-after"]) <= 120
    problem(client.get(CONTEXT), 429, "too-many-failed-attempts")  # a missing token as well
    assert client.get(CONTEXT, headers=bearer(remember(customer_token(DEMO)))).status_code == 200  # valid: served
    assert client.get("/healthz").status_code == 200  # liveness always answers
    assert any('"alert": true' in line and "client blocked" in line for line in logs.lines)


def test_only_401s_count(make_client: AppFactory) -> None:
    client = make_client(AUTH_MAX_FAILURES="2")
    for _ in range(5):
        assert client.get(f"/api/customers/{HEAVY}/context", headers=bearer(customer_token(DEMO))).status_code == 403
    assert client.get(CONTEXT, headers=bearer(customer_token(DEMO))).status_code == 200


def test_forwarded_for_is_only_believed_from_trusted_proxies(make_client: AppFactory) -> None:
    client = make_client(AUTH_MAX_FAILURES="1", TRUSTED_PROXIES="10.0.0.1")
    first = client.get(CONTEXT, headers={**bearer("garbage"), "X-Forwarded-For": "203.0.113.9"})
    problem(first, 401, "authentication-failed")
    # the peer is not in TRUSTED_PROXIES: the header is ignored, a new value is no new client
    second = client.get(CONTEXT, headers={**bearer("garbage"), "X-Forwarded-For": "198.51.100.7"})
    problem(second, 429, "too-many-failed-attempts")


def test_client_address_walks_trusted_hops_only() -> None:
    trusted = parse_proxies("10.0.0.0/8, 192.168.1.1")
    assert client_address("10.1.2.3", "203.0.113.9, 192.168.1.1", trusted) == "203.0.113.9"
    assert client_address("10.1.2.3", "198.51.100.1, 203.0.113.9", trusted) == "203.0.113.9"
    assert client_address("203.0.113.50", "198.51.100.1", trusted) == "203.0.113.50"  # untrusted peer
    assert client_address("10.1.2.3", None, trusted) == "10.1.2.3"
