"""Errors as JSON problem details (RFC 9457), from one mapping of the error tree. Never a stack trace."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from fearvana_integration.errors import (
    AppointmentNotFound,
    AuditUnavailable,
    AuthenticationFailed,
    BudgetTooSmall,
    CapabilityNotSupported,
    CircuitOpen,
    CustomerNotFound,
    Forbidden,
    IntegrationDisabled,
    IntegrationError,
    InvalidInput,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderResponseInvalid,
    QuotaExhausted,
    RateLimited,
    SlotUnavailable,
    StoreUnavailable,
    TooManyFailedAttempts,
)
from fearvana_integration.observability.audit import current_correlation_id

PROBLEM_BASE = "https://fearvana.dev/problems/"
# Details that would otherwise carry what the caller submitted (an id, a budget): said without it.
GENERIC_DETAILS: list[tuple[type[Exception], str]] = [
    (CustomerNotFound, "No customer with this id"),
    (AppointmentNotFound, "No such appointment for this customer"),
]
# A field named in a 422 is echoed only when it looks like one of ours (unknown keys can be anything).
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Messages that would quote part of the submitted value.
_QUOTING_MESSAGES = {"uuid_parsing": "Input should be a valid UUID"}

# (exception class, status, slug, title) — the first matching row wins, so subclasses come first.
MAPPING: list[tuple[type[Exception], int, str, str]] = [
    (AuthenticationFailed, 401, "authentication-failed", "Authentication failed"),
    (Forbidden, 403, "forbidden", "Forbidden"),
    (TooManyFailedAttempts, 429, "too-many-failed-attempts", "Too many failed authentication attempts"),
    (CustomerNotFound, 404, "customer-not-found", "Customer not found"),
    (AppointmentNotFound, 404, "appointment-not-found", "Appointment not found"),
    (SlotUnavailable, 409, "slot-unavailable", "Slot unavailable"),
    (BudgetTooSmall, 422, "budget-too-small", "Token budget too small"),
    (InvalidInput, 422, "invalid-input", "Invalid input"),
    (ProviderRejected, 422, "provider-rejected", "The provider rejected the request"),
    (CapabilityNotSupported, 501, "capability-not-supported", "Not supported by this provider"),
    (IntegrationDisabled, 503, "integration-disabled", "Integration not available"),
    (CircuitOpen, 503, "circuit-open", "Source temporarily unavailable"),
    (AuditUnavailable, 503, "audit-unavailable", "The request cannot be recorded in the audit trail"),
    (StoreUnavailable, 503, "store-unavailable", "Customer store unavailable"),
    (RateLimited, 503, "provider-rate-limited", "Provider rate limit reached"),
    (QuotaExhausted, 503, "provider-quota-exhausted", "Provider quota exhausted"),
    (ProviderAuthError, 502, "provider-auth-error", "Provider refused our credentials"),
    (ProviderResponseInvalid, 502, "provider-response-invalid", "Provider answered with an invalid response"),
    (ProviderError, 503, "provider-unavailable", "Provider unavailable"),
]


def problem(
    status: int, slug: str, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A problem-details response carrying the request's correlation id."""
    body = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "correlationId": current_correlation_id(),
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


def from_error(error: IntegrationError) -> JSONResponse:
    """The response for one of our errors."""
    for cls, status, slug, title in MAPPING:
        if isinstance(error, cls):
            headers: dict[str, str] = {}
            extra: dict[str, Any] = {}
            if isinstance(error, AuthenticationFailed):
                headers["WWW-Authenticate"] = 'Bearer realm="fearvana-integration"'
            if isinstance(error, TooManyFailedAttempts):
                headers["Retry-After"] = str(max(int(error.retry_after + 0.999), 1))
            if isinstance(error, RateLimited) and error.retry_after:
                headers["Retry-After"] = str(max(int(error.retry_after + 0.999), 1))
            if isinstance(error, CircuitOpen) and error.next_attempt_at is not None:
                extra["nextAttemptAt"] = error.next_attempt_at.isoformat().replace("+00:00", "Z")
            if isinstance(error, SlotUnavailable):
                extra["alternatives"] = [slot.to_json_dict() for slot in error.alternatives]
            detail = next((text for kind, text in GENERIC_DETAILS if isinstance(error, kind)), str(error))
            if isinstance(error, BudgetTooSmall):
                detail = f"max_tokens must be at least {error.minimum}"
            return problem(status, slug, title, detail, headers=headers or None, **extra)
    return problem(500, "internal-error", "Internal error", "The request could not be completed")


async def integration_error_handler(_request: Request, error: Exception) -> JSONResponse:
    """FastAPI handler for IntegrationError."""
    assert isinstance(error, IntegrationError)
    return from_error(error)


async def validation_error_handler(_request: Request, error: Exception) -> JSONResponse:
    """422 naming each invalid field, without echoing the submitted values."""
    assert isinstance(error, RequestValidationError)
    problems = []
    for item in error.errors():
        problems.append({"field": _field(item.get("loc", ())), "message": _message(item)})
    detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return problem(422, "validation-error", "Invalid request", detail, errors=problems)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    """``query.end``, ``slot.startTime``, ``metadata.<key>`` (a body's own fields without ``body.``)."""
    parts = list(loc)
    if len(parts) > 1 and parts[0] == "body":
        parts = parts[1:]
    shown = [str(part) if isinstance(part, int) or _FIELD_NAME.match(str(part)) else "<key>" for part in parts]
    return ".".join(shown) or "request"


def _message(item: dict[str, Any]) -> str:
    message = _QUOTING_MESSAGES.get(str(item.get("type")), str(item.get("msg", "invalid")))
    return message.removeprefix("Value error, ")


async def http_error_handler(_request: Request, error: Exception) -> JSONResponse:
    """Framework-raised HTTP errors (unknown route, wrong method, unreadable body) as problem details too."""
    assert isinstance(error, HTTPException)
    if error.status_code == 400:
        # FastAPI raises a bare 400 when the body cannot even be decoded (e.g. not UTF-8); to a client that is
        # the same mistake as malformed JSON, which is a 422 — one status for "your body is not valid".
        detail = "body: not readable as UTF-8 JSON"
        errors = [{"field": "body", "message": detail}]
        return problem(422, "validation-error", "Invalid request", detail, errors=errors)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
    title = {404: "Not found", 405: "Method not allowed"}.get(error.status_code, "HTTP error")
    detail = error.detail if isinstance(error.detail, str) else title
    return problem(error.status_code, slug, title, detail, headers=dict(error.headers) if error.headers else None)
