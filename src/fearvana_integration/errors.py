"""The one exception tree of fearvana-integration.

Every error a caller can see derives from :class:`IntegrationError`, and each class says what
to do next::

    IntegrationError
    ├── ConfigurationError            fix the settings (missing key, unknown provider + "did you mean")
    ├── IntegrationDisabled           "Integration not available: CRM is disabled"
    ├── ProviderError                 .source .operation .retryable; counts toward the breaker unless noted
    │   ├── ProviderUnavailable       retryable: connect/read errors, 5xx
    │   │   ├── ProviderTimeout
    │   │   └── RateLimited           retryable after .retry_after (HTTP 429 with a short wait)
    │   ├── QuotaExhausted            not retryable until .resets_at
    │   ├── CircuitOpen               raised without calling out; .next_attempt_at
    │   │   └── StoreCircuitOpen      the store's breaker (also a StoreUnavailable)
    │   ├── ProviderAuthError         not retryable (401/403, expired or revoked credentials)
    │   ├── ProviderRejected          not retryable, not counted (other 4xx: our request was wrong)
    │   └── ProviderResponseInvalid   the vendor's payload failed validation
    ├── CapabilityNotSupported        this vendor cannot do that operation (not counted)
    ├── CustomerNotFound
    ├── AppointmentNotFound           not the customer's appointment, or no such appointment
    ├── SlotUnavailable               .alternatives
    ├── AccessDenied
    │   ├── AuthenticationFailed      401
    │   ├── Forbidden                 403
    │   └── TooManyFailedAttempts     429 + Retry-After
    ├── BudgetTooSmall                max_tokens under the minimum
    ├── InvalidInput                  an argument is malformed (e.g. neither a UUID nor an email)
    └── StoreUnavailable
        └── AuditUnavailable          neither the audit spool nor the database can record the request

Nothing outside an adapter or the store ever sees an httpx, SQLAlchemy or vendor exception:
they are translated at that boundary, always with ``raise … from e``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from fearvana_integration.domain.scheduling import TimeSlot

SOURCE_LABELS = {"supabase": "customer store", "crm": "CRM", "scheduling": "scheduling", "email": "email"}


def source_label(source: str) -> str:
    """Human name of a source key (``crm`` → ``CRM``)."""
    return SOURCE_LABELS.get(source, source)


class IntegrationError(Exception):
    """Base of every error this package raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigurationError(IntegrationError):
    """The settings are wrong or incomplete; fix the environment and retry."""


class IntegrationDisabled(IntegrationError):
    """A write was asked of a source switched off with ``*_ENABLED=false``."""

    def __init__(self, source: str) -> None:
        super().__init__(f"Integration not available: {source_label(source)} is disabled")
        self.source = source


class ProviderError(IntegrationError):
    """A source (store or provider) failed. ``counts_for_breaker`` says whether it trips breakers."""

    retryable: bool = False
    counts_for_breaker: bool = True

    def __init__(self, message: str, *, source: str = "", operation: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.operation = operation


class ProviderUnavailable(ProviderError):
    """Connection failed, or the provider answered 5xx. Retry later."""

    retryable = True


class ProviderTimeout(ProviderUnavailable):
    """The provider did not answer within its timeout."""


class RateLimited(ProviderUnavailable):
    """HTTP 429 with a short wait; retry after ``retry_after`` seconds."""

    def __init__(
        self, message: str, *, source: str = "", operation: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message, source=source, operation=operation)
        self.retry_after = retry_after


class QuotaExhausted(ProviderError):
    """A daily or rolling quota is used up; nothing succeeds before ``resets_at``."""

    def __init__(
        self, message: str, *, source: str = "", operation: str = "", resets_at: datetime | None = None
    ) -> None:
        super().__init__(message, source=source, operation=operation)
        self.resets_at = resets_at


class CircuitOpen(ProviderError):
    """The source's breaker is open; the call was refused without touching the network."""

    counts_for_breaker = False

    def __init__(self, source: str, *, next_attempt_at: datetime | None = None, operation: str = "") -> None:
        super().__init__(f"Circuit breaker is open for {source_label(source)}", source=source, operation=operation)
        self.next_attempt_at = next_attempt_at


class StoreUnavailable(IntegrationError):
    """The customer store cannot be read and no stale copy exists."""


class StoreCircuitOpen(CircuitOpen, StoreUnavailable):
    """The store's breaker is open after repeated failures: refused at once, retried at ``next_attempt_at``."""

    def __init__(self, *, next_attempt_at: datetime | None = None, operation: str = "") -> None:
        super().__init__("supabase", next_attempt_at=next_attempt_at, operation=operation)
        when = f" at {next_attempt_at.strftime('%H:%M:%S UTC')}" if next_attempt_at else " shortly"
        self.message = f"Customer store unavailable: it failed repeatedly; the next attempt is{when}"


AuthProblem = Literal["expired", "missing_scope", "invalid"]


class ProviderAuthError(ProviderError):
    """The provider refused our credentials (401/403). Fix the key; retrying will not help.

    ``reason``: ``expired`` (a token past its life or revoked: refresh or reconnect), ``missing_scope``
    (the token works but may not do this: grant the scope), ``invalid`` (anything else). Health and the
    AI's notes show it instead of a generic outage.
    """

    def __init__(self, message: str, *, source: str = "", operation: str = "", reason: AuthProblem = "invalid") -> None:
        super().__init__(message, source=source, operation=operation)
        self.reason: AuthProblem = reason


AUTH_ADVICE: dict[str, str] = {
    "expired": "its credentials have expired or were revoked: reconnect the account or renew the token",
    "missing_scope": "its credentials lack a permission this needs: grant the scope (or use an admin's token)",
    "invalid": "it refused our credentials: check the key",
}


def auth_problem(error: ProviderAuthError) -> str:
    """The reason a source is unavailable because of its credentials, with what to do about it."""
    return f"{source_label(error.source) if error.source else 'the provider'}: {AUTH_ADVICE[error.reason]} ({error})"


class ProviderRejected(ProviderError):
    """The provider rejected our request as invalid (other 4xx). Not the provider's fault."""

    counts_for_breaker = False


class ProviderResponseInvalid(ProviderError):
    """The provider's payload did not have the documented shape."""


class CapabilityNotSupported(IntegrationError):
    """This provider cannot do the operation at all (e.g. tickets on Pipedrive)."""

    def __init__(self, provider: str, operation: str) -> None:
        super().__init__(f"{provider} does not support {operation}")
        self.provider = provider
        self.operation = operation


class CustomerNotFound(IntegrationError):
    """No customer with that id or email exists in the customer store."""

    def __init__(self, reference: str) -> None:
        super().__init__(f"Customer not found: {reference}")
        self.reference = reference


class AppointmentNotFound(IntegrationError):
    """The appointment does not exist or does not belong to this customer (indistinguishable on purpose)."""

    def __init__(self, appointment_id: str) -> None:
        super().__init__(f"Appointment not found: {appointment_id}")
        self.appointment_id = appointment_id


class SlotUnavailable(IntegrationError):
    """The requested slot is taken or no longer offered; ``alternatives`` lists free slots nearby."""

    def __init__(self, message: str, alternatives: Sequence[TimeSlot] = ()) -> None:
        super().__init__(message)
        self.alternatives = list(alternatives)


class AccessDenied(IntegrationError):
    """Base of the HTTP access errors."""


class AuthenticationFailed(AccessDenied):
    """Missing or invalid credentials (HTTP 401)."""


class Forbidden(AccessDenied):
    """Valid credentials, but not allowed to do this (HTTP 403)."""


class TooManyFailedAttempts(AccessDenied):
    """The client is blocked after repeated failed authentications (HTTP 429)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BudgetTooSmall(IntegrationError):
    """``max_tokens`` is below the minimum a useful context needs."""

    def __init__(self, max_tokens: int, minimum: int) -> None:
        super().__init__(f"max_tokens must be at least {minimum} (got {max_tokens})")
        self.max_tokens = max_tokens
        self.minimum = minimum


class InvalidInput(IntegrationError):
    """An argument is malformed; the message names it."""


class AuditUnavailable(StoreUnavailable):
    """Neither the audit spool nor the database can record a request: it is refused, never unaudited."""


__all__ = [
    "AccessDenied",
    "AppointmentNotFound",
    "AuditUnavailable",
    "AuthenticationFailed",
    "BudgetTooSmall",
    "CapabilityNotSupported",
    "CircuitOpen",
    "ConfigurationError",
    "CustomerNotFound",
    "Forbidden",
    "IntegrationDisabled",
    "IntegrationError",
    "InvalidInput",
    "ProviderAuthError",
    "ProviderError",
    "ProviderRejected",
    "ProviderResponseInvalid",
    "ProviderTimeout",
    "ProviderUnavailable",
    "QuotaExhausted",
    "RateLimited",
    "SlotUnavailable",
    "StoreCircuitOpen",
    "StoreUnavailable",
    "TooManyFailedAttempts",
    "source_label",
]
