"""Tracing through the HTTP service: an incoming traceparent reaches the vendor and the access log; with
OpenTelemetry on, the span tree request → assemble → source calls → store statements, without customer
data; with it off, nothing of OpenTelemetry is imported by this project."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fearvana_integration.observability import tracing
from fearvana_integration.store.demo import demo_specs
from tests.conformance.harness_hubspot import TOKEN as HUBSPOT_TOKEN
from tests.conformance.harness_hubspot import install_world
from tests.conftest import REPO, require_services
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.server import serve
from tests.service.conftest import DEMO, SECRET, AppFactory, LogCapture, bearer, service_token

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
OUTGOING = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$")


@pytest.fixture(autouse=True)
def _tracing_decided_here(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No OTEL_* variable from outside; each test decides afresh, and leaves no decision behind."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    tracing.reset()
    yield
    tracing.reset()


@pytest.fixture
def hubspot() -> Iterator[tuple[FakeHubSpot, str]]:
    """The HubSpot fake on a loopback port, knowing the demo customer."""
    fake = FakeHubSpot(token=HUBSPOT_TOKEN)
    install_world(fake)
    fake.add_contact("demo@fearvana.local", {"firstname": "Dana", "lastname": "Demo", "lifecyclestage": "customer"})
    with serve(fake.app) as base_url:
        yield fake, base_url


def _vendor_env(base_url: str) -> dict[str, str]:
    return {"CRM_PROVIDER": "hubspot", "CRM_API_KEY": HUBSPOT_TOKEN, "CRM_ENDPOINT": base_url}


def _access_lines(logs: LogCapture) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in logs.lines if line.startswith("{")]
    return [record for record in records if record.get("logger") == "fearvana_integration.access"]


def test_an_incoming_trace_reaches_the_vendor_and_the_access_log(
    make_client: AppFactory, hubspot: tuple[FakeHubSpot, str], logs: LogCapture
) -> None:
    fake, base_url = hubspot
    client = make_client(**_vendor_env(base_url))
    response = client.get(
        f"/api/customers/{DEMO}/context",
        headers={
            **bearer(service_token()),
            "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
            "tracestate": "rojo=00f067aa0ba902b7",
            "X-Request-ID": "trace-test-1",
        },
    )
    assert response.status_code == 200
    assert response.json()["crmContext"] is not None
    assert "traceparent" not in response.headers  # not a response header: only requests carry it
    assert fake.requests, "the CRM was not called"
    parents = set()
    for request in fake.requests:
        match = OUTGOING.match(request.headers.get("traceparent", ""))
        assert match, f"{request.method} {request.path} without a valid traceparent"
        assert match.group(1) == TRACE_ID
        assert match.group(3) == "01"
        assert request.headers.get("tracestate") == "rojo=00f067aa0ba902b7"
        parents.add(match.group(2))
    assert PARENT_ID not in parents
    assert len(parents) == len(fake.requests), "each vendor request has a parent id of its own"
    (access,) = [line for line in _access_lines(logs) if line["route"] == "/api/customers/{customer_id}/context"]
    assert access["trace_id"] == TRACE_ID
    assert access["correlation_id"] == "trace-test-1"


@pytest.mark.parametrize(
    "traceparent",
    [None, f"00-{TRACE_ID.upper()}-{PARENT_ID}-01", f"00-{'0' * 32}-{PARENT_ID}-01", f"01-{TRACE_ID}-{PARENT_ID}-0"],
    ids=["none", "uppercase", "zero-trace-id", "malformed"],
)
def test_without_a_valid_traceparent_the_request_starts_a_trace(
    make_client: AppFactory, hubspot: tuple[FakeHubSpot, str], logs: LogCapture, traceparent: str | None
) -> None:
    fake, base_url = hubspot
    client = make_client(**_vendor_env(base_url))
    headers = bearer(service_token())
    if traceparent is not None:
        headers["traceparent"] = traceparent
        headers["tracestate"] = "rojo=1"
    assert client.get(f"/api/customers/{DEMO}/context", headers=headers).status_code == 200
    (access,) = [line for line in _access_lines(logs) if line["route"] == "/api/customers/{customer_id}/context"]
    trace_id = access["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id) and trace_id not in (TRACE_ID, "0" * 32)
    assert fake.requests
    for request in fake.requests:
        match = OUTGOING.match(request.headers["traceparent"])
        assert match and match.group(1) == trace_id and match.group(3) == "00"
        assert "tracestate" not in request.headers


def test_every_log_line_of_a_request_has_its_trace_id(make_client: AppFactory, logs: LogCapture) -> None:
    client = make_client()
    client.get("/api/customers/not-a-uuid/context", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    lines = [json.loads(line) for line in logs.lines if line.startswith("{") and "correlation_id" in line]
    assert lines
    assert all(line["trace_id"] == TRACE_ID for line in lines)
    client.get("/healthz")
    assert _access_lines(logs)[-1]["trace_id"] != TRACE_ID


# OpenTelemetry on -----------------------------------------------------------------------------------


def _sdk() -> Any:
    try:
        from opentelemetry.sdk import trace as sdk_trace
    except ImportError:
        message = "OpenTelemetry SDK not installed: pip install -e '.[otel]' (the dev extra includes it)"
        if require_services():
            pytest.fail(message)
        pytest.skip(message)
    return sdk_trace


@pytest.fixture
def spans() -> Iterator[Any]:
    """Spans of the service's tracing, collected in memory (the SDK's InMemorySpanExporter)."""
    sdk_trace = _sdk()
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer_provider(provider)
    yield exporter
    provider.shutdown()


def _hex(number: int, width: int) -> str:
    return f"{number:0{width}x}"


def _request_spans(spans: Any) -> list[Any]:
    """The request's spans: the audit drainer writes in the background, in traces of its own."""
    return [
        span
        for span in spans.get_finished_spans()
        if "audit_log" not in str((span.attributes or {}).get("db.query.text", ""))
    ]


def test_the_span_tree_of_a_context_request(
    make_client: AppFactory, hubspot: tuple[FakeHubSpot, str], spans: Any
) -> None:
    fake, base_url = hubspot
    client = make_client(**_vendor_env(base_url))
    response = client.get(
        f"/api/customers/{DEMO}/context",
        headers={**bearer(service_token()), "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "X-Request-ID": "otel-1"},
    )
    assert response.status_code == 200
    finished = _request_spans(spans)
    by_id = {span.context.span_id: span for span in finished}
    assert {_hex(span.context.trace_id, 32) for span in finished} == {TRACE_ID}

    (server,) = [span for span in finished if span.kind.name == "SERVER"]
    assert server.name == "GET /api/customers/{customer_id}/context"
    assert server.parent is not None and _hex(server.parent.span_id, 16) == PARENT_ID and server.parent.is_remote
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["fearvana.correlation_id"] == "otel-1"

    (assemble,) = [span for span in finished if span.name == "assemble"]
    assert assemble.parent is not None and assemble.parent.span_id == server.context.span_id
    assert assemble.attributes["fearvana.view"] == "full"

    sources = [span for span in finished if "fearvana.source" in (span.attributes or {})]
    assert {span.attributes["fearvana.source"] for span in sources} >= {"supabase", "crm", "scheduling"}
    for source in sources:
        assert source.parent is not None and source.parent.span_id == assemble.context.span_id, source.name
        assert source.attributes["fearvana.outcome"] == "ok", source.name

    statements = [span for span in finished if "db.query.text" in (span.attributes or {})]
    assert statements, "no store statement was traced"
    callers = set()
    for statement in statements:
        assert statement.kind.name == "CLIENT"
        assert statement.attributes["db.system.name"] == "sqlite"
        parent = by_id[statement.parent.span_id] if statement.parent else None
        assert parent is not None and "fearvana.source" in parent.attributes, "a statement outside a source call"
        callers.add(parent.attributes["fearvana.source"])
    assert "supabase" in callers

    crm_spans = {span.context.span_id for span in sources if span.attributes["fearvana.source"] == "crm"}
    assert fake.requests
    for request in fake.requests:
        match = OUTGOING.match(request.headers["traceparent"])
        assert match and match.group(1) == TRACE_ID and match.group(3) == "01"
        assert int(match.group(2), 16) in crm_spans, "the vendor's parent is the CRM call's span"

    _assert_no_customer_data(finished)


def test_an_unsampled_caller_is_not_recorded_but_its_trace_goes_on(
    make_client: AppFactory, hubspot: tuple[FakeHubSpot, str], spans: Any, logs: LogCapture
) -> None:
    fake, base_url = hubspot
    client = make_client(**_vendor_env(base_url))
    headers = {**bearer(service_token()), "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"}
    assert client.get(f"/api/customers/{DEMO}/context", headers=headers).status_code == 200
    assert _request_spans(spans) == []  # the SDK's default sampler follows the caller's decision
    for request in fake.requests:
        match = OUTGOING.match(request.headers["traceparent"])
        assert match and match.group(1) == TRACE_ID and match.group(3) == "00"
    (access,) = [line for line in _access_lines(logs) if line["route"] == "/api/customers/{customer_id}/context"]
    assert access["trace_id"] == TRACE_ID


def test_a_failing_request_is_an_error_span_without_the_url(make_client: AppFactory, spans: Any) -> None:
    client = make_client()
    assert client.get(f"/api/customers/{DEMO}/context").status_code == 401
    (server,) = _request_spans(spans)
    assert server.name == "GET /api/customers/{customer_id}/context"
    assert server.attributes["http.response.status_code"] == 401
    assert server.status.status_code.name == "UNSET"  # a 4xx is the client's error, not the server's
    _assert_no_customer_data([server])


def _assert_no_customer_data(finished: Any) -> None:
    forbidden = [str(DEMO), "fearvana.local", "@", "Dana", "Demo"]
    forbidden += [part for spec in demo_specs(12) for part in (spec.email, *spec.display_name.split())]
    for span in finished:
        texts = [span.name, *(str(value) for value in (span.attributes or {}).values())]
        texts += [str(value) for event in span.events for value in (event.attributes or {}).values()]
        for text in texts:
            for secret in forbidden:
                assert secret not in text, f"{secret!r} in span {span.name!r}: {text[:120]}"


# OpenTelemetry off: zero cost -----------------------------------------------------------------------

_OFF_SCRIPT = """
import asyncio, json, sys

# FastAPI and redis import parts of the OpenTelemetry API by themselves; that is the baseline.
import fastapi, fastapi.testclient, fastapi.telemetry._runtime, redis, cashews, httpx  # noqa: F401
baseline = {name for name in sys.modules if name.split(".")[0] == "opentelemetry"}


attempts = []


class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            attempts.append(name)
            raise ImportError(f"imported while tracing is off: {name}")
        return None


sys.meta_path.insert(0, Refuse())

from fastapi.testclient import TestClient
from fearvana_integration.adapters.http import build_http_client
from fearvana_integration.config import load_settings
from fearvana_integration.manager import IntegrationManager
from fearvana_integration.observability import tracing
from fearvana_integration.runtime import build_runtime
from fearvana_integration.service.app import create_app
from fearvana_integration.service.auth import mint_token

database, secret, customer = sys.argv[1:4]
settings = load_settings(
    {"DATABASE_URL": f"sqlite:///{database}", "MOCK_LATENCY_MS": "0", "SUPABASE_JWT_SECRET": secret},
    read_env_files=False,
)
token = mint_token(secret, subject=None, audience="authenticated")
with TestClient(create_app(settings)) as client:
    answer = client.get(
        f"/api/customers/{customer}/context",
        headers={"Authorization": f"Bearer {token}", "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
    )
    assert answer.status_code == 200, answer.text


async def library() -> None:
    manager = IntegrationManager(build_runtime(settings))
    try:
        await manager.get_customer_context(customer)
    finally:
        await manager.aclose()
    import httpx

    shared = build_http_client()
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(200)), event_hooks=shared.event_hooks
    ) as vendor:
        await vendor.get("https://vendor.example/")
    await shared.aclose()


asyncio.run(library())
after = {name for name in sys.modules if name.split(".")[0] == "opentelemetry"}
print(json.dumps({"new": sorted(after - baseline), "attempts": attempts, "on": tracing.otel() is not None}))
"""


def test_with_tracing_off_nothing_of_opentelemetry_is_imported(demo_db: Path) -> None:
    """A fresh interpreter without OTEL_* variables: building and using the app and the library imports no
    OpenTelemetry module beyond those FastAPI and redis import themselves (even an attempt is caught)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", _OFF_SCRIPT, str(demo_db), SECRET, str(DEMO)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"new": [], "attempts": [], "on": False}
