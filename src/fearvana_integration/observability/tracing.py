"""Tracing: W3C Trace Context for every request and vendor call, OpenTelemetry spans when an exporter is configured.

Always on, without any dependency:

* The service's ``RequestContext`` middleware reads an incoming ``traceparent`` (validated as the W3C
  Trace Context spec says; anything else starts a new trace) and ``tracestate`` (kept when well formed,
  at most 512 characters and 32 members), and binds a :class:`TraceContext` — the trace id and a new
  span id for this request — for the rest of the request. The trace id is logged as ``trace_id``.
* Every request sent through the vendors' shared HTTP client (:func:`httpx_request_hook`) carries
  ``traceparent`` with that trace id and a fresh parent id, plus the incoming ``tracestate``. Outside an
  HTTP request (CLI, library) no ``traceparent`` is sent while OpenTelemetry is off.

Optional (``pip install 'fearvana-integration[otel]'``), when the process environment configures an
exporter (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
``OTEL_TRACES_EXPORTER``): OpenTelemetry spans for the HTTP request (a server span whose parent is the
incoming ``traceparent``), context assembly, each source call (``SourceGuard.call``: source, operation,
outcome) and each store statement (its text with string literals replaced, never its parameters).
Outgoing ``traceparent`` then comes from the current span, so the vendor's trace joins ours, in a
request or not (a library host's own current span, if it has one, becomes the parent of ours). No span
holds customer data: no ids, emails, names, URLs with ids, or error messages (only error type names).

Off (the default), nothing from OpenTelemetry is imported by this module and the hooks cost a call
and a None check. The spans go to a tracer provider of this module's own, never the process-wide
global one: a global provider would also switch on FastAPI's own request spans, which record the
URL path (customer ids).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, replace
from importlib import import_module
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("fearvana_integration.tracing")

MAX_TRACESTATE_CHARS = 512
MAX_TRACESTATE_MEMBERS = 32
MAX_STATEMENT_CHARS = 2048
_ZERO_TRACE_ID = "0" * 32
_ZERO_SPAN_ID = "0" * 16

# traceparent = version "-" trace-id "-" parent-id "-" trace-flags, all lowercase hex.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
# tracestate list-member = key "=" value (W3C Trace Context, section 3.3.1).
_TRACESTATE_KEY = r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
_TRACESTATE_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_TRACESTATE_MEMBER = re.compile(rf"({_TRACESTATE_KEY})=({_TRACESTATE_VALUE})")
_OWS = " \t"
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")


# W3C Trace Context ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceParent:
    """A valid incoming ``traceparent``: whose trace this is, the caller's span, whether it records."""

    trace_id: str
    parent_id: str
    sampled: bool


def parse_traceparent(value: str) -> TraceParent | None:
    """``value`` as a W3C ``traceparent``, or None when it is not a valid one.

    Version ``00`` is exactly ``00-<32 hex>-<16 hex>-<2 hex>``, lowercase only; all-zero ids are
    invalid; version ``ff`` is invalid. A later version (``01``–``fe``) is read as the spec requires:
    the same four fields, then the end or a ``-`` before fields this version does not know.
    Surrounding spaces and tabs (HTTP's optional whitespace) are ignored.
    """
    value = value.strip(_OWS)
    match = _TRACEPARENT.match(value)
    if match is None:
        return None
    version, trace_id, parent_id, flags = match.groups()
    if version == "ff":
        return None
    if len(value) != 55 and (version == "00" or value[55] != "-"):
        return None
    if trace_id == _ZERO_TRACE_ID or parent_id == _ZERO_SPAN_ID:
        return None
    return TraceParent(trace_id, parent_id, sampled=int(flags, 16) & 1 == 1)


def parse_tracestate(value: str) -> str | None:
    """``value`` (several headers joined with commas) as a ``tracestate`` worth passing on, or None.

    Kept only when every list-member is well formed (key and value as the spec defines them, no key
    twice), there are at most 32 of them and the result is at most 512 characters; empty members
    and optional whitespace are dropped.
    """
    if len(value) > 8 * MAX_TRACESTATE_CHARS:
        return None
    members: list[str] = []
    keys: set[str] = set()
    for raw in value.split(","):
        member = raw.strip(_OWS)
        if not member:
            continue
        match = _TRACESTATE_MEMBER.fullmatch(member)
        if match is None or match.group(1) in keys:
            return None
        keys.add(match.group(1))
        members.append(member)
    joined = ",".join(members)
    if not members or len(members) > MAX_TRACESTATE_MEMBERS or len(joined) > MAX_TRACESTATE_CHARS:
        return None
    return joined


def new_trace_id() -> str:
    """A random trace id (32 lowercase hex, never all zeros)."""
    while True:
        trace_id = secrets.token_hex(16)
        if trace_id != _ZERO_TRACE_ID:
            return trace_id


def new_span_id() -> str:
    """A random span id (16 lowercase hex, never all zeros)."""
    while True:
        span_id = secrets.token_hex(8)
        if span_id != _ZERO_SPAN_ID:
            return span_id


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The trace this process is working in: its id, our span's id, the sampled flag, the tracestate."""

    trace_id: str
    span_id: str
    sampled: bool = False
    tracestate: str | None = None

    @property
    def traceparent(self) -> str:
        """This span as a ``traceparent``."""
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def child(self) -> TraceContext:
        """The same trace with a fresh span id (one outgoing request)."""
        return replace(self, span_id=new_span_id())


_current: ContextVar[TraceContext | None] = ContextVar("fearvana_trace", default=None)


def current_trace() -> TraceContext | None:
    """The trace of the HTTP request being served, if any."""
    return _current.get()


def _incoming(parents: list[str], states: list[str]) -> tuple[TraceParent | None, str | None]:
    """The caller's trace from its header values; several ``traceparent`` headers are invalid, several
    ``tracestate`` headers are one list; ``tracestate`` only counts with a valid ``traceparent``."""
    parent = parse_traceparent(parents[0]) if len(parents) == 1 else None
    state = parse_tracestate(",".join(states)) if parent is not None and states else None
    return parent, state


class RequestTrace:
    """One HTTP request's trace, begun by the service's middleware and ended with its route and status."""

    __slots__ = ("_hooks", "_method", "_otel_token", "_span", "_token", "context")

    def __init__(
        self,
        context: TraceContext,
        token: Token[TraceContext | None],
        hooks: Otel | None = None,
        span: Any = None,
        otel_token: object = None,
        method: str = "",
    ) -> None:
        self.context = context
        self._token = token
        self._hooks = hooks
        self._span = span
        self._otel_token = otel_token
        self._method = method

    @property
    def trace_id(self) -> str:
        """The trace id (logged as ``trace_id``)."""
        return self.context.trace_id

    def end(self, route: str, status: int) -> None:
        """Unbind the trace; with OpenTelemetry on, name the server span by its route and end it."""
        _current.reset(self._token)
        if self._hooks is not None:
            self._hooks.end_server_span(self._span, self._otel_token, self._method, route, status)


def begin_request(method: str, headers: Iterable[tuple[bytes, bytes]], correlation_id: str) -> RequestTrace:
    """The trace of one incoming HTTP request (ASGI ``headers``): continued from its ``traceparent`` or new."""
    parents: list[str] = []
    states: list[str] = []
    for name, value in headers:
        lower = name.lower()
        if lower == b"traceparent":
            parents.append(value.decode("latin-1"))
        elif lower == b"tracestate":
            states.append(value.decode("latin-1"))
    parent, state = _incoming(parents, states)
    hooks = otel()
    if hooks is None:
        context = TraceContext(
            parent.trace_id if parent else new_trace_id(), new_span_id(), parent.sampled if parent else False, state
        )
        return RequestTrace(context, _current.set(context))
    span, otel_token = hooks.start_server_span(method, parent, state, correlation_id)
    context = hooks.trace_context(span, state)
    return RequestTrace(context, _current.set(context), hooks, span, otel_token, method)


def inject(headers: MutableMapping[str, str]) -> None:
    """Add ``traceparent`` (and ``tracestate``) for an outgoing request, unless it has one already.

    With OpenTelemetry on, from the current span; else a fresh span id in the bound trace; outside
    any trace, nothing.
    """
    if "traceparent" in headers:
        return
    hooks = otel()
    if hooks is not None:
        hooks.propagator.inject(headers)
        return
    bound = _current.get()
    if bound is None:
        return
    headers["traceparent"] = bound.child().traceparent
    if bound.tracestate:
        headers["tracestate"] = bound.tracestate


async def httpx_request_hook(request: httpx.Request) -> None:
    """The vendors' HTTP client's request hook: every outgoing request carries the trace."""
    inject(request.headers)


# OpenTelemetry (optional) -----------------------------------------------------------------------------

_lock = threading.Lock()
_otel: Otel | None = None
_resolved = False
_NO_SPAN: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()


def otel() -> Otel | None:
    """The OpenTelemetry hooks when tracing with spans is on, else None (decided once per process)."""
    if _resolved:
        return _otel
    return _resolve()


def _resolve() -> Otel | None:
    global _otel, _resolved
    with _lock:
        if not _resolved:
            _otel = _from_environment(os.environ)
            _resolved = True
    return _otel


def use_tracer_provider(provider: Any) -> Otel:
    """Send spans to ``provider`` (an OpenTelemetry SDK ``TracerProvider``) instead of deciding from the
    environment: for hosts that configure OpenTelemetry themselves, and tests. Call it before the
    runtime is built (store statements are traced from engines built afterwards)."""
    global _otel, _resolved
    with _lock:
        _otel = Otel(provider)
        _resolved = True
    return _otel


def reset() -> None:
    """Forget the decision (tests): the next use reads the environment again."""
    global _otel, _resolved
    with _lock:
        _otel = None
        _resolved = False


def source_span(source: str, operation: str) -> SourceSpan | None:
    """A span for one source call, current until :meth:`SourceSpan.end`; None while tracing is off."""
    hooks = otel()
    if hooks is None:
        return None
    return SourceSpan(hooks, source, operation)


def span(name: str, attributes: dict[str, str | int | float | bool]) -> contextlib.AbstractContextManager[Any]:
    """A span around a block (``assemble``), current inside it; a shared no-op while tracing is off."""
    hooks = otel()
    if hooks is None:
        return _NO_SPAN
    return hooks.internal_span(name, attributes)


def instrument_engine(engine: AsyncEngine) -> None:
    """Trace every statement ``engine`` executes (only while tracing is on: otherwise nothing is attached)."""
    hooks = otel()
    if hooks is not None:
        hooks.instrument_engine(engine)


def statement_text(statement: str) -> str:
    """A statement as recorded: string literals replaced by ``'?'`` (parameters are never recorded), capped."""
    text = _STRING_LITERAL.sub("'?'", statement.strip())
    return text if len(text) <= MAX_STATEMENT_CHARS else text[: MAX_STATEMENT_CHARS - 1] + "…"


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The trace exporters the standard OpenTelemetry variables ask for (empty: tracing stays off)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    if names:
        return [name for name in names if name != "none"]
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    return ["otlp"] if endpoint.strip() else []


def _from_environment(environ: Mapping[str, str]) -> Otel | None:
    names = _exporter_names(environ)
    if not names:
        return None
    try:
        sdk_trace = import_module("opentelemetry.sdk.trace")
        sdk_export = import_module("opentelemetry.sdk.trace.export")
        resources = import_module("opentelemetry.sdk.resources")
    except ImportError:
        log.warning(
            "tracing is configured but OpenTelemetry is not installed: pip install 'fearvana-integration[otel]'",
            exporters=",".join(names),
        )
        return None
    exporters = [exporter for exporter in (_exporter(name, environ, sdk_export) for name in names) if exporter]
    if not exporters:
        return None
    from fearvana_integration import __version__

    resource_attributes: dict[str, str] = {"service.version": __version__}
    if not environ.get("OTEL_SERVICE_NAME") and "service.name=" not in environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        resource_attributes["service.name"] = "fearvana-integration"
    provider = sdk_trace.TracerProvider(resource=resources.Resource.create(resource_attributes))
    for exporter in exporters:
        provider.add_span_processor(sdk_export.BatchSpanProcessor(exporter))
    log.info("tracing on", exporters=",".join(names))
    return Otel(provider)


def _exporter(name: str, environ: Mapping[str, str], sdk_export: Any) -> Any:
    if name == "console":
        return sdk_export.ConsoleSpanExporter()
    if name != "otlp":
        log.warning("unsupported OTEL_TRACES_EXPORTER value ignored (supported: otlp, console)", exporter=name)
        return None
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip()
    transport = "grpc" if protocol == "grpc" else "http"
    try:
        module = import_module(f"opentelemetry.exporter.otlp.proto.{transport}.trace_exporter")
    except ImportError:
        package = f"opentelemetry-exporter-otlp-proto-{transport}"
        log.warning(f"the OTLP exporter is not installed: pip install {package}", protocol=protocol or "http/protobuf")
        return None
    return module.OTLPSpanExporter()


class SourceSpan:
    """One source call's span, current from its creation until :meth:`end` (same task)."""

    __slots__ = ("_hooks", "_span", "_token")

    def __init__(self, hooks: Otel, source: str, operation: str) -> None:
        self._hooks = hooks
        self._span = hooks.tracer.start_span(
            f"{source} {operation}",
            kind=hooks.span_kind.INTERNAL,
            attributes={"fearvana.source": source, "fearvana.operation": operation},
        )
        self._token = hooks.context.attach(hooks.trace.set_span_in_context(self._span))

    def end(self, outcome: str) -> None:
        """Record the outcome (``ok``, ``timeout``, ``circuit_open`` or an error type name) and end the span."""
        self._span.set_attribute("fearvana.outcome", outcome)
        if outcome != "ok":
            self._span.set_attribute("error.type", outcome)
            self._span.set_status(self._hooks.status_code.ERROR)
        self._span.end()
        self._hooks.detach(self._token)


class Otel:
    """What the hooks need from OpenTelemetry, imported only when tracing is on. Its objects are typed
    ``Any``: the package is optional, so nothing here may depend on its types being installed."""

    def __init__(self, provider: Any) -> None:
        from fearvana_integration import __version__

        self.provider = provider
        self.trace: Any = import_module("opentelemetry.trace")
        self.context: Any = import_module("opentelemetry.context")
        tracecontext = import_module("opentelemetry.trace.propagation.tracecontext")
        # W3C Trace Context only: baggage (which a host may fill with anything) is never sent to vendors.
        self.propagator: Any = tracecontext.TraceContextTextMapPropagator()
        self.span_kind: Any = self.trace.SpanKind
        self.status_code: Any = self.trace.StatusCode
        self.tracer: Any = provider.get_tracer("fearvana_integration", __version__)

    def detach(self, token: object) -> None:
        """Undo a context attach."""
        self.context.detach(token)

    def start_server_span(
        self, method: str, parent: TraceParent | None, state: str | None, correlation_id: str
    ) -> tuple[Any, object]:
        """The request's server span, made current: its parent is the incoming ``traceparent`` (as
        :func:`parse_traceparent` validated it, not by OpenTelemetry's more lenient rules), else none."""
        trace = self.trace
        parent_context = self.context.Context()
        if parent is not None:
            remote = trace.SpanContext(
                trace_id=int(parent.trace_id, 16),
                span_id=int(parent.parent_id, 16),
                is_remote=True,
                trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED if parent.sampled else trace.TraceFlags.DEFAULT),
                trace_state=trace.TraceState.from_header([state]) if state else None,
            )
            parent_context = trace.set_span_in_context(trace.NonRecordingSpan(remote), parent_context)
        server_span = self.tracer.start_span(
            method,
            context=parent_context,
            kind=self.span_kind.SERVER,
            attributes={"http.request.method": method, "fearvana.correlation_id": correlation_id},
        )
        return server_span, self.context.attach(trace.set_span_in_context(server_span))

    def trace_context(self, current: Any, state: str | None) -> TraceContext:
        """The :class:`TraceContext` of a span (for logs and :func:`current_trace`)."""
        span_context = current.get_span_context()
        return TraceContext(
            f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}", bool(span_context.trace_flags & 1), state
        )

    def end_server_span(self, server_span: Any, token: object, method: str, route: str, status: int) -> None:
        """Name the server span ``METHOD /route/{template}`` (never the URL: it holds ids), set the status, end it."""
        server_span.update_name(f"{method} {route}")
        server_span.set_attribute("http.route", route)
        server_span.set_attribute("http.response.status_code", status)
        if status >= 500:
            server_span.set_attribute("error.type", str(status))
            server_span.set_status(self.status_code.ERROR)
        server_span.end()
        self.detach(token)

    @contextlib.contextmanager
    def internal_span(self, name: str, attributes: dict[str, str | int | float | bool]) -> Iterator[Any]:
        """A current span around a block; an exception sets its status and error type, never its message."""
        with self.tracer.start_as_current_span(
            name, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as current:
            try:
                yield current
            except BaseException as error:
                current.set_attribute("error.type", type(error).__name__)
                current.set_status(self.status_code.ERROR)
                raise

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """A client span per statement: text without parameters (see :func:`statement_text`), no values."""
        from sqlalchemy import event

        sync_engine = engine.sync_engine
        system = "postgresql" if sync_engine.dialect.name == "postgresql" else sync_engine.dialect.name
        tracer = self.tracer
        client = self.span_kind.CLIENT
        error_status = self.status_code.ERROR

        def before(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
            if context is None:
                return
            text = statement_text(statement)
            operation = text.split(None, 1)[0].upper() if text else ""
            context._fearvana_span = tracer.start_span(
                operation if operation.isalpha() else system,
                kind=client,
                attributes={"db.system.name": system, "db.query.text": text, "db.operation.name": operation},
            )

        def after(_conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
            statement_span = getattr(context, "_fearvana_span", None)
            if statement_span is not None:
                context._fearvana_span = None
                statement_span.end()

        def failed(exception_context: Any) -> None:
            context = exception_context.execution_context
            statement_span = getattr(context, "_fearvana_span", None)
            if statement_span is not None:
                context._fearvana_span = None
                statement_span.set_attribute("error.type", type(exception_context.original_exception).__name__)
                statement_span.set_status(error_status)
                statement_span.end()

        event.listen(sync_engine, "before_cursor_execute", before)
        event.listen(sync_engine, "after_cursor_execute", after)
        event.listen(sync_engine, "handle_error", failed)


__all__ = [
    "Otel",
    "RequestTrace",
    "SourceSpan",
    "TraceContext",
    "TraceParent",
    "begin_request",
    "current_trace",
    "httpx_request_hook",
    "inject",
    "instrument_engine",
    "otel",
    "parse_traceparent",
    "parse_tracestate",
    "reset",
    "source_span",
    "span",
    "statement_text",
    "use_tracer_provider",
]
