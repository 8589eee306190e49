"""A contract-faithful fake of the Acuity Scheduling API v1 (Starlette), for adapter and conformance tests.

What it serves (base URL = the fake's URL + ``/api/v1``; real: ``https://acuityscheduling.com/api/v1``; every path
also answers with a ``.json`` suffix, as in the docs' Quick Start example ``/api/v1/appointments.json``):

==========  ===================================  ==================================================================
``GET``     ``/appointments``                    max, minDate, maxDate, calendarID, appointmentTypeID, canceled,
                                                 showall, firstName, lastName, email, phone, ``field:<id>``,
                                                 excludeForms, direction
``POST``    ``/appointments``                    ?admin, ?noEmail; JSON datetime, appointmentTypeID, firstName,
                                                 lastName, email, phone, calendarID, timezone, notes, fields[]
``GET``     ``/appointments/{id}``               pastFormAnswers (accepted, no effect)
``PUT``     ``/appointments/{id}/cancel``        ?admin, ?noEmail; JSON cancelNote, noShow (admin only)
``PUT``     ``/appointments/{id}/reschedule``    ?admin, ?noEmail; JSON datetime, calendarID, timezone
``GET``     ``/appointment-types``               includeDeleted
``GET``     ``/calendars``
``GET``     ``/availability/dates``              month, appointmentTypeID, calendarID, timezone
``GET``     ``/availability/times``              date, appointmentTypeID, calendarID, timezone, ignoreAppointmentIDs[]
``POST``    ``/availability/check-times``        JSON {datetime, appointmentTypeID, calendarID} or an array of them
``GET``     ``/me``
==========  ===================================  ==================================================================

Anything else answers 404 (a known path with another method: 405) in Acuity's error format. The published text this
follows is kept in ``tests/fakes/openapi/acuity-excerpt.md`` (URLs, repositories and commits inside) and
``test_acuity_fake_matches_reference.py`` holds the fake to it.

Facts it follows:

* Auth: HTTP Basic with the numeric User ID as username and the API key as password (Quick Start), or
  ``Authorization: Bearer <access token>`` (OAuth2, scope ``api-v1``; the official Node SDK sends exactly this
  header). Missing/wrong credentials → 401 ``{"status_code": 401, "message": "Unauthorized", "error":
  "unauthorized"}`` (API Errors page).
* Every error body is ``{"status_code": N, "message": "...", "error": "<code>"}``; the general ones are the API Errors
  page's verbatim: 400 ``bad_request`` "Expected a JSON object." (a body that is not a JSON object), 403 ``forbidden``,
  404 ``not_found`` ("Not Found. Did you mean `/appointments/{id:number}`?" for a non-numeric id), 405
  ``method_not_allowed``, 429 ``too_many_requests`` "Rate limit reached. Limit 10req/s and 20 concurrent
  connections." — so the 10 req/s / 20 connections limit is Acuity's own statement, no longer a third-party claim.
* Appointments are rendered with the fields of the documented example (id, firstName, lastName, phone, email, date
  "November 23, 2026", time "9:00am", endTime, dateCreated, datetime ``2026-11-23T09:00:00-0800``, price, paid,
  amountPaid, type, appointmentTypeID, addonIDs, classID, category, duration as a *string* of minutes, calendar,
  calendarID, canClientCancel, canClientReschedule, location, certificate, confirmationPage, formsText, notes,
  timezone, forms, labels) plus the schema's datetimeCreated, priceSold, calendarTimezone, canceled, subCalendarID,
  isVerified, scheduledBy. ``noShow`` is present only on canceled appointments ("Once canceled, appointments will have
  a noShow attribute").
* ``GET /appointments`` returns a bare JSON array, no cursor: ``max`` defaults to 100, ``direction`` defaults to DESC
  (by datetime), canceled appointments are hidden unless ``canceled=true`` (only canceled) or ``showall=true`` (both);
  ``minDate``/``maxDate`` are inclusive calendar dates; ``excludeForms=true`` leaves out the intake forms.
* ``POST /appointments`` answers **200** (the reference lists responses 200 and 400) with the new appointment. By
  default it validates like a client booking: ``datetime`` must be a slot ``/availability/times`` offers. With
  ``admin=true`` availability and attribute validation are off, ``notes`` may be set, and ``calendarID`` is required.
  ``noEmail=true`` suppresses the client e-mail. Naive datetimes are read in the calendar's time zone when
  ``calendarID`` is given, else in the business time zone ("parsed by strtotime in the business or calendar
  timezone"). Not idempotent: nothing dedupes two identical admin bookings.
* Error codes/messages of create/reschedule/cancel as the reference tables give them: ``required_first_name``,
  ``required_last_name``, ``required_email``, ``invalid_email``, ``invalid_fields``, ``required_field``,
  ``required_appointment_type_id``, ``invalid_appointment_type``, ``invalid_calendar``, ``required_datetime``,
  ``invalid_timezone``, ``invalid_datetime``, ``no_available_calendar``, ``not_available_min_hours_in_advance``,
  ``not_available_max_days_in_advance``, ``not_available``, ``cancel_not_allowed``, ``cancel_too_close``,
  ``reschedule_not_allowed``, ``reschedule_too_close``, ``reschedule_canceled`` — all 400.
* Cancel (``PUT …/cancel``) as a client obeys the account's rules (clients may cancel at all; minimum notice, 24 h by
  default); ``admin=true`` lifts them and allows setting ``noShow``. Reschedule likewise (``reschedule_*`` codes);
  ``calendarID`` absent keeps the calendar, ``null`` lets the fake pick a free one; the appointment being moved
  does not block its own new slot (the docs' ``ignoreAppointmentIDs[]`` advice).
* Availability = each calendar's working hours (in the calendar's time zone, on a grid of ``step_minutes``) minus
  non-canceled appointments on that calendar (the type's paddings included), only from ``now + min_notice`` to
  ``now + max_days_ahead``. ``/availability/dates`` → ``[{"date": "YYYY-MM-DD"}]``, ``/availability/times`` →
  ``[{"time": "2026-12-01T09:00:00-0800", "slotsAvailable": 1}]``.
* ``POST /availability/check-times`` answers 200 with ``"valid": true`` or ``"valid": false`` plus a ``reason`` (the
  docs' wording) — an unavailable slot is *not* a 400 here; an array in gives an array out.
* Webhooks (:func:`build_webhook`, :meth:`FakeAcuity.webhook`): ``application/x-www-form-urlencoded`` POST bodies with
  ``action``, ``id``, ``calendarID``, ``appointmentTypeID``; header ``X-Acuity-Signature`` = base64(HMAC-SHA256(key =
  API key, message = raw body)) — the docs' recipe and the official PHP SDK's ``verifyMessageSignature``.

World-building API for tests (vendor-native values; naive datetimes are UTC): :meth:`~FakeAcuity.set_now`,
:meth:`~FakeAcuity.add_calendar` (time zone, weekly working hours, slot grid), :meth:`~FakeAcuity.add_appointment_type`,
:meth:`~FakeAcuity.add_intake_field`, :meth:`~FakeAcuity.add_appointment` (client, start, type, calendar, notes,
canceled, noShow), :meth:`~FakeAcuity.set_plan` (API access), :meth:`~FakeAcuity.set_client_rules` (minimum cancel /
reschedule notice), :meth:`~FakeAcuity.set_booking_window`; :meth:`~FakeAcuity.fail_next` scripts faults
(``tests/fakes/faults.py``); ``requests`` logs what was received, ``events`` the webhook actions that happened and
``emails`` the client e-mails that were not suppressed by ``noEmail=true``.

Facts the sources leave unconfirmed, and what this fake decides:

1. ``Retry-After`` on 429: the docs show only the body. The fake sends none by default (an adapter must pick its own
   back-off); ``FakeAcuity(retry_after=N)`` adds ``Retry-After: N`` for tests that want it.
2. ``quota``: Acuity documents no daily/monthly quota. The ``quota`` fault answers 403 with the documented
   ``forbidden`` body — what an account whose plan has no API access is taken to get (see 3): not retryable.
3. Plan without API access (third parties say Premium/Powerhouse and up): :meth:`FakeAcuity.set_plan` with
   ``api_access=False`` makes every authenticated request 403 ``forbidden`` (the documented body).
4. ``unavailable`` → 503 ``{"status_code": 503, "message": "Service Unavailable", "error": "service_unavailable"}``
   (the docs' 5xx rows are cut off in every copy found); ``malformed`` → 200 ``application/json`` that does not parse.
5. An unknown (numeric) appointment id, or a path the fake does not serve → 404 ``{"status_code": 404, "message":
   "Not Found.", "error": "not_found"}`` (the documented 404 without its "Did you mean" suggestion, which the fake
   adds only for a non-numeric id on a known path, as documented).
6. The POST /appointments error table is the one community clients reproduce (same codes and messages as the official
   reschedule table); validation runs in the table's order (names, e-mail, fields, type, calendar, datetime, time
   zone, availability). ``notes`` from a client (no ``admin=true``) is ignored, not an error. ``admin=true`` without
   ``calendarID`` → 400 ``required_calendar_id`` ('The parameter "calendarID" is required.').
7. Without ``calendarID`` the fake tries the type's calendars in id order; none free at that time →
   ``no_available_calendar`` (also when the time is off-grid everywhere). A calendar that does not offer the type has
   no slots (``not_available``).
8. Error messages echo the ``datetime`` exactly as sent (the docs' examples show both offset and offset-less values).
   Missing/invalid ``month``/``date`` on availability → ``required_month``/``invalid_month``/``required_date``/
   ``invalid_date``; a bad ``max``/``minDate``/``maxDate`` → 400 ``bad_request`` naming the parameter.
9. Time zones of the rendering: ``datetime``/``datetimeCreated``/``dateCreated`` are in the calendar's time zone;
   ``date``/``time``/``endTime`` in the client's ``timezone`` (the booking's ``timezone``, default the calendar's), so
   an adapter must read ``datetime``, never rebuild the instant from ``date`` + ``time``.
10. Availability without ``calendarID``: the union over the type's calendars, ``slotsAvailable`` = how many calendars
    are free then. Output time zone: ``timezone`` if given, else the calendar's (with ``calendarID``), else the
    business time zone; ``date``/``month`` are read in that zone. check-times echoes ``datetime`` in the business
    time zone and the calendar it found (``null`` when none); a missing/unknown ``appointmentTypeID``, an unknown
    ``calendarID`` or an unparsable ``datetime`` in any item is a 400 for the whole request (the create codes).
11. Canceling an already canceled appointment answers 200 with it unchanged (no second event/e-mail).
12. ``labels`` is a list (empty when none), ``forms`` lists the account's intake form (all its fields, blank when not
    answered) or ``[]`` when it has none; with ``excludeForms=true`` the ``forms``/``formsText`` keys are absent.
13. Webhook ``action`` for dynamic subscriptions: the docs name events ``appointment.scheduled`` … but show no
    delivery body; the helper accepts the static-webhook actions (scheduled, rescheduled, canceled, changed) and the
    dynamic event names alike and puts the given string in ``action``.
14. Class/series appointment types, certificates, addons, packages and the 20-concurrent-connection cap are not
    modelled; faults are taken before the auth check.
15. Two auth faults besides the shared vocabulary, for the conformance suite's AUTH_FAULTS: ``expired`` answers 401
    ``{"status_code": 401, "message": "The access token provided has expired", "error": "invalid_token"}`` with
    ``WWW-Authenticate: Bearer error="invalid_token", error_description="The access token provided has expired"``.
    Acuity documents no expiry rendering (Basic keys never expire; OAuth2 access tokens are issued by its OAuth2
    server, which is not described): the fake uses the RFC 6750 error code and the message common OAuth2 servers
    print, in Acuity's error envelope. ``missing_scope`` answers the documented 403 ``forbidden`` body — what a plan
    without API access gets (decision 3); Acuity has no finer scopes than ``api-v1``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, NoReturn, cast
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import faults
from tests.fakes.faults import FaultName, FaultScript, RecordedRequest, ScriptedFault, record

# Auth faults this fake scripts besides the shared vocabulary (decision 15).
AuthFaultName = Literal["expired", "missing_scope"]
AUTH_FAULT_NAMES: tuple[AuthFaultName, ...] = ("expired", "missing_scope")

Json = dict[str, Any]

API_PREFIX = "/api/v1"
DEFAULT_MAX = 100
DEFAULT_CANCEL_NOTICE = timedelta(hours=24)
SIGNATURE_HEADER = "X-Acuity-Signature"
WEBHOOK_CONTENT_TYPE = "application/x-www-form-urlencoded"
STATIC_WEBHOOK_ACTIONS = ("scheduled", "rescheduled", "canceled", "changed")
DYNAMIC_WEBHOOK_EVENTS = tuple(f"appointment.{a}" for a in STATIC_WEBHOOK_ACTIONS)
INTAKE_FORM_ID = 1001
MALFORMED_BODY = b'[{"id":900000001,"firstName":"Trunc'
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# Error bodies the API Errors page prints verbatim (status, error, message).
BAD_REQUEST = (400, "bad_request", "Expected a JSON object.")
UNAUTHORIZED = (401, "unauthorized", "Unauthorized")
FORBIDDEN = (403, "forbidden", "Forbidden")
METHOD_NOT_ALLOWED = (405, "method_not_allowed", "Method Not Allowed")
TOO_MANY_REQUESTS = (429, "too_many_requests", "Rate limit reached. Limit 10req/s and 20 concurrent connections.")
SERVICE_UNAVAILABLE = (503, "service_unavailable", "Service Unavailable")  # decision 4
EXPIRED_TOKEN = (401, "invalid_token", "The access token provided has expired")  # decision 15
NOT_FOUND_MESSAGE = "Not Found."  # decision 5

# Endpoint error codes → message templates ("{}" is the offending value), as the reference tables give them.
MESSAGES: dict[str, str] = {
    "required_first_name": 'Attribute "firstName" is required.',
    "required_last_name": 'Attribute "lastName" is required.',
    "required_email": 'Attribute "email" is required.',
    "invalid_email": 'Invalid "email" attribute value.',
    "invalid_fields": 'The field "{}" does not exist on this appointment.',
    "required_field": 'The field "{}" is required.',
    "required_appointment_type_id": 'The parameter "appointmentTypeID" is required.',
    "invalid_appointment_type": 'The appointment type "{}" does not exist.',
    "invalid_calendar": 'The calendar "{}" does not exist.',
    "required_datetime": 'The parameter "datetime" is required.',
    "invalid_timezone": 'Invalid timezone "{}".',
    "invalid_datetime": 'The datetime "{}" is invalid.',
    "no_available_calendar": "We could not find an available calendar.",
    "not_available_min_hours_in_advance": 'The time "{}" is not far enough in advance.',
    "not_available_max_days_in_advance": 'The time "{}" is too far in advance.',
    "not_available": 'The time "{}" is not an available time slot.',
    "cancel_not_allowed": "Clients are not allowed to cancel.",
    "cancel_too_close": "Clients are not allowed to cancel this close to the time of the appointment.",
    "reschedule_not_allowed": "Clients are not allowed to reschedule.",
    "reschedule_too_close": "Clients are not allowed to reschedule this close to the time of the appointment.",
    "reschedule_canceled": "Canceled appointments may not be rescheduled.",
    # the fake's own (unconfirmed, decisions 6 and 8)
    "required_calendar_id": 'The parameter "calendarID" is required.',
    "required_month": 'The parameter "month" is required.',
    "invalid_month": 'The month "{}" is invalid.',
    "required_date": 'The parameter "date" is required.',
    "invalid_date": 'The date "{}" is invalid.',
}

_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(am|pm)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INT_RE = re.compile(r"^\d+$")
_HHMM_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


# --------------------------------------------------------------------------------------------------- errors


class AcuityError(Exception):
    """Raised inside a handler: answer ``status`` with Acuity's ``{"status_code", "message", "error"}`` body."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def error_body(status: int, error: str, message: str) -> Json:
    """Acuity's error body."""
    return {"status_code": status, "message": message, "error": error}


def _fail(code: str, value: object = "") -> NoReturn:
    """A 400 with one of the endpoint error codes of :data:`MESSAGES`."""
    raise AcuityError(400, code, MESSAGES[code].format(value))


def _general(triple: tuple[int, str, str]) -> AcuityError:
    return AcuityError(*triple)


# --------------------------------------------------------------------------------------------------- time helpers


def _utc(moment: datetime) -> datetime:
    """``moment`` as aware UTC (naive = UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as e:
        raise ValueError(f"unknown time zone {name!r}") from e


def iso_offset(moment: datetime, tz: ZoneInfo) -> str:
    """Acuity's datetime rendering: ``2026-11-23T09:00:00-0800`` in ``tz``."""
    return moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S%z")


def long_date(moment: datetime) -> str:
    """``November 23, 2026`` (locale-independent)."""
    return f"{_MONTHS[moment.month - 1]} {moment.day}, {moment.year}"


def clock_time(moment: datetime) -> str:
    """``9:00am`` / ``12:30pm``."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d}{'am' if moment.hour < 12 else 'pm'}"


def parse_datetime(text: str, default_tz: ZoneInfo) -> datetime:
    """A strtotime-like datetime (ISO forms, ``2016-02-03 2:00pm``; no offset → ``default_tz``) as aware UTC."""
    match = _DATETIME_RE.match(text.strip())
    if match is None:
        raise ValueError(text)
    year, month, day, hour, minute, second, meridiem, offset = match.groups()
    h, m, s = int(hour or 0), int(minute or 0), int(second or 0)
    if meridiem:
        if not 1 <= h <= 12:
            raise ValueError(text)
        h = h % 12 + (12 if meridiem.lower() == "pm" else 0)
    naive = datetime(int(year), int(month), int(day), h, m, s)  # ValueError on impossible values
    if offset is None:
        return naive.replace(tzinfo=default_tz).astimezone(UTC)
    if offset.upper() == "Z":
        return naive.replace(tzinfo=UTC)
    digits = offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return (naive - delta if offset[0] == "+" else naive + delta).replace(tzinfo=UTC)


def _local_time(value: str | time) -> time:
    if isinstance(value, time):
        return value
    match = _HHMM_RE.match(value.strip())
    if match is None:
        raise ValueError(f"expected HH:MM, got {value!r}")
    return time(int(match[1]), int(match[2]))


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


# --------------------------------------------------------------------------------------------------- webhooks


def sign(body: bytes, api_key: str) -> str:
    """``X-Acuity-Signature``: base64 of HMAC-SHA256 over the raw body, keyed with the API key."""
    return base64.b64encode(hmac.new(api_key.encode(), body, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class WebhookDelivery:
    """One webhook POST as Acuity would send it (post ``body`` with ``headers`` to the target)."""

    body: bytes
    headers: dict[str, str]

    @property
    def form(self) -> dict[str, str]:
        """The decoded form fields."""
        return dict(parse_qsl(self.body.decode()))


def build_webhook(
    action: str, appointment_id: int, calendar_id: int, appointment_type_id: int, *, api_key: str
) -> WebhookDelivery:
    """A signed delivery: form body ``action, id, calendarID, appointmentTypeID`` and ``X-Acuity-Signature``."""
    if action not in STATIC_WEBHOOK_ACTIONS + DYNAMIC_WEBHOOK_EVENTS:
        raise ValueError(f"unknown webhook action {action!r}")
    body = urlencode(
        {"action": action, "id": appointment_id, "calendarID": calendar_id, "appointmentTypeID": appointment_type_id}
    ).encode()
    return WebhookDelivery(body, {"Content-Type": WEBHOOK_CONTENT_TYPE, SIGNATURE_HEADER: sign(body, api_key)})


class _AcuityFaultScript(FaultScript):
    """The shared fault script, also taking this fake's auth faults (decision 15), in one first-come order."""

    def add(self, fault: FaultName | AuthFaultName, *, times: int = 1, path_contains: str | None = None) -> None:
        """Script ``fault`` for the next ``times`` matching requests."""
        if fault in AUTH_FAULT_NAMES:
            # ScriptedFault is typed for the shared names; the auth names only ever come back to this fake.
            self.pending.append(ScriptedFault(cast(FaultName, fault), times, path_contains))
            return
        super().add(cast(FaultName, fault), times=times, path_contains=path_contains)


# --------------------------------------------------------------------------------------------------- model


@dataclass
class _Calendar:
    id: int
    name: str
    email: str
    tz_name: str
    hours: dict[int, list[tuple[time, time]]]  # weekday (0 = Monday) → local intervals
    step_minutes: int
    location: str = ""
    description: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)


@dataclass
class _Type:
    id: int
    name: str
    duration: int
    calendar_ids: list[int]
    price: str = "0.00"
    category: str = ""
    description: str = ""
    active: bool = True
    private: bool = False
    padding_before: int = 0
    padding_after: int = 0
    color: str = "#6FCF97"


@dataclass
class _Appointment:
    id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    start: datetime  # aware UTC
    duration: int
    type_id: int
    calendar_id: int
    client_tz: str
    created: datetime
    notes: str = ""
    canceled: bool = False
    no_show: bool = False
    cancel_note: str = ""
    fields: dict[int, str] = field(default_factory=dict)
    labels: list[Json] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.duration)


@dataclass(frozen=True)
class FakeRoute:
    """One (method, path template under ``/api/v1``) the fake serves, and the query parameters it honours there."""

    method: str
    path: str
    query_params: frozenset[str] = frozenset()
    handler: str = ""

    @property
    def pattern(self) -> re.Pattern[str]:
        """The template as a regular expression (``{id}`` matches one path segment)."""
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ROUTES: tuple[FakeRoute, ...] = (
    FakeRoute(
        "GET",
        "/appointments",
        _words(
            "max minDate maxDate calendarID appointmentTypeID canceled showall firstName lastName email phone"
            " field:id excludeForms direction"
        ),
        "_list_appointments",
    ),
    FakeRoute("POST", "/appointments", _words("admin noEmail"), "_create_appointment"),
    FakeRoute("GET", "/appointments/{id}", _words("pastFormAnswers"), "_get_appointment"),
    FakeRoute("PUT", "/appointments/{id}/cancel", _words("admin noEmail"), "_cancel_appointment"),
    FakeRoute("PUT", "/appointments/{id}/reschedule", _words("admin noEmail"), "_reschedule_appointment"),
    FakeRoute("GET", "/appointment-types", _words("includeDeleted"), "_list_types"),
    FakeRoute("GET", "/calendars", frozenset(), "_list_calendars"),
    FakeRoute(
        "GET", "/availability/dates", _words("month appointmentTypeID calendarID timezone"), "_availability_dates"
    ),
    FakeRoute(
        "GET",
        "/availability/times",
        _words("date appointmentTypeID calendarID timezone ignoreAppointmentIDs[]"),
        "_availability_times",
    ),
    FakeRoute("POST", "/availability/check-times", frozenset(), "_check_times"),
    FakeRoute("GET", "/me", frozenset(), "_me"),
)


# --------------------------------------------------------------------------------------------------- the fake


class FakeAcuity:
    """An in-memory Acuity account served as a Starlette app (see the module docstring for the wire contract)."""

    ROUTES = ROUTES

    def __init__(
        self,
        *,
        user_id: int = 11145481,
        api_key: str = "test-api-key",
        oauth_tokens: Iterable[str] = (),
        business_timezone: str = "America/Los_Angeles",
        now: Callable[[], datetime] | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.user_id = user_id
        self.api_key = api_key
        self.oauth_tokens = set(oauth_tokens)
        self.business_tz = zone(business_timezone)
        self.retry_after = retry_after
        self._now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.requests: list[RecordedRequest] = []
        self._faults = _AcuityFaultScript()
        self._handlers: dict[str, Callable[[Request, dict[str, str]], Awaitable[Response]]] = {
            route.handler: getattr(self, route.handler) for route in ROUTES
        }
        self._reset_world()
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        self.app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=methods)])

    # ------------------------------------------------------------------------------------------- control API

    def now(self) -> datetime:
        """The fake's clock (aware UTC)."""
        return _utc(self._now())

    def set_now(self, moment: datetime | Callable[[], datetime]) -> None:
        """Fix the clock at ``moment`` (naive = UTC), or make it follow a callable."""
        if callable(moment):
            self._now = moment
        else:
            fixed = _utc(moment)
            self._now = lambda: fixed

    def fail_next(self, fault: FaultName | AuthFaultName, *, times: int = 1, path_contains: str | None = None) -> None:
        """Answer the next ``times`` requests (whose path contains ``path_contains``) with ``fault``.

        Besides the shared faults: ``expired`` (an OAuth token past its life) and ``missing_scope`` (a plan without
        API access), see decision 15.
        """
        self._faults.add(fault, times=times, path_contains=path_contains)

    def reset(self) -> None:
        """Forget the whole account (calendars, types, appointments, settings), scripted faults and requests."""
        self._faults.clear()
        self.requests.clear()
        self._reset_world()

    def set_plan(self, plan: str, *, api_access: bool) -> None:
        """The account's plan (``GET /me``); ``api_access=False`` makes every authenticated call 403."""
        self.plan = plan
        self.api_access = api_access

    def set_client_rules(
        self,
        *,
        can_cancel: bool = True,
        can_reschedule: bool = True,
        cancel_notice: timedelta = DEFAULT_CANCEL_NOTICE,
        reschedule_notice: timedelta | None = None,
    ) -> None:
        """What clients (requests without ``admin=true``) may do: cancel/reschedule at all, and how late."""
        self.clients_can_cancel = can_cancel
        self.clients_can_reschedule = can_reschedule
        self.cancel_notice = cancel_notice
        self.reschedule_notice = cancel_notice if reschedule_notice is None else reschedule_notice

    def set_booking_window(self, *, min_notice: timedelta = timedelta(0), max_days_ahead: int = 60) -> None:
        """How soon (minimum notice) and how far ahead clients may book; slots outside are not offered."""
        self.min_notice = min_notice
        self.max_days_ahead = max_days_ahead

    # ------------------------------------------------------------------------------------------- world setup

    def add_calendar(
        self,
        name: str,
        *,
        timezone: str = "America/Los_Angeles",
        hours: Mapping[int, Iterable[tuple[str | time, str | time]]] | None = None,
        step_minutes: int = 30,
        email: str = "",
        location: str = "",
        calendar_id: int | None = None,
    ) -> int:
        """A calendar with working ``hours`` (weekday 0 = Monday → local (start, end) pairs; default Mon–Fri 9–17)."""
        zone(timezone)
        if step_minutes < 1:
            raise ValueError("step_minutes must be at least 1")
        raw = hours if hours is not None else {day: [("09:00", "17:00")] for day in range(5)}
        parsed: dict[int, list[tuple[time, time]]] = {}
        for day, intervals in raw.items():
            if not 0 <= day <= 6:
                raise ValueError(f"weekday must be 0..6, got {day}")
            pairs = [(_local_time(s), _local_time(e)) for s, e in intervals]
            if any(_minutes(s) >= _minutes(e) for s, e in pairs):
                raise ValueError(f"empty working interval on weekday {day}")
            parsed[day] = pairs
        cid = calendar_id if calendar_id is not None else self._next_id("calendar")
        if cid in self._calendars:
            raise ValueError(f"calendar {cid} exists already")
        self._calendars[cid] = _Calendar(
            cid,
            name,
            email or f"{name.lower().replace(' ', '.')}@example.com",
            timezone,
            parsed,
            step_minutes,
            location,
        )
        return cid

    def add_appointment_type(
        self,
        name: str,
        duration: int,
        *,
        calendar_ids: Iterable[int] | None = None,
        price: str = "0.00",
        category: str = "",
        description: str = "",
        active: bool = True,
        private: bool = False,
        padding_before: int = 0,
        padding_after: int = 0,
        type_id: int | None = None,
    ) -> int:
        """An appointment type of ``duration`` minutes offered on ``calendar_ids`` (default: every calendar so far)."""
        if duration < 1:
            raise ValueError("duration must be at least 1 minute")
        ids = list(calendar_ids) if calendar_ids is not None else sorted(self._calendars)
        for cid in ids:
            if cid not in self._calendars:
                raise KeyError(f"no calendar {cid}")
        tid = type_id if type_id is not None else self._next_id("type")
        if tid in self._types:
            raise ValueError(f"appointment type {tid} exists already")
        self._types[tid] = _Type(
            tid, name, duration, ids, price, category, description, active, private, padding_before, padding_after
        )
        return tid

    def add_intake_field(self, field_id: int, name: str, *, required: bool = False) -> None:
        """A field of the account's intake form (settable through ``fields: [{id, value}]``)."""
        self._intake_fields[field_id] = (name, required)

    def add_appointment(
        self,
        email: str,
        start: datetime,
        *,
        appointment_type_id: int,
        calendar_id: int | None = None,
        first_name: str = "",
        last_name: str = "",
        phone: str = "",
        notes: str = "",
        canceled: bool = False,
        no_show: bool = False,
        timezone: str | None = None,
        created: datetime | None = None,
        fields: Mapping[int, str] | None = None,
        labels: Iterable[Json] = (),
    ) -> int:
        """An appointment as it already exists in the account (no availability check; naive ``start`` = UTC)."""
        kind = self._types.get(appointment_type_id)
        if kind is None:
            raise KeyError(f"no appointment type {appointment_type_id}")
        cid = calendar_id if calendar_id is not None else (kind.calendar_ids or [0])[0]
        calendar = self._calendars.get(cid)
        if calendar is None:
            raise KeyError(f"no calendar {cid}")
        if no_show and not canceled:
            raise ValueError("only canceled appointments carry noShow (Acuity marks no-shows by canceling)")
        if timezone is not None:
            zone(timezone)
        for fid in fields or {}:
            if fid not in self._intake_fields:
                raise KeyError(f"no intake field {fid}")
        appointment = _Appointment(
            id=self._next_id("appointment"),
            first_name=first_name,
            last_name=last_name,
            email=email,
            phone=phone,
            start=_utc(start),
            duration=kind.duration,
            type_id=kind.id,
            calendar_id=cid,
            client_tz=timezone or calendar.tz_name,
            created=_utc(created) if created is not None else self.now(),
            notes=notes,
            canceled=canceled,
            no_show=no_show,
            fields=dict(fields or {}),
            labels=[dict(label) for label in labels],
        )
        self._appointments[appointment.id] = appointment
        return appointment.id

    # ------------------------------------------------------------------------------------------- inspection

    def appointment(self, appointment_id: int) -> Json:
        """The appointment as ``GET /appointments/{id}`` renders it (KeyError when unknown)."""
        return self._render(self._appointments[appointment_id])

    def appointments(self, *, email: str | None = None, include_canceled: bool = True) -> list[Json]:
        """Appointments (optionally of one client e-mail, case-insensitive), rendered, by start then id."""
        chosen = [
            a
            for a in self._appointments.values()
            if (email is None or a.email.lower() == email.lower()) and (include_canceled or not a.canceled)
        ]
        return [self._render(a) for a in sorted(chosen, key=lambda a: (a.start, a.id))]

    def webhook(self, action: str, appointment_id: int) -> WebhookDelivery:
        """The signed delivery Acuity would send about ``appointment_id`` (KeyError when unknown)."""
        appointment = self._appointments[appointment_id]
        return build_webhook(action, appointment.id, appointment.calendar_id, appointment.type_id, api_key=self.api_key)

    # ------------------------------------------------------------------------------------------- internals

    def _reset_world(self) -> None:
        self._calendars: dict[int, _Calendar] = {}
        self._types: dict[int, _Type] = {}
        self._appointments: dict[int, _Appointment] = {}
        self._intake_fields: dict[int, tuple[str, bool]] = {}
        self._ids = {"calendar": 4000, "type": 7000, "appointment": 900_000_000}
        self.events: list[tuple[str, int]] = []  # (webhook action, appointment id) in the order they happened
        self.emails: list[tuple[str, int]] = []  # (confirmation|reschedule|cancellation, appointment id) sent
        self.set_plan("Powerhouse", api_access=True)
        self.set_client_rules()
        self.set_booking_window()

    def _next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def _error_response(self, status: int, error: str, message: str) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after)} if status == 429 and self.retry_after is not None else None
        return JSONResponse(error_body(status, error, message), status_code=status, headers=headers)

    def _fault_response(self, fault: FaultName | AuthFaultName) -> Response:
        if fault == "expired":
            response = self._error_response(*EXPIRED_TOKEN)
            response.headers["WWW-Authenticate"] = (
                f'Bearer error="{EXPIRED_TOKEN[1]}", error_description="{EXPIRED_TOKEN[2]}"'
            )
            return response
        if fault == "missing_scope":
            return self._error_response(*FORBIDDEN)
        if fault == "unavailable":
            return self._error_response(*SERVICE_UNAVAILABLE)
        if fault == "rate_limited":
            return self._error_response(*TOO_MANY_REQUESTS)
        if fault == "quota":
            return self._error_response(*FORBIDDEN)
        if fault == "auth":
            return self._error_response(*UNAUTHORIZED)
        return Response(MALFORMED_BODY, status_code=200, media_type="application/json")  # malformed

    def _authenticated(self, request: Request) -> bool:
        authorization = request.headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return credentials.strip() in self.oauth_tokens
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, key = decoded.partition(":")
        return hmac.compare_digest(user, str(self.user_id)) and hmac.compare_digest(key, self.api_key)

    def _match(self, method: str, path: str) -> tuple[FakeRoute, dict[str, str]]:
        if not path.startswith(API_PREFIX + "/"):
            raise AcuityError(404, "not_found", NOT_FOUND_MESSAGE)
        sub = path[len(API_PREFIX) :].rstrip("/")
        sub = sub.removesuffix(".json")
        allowed = False
        for route in ROUTES:
            match = route.pattern.match(sub)
            if match is None:
                continue
            params = match.groupdict()
            bad_id = params.get("id") is not None and not _INT_RE.match(params["id"])
            if bad_id:
                suggestion = route.path.replace("{id}", "{id:number}")
                raise AcuityError(404, "not_found", f"Not Found. Did you mean `{suggestion}`?")
            if route.method == method:
                return route, params
            allowed = True
        if allowed:
            raise _general(METHOD_NOT_ALLOWED)
        raise AcuityError(404, "not_found", NOT_FOUND_MESSAGE)

    async def _endpoint(self, request: Request) -> Response:
        self.requests.append(await record(request))
        fault = self._faults.take(request.url.path)
        if fault == "slow":
            await faults.slow()
        elif fault is not None:
            return self._fault_response(fault)
        try:
            if not self._authenticated(request):
                raise _general(UNAUTHORIZED)
            if not self.api_access:
                raise _general(FORBIDDEN)
            route, params = self._match(request.method, request.url.path)
            return await self._handlers[route.handler](request, params)
        except AcuityError as e:
            return self._error_response(e.status, e.error, e.message)

    # ---- request parsing

    @staticmethod
    async def _body(request: Request, *, optional: bool = False, allow_list: bool = False) -> Any:
        raw = await request.body()
        if not raw.strip() and optional:
            return {}
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise _general(BAD_REQUEST) from e
        if isinstance(body, dict) or (allow_list and isinstance(body, list) and body):
            return body
        raise _general(BAD_REQUEST)

    @staticmethod
    def _flag(request: Request, name: str) -> bool:
        return request.query_params.get(name, "").lower() in ("true", "1")

    @staticmethod
    def _query_date(request: Request, name: str) -> date | None:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError as e:
            raise AcuityError(400, "bad_request", f'The parameter "{name}" is invalid.') from e

    def _type_or_fail(self, raw: object) -> _Type:
        if raw is None or raw == "":
            _fail("required_appointment_type_id")
        kind = self._types.get(_int_or_none(raw) or -1)
        if kind is None or not kind.active:
            _fail("invalid_appointment_type", raw)
        return kind

    def _calendar_or_fail(self, raw: object) -> _Calendar:
        calendar = self._calendars.get(_int_or_none(raw) or -1)
        if calendar is None:
            _fail("invalid_calendar", raw)
        return calendar

    @staticmethod
    def _timezone_or_fail(raw: object) -> ZoneInfo:
        if not isinstance(raw, str) or not raw:
            _fail("invalid_timezone", raw)
        try:
            return zone(raw)
        except ValueError:
            _fail("invalid_timezone", raw)

    @staticmethod
    def _datetime_or_fail(raw: object, default_tz: ZoneInfo) -> tuple[datetime, str]:
        if raw is None or raw == "":
            _fail("required_datetime")
        text = str(raw)
        try:
            return parse_datetime(text, default_tz), text
        except ValueError:
            _fail("invalid_datetime", text)

    # ---- availability

    def _slot_starts(self, calendar: _Calendar, kind: _Type, local_day: date) -> list[datetime]:
        """Grid starts (aware UTC) on ``local_day`` (calendar time) that fit the type inside working hours."""
        tz = calendar.tz
        starts: list[datetime] = []
        for begin, end in calendar.hours.get(local_day.weekday(), []):
            minute = _minutes(begin)
            while minute + kind.duration <= _minutes(end):
                local = datetime.combine(local_day, time(minute // 60, minute % 60), tzinfo=tz)
                starts.append(local.astimezone(UTC))
                minute += calendar.step_minutes
        return starts

    def _blocked(self, calendar_id: int, start: datetime, kind: _Type, ignore: frozenset[int]) -> bool:
        begin = start - timedelta(minutes=kind.padding_before)
        end = start + timedelta(minutes=kind.duration + kind.padding_after)
        return any(
            a.calendar_id == calendar_id and not a.canceled and a.id not in ignore and a.start < end and begin < a.end
            for a in self._appointments.values()
        )

    def _window_problem(self, start: datetime) -> str | None:
        now = self.now()
        if start < now + self.min_notice or start <= now:
            return "not_available_min_hours_in_advance"
        if start > now + timedelta(days=self.max_days_ahead):
            return "not_available_max_days_in_advance"
        return None

    def _free(self, calendar: _Calendar, kind: _Type, start: datetime, ignore: frozenset[int] = frozenset()) -> bool:
        """Whether ``start`` is an offered slot of ``kind`` on ``calendar`` (window, grid, no overlap)."""
        if calendar.id not in kind.calendar_ids or self._window_problem(start) is not None:
            return False
        local_day = start.astimezone(calendar.tz).date()
        return start in self._slot_starts(calendar, kind, local_day) and not self._blocked(
            calendar.id, start, kind, ignore
        )

    def _free_slots(
        self, kind: _Type, calendars: list[_Calendar], out_tz: ZoneInfo, days: list[date], ignore: frozenset[int]
    ) -> dict[datetime, int]:
        """Free starts whose date in ``out_tz`` is one of ``days`` → how many of ``calendars`` are free then."""
        wanted = set(days)
        counts: dict[datetime, int] = {}
        for calendar in calendars:
            if calendar.id not in kind.calendar_ids:
                continue
            local_days = {d + timedelta(days=shift) for d in wanted for shift in (-1, 0, 1)}
            for local_day in sorted(local_days):
                for start in self._slot_starts(calendar, kind, local_day):
                    if start.astimezone(out_tz).date() not in wanted:
                        continue
                    if self._window_problem(start) is None and not self._blocked(calendar.id, start, kind, ignore):
                        counts[start] = counts.get(start, 0) + 1
        return counts

    def _availability_scope(self, request: Request) -> tuple[_Type, list[_Calendar], ZoneInfo]:
        kind = self._type_or_fail(request.query_params.get("appointmentTypeID"))
        raw_calendar = request.query_params.get("calendarID")
        calendars = [self._calendar_or_fail(raw_calendar)] if raw_calendar else list(self._calendars.values())
        raw_tz = request.query_params.get("timezone")
        if raw_tz:
            out_tz = self._timezone_or_fail(raw_tz)
        elif raw_calendar:
            out_tz = calendars[0].tz
        else:
            out_tz = self.business_tz
        return kind, sorted(calendars, key=lambda c: c.id), out_tz

    def _find_calendar(self, kind: _Type, start: datetime, ignore: frozenset[int] = frozenset()) -> _Calendar | None:
        for cid in sorted(kind.calendar_ids):
            calendar = self._calendars[cid]
            if self._free(calendar, kind, start, ignore):
                return calendar
        return None

    def _check_slot(
        self, kind: _Type, calendar: _Calendar | None, start: datetime, text: str, ignore: frozenset[int] = frozenset()
    ) -> _Calendar:
        """The calendar to book ``start`` on, or the 400 a client booking gets."""
        problem = self._window_problem(start)
        if problem is not None:
            _fail(problem, text)
        if calendar is None:
            found = self._find_calendar(kind, start, ignore)
            if found is None:
                _fail("no_available_calendar")
            return found
        if not self._free(calendar, kind, start, ignore):
            _fail("not_available", text)
        return calendar

    # ---- rendering

    def _client_allowed(self, appointment: _Appointment, allowed: bool, notice: timedelta) -> bool:
        return allowed and not appointment.canceled and self.now() <= appointment.start - notice

    def _render(self, appointment: _Appointment, *, forms: bool = True) -> Json:
        calendar = self._calendars[appointment.calendar_id]
        kind = self._types[appointment.type_id]
        client_tz = ZoneInfo(appointment.client_tz)
        local_start = appointment.start.astimezone(client_tz)
        local_end = appointment.end.astimezone(client_tz)
        created = appointment.created.astimezone(calendar.tz)
        secret = hashlib.md5(str(appointment.id).encode(), usedforsecurity=False).hexdigest()
        body: Json = {
            "id": appointment.id,
            "firstName": appointment.first_name,
            "lastName": appointment.last_name,
            "phone": appointment.phone,
            "email": appointment.email,
            "date": long_date(local_start),
            "time": clock_time(local_start),
            "endTime": clock_time(local_end),
            "dateCreated": long_date(created),
            "datetimeCreated": iso_offset(appointment.created, calendar.tz),
            "datetime": iso_offset(appointment.start, calendar.tz),
            "price": kind.price,
            "priceSold": kind.price,
            "paid": "no",
            "amountPaid": "0.00",
            "type": kind.name,
            "appointmentTypeID": kind.id,
            "classID": None,
            "addonIDs": [],
            "category": kind.category,
            "duration": str(appointment.duration),
            "calendar": calendar.name,
            "calendarID": calendar.id,
            "subCalendarID": None,
            "certificate": None,
            "canClientCancel": self._client_allowed(appointment, self.clients_can_cancel, self.cancel_notice),
            "canClientReschedule": self._client_allowed(
                appointment, self.clients_can_reschedule, self.reschedule_notice
            ),
            "canceled": appointment.canceled,
            "location": calendar.location,
            "confirmationPage": (
                f"https://acuityscheduling.com/schedule.php?owner={self.user_id}&id[]={secret}&action=appt"
            ),
            "notes": appointment.notes,
            "timezone": appointment.client_tz,
            "calendarTimezone": calendar.tz_name,
            "isVerified": False,
            "scheduledBy": None,
            "labels": [dict(label) for label in appointment.labels],
        }
        if appointment.canceled:
            body["noShow"] = appointment.no_show
        if forms:
            body["formsText"] = self._forms_text(appointment)
            body["forms"] = self._forms(appointment)
        return body

    def _forms(self, appointment: _Appointment) -> list[Json]:
        if not self._intake_fields:
            return []
        values = [
            {"id": appointment.id * 100 + index, "fieldID": fid, "value": appointment.fields.get(fid, ""), "name": name}
            for index, (fid, (name, _)) in enumerate(sorted(self._intake_fields.items()))
        ]
        return [{"id": INTAKE_FORM_ID, "name": "Intake Form", "values": values}]

    def _forms_text(self, appointment: _Appointment) -> str:
        lines = [f"Name: {appointment.first_name} {appointment.last_name}".rstrip()]
        for fid, (name, _) in sorted(self._intake_fields.items()):
            lines.append(f"{name}: {appointment.fields.get(fid, '')}")
        return "\n".join(lines)

    def _appointment_or_404(self, raw_id: str) -> _Appointment:
        appointment = self._appointments.get(int(raw_id))
        if appointment is None:
            raise AcuityError(404, "not_found", NOT_FOUND_MESSAGE)
        return appointment

    def _json(self, body: Any) -> JSONResponse:
        return JSONResponse(body)

    # ---- handlers

    async def _list_appointments(self, request: Request, params: dict[str, str]) -> Response:
        query = request.query_params
        raw_max = query.get("max")
        limit = DEFAULT_MAX
        if raw_max:
            if not _INT_RE.match(raw_max) or int(raw_max) < 1:
                raise AcuityError(400, "bad_request", 'The parameter "max" is invalid.')
            limit = int(raw_max)
        min_date = self._query_date(request, "minDate")
        max_date = self._query_date(request, "maxDate")
        show_all, only_canceled = self._flag(request, "showall"), self._flag(request, "canceled")
        text_filters = {
            key: query[name].strip().lower()
            for name, key in (("email", "email"), ("firstName", "first_name"), ("lastName", "last_name"))
            if query.get(name)
        }
        field_filters = {
            int(name[len("field:") :]): value for name, value in query.items() if re.fullmatch(r"field:\d+", name)
        }

        def keep(a: _Appointment) -> bool:
            if not show_all and a.canceled != only_canceled:
                return False
            if query.get("calendarID") and str(a.calendar_id) != query["calendarID"]:
                return False
            if query.get("appointmentTypeID") and str(a.type_id) != query["appointmentTypeID"]:
                return False
            if query.get("phone") and a.phone != query["phone"]:
                return False
            if any(str(getattr(a, key)).lower() != value for key, value in text_filters.items()):
                return False
            if any(a.fields.get(fid) != value for fid, value in field_filters.items()):
                return False
            local_day = a.start.astimezone(self._calendars[a.calendar_id].tz).date()
            return (min_date is None or local_day >= min_date) and (max_date is None or local_day <= max_date)

        descending = query.get("direction", "DESC").upper() != "ASC"
        chosen = sorted(filter(keep, self._appointments.values()), key=lambda a: (a.start, a.id), reverse=descending)
        forms = not self._flag(request, "excludeForms")
        return self._json([self._render(a, forms=forms) for a in chosen[:limit]])

    async def _get_appointment(self, request: Request, params: dict[str, str]) -> Response:
        return self._json(self._render(self._appointment_or_404(params["id"])))

    async def _create_appointment(self, request: Request, params: dict[str, str]) -> Response:
        body = await self._body(request)
        admin = self._flag(request, "admin")
        first, last = _text(body.get("firstName")), _text(body.get("lastName"))
        email, phone = _text(body.get("email")), _text(body.get("phone"))
        if not first:
            _fail("required_first_name")
        if not last:
            _fail("required_last_name")
        if not admin and not email:
            _fail("required_email")
        if email and not admin and not _EMAIL_RE.match(email):
            _fail("invalid_email")
        answers = self._field_answers(body.get("fields"), enforce_required=not admin)
        kind = self._type_or_fail(body.get("appointmentTypeID"))
        raw_calendar = body.get("calendarID")
        calendar = self._calendar_or_fail(raw_calendar) if raw_calendar not in (None, "") else None
        if admin and calendar is None:
            _fail("required_calendar_id")
        start, text = self._datetime_or_fail(body.get("datetime"), calendar.tz if calendar else self.business_tz)
        client_tz = self._timezone_or_fail(body["timezone"]).key if body.get("timezone") else None
        if not admin:
            calendar = self._check_slot(kind, calendar, start, text)
        assert calendar is not None
        appointment = _Appointment(
            id=self._next_id("appointment"),
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            start=start,
            duration=kind.duration,
            type_id=kind.id,
            calendar_id=calendar.id,
            client_tz=client_tz or calendar.tz_name,
            created=self.now(),
            notes=_text(body.get("notes")) if admin else "",
            fields=answers,
        )
        self._appointments[appointment.id] = appointment
        self._happened("scheduled", "confirmation", appointment, request)
        return self._json(self._render(appointment))

    def _field_answers(self, raw: object, *, enforce_required: bool) -> dict[int, str]:
        answers: dict[int, str] = {}
        if raw not in (None, ""):
            if not isinstance(raw, list):
                raise _general(BAD_REQUEST)
            for item in raw:
                if not isinstance(item, dict):
                    raise _general(BAD_REQUEST)
                fid = _int_or_none(item.get("id"))
                if fid is None or fid not in self._intake_fields:
                    _fail("invalid_fields", item.get("id"))
                answers[fid] = _text(item.get("value"))
        if enforce_required:
            for fid, (_, required) in sorted(self._intake_fields.items()):
                if required and not answers.get(fid):
                    _fail("required_field", fid)
        return answers

    def _happened(self, action: str, mail: str, appointment: _Appointment, request: Request) -> None:
        self.events.append((action, appointment.id))
        if not self._flag(request, "noEmail"):
            self.emails.append((mail, appointment.id))

    async def _cancel_appointment(self, request: Request, params: dict[str, str]) -> Response:
        appointment = self._appointment_or_404(params["id"])
        body = await self._body(request, optional=True)
        admin = self._flag(request, "admin")
        if appointment.canceled:
            return self._json(self._render(appointment))  # decision 11
        if not admin:
            if not self.clients_can_cancel:
                _fail("cancel_not_allowed")
            if self.now() > appointment.start - self.cancel_notice:
                _fail("cancel_too_close")
        appointment.canceled = True
        appointment.cancel_note = _text(body.get("cancelNote"))
        appointment.no_show = admin and body.get("noShow") is True
        self._happened("canceled", "cancellation", appointment, request)
        return self._json(self._render(appointment))

    async def _reschedule_appointment(self, request: Request, params: dict[str, str]) -> Response:
        appointment = self._appointment_or_404(params["id"])
        body = await self._body(request, optional=True)
        admin = self._flag(request, "admin")
        if appointment.canceled:
            _fail("reschedule_canceled")
        if not admin:
            if not self.clients_can_reschedule:
                _fail("reschedule_not_allowed")
            if self.now() > appointment.start - self.reschedule_notice:
                _fail("reschedule_too_close")
        kind = self._types[appointment.type_id]
        auto_calendar = "calendarID" in body and body["calendarID"] is None
        if auto_calendar:
            calendar: _Calendar | None = None
        elif body.get("calendarID") not in (None, ""):
            calendar = self._calendar_or_fail(body["calendarID"])
        else:
            calendar = self._calendars[appointment.calendar_id]
        start, text = self._datetime_or_fail(body.get("datetime"), self.business_tz)
        client_tz = self._timezone_or_fail(body["timezone"]).key if body.get("timezone") else None
        if admin:
            target = calendar or self._find_calendar(kind, start, frozenset({appointment.id}))
            if target is None:
                _fail("no_available_calendar")
        else:
            target = self._check_slot(kind, calendar, start, text, frozenset({appointment.id}))
        appointment.start = start
        appointment.calendar_id = target.id
        if client_tz:
            appointment.client_tz = client_tz
        self._happened("rescheduled", "reschedule", appointment, request)
        return self._json(self._render(appointment))

    async def _list_types(self, request: Request, params: dict[str, str]) -> Response:
        include_deleted = self._flag(request, "includeDeleted")
        return self._json(
            [
                self._render_type(kind)
                for kind in sorted(self._types.values(), key=lambda k: k.id)
                if kind.active or include_deleted
            ]
        )

    def _render_type(self, kind: _Type) -> Json:
        return {
            "id": kind.id,
            "active": kind.active,
            "name": kind.name,
            "description": kind.description,
            "duration": kind.duration,
            "price": kind.price,
            "category": kind.category,
            "color": kind.color,
            "private": kind.private,
            "type": "service",
            "classSize": None,
            "paddingAfter": kind.padding_after,
            "paddingBefore": kind.padding_before,
            "calendarIDs": list(kind.calendar_ids),
            "addonIDs": [],
            "formIDs": [INTAKE_FORM_ID] if self._intake_fields else [],
            "image": "",
            "schedulingUrl": (
                f"https://app.acuityscheduling.com/schedule.php?owner={self.user_id}&appointmentType={kind.id}"
            ),
        }

    async def _list_calendars(self, request: Request, params: dict[str, str]) -> Response:
        return self._json(
            [
                {
                    "id": c.id,
                    "name": c.name,
                    "email": c.email,
                    "replyTo": c.email,
                    "description": c.description,
                    "location": c.location,
                    "timezone": c.tz_name,
                    "thumbnail": "",
                    "image": "",
                }
                for c in sorted(self._calendars.values(), key=lambda c: c.id)
            ]
        )

    async def _availability_dates(self, request: Request, params: dict[str, str]) -> Response:
        raw = request.query_params.get("month")
        if not raw:
            _fail("required_month")
        match = re.fullmatch(r"(\d{4})-(\d{1,2})(?:-\d{1,2})?", raw.strip())
        if match is None or not 1 <= int(match[2]) <= 12:
            _fail("invalid_month", raw)
        kind, calendars, out_tz = self._availability_scope(request)
        first = date(int(match[1]), int(match[2]), 1)
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        days = [first + timedelta(days=n) for n in range((following - first).days)]
        starts = self._free_slots(kind, calendars, out_tz, days, frozenset())
        free_days = sorted({start.astimezone(out_tz).date() for start in starts})
        return self._json([{"date": d.isoformat()} for d in free_days])

    async def _availability_times(self, request: Request, params: dict[str, str]) -> Response:
        raw = request.query_params.get("date")
        if not raw:
            _fail("required_date")
        try:
            day = date.fromisoformat(raw.strip())
        except ValueError:
            _fail("invalid_date", raw)
        kind, calendars, out_tz = self._availability_scope(request)
        ignore_raw = request.query_params.getlist("ignoreAppointmentIDs[]") + request.query_params.getlist(
            "ignoreAppointmentIDs"
        )
        ignore = frozenset(int(v) for v in ignore_raw if _INT_RE.match(v))
        counts = self._free_slots(kind, calendars, out_tz, [day], ignore)
        return self._json(
            [{"time": iso_offset(start, out_tz), "slotsAvailable": counts[start]} for start in sorted(counts)]
        )

    async def _check_times(self, request: Request, params: dict[str, str]) -> Response:
        body = await self._body(request, allow_list=True)
        items = body if isinstance(body, list) else [body]
        if not all(isinstance(item, dict) for item in items):
            raise _general(BAD_REQUEST)
        results = [self._check_one(item) for item in items]
        return self._json(results if isinstance(body, list) else results[0])

    def _check_one(self, item: Json) -> Json:
        kind = self._type_or_fail(item.get("appointmentTypeID"))
        raw_calendar = item.get("calendarID")
        calendar = self._calendar_or_fail(raw_calendar) if raw_calendar not in (None, "") else None
        start, text = self._datetime_or_fail(item.get("datetime"), self.business_tz)
        result: Json = {
            "datetime": iso_offset(start, self.business_tz),
            "appointmentTypeID": kind.id,
            "calendarID": calendar.id if calendar else None,
        }
        try:
            chosen = self._check_slot(kind, calendar, start, text)
        except AcuityError as e:
            return {**result, "valid": False, "reason": e.message}
        return {**result, "calendarID": chosen.id, "valid": True}

    async def _me(self, request: Request, params: dict[str, str]) -> Response:
        return self._json(
            {
                "id": self.user_id,
                "email": "owner@example.com",
                "timezone": self.business_tz.key,
                "firstDayOfWeek": 0,
                "timeFormat": "ampm",
                "currency": "USD",
                "schedulingPage": f"https://app.acuityscheduling.com/schedule.php?owner={self.user_id}",
                "embedCode": "",
                "plan": self.plan,
                "name": "Fearvana Coaching",
                "description": "",
            }
        )


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        return int(value)
    return None


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""
