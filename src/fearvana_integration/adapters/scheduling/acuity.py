"""Acuity Scheduling (Squarespace Scheduling) as the scheduling platform: REST API v1 over httpx (PROVIDERS.md §2.2).

Endpoints (paths under ``https://acuityscheduling.com/api/v1``)
---------------------------------------------------------------
====================================  ===============================================================================
``GET  /appointments``                the customer's sessions: ``email, minDate, maxDate, direction, max=100,
                                      excludeForms=true`` (+ ``calendarID``; ``showall=true`` where no-shows
                                      matter); the coach's calendar (``list_appointments``) the same without ``email``
``GET  /appointments/{id}``           cancel: whose appointment it is
``PUT  /appointments/{id}/cancel``    cancel as the client (the account's client rules apply)
``POST /availability/check-times``    re-check one slot immediately before booking
``POST /appointments``                book as the client (availability validated by Acuity; never ``admin=true``)
``GET  /availability/dates``          ``month, appointmentTypeID, timezone`` (+ ``calendarID``): days with a free slot
``GET  /availability/times``          ``date, appointmentTypeID, timezone`` (+ ``calendarID``): that day's free slots
``GET  /appointment-types``           durations, and the type ids by name when ``SCHEDULING_EVENT_TYPE_MAP`` is not
                                      set (cached 10 minutes)
``GET  /me``                          ``ping()``
====================================  ===============================================================================

Auth: HTTP Basic, ``SCHEDULING_ACUITY_USER_ID`` (the numeric User ID) as username and ``SCHEDULING_API_KEY`` as
password (Acuity → Integrations → API). ``SCHEDULING_ENDPOINT`` replaces scheme and host (a proxy, the test fake);
``/api/v1`` is appended unless the value already ends with it.

Mappings
--------
* Appointment types: ``SCHEDULING_EVENT_TYPE_MAP`` maps our types to ``appointmentTypeID`` values. Without it, the
  account's active appointment types are matched by name, ignoring case, spaces and punctuation ("Coaching Session"
  → ``coaching-session``, "Check in" → ``check-in``); of two that match, the lower id wins. A type neither mapped
  nor named raises ``CapabilityNotSupported`` for availability and booking. Reading back, a session of an Acuity
  type outside the mapping is reported as ``coaching-session`` (the contract's Appointment needs a type, and
  dropping a real session from the coach's view would be worse); ``list_appointments`` reports it as ``None``.
* ``SCHEDULING_CALENDAR_ID`` restricts everything to one coach's calendar (``calendarID``): reads, availability,
  bookings, and cancels (an appointment on another calendar is "not found").
* Status: canceled with ``noShow`` → ``no-show``; canceled → ``cancelled``; started → ``completed``; else
  ``scheduled``. ``notes`` are Acuity's appointment notes; ``join_url`` is the first http(s) URL in ``location``
  (where Acuity puts a video-meeting link), else none. End = ``datetime`` + the appointment's ``duration``.

Windows instead of a cursor
---------------------------
``GET /appointments`` has no cursor: one request returns at most ``max`` (100) rows ordered by ``datetime``. A
full page is followed by another whose date bound moves to the last row's date, plus one day of overlap (``minDate``
/``maxDate`` are calendar dates whose time zone — the calendar's or the account's — is not documented, so the
overlap makes sure a zone difference never drops a row; rows seen twice are removed by id). Should 100 rows share
two days, ``max`` is doubled (up to 1000) instead. A customer with fewer than 100 appointments costs one request.

Requests
--------
* ``get_scheduling_context``: **1** (``showall=true``, newest first, up to 14 days ahead, the whole history; one
  more per further 100 appointments) + 1 ``GET /appointment-types`` every 10 minutes when no type map is set.
* ``get_availability`` over 14 days: one ``/availability/dates`` per month the range touches (1-2) + one
  ``/availability/times`` per day with a free slot (at most 14) + ``/appointment-types`` once per 10 minutes —
  e.g. **13** for two weeks of weekdays across a month end. ``alternatives_near`` is the same search over 7 days.
* ``book_appointment``: check-times + create = **2** (+1 look-up with a ``booking_id``; a refused slot adds the
  alternatives search). ``cancel_appointment``: GET + PUT = **2**.

Booking and cancelling
----------------------
The slot is re-checked with ``check-times`` right before the create; ``valid: false`` → ``SlotUnavailable`` with
alternatives, and nothing is created. The create sends ``datetime`` exactly as ``/availability/times`` offered it
(carried in the slot's ``provider_ref``), ``appointmentTypeID``, ``calendarID`` when configured, ``firstName``/
``lastName`` from the customer's display name (first word / the rest; a missing part is ``-``; no display name:
the e-mail's local part and ``-``), ``email`` and the customer's ``timezone``. Acuity then sends its own
confirmation e-mail to the client, as for any booking. A create refused because the slot went in the meantime
(``not_available``, ``no_available_calendar``, ``not_available_*_in_advance``) → ``SlotUnavailable``.

The create is not idempotent, so it is never blindly resent: after an answer that leaves the outcome unknown
(timeout, connection error, 5xx, an unreadable 200) the customer's non-canceled appointment at that ``datetime`` and
type is looked for; found → returned; not found → sent once more (a duplicate would be refused by Acuity's own
availability check anyway). With a ``booking_id`` the same look-up runs first, so a caller's retry returns the
booking its first attempt made. ``booking_id`` itself is not stored at Acuity: a client booking cannot set
``notes`` (admin only) and ``labels`` are the account's fixed list.

Cancel reads the appointment first: unknown, another customer's (e-mail compared case-insensitively) or on another
calendar → ``AppointmentNotFound``; already canceled → returned as it is. Acuity's ``cancel_too_close`` /
``cancel_not_allowed`` → ``ProviderRejected`` ("too close to the start to cancel" / "this appointment cannot be
cancelled").

Errors and limits
-----------------
Error bodies are ``{"status_code", "message", "error"}``; ``error`` is the code we show and act on. 401 →
``ProviderAuthError`` ``invalid`` (``expired`` only when the body says a token expired — Basic-auth keys do not
expire, OAuth2 access tokens may); 403 → ``missing_scope`` (the credentials were accepted, but the account's plan
has no API access); 429 → ``RateLimited`` after ``Retry-After``, else 1 s. Acuity's API Errors page states "10req/s
and 20 concurrent connections" per IP: each adapter keeps at most 10 requests in flight and starts at most 10 in
any second, so a two-week availability search (13 requests) spreads over about a second instead of tripping 429.

Facts PROVIDERS.md marks **unconfirmed**, and what this module decided
----------------------------------------------------------------------
* Rate limits: 10 req/s and 20 concurrent connections — now the API Errors page's own 429 text; cap 10 in flight,
  10 starts per second, per adapter (several workers on one IP share Acuity's budget: not coordinated here).
* ``Retry-After`` on 429: not documented; honoured when sent, else 1 s (the limit is per second).
* API access by plan: a plan without it is taken to answer the documented 403 ``forbidden`` → ``missing_scope``.
* Expired credentials: Basic keys never expire (a regenerated key makes the old one ``invalid``); a 401 whose body
  says "expired" (an OAuth2 token) → ``expired``.
* ``minDate``/``maxDate`` time zone: undocumented → one day of overlap on every window (above).
* ``slotsAvailable`` on times: a row with ``slotsAvailable`` 0 is skipped; a missing one is taken as free.
* Creating returns 200 with the appointment (the reference lists 200 and 400); 201 is accepted too.
* Join link: Acuity has no dedicated field; ``location`` is where accounts put the meeting link.
* Intake forms with required fields make client bookings fail (``required_field``): surfaced as
  ``ProviderRejected`` with Acuity's message; this adapter fills no form fields.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time as monotonic_time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, field_validator

from fearvana_integration.adapters.base import SchedulingAdapter
from fearvana_integration.adapters.http import (
    VendorFailure,
    VendorHttp,
    VendorPolicy,
    gather_all,
)
from fearvana_integration.clock import Clock
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
    RateLimited,
    SlotUnavailable,
)

if TYPE_CHECKING:
    from fearvana_integration.config import Settings

PROVIDER = "Acuity"
SOURCE = "scheduling"
DEFAULT_BASE_URL = "https://acuityscheduling.com/api/v1"
API_PATH = "/api/v1"
PAGE_SIZE = 100  # Acuity's default `max`
MAX_PAGE_SIZE = 1000
MAX_WINDOWS = 100
WINDOW_OVERLAP = timedelta(days=1)
TYPE_CACHE_SECONDS = 600.0
MAX_CONCURRENT_REQUESTS = 10
REQUESTS_PER_SECOND = 10
PAST_LIMIT_FOR_CONTEXT = 20
# A session of an Acuity type outside the mapping still is a session with the coach (module docstring).
FALLBACK_TYPE: AppointmentType = "coaching-session"
CANCEL_NOTE = "Cancelled through the Fearvana coach at the client's request."
MISSING_NAME_PART = "-"

# Create errors that mean "this time cannot be booked (any more)": the caller gets alternatives.
_SLOT_GONE = frozenset(
    {
        "not_available",
        "no_available_calendar",
        "not_available_min_hours_in_advance",
        "not_available_max_days_in_advance",
    }
)
_CANCEL_REFUSALS = {
    "cancel_too_close": "it is too close to the start to cancel",
    "cancel_not_allowed": "this appointment cannot be cancelled (the Acuity account does not let clients cancel)",
}
_URL = re.compile(r"https?://[^\s<>\"']+")
_NOT_NAME = re.compile(r"[^a-z0-9]+")
T = TypeVar("T")


# Wire models ---------------------------------------------------------------------------------------------------


def parse_acuity_time(text: str) -> datetime:
    """Acuity's ``2026-11-23T09:00:00-0800`` (or ``…-08:00``) as an aware datetime in its own offset.

    ValueError for anything without an offset: a naive time would be read in an unknown zone.
    """
    value = text.strip()
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return parsed


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Appointment(_Wire):
    """One appointment as ``GET /appointments`` and friends render it (only what we read)."""

    id: int
    first_name: str = Field("", alias="firstName")
    last_name: str = Field("", alias="lastName")
    email: str = ""
    when: str = Field(alias="datetime")
    duration: int  # Acuity sends minutes as a string ("60"); lax mode reads it
    appointment_type_id: int = Field(alias="appointmentTypeID")
    calendar_id: int = Field(alias="calendarID")
    canceled: bool = False
    no_show: bool | None = Field(None, alias="noShow")  # only on canceled appointments
    notes: str | None = None
    location: str | None = None

    @field_validator("when")
    @classmethod
    def _readable_time(cls, value: str) -> str:
        parse_acuity_time(value)
        return value

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("duration must be positive minutes")
        return value

    @property
    def start(self) -> datetime:
        """The start in the calendar's own offset (its ``.date()`` is the calendar's date)."""
        return parse_acuity_time(self.when)

    @property
    def start_utc(self) -> datetime:
        """The start as UTC."""
        return self.start.astimezone(UTC)


class _AppointmentType(_Wire):
    id: int
    name: str = ""
    duration: int
    active: bool = True


class _Day(_Wire):
    day: date = Field(alias="date")


class _Time(_Wire):
    time: str
    slots_available: int | None = Field(None, alias="slotsAvailable")

    @field_validator("time")
    @classmethod
    def _readable_time(cls, value: str) -> str:
        parse_acuity_time(value)
        return value


class _CheckResult(_Wire):
    valid: bool
    reason: str | None = None


class _Me(_Wire):
    id: int | None = None


_APPOINTMENTS = TypeAdapter(list[_Appointment])
_TYPES = TypeAdapter(list[_AppointmentType])
_DAYS = TypeAdapter(list[_Day])
_TIMES = TypeAdapter(list[_Time])


# Error policy ---------------------------------------------------------------------------------------------------


def _body_text(failure: VendorFailure, key: str) -> str:
    body = failure.body
    if isinstance(body, dict):
        value = body.get(key)
        if isinstance(value, str):
            return value.strip()
    return ""


class AcuityPolicy(VendorPolicy):
    """Acuity's ``{"status_code", "message", "error"}`` bodies and what its 401/403 mean."""

    # A 429 naming no wait: Acuity's limit is per second.
    default_retry_after: float = 1.0

    def message(self, failure: VendorFailure) -> str:
        """Acuity's ``message``."""
        return _body_text(failure, "message")

    def code(self, failure: VendorFailure) -> str:
        """Acuity's ``error`` code (``not_available``, ``cancel_too_close`` …)."""
        return _body_text(failure, "error")

    def classify(self, failure: VendorFailure, now: datetime) -> ProviderError | None:
        """401 → invalid (or expired when the body says so), 403 → the plan/scope does not allow the API."""
        if failure.status == 401:
            said = f"{self.code(failure)} {self.message(failure)}".casefold()
            if "expired" in said:
                return ProviderAuthError(
                    f"{PROVIDER} says the access token has expired (HTTP 401): reconnect the Acuity account",
                    reason="expired",
                )
            return ProviderAuthError(
                f"{PROVIDER} refused the credentials (HTTP 401): check SCHEDULING_ACUITY_USER_ID and "
                "SCHEDULING_API_KEY (Acuity → Integrations → API; generating a new key invalidates the old one)",
                reason="invalid",
            )
        if failure.status == 403:
            return ProviderAuthError(
                f"{PROVIDER} refused access (HTTP 403 {self.code(failure) or 'forbidden'}): the account's plan "
                "does not include API access, or the token lacks the api-v1 scope",
                reason="missing_scope",
            )
        return None


# Request limiting ---------------------------------------------------------------------------------------------


class RequestLimiter:
    """At most ``concurrency`` requests in flight and ``per_second`` started in any one-second window.

    Acuity answers 429 beyond 10 requests a second or 20 concurrent connections; pacing here turns a burst (a
    two-week availability search) into a short wait instead of an error. The primitives are made per event loop,
    so an adapter outliving one ``asyncio.run`` still works in the next.
    """

    def __init__(
        self,
        concurrency: int = MAX_CONCURRENT_REQUESTS,
        per_second: int | None = REQUESTS_PER_SECOND,
        *,
        monotonic: Callable[[], float] = monotonic_time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``per_second`` None switches pacing off (the concurrency cap stays)."""
        if concurrency < 1 or (per_second is not None and per_second < 1):
            raise ValueError("concurrency and per_second must be at least 1")
        self.concurrency = concurrency
        self.per_second = per_second
        self._monotonic = monotonic
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._pacing = asyncio.Lock()

    def _primitives(self) -> tuple[asyncio.Semaphore, asyncio.Lock]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._slots = asyncio.Semaphore(self.concurrency)
            self._pacing = asyncio.Lock()
            self._starts.clear()
        return self._slots, self._pacing

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request slot (waiting for the concurrency cap and the per-second pace)."""
        slots, pacing = self._primitives()
        async with slots:
            if self.per_second is not None:
                async with pacing:
                    await self._pace(self.per_second)
            yield

    async def _pace(self, per_second: int) -> None:
        while True:
            now = self._monotonic()
            while self._starts and now - self._starts[0] >= 1.0:
                self._starts.popleft()
            if len(self._starts) < per_second:
                self._starts.append(now)
                return
            await self._sleep(max(1.0 - (now - self._starts[0]), 0.001))


class _SlotGone(Exception):
    """The create was refused because the time cannot be booked; the caller decides about alternatives."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason or "")
        self.reason = reason


# Type mapping --------------------------------------------------------------------------------------------------


def type_key(name: str) -> str:
    """An Acuity appointment type's name as our type name would be spelled ("Check in" → ``check-in``)."""
    return _NOT_NAME.sub("-", name.casefold()).strip("-")


@dataclass(frozen=True)
class _TypeTable:
    """The account's active appointment types, and which of them are ours."""

    by_id: dict[int, _AppointmentType]
    ours: dict[AppointmentType, int]

    @property
    def reverse(self) -> dict[int, AppointmentType]:
        return {type_id: ours for ours, type_id in self.ours.items()}


def _name_matches(types: Iterable[_AppointmentType]) -> dict[AppointmentType, int]:
    matched: dict[AppointmentType, int] = {}
    for kind in sorted(types, key=lambda k: k.id):
        key = type_key(kind.name)
        for ours in APPOINTMENT_TYPES:
            if key == ours and ours not in matched:
                matched[cast(AppointmentType, ours)] = kind.id  # APPOINTMENT_TYPES lists the Literal's values
    return matched


# Helpers ----------------------------------------------------------------------------------------------------------


def _api_root(endpoint: str) -> str:
    root = endpoint.strip().rstrip("/")
    return root if root.endswith(API_PATH) else root + API_PATH


def _stripped(value: str | None) -> str | None:
    text = (value or "").strip()
    return text if text else None


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None


def client_names(customer: CustomerRef) -> tuple[str, str]:
    """``firstName``/``lastName`` for a booking: the display name split at its first space; Acuity requires both,
    so a missing part is ``-`` and a customer without a display name books under the e-mail's local part."""
    words = (customer.display_name or "").split()
    if not words:
        local = customer.email.split("@", 1)[0].strip()
        return (local or MISSING_NAME_PART), MISSING_NAME_PART
    return words[0], (" ".join(words[1:]) or MISSING_NAME_PART)


def join_url(location: str | None) -> str | None:
    """The first http(s) URL in Acuity's ``location`` (where a video link goes), else None."""
    if not location:
        return None
    match = _URL.search(location)
    return match.group(0).rstrip(".,;)") if match else None


def _status(item: _Appointment, now: datetime) -> AppointmentStatus:
    if item.canceled:
        return "no-show" if item.no_show else "cancelled"
    return "completed" if item.start_utc < now else "scheduled"


def _slot_ref(type_id: int, calendar_id: str | None, offered: str) -> str:
    return f"acuity-slot:{type_id}:{calendar_id or 'any'}:{offered}"


def _offered_time(slot: TimeSlot, type_id: int) -> str | None:
    """The ``datetime`` text ``/availability/times`` offered for ``slot`` (from its provider_ref), if it is ours."""
    prefix, _, rest = slot.provider_ref.partition(":")
    if prefix != "acuity-slot":
        return None
    ref_type, _, rest = rest.partition(":")
    _calendar, _, offered = rest.partition(":")
    if ref_type != str(type_id) or not offered:
        return None
    try:
        same = parse_acuity_time(offered) == slot.start_time
    except ValueError:
        return None
    return offered if same else None


def _months(first: date, last: date) -> list[str]:
    months: list[str] = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


# The adapter -------------------------------------------------------------------------------------------------------


class AcuitySchedulingAdapter(SchedulingAdapter):
    """Acuity Scheduling through its REST API v1; see the module docstring for endpoints, mappings and decisions."""

    name: ClassVar[str] = "acuity"

    def __init__(
        self,
        *,
        http_client: httpx.AsyncClient,
        clock: Clock,
        user_id: str | int,
        api_key: str | SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        event_types: Mapping[str, str | int] | None = None,
        calendar_id: str | int | None = None,
        time_zone: str = "UTC",
        limiter: RequestLimiter | None = None,
        type_cache_seconds: float = TYPE_CACHE_SECONDS,
    ) -> None:
        """Build the adapter on the runtime's shared client.

        ``user_id``/``api_key``: Basic-auth credentials. ``base_url``: scheme and host (``/api/v1`` is added).
        ``event_types``: our type → ``appointmentTypeID`` (None/empty: match the account's type names).
        ``calendar_id``: the coach's calendar, or None for every calendar. ``time_zone``: the zone availability
        dates are asked in (the coach's, ``SCHEDULING_TIME_ZONE``). ``limiter``: the request cap (default 10 in
        flight, 10 per second).
        """
        super().__init__(clock)
        user = str(user_id).strip()
        if not user:
            raise ConfigurationError(_missing("SCHEDULING_ACUITY_USER_ID"))
        if not user.isdigit():
            raise ConfigurationError(_not_numeric("SCHEDULING_ACUITY_USER_ID", "the numeric User ID"))
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if not key.strip():
            raise ConfigurationError(_missing("SCHEDULING_API_KEY"))
        calendar = _stripped(str(calendar_id)) if calendar_id is not None else None
        if calendar is not None and not calendar.isdigit():
            raise ConfigurationError(_not_numeric("SCHEDULING_CALENDAR_ID", "a numeric calendarID"))
        mapped: dict[AppointmentType, int] = {}
        for ours, vendor in (event_types or {}).items():
            if ours not in APPOINTMENT_TYPES:
                raise ConfigurationError(
                    f"Invalid environment variable SCHEDULING_EVENT_TYPE_MAP: {ours!r} is not an appointment type"
                )
            if not str(vendor).strip().isdigit():
                raise ConfigurationError(
                    f"Invalid environment variable SCHEDULING_EVENT_TYPE_MAP: {ours} must map to a numeric "
                    f"appointmentTypeID (got {vendor!r})"
                )
            mapped[cast(AppointmentType, ours)] = int(str(vendor).strip())  # checked against APPOINTMENT_TYPES
        zone = _zone(time_zone)
        if zone is None:
            raise ConfigurationError(f"Invalid environment variable SCHEDULING_TIME_ZONE: {time_zone!r}")
        self.user_id = user
        self._api_key = SecretStr(key.strip())
        self.calendar_id = calendar
        self.event_types = mapped
        self.time_zone = zone
        self.limiter = limiter or RequestLimiter()
        self.type_cache_seconds = type_cache_seconds
        self._types: _TypeTable | None = None
        self._types_read_at = 0.0
        self._types_lock: asyncio.Lock | None = None
        self._types_loop: asyncio.AbstractEventLoop | None = None
        self.http = VendorHttp(
            http_client,
            provider=PROVIDER,
            source=SOURCE,
            base_url=_api_root(base_url),
            clock=clock,
            policy=AcuityPolicy(),
            auth_headers=self._auth_headers,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, http_client: httpx.AsyncClient, clock: Clock) -> Self:
        """``SCHEDULING_ACUITY_USER_ID``, ``SCHEDULING_API_KEY``, ``SCHEDULING_ENDPOINT``,
        ``SCHEDULING_EVENT_TYPE_MAP``, ``SCHEDULING_CALENDAR_ID`` and ``SCHEDULING_TIME_ZONE``."""
        problem = cls.missing_settings(settings)
        if problem is not None:
            raise ConfigurationError(problem)
        return cls(
            http_client=http_client,
            clock=clock,
            user_id=settings.scheduling_acuity_user_id or "",
            api_key=settings.scheduling_api_key or SecretStr(""),
            base_url=settings.scheduling_endpoint or DEFAULT_BASE_URL,
            event_types=parse_event_type_map(settings.scheduling_event_type_map),
            calendar_id=settings.scheduling_calendar_id,
            time_zone=settings.scheduling_time_zone,
        )

    @classmethod
    def missing_settings(cls, settings: Settings) -> str | None:
        """Both Basic-auth parts are required (the user id is numeric); the calendar and type ids must be numbers."""
        user = (settings.scheduling_acuity_user_id or "").strip()
        if not user:
            return _missing("SCHEDULING_ACUITY_USER_ID")
        key = settings.scheduling_api_key
        if key is None or not key.get_secret_value().strip():
            return _missing("SCHEDULING_API_KEY")
        if not user.isdigit():
            return _not_numeric("SCHEDULING_ACUITY_USER_ID", "the numeric User ID")
        calendar = (settings.scheduling_calendar_id or "").strip()
        if calendar and not calendar.isdigit():
            return _not_numeric("SCHEDULING_CALENDAR_ID", "a numeric calendarID")
        for ours, vendor in parse_event_type_map(settings.scheduling_event_type_map).items():
            if not vendor.isdigit():
                return (
                    "Invalid environment variable SCHEDULING_EVENT_TYPE_MAP: "
                    f"{ours} must map to a numeric appointmentTypeID (got {vendor!r})"
                )
        return None

    async def _auth_headers(self) -> dict[str, str]:
        pair = f"{self.user_id}:{self._api_key.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}

    # Contract: reads ----------------------------------------------------------------------------------------------

    async def ping(self) -> None:
        """``GET /me``: the credentials work and the plan allows the API."""
        await self._json("GET", "/me", _Me, operation="ping")

    async def get_upcoming_appointments(self, customer: CustomerRef, days: int = 14) -> list[Appointment]:
        """Non-canceled sessions from now until ``days`` ahead, soonest first."""
        operation = "get_upcoming_appointments"
        now = self.clock.now()
        horizon = now + timedelta(days=days)
        reverse = await self._reverse_types(operation)
        items = await self._scan(
            operation,
            self._customer_params(customer),
            min_day=(now - WINDOW_OVERLAP).date(),
            max_day=(horizon + WINDOW_OVERLAP).date(),
            descending=False,
        )
        found = [
            self._appointment(item, customer, reverse, now)
            for item in items
            if self._is_customers(item, customer) and not item.canceled and now <= item.start_utc < horizon
        ]
        return sorted(found, key=lambda a: a.start_time)

    async def get_past_appointments(self, customer: CustomerRef, limit: int = 20) -> list[Appointment]:
        """Sessions that have started (completed and no-shows; plain cancellations left out), newest first."""
        if limit <= 0:
            return []
        operation = "get_past_appointments"
        now = self.clock.now()
        reverse = await self._reverse_types(operation)

        def past(item: _Appointment) -> bool:
            return (
                self._is_customers(item, customer)
                and item.start_utc < now
                and (not item.canceled or bool(item.no_show))
            )

        items = await self._scan(
            operation,
            {**self._customer_params(customer), "showall": "true"},
            min_day=None,
            max_day=(now + WINDOW_OVERLAP).date(),
            descending=True,
            enough=lambda seen: sum(1 for item in seen if past(item)) >= limit,
        )
        found = [self._appointment(item, customer, reverse, now) for item in items if past(item)]
        return sorted(found, key=lambda a: a.start_time, reverse=True)[:limit]

    async def count_completed_sessions(self, customer: CustomerRef) -> int:
        """Non-canceled sessions that have started, over the whole history (no-shows are canceled in Acuity)."""
        operation = "count_completed_sessions"
        now = self.clock.now()
        items = await self._scan(
            operation,
            self._customer_params(customer),
            min_day=None,
            max_day=(now + WINDOW_OVERLAP).date(),
            descending=True,
        )
        return sum(1 for item in items if self._is_customers(item, customer) and _status(item, now) == "completed")

    async def get_scheduling_context(self, customer: CustomerRef) -> SchedulingContext:
        """One history read (``showall``, newest first, up to 14 days ahead) gives upcoming, past and the count."""
        operation = "get_scheduling_context"
        now = self.clock.now()
        horizon = now + UPCOMING_WINDOW
        reverse = await self._reverse_types(operation)
        items = await self._scan(
            operation,
            {**self._customer_params(customer), "showall": "true"},
            min_day=None,
            max_day=(horizon + WINDOW_OVERLAP).date(),
            descending=True,
        )
        mine = [item for item in items if self._is_customers(item, customer)]
        upcoming = [
            self._appointment(item, customer, reverse, now)
            for item in mine
            if not item.canceled and now <= item.start_utc < horizon
        ]
        started = sorted(
            (item for item in mine if item.start_utc < now and (not item.canceled or item.no_show)),
            key=lambda item: item.start_utc,
            reverse=True,
        )
        count = sum(1 for item in started if not item.canceled)
        past = [self._appointment(item, customer, reverse, now) for item in started[:PAST_LIMIT_FOR_CONTEXT]]
        return build_scheduling_context(upcoming, past, count, now)

    async def list_appointments(self, date_range: DateRange) -> list[ListedAppointment]:
        """Every non-canceled appointment starting in the range (on the configured calendar), soonest first."""
        operation = "list_appointments"
        now = self.clock.now()
        reverse = await self._reverse_types(operation)
        params: dict[str, Any] = {}
        if self.calendar_id is not None:
            params["calendarID"] = self.calendar_id
        items = await self._scan(
            operation,
            params,
            min_day=(date_range.start_date - WINDOW_OVERLAP).date(),
            max_day=(date_range.end_date + WINDOW_OVERLAP).date(),
            descending=False,
        )
        listed = [
            ListedAppointment(
                id=str(item.id),
                type=reverse.get(item.appointment_type_id),
                start_time=item.start_utc,
                end_time=item.start_utc + timedelta(minutes=item.duration),
                status=_status(item, now),
                invitee_email=item.email.strip() or None,
                customer_id=None,
                join_url=join_url(item.location),
                provider_ref=f"acuity:{item.id}",
            )
            for item in items
            if not item.canceled and date_range.start_date <= item.start_utc < date_range.end_date
        ]
        return sorted(listed, key=lambda a: a.start_time)

    # Contract: availability --------------------------------------------------------------------------------------

    async def get_availability(self, date_range: DateRange, appointment_type: AppointmentType) -> list[TimeSlot]:
        """Free slots from ``/availability/dates`` (per month) then ``/availability/times`` (per free day)."""
        operation = "get_availability"
        table = await self._type_table(operation)
        type_id = self._type_id(table, appointment_type)
        duration = table.by_id[type_id].duration
        now = self.clock.now()
        start = max(date_range.start_date, now)
        end = date_range.end_date
        if start >= end:
            return []
        first_day = start.astimezone(self.time_zone).date()
        last_day = (end - timedelta(microseconds=1)).astimezone(self.time_zone).date()
        base = self._availability_params(type_id)
        months = await gather_all(
            [
                self._json("GET", "/availability/dates", _DAYS, operation=operation, params={**base, "month": month})
                for month in _months(first_day, last_day)
            ]
        )
        days = sorted({item.day for month in months for item in month if first_day <= item.day <= last_day})
        per_day = await gather_all(
            [
                self._json(
                    "GET", "/availability/times", _TIMES, operation=operation, params={**base, "date": day.isoformat()}
                )
                for day in days
            ]
        )
        slots: dict[datetime, TimeSlot] = {}
        for offered in (item for times in per_day for item in times):
            if offered.slots_available is not None and offered.slots_available < 1:
                continue
            begins = parse_acuity_time(offered.time).astimezone(UTC)
            ends = begins + timedelta(minutes=duration)
            if begins < start or ends > end or begins in slots:
                continue
            slots[begins] = TimeSlot(
                start_time=begins,
                end_time=ends,
                duration=duration,
                available=True,
                appointment_type=appointment_type,
                provider_ref=_slot_ref(type_id, self.calendar_id, offered.time),
            )
        return [slots[key] for key in sorted(slots)]

    # Contract: booking -------------------------------------------------------------------------------------------

    async def book_appointment(
        self,
        customer: CustomerRef,
        slot: TimeSlot,
        appointment_type: AppointmentType,
        booking_id: str | None = None,
    ) -> Appointment:
        """check-times, then the client booking; a retry (or a ``booking_id``) looks for the booking first."""
        operation = "book_appointment"
        type_id = await self._bookable_type_id(appointment_type, operation)
        reverse = await self._reverse_types(operation)
        offered = _offered_time(slot, type_id) or slot.start_time.astimezone(self.time_zone).strftime(
            "%Y-%m-%dT%H:%M:%S%z"
        )
        if booking_id is not None:
            existing = await self._existing(customer, slot.start_time, type_id, reverse, operation)
            if existing is not None:
                return existing
        check: dict[str, Any] = {"datetime": offered, "appointmentTypeID": type_id}
        if self.calendar_id is not None:
            check["calendarID"] = int(self.calendar_id)
        result = await self._json(
            "POST", "/availability/check-times", _CheckResult, operation=operation, json_body=check
        )
        if not result.valid:
            raise await self._slot_unavailable(slot, appointment_type, result.reason)
        body = self._booking_body(customer, offered, type_id)
        try:
            return await self._create(customer, body, reverse, operation)
        except _SlotGone as gone:
            raise await self._slot_unavailable(slot, appointment_type, gone.reason) from None
        except (ProviderUnavailable, ProviderResponseInvalid) as first:
            if isinstance(first, RateLimited):
                raise  # refused before anything was booked
            # The outcome is unknown: Acuity may have booked. Look before sending again (the create is not idempotent).
            existing = await self._existing(customer, slot.start_time, type_id, reverse, operation)
            if existing is not None:
                return existing
        try:
            return await self._create(customer, body, reverse, operation)
        except (_SlotGone, ProviderError) as second:
            # The first attempt may have landed after the look-up (its slot is then "taken" — by us).
            existing = await self._existing(customer, slot.start_time, type_id, reverse, operation)
            if existing is not None:
                return existing
            if isinstance(second, _SlotGone):
                raise await self._slot_unavailable(slot, appointment_type, second.reason) from None
            raise

    async def cancel_appointment(self, customer: CustomerRef, appointment_id: str) -> Appointment:
        """Cancel as the client, after checking the appointment is this customer's (else AppointmentNotFound)."""
        operation = "cancel_appointment"
        raw_id = appointment_id.strip()
        if not raw_id.isdigit():
            raise AppointmentNotFound(appointment_id)
        async with self.limiter.slot():
            response = await self.http.send("GET", f"/appointments/{raw_id}", operation=operation, accept=(404,))
        if response.status_code == 404:
            raise AppointmentNotFound(appointment_id)
        item = self.http.parse(response, _Appointment, operation=operation)
        if not self._is_customers(item, customer):
            raise AppointmentNotFound(appointment_id)
        reverse = await self._reverse_types(operation)
        now = self.clock.now()
        if item.canceled:
            return self._appointment(item, customer, reverse, now)
        async with self.limiter.slot():
            response = await self.http.send(
                "PUT",
                f"/appointments/{raw_id}/cancel",
                operation=operation,
                json_body={"cancelNote": CANCEL_NOTE},
                accept=(400, 404),
            )
        if response.status_code == 404:
            raise AppointmentNotFound(appointment_id)
        if response.status_code == 400:
            error = self.http.error_for(response, operation=operation)
            code = _error_code(response)
            if code in _CANCEL_REFUSALS:
                raise ProviderRejected(
                    f"{PROVIDER} did not cancel appointment {raw_id}: {_CANCEL_REFUSALS[code]}",
                    source=SOURCE,
                    operation=operation,
                ) from error
            raise error
        cancelled = self.http.parse(response, _Appointment, operation=operation)
        return self._appointment(cancelled, customer, reverse, now)

    # Booking internals -------------------------------------------------------------------------------------------

    def _booking_body(self, customer: CustomerRef, offered: str, type_id: int) -> dict[str, Any]:
        first, last = client_names(customer)
        body: dict[str, Any] = {
            "datetime": offered,
            "appointmentTypeID": type_id,
            "firstName": first,
            "lastName": last,
            "email": customer.email.strip(),
        }
        if self.calendar_id is not None:
            body["calendarID"] = int(self.calendar_id)
        if _zone(customer.time_zone) is not None:
            # The client's zone: Acuity writes the confirmation e-mail in it.
            body["timezone"] = customer.time_zone.strip()
        return body

    async def _create(
        self, customer: CustomerRef, body: dict[str, Any], reverse: dict[int, AppointmentType], operation: str
    ) -> Appointment:
        """One ``POST /appointments``; ``_SlotGone`` when Acuity says the time cannot be booked."""
        async with self.limiter.slot():
            response = await self.http.send("POST", "/appointments", operation=operation, json_body=body, accept=(400,))
        if response.status_code == 400:
            if _error_code(response) in _SLOT_GONE:
                raise _SlotGone(_error_message(response))
            raise self.http.error_for(response, operation=operation)
        created = self.http.parse(response, _Appointment, operation=operation)
        return self._appointment(created, customer, reverse, self.clock.now())

    async def _existing(
        self,
        customer: CustomerRef,
        start: datetime,
        type_id: int,
        reverse: dict[int, AppointmentType],
        operation: str,
    ) -> Appointment | None:
        """The customer's non-canceled appointment of ``type_id`` starting at ``start``, if Acuity has one."""
        items = await self._scan(
            operation,
            {**self._customer_params(customer), "appointmentTypeID": type_id},
            min_day=(start - WINDOW_OVERLAP).date(),
            max_day=(start + WINDOW_OVERLAP).date(),
            descending=False,
        )
        for item in items:
            if (
                self._is_customers(item, customer)
                and not item.canceled
                and item.appointment_type_id == type_id
                and item.start_utc == start
            ):
                return self._appointment(item, customer, reverse, self.clock.now())
        return None

    async def _slot_unavailable(
        self, slot: TimeSlot, appointment_type: AppointmentType, reason: str | None
    ) -> SlotUnavailable:
        said = f" ({PROVIDER}: {reason.strip()})" if reason and reason.strip() else ""
        return SlotUnavailable(
            f"The slot at {slot.start_time.astimezone(UTC):%Y-%m-%d %H:%M} UTC is not available{said}",
            alternatives=await self.alternatives_near(slot, appointment_type),
        )

    # Reading appointments ----------------------------------------------------------------------------------------

    def _customer_params(self, customer: CustomerRef) -> dict[str, Any]:
        params: dict[str, Any] = {"email": customer.email.strip()}
        if self.calendar_id is not None:
            params["calendarID"] = self.calendar_id
        return params

    def _is_customers(self, item: _Appointment, customer: CustomerRef) -> bool:
        # The email filter is Acuity's; checked again so that a looser server-side match never leaks a stranger's
        # session into a customer's context (or lets them cancel it).
        if item.email.strip().casefold() != customer.email.strip().casefold():
            return False
        return self.calendar_id is None or str(item.calendar_id) == self.calendar_id

    def _appointment(
        self, item: _Appointment, customer: CustomerRef, reverse: dict[int, AppointmentType], now: datetime
    ) -> Appointment:
        start = item.start_utc
        return Appointment(
            id=str(item.id),
            customer_id=customer.id,
            type=reverse.get(item.appointment_type_id, FALLBACK_TYPE),
            start_time=start,
            end_time=start + timedelta(minutes=item.duration),
            duration=item.duration,
            notes=(item.notes or "").strip() or None,
            status=_status(item, now),
            join_url=join_url(item.location),
            provider_ref=f"acuity:{item.id}",
        )

    async def _scan(
        self,
        operation: str,
        params: Mapping[str, Any],
        *,
        min_day: date | None,
        max_day: date | None,
        descending: bool,
        enough: Callable[[list[_Appointment]], bool] | None = None,
    ) -> list[_Appointment]:
        """Every appointment matching ``params`` between the dates, by date windows (module docstring).

        ``enough(seen)`` may end the scan early (rows arrive in ``direction`` order, so later pages only hold
        rows further from the start).
        """
        seen: dict[int, _Appointment] = {}
        size = PAGE_SIZE
        for _ in range(MAX_WINDOWS):
            query: dict[str, Any] = {
                **params,
                "direction": "DESC" if descending else "ASC",
                "max": size,
                "excludeForms": "true",
            }
            if min_day is not None:
                query["minDate"] = min_day.isoformat()
            if max_day is not None:
                query["maxDate"] = max_day.isoformat()
            page = await self._json("GET", "/appointments", _APPOINTMENTS, operation=operation, params=query)
            for item in page:
                seen.setdefault(item.id, item)
            ordered = list(seen.values())
            if len(page) < size or (enough is not None and enough(ordered)):
                return ordered
            boundary = page[-1].start.date()
            if descending:
                bound = boundary + WINDOW_OVERLAP
                if max_day is None or bound < max_day:
                    max_day = bound
                    continue
            else:
                bound = boundary - WINDOW_OVERLAP
                if min_day is None or bound > min_day:
                    min_day = bound
                    continue
            # A full page within two days: the window cannot move, so ask for more rows at once.
            if size >= MAX_PAGE_SIZE:
                raise self.http.invalid(
                    f"more than {MAX_PAGE_SIZE} appointments within two days; the date windows cannot advance",
                    operation=operation,
                )
            size = min(size * 2, MAX_PAGE_SIZE)
        raise self.http.invalid(f"the appointment list did not end after {MAX_WINDOWS} windows", operation=operation)

    # Types -------------------------------------------------------------------------------------------------------

    def _availability_params(self, type_id: int) -> dict[str, Any]:
        params: dict[str, Any] = {"appointmentTypeID": type_id, "timezone": self.time_zone.key}
        if self.calendar_id is not None:
            params["calendarID"] = self.calendar_id
        return params

    def _type_id(self, table: _TypeTable, appointment_type: AppointmentType) -> int:
        type_id = table.ours.get(appointment_type)
        if type_id is None:
            raise CapabilityNotSupported(
                PROVIDER,
                f"{appointment_type} appointments: no active Acuity appointment type is named so or mapped to it "
                "in SCHEDULING_EVENT_TYPE_MAP",
            )
        if type_id not in table.by_id:
            raise CapabilityNotSupported(
                PROVIDER,
                f"{appointment_type} appointments: SCHEDULING_EVENT_TYPE_MAP maps it to appointmentTypeID "
                f"{type_id}, which is not an active appointment type of this Acuity account",
            )
        return type_id

    async def _bookable_type_id(self, appointment_type: AppointmentType, operation: str) -> int:
        """The configured id without a request (check-times refuses a wrong one), else the account's by name."""
        configured = self.event_types.get(appointment_type)
        if configured is not None:
            return configured
        return self._type_id(await self._type_table(operation), appointment_type)

    async def _reverse_types(self, operation: str) -> dict[int, AppointmentType]:
        """appointmentTypeID → our type; from the configured map without a request, else from the account."""
        if self.event_types:
            return {type_id: ours for ours, type_id in self.event_types.items()}
        return (await self._type_table(operation)).reverse

    async def _type_table(self, operation: str) -> _TypeTable:
        """The account's active appointment types (cached ``type_cache_seconds``, one read at a time)."""
        loop = asyncio.get_running_loop()
        if self._types_lock is None or self._types_loop is not loop:
            self._types_lock, self._types_loop = asyncio.Lock(), loop
        async with self._types_lock:
            fresh = self.clock.monotonic() - self._types_read_at < self.type_cache_seconds
            if self._types is not None and fresh:
                return self._types
            types = await self._json("GET", "/appointment-types", _TYPES, operation=operation)
            active = [kind for kind in types if kind.active]
            ours = dict(self.event_types) if self.event_types else _name_matches(active)
            self._types = _TypeTable(by_id={kind.id: kind for kind in active}, ours=ours)
            self._types_read_at = self.clock.monotonic()
            return self._types

    # Transport ---------------------------------------------------------------------------------------------------

    async def _json(
        self,
        method: str,
        path: str,
        model: type[T] | TypeAdapter[T],
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> T:
        async with self.limiter.slot():
            return await self.http.json(method, path, model, operation=operation, params=params, json_body=json_body)


def _missing(variable: str) -> str:
    return f"Missing required environment variable: {variable} (SCHEDULING_PROVIDER=acuity)"


def _not_numeric(variable: str, what: str) -> str:
    return f"Invalid environment variable {variable}: must be {what} (digits only; SCHEDULING_PROVIDER=acuity)"


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    code = body.get("error") if isinstance(body, dict) else None
    return code.strip() if isinstance(code, str) else ""


def _error_message(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) else None
