"""The HTTP service: ``create_app(settings)`` builds a FastAPI app whose lifespan owns the runtime.

Routes (SPEC §10) with the role rules of SPEC §8; every error a JSON problem; a correlation id per
request (``X-Request-ID`` accepted or generated, echoed, in every log line and audit row); one access
line per request; a client whose tokens keep failing is blocked (429) — only its failing requests, never
a valid token or the health routes. Nothing happens at import time.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

import httpx
import structlog
from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException

from fearvana_integration import __version__
from fearvana_integration.config import Settings, load_settings
from fearvana_integration.context.assembler import View
from fearvana_integration.context.render import render_context
from fearvana_integration.domain.base import DomainModel
from fearvana_integration.domain.context import CustomerContext
from fearvana_integration.domain.crm import Interaction
from fearvana_integration.domain.health import HealthStatus
from fearvana_integration.domain.scheduling import Appointment, AppointmentType, DateRange, TimeSlot
from fearvana_integration.errors import (
    AuthenticationFailed,
    Forbidden,
    IntegrationError,
    InvalidInput,
    TooManyFailedAttempts,
)
from fearvana_integration.manager import IntegrationManager
from fearvana_integration.observability import tracing
from fearvana_integration.observability.audit import _actor, audit_context
from fearvana_integration.observability.logging import configure_logging
from fearvana_integration.runtime import Runtime, build_runtime
from fearvana_integration.service.auth import Principal, TokenVerifier
from fearvana_integration.service.metrics import Metrics
from fearvana_integration.service.problems import (
    http_error_handler,
    integration_error_handler,
    problem,
    validation_error_handler,
)
from fearvana_integration.service.throttle import FailedAuthLimiter, client_address

log = structlog.get_logger("fearvana_integration.http")
access_log = structlog.get_logger("fearvana_integration.access")
MAX_BODY_BYTES = 64 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Body = TypeVar("Body", bound=DomainModel)


@dataclass
class Services:
    """What the lifespan builds and the routes use."""

    settings: Settings
    manager: IntegrationManager
    verifier: TokenVerifier
    limiter: FailedAuthLimiter
    metrics: Metrics


class Problem(DomainModel):
    """An error (RFC 9457 problem details) with the request's correlation id."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    correlation_id: str


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        401: "Missing or invalid bearer token",
        403: "Not allowed for this caller",
        404: "No such customer or appointment",
        409: "The slot is taken; `alternatives` lists free ones",
        413: "Request body too large",
        422: "Invalid request (each field named)",
        429: "Client blocked after repeated failed authentications (Retry-After)",
        503: "A source is unavailable",
    }
    return {
        status: {
            "model": Problem,
            "description": descriptions[status],
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


AUTHED = _problems(401, 403, 413, 422, 429, 503)


class InteractionLogged(DomainModel):
    """The CRM's id for the logged interaction."""

    crm_id: str


class BookingRequest(DomainModel):
    """A slot (as listed by /api/scheduling/slots) and the kind of session."""

    slot: TimeSlot
    type: AppointmentType = "coaching-session"
    booking_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._:-]{1,128}$",
        description="Your id for this booking: a retry with the same id returns the first booking, never a second",
    )


class Liveness(DomainModel):
    """The process is up."""

    status: Literal["ok"] = "ok"
    version: str = __version__


class _BodyTooLarge(Exception):
    pass


class RequestContext:
    """Pure ASGI middleware: correlation id, trace context, the client's address, body limit, access log,
    request metrics.

    The trace (W3C ``traceparent``/``tracestate``, or a new one) is bound for the request: its id is
    logged as ``trace_id``, vendor requests carry it, and with OpenTelemetry on it is the server span.

    It blocks nobody: failed-auth blocking happens in ``authenticate``, for requests whose token is
    missing or fails, so a blocked address still gets its liveness probe and its valid tokens served.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {key.lower(): value for key, value in scope.get("headers", [])}
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        services: Services = scope["app"].state.services
        peer_info = scope.get("client")
        peer = str(peer_info[0]) if peer_info else None
        forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1") or None
        client = client_address(peer, forwarded, services.limiter.trusted)
        scope.setdefault("state", {})["client"] = client
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        size = 0

        async def limited_receive() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > MAX_BODY_BYTES:
                    raise _BodyTooLarge
            return message

        trace = tracing.begin_request(scope["method"], scope.get("headers", []), request_id)
        structlog.contextvars.bind_contextvars(correlation_id=request_id, trace_id=trace.trace_id)
        try:
            with audit_context(actor="anonymous", correlation_id=request_id):
                length = headers.get(b"content-length", b"0")
                if length.isdigit() and int(length) > MAX_BODY_BYTES:
                    await problem(413, "body-too-large", "Request body too large", f"At most {MAX_BODY_BYTES} bytes")(
                        scope, receive, send_with_id
                    )
                else:
                    try:
                        await self.app(scope, limited_receive, send_with_id)
                    except _BodyTooLarge:
                        await problem(
                            413, "body-too-large", "Request body too large", f"At most {MAX_BODY_BYTES} bytes"
                        )(scope, receive, send_with_id)
                    except Exception as error:
                        # Here, not in an exception handler: those run outside this middleware, where the
                        # correlation id is gone. One log line; the 500 carries the request's id.
                        _log_unexpected(error)
                        if response_started:
                            raise  # part of a response is out: only the server can end it (it drops the connection)
                        await _internal_error()(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            services.metrics.requests.labels(scope["method"], template, str(status)).observe(elapsed)
            access_log.info(
                "request",
                method=scope["method"],
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                client=client,
            )
            structlog.contextvars.unbind_contextvars("correlation_id", "trace_id")
            trace.end(template, status)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


_BEARER = HTTPBearer(auto_error=False, description="A Supabase JWT (role authenticated or service_role)")


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
) -> Principal:
    """The caller, from ``Authorization: Bearer …``.

    A missing or failing token is counted against the client, and answered 401 — or 429 once the
    client has used up its failures (the limiter counts and decides in one atomic step). A valid
    token is never blocked: blocking an address must not lock out the real users behind it. The token
    is verified before the limiter is asked, also for a blocked client; that is cheap (HS256, or a
    cached JWKS key whose refetch is rate limited), and nothing expensive runs before this dependency
    has passed.
    """
    services = _services(request)
    try:
        if credentials is None or not credentials.credentials.strip():
            raise AuthenticationFailed("Missing bearer token")
        principal = await services.verifier.verify(credentials.credentials.strip())
    except AuthenticationFailed:
        client = request.scope.get("state", {}).get("client", "unknown")
        verdict = await services.limiter.failed(client)
        services.metrics.observe_auth_failure(verdict)
        if verdict.blocked_for > 0:
            raise TooManyFailedAttempts(
                "Too many failed authentication attempts from this client", verdict.blocked_for
            ) from None
        raise
    _actor.set(principal.actor)
    return principal


Caller = Annotated[Principal, Depends(authenticate)]
CustomerId = Annotated[UUID, Path(description="The customer's profile UUID")]


def _for_customer(principal: Principal, customer_id: UUID) -> None:
    if not principal.may_act_for(customer_id):
        raise Forbidden("A customer token may only be used for that customer's own data")


def _service_only(principal: Principal) -> None:
    if not principal.is_service:
        raise Forbidden("This route is for the service role only")


async def _own_customer(principal: Caller, customer_id: CustomerId) -> UUID:
    """The customer in the path, once the caller may act for them (403 otherwise).

    A dependency, so it runs before the route's query parameters are validated and before its body is
    read: a caller learns nothing about input for a customer it may not touch.
    """
    _for_customer(principal, customer_id)
    return customer_id


async def _any_customer_as_service(principal: Caller, customer_id: CustomerId) -> UUID:
    """The customer in the path, for the service role only (403 otherwise); see ``_own_customer``."""
    _service_only(principal)
    return customer_id


OwnCustomer = Annotated[UUID, Depends(_own_customer)]
ServiceCustomer = Annotated[UUID, Depends(_any_customer_as_service)]


async def _json_body(request: Request, model: type[Body]) -> Body:
    """The request's JSON body as ``model``, read only now that the caller is authorised.

    FastAPI would decode and validate a declared body before any dependency ran, so a caller without
    the right to the route would still learn what is wrong with its body (and a malformed one would be a
    422 even without a token). Errors are the same 422 problem, each field named.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise RequestValidationError(
            [{"type": "content_type", "loc": ("body",), "msg": "must be JSON (Content-Type: application/json)"}]
        )
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as error:
        errors = error.errors(include_url=False, include_input=False, include_context=False)
        raise RequestValidationError([{**item, "loc": ("body", *item["loc"])} for item in errors]) from None


def create_served_app() -> FastAPI:
    """The app ``fearvana-integration serve`` runs (uvicorn factory): settings from the environment,
    start-up objects frozen for the garbage collector."""
    return create_app(freeze_start_up_objects=True)


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    http_client: httpx.AsyncClient | None = None,
    limiter: FailedAuthLimiter | None = None,
    freeze_start_up_objects: bool = False,
) -> FastAPI:
    """The service. Without arguments it reads the settings from the environment (uvicorn factory).

    ``freeze_start_up_objects`` (the served process): after start-up, everything alive so far (modules,
    settings, the tokenizer's vocabulary, compiled queries) is moved out of the garbage collector's
    reach, so its full collections stop walking it — they otherwise paused requests for tens of
    milliseconds, every twentieth request or so under load.
    """
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_format)
        own_runtime = runtime or build_runtime(settings)
        own_http = http_client or httpx.AsyncClient()
        manager = IntegrationManager(own_runtime)
        app.state.services = Services(
            settings=settings,
            manager=manager,
            verifier=TokenVerifier(settings, own_http),
            limiter=limiter or FailedAuthLimiter(settings),
            metrics=Metrics(own_runtime),
        )
        log.info("service started", version=__version__, store=own_runtime.store.backend)
        if freeze_start_up_objects:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await manager.aclose()
            await app.state.services.limiter.aclose()
            if http_client is None:
                await own_http.aclose()

    app = FastAPI(
        title="fearvana-integration",
        version=__version__,
        description="Everything an AI coach should know about one customer, and the actions it may take.",
        lifespan=lifespan,
    )
    app.add_exception_handler(IntegrationError, integration_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(RequestContext)
    _routes(app)
    app.openapi = _openapi_with_parsed_bodies(app)  # type: ignore[method-assign]
    return app


async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
    """The last resort, outside ``RequestContext`` (which answers a route's unexpected errors itself)."""
    if not getattr(error, "_fearvana_logged", False):
        log.error("unexpected error", error_type=type(error).__name__, exc_info=error)
    return _internal_error()


def _internal_error() -> JSONResponse:
    return problem(500, "internal-error", "Internal error", "The request could not be completed")


def _log_unexpected(error: Exception) -> None:
    """The one error line of an unexpected exception (type and traceback; never in a response)."""
    log.error("unexpected error", error_type=type(error).__name__, exc_info=error)
    with contextlib.suppress(AttributeError):  # re-raised past us: the last-resort handler does not log it twice
        error._fearvana_logged = True  # type: ignore[attr-defined]


# Routes that read their JSON body themselves (``_json_body``): the parameter it stands for in the docs.
PARSED_BODIES: dict[str, tuple[str, type[DomainModel]]] = {
    "log_interaction": ("interaction", Interaction),
    "book": ("booking", BookingRequest),
}


def _openapi_with_parsed_bodies(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """``app.openapi``: the document FastAPI generates, where the routes of ``PARSED_BODIES`` are
    described as if FastAPI read their body — same operation, same components, body documented."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=[_documented(route) for route in app.routes],
                separate_input_output_schemas=app.separate_input_output_schemas,
            )
        return app.openapi_schema

    return openapi


def _documented(route: Any) -> Any:
    """For a route of ``PARSED_BODIES``, a twin (never served) whose signature declares the body."""
    if not isinstance(route, APIRoute) or route.name not in PARSED_BODIES:
        return route
    name, model = PARSED_BODIES[route.name]
    signature = inspect.signature(route.endpoint)
    parameters = [p for p in signature.parameters.values() if p.name != "request"]
    parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=model))

    async def documentation_only(**_: Any) -> None:
        raise NotImplementedError

    documentation_only.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    documentation_only.__name__ = route.endpoint.__name__
    return APIRoute(
        route.path,
        documentation_only,
        methods=route.methods,
        name=route.name,
        summary=route.summary,
        description=route.description,
        response_model=route.response_model,
        status_code=route.status_code,
        tags=route.tags,
        responses=route.responses,
        response_description=route.response_description,
        operation_id=route.operation_id,
    )


def _routes(app: FastAPI) -> None:
    @app.get("/healthz", response_model=Liveness, tags=["health"])
    async def healthz() -> Liveness:
        """Liveness: the process answers."""
        return Liveness()

    @app.get(
        "/api/health/integrations",
        response_model=HealthStatus,
        tags=["health"],
        responses={
            503: {"model": HealthStatus, "description": "The customer store is down"},
        },
    )
    async def health(request: Request) -> Response:
        """Every source pinged (cached), breakers and cache statistics; 503 when unhealthy. No customer data."""
        status = await _services(request).manager.get_health_status()
        return Response(
            status.model_dump_json(by_alias=True),
            status_code=503 if status.status == "unhealthy" else 200,
            media_type="application/json",
        )

    @app.get(
        "/api/customers/{customer_id}/context",
        response_model=CustomerContext,
        tags=["customers"],
        responses={
            **AUTHED,
            **_problems(404),
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "JSON, or the prompt text"},
        },
    )
    async def context(
        request: Request,
        principal: Caller,
        customer_id: OwnCustomer,
        max_tokens: Annotated[int | None, Query(ge=50, le=1_000_000, description="Token budget, at least 50")] = None,
        format: Annotated[Literal["json", "prompt"], Query(description="json, or the counted prompt text")] = "json",
    ) -> Response:
        """The customer's context (own, or any with the service role). A customer's own view has no
        CRM-internal labels (stage, sentiment, tags)."""
        view: View = "full" if principal.is_service else "customer"
        ctx = await _services(request).manager.get_customer_context(customer_id, max_tokens, view=view)
        if format == "prompt":
            return PlainTextResponse(ctx.memoised("prompt", render_context))
        return Response(ctx.json_bytes(), media_type="application/json")

    @app.post(
        "/api/customers/{customer_id}/interactions",
        response_model=InteractionLogged,
        status_code=201,
        tags=["customers"],
        responses={**AUTHED, **_problems(404)},
    )
    async def log_interaction(request: Request, customer_id: ServiceCustomer) -> InteractionLogged:
        """Log an interaction in the CRM (service role only)."""
        interaction = await _json_body(request, Interaction)
        crm_id = await _services(request).manager.log_interaction(customer_id, interaction)
        return InteractionLogged(crm_id=crm_id)

    @app.get("/api/scheduling/slots", response_model=list[TimeSlot], tags=["scheduling"], responses=AUTHED)
    async def slots(
        request: Request,
        principal: Caller,
        start: Annotated[datetime, Query(description="ISO-8601 with a time zone")],
        end: Annotated[datetime, Query(description="ISO-8601 with a time zone")],
        type: Annotated[AppointmentType, Query()] = "coaching-session",
    ) -> list[TimeSlot]:
        """Free slots of one type between ``start`` and ``end`` (at most 62 days)."""
        del principal  # any authenticated caller may list slots
        try:
            date_range = DateRange(start_date=start, end_date=end)
        except ValueError as error:
            raise _invalid(error) from None
        return await _services(request).manager.get_available_slots(date_range, type)

    @app.post(
        "/api/customers/{customer_id}/appointments",
        response_model=Appointment,
        status_code=201,
        tags=["scheduling"],
        responses={**AUTHED, **_problems(404, 409)},
    )
    async def book(request: Request, customer_id: OwnCustomer) -> Appointment:
        """Book a slot for the customer (own, or any with the service role)."""
        booking = await _json_body(request, BookingRequest)
        return await _services(request).manager.book_appointment(
            customer_id, booking.slot, booking.type, booking_id=booking.booking_id
        )

    @app.delete(
        "/api/customers/{customer_id}/appointments/{appointment_id}",
        response_model=Appointment,
        tags=["scheduling"],
        responses={**AUTHED, **_problems(404)},
    )
    async def cancel(
        request: Request,
        customer_id: OwnCustomer,
        appointment_id: Annotated[str, Path(min_length=1, max_length=200)],
    ) -> Appointment:
        """Cancel one of the customer's own appointments."""
        return await _services(request).manager.cancel_appointment(customer_id, appointment_id)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics: request latency, per-source latency and errors, breakers, cache."""
        return Response(_services(request).metrics.render(), media_type="text/plain; version=0.0.4")


def _invalid(error: ValueError) -> IntegrationError:
    if isinstance(error, ValidationError) and error.errors():
        message = str(error.errors()[0]["msg"])
    else:
        message = str(error) or "invalid date range"
    return InvalidInput(message.removeprefix("Value error, "))


__all__ = ["BookingRequest", "InteractionLogged", "create_app"]
