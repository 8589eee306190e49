"""W3C Trace Context parsing and propagation, and the optional OpenTelemetry hooks (observability/tracing.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fearvana_integration.adapters.http import build_http_client
from fearvana_integration.clock import SystemClock
from fearvana_integration.errors import ProviderUnavailable
from fearvana_integration.observability import tracing
from fearvana_integration.observability.tracing import (
    TraceContext,
    TraceParent,
    begin_request,
    inject,
    parse_traceparent,
    parse_tracestate,
    statement_text,
)
from fearvana_integration.resilience.guard import Deadline, SourceGuard
from tests.conftest import require_services

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{PARENT_ID}-01"
OUTGOING = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$")


# traceparent ---------------------------------------------------------------------------------------


def test_a_valid_traceparent_is_read() -> None:
    assert parse_traceparent(VALID) == TraceParent(TRACE_ID, PARENT_ID, sampled=True)
    assert parse_traceparent(f"00-{TRACE_ID}-{PARENT_ID}-00") == TraceParent(TRACE_ID, PARENT_ID, sampled=False)


def test_only_the_sampled_bit_of_the_flags_counts() -> None:
    assert parse_traceparent(f"00-{TRACE_ID}-{PARENT_ID}-03") == TraceParent(TRACE_ID, PARENT_ID, sampled=True)
    assert parse_traceparent(f"00-{TRACE_ID}-{PARENT_ID}-fe") == TraceParent(TRACE_ID, PARENT_ID, sampled=False)


def test_optional_whitespace_around_the_value_is_ignored() -> None:
    assert parse_traceparent(f" \t{VALID}\t ") == TraceParent(TRACE_ID, PARENT_ID, sampled=True)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (f"ff-{TRACE_ID}-{PARENT_ID}-01", "version ff is invalid"),
        (f"0g-{TRACE_ID}-{PARENT_ID}-01", "version not hex"),
        (f"0-{TRACE_ID}-{PARENT_ID}-01", "version one digit"),
        (f"000-{TRACE_ID}-{PARENT_ID}-01", "version three digits"),
        (f"0A-{TRACE_ID}-{PARENT_ID}-01", "version uppercase"),
        (f"00-{TRACE_ID.upper()}-{PARENT_ID}-01", "trace id uppercase"),
        (f"00-{TRACE_ID}-{PARENT_ID.upper()}-01", "parent id uppercase"),
        (f"00-{TRACE_ID}-{PARENT_ID}-0A", "flags uppercase"),
        (f"00-{'0' * 32}-{PARENT_ID}-01", "all-zero trace id"),
        (f"00-{TRACE_ID}-{'0' * 16}-01", "all-zero parent id"),
        (f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01", "trace id 31 hex"),
        (f"00-{TRACE_ID}a-{PARENT_ID}-01", "trace id 33 hex"),
        (f"00-{TRACE_ID}-{PARENT_ID[:-1]}-01", "parent id 15 hex"),
        (f"00-{TRACE_ID}-{PARENT_ID}a-01", "parent id 17 hex"),
        (f"00-{TRACE_ID}-{PARENT_ID}-1", "flags one digit"),
        (f"00-{TRACE_ID}-{PARENT_ID}-011", "flags three digits"),
        (f"00-{TRACE_ID}-{PARENT_ID}-01-extra", "version 00 has nothing after the flags"),
        (f"00_{TRACE_ID}_{PARENT_ID}_01", "wrong separators"),
        (f"00-{TRACE_ID}-{PARENT_ID}", "no flags"),
        (f"00-{TRACE_ID[:8]}-{TRACE_ID[8:]}-{PARENT_ID}-01", "a dash inside the trace id"),
        (f"00-{TRACE_ID[:-2]}zz-{PARENT_ID}-01", "trace id not hex"),
        (f"cc-{TRACE_ID}-{PARENT_ID}-01.what-the-future-will-be-like", "a later version's fields follow a dash"),
        ("", "empty"),
        ("garbage", "garbage"),
    ],
)
def test_an_invalid_traceparent_is_ignored(value: str, why: str) -> None:
    assert parse_traceparent(value) is None, why


def test_a_later_version_is_read_as_the_spec_requires() -> None:
    """W3C: a version above 00 (not ff) is read by the 00 layout; fields it adds follow a dash."""
    assert parse_traceparent(f"cc-{TRACE_ID}-{PARENT_ID}-01") == TraceParent(TRACE_ID, PARENT_ID, sampled=True)
    assert parse_traceparent(f"cc-{TRACE_ID}-{PARENT_ID}-01-what-the-future-will-be-like") == TraceParent(
        TRACE_ID, PARENT_ID, sampled=True
    )


# tracestate ----------------------------------------------------------------------------------------


def test_a_well_formed_tracestate_is_kept() -> None:
    assert parse_tracestate("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7") == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    assert parse_tracestate("tenant1@vendor=x, rojo=1 ,, \t") == "tenant1@vendor=x,rojo=1"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("Rojo=1", "uppercase key"),
        ("rojo=1,rojo=2", "a key twice"),
        ("rojo", "no value"),
        ("rojo=", "empty value"),
        ("rojo=a=b", "= in the value"),
        ("1rojo=1", "simple key starting with a digit"),
        ("t@Vendor=1", "uppercase system id"),
        ("rojo=\x7f", "a control character in the value"),
        (",".join(f"k{i}=v" for i in range(33)), "33 members"),
        ("k=" + "v" * 257, "value over 256 characters"),
        (",".join(f"key{i:03d}={'v' * 30}" for i in range(16)), "over 512 characters"),
        ("", "empty"),
        (" , ", "only empty members"),
    ],
)
def test_a_malformed_tracestate_is_dropped(value: str, why: str) -> None:
    assert parse_tracestate(value) is None, why


def test_thirty_two_members_and_512_characters_are_allowed() -> None:
    members = ",".join(f"k{i:02d}={'v' * 11}" for i in range(32))
    assert len(members) == 32 * 15 + 31
    assert parse_tracestate(members) == members
    longest = "k=" + "v" * 256 + ",j=" + "w" * 251
    assert len(longest) == 512
    assert parse_tracestate(longest) == longest
    assert parse_tracestate(longest + "w") is None


# The request's trace, and what goes out -----------------------------------------------------------


def _headers(**values: str) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in values.items()]


def test_a_request_continues_the_incoming_trace_with_a_span_of_its_own() -> None:
    trace = begin_request("GET", _headers(traceparent=VALID, tracestate="rojo=1"), "req-1")
    try:
        assert trace.trace_id == TRACE_ID
        assert trace.context.span_id != PARENT_ID
        assert trace.context.sampled
        assert trace.context.tracestate == "rojo=1"
        assert tracing.current_trace() == trace.context
    finally:
        trace.end("/x", 200)
    assert tracing.current_trace() is None


@pytest.mark.parametrize(
    "headers",
    [
        [],
        _headers(traceparent=f"00-{TRACE_ID.upper()}-{PARENT_ID}-01", tracestate="rojo=1"),
        [(b"traceparent", VALID.encode()), (b"traceparent", VALID.encode())],
    ],
    ids=["none", "invalid", "twice"],
)
def test_without_a_valid_traceparent_a_new_trace_starts(headers: list[tuple[bytes, bytes]]) -> None:
    trace = begin_request("GET", headers, "req-1")
    try:
        assert re.fullmatch(r"[0-9a-f]{32}", trace.trace_id)
        assert trace.trace_id != TRACE_ID
        assert trace.context.tracestate is None  # a tracestate without a valid traceparent is ignored
        assert not trace.context.sampled
    finally:
        trace.end("/x", 200)


def test_several_tracestate_headers_are_one_list() -> None:
    trace = begin_request("GET", [*_headers(traceparent=VALID), (b"tracestate", b"a=1"), (b"tracestate", b"b=2")], "r")
    try:
        assert trace.context.tracestate == "a=1,b=2"
    finally:
        trace.end("/x", 200)


def test_outgoing_requests_carry_the_trace_with_a_fresh_parent_id_each() -> None:
    trace = begin_request("GET", _headers(traceparent=VALID, tracestate="rojo=1"), "req-1")
    try:
        first: dict[str, str] = {}
        second: dict[str, str] = {}
        inject(first)
        inject(second)
    finally:
        trace.end("/x", 200)
    ids = set()
    for headers in (first, second):
        match = OUTGOING.match(headers["traceparent"])
        assert match, headers
        assert match.group(1) == TRACE_ID
        assert match.group(3) == "01"
        ids.add(match.group(2))
        assert headers["tracestate"] == "rojo=1"
    assert len(ids) == 2 and PARENT_ID not in ids and trace.context.span_id not in ids


def test_outside_a_request_nothing_is_sent_and_an_explicit_header_wins() -> None:
    headers: dict[str, str] = {}
    inject(headers)
    assert headers == {}
    trace = begin_request("GET", _headers(traceparent=VALID), "req-1")
    try:
        explicit = {"traceparent": f"00-{'1' * 32}-{'2' * 16}-00"}
        inject(explicit)
        assert explicit == {"traceparent": f"00-{'1' * 32}-{'2' * 16}-00"}
    finally:
        trace.end("/x", 200)


def test_trace_context_formats_itself() -> None:
    context = TraceContext(TRACE_ID, PARENT_ID, sampled=True)
    assert context.traceparent == VALID
    child = context.child()
    assert child.trace_id == TRACE_ID and child.span_id != PARENT_ID
    assert TraceContext(TRACE_ID, PARENT_ID).traceparent.endswith("-00")


async def test_the_vendor_client_sends_the_trace() -> None:
    """The client ``build_http_client`` makes carries the hook; any transport then sees the header."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    shared = build_http_client()
    assert tracing.httpx_request_hook in shared.event_hooks["request"]
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle), event_hooks=shared.event_hooks) as client:
        await client.get("https://vendor.example/outside")
        trace = begin_request("GET", _headers(traceparent=VALID), "req-1")
        try:
            await client.get("https://vendor.example/inside")
        finally:
            trace.end("/x", 200)
    await shared.aclose()
    assert "traceparent" not in seen[0].headers
    match = OUTGOING.match(seen[1].headers["traceparent"])
    assert match and match.group(1) == TRACE_ID


def test_statement_text_drops_string_literals() -> None:
    assert statement_text("SELECT id FROM profiles WHERE email = 'kim@example.com' AND note = 'it''s' AND id = $1") == (
        "SELECT id FROM profiles WHERE email = '?' AND note = '?' AND id = $1"
    )
    assert len(statement_text("SELECT " + "x, " * 2000)) == tracing.MAX_STATEMENT_CHARS


# Switching OpenTelemetry on and off ----------------------------------------------------------------


@pytest.fixture
def fresh_decision(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No OTEL_* variable from the outside; the decision is made again, and forgotten afterwards."""
    for name in (
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    ):
        monkeypatch.delenv(name, raising=False)
    tracing.reset()
    yield monkeypatch
    hooks = tracing.otel()
    if hooks is not None:
        hooks.provider.shutdown()
    tracing.reset()


def sdk() -> Any:
    """The OpenTelemetry SDK, or a skip (a failure with FEARVANA_REQUIRE_SERVICES=1) when the extra is missing."""
    try:
        from opentelemetry.sdk import trace as sdk_trace
    except ImportError:
        message = "OpenTelemetry SDK not installed: pip install -e '.[otel]' (the dev extra includes it)"
        if require_services():
            pytest.fail(message)
        pytest.skip(message)
    return sdk_trace


def test_off_without_an_exporter_in_the_environment(fresh_decision: pytest.MonkeyPatch) -> None:
    assert tracing.otel() is None
    assert tracing.source_span("crm", "crm") is None


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
    ],
    ids=["exporter-none", "sdk-disabled"],
)
def test_off_when_the_environment_says_so(fresh_decision: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        fresh_decision.setenv(name, value)
    assert tracing.otel() is None


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"},
        {"OTEL_TRACES_EXPORTER": "otlp"},
    ],
    ids=["endpoint", "traces-endpoint", "exporter"],
)
def test_on_when_an_exporter_is_configured(fresh_decision: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    sdk_trace = sdk()
    for name, value in env.items():
        fresh_decision.setenv(name, value)
    hooks = tracing.otel()
    assert hooks is not None
    assert isinstance(hooks.provider, sdk_trace.TracerProvider)
    assert hooks.provider.resource.attributes["service.name"] == "fearvana-integration"


def test_configured_but_not_installed_stays_off_and_says_so(
    fresh_decision: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh_decision.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")

    def missing(name: str) -> Any:
        raise ImportError(name)

    fresh_decision.setattr(tracing, "import_module", missing)
    warnings: list[dict[str, Any]] = []
    fresh_decision.setattr(tracing.log, "warning", lambda event, **kw: warnings.append({"event": event, **kw}))
    assert tracing.otel() is None
    assert warnings and "fearvana-integration[otel]" in warnings[0]["event"]


async def test_a_failing_source_call_records_its_outcome_not_its_message(fresh_decision: pytest.MonkeyPatch) -> None:
    sdk_trace = sdk()
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer_provider(provider)
    guard = SourceGuard(SystemClock())

    async def fails() -> None:
        raise ProviderUnavailable("kim.known@example.com is unreachable", source="crm", operation="crm")

    with pytest.raises(ProviderUnavailable):
        await guard.call("crm", "crm", fails, timeout_seconds=1, deadline=Deadline(SystemClock(), 1))

    async def answers() -> int:
        return 1

    assert await guard.call("crm", "crm", answers, timeout_seconds=1, deadline=Deadline(SystemClock(), 1)) == 1
    failed, ok = exporter.get_finished_spans()
    assert failed.name == "crm crm"
    assert dict(failed.attributes or {}) == {
        "fearvana.source": "crm",
        "fearvana.operation": "crm",
        "fearvana.outcome": "ProviderUnavailable",
        "error.type": "ProviderUnavailable",
    }
    assert failed.status.status_code.name == "ERROR" and not failed.status.description
    assert not failed.events  # no exception event: its message could hold customer data
    assert (ok.attributes or {})["fearvana.outcome"] == "ok"
    provider.shutdown()
