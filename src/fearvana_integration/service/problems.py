"""Errors as JSON problem details (RFC 9457), from one mapping of the error tree. Never a stack trace."""

from __future__ import annotations

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
            return problem(status, slug, title, str(error), headers=headers or None, **extra)
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
        location = ".".join(str(part) for part in item.get("loc", ()) if part != "body") or "request"
        problems.append({"field": location, "message": str(item.get("msg", "invalid"))})
    detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return problem(422, "validation-error", "Invalid request", detail, errors=problems)


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
