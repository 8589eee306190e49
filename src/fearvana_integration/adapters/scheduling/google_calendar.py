"""Google Calendar as the scheduling platform: Calendar API v3 over httpx, tokens minted by google-auth.

Endpoints used (paths under ``SCHEDULING_ENDPOINT``, default ``https://www.googleapis.com/calendar/v3``;
``{cal}`` is ``SCHEDULING_CALENDAR_ID``, default ``primary``)
---------------------------------------------------------------------------------------------------------
``POST {token_url}``                             service account: JWT-bearer grant (``sub`` = the coach);
                                                 OAuth: ``grant_type=refresh_token`` — both built by google-auth
``GET  /calendars/{cal}/events``                 ``privateExtendedProperty=customerId=<id>`` (our bookings) and
                                                 ``q=<email>`` (sessions made by hand), ``singleEvents=true``,
                                                 ``orderBy=startTime``, ``maxResults=2500``, ``pageToken`` paging;
                                                 ``timeMin``/``timeMax`` for list_appointments; ``ping``
``POST /freeBusy``                               busy periods of the calendar (availability, the booking re-check)
``POST /calendars/{cal}/events``                 ``sendUpdates=all&conferenceDataVersion=1``, with our event id
``GET  /calendars/{cal}/events/{id}``            after a 409 duplicate, before a cancel, when a re-check finds busy
``DELETE /calendars/{cal}/events/{id}``          ``sendUpdates=all`` (204; 410 = already gone)

Requests: a scheduling context is two concurrent ``events.list`` requests (one page each up to 2,500
sessions); a slot search of any range up to 62 days is one ``freeBusy`` request; a booking is a
``freeBusy`` plus an insert; a cancel is a get plus a delete. The first call also mints a token.

Credentials (google-auth, wrapped at this module's boundary)
------------------------------------------------------------
* Service account + domain-wide delegation: ``SCHEDULING_GOOGLE_SERVICE_ACCOUNT_FILE`` (the JSON key) and
  ``SCHEDULING_GOOGLE_SUBJECT`` (the coach's Workspace address). Scopes requested: :data:`SCOPES` — the
  Workspace admin authorises exactly these two for the service account's client id. A subject is required:
  a service account without delegation cannot invite attendees.
* OAuth refresh token: ``SCHEDULING_OAUTH_CLIENT_ID`` / ``_CLIENT_SECRET`` / ``_REFRESH_TOKEN``, consented
  with :data:`SCOPES`; the refresh sends no ``scope``, so the token keeps what the user consented to.
* ``SCHEDULING_OAUTH_TOKEN_URL`` overrides the token endpoint for both (else the key file's ``token_uri``,
  else ``https://oauth2.googleapis.com/token``).
* One token in memory. Refreshing runs google-auth in a worker thread (``asyncio.to_thread``: it signs
  the JWT with RSA and is synchronous); its HTTP request is sent on the runtime's async client, handed back
  to the event loop, so the loop never blocks and every request shares one client. Single flight: callers
  that need a token while a refresh is running wait for that one refresh (and share its failure). A token
  is replaced 5 minutes before it expires, and after a 401 (once; a second 401 is ProviderAuthError).
  google-auth's own retries (sleeping 1-2 s in a loop on 5xx/429) are bypassed: the transport raises our
  error at once and the breaker and the caller's deadline decide, as for every other request.
* Token refusals: ``invalid_grant`` (revoked/expired refresh token, a deleted key, a JWT refused) →
  ProviderAuthError ``reason="expired"``; ``invalid_scope`` / ``unauthorized_client`` (delegation not
  authorised for these scopes) → ``missing_scope``; anything else → ``invalid``. 429 → RateLimited;
  5xx → ProviderUnavailable.

Slots (Google has no slot concept)
----------------------------------
The working periods of ``SCHEDULING_WORKING_HOURS`` in ``SCHEDULING_TIME_ZONE`` (DST-aware: 09:00 local
is 14:00 UTC in winter, 13:00 in summer in New York), from now on, cut into
``SCHEDULING_SLOT_STEP_MINUTES`` steps counted from each period's opening, each slot as long as the type's
duration (``SCHEDULING_DURATIONS``), fully inside the period and the range; minus the calendar's busy
periods from one ``freeBusy`` request, each widened by ``SCHEDULING_BUFFER_MINUTES`` on both sides.
Earliest first.

Booking and idempotency
-----------------------
1. The slot must start in the future and lie inside working hours (any minute, not only the grid),
   else SlotUnavailable with alternatives.
2. Under a per-adapter lock (coroutines of this process; other processes rely on the caller's booking
   lock — Google has no atomic reservation), ``freeBusy`` for ``[start - buffer, end + buffer)``.
3. The event id is ours: 32 base32hex characters of SHA-256 of ``booking:<booking_id>`` (or
   ``slot:<customer id>|<start>|<type>`` without a booking id). A retry therefore inserts the same id:
   a 409 ``duplicate`` → GET it → the same customer's live event is returned; another customer's is
   SlotUnavailable. A cancelled event keeps its id for ever, so a cancelled one is skipped and the next
   generation id (``<id>g1``, ``<id>g2`` …) tried — retries walk the same sequence.
4. If the re-check finds the slot busy, the same id sequence is looked up first: our own booking of this
   customer (the retry of a booking whose answer was lost) is returned; otherwise SlotUnavailable with
   alternatives (``alternatives_near``: one more ``freeBusy``).
5. The insert stamps ``extendedProperties.private`` ``{customerId, appointmentType, bookingId?}``, invites
   the customer (``sendUpdates=all``: Google e-mails the invitation) and asks for a Google Meet link
   (``conferenceDataVersion=1`` + ``createRequest``); the link is ``join_url`` (``null`` while Google
   is still creating it or where Meet is switched off).

Reading sessions
----------------
* A customer's sessions: events stamped with their ``customerId`` plus events the ``q=<email>`` search
  finds that list the email among ``attendees`` (case-insensitive) and carry no other customer's stamp —
  sessions the coach made by hand count too. All-day events are not sessions.
* Status: ``cancelled`` → cancelled; the customer declined the invitation → cancelled; our private
  ``appointmentStatus`` property ``no-show`` → no-show (``completed`` → completed); otherwise scheduled
  until the event ends, completed after.
* Type: the ``appointmentType`` stamp, else ``coaching-session``. Notes: the description as plain text
  (Google keeps HTML there). Outcome: the private ``outcome`` property. Join URL: ``hangoutLink``, else
  the conference's video entry point.
* list_appointments: timed, not cancelled events starting in the range that have our stamp or an invitee
  other than the coach (the coach's own blocks are not sessions); an invitee who declined is left out.
* cancel_appointment: only an event stamped with this customer's id (a hand-made one is
  AppointmentNotFound: we do not delete what we did not create); a session that has started is
  ProviderRejected.

Errors
------
Google's envelope ``{"error": {"code", "message", "errors": [{"domain", "reason"}], "details"?}}``:
403/429 ``rateLimitExceeded``/``userRateLimitExceeded`` → RateLimited (``Retry-After`` if sent — Google
documents none — else :data:`RATE_LIMIT_RETRY_SECONDS`); ``quotaExceeded`` / "Calendar usage limits
exceeded" (and any other ``usageLimits`` reason) → QuotaExhausted, ``resets_at`` one hour ahead (Google
publishes no reset; the calendar may stay limited for hours, so nothing should try sooner);
403 ``insufficientPermissions`` / ``ACCESS_TOKEN_SCOPE_INSUFFICIENT`` → ProviderAuthError
``missing_scope``; other 401/403 → ProviderAuthError; the rest by the shared rules of ``adapters/http.py``.

Facts PROVIDERS.md marks unconfirmed, and how they were decided
---------------------------------------------------------------
* Maximum ``freeBusy`` span: taken as 90 days (observed "The requested time range is too long." beyond);
  longer queries are split, which never happens for our ranges (at most 62 days).
* The freebusy scope: ``calendar.events.freebusy`` (also covers a calendar shared with the coach), next to
  ``calendar.events``.
* Duplicate-id detection "may not always" happen at creation: a 409 is followed by a GET; a 409 whose id
  we cannot read is treated like a cancelled one (next generation).
* Re-tiered quotas for new Cloud projects: no numbers relied on; only the error reasons are acted on.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import copy
import hashlib
import html
import json
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, TypeVar, cast
from urllib.parse import quote, urlsplit
from uuid import UUID

import google.auth.exceptions
import google.auth.transport
import httpx
from google.oauth2 import credentials as google_user_credentials
from google.oauth2 import service_account as google_service_account
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from fearvana_integration.adapters.base import SchedulingAdapter
from fearvana_integration.adapters.http import (
    SHORT_WAIT_SECONDS,
    VendorFailure,
    VendorHttp,
    VendorPolicy,
    collect,
    concurrently,
    map_transport_error,
    parse_retry_after,
)
from fearvana_integration.clock import Clock
from fearvana_integration.config import Settings
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.domain.scheduling import (
    APPOINTMENT_TYPES,
    UPCOMING_WINDOW,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    DateRange,
    ListedAppointment,
    SchedulingContext,
    TimeSlot,
    build_scheduling_context,
)
from fearvana_integration.domain.working_hours import WorkingHours, parse_durations
from fearvana_integration.errors import (
    AppointmentNotFound,
    ConfigurationError,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderResponseInvalid,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    SlotUnavailable,
)
from fearvana_integration.observability.redaction import redact_text

PROVIDER = "Google Calendar"
SOURCE = "scheduling"
DEFAULT_BASE_URL = "https://www.googleapis.com/calendar/v3"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
SCOPES: tuple[str, ...] = (
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.events.freebusy",
)
"""What a token needs: read/write events, and query free/busy (``calendar.events`` alone may not)."""

# The longest freeBusy window sent in one request (unconfirmed limit; see the module docstring).
FREEBUSY_MAX_SPAN = timedelta(days=90)
# The largest page Google serves: a customer's whole history is one page for any realistic coach.
PAGE_SIZE = 2500
# A per-user burst limit (600 requests/min, sliding) clears within seconds; Google sends no Retry-After.
RATE_LIMIT_RETRY_SECONDS = 10.0
# "Calendar usage limits exceeded" can last hours and Google names no reset: nobody should try sooner.
QUOTA_BACKOFF = timedelta(hours=1)
# Replace a token this long before Google says it expires (google-auth uses 3 min 45 s).
TOKEN_REFRESH_MARGIN_SECONDS = 300.0
TOKEN_REQUEST_TIMEOUT_SECONDS = 10.0
DEFAULT_TYPE: AppointmentType = "coaching-session"
EVENT_ID_LENGTH = 32  # base32hex characters: 160 bits of SHA-256
MAX_ID_GENERATIONS = 10
MAX_NOTES_CHARS = 4000

PROPERTY_CUSTOMER = "customerId"
PROPERTY_BOOKING = "bookingId"
PROPERTY_TYPE = "appointmentType"
PROPERTY_STATUS = "appointmentStatus"
PROPERTY_OUTCOME = "outcome"

_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
_LABELS: dict[str, str] = {
    "coaching-session": "coaching session",
    "check-in": "check-in",
    "assessment": "assessment",
    "follow-up": "follow-up",
    "workshop": "workshop",
}
_TAG = re.compile(r"<[^>]+>")
_LINE_BREAK = re.compile(r"<\s*(br\s*/?|/p|/div|/li)\s*>", re.IGNORECASE)

W = TypeVar("W", bound=BaseModel)

# The contract method a request belongs to (tokens are minted inside VendorHttp's auth hook, which knows
# no operation), and the token a request was sent with (so a 401 replaces that token only).
_OPERATION: ContextVar[str] = ContextVar("google_calendar_operation", default="")
_SENT_TOKEN: ContextVar[str | None] = ContextVar("google_calendar_sent_token", default=None)


# Credentials ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceAccountKey:
    """A service account's parsed JSON key and the Workspace user it acts for (domain-wide delegation)."""

    info: Mapping[str, object] = field(repr=False)
    subject: str


@dataclass(frozen=True)
class OAuthRefreshToken:
    """An OAuth client and a user's refresh token for it."""

    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr


GoogleCredentials = ServiceAccountKey | OAuthRefreshToken

_KEY_FILE = "SCHEDULING_GOOGLE_SERVICE_ACCOUNT_FILE"
_SUBJECT = "SCHEDULING_GOOGLE_SUBJECT"
_OAUTH = ("SCHEDULING_OAUTH_CLIENT_ID", "SCHEDULING_OAUTH_CLIENT_SECRET", "SCHEDULING_OAUTH_REFRESH_TOKEN")
_TOKEN_URL = "SCHEDULING_OAUTH_TOKEN_URL"


class _KeyFile(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    client_email: str = Field(min_length=3)
    private_key: str = Field(min_length=1)
    token_uri: str | None = None


def load_service_account_key(path: str) -> dict[str, object]:
    """The service-account key file at ``path``, checked; ConfigurationError naming the variable otherwise.

    The key itself is parsed by google-auth here, so a bad key is a configuration error at start-up and
    not an auth error on the first request. The key's content never appears in a message.
    """
    where = f"{_KEY_FILE} ({path})"
    try:
        raw = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"{where} cannot be read: {error.strerror or type(error).__name__}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{where} is not a JSON key file (not UTF-8 text)") from None
    try:
        info = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"{where} is not a JSON key file ({error.msg} at line {error.lineno})") from None
    if not isinstance(info, dict):
        raise ConfigurationError(f"{where} is not a service-account key (a JSON object is expected)")
    try:
        checked = _KeyFile.model_validate(info)
    except ValidationError as error:
        missing = sorted({str(item["loc"][0]) for item in error.errors() if item["loc"]})
        raise ConfigurationError(
            f"{where} is not a service-account key (missing or invalid: {', '.join(missing)})"
        ) from None
    if checked.type != "service_account":
        raise ConfigurationError(
            f'{where} is a {checked.type!r} credential, not a service-account key ("type": "service_account")'
        )
    try:
        _service_account_credentials(info, subject=None)
    except (ValueError, TypeError, IndexError, google.auth.exceptions.GoogleAuthError):
        raise ConfigurationError(f"{where}: its private_key is not a valid PEM RSA key") from None
    return cast(dict[str, object], info)


def credentials_from_settings(settings: Settings) -> GoogleCredentials:
    """The one complete credential set in the settings; ConfigurationError naming what is missing."""
    key_file = _text(settings.scheduling_google_service_account_file)
    subject = _text(settings.scheduling_google_subject)
    oauth = (
        _text(settings.scheduling_oauth_client_id),
        _secret(settings.scheduling_oauth_client_secret),
        _secret(settings.scheduling_oauth_refresh_token),
    )
    token_url = _text(settings.scheduling_oauth_token_url)
    if token_url is not None:
        parts = urlsplit(token_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(f"Invalid environment variable {_TOKEN_URL}: must be an http(s) URL with a host")
    if key_file is not None and oauth[2] is not None:
        raise ConfigurationError(
            f"SCHEDULING_PROVIDER=google-calendar: set either {_KEY_FILE} (service account) or "
            f"{_OAUTH[2]} (OAuth), not both"
        )
    if key_file is not None:
        if subject is None:
            raise ConfigurationError(
                f"Missing required environment variable: {_SUBJECT} (the coach's Workspace address the service "
                f"account acts for with domain-wide delegation; SCHEDULING_PROVIDER=google-calendar)"
            )
        return ServiceAccountKey(info=load_service_account_key(key_file), subject=subject)
    if subject is not None or any(value is not None for value in oauth):
        if subject is not None and all(value is None for value in oauth):
            raise ConfigurationError(
                f"Missing required environment variable: {_KEY_FILE} ({_SUBJECT} is set; "
                "SCHEDULING_PROVIDER=google-calendar)"
            )
        missing = [name for name, value in zip(_OAUTH, oauth, strict=True) if value is None]
        if missing:
            raise ConfigurationError(
                f"Missing required environment variable{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
                "(OAuth refresh-token sign-in; SCHEDULING_PROVIDER=google-calendar)"
            )
        client_id, client_secret, refresh_token = (value or "" for value in oauth)
        return OAuthRefreshToken(
            client_id=client_id, client_secret=SecretStr(client_secret), refresh_token=SecretStr(refresh_token)
        )
    raise ConfigurationError(
        f"Missing required environment variables for SCHEDULING_PROVIDER=google-calendar: either {_KEY_FILE} "
        f"and {_SUBJECT} (service account with domain-wide delegation) or {', '.join(_OAUTH)} (OAuth)"
    )


def _text(value: str | None) -> str | None:
    return value.strip() if value is not None and value.strip() else None


def _secret(value: SecretStr | None) -> str | None:
    return _text(value.get_secret_value()) if value is not None else None


# google-auth, wrapped (its functions carry no type hints) ---------------------------------------------


class _Refreshable(Protocol):
    """What this module uses of a google-auth credentials object."""

    token: object

    def refresh(self, request: google.auth.transport.Request) -> None:
        """Mint a new access token through ``request`` (blocking)."""


def _service_account_credentials(info: Mapping[str, object], *, subject: str | None) -> _Refreshable:
    factory: Any = google_service_account.Credentials.from_service_account_info
    return cast(_Refreshable, factory(dict(info), scopes=list(SCOPES), subject=subject))


def _google_credentials(credentials: GoogleCredentials, token_url: str | None) -> _Refreshable:
    if isinstance(credentials, ServiceAccountKey):
        info = dict(credentials.info)
        # The key's token_uri is the JWT's audience and the endpoint; an override points both at a fake.
        info["token_uri"] = token_url or info.get("token_uri") or DEFAULT_TOKEN_URL
        return _service_account_credentials(info, subject=credentials.subject)
    factory: Any = google_user_credentials.Credentials
    return cast(
        _Refreshable,
        factory(
            None,
            refresh_token=credentials.refresh_token.get_secret_value(),
            token_uri=token_url or DEFAULT_TOKEN_URL,
            client_id=credentials.client_id,
            client_secret=credentials.client_secret.get_secret_value(),
        ),
    )


class _TokenFailure(Exception):
    """Carries our error out of google-auth untouched (it only catches its own exception types)."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.message)
        self.error = error


class _TokenAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    access_token: str = Field(min_length=1)
    expires_in: int = Field(3600, ge=1)


class _OAuthRefusal(BaseModel):
    model_config = ConfigDict(extra="ignore")

    error: str = ""
    error_description: str = ""


class _TransportResponse(google.auth.transport.Response):
    """A finished token-endpoint response in the shape google-auth reads."""

    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self._status, self._headers, self._data = status, dict(headers), data

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers."""
        return self._headers

    @property
    def data(self) -> bytes:
        """The raw body."""
        return self._data


class _LoopTransport(google.auth.transport.Request):
    """google-auth's transport interface, called in a worker thread, sending on the event loop's client.

    Success and OAuth refusals (4xx) go back to google-auth; a throttle, an outage, a malformed token or a
    timeout is raised as our error at once (google-auth would otherwise sleep and retry in the thread).
    """

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop
        self.expires_in: int | None = None

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: object,
    ) -> _TransportResponse:
        """Send one token request on the loop and wait for it (runs in the worker thread)."""
        future = asyncio.run_coroutine_threadsafe(self._send(url, method, body, headers), self._loop)
        try:
            return future.result(TOKEN_REQUEST_TIMEOUT_SECONDS + 1)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise _TokenFailure(
                ProviderTimeout(f"{PROVIDER}'s token endpoint did not answer in time", source=SOURCE)
            ) from None
        except concurrent.futures.CancelledError:
            raise _TokenFailure(
                ProviderUnavailable(f"{PROVIDER}'s token request was cancelled", source=SOURCE)
            ) from None

    async def _send(
        self, url: str, method: str, body: bytes | None, headers: Mapping[str, str] | None
    ) -> _TransportResponse:
        try:
            response = await self._client.request(
                method, url, content=body, headers=dict(headers or {}), timeout=TOKEN_REQUEST_TIMEOUT_SECONDS
            )
        except httpx.HTTPError as error:
            raise _TokenFailure(
                map_transport_error(error, provider=f"{PROVIDER}'s token endpoint", source=SOURCE, operation="")
            ) from None
        status = response.status_code
        if status == 200:
            try:
                answer = _TokenAnswer.model_validate_json(response.content)
            except ValidationError:
                raise _TokenFailure(
                    ProviderResponseInvalid(
                        f"{PROVIDER}'s token endpoint sent a response that is not a token", source=SOURCE
                    )
                ) from None
            self.expires_in = answer.expires_in
        elif status == 429:
            wait = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
            raise _TokenFailure(
                RateLimited(
                    f"{PROVIDER}'s token endpoint answered HTTP 429 (too many token requests)",
                    source=SOURCE,
                    retry_after=wait if wait is not None else RATE_LIMIT_RETRY_SECONDS,
                )
            )
        elif not 400 <= status < 500 or status == 408:  # 5xx, timeouts, anything but an OAuth refusal
            raise _TokenFailure(
                ProviderUnavailable(f"{PROVIDER}'s token endpoint answered HTTP {status}", source=SOURCE)
            )
        return _TransportResponse(status, response.headers, response.content)


def _refusal_error(error: google.auth.exceptions.RefreshError) -> ProviderAuthError:
    """google-auth's RefreshError (an OAuth refusal) as ProviderAuthError with its reason."""
    data = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], Mapping) else {}
    try:
        refusal = _OAuthRefusal.model_validate(data)
    except ValidationError:
        refusal = _OAuthRefusal()
    detail = ": ".join(part for part in (refusal.error, refusal.error_description) if part)
    detail = redact_text(detail or str(error.args[0] if error.args else "refused"))[:200]
    if refusal.error == "invalid_grant":
        return ProviderAuthError(
            f"{PROVIDER} refused to renew access ({detail}): the refresh token was revoked or expired, or the "
            "service-account key was deleted — reconnect the calendar",
            source=SOURCE,
            reason="expired",
        )
    if refusal.error in ("invalid_scope", "unauthorized_client"):
        return ProviderAuthError(
            f"{PROVIDER} refused the scopes ({detail}): grant {', '.join(SCOPES)}",
            source=SOURCE,
            reason="missing_scope",
        )
    return ProviderAuthError(f"{PROVIDER} refused the credentials ({detail})", source=SOURCE)


class _TokenSource:
    """The one access token: minted on first use, replaced before expiry or after a 401, single flight."""

    def __init__(self, credentials: _Refreshable, client: httpx.AsyncClient, clock: Clock) -> None:
        self._credentials = credentials
        self._client = client
        self._clock = clock
        self._token: str | None = None
        self._valid_until = 0.0
        self._inflight: asyncio.Future[str] | None = None

    async def token(self, *, stale: str | None = None) -> str:
        """A usable token other than ``stale`` (the one a 401 just refused)."""
        current = self._token
        if current is not None and current != stale and self._clock.monotonic() < self._valid_until:
            return current
        if self._inflight is None:
            # A task of its own: a caller giving up (its deadline) does not abort the refresh others wait for.
            self._inflight = asyncio.ensure_future(self._refresh(_OPERATION.get()))
            self._inflight.add_done_callback(self._finished)
        try:
            return await asyncio.shield(self._inflight)
        except ProviderError as error:
            raise _again(error, _OPERATION.get()) from None

    def _finished(self, future: asyncio.Future[str]) -> None:
        if self._inflight is future:
            self._inflight = None
        if not future.cancelled():
            future.exception()  # retrieved here: a failure nobody waits for any more is not "never retrieved"

    async def _refresh(self, operation: str) -> str:
        transport = _LoopTransport(self._client, asyncio.get_running_loop())
        try:
            token = await asyncio.to_thread(self._blocking_refresh, transport)
        except _TokenFailure as failure:
            failure.error.operation = operation
            raise failure.error from None
        lifetime = float(transport.expires_in or 3600)
        self._token = token
        self._valid_until = self._clock.monotonic() + lifetime - min(TOKEN_REFRESH_MARGIN_SECONDS, lifetime / 2)
        return token

    def _blocking_refresh(self, transport: _LoopTransport) -> str:
        """google-auth's refresh (signs the JWT, posts the grant); in a worker thread."""
        try:
            self._credentials.refresh(transport)
        except google.auth.exceptions.RefreshError as error:
            raise _TokenFailure(_refusal_error(error)) from None
        except google.auth.exceptions.GoogleAuthError as error:
            raise _TokenFailure(
                ProviderAuthError(f"{PROVIDER} credentials cannot be used ({type(error).__name__})", source=SOURCE)
            ) from None
        except (ValueError, TypeError, KeyError) as error:
            # google-auth choking on an answer: the vendor's payload, not our bug, as far as callers go.
            raise _TokenFailure(
                ProviderResponseInvalid(
                    f"{PROVIDER}'s token answer could not be used ({type(error).__name__})", source=SOURCE
                )
            ) from None
        token = self._credentials.token
        if not isinstance(token, str) or not token:
            raise _TokenFailure(ProviderResponseInvalid(f"{PROVIDER}'s token endpoint sent no token", source=SOURCE))
        return token

    async def aclose(self) -> None:
        """Stop a refresh in flight."""
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()


def _again(error: ProviderError, operation: str) -> ProviderError:
    """A copy of a shared failure for one caller (one exception object must not be raised twice)."""
    clone = copy.copy(error)
    clone.operation = operation or error.operation
    return clone


# Wire models ----------------------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class _EventTime(_Wire):
    dateTime: AwareDatetime | None = None
    day: str | None = Field(None, alias="date")  # all-day events: not sessions


class _Attendee(_Wire):
    email: str | None = None
    responseStatus: str | None = None
    is_self: bool = Field(False, alias="self")
    organizer: bool = False
    resource: bool = False


class _Person(_Wire):
    email: str | None = None
    is_self: bool = Field(False, alias="self")


class _ExtendedProperties(_Wire):
    private: dict[str, str] = {}


class _EntryPoint(_Wire):
    entryPointType: str | None = None
    uri: str | None = None


class _ConferenceData(_Wire):
    entryPoints: list[_EntryPoint] = []


class _Event(_Wire):
    id: str = Field(min_length=1)
    status: str = "confirmed"
    htmlLink: str | None = None
    description: str | None = None
    start: _EventTime | None = None
    end: _EventTime | None = None
    attendees: list[_Attendee] = []
    organizer: _Person | None = None
    hangoutLink: str | None = None
    conferenceData: _ConferenceData | None = None
    extendedProperties: _ExtendedProperties | None = None

    def stamp(self, name: str) -> str | None:
        """Our private extended property ``name``."""
        values = self.extendedProperties.private if self.extendedProperties else {}
        value = values.get(name)
        return value.strip() if value is not None and value.strip() else None

    def times(self) -> tuple[datetime, datetime] | None:
        """Start and end in UTC for a timed event; None for all-day events."""
        if self.start is None or self.end is None or self.start.dateTime is None or self.end.dateTime is None:
            return None
        return self.start.dateTime.astimezone(UTC), self.end.dateTime.astimezone(UTC)

    def attendee(self, email: str) -> _Attendee | None:
        """The attendee with ``email`` (case-insensitive)."""
        wanted = email.strip().casefold()
        return next((a for a in self.attendees if (a.email or "").strip().casefold() == wanted), None)

    def invitee(self) -> _Attendee | None:
        """The first attendee who is neither the calendar's owner, the organizer nor a room."""
        organizer = (self.organizer.email or "").casefold() if self.organizer else ""
        for person in self.attendees:
            email = (person.email or "").strip()
            if not email or person.is_self or person.organizer or person.resource or email.casefold() == organizer:
                continue
            return person
        return None

    def join_url(self) -> str | None:
        """The Meet link, else the conference's video entry point."""
        if self.hangoutLink:
            return self.hangoutLink
        points = self.conferenceData.entryPoints if self.conferenceData else []
        return next((p.uri for p in points if p.entryPointType == "video" and p.uri), None)


class _EventsPage(_Wire):
    items: list[_Event] = []
    nextPageToken: str | None = None


class _Busy(_Wire):
    start: AwareDatetime
    end: AwareDatetime


class _CalendarError(_Wire):
    reason: str = ""


class _CalendarBusy(_Wire):
    busy: list[_Busy] = []
    errors: list[_CalendarError] = []


class _FreeBusy(_Wire):
    calendars: dict[str, _CalendarBusy]


# Error policy ---------------------------------------------------------------------------------------


class GoogleCalendarPolicy(VendorPolicy):
    """Google's error envelope, throttles and quotas sent as 403, and scope errors."""

    default_retry_after = RATE_LIMIT_RETRY_SECONDS

    def message(self, failure: VendorFailure) -> str:
        """``error.message`` of Google's envelope (token-endpoint bodies have ``error_description``)."""
        error = failure.body.get("error") if isinstance(failure.body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"]).strip()
        return super().message(failure)

    def code(self, failure: VendorFailure) -> str:
        """The first ``errors[].reason``, e.g. ``rateLimitExceeded``."""
        reasons = self.reasons(failure)
        return reasons[0] if reasons else ""

    @staticmethod
    def reasons(failure: VendorFailure) -> list[str]:
        """Every reason the envelope names (``errors[].reason`` and ``details[].reason``)."""
        error = failure.body.get("error") if isinstance(failure.body, dict) else None
        if not isinstance(error, dict):
            return []
        found: list[str] = []
        for key in ("errors", "details"):
            items = error.get(key)
            if isinstance(items, list):
                found += [str(i["reason"]) for i in items if isinstance(i, dict) and isinstance(i.get("reason"), str)]
        return found

    @staticmethod
    def domains(failure: VendorFailure) -> set[str]:
        """The ``errors[].domain`` values."""
        error = failure.body.get("error") if isinstance(failure.body, dict) else None
        items = error.get("errors") if isinstance(error, dict) else None
        if not isinstance(items, list):
            return set()
        return {str(i["domain"]) for i in items if isinstance(i, dict) and isinstance(i.get("domain"), str)}

    def classify(self, failure: VendorFailure, now: datetime) -> ProviderError | None:
        """403/429 usage limits → RateLimited or QuotaExhausted; 403 scope errors → missing_scope."""
        if failure.status not in (403, 429):
            return None
        reasons = set(self.reasons(failure))
        message = self.message(failure)
        text = f"{PROVIDER} answered HTTP {failure.status} {self.code(failure)}: {redact_text(message)[:200]}"
        if reasons & _RATE_REASONS:
            wait = failure.rate.retry_after_seconds
            if wait is not None and wait > SHORT_WAIT_SECONDS:
                return QuotaExhausted(text, resets_at=now + timedelta(seconds=wait))
            return RateLimited(text, retry_after=wait if wait is not None else self.default_retry_after)
        if (
            "quotaExceeded" in reasons
            or "usage limits exceeded" in message.casefold()
            or (failure.status == 403 and "usageLimits" in self.domains(failure))
        ):
            return QuotaExhausted(
                f"{text} — Google may keep the calendar limited for hours; not retried before "
                f"{(now + QUOTA_BACKOFF).strftime('%H:%M')} UTC",
                resets_at=now + QUOTA_BACKOFF,
            )
        if failure.status == 403 and reasons & _SCOPE_REASONS:
            return ProviderAuthError(f"{text} (grant the scopes {', '.join(SCOPES)})", reason="missing_scope")
        return None


# The adapter ----------------------------------------------------------------------------------------


def event_id_for(key: str, generation: int = 0) -> str:
    """Our event id for an idempotency key: base32hex (Google's id alphabet), 32 characters, stable.

    ``generation`` > 0 gives the ids tried when an earlier one belongs to a cancelled event (``<id>g1``…).
    """
    digest = hashlib.sha256(f"fearvana-booking:{key}".encode()).digest()
    base = base64.b32hexencode(digest).decode("ascii").lower().rstrip("=")[:EVENT_ID_LENGTH]
    return base if generation == 0 else f"{base}g{generation}"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _plain_text(description: str | None) -> str | None:
    """An event description as plain text (Google stores HTML there when edited in the web UI)."""
    if description is None:
        return None
    text = description
    if "<" in text and ">" in text:
        text = html.unescape(_TAG.sub("", _LINE_BREAK.sub("\n", text)))
    text = text.strip()
    return text[:MAX_NOTES_CHARS] if text else None


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _uuid(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def _appointment_type(value: str | None) -> AppointmentType | None:
    return cast(AppointmentType, value) if value in APPOINTMENT_TYPES else None


class GoogleCalendarSchedulingAdapter(SchedulingAdapter):
    """The coach's Google Calendar: slots computed from working hours and freeBusy (module docstring)."""

    name: ClassVar[str] = "google-calendar"
    source: ClassVar[str] = SOURCE

    def __init__(
        self,
        *,
        http_client: httpx.AsyncClient,
        clock: Clock,
        credentials: GoogleCredentials,
        calendar_id: str = "primary",
        base_url: str = DEFAULT_BASE_URL,
        token_url: str | None = None,
        working_hours: WorkingHours | None = None,
        durations: Mapping[str, int] | None = None,
        buffer_minutes: int = 0,
        slot_step_minutes: int = 30,
    ) -> None:
        """Build the adapter on the shared client.

        ``base_url`` is the API root (``.../calendar/v3``); ``token_url`` overrides the token endpoint
        (else the key file's ``token_uri``, else Google's). ``working_hours`` default to Monday-Friday
        09:00-17:00 UTC; ``durations`` to our defaults per appointment type.
        """
        super().__init__(clock)
        if slot_step_minutes < 1 or buffer_minutes < 0:
            raise ConfigurationError("the slot step must be positive and the buffer not negative")
        self.calendar_id = calendar_id
        self.hours = working_hours or WorkingHours.parse("mon-fri 09:00-17:00")
        self.durations = dict(durations) if durations is not None else parse_durations(None)
        self.buffer = timedelta(minutes=buffer_minutes)
        self.step = timedelta(minutes=slot_step_minutes)
        self._events_path = f"calendars/{quote(calendar_id, safe='@')}/events"
        self._tokens = _TokenSource(_google_credentials(credentials, token_url), http_client, clock)
        self._http = VendorHttp(
            http_client,
            provider=PROVIDER,
            source=SOURCE,
            base_url=base_url,
            clock=clock,
            policy=GoogleCalendarPolicy(),
            auth_headers=self._auth_headers,
            on_unauthorized=self._reauthorize,
        )
        # Coroutines of this process booking at once: re-check and insert one at a time.
        self._booking_lock = asyncio.Lock()

    @classmethod
    def missing_settings(cls, settings: Settings) -> str | None:
        """What the settings lack: one complete credential set, and a readable, valid key file."""
        try:
            credentials_from_settings(settings)
        except ConfigurationError as error:
            return error.message
        return None

    @classmethod
    def from_settings(cls, settings: Settings, *, http_client: httpx.AsyncClient, clock: Clock) -> Self:
        """From the ``SCHEDULING_*`` settings (credentials, calendar, endpoint, working hours, durations)."""
        try:
            hours = WorkingHours.parse(settings.scheduling_working_hours, settings.scheduling_time_zone)
        except ValueError as error:
            raise ConfigurationError(f"Invalid environment variable SCHEDULING_WORKING_HOURS: {error}") from None
        try:
            durations = parse_durations(settings.scheduling_durations)
        except ValueError as error:
            raise ConfigurationError(f"Invalid environment variable SCHEDULING_DURATIONS: {error}") from None
        return cls(
            http_client=http_client,
            clock=clock,
            credentials=credentials_from_settings(settings),
            calendar_id=_text(settings.scheduling_calendar_id) or "primary",
            base_url=settings.scheduling_endpoint or DEFAULT_BASE_URL,
            token_url=_text(settings.scheduling_oauth_token_url),
            working_hours=hours,
            durations=durations,
            buffer_minutes=settings.scheduling_buffer_minutes,
            slot_step_minutes=settings.scheduling_slot_step_minutes,
        )

    async def aclose(self) -> None:
        """Stop a token refresh in flight (the shared client is the runtime's)."""
        await self._tokens.aclose()

    # Contract: reads ------------------------------------------------------------------------------

    async def ping(self) -> None:
        """One events.list of at most one event: proves the token, the scope and access to the calendar."""
        now = self.clock.now()
        params = {"maxResults": "1", "timeMin": _rfc3339(now), "timeMax": _rfc3339(now + timedelta(days=1))}
        await self._json("GET", self._events_path, _EventsPage, "ping", params=params)

    async def get_scheduling_context(self, customer: CustomerRef) -> SchedulingContext:
        """Two concurrent list requests (our stamp, the email search) cover history and the next 14 days."""
        now = self.clock.now()
        appointments = await self._customer_appointments(
            customer, "get_scheduling_context", time_min=None, time_max=now + UPCOMING_WINDOW
        )
        past = [a for a in appointments if a.start_time < now and a.status != "cancelled"]
        count = sum(1 for a in past if a.status == "completed")
        upcoming = [a for a in appointments if a.start_time >= now]
        return build_scheduling_context(upcoming, past, count, now)

    async def get_upcoming_appointments(self, customer: CustomerRef, days: int = 14) -> list[Appointment]:
        """Scheduled sessions starting from now until ``days`` ahead, soonest first."""
        if days <= 0:
            return []
        now = self.clock.now()
        horizon = now + timedelta(days=days)
        appointments = await self._customer_appointments(
            customer, "get_upcoming_appointments", time_min=now, time_max=horizon
        )
        return sorted(
            (a for a in appointments if a.status == "scheduled" and now <= a.start_time < horizon),
            key=lambda a: a.start_time,
        )

    async def get_past_appointments(self, customer: CustomerRef, limit: int = 20) -> list[Appointment]:
        """Sessions that have started (not cancelled), newest first, at most ``limit``."""
        if limit <= 0:
            return []
        now = self.clock.now()
        appointments = await self._customer_appointments(customer, "get_past_appointments", time_min=None, time_max=now)
        past = [a for a in appointments if a.start_time < now and a.status != "cancelled"]
        return sorted(past, key=lambda a: a.start_time, reverse=True)[:limit]

    async def count_completed_sessions(self, customer: CustomerRef) -> int:
        """Completed sessions over the whole history (every page)."""
        now = self.clock.now()
        appointments = await self._customer_appointments(
            customer, "count_completed_sessions", time_min=None, time_max=now
        )
        return sum(1 for a in appointments if a.start_time < now and a.status == "completed")

    async def get_availability(self, date_range: DateRange, appointment_type: AppointmentType) -> list[TimeSlot]:
        """Working-hours grid slots of the type's duration, minus busy periods (+ buffer); one freeBusy."""
        operation = "get_availability"
        duration = timedelta(minutes=self.durations[appointment_type])
        start = max(date_range.start_date, self.clock.now())
        end = date_range.end_date
        if start >= end:
            return []
        candidates = self._grid(start, end, duration)
        if not candidates:
            return []
        busy = await self._busy(candidates[0] - self.buffer, candidates[-1] + duration + self.buffer, operation)
        return [
            self._slot(moment, duration, appointment_type)
            for moment in candidates
            if not any(moment < b_end and b_start < moment + duration for b_start, b_end in busy)
        ]

    async def list_appointments(self, date_range: DateRange) -> list[ListedAppointment]:
        """Every session starting in the range (our bookings and events with an invitee), soonest first."""
        operation = "list_appointments"
        start, end = date_range.start_date, date_range.end_date
        params: dict[str, str | list[str]] = {
            "timeMin": _rfc3339(start),
            "timeMax": _rfc3339(end),
            "singleEvents": "true",
            "orderBy": "startTime",
            "maxResults": str(PAGE_SIZE),
        }
        listed: list[ListedAppointment] = []
        for event in await self._list_events(params, operation):
            times = event.times()
            if event.status == "cancelled" or times is None or not start <= times[0] < end:
                continue
            customer_id = _uuid(event.stamp(PROPERTY_CUSTOMER))
            invitee = event.invitee()
            if customer_id is None and invitee is None:
                continue  # the coach's own time, not a session
            if invitee is not None and invitee.responseStatus == "declined":
                continue
            listed.append(
                ListedAppointment(
                    id=event.id,
                    type=_appointment_type(event.stamp(PROPERTY_TYPE)),
                    start_time=times[0],
                    end_time=times[1],
                    status="scheduled",
                    invitee_email=invitee.email if invitee is not None else None,
                    customer_id=customer_id,
                    join_url=event.join_url(),
                    provider_ref=self._provider_ref(event),
                )
            )
        return sorted(listed, key=lambda a: a.start_time)

    # Contract: writes -----------------------------------------------------------------------------

    async def book_appointment(
        self,
        customer: CustomerRef,
        slot: TimeSlot,
        appointment_type: AppointmentType,
        booking_id: str | None = None,
    ) -> Appointment:
        """Re-check the slot with freeBusy, then insert our event (idempotent id; module docstring)."""
        operation = "book_appointment"
        start = slot.start_time
        end = start + timedelta(minutes=self.durations[appointment_type])
        key = f"booking:{booking_id}" if booking_id else f"slot:{customer.id}|{_rfc3339(start)}|{appointment_type}"
        problem: str
        if start < self.clock.now():
            problem = "it is in the past"
        elif not any(lo <= start and end <= hi for lo, hi in self.hours.windows(start, end)):
            problem = "it is outside the coach's working hours"
        else:
            async with self._booking_lock:
                if await self._busy(start - self.buffer, end + self.buffer, operation):
                    earlier = await self._find_booking(key, customer, operation)
                    if earlier is not None:
                        return earlier
                    problem = "the coach is busy then"
                else:
                    booked = await self._insert(customer, start, end, appointment_type, key, booking_id, operation)
                    if booked is not None:
                        return booked
                    problem = "it was just booked for someone else"
        raise SlotUnavailable(
            f"The slot at {start.strftime('%Y-%m-%d %H:%M')} UTC is not available: {problem}",
            alternatives=await self.alternatives_near(slot, appointment_type),
        )

    async def cancel_appointment(self, customer: CustomerRef, appointment_id: str) -> Appointment:
        """Delete our event of this customer (``sendUpdates=all``); anyone else's is AppointmentNotFound."""
        operation = "cancel_appointment"
        event = await self._get_event(appointment_id, operation)
        if event is None or event.stamp(PROPERTY_CUSTOMER) != str(customer.id):
            raise AppointmentNotFound(appointment_id)
        now = self.clock.now()
        appointment = self._appointment(event, customer, now)
        if appointment is None:
            raise AppointmentNotFound(appointment_id)
        if event.status == "cancelled":
            return appointment
        if appointment.start_time <= now:
            raise ProviderRejected(
                "This appointment has already taken place and cannot be cancelled", source=SOURCE, operation=operation
            )
        response = await self._send(
            "DELETE", self._event_path(event.id), operation, params={"sendUpdates": "all"}, accept=(404, 410)
        )
        if response.status_code == 404:
            raise AppointmentNotFound(appointment_id)
        return appointment.model_copy(update={"status": "cancelled"})  # 204, or 410: already gone

    # Slots ----------------------------------------------------------------------------------------

    def _grid(self, start: datetime, end: datetime, duration: timedelta) -> list[datetime]:
        """Slot starts in ``[start, end)``: steps from each working period's opening, whole slots only."""
        found: list[datetime] = []
        # A day earlier, so a period already open at ``start`` keeps its true opening (periods are ≤ 24 h).
        for opens, closes in self.hours.windows(start - timedelta(days=1), end):
            moment, closing = opens.astimezone(UTC), closes.astimezone(UTC)  # steps are real minutes
            while moment + duration <= closing:
                if moment >= start and moment + duration <= end:
                    found.append(moment)
                moment += self.step
        return sorted(set(found))

    def _slot(self, moment: datetime, duration: timedelta, appointment_type: AppointmentType) -> TimeSlot:
        return TimeSlot(
            start_time=moment,
            end_time=moment + duration,
            duration=int(duration.total_seconds() // 60),
            available=True,
            appointment_type=appointment_type,
            provider_ref=f"google-calendar:slot:{appointment_type}:{_rfc3339(moment)}",
        )

    async def _busy(self, time_min: datetime, time_max: datetime, operation: str) -> list[tuple[datetime, datetime]]:
        """The calendar's busy periods overlapping the window, widened by the buffer and merged."""
        spans: list[tuple[datetime, datetime]] = []
        chunk_start = time_min
        while chunk_start < time_max:
            chunk_end = min(chunk_start + FREEBUSY_MAX_SPAN, time_max)
            body = {
                "timeMin": _rfc3339(chunk_start),
                "timeMax": _rfc3339(chunk_end),
                "timeZone": "UTC",
                "items": [{"id": self.calendar_id}],
            }
            answer = await self._json("POST", "freeBusy", _FreeBusy, operation, json_body=body)
            calendar = answer.calendars.get(self.calendar_id) or next(
                (v for k, v in answer.calendars.items() if k.casefold() == self.calendar_id.casefold()), None
            )
            if calendar is None:
                raise self._http.invalid("calendars: the calendar asked for is missing", operation=operation)
            if calendar.errors:
                # Never read "no busy periods" into a calendar Google could not read.
                reasons = ", ".join(e.reason or "unknown" for e in calendar.errors)
                raise ProviderAuthError(
                    f"{PROVIDER} cannot read the free/busy times of the configured calendar ({reasons}): check "
                    "SCHEDULING_CALENDAR_ID and that the signed-in user can see it",
                    source=SOURCE,
                    operation=operation,
                )
            spans += [
                (b.start.astimezone(UTC) - self.buffer, b.end.astimezone(UTC) + self.buffer) for b in calendar.busy
            ]
            chunk_start = chunk_end
        return _merge(spans)

    # Bookings -------------------------------------------------------------------------------------

    async def _insert(
        self,
        customer: CustomerRef,
        start: datetime,
        end: datetime,
        appointment_type: AppointmentType,
        key: str,
        booking_id: str | None,
        operation: str,
    ) -> Appointment | None:
        """Insert under our id (generations past cancelled ones); None when the id is another customer's."""
        private = {PROPERTY_CUSTOMER: str(customer.id), PROPERTY_TYPE: appointment_type}
        if booking_id:
            private[PROPERTY_BOOKING] = booking_id[:1024]  # Google cuts longer values silently
        zone = self.hours.time_zone.key
        name = customer.display_name or customer.email
        attendee: dict[str, str] = {"email": customer.email}
        if customer.display_name:
            attendee["displayName"] = customer.display_name
        for generation in range(MAX_ID_GENERATIONS):
            event_id = event_id_for(key, generation)
            body = {
                "id": event_id,
                "summary": f"Fearvana {_LABELS[appointment_type]} – {name}",
                "start": {"dateTime": _rfc3339(start), "timeZone": zone},
                "end": {"dateTime": _rfc3339(end), "timeZone": zone},
                "attendees": [attendee],
                "extendedProperties": {"private": private},
                "conferenceData": {
                    # The event id as request id: a retried create asks for the same conference.
                    "createRequest": {"requestId": event_id, "conferenceSolutionKey": {"type": "hangoutsMeet"}}
                },
            }
            response = await self._send(
                "POST",
                self._events_path,
                operation,
                params={"sendUpdates": "all", "conferenceDataVersion": "1"},
                json_body=body,
                accept=(409,),
            )
            if response.status_code != 409:
                created = self._http.parse(response, _Event, operation=operation)
                appointment = self._appointment(created, customer, self.clock.now())
                if appointment is None:
                    raise self._http.invalid("the created event has no start/end time", operation=operation)
                return appointment
            # 409 duplicate: an earlier attempt (whose answer was lost) or a cancelled booking holds the id.
            existing = await self._get_event(event_id, operation)
            if existing is None or existing.status == "cancelled":
                continue
            if existing.stamp(PROPERTY_CUSTOMER) == str(customer.id):
                return self._appointment(existing, customer, self.clock.now())
            return None
        raise ProviderRejected(
            f"{PROVIDER}: this slot was booked and cancelled {MAX_ID_GENERATIONS} times; book another slot",
            source=SOURCE,
            operation=operation,
        )

    async def _find_booking(self, key: str, customer: CustomerRef, operation: str) -> Appointment | None:
        """This customer's live booking under the id sequence of ``key`` (a retry after a lost answer)."""
        for generation in range(MAX_ID_GENERATIONS):
            event = await self._get_event(event_id_for(key, generation), operation)
            if event is None:
                return None
            if event.status == "cancelled":
                continue
            if event.stamp(PROPERTY_CUSTOMER) != str(customer.id):
                return None
            return self._appointment(event, customer, self.clock.now())
        return None

    async def _get_event(self, event_id: str, operation: str) -> _Event | None:
        """events.get; None for an id Google does not know (404/410) or would not accept as an id (400)."""
        response = await self._send("GET", self._event_path(event_id), operation, accept=(400, 404, 410))
        if response.status_code in (400, 404, 410):
            return None
        return self._http.parse(response, _Event, operation=operation)

    def _event_path(self, event_id: str) -> str:
        return f"{self._events_path}/{quote(event_id, safe='')}"

    # Reading sessions -----------------------------------------------------------------------------

    async def _customer_appointments(
        self, customer: CustomerRef, operation: str, *, time_min: datetime | None, time_max: datetime | None
    ) -> list[Appointment]:
        """The customer's sessions: our stamped events and searched events listing their email."""
        base: dict[str, str | list[str]] = {
            "singleEvents": "true",
            "orderBy": "startTime",
            "maxResults": str(PAGE_SIZE),
        }
        if time_min is not None:
            base["timeMin"] = _rfc3339(time_min)
        if time_max is not None:
            base["timeMax"] = _rfc3339(time_max)
        stamped, searched = await concurrently(
            self._list_events({**base, "privateExtendedProperty": f"{PROPERTY_CUSTOMER}={customer.id}"}, operation),
            self._list_events({**base, "q": customer.email}, operation),
        )
        mine = str(customer.id)
        events = {e.id: e for e in stamped if e.stamp(PROPERTY_CUSTOMER) == mine}
        for event in searched:
            # A free-text match is not enough: the email must be an attendee, and no other customer's stamp.
            if (
                event.id not in events
                and event.attendee(customer.email) is not None
                and event.stamp(PROPERTY_CUSTOMER) in (None, mine)
            ):
                events[event.id] = event
        now = self.clock.now()
        found = (self._appointment(event, customer, now) for event in events.values())
        return [a for a in found if a is not None]

    async def _list_events(self, params: Mapping[str, str | list[str]], operation: str) -> list[_Event]:
        async def fetch(cursor: str | None) -> tuple[list[_Event], str | None]:
            query = dict(params)
            if cursor is not None:
                query["pageToken"] = cursor
            page = await self._json("GET", self._events_path, _EventsPage, operation, params=query)
            return page.items, page.nextPageToken

        return await collect(fetch)

    def _appointment(self, event: _Event, customer: CustomerRef, now: datetime) -> Appointment | None:
        times = event.times()
        if times is None:
            return None
        start, end = times
        return Appointment(
            id=event.id,
            customer_id=customer.id,
            type=_appointment_type(event.stamp(PROPERTY_TYPE)) or DEFAULT_TYPE,
            start_time=start,
            end_time=end,
            duration=max(int((end - start).total_seconds() // 60), 0),
            notes=_plain_text(event.description),
            outcome=event.stamp(PROPERTY_OUTCOME),
            status=self._status(event, customer, start, end, now),
            join_url=event.join_url(),
            provider_ref=self._provider_ref(event),
        )

    @staticmethod
    def _status(
        event: _Event, customer: CustomerRef, start: datetime, end: datetime, now: datetime
    ) -> AppointmentStatus:
        if event.status == "cancelled":
            return "cancelled"
        attendee = event.attendee(customer.email)
        if attendee is not None and attendee.responseStatus == "declined":
            return "cancelled"  # the customer called it off
        stamped = (event.stamp(PROPERTY_STATUS) or "").casefold()
        if start < now and stamped in ("no-show", "completed"):
            return cast(AppointmentStatus, stamped)
        if end <= now:
            return "completed"
        return "scheduled"  # upcoming, or in progress (it may still become a no-show)

    @staticmethod
    def _provider_ref(event: _Event) -> str:
        return event.htmlLink or f"google-calendar:event:{event.id}"

    # HTTP -----------------------------------------------------------------------------------------

    async def _json(
        self,
        method: str,
        path: str,
        model: type[W],
        operation: str,
        *,
        params: Mapping[str, str | list[str]] | None = None,
        json_body: object = None,
    ) -> W:
        response = await self._send(method, path, operation, params=params, json_body=json_body)
        return self._http.parse(response, model, operation=operation)

    async def _send(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Mapping[str, str | list[str]] | None = None,
        json_body: object = None,
        accept: tuple[int, ...] = (),
    ) -> httpx.Response:
        """One API call, with the operation visible to the token hooks (they name it in their errors)."""
        token = _OPERATION.set(operation)
        try:
            return await self._http.send(
                method, path, operation=operation, params=params, json_body=json_body, accept=accept
            )
        finally:
            _OPERATION.reset(token)

    async def _auth_headers(self) -> dict[str, str]:
        token = await self._tokens.token()
        _SENT_TOKEN.set(token)
        return {"Authorization": f"Bearer {token}"}

    async def _reauthorize(self) -> bool:
        # The token this request carried was refused: replace it (unless another request already did).
        await self._tokens.token(stale=_SENT_TOKEN.get())
        return True
