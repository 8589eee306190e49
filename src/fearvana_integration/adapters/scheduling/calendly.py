"""Calendly as the scheduling platform: API v2 over the shared HTTP layer (PROVIDERS.md §2.1).

Endpoints (paths under ``SCHEDULING_ENDPOINT``, default ``https://api.calendly.com``)
-----------------------------------------------------------------------------------
==========================================================  ================================================
request                                                     used for
==========================================================  ================================================
``GET  /users/me``                                          ping; the organization/user URI (once per process)
``GET  /scheduled_events?organization=…&count=1``           ping in the organization scope (proves the admin role)
``GET  /event_types?user=<me>&active=true``                 matching our appointment types by name (cached 10 min)
``GET  /event_types/{uuid}``                                a mapped event type's URI and duration (cached 10 min)
``GET  /scheduled_events?<scope>&invitee_email=…``          the customer's sessions (``page_token`` paging)
``GET  /scheduled_events/{uuid}/invitees?email=…``          no-show / own-seat state of one past or group session
``GET  /scheduled_events/{uuid}/invitees?status=active``    every invitee's email (``list_appointments``)
``GET  /scheduled_events/{uuid}``                           cancel (whose is it?), join URL after booking
``GET  /event_type_available_times``                        free slots, in windows of at most 7 days
``POST /invitees``                                          book (Scheduling API)
``POST /scheduling_links``                                  single-use link when the plan cannot book
``POST /scheduled_events/{uuid}/cancellation``              cancel
``POST {SCHEDULING_OAUTH_TOKEN_URL}``                       ``grant_type=refresh_token`` (OAuth only)
==========================================================  ================================================

``<scope>`` is ``organization=<org URI>`` (``SCHEDULING_CALENDLY_SCOPE=organization``, the default: every host of
the organization; needs an owner/admin token) or ``user=<the token's user URI>`` (``=user``: the token's own
events). The organization comes from ``SCHEDULING_CALENDLY_ORGANIZATION`` (a URI or its id) or, when that is
not set, from ``GET /users/me`` once per process; user scope always asks ``/users/me`` once.

Auth
----
``SCHEDULING_API_KEY`` = a personal access token, or OAuth: ``SCHEDULING_OAUTH_CLIENT_ID`` / ``_CLIENT_SECRET`` /
``_REFRESH_TOKEN`` (token URL ``SCHEDULING_OAUTH_TOKEN_URL``, default ``https://auth.calendly.com/oauth/token``).
A PAT wins when both are set. OAuth access tokens are refreshed shortly before ``expires_in`` runs out and once
after a 401 (the request is then sent again once); concurrent callers share one token request, and when it
fails every caller waiting for it gets its error. Calendly rotates refresh tokens (each is single-use): the
newest one lives in this process's memory only, so a restarted process needs a fresh refresh token — a PAT
avoids that.

Reads
-----
* A session is a scheduled event whose invitees include the customer's email. Appointment ``id`` = the event's
  UUID, ``provider_ref`` = its URI, ``notes`` = ``meeting_notes_plain``, ``join_url`` = ``location.join_url``,
  ``outcome`` = None (Calendly has none).
* Status: canceled event → ``cancelled``; started but not ended → ``scheduled``; ended → ``completed``, unless
  the customer's invitee is marked a no-show (``no-show``) or cancelled their seat of a group event
  (``cancelled``). Only the invitee resource says so, one request per ended session; the answer is remembered
  per process once the session ended more than :data:`NO_SHOW_SETTLE` ago (a host marks a no-show right after
  the session), and the no-show state is never asked for cancelled events.
* Appointment type: the configured ``SCHEDULING_EVENT_TYPE_MAP`` (reverse), else the event's name matched the
  same way event types are (below), else ``coaching-session`` (what almost every Fearvana session is).

Requests per ``get_scheduling_context``: 2 (upcoming 14 days and the whole past history, concurrently; one more
per further 100 past sessions), plus one per ended session whose no-show state this process does not know yet
(all of them the first time, then only those ended within 3 days), plus one per upcoming *group* session,
plus ``GET /users/me`` once per process. No event type is read for it. The first context of a customer with a
long history therefore asks once per past session (8 at a time); every answer is remembered as it arrives, so a
first context cut short by its deadline still makes the next one cheaper.

Availability and booking
------------------------
* Our five appointment types map to event types by ``SCHEDULING_EVENT_TYPE_MAP`` (values: an event type URI or
  the UUID at its end). Types not mapped are matched among the token user's *own active* event types by name or
  slug, case and punctuation ignored: ``check-in`` ← "checkin", ``follow-up`` ← "followup", ``assessment``,
  ``workshop``, and ``coaching-session`` ← "coachingsession", else "coaching", else "session" (an event type
  counts for the first of those types, in that order, it matches). Among several, an exact name/slug wins, then
  the one whose duration is our default for the type, then the first by name. A type with no event type raises
  :class:`CapabilityNotSupported` naming ``SCHEDULING_EVENT_TYPE_MAP``. Slot length = the event type's duration.
* Availability: ``/event_type_available_times`` in windows of at most 7 days (concurrently: 14 days = 2
  requests), the start clipped to one minute from now (Calendly refuses a start in the past), earliest first;
  only slots that end inside the asked range.
* Booking: the event type; with a ``booking_id``, a look for that booking (an active event of that event type at
  that start with the customer as invitee: 1 request), returned when found; the in-process caps (below); a
  re-check of the slot (``/event_type_available_times`` for that slot: 1 request); ``POST /invitees`` (invitee =
  the customer's email, display name — else the email's local part — and time zone, UTC when Calendly would not
  know it; no location, so the event type's default; ``tracking``: ``utm_source=fearvana-integration``,
  ``utm_content=<booking_id>``, echoed on the invitee, for reconciliation); then ``GET`` the event for its join
  URL (best effort): 3 requests, 4 with a booking id. A slot that is gone — at the re-check or refused by the
  POST — is first checked for being the customer's own (a retry without ``booking_id``), else
  :class:`SlotUnavailable` with :meth:`alternatives_near`. A POST that failed in a way that may have booked
  (timeout, connection loss, 5xx, an unreadable 201) is never sent again: the booking is looked for, returned
  when found, and otherwise the original error is raised (the caller retries with its ``booking_id``).
* A 403 saying the plan cannot book (its message mentions upgrade/paid/plan/subscription) switches this
  process to links: ``POST /scheduling_links`` (single use, for the event type) and an Appointment with
  ``status="pending-link"`` and ``booking_url``; later bookings go straight to the link (after the re-check).
  A retried ``booking_id`` gets the same link back.
* Caps: Calendly limits Create Event Invitee per user (paid non-Enterprise: 10/minute, 50/hour, 100/day). We
  keep sliding windows of our own POSTs in front of it (sliding ⊂ Calendly's fixed windows, so never over):
  a full minute window raises :class:`RateLimited` with ``retry_after`` without sending anything; a full hour or
  day window, whose wait exceeds a short wait, raises :class:`QuotaExhausted` with ``resets_at`` — the same
  rule the HTTP layer applies to Calendly's own 429s. Per process: several processes share Calendly's limit.
* Cancel: only an event whose invitees include the customer (else :class:`AppointmentNotFound`, as for an
  unknown id); an event with other active invitees (a group session) is not cancelled for everyone — that is a
  :class:`ProviderRejected` pointing at the invitee's own cancel link; a started one is ProviderRejected too.
* ``list_appointments``: active events starting in the range (paged), then each event's active invitees (one
  request per event, at most 8 at a time; remembered per event while its invitee counters are unchanged, so a
  periodic reminder run mostly costs the paged listing). One entry per active invitee; ``customer_id`` None.

Errors
------
Calendly's error body ``{"title", "message", "details": [{"parameter", "message"}]}`` becomes the message. 401
whose message says *expired* or *revoked* → ``ProviderAuthError(reason="expired")``, other 401s → ``invalid``;
403 naming a scope (``details[].parameter == "scope"`` or "scope" in the message), or one of Calendly's
permission refusals (the organization scope without an admin token, an event of someone else) →
``missing_scope`` (the token works but may not do this); 403s that refuse the request itself (event in the
past, already cancelled, plan) → ProviderRejected; other 403s → ``invalid``. The OAuth ``invalid_grant``
(refresh token used up or revoked) → ``expired``; ``invalid_client`` → ``invalid``. 429s go through the HTTP
layer: ``Retry-After`` if sent, else ``X-RateLimit-Reset`` (seconds), else 60 s; longer than a short wait →
QuotaExhausted.

Facts PROVIDERS.md marks unconfirmed, and how they are decided
--------------------------------------------------------------
* Free plan and ``POST /invitees``: a 403 whose message mentions upgrade/paid/plan/subscription means "cannot
  book" (the fake's wording "Please upgrade to a paid Calendly account."); a 403 naming a scope never does. The
  2026-11-03 note says the paid-plan requirement is lifted; then the fallback simply never triggers.
* Taken-slot error shape: a 400/409/422 whose ``details[].parameter`` is ``start_time`` or whose text says the
  time is "no longer available"/"not available" is a taken slot.
* Custom-question answers (``questions_and_answers`` vs ``custom_questions``): not sent at all.
* No idempotency key on ``POST /invitees``: relied on; the look-before-resend above replaces it. Matching is by
  invitee email + start time + event type; the ``tracking`` stamp is not needed for it (a booking of that slot
  by the customer made another way is just as much "already booked").
* Expired vs other 401: by the message (see Errors); Calendly publishes "The access token is invalid" and the
  fake's "The access token expired".
* Scope of ``GET /event_types?user=``: the token user's own types are assumed readable with any role.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import re
from collections import OrderedDict, deque
from collections.abc import Awaitable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, TypeVar, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr

from fearvana_integration.adapters.base import SchedulingAdapter
from fearvana_integration.adapters.http import (
    SHORT_WAIT_SECONDS,
    VendorFailure,
    VendorHttp,
    VendorPolicy,
    collect,
    concurrently,
    gather_all,
)
from fearvana_integration.clock import Clock
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.domain.scheduling import (
    APPOINTMENT_TYPES,
    DEFAULT_DURATIONS_MINUTES,
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
from fearvana_integration.domain.working_hours import parse_event_type_map
from fearvana_integration.errors import (
    AppointmentNotFound,
    CapabilityNotSupported,
    ConfigurationError,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderResponseInvalid,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    SlotUnavailable,
)
from fearvana_integration.observability.redaction import redact_text

if TYPE_CHECKING:
    from fearvana_integration.config import Settings

PROVIDER = "Calendly"
SOURCE = "scheduling"
DEFAULT_BASE_URL = "https://api.calendly.com"
DEFAULT_TOKEN_URL = "https://auth.calendly.com/oauth/token"

#: ``/event_type_available_times`` answers at most this range per request.
MAX_AVAILABILITY_WINDOW = timedelta(days=7)
#: Calendly refuses a start in the past; our clock and the request's travel time must not make it one.
START_MARGIN = timedelta(minutes=1)
PAGE_SIZE = 100  # Calendly's maximum ``count``
#: A no-show is marked right after the session; after this the invitee's state is final for this process.
NO_SHOW_SETTLE = timedelta(days=3)
#: Event types are re-read after this (a renamed or deactivated type is noticed).
CATALOGUE_SECONDS = 600.0
#: Per-event fan-out (invitee reads) at most this many at a time: Calendly allows 500 requests/minute.
FANOUT = 8
#: Refresh an OAuth access token this long before Calendly says it expires.
TOKEN_EARLY = timedelta(seconds=60)
#: Create Event Invitee caps of paid non-Enterprise plans per user: (window seconds, bookings).
BOOKING_CAPS: tuple[tuple[float, int], ...] = ((60.0, 10), (3600.0, 50), (86400.0, 100))
#: The same caps by plan (``SCHEDULING_CALENDLY_PLAN``): trial 5 a day, Enterprise 500 a minute.
PLAN_BOOKING_CAPS: dict[str, tuple[tuple[float, int], ...]] = {
    "trial": ((86400.0, 5),),
    "paid": BOOKING_CAPS,
    "enterprise": ((60.0, 500),),
}
#: What an event of an unknown event type is taken for.
FALLBACK_TYPE: AppointmentType = "coaching-session"
CANCEL_REASON = "Cancelled at the customer's request through the Fearvana coach"
TRACKING_SOURCE = "fearvana-integration"
_REMEMBERED = 10_000  # bound of the per-event memories
_PENDING_LINKS = 1_000

# Name matching without a map: an event type counts for the first of our types whose key it contains.
_TYPE_KEYS: tuple[tuple[AppointmentType, tuple[str, ...]], ...] = (
    ("check-in", ("checkin",)),
    ("follow-up", ("followup",)),
    ("assessment", ("assessment",)),
    ("workshop", ("workshop",)),
    ("coaching-session", ("coachingsession", "coaching", "session")),
)
_PLAN_WORDS = ("upgrade", "paid", "plan", "subscription")
_TAKEN_WORDS = ("no longer available", "not available")
# Calendly's permission refusals (published enum messages): the token works but its user may not do this.
_PERMISSION_MESSAGES = (
    "you do not have permission",
    "you are not allowed",
    "not in your organization",
    "please also specify organization",
)
# 403s that refuse the request itself, not the credentials.
_REQUEST_REFUSALS = ("event in the past", "event is already canceled", "already canceled")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

# The contract method a request belongs to (token requests are made inside the auth hook, which knows no
# operation) and the access token a request was sent with (so a 401 replaces that token only).
_OPERATION: ContextVar[str] = ContextVar("calendly_operation", default="")
_SENT_TOKEN: ContextVar[str | None] = ContextVar("calendly_sent_token", default=None)

T = TypeVar("T")
InviteeState = Literal["active", "no-show", "canceled", "absent"]
Scope = Literal["organization", "user"]


# Wire models ----------------------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _User(_Wire):
    uri: str = Field(min_length=1)
    current_organization: str = Field(min_length=1)


class _UserResource(_Wire):
    resource: _User


class _Pagination(_Wire):
    next_page_token: str | None = None


class _EventType(_Wire):
    uri: str = Field(min_length=1)
    name: str = ""
    slug: str | None = None
    active: bool = True
    duration: int = Field(ge=1)


class _EventTypeResource(_Wire):
    resource: _EventType


class _EventTypePage(_Wire):
    collection: list[_EventType]
    pagination: _Pagination = Field(default_factory=_Pagination)


class _AvailableTime(_Wire):
    status: str
    start_time: AwareDatetime
    invitees_remaining: int | None = None


class _AvailableTimes(_Wire):
    collection: list[_AvailableTime]


class _Location(_Wire):
    join_url: str | None = None


class _Counter(_Wire):
    total: int = 0
    active: int = 0


class _Event(_Wire):
    uri: str = Field(min_length=1)
    name: str = ""
    status: Literal["active", "canceled"]
    start_time: AwareDatetime
    end_time: AwareDatetime
    event_type: str = ""
    location: _Location | None = None
    invitees_counter: _Counter = Field(default_factory=_Counter)
    meeting_notes_plain: str | None = None

    @property
    def uuid(self) -> str:
        """The UUID at the end of the event's URI (our appointment id)."""
        return _last_segment(self.uri)

    @property
    def counters(self) -> tuple[int, int]:
        """(total, active) invitees: any booking or cancellation changes them."""
        return self.invitees_counter.total, self.invitees_counter.active


class _EventResource(_Wire):
    resource: _Event


class _EventPage(_Wire):
    collection: list[_Event]
    pagination: _Pagination = Field(default_factory=_Pagination)


class _NoShow(_Wire):
    uri: str | None = None


class _Invitee(_Wire):
    email: str
    status: Literal["active", "canceled"]
    event: str = ""
    no_show: _NoShow | None = None


class _InviteeResource(_Wire):
    resource: _Invitee


class _InviteePage(_Wire):
    collection: list[_Invitee]
    pagination: _Pagination = Field(default_factory=_Pagination)


class _SchedulingLink(_Wire):
    booking_url: str = Field(min_length=1)


class _SchedulingLinkResource(_Wire):
    resource: _SchedulingLink


class _Token(_Wire):
    access_token: str = Field(min_length=1)
    refresh_token: str | None = None
    expires_in: int | None = Field(default=None, ge=0)


class _OAuthError(_Wire):
    error: str = ""
    error_description: str = ""


class _ErrorDetail(_Wire):
    parameter: str | None = None
    message: str | None = None


class _ErrorBody(_Wire):
    title: str | None = None
    message: str | None = None
    details: list[_ErrorDetail] = Field(default_factory=list)


# Error policy ---------------------------------------------------------------------------------------


def _error_body(failure: VendorFailure) -> _ErrorBody:
    if not isinstance(failure.body, dict):
        return _ErrorBody()
    try:
        return _ErrorBody.model_validate(failure.body)
    except ValueError:
        return _ErrorBody()


def _scope_problem(body: _ErrorBody) -> bool:
    return any((d.parameter or "").lower() == "scope" for d in body.details) or "scope" in (body.message or "").lower()


class CalendlyPolicy(VendorPolicy):
    """Calendly's ``{"title", "message", "details"}`` errors and what its 401s and 403s mean."""

    default_retry_after = 60.0  # "X-RateLimit-Reset: typically 60 seconds"

    def message(self, failure: VendorFailure) -> str:
        """``title: message (parameter: detail; …)``."""
        body = _error_body(failure)
        head = ": ".join(part.strip() for part in (body.title, body.message) if part and part.strip())
        details = "; ".join(
            ": ".join(part for part in (d.parameter, d.message) if part) for d in body.details if d.message
        )
        return f"{head} ({details})" if head and details else head or details

    def code(self, failure: VendorFailure) -> str:
        """Calendly sends no machine-readable code (the title is part of :meth:`message`)."""
        return ""

    def classify(self, failure: VendorFailure, now: datetime) -> ProviderError | None:
        """401: expired or not; 403: a scope/permission, a refusal of the request, or bad credentials."""
        if failure.status not in (401, 403):
            return None
        body = _error_body(failure)
        said = (body.message or "").lower()
        text = f"{PROVIDER} answered HTTP {failure.status}: {redact_text(self.message(failure))[:200]}"
        if failure.status == 401:
            expired = "expired" in said or "revoked" in said
            hint = "; refresh or reconnect the Calendly token" if expired else "; check SCHEDULING_API_KEY"
            return ProviderAuthError(text + hint, reason="expired" if expired else "invalid")
        if _scope_problem(body):
            return ProviderAuthError(
                text + "; grant the token that scope (re-authorize the Calendly app)", reason="missing_scope"
            )
        if any(phrase in said for phrase in _PERMISSION_MESSAGES):
            return ProviderAuthError(
                text + "; the organization scope needs an owner/admin token (or set SCHEDULING_CALENDLY_SCOPE=user)",
                reason="missing_scope",
            )
        if any(phrase in said for phrase in _REQUEST_REFUSALS) or _plan_refusal(body):
            return ProviderRejected(text)
        return ProviderAuthError(text, reason="invalid")


def _plan_refusal(body: _ErrorBody) -> bool:
    said = " ".join(part for part in (body.title, body.message) if part).lower()
    return not _scope_problem(body) and any(word in said for word in _PLAN_WORDS)


# Helpers --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """One of our appointment types as a Calendly event type."""

    appointment_type: AppointmentType
    uri: str
    duration: int

    @property
    def uuid(self) -> str:
        """The event type's UUID."""
        return _last_segment(self.uri)


@dataclass(frozen=True)
class _Seen:
    """What an invitee lookup said, valid while the event's invitee counters are unchanged."""

    counters: tuple[int, int]
    state: InviteeState
    final: bool  # asked after the no-show state settled


@dataclass
class _Session:
    access_token: str
    expires_at: datetime | None


@dataclass(frozen=True)
class _OAuth:
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr
    token_url: str


class BookingCaps:
    """Sliding windows of our own Create Event Invitee requests (Calendly caps them per user)."""

    def __init__(self, clock: Clock, caps: tuple[tuple[float, int], ...] = BOOKING_CAPS) -> None:
        self.clock = clock
        self.caps = caps
        self._sent: deque[float] = deque()

    def wait(self) -> float:
        """Seconds until one more booking fits every window (0 when it fits now)."""
        now = self.clock.monotonic()
        longest = max((seconds for seconds, _ in self.caps), default=0.0)
        while self._sent and now - self._sent[0] >= longest:
            self._sent.popleft()
        wait = 0.0
        for seconds, limit in self.caps:
            inside = [moment for moment in self._sent if now - moment < seconds]
            if len(inside) >= limit:
                # The window frees when the oldest booking that keeps it full leaves it.
                wait = max(wait, inside[len(inside) - limit] + seconds - now)
        return wait

    def check(self, operation: str, now: datetime) -> None:
        """Raise instead of sending when a window is full (RateLimited for a short wait, else QuotaExhausted)."""
        wait = self.wait()
        if wait <= 0:
            return
        message = (
            f"{PROVIDER} allows a user 10 bookings a minute, 50 an hour and 100 a day through its API; "
            f"the next one fits in {wait:.0f} s"
        )
        if wait > SHORT_WAIT_SECONDS:
            raise QuotaExhausted(message, source=SOURCE, operation=operation, resets_at=now + timedelta(seconds=wait))
        raise RateLimited(message, source=SOURCE, operation=operation, retry_after=wait)

    def record(self) -> None:
        """Count one booking request as sent now."""
        self._sent.append(self.clock.monotonic())


def _last_segment(uri: str) -> str:
    return urlsplit(uri).path.rstrip("/").rsplit("/", 1)[-1]


def _iso(moment: datetime) -> str:
    """Calendly's own rendering: UTC with microseconds and ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _normalise(text: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (text or "").lower())


def appointment_type_of(*texts: str | None) -> AppointmentType | None:
    """Which of our appointment types an event type's name or slug stands for (module docstring); None if none."""
    normalised = [_normalise(text) for text in texts if text]
    for appointment_type, keys in _TYPE_KEYS:
        for key in keys:
            if any(key in text for text in normalised):
                return appointment_type
    return None


def _email(customer: CustomerRef) -> str:
    return customer.email.strip().lower()


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"  # Calendly refuses an unknown zone; the invitee's zone only shapes their emails
    return name


def _windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into consecutive pieces of at most :data:`MAX_AVAILABILITY_WINDOW`."""
    pieces: list[tuple[datetime, datetime]] = []
    cursor = start
    while cursor < end:
        stop = min(cursor + MAX_AVAILABILITY_WINDOW, end)
        pieces.append((cursor, stop))
        cursor = stop
    return pieces


def _again(error: ProviderError, operation: str) -> ProviderError:
    """A copy of a shared failure for another waiter (one exception object must not be raised twice)."""
    clone = copy.copy(error)
    clone.operation = operation or error.operation
    return clone


def _text(value: str | SecretStr | None) -> str | None:
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    return raw.strip() if raw is not None and raw.strip() else None


def _http_url(value: str, variable: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"Invalid environment variable {variable}: must be an http(s) URL")
    return value.strip().rstrip("/")


# The adapter ----------------------------------------------------------------------------------------


class CalendlySchedulingAdapter(SchedulingAdapter):
    """Calendly scheduled events, event types and the Scheduling API (see the module docstring)."""

    name: ClassVar[str] = "calendly"
    source: ClassVar[str] = SOURCE

    def __init__(
        self,
        *,
        http_client: httpx.AsyncClient,
        clock: Clock,
        api_key: str | SecretStr | None = None,
        oauth_client_id: str | None = None,
        oauth_client_secret: str | SecretStr | None = None,
        oauth_refresh_token: str | SecretStr | None = None,
        token_url: str = DEFAULT_TOKEN_URL,
        base_url: str = DEFAULT_BASE_URL,
        scope: Scope = "organization",
        organization: str | None = None,
        event_type_map: Mapping[str, str] | None = None,
        plan: str = "paid",
    ) -> None:
        """Build the adapter on the runtime's shared client.

        Either ``api_key`` (a personal access token) or the three OAuth values. ``organization`` is the
        organization URI (or its id) for the organization scope; None discovers it. ``event_type_map`` maps
        our appointment types to event type URIs or UUIDs; unmapped types are matched by name.
        """
        super().__init__(clock)
        pat = _text(api_key)
        self._pat = SecretStr(pat) if pat else None
        self._oauth: _OAuth | None = None
        if self._pat is None:
            client_id, secret, refresh = _text(oauth_client_id), _text(oauth_client_secret), _text(oauth_refresh_token)
            if not (client_id and secret and refresh):
                raise ConfigurationError(_missing_credentials(client_id, secret, refresh))
            self._oauth = _OAuth(
                client_id, SecretStr(secret), SecretStr(refresh), _http_url(token_url, "SCHEDULING_OAUTH_TOKEN_URL")
            )
        if scope not in ("organization", "user"):
            raise ConfigurationError("Invalid environment variable SCHEDULING_CALENDLY_SCOPE: organization or user")
        self.scope: Scope = scope
        self.base_url = _http_url(base_url, "SCHEDULING_ENDPOINT")
        self._organization = self._organization_uri(organization) if organization and organization.strip() else None
        self._map: dict[AppointmentType, str] = {}
        for appointment_type, value in (event_type_map or {}).items():
            if appointment_type not in APPOINTMENT_TYPES:
                raise ConfigurationError(
                    f"Invalid environment variable SCHEDULING_EVENT_TYPE_MAP: {appointment_type!r} is not an "
                    f"appointment type ({', '.join(APPOINTMENT_TYPES)})"
                )
            uuid = _last_segment(value.strip()) if "://" in value else value.strip()
            if not _ID.fullmatch(uuid):
                raise ConfigurationError(
                    "Invalid environment variable SCHEDULING_EVENT_TYPE_MAP: values must be Calendly event type "
                    f"URIs or their UUIDs (got {value!r} for {appointment_type})"
                )
            self._map[cast(AppointmentType, appointment_type)] = uuid
        self._type_of_uuid: dict[str, AppointmentType] = {uuid: kind for kind, uuid in self._map.items()}
        self.http = VendorHttp(
            http_client,
            provider=PROVIDER,
            source=SOURCE,
            base_url=self.base_url,
            clock=clock,
            policy=CalendlyPolicy(),
            auth_headers=self._auth_headers,
            on_unauthorized=self._reauthorize if self._oauth else None,
        )
        self.caps = BookingCaps(clock, PLAN_BOOKING_CAPS[plan])
        self._fanout = asyncio.Semaphore(FANOUT)
        # OAuth: the current access token, one token request at a time (single flight, generation-checked).
        self._session: _Session | None = None
        self._refresh_token = self._oauth.refresh_token if self._oauth else None
        self._token_lock = asyncio.Lock()
        self._token_requests = 0
        self._token_error: ProviderError | None = None
        # Discovery and event types, once per process (event types re-read every 10 minutes).
        self._me: _User | None = None
        self._me_lock = asyncio.Lock()
        self._catalogue: list[_EventType] | None = None
        self._catalogue_read_at = 0.0
        self._mapped: dict[str, tuple[float, _EventType]] = {}
        self._types_lock = asyncio.Lock()
        # Per-event memories (bounded): an invitee's state per (event, email); active emails per event.
        self._seen: OrderedDict[tuple[str, str], _Seen] = OrderedDict()
        self._emails: OrderedDict[str, tuple[tuple[int, int], list[str]]] = OrderedDict()
        # The plan refused POST /invitees once: book through single-use links from now on.
        self.links_only = False
        self._pending: OrderedDict[str, Appointment] = OrderedDict()

    @classmethod
    def missing_settings(cls, settings: Settings) -> str | None:
        """A PAT (``SCHEDULING_API_KEY``) or the complete OAuth trio; the error naming what is missing."""
        if _text(settings.scheduling_api_key):
            return None
        client_id = _text(settings.scheduling_oauth_client_id)
        secret = _text(settings.scheduling_oauth_client_secret)
        refresh = _text(settings.scheduling_oauth_refresh_token)
        if client_id and secret and refresh:
            return None
        return _missing_credentials(client_id, secret, refresh)

    @classmethod
    def from_settings(cls, settings: Settings, *, http_client: httpx.AsyncClient, clock: Clock) -> Self:
        """From ``SCHEDULING_API_KEY`` or ``SCHEDULING_OAUTH_*``, ``SCHEDULING_ENDPOINT``,
        ``SCHEDULING_CALENDLY_SCOPE`` / ``_ORGANIZATION`` and ``SCHEDULING_EVENT_TYPE_MAP``."""
        problem = cls.missing_settings(settings)
        if problem is not None:
            raise ConfigurationError(problem)
        try:
            mapping = parse_event_type_map(settings.scheduling_event_type_map)
        except ValueError as error:
            raise ConfigurationError(f"Invalid environment variable SCHEDULING_EVENT_TYPE_MAP: {error}") from None
        return cls(
            http_client=http_client,
            clock=clock,
            api_key=settings.scheduling_api_key,
            oauth_client_id=settings.scheduling_oauth_client_id,
            oauth_client_secret=settings.scheduling_oauth_client_secret,
            oauth_refresh_token=settings.scheduling_oauth_refresh_token,
            token_url=settings.scheduling_oauth_token_url or DEFAULT_TOKEN_URL,
            base_url=settings.scheduling_endpoint or DEFAULT_BASE_URL,
            scope=settings.scheduling_calendly_scope,
            organization=settings.scheduling_calendly_organization,
            event_type_map=mapping,
            plan=settings.scheduling_calendly_plan,
        )

    # Contract: reads -------------------------------------------------------------------------------

    async def ping(self) -> None:
        """``GET /users/me`` proves the token; in the organization scope one event listing (``count=1``)
        also proves the token may read the organization (an owner/admin), which every read needs."""
        me = await self._get("/users/me", _UserResource, "ping")
        self._me = me.resource
        if self.scope == "organization":
            organization = self._organization or me.resource.current_organization
            await self._get(
                "/scheduled_events",
                _EventPage,
                "ping",
                params={"organization": organization, "count": "1", "min_start_time": _iso(self.clock.now())},
            )

    async def get_upcoming_appointments(self, customer: CustomerRef, days: int = 14) -> list[Appointment]:
        """The customer's active events from now until ``days`` ahead, soonest first."""
        operation = "get_upcoming_appointments"
        if days <= 0:
            return []
        now = self.clock.now()
        events = await self._customer_events(
            customer, operation, status="active", earliest=now, before=now + timedelta(days=days)
        )
        return await self._upcoming(customer, events, operation)

    async def get_past_appointments(self, customer: CustomerRef, limit: int = 20) -> list[Appointment]:
        """Events that have started, newest first (cancelled ones included as ``cancelled``)."""
        operation = "get_past_appointments"
        if limit <= 0:
            return []
        events = await self._customer_events(customer, operation, before=self.clock.now(), descending=True, limit=limit)
        return (await self._past(customer, events, operation))[:limit]

    async def count_completed_sessions(self, customer: CustomerRef) -> int:
        """Ended sessions the customer attended, over the whole history (every page)."""
        operation = "count_completed_sessions"
        events = await self._customer_events(customer, operation, before=self.clock.now(), descending=True)
        return sum(1 for a in await self._past(customer, events, operation) if a.status == "completed")

    async def get_scheduling_context(self, customer: CustomerRef) -> SchedulingContext:
        """Upcoming (14 days) and the whole history read concurrently: 2 requests plus invitee states
        not known yet (module docstring)."""
        operation = "get_scheduling_context"
        now = self.clock.now()
        upcoming_events, past_events = await concurrently(
            self._customer_events(customer, operation, status="active", earliest=now, before=now + UPCOMING_WINDOW),
            self._customer_events(customer, operation, before=now, descending=True),
        )
        upcoming, past = await concurrently(
            self._upcoming(customer, upcoming_events, operation), self._past(customer, past_events, operation)
        )
        count = sum(1 for a in past if a.status == "completed")
        return build_scheduling_context(upcoming, past, count, now)

    async def get_availability(self, date_range: DateRange, appointment_type: AppointmentType) -> list[TimeSlot]:
        """Free slots from ``/event_type_available_times``, 7-day windows at a time, earliest first."""
        operation = "get_availability"
        kind = await self._kind(appointment_type, operation)
        return await self._slots(kind, date_range.start_date, date_range.end_date, operation)

    async def list_appointments(self, date_range: DateRange) -> list[ListedAppointment]:
        """Every active event starting in the range, one entry per active invitee, soonest first."""
        operation = "list_appointments"
        scope = await self._scope(operation)
        events = await self._list_events(
            {
                **scope,
                "status": "active",
                "min_start_time": _iso(date_range.start_date),
                "max_start_time": _iso(date_range.end_date),
                "sort": "start_time:asc",
            },
            operation,
        )
        emails = await gather_all([self._limited(self._active_emails(event, operation)) for event in events])
        listed: list[ListedAppointment] = []
        for event, invitees in zip(events, emails, strict=True):
            if not date_range.start_date <= event.start_time < date_range.end_date:
                continue
            recipients: list[str | None] = [*invitees] or [None]
            for email in recipients:
                listed.append(
                    ListedAppointment(
                        id=event.uuid,
                        type=self._type_of(event),
                        start_time=event.start_time,
                        end_time=event.end_time,
                        status="scheduled",
                        invitee_email=email,
                        customer_id=None,
                        join_url=event.location.join_url if event.location else None,
                        provider_ref=event.uri,
                    )
                )
        listed.sort(key=lambda item: item.start_time)
        return listed

    # Contract: writes ------------------------------------------------------------------------------

    async def book_appointment(
        self,
        customer: CustomerRef,
        slot: TimeSlot,
        appointment_type: AppointmentType,
        booking_id: str | None = None,
    ) -> Appointment:
        """Look (with a booking id), check the caps, re-check the slot, ``POST /invitees`` — or a single-use
        link when the plan cannot book (module docstring)."""
        operation = "book_appointment"
        start = slot.start_time
        kind = await self._kind(appointment_type, operation)
        if booking_id is not None:
            existing = await self._find_booking(customer, kind, start, operation)
            if existing is not None:
                return existing
            pending = self._pending.get(booking_id)
            if (
                pending is not None
                and pending.customer_id == customer.id
                and pending.start_time == start
                and pending.type == appointment_type
            ):
                return pending
        if not self.links_only:
            self.caps.check(operation, self.clock.now())
        await self._recheck(customer, slot, kind, operation)
        if self.links_only:
            return await self._pending_link(customer, slot, kind, booking_id, operation)
        self.caps.check(operation, self.clock.now())  # again: concurrent bookings may have filled it meanwhile
        self.caps.record()
        body: dict[str, Any] = {
            "event_type": kind.uri,
            "start_time": _iso(start),
            "invitee": {
                "email": _email(customer),
                "name": (customer.display_name or "").strip() or customer.email.split("@", 1)[0],
                "timezone": _time_zone(customer.time_zone),
            },
        }
        if booking_id is not None:
            body["tracking"] = {"utm_source": TRACKING_SOURCE, "utm_content": booking_id[:255]}
        invitee: _Invitee | None = None
        try:
            response = await self._send("POST", "/invitees", operation, json_body=body, accept=(400, 403, 409, 422))
            if response.is_success:
                invitee = self.http.parse(response, _InviteeResource, operation=operation).resource
        except (ProviderUnavailable, ProviderResponseInvalid) as error:
            if isinstance(error, RateLimited):
                raise  # a 429 booked nothing
            # The POST may have booked before it failed: look, never send it again.
            try:
                found = await self._find_booking(customer, kind, start, operation)
            except ProviderError:
                found = None
            if found is None:
                raise
            return found
        if invitee is None:
            refusal = _error_body_of(response)
            if response.status_code == 403 and _plan_refusal(refusal):
                self.links_only = True  # for this process: later bookings go straight to the link
                return await self._pending_link(customer, slot, kind, booking_id, operation)
            if response.status_code != 403 and _taken(refusal):
                return await self._taken(customer, slot, kind, operation)
            raise self.http.error_for(response, operation=operation)
        return await self._booked(customer, invitee, kind, start, operation)

    async def cancel_appointment(self, customer: CustomerRef, appointment_id: str) -> Appointment:
        """Cancel the customer's own event; AppointmentNotFound for anyone else's or an unknown id."""
        operation = "cancel_appointment"
        uuid = appointment_id.strip()
        if not _ID.fullmatch(uuid):
            raise AppointmentNotFound(appointment_id)
        email = _email(customer)
        event, state = await concurrently(self._event(uuid, operation), self._invitee_lookup(uuid, email, operation))
        if event is None or state == "absent":
            raise AppointmentNotFound(appointment_id)
        if event.status == "canceled" or state == "canceled":
            return self._appointment(customer, event, "cancelled")
        if event.invitees_counter.active > 1:
            raise ProviderRejected(
                f"{PROVIDER} cannot cancel one invitee of a group session through its API, and cancelling the "
                "event would cancel it for everyone: the customer can use the cancel link in their confirmation "
                "email",
                source=SOURCE,
                operation=operation,
            )
        if event.start_time <= self.clock.now():
            raise ProviderRejected(
                f"Appointment {uuid} has already started and cannot be cancelled", source=SOURCE, operation=operation
            )
        response = await self._send(
            "POST",
            f"/scheduled_events/{uuid}/cancellation",
            operation,
            json_body={"reason": CANCEL_REASON},
            accept=(403,),
        )
        if response.status_code == 403 and "already canceled" not in (_error_body_of(response).message or "").lower():
            raise self.http.error_for(response, operation=operation)
        self._seen.pop((uuid, email), None)
        self._emails.pop(uuid, None)
        return self._appointment(customer, event, "cancelled")

    # Customer sessions -----------------------------------------------------------------------------

    async def _customer_events(
        self,
        customer: CustomerRef,
        operation: str,
        *,
        status: str | None = None,
        earliest: datetime | None = None,
        before: datetime | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[_Event]:
        params: dict[str, str] = {
            **await self._scope(operation),
            "invitee_email": _email(customer),
            "sort": "start_time:desc" if descending else "start_time:asc",
        }
        if status is not None:
            params["status"] = status
        if earliest is not None:
            params["min_start_time"] = _iso(earliest)
        if before is not None:
            params["max_start_time"] = _iso(before)
        return await self._list_events(params, operation, limit=limit)

    async def _list_events(self, params: dict[str, str], operation: str, *, limit: int | None = None) -> list[_Event]:
        """``GET /scheduled_events`` through every page (``page_token``), at most ``limit`` events."""
        size = str(min(limit, PAGE_SIZE)) if limit is not None else str(PAGE_SIZE)

        async def page(cursor: str | None) -> tuple[list[_Event], str | None]:
            query = {**params, "count": size}
            if cursor is not None:
                query["page_token"] = cursor
            result = await self._get("/scheduled_events", _EventPage, operation, params=query)
            return result.collection, result.pagination.next_page_token

        return await collect(page, limit=limit)

    async def _upcoming(self, customer: CustomerRef, events: list[_Event], operation: str) -> list[Appointment]:
        email = _email(customer)

        async def one(event: _Event) -> Appointment | None:
            # A group event stays active when one invitee cancels: ask whether this customer still has a seat.
            if event.invitees_counter.total > 1 and await self._invitee_state(event, email, operation) != "active":
                return None
            return self._appointment(customer, event, "scheduled")

        found = await gather_all([self._limited(one(event)) for event in events if event.status == "active"])
        return sorted((a for a in found if a is not None), key=lambda a: a.start_time)

    async def _past(self, customer: CustomerRef, events: list[_Event], operation: str) -> list[Appointment]:
        email = _email(customer)
        now = self.clock.now()

        async def one(event: _Event) -> Appointment | None:
            if event.status == "canceled":
                return self._appointment(customer, event, "cancelled")
            ended = event.end_time <= now
            if not ended and event.invitees_counter.total <= 1:
                return self._appointment(customer, event, "scheduled")  # in progress
            state = await self._invitee_state(event, email, operation)
            if state == "absent":
                return None
            status: AppointmentStatus
            if state == "canceled":
                status = "cancelled"
            elif state == "no-show":
                status = "no-show"
            else:
                status = "completed" if ended else "scheduled"
            return self._appointment(customer, event, status)

        found = await gather_all([self._limited(one(event)) for event in events])
        return sorted((a for a in found if a is not None), key=lambda a: a.start_time, reverse=True)

    async def _invitee_state(self, event: _Event, email: str, operation: str) -> InviteeState:
        """The customer's invitee on ``event``: remembered while the counters hold (and, once ended, when final)."""
        key = (event.uuid, email)
        now = self.clock.now()
        ended = event.end_time <= now
        seen = self._seen.get(key)
        if seen is not None and seen.counters == event.counters and (not ended or seen.final):
            self._seen.move_to_end(key)
            return seen.state
        state = await self._invitee_lookup(event.uuid, email, operation)
        self._seen[key] = _Seen(event.counters, state, final=ended and now >= event.end_time + NO_SHOW_SETTLE)
        self._seen.move_to_end(key)
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        return state

    async def _invitee_lookup(self, uuid: str, email: str, operation: str) -> InviteeState:
        """``GET /scheduled_events/{uuid}/invitees?email=``: active, no-show, canceled, or absent (also 404/403)."""
        response = await self._send(
            "GET",
            f"/scheduled_events/{uuid}/invitees",
            operation,
            params={"email": email, "count": str(PAGE_SIZE)},
            accept=(403, 404),
        )
        if response.status_code == 404 or (response.status_code == 403 and _cannot_view(response)):
            return "absent"
        if response.status_code == 403:
            raise self.http.error_for(response, operation=operation)
        page = self.http.parse(response, _InviteePage, operation=operation)
        mine = [invitee for invitee in page.collection if invitee.email.strip().lower() == email]
        active = [invitee for invitee in mine if invitee.status == "active"]
        if active:
            return "no-show" if any(invitee.no_show is not None for invitee in active) else "active"
        return "canceled" if mine else "absent"

    async def _active_emails(self, event: _Event, operation: str) -> list[str]:
        """Every active invitee's email (all pages); remembered while the event's counters are unchanged."""
        remembered = self._emails.get(event.uuid)
        if remembered is not None and remembered[0] == event.counters:
            self._emails.move_to_end(event.uuid)
            return remembered[1]

        async def page(cursor: str | None) -> tuple[list[_Invitee], str | None]:
            query = {"status": "active", "count": str(PAGE_SIZE)}
            if cursor is not None:
                query["page_token"] = cursor
            result = await self._get(f"/scheduled_events/{event.uuid}/invitees", _InviteePage, operation, params=query)
            return result.collection, result.pagination.next_page_token

        invitees = await collect(page)
        emails = list(dict.fromkeys(i.email.strip().lower() for i in invitees if i.status == "active"))
        self._emails[event.uuid] = (event.counters, emails)
        while len(self._emails) > _REMEMBERED:
            self._emails.popitem(last=False)
        return emails

    async def _event(self, uuid: str, operation: str) -> _Event | None:
        """``GET /scheduled_events/{uuid}``; None when unknown or not ours to see."""
        response = await self._send("GET", f"/scheduled_events/{uuid}", operation, accept=(403, 404))
        if response.status_code == 404 or (response.status_code == 403 and _cannot_view(response)):
            return None
        if response.status_code == 403:
            raise self.http.error_for(response, operation=operation)
        return self.http.parse(response, _EventResource, operation=operation).resource

    def _appointment(self, customer: CustomerRef, event: _Event, status: AppointmentStatus) -> Appointment:
        notes = (event.meeting_notes_plain or "").strip() or None
        minutes = int((event.end_time - event.start_time).total_seconds() // 60)
        return Appointment(
            id=event.uuid,
            customer_id=customer.id,
            type=self._type_of(event),
            start_time=event.start_time,
            end_time=event.end_time,
            duration=minutes,
            notes=notes,
            outcome=None,
            status=status,
            join_url=event.location.join_url if event.location else None,
            provider_ref=event.uri,
        )

    def _type_of(self, event: _Event) -> AppointmentType:
        """The configured map (reverse), else the event's name, else :data:`FALLBACK_TYPE`."""
        mapped = self._type_of_uuid.get(_last_segment(event.event_type)) if event.event_type else None
        return mapped or appointment_type_of(event.name) or FALLBACK_TYPE

    # Availability and booking ----------------------------------------------------------------------

    async def _slots(self, kind: _Kind, start: datetime, end: datetime, operation: str) -> list[TimeSlot]:
        earliest = max(start, self.clock.now() + START_MARGIN)
        if earliest >= end:
            return []
        pieces = await gather_all([self._window(kind, a, b, operation) for a, b in _windows(earliest, end)])
        slots: dict[datetime, TimeSlot] = {}
        for piece in pieces:
            for slot in piece:
                if earliest <= slot.start_time and slot.end_time <= end:
                    slots.setdefault(slot.start_time, slot)
        return [slots[moment] for moment in sorted(slots)]

    async def _window(self, kind: _Kind, start: datetime, end: datetime, operation: str) -> list[TimeSlot]:
        times = await self._get(
            "/event_type_available_times",
            _AvailableTimes,
            operation,
            params={"event_type": kind.uri, "start_time": _iso(start), "end_time": _iso(end)},
        )
        length = timedelta(minutes=kind.duration)
        return [
            TimeSlot(
                start_time=item.start_time,
                end_time=item.start_time + length,
                duration=kind.duration,
                available=True,
                appointment_type=kind.appointment_type,
                provider_ref=kind.uri,
            )
            for item in times.collection
            if item.status == "available" and (item.invitees_remaining is None or item.invitees_remaining > 0)
        ]

    async def _recheck(self, customer: CustomerRef, slot: TimeSlot, kind: _Kind, operation: str) -> None:
        """The slot is still offered right now, or it is the customer's already, or SlotUnavailable."""
        start = slot.start_time
        free = await self._slots(kind, start, start + timedelta(minutes=kind.duration), operation)
        if any(candidate.start_time == start for candidate in free):
            return
        await self._taken(customer, slot, kind, operation)

    async def _taken(self, customer: CustomerRef, slot: TimeSlot, kind: _Kind, operation: str) -> Appointment:
        """The customer's own booking of the slot (a retry without booking id), else SlotUnavailable."""
        mine = await self._find_booking(customer, kind, slot.start_time, operation)
        if mine is not None:
            return mine
        try:
            alternatives = await self.alternatives_near(slot, kind.appointment_type)
        except ProviderError:
            alternatives = []  # the refusal matters more than the suggestions
        raise SlotUnavailable(
            f"The slot at {slot.start_time:%Y-%m-%d %H:%M} UTC is no longer available on {PROVIDER}",
            alternatives=alternatives,
        )

    async def _find_booking(
        self, customer: CustomerRef, kind: _Kind, start: datetime, operation: str
    ) -> Appointment | None:
        """The customer's active event of ``kind`` starting at ``start`` (what a lost POST may have made)."""
        events = await self._customer_events(
            customer, operation, status="active", earliest=start, before=start + timedelta(seconds=1)
        )
        email = _email(customer)
        for event in events:
            if event.start_time != start or _last_segment(event.event_type) != kind.uuid:
                continue
            if event.invitees_counter.total > 1 and await self._invitee_state(event, email, operation) != "active":
                continue
            return self._appointment(customer, event, "scheduled")
        return None

    async def _booked(
        self, customer: CustomerRef, invitee: _Invitee, kind: _Kind, start: datetime, operation: str
    ) -> Appointment:
        """The new booking as an Appointment; its event is read for the join URL when that works."""
        uuid = _last_segment(invitee.event) if invitee.event else ""
        event: _Event | None = None
        if _ID.fullmatch(uuid):
            try:
                event = await self._event(uuid, operation)
            except ProviderError:
                event = None  # booked all the same: only the join URL is missing
        if event is not None:
            return self._appointment(customer, event, "scheduled")
        if not uuid:
            raise self.http.invalid("the new invitee names no event", operation=operation)
        return Appointment(
            id=uuid,
            customer_id=customer.id,
            type=kind.appointment_type,
            start_time=start,
            end_time=start + timedelta(minutes=kind.duration),
            duration=kind.duration,
            status="scheduled",
            provider_ref=invitee.event,
        )

    async def _pending_link(
        self, customer: CustomerRef, slot: TimeSlot, kind: _Kind, booking_id: str | None, operation: str
    ) -> Appointment:
        """A single-use scheduling link for the event type: the customer completes the booking."""
        link = await self._json(
            "POST",
            "/scheduling_links",
            _SchedulingLinkResource,
            operation,
            json_body={"max_event_count": 1, "owner": kind.uri, "owner_type": "EventType"},
        )
        url = link.resource.booking_url
        appointment = Appointment(
            id="pending-" + hashlib.sha256(url.encode()).hexdigest()[:16],
            customer_id=customer.id,
            type=kind.appointment_type,
            start_time=slot.start_time,
            end_time=slot.start_time + timedelta(minutes=kind.duration),
            duration=kind.duration,
            status="pending-link",
            provider_ref=kind.uri,
            booking_url=url,
        )
        if booking_id is not None:
            self._pending[booking_id] = appointment
            while len(self._pending) > _PENDING_LINKS:
                self._pending.popitem(last=False)
        return appointment

    # Event types -----------------------------------------------------------------------------------

    async def _kind(self, appointment_type: AppointmentType, operation: str) -> _Kind:
        """Our appointment type's event type: the map's (read by UUID), else matched by name (module docstring)."""
        uuid = self._map.get(appointment_type)
        if uuid is not None:
            event_type = await self._mapped_type(uuid, operation)
            if event_type is None:
                raise CapabilityNotSupported(
                    PROVIDER,
                    f'"{appointment_type}" sessions: SCHEDULING_EVENT_TYPE_MAP names event type {uuid}, which '
                    "Calendly does not know",
                )
            if not event_type.active:
                raise CapabilityNotSupported(
                    PROVIDER, f'"{appointment_type}" sessions: the mapped event type "{event_type.name}" is inactive'
                )
            return _Kind(appointment_type, event_type.uri, event_type.duration)
        chosen = self._best(appointment_type, await self._own_types(operation))
        if chosen is None:
            raise CapabilityNotSupported(
                PROVIDER,
                f'"{appointment_type}" sessions: no active event type of the coach matches it by name; map one '
                "in SCHEDULING_EVENT_TYPE_MAP",
            )
        return _Kind(appointment_type, chosen.uri, chosen.duration)

    @staticmethod
    def _best(appointment_type: AppointmentType, catalogue: list[_EventType]) -> _EventType | None:
        exact = _normalise(appointment_type)
        default = DEFAULT_DURATIONS_MINUTES[appointment_type]
        matching = [t for t in catalogue if t.active and appointment_type_of(t.name, t.slug) == appointment_type]
        matching.sort(
            key=lambda t: (exact not in (_normalise(t.name), _normalise(t.slug)), t.duration != default, t.name.lower())
        )
        return matching[0] if matching else None

    async def _mapped_type(self, uuid: str, operation: str) -> _EventType | None:
        cached = self._mapped.get(uuid)
        if cached is not None and self.clock.monotonic() - cached[0] < CATALOGUE_SECONDS:
            return cached[1]
        response = await self._send("GET", f"/event_types/{uuid}", operation, accept=(404,))
        if response.status_code == 404:
            return None
        event_type = self.http.parse(response, _EventTypeResource, operation=operation).resource
        self._mapped[uuid] = (self.clock.monotonic(), event_type)
        return event_type

    async def _own_types(self, operation: str) -> list[_EventType]:
        """The token user's active event types, re-read every :data:`CATALOGUE_SECONDS`."""
        if self._catalogue is not None and self.clock.monotonic() - self._catalogue_read_at < CATALOGUE_SECONDS:
            return self._catalogue
        async with self._types_lock:
            if self._catalogue is not None and self.clock.monotonic() - self._catalogue_read_at < CATALOGUE_SECONDS:
                return self._catalogue
            me = await self._user(operation)

            async def page(cursor: str | None) -> tuple[list[_EventType], str | None]:
                query = {"user": me.uri, "active": "true", "count": str(PAGE_SIZE)}
                if cursor is not None:
                    query["page_token"] = cursor
                result = await self._get("/event_types", _EventTypePage, operation, params=query)
                return result.collection, result.pagination.next_page_token

            self._catalogue = await collect(page)
            self._catalogue_read_at = self.clock.monotonic()
            return self._catalogue

    # Scope -----------------------------------------------------------------------------------------

    def _organization_uri(self, value: str) -> str:
        text = value.strip()
        if "://" in text:
            if "/organizations/" not in text:
                raise ConfigurationError(
                    "Invalid environment variable SCHEDULING_CALENDLY_ORGANIZATION: must be an organization URI "
                    "(https://api.calendly.com/organizations/<uuid>) or its UUID"
                )
            return text.rstrip("/")
        if not _ID.fullmatch(text):
            raise ConfigurationError(
                "Invalid environment variable SCHEDULING_CALENDLY_ORGANIZATION: must be an organization URI or its UUID"
            )
        return f"{self.base_url}/organizations/{text}"

    async def _scope(self, operation: str) -> dict[str, str]:
        """``organization=<uri>`` or ``user=<uri>`` for the listings."""
        if self.scope == "organization":
            organization = self._organization or (await self._user(operation)).current_organization
            return {"organization": organization}
        return {"user": (await self._user(operation)).uri}

    async def _user(self, operation: str) -> _User:
        """``GET /users/me`` once per process (concurrent first callers share it)."""
        if self._me is not None:
            return self._me
        async with self._me_lock:
            if self._me is None:
                self._me = (await self._get("/users/me", _UserResource, operation)).resource
            return self._me

    # HTTP ------------------------------------------------------------------------------------------

    async def _limited(self, work: Awaitable[T]) -> T:
        async with self._fanout:
            return await work

    async def _send(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        accept: tuple[int, ...] = (),
    ) -> httpx.Response:
        """One API request, with the operation visible to the token hooks (they name it in their errors)."""
        token = _OPERATION.set(operation)
        try:
            return await self.http.send(
                method, path, operation=operation, params=params, json_body=json_body, accept=accept
            )
        finally:
            _OPERATION.reset(token)

    async def _get(self, path: str, model: type[T], operation: str, *, params: Mapping[str, str] | None = None) -> T:
        return await self._json("GET", path, model, operation, params=params)

    async def _json(
        self,
        method: str,
        path: str,
        model: type[T],
        operation: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> T:
        response = await self._send(method, path, operation, params=params, json_body=json_body)
        return self.http.parse(response, model, operation=operation)

    # Tokens ----------------------------------------------------------------------------------------

    async def _auth_headers(self) -> dict[str, str]:
        if self._pat is not None:
            return {"Authorization": f"Bearer {self._pat.get_secret_value()}"}
        session = await self._access_token(stale=None)
        _SENT_TOKEN.set(session.access_token)
        return {"Authorization": f"Bearer {session.access_token}"}

    async def _reauthorize(self) -> bool:
        # The token this request carried was refused: replace it (unless another request already did).
        await self._access_token(stale=_SENT_TOKEN.get())
        return True

    def _usable(self, session: _Session | None, stale: str | None) -> bool:
        if session is None or session.access_token == stale:
            return False
        return session.expires_at is None or self.clock.now() < session.expires_at - TOKEN_EARLY

    async def _access_token(self, *, stale: str | None) -> _Session:
        """A usable access token; at most one token request in flight, its failure shared by its waiters."""
        if self._usable(self._session, stale):
            assert self._session is not None
            return self._session
        generation = self._token_requests
        async with self._token_lock:
            if self._usable(self._session, stale):
                assert self._session is not None
                return self._session
            if self._token_requests != generation and self._token_error is not None:
                raise _again(self._token_error, _OPERATION.get())
            try:
                session = await self._request_token()
            except ProviderError as error:
                self._token_error = error
                raise
            finally:
                self._token_requests += 1
            self._session, self._token_error = session, None
            return session

    async def _request_token(self) -> _Session:
        assert self._oauth is not None
        assert self._refresh_token is not None
        operation = _OPERATION.get()
        response = await self.http.send(
            "POST",
            self._oauth.token_url,
            operation=operation,
            form={
                "grant_type": "refresh_token",
                "refresh_token": self._refresh_token.get_secret_value(),
                "client_id": self._oauth.client_id,
                "client_secret": self._oauth.client_secret.get_secret_value(),
            },
            accept=(400, 401),
            authenticate=False,
        )
        if response.status_code in (400, 401):
            try:
                refusal = _OAuthError.model_validate_json(response.content)
            except ValueError:
                refusal = _OAuthError()
            detail = redact_text(": ".join(p for p in (refusal.error, refusal.error_description) if p))[:200]
            if refusal.error == "invalid_grant":
                raise ProviderAuthError(
                    f"{PROVIDER} refused the refresh token ({detail}): it was used up or revoked; reconnect the "
                    "Calendly app and set a new SCHEDULING_OAUTH_REFRESH_TOKEN",
                    source=SOURCE,
                    operation=operation,
                    reason="expired",
                )
            raise ProviderAuthError(
                f"{PROVIDER} refused the OAuth client ({detail or f'HTTP {response.status_code}'}): check "
                "SCHEDULING_OAUTH_CLIENT_ID and SCHEDULING_OAUTH_CLIENT_SECRET",
                source=SOURCE,
                operation=operation,
            )
        token = self.http.parse(response, _Token, operation=operation)
        if token.refresh_token:
            # Calendly rotates refresh tokens: the one just used is dead, this one is next.
            self._refresh_token = SecretStr(token.refresh_token)
        expires_at = self.clock.now() + timedelta(seconds=token.expires_in) if token.expires_in else None
        return _Session(token.access_token, expires_at)


# Module helpers -------------------------------------------------------------------------------------


def _missing_credentials(client_id: str | None, secret: str | None, refresh: str | None) -> str:
    given = {
        "SCHEDULING_OAUTH_CLIENT_ID": client_id,
        "SCHEDULING_OAUTH_CLIENT_SECRET": secret,
        "SCHEDULING_OAUTH_REFRESH_TOKEN": refresh,
    }
    missing = [name for name, value in given.items() if not value]
    if len(missing) == len(given):
        return (
            "Missing required environment variable: SCHEDULING_API_KEY (a Calendly personal access token; or "
            "SCHEDULING_OAUTH_CLIENT_ID, SCHEDULING_OAUTH_CLIENT_SECRET and SCHEDULING_OAUTH_REFRESH_TOKEN) "
            "(SCHEDULING_PROVIDER=calendly)"
        )
    return (
        f"Missing required environment variable: {', '.join(missing)} (Calendly OAuth needs the client id, client "
        "secret and refresh token; or set SCHEDULING_API_KEY to a personal access token) (SCHEDULING_PROVIDER=calendly)"
    )


def _error_body_of(response: httpx.Response) -> _ErrorBody:
    try:
        return _ErrorBody.model_validate_json(response.content)
    except ValueError:
        return _ErrorBody()


def _cannot_view(response: httpx.Response) -> bool:
    """Calendly's "You are not allowed to view this event": for the caller, no such appointment."""
    return "not allowed to view" in (_error_body_of(response).message or "").lower()


def _taken(body: _ErrorBody) -> bool:
    """A refusal that says the start time is not (or no longer) an open slot."""
    if any((detail.parameter or "").lower() == "start_time" for detail in body.details):
        return True
    said = " ".join([body.message or "", *(detail.message or "" for detail in body.details)]).lower()
    return any(words in said for words in _TAKEN_WORDS)
