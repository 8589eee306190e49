"""A contract-faithful fake of the Calendly API v2 (Starlette), for the scheduling adapter and conformance tests.

What it serves (base URL = wherever the app is mounted; production ``https://api.calendly.com``, and the OAuth
server ``https://auth.calendly.com`` for ``/oauth/token``):

==========  ==========================================================  ==============================================
``GET``     ``/users/me``                                               the token's user
``GET``     ``/event_types``                                            organization | user, active, admin_managed,
                                                                        sort, count, page_token
``GET``     ``/event_types/{uuid}``
``GET``     ``/event_type_available_times``                             event_type, start_time, end_time (≤ 7 days,
                                                                        future), no pagination
``GET``     ``/scheduled_events``                                       organization | user, invitee_email, status,
                                                                        min_start_time, max_start_time, sort, count,
                                                                        page_token
``GET``     ``/scheduled_events/{uuid}``
``GET``     ``/scheduled_events/{uuid}/invitees``                       email, status, sort, count, page_token
``GET``     ``/scheduled_events/{event_uuid}/invitees/{invitee_uuid}``
``POST``    ``/scheduled_events/{uuid}/cancellation``                   JSON ``{"reason"}`` (optional) → 201
``POST``    ``/invitees``                                               Scheduling API ("Create Event Invitee") → 201
``POST``    ``/scheduling_links``                                       ``{"max_event_count":1,"owner","owner_type"}``
                                                                        → 201
``POST``    ``/oauth/token``                                            form body, ``grant_type=refresh_token``
==========  ==========================================================  ==============================================

Anything else answers 404 in Calendly's error format. ``tests/fakes/openapi/calendly-excerpt.json`` keeps the
published text this was built from (Calendly's OpenAPI v2.0.0 as vendored in ``speakeasy-sdks/calendly-python``,
plus developer.calendly.com pages for what that document predates: the Scheduling API, rate limits, scopes, OAuth
token rotation, webhook signatures), and ``test_calendly_fake_matches_reference.py`` checks the fake against it.

Facts it follows:

* Auth: ``Authorization: Bearer <token>`` (personal access token or OAuth access token). Missing/unknown token →
  401 ``{"title": "Unauthenticated", "message": "The access token is invalid"}`` (the published UNAUTHENTICATED
  response). Every error body is ``{"title", "message", "details"?: [{"parameter"?, "message"}]}`` (``ErrorResponse``);
  titles are the published ones: "Invalid Argument" (400), "Unauthenticated" (401), "Permission Denied" (403),
  "Resource Not Found" (404), "Internal Server Error" (500).
* Resources are identified by URIs built from the base URL the request arrived at (``request.base_url``), e.g.
  ``http://127.0.0.1:PORT/event_types/<uuid>``; identifiers are UUIDs (what live payloads carry since 2023).
  Booking-page links (``scheduling_url``, ``cancel_url``, ``reschedule_url``, ``booking_url``) are calendly.com web
  pages, not API resources, so they stay on ``https://calendly.com``.
* Times are ISO-8601 UTC with microseconds and ``Z`` (``2026-11-23T09:00:00.000000Z``), as every published example.
* Collections: ``{"collection": [...], "pagination": {"count", "next_page", "previous_page", "next_page_token",
  "previous_page_token"}}``; ``count`` defaults to 20 and must be 1..100 (the published ``Count`` parameter);
  ``next_page``/``previous_page`` are full URLs (the request's URL with ``page_token`` replaced), null at the ends.
* ``GET /scheduled_events``: ``organization`` needs an admin/owner (a token whose user has the member role gets 403
  "You do not have permission"); ``user`` alone only for the caller's own user (a member asking for someone else
  gets that same 403; an admin asking for someone else without ``organization`` gets 403 "Please also specify
  organization when requesting events for a user within your organization."; a user outside the organization →
  403 "This user is not in your organization"); neither → 400. ``status`` is ``active|canceled``; ``sort``
  accepts only ``start_time:asc|desc`` (default asc). Events of other hosts → 403 "You are not allowed to view
  this event" unless the token's user is an admin of their organization.
* ``GET /event_types``: ``organization`` or ``user`` is required (400 otherwise); ``active=true|false``;
  ``admin_managed=true|false`` (no fake event type is admin-managed); ``sort`` default ``name:asc``.
* ``GET /event_type_available_times``: the range may be no greater than 7 days, ``start_time`` must be in the
  future (fake clock), ``end_time`` after ``start_time``; no pagination. Items ``{"status": "available",
  "invitees_remaining", "start_time", "scheduling_url"}``. Availability = the host's working hours (in the host's
  time zone) minus active scheduled events and busy blocks, on the event type's start-time grid, never before
  now + minimum notice.
* ``POST /invitees``: body ``{"event_type", "start_time", "invitee": {"email", "timezone", "name" |
  "first_name" (+ "last_name"), "text_reminder_number"?}, "location"?, "questions_and_answers"?, "event_guests"?,
  "tracking"?}`` → 201 ``{"resource": Invitee}`` and a new scheduled event. Not idempotent: posting twice books
  twice when the slot allows (a group event type with room left), otherwise the second post is refused.
  Needs the ``scheduled_events:write`` scope. Endpoint-specific limits (rate-limit page, release note 2026-04-15):
  Trial 5/user/day; Paid non-Enterprise 10/min, 50/hour, 100/day; Enterprise 500/min → 429.
* ``POST /scheduled_events/{uuid}/cancellation``: 201 ``{"resource": {"canceled_by", "reason", "canceler_type",
  "created_at"}}``; the event and its invitees become ``canceled``; cancelling again → 403 "Event is already
  canceled", an event that has started → 403 "Event in the past", someone else's event (member token) → 403
  "You are not allowed to cancel this event" (all three messages are the published enum); reason ≤ 10000 chars.
* ``POST /scheduling_links``: ``max_event_count`` must be 1, ``owner_type`` ``EventType`` → 201
  ``{"resource": {"booking_url", "owner", "owner_type"}}``.
* Rate limits (developer.calendly.com "Rate Limits"): per user, 500 requests/minute on paid plans, 50 on Free;
  every API response carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (seconds
  until the window resets); excess → 429 with ``X-RateLimit-Remaining: 0`` (no ``Retry-After`` — the documented
  429 has none). Only 8 OAuth tokens per user per minute.
* OAuth (``POST /oauth/token``, ``application/x-www-form-urlencoded``): client credentials by HTTP Basic or as
  ``client_id``/``client_secret`` body fields; ``grant_type=refresh_token`` answers ``{"access_token",
  "refresh_token", "token_type": "Bearer", "scope", "expires_in": 7200, "created_at": <unix>, "owner",
  "organization"}``. Refresh tokens are single-use with rotation ("refresh token rotation guide"): reusing one →
  400 ``{"error": "invalid_grant", "error_description"}``; access tokens expire after 2 hours (fake clock).
  :attr:`FakeCalendly.token_requests` counts every request to the endpoint (single-flight tests).
* Scopes (developer.calendly.com "Authorization Scopes", since 2026-03-03): ``users:read``, ``event_types:read``,
  ``scheduled_events:read|write``, ``scheduling_links:write``; a ``:write`` scope includes the ``:read`` one.
  Tokens issued before scopes existed have every scope (the fake's default, ``token_scopes=None``).
* Webhooks: :func:`sign_webhook` renders ``Calendly-Webhook-Signature: t=<unix>,v1=<hex>`` with
  ``v1 = HMAC-SHA256(signing_key, f"{t}.{raw_body}")``; :meth:`FakeCalendly.webhook` builds an
  ``invitee.created`` / ``invitee.canceled`` delivery (``{"created_at", "created_by", "event", "payload"}``, the
  payload being the invitee plus its ``scheduled_event``).

Scripted faults (``tests/fakes/faults.py``), taken before the auth check, in Calendly's format:
``unavailable`` → 503 ``{"title": "Service Unavailable", …}``; ``rate_limited`` → 429 with the three
``X-RateLimit-*`` headers (remaining 0) plus ``Retry-After: 2``; ``quota`` → 429 for the daily Create Event
Invitee cap (``X-RateLimit-Limit: 100``, reset = seconds to UTC midnight, no ``Retry-After``); ``auth`` → 401
"The access token expired"; ``malformed`` → 200 with a truncated JSON body; ``slow`` → waits, then answers.
Two Calendly-only faults tell the auth failures apart (:data:`AUTH_FAULT_NAMES`): ``expired`` → the same 401 as
``auth``; ``missing_scope`` → the 403 a token without the route's scope gets (fact 3 below), whatever the token.

Facts the public sources leave unconfirmed, and how this fake decides them:

1. Free plan and ``POST /invitees``: until the 2026-11-03 release note the Scheduling API required a paid plan and
   free accounts got 403; that note lifts it ("No longer requires a paid Calendly plan … subject to
   endpoint-specific rate limits", which the rate-limit page does not list yet). The fake keeps the older rule so
   the free-plan refusal can be tested: plan ``"free"`` → 403 ``{"title": "Permission Denied", "message":
   "Please upgrade to a paid Calendly account."}`` (the wording the same note gives plan-gated 403s).
2. A start time that is not an open slot (taken, outside working hours, off the grid, too soon, in the past) →
   400 ``{"title": "Invalid Argument", "message": "The supplied parameters are invalid.", "details":
   [{"parameter": "start_time", "message": "The selected time is no longer available."}]}``. No public source shows
   Calendly's real answer; an adapter should key on 400 + ``details[].parameter == "start_time"``.
3. Missing scope → 403 ``{"title": "Permission Denied", "message": "The access token does not have the required
   scope.", "details": [{"parameter": "scope", "message": "<scope> is required"}]}``; the scope map above is
   the scope catalogue's, except ``scheduling_links:write`` for ``POST /scheduling_links`` and ``users:read`` for
   ``GET /users/me``, which are assumed.
4. Expired access token (the ``auth`` fault, :meth:`FakeCalendly.expire_token`, or 2 hours after an OAuth token
   was issued) → 401 ``{"title": "Unauthenticated", "message": "The access token expired"}``.
5. 429 body (undocumented) → ``{"title": "Too Many Requests", "message": "…"}``; a 429 from an endpoint-specific
   cap carries that cap in ``X-RateLimit-Limit`` and the seconds until its window frees in ``X-RateLimit-Reset``.
   Windows are fixed (clock minute / hour / UTC day), not rolling. Every ``POST /invitees`` that passes auth, scope
   and plan counts, even one answered 400. Calendly documents no ``Retry-After``; only the ``rate_limited`` fault
   sends one (the shared fault vocabulary's "burst" meaning).
6. 503 body (undocumented; only 500 is published) → ``{"title": "Service Unavailable", "message": "The service is
   temporarily unavailable. Please try again later."}``.
7. Validation messages inside ``details`` are the fake's wording (the spec publishes only the titles and top-level
   messages). Parameter URIs must be ones this fake issued (same scheme/host/port): a malformed or foreign URI →
   400 (``details[].parameter`` = the parameter), a well-formed one naming nothing → 404.
8. ``min_start_time`` is inclusive and ``max_start_time`` exclusive; ``invitee_email`` matches any invitee of the
   event (active or canceled), case-insensitively; the ``/event_type_available_times`` range includes slots with
   ``start_time <= slot < end_time``.
9. ``GET /event_types?user=`` works for any user of the caller's organization; ``organization=`` needs an admin.
   ``sort`` accepts ``name``, ``created_at`` and ``updated_at`` (``updated_at`` is what public clients send).
10. Start-time grid: 30 minutes unless the event type says otherwise; minimum notice 0 unless set; a group event
    type offers a slot while its event at that start has room (``invitees_remaining`` = room left).
11. ``scheduling_method`` and ``invitee_scheduled_by`` (in the newer docs' Invitee) are ``null`` for invitees made
    with the world API; an invitee made through ``POST /invitees`` has ``invitee_scheduled_by`` = the token's user
    URI and ``scheduling_method`` null. ``meeting_notes_plain``/``meeting_notes_html`` and
    ``event_memberships[].user_email``/``user_name`` are not in the 2023 OpenAPI; they are in live webhook
    payloads and the project's research, so the fake renders them. ``calendar_event`` (required, nullable in the
    OpenAPI) is ``null``. ``cancellation.created_at`` is in live payloads; ``canceled_by`` is the canceller's name.
12. Zoom locations render ``"type": "zoom"`` (the OpenAPI's own example and live payloads) although the schema's
    enum says ``zoom_conference``; conference ``join_url``s are placeholders.
13. ``POST /invitees`` ``location`` is ``{"kind", "location"?}``; ``kind`` must be one the event type offers
    (default: its first); ``questions_and_answers`` items are ``{"question", "answer", "position"?}``;
    ``event_guests`` is a list of ≤ 10 e-mail addresses; unknown top-level fields are ignored.
14. Refreshing does not revoke earlier access tokens; they live until they expire. Token requests beyond 8 per
    minute → 429 in the API's error shape. Only ``grant_type=refresh_token`` is supported (others → 400
    ``unsupported_grant_type``); bad client credentials → 401 ``invalid_client``.
15. Canceling answers 403 "Event in the past" once the event's ``start_time`` has passed.
16. ``POST /invitees`` answers 201 Created, like Calendly's other creating POSTs and the project's research (the
    docs preview labels the response "OK" without a code). A token response's ``scope`` is the granted scopes
    joined by spaces, or ``"default"`` for an unscoped (legacy) token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal, NoReturn
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.faults import RETRY_AFTER_SECONDS, FaultName, FaultScript, RecordedRequest, record, slow

Json = dict[str, Any]
Plan = Literal["free", "trial", "paid", "enterprise"]
Role = Literal["owner", "admin", "user"]
TokenKind = Literal["admin", "user"]
Status = Literal["active", "canceled"]
WebhookEvent = Literal["invitee.created", "invitee.canceled"]

API_BASE = "https://api.calendly.com"
AUTH_BASE = "https://auth.calendly.com"
WEB_BASE = "https://calendly.com"

DEFAULT_COUNT = 20
MAX_COUNT = 100
MAX_RANGE = timedelta(days=7)
DEFAULT_INCREMENT_MINUTES = 30
MAX_REASON_LENGTH = 10_000
MAX_GUESTS = 10
ACCESS_TOKEN_SECONDS = 7200
TOKENS_PER_MINUTE = 8
#: requests per user per minute (developer.calendly.com "Rate Limits")
RATE_LIMITS: dict[str, int] = {"free": 50, "trial": 500, "paid": 500, "enterprise": 500}
#: Create Event Invitee caps per billing tier: (window, limit), window one of "minute" | "hour" | "day"
BOOKING_LIMITS: dict[str, tuple[tuple[str, int], ...]] = {
    "trial": (("day", 5),),
    "paid": (("minute", 10), ("hour", 50), ("day", 100)),
    "enterprise": (("minute", 500),),
}
DAILY_BOOKING_LIMIT = 100
LOCATION_KINDS: frozenset[str] = frozenset(
    {
        "physical",
        "outbound_call",
        "inbound_call",
        "google_conference",
        "zoom_conference",
        "microsoft_teams_conference",
        "webex_conference",
        "gotomeeting",
        "custom",
        "ask_invitee",
    }
)
_CONFERENCES = frozenset({"google_conference", "zoom_conference", "microsoft_teams_conference", "webex_conference"})
_CONFERENCES_WITH_DATA = frozenset({"zoom_conference", "microsoft_teams_conference", "webex_conference", "gotomeeting"})
#: route name → the scope it needs (developer.calendly.com "Authorization Scopes"; two assumed, see docstring)
SCOPES: dict[str, str] = {
    "me": "users:read",
    "event_types": "event_types:read",
    "event_type": "event_types:read",
    "available_times": "event_types:read",
    "scheduled_events": "scheduled_events:read",
    "scheduled_event": "scheduled_events:read",
    "invitees": "scheduled_events:read",
    "invitee": "scheduled_events:read",
    "cancel": "scheduled_events:write",
    "create_invitee": "scheduled_events:write",
    "scheduling_links": "scheduling_links:write",
}
#: Faults beyond the shared vocabulary: the two auth failures an adapter must tell apart.
AuthFaultName = Literal["expired", "missing_scope"]
AUTH_FAULT_NAMES: tuple[AuthFaultName, ...] = ("expired", "missing_scope")
DEFAULT_WORKING_HOURS: dict[int, list[tuple[time, time]]] = {day: [(time(9), time(17))] for day in range(5)}

MSG_INVALID = "The supplied parameters are invalid."
MSG_NOT_FOUND = "The server could not find the requested resource."
MSG_TOKEN_INVALID = "The access token is invalid"
MSG_TOKEN_EXPIRED = "The access token expired"
MSG_NO_PERMISSION = "You do not have permission"
MSG_NO_ACCESS = "You do not have permission to access this resource."
MSG_SPECIFY_ORG = "Please also specify organization when requesting events for a user within your organization."
MSG_NOT_IN_ORG = "This user is not in your organization"
MSG_CANNOT_VIEW = "You are not allowed to view this event"
MSG_CANNOT_CANCEL = "You are not allowed to cancel this event"
MSG_ALREADY_CANCELED = "Event is already canceled"
MSG_IN_PAST = "Event in the past"
MSG_UPGRADE = "Please upgrade to a paid Calendly account."
MSG_MISSING_SCOPE = "The access token does not have the required scope."
MSG_SLOT_TAKEN = "The selected time is no longer available."
MSG_TOO_MANY = "You have exceeded the rate limit. Please try again later."
MSG_UNAVAILABLE = "The service is temporarily unavailable. Please try again later."
MALFORMED_BODY = b'{"collection": [{"uri": "https://api.calendly.com/scheduled_events/'
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the "
    "authorization request, or was issued to another client."
)
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, or unsupported "
    "authentication method."
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


# --------------------------------------------------------------------------------------------------------- helpers


def iso(moment: datetime) -> str:
    """Calendly's rendering of an instant: UTC, microseconds, ``Z``."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    """An ISO-8601 instant (``Z`` or an offset; a naive value is UTC) as an aware UTC datetime; ValueError otherwise."""
    text = value.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?", text):
        raise ValueError(f"not an ISO-8601 time: {value!r}")
    if "." in text:
        head, _, tail = text.partition(".")
        digits = re.match(r"\d+", tail)
        assert digits is not None
        text = f"{head}.{digits.group()[:6].ljust(6, '0')}{tail[digits.end() :]}"
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return _utc(parsed)


def sign_webhook(signing_key: str, body: bytes | str, timestamp: int) -> str:
    """The ``Calendly-Webhook-Signature`` header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(signing_key.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _detail(parameter: str | None, message: str) -> Json:
    return {"parameter": parameter, "message": message} if parameter else {"message": message}


class CalendlyError(Exception):
    """An error answer in Calendly's format (raised inside handlers, rendered by the route wrapper)."""

    def __init__(
        self,
        status: int,
        title: str,
        message: str,
        details: list[Json] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {"title": title, "message": message}
        if details:
            self.body["details"] = details
        self.headers = dict(headers or {})


def _invalid(parameter: str, message: str) -> NoReturn:
    raise CalendlyError(400, "Invalid Argument", MSG_INVALID, [_detail(parameter, message)])


def _not_found() -> NoReturn:
    raise CalendlyError(404, "Resource Not Found", MSG_NOT_FOUND)


def _denied(message: str, details: list[Json] | None = None) -> NoReturn:
    raise CalendlyError(403, "Permission Denied", message, details)


class OAuthError(Exception):
    """An error answer of the OAuth server (``{"error", "error_description"}``)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


# --------------------------------------------------------------------------------------------------------- model


@dataclass(eq=False)
class Organization:
    """A Calendly organization."""

    uuid: str
    name: str
    created_at: datetime


@dataclass(eq=False)
class User:
    """A Calendly user (a coach); ``working_hours`` are weekday (0 = Monday) → local (start, end) intervals."""

    uuid: str
    name: str
    slug: str
    email: str
    timezone: str
    organization: Organization
    role: Role
    created_at: datetime
    working_hours: dict[int, list[tuple[time, time]]] = field(default_factory=dict)
    busy: list[tuple[datetime, datetime]] = field(default_factory=list)

    @property
    def is_admin(self) -> bool:
        """Owners and admins may read the whole organization."""
        return self.role in ("owner", "admin")


@dataclass(eq=False)
class EventType:
    """An event type; ``locations`` are (kind, detail) pairs, the first being the default."""

    uuid: str
    name: str
    duration: int
    slug: str
    owner: User
    active: bool
    kind: Literal["solo", "group"]
    max_invitees: int
    locations: list[tuple[str, str | None]]
    increment_minutes: int
    min_notice: timedelta
    color: str
    description: str | None
    secret: bool
    created_at: datetime
    updated_at: datetime

    @property
    def scheduling_url(self) -> str:
        """The booking page of this event type."""
        return f"{WEB_BASE}/{self.owner.slug}/{self.slug}"


@dataclass
class Cancellation:
    """Who cancelled, why, when."""

    canceled_by: str
    reason: str | None
    canceler_type: Literal["host", "invitee"]
    created_at: datetime

    def render(self) -> Json:
        """The ``Cancellation`` JSON."""
        return {
            "canceled_by": self.canceled_by,
            "reason": self.reason,
            "canceler_type": self.canceler_type,
            "created_at": iso(self.created_at),
        }


@dataclass(eq=False)
class Invitee:
    """A person booked into a scheduled event."""

    uuid: str
    event: ScheduledEvent = field(repr=False)
    email: str
    name: str
    first_name: str | None
    last_name: str | None
    timezone: str
    status: Status
    created_at: datetime
    updated_at: datetime
    questions_and_answers: list[Json] = field(default_factory=list)
    no_show: tuple[str, datetime] | None = None
    text_reminder_number: str | None = None
    tracking: Json = field(default_factory=dict)
    cancellation: Cancellation | None = None
    scheduled_by: User | None = None


@dataclass(eq=False)
class ScheduledEvent:
    """A booked meeting."""

    uuid: str
    event_type: EventType
    hosts: list[User]
    start: datetime
    end: datetime
    status: Status
    location: tuple[str, str | None]
    created_at: datetime
    updated_at: datetime
    invitees: list[Invitee] = field(default_factory=list)
    guests: list[tuple[str, datetime]] = field(default_factory=list)
    notes_plain: str | None = None
    notes_html: str | None = None
    cancellation: Cancellation | None = None

    def active_invitees(self) -> int:
        """How many invitees have not cancelled."""
        return sum(1 for i in self.invitees if i.status == "active")


@dataclass
class _ScriptedAuthFault:
    """``fault`` for the next ``remaining`` API requests whose path contains ``path_contains`` (any when None)."""

    fault: AuthFaultName
    remaining: int
    path_contains: str | None = None


@dataclass(eq=False)
class SchedulingLink:
    """A single-use scheduling link created through the API."""

    owner: EventType
    booking_url: str
    created_at: datetime


@dataclass(eq=False)
class Token:
    """An access token (personal access token when ``expires_at`` is None)."""

    value: str
    user: User
    created_at: datetime
    expires_at: datetime | None = None
    expired: bool = False


Handler = Callable[[Request], Awaitable[Response]]


# --------------------------------------------------------------------------------------------------------- the fake


class FakeCalendly:
    """A fake Calendly account (one organization, a coach and their token), served as a Starlette app.

    The module docstring lists the routes, the vendor facts followed and the unconfirmed ones decided.
    """

    def __init__(
        self,
        *,
        token: str = "test-token",
        now: datetime | Callable[[], datetime] | None = None,
        plan: Plan = "paid",
        token_kind: TokenKind = "user",
        client_id: str = "test-client-id",
        client_secret: str = "test-client-secret",
        refresh_token: str = "test-refresh-token",
        max_page_size: int | None = None,
    ) -> None:
        if max_page_size is not None and max_page_size < 1:
            raise ValueError("max_page_size must be at least 1")
        self.initial_token = token
        self.plan: Plan = plan
        self.client_id = client_id
        self.client_secret = client_secret
        self.initial_refresh_token = refresh_token
        #: Calendly honours ``count``; a test may cap pages lower to make an adapter page through results.
        self.max_page_size = max_page_size
        #: Scopes every token has; None = a token from before scopes existed (everything allowed).
        self.token_scopes: frozenset[str] | None = None
        #: Requests per user per minute; None = the plan's documented limit.
        self.rate_limit_per_minute: int | None = None
        self.requests: list[RecordedRequest] = []
        self.token_requests = 0
        self.scheduling_links: list[SchedulingLink] = []
        self._clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._faults = FaultScript()
        self._auth_faults: list[_ScriptedAuthFault] = []
        self._ids = 0
        self._organizations: dict[str, Organization] = {}
        self._users: dict[str, User] = {}
        self._event_types: dict[str, EventType] = {}
        self._events: dict[str, ScheduledEvent] = {}
        self._tokens: dict[str, Token] = {}
        self._refresh_tokens: dict[str, User] = {}
        self._windows: dict[str, tuple[int, int]] = {}
        self._booking_attempts: dict[str, list[datetime]] = {}
        self._token_issues: dict[str, list[datetime]] = {}
        self.me: User
        self.organization: Organization
        if now is not None:
            self.set_now(now)
        self.reset()
        self.set_token_kind(token_kind)
        self.app: Starlette = self.build_app()

    # ------------------------------------------------------------------ control API

    def now(self) -> datetime:
        """The fake's clock (aware UTC)."""
        return _utc(self._clock())

    def set_now(self, now: datetime | Callable[[], datetime]) -> None:
        """Freeze the clock at ``now`` (naive = UTC), or follow a callable clock."""
        if callable(now):
            self._clock = now
        else:
            fixed = _utc(now)
            self._clock = lambda: fixed

    def advance(self, delta: timedelta) -> None:
        """Move a frozen clock forward by ``delta``."""
        self.set_now(self.now() + delta)

    def fail_next(self, fault: FaultName | AuthFaultName, *, times: int = 1, path_contains: str | None = None) -> None:
        """Answer the next ``times`` requests (whose path contains ``path_contains``) with ``fault``.

        ``expired`` and ``missing_scope`` (:data:`AUTH_FAULT_NAMES`) apply to API routes, not to the token
        endpoint; a request that a shared fault also matches gets the shared one first.
        """
        if fault == "expired" or fault == "missing_scope":
            if times < 1:
                raise ValueError("times must be at least 1")
            self._auth_faults.append(_ScriptedAuthFault(fault, times, path_contains))
            return
        self._faults.add(fault, times=times, path_contains=path_contains)

    def set_plan(self, plan: Plan) -> None:
        """Switch the account's billing tier (``free``, ``trial``, ``paid``, ``enterprise``)."""
        if plan not in RATE_LIMITS:
            raise ValueError(f"unknown plan {plan!r}")
        self.plan = plan

    def set_token_kind(self, kind: TokenKind) -> None:
        """Make the token's user an organization admin (``admin``) or a plain member (``user``)."""
        if kind not in ("admin", "user"):
            raise ValueError(f"unknown token kind {kind!r}")
        self.me.role = "admin" if kind == "admin" else "user"

    def set_token_scopes(self, scopes: Iterable[str] | None) -> None:
        """Limit every token to ``scopes`` (None: all, like a token from before scopes existed)."""
        self.token_scopes = None if scopes is None else frozenset(scopes)

    def expire_token(self, token: str | None = None) -> None:
        """Make ``token`` (default: every access token issued so far) answer 401 "The access token expired"."""
        for value, issued in self._tokens.items():
            if token is None or value == token:
                issued.expired = True

    def current_refresh_token(self) -> str:
        """The refresh token that the next ``grant_type=refresh_token`` request must present."""
        return next(iter(self._refresh_tokens))

    def reset(self) -> None:
        """Forget every request, fault, token and booking; keep only a fresh organization, coach and token."""
        self.requests.clear()
        self._faults.clear()
        self._auth_faults.clear()
        self.token_requests = 0
        self.scheduling_links.clear()
        self._ids = 0
        self._organizations.clear()
        self._users.clear()
        self._event_types.clear()
        self._events.clear()
        self._tokens.clear()
        self._refresh_tokens.clear()
        self._windows.clear()
        self._booking_attempts.clear()
        self._token_issues.clear()
        self.organization = self.add_organization("Fearvana")
        self.me = self.add_user(
            "Akshay Coach", "coach@fearvana.test", slug="fearvana-coach", timezone="UTC", role="user"
        )
        self._tokens[self.initial_token] = Token(self.initial_token, self.me, self.now())
        self._refresh_tokens[self.initial_refresh_token] = self.me

    # ------------------------------------------------------------------ world setup

    def add_organization(self, name: str) -> Organization:
        """A new organization (the fake starts with one, :attr:`organization`)."""
        organization = Organization(self._new_id(), name, self.now() - timedelta(days=365))
        self._organizations[organization.uuid] = organization
        return organization

    def add_user(
        self,
        name: str,
        email: str,
        *,
        slug: str | None = None,
        timezone: str = "UTC",
        role: Role = "user",
        organization: Organization | None = None,
        working_hours: Mapping[int, Sequence[tuple[time, time]]] | None = None,
    ) -> User:
        """A user of ``organization`` (default: the fake's), working Mon-Fri 09:00-17:00 local unless told."""
        _zone(timezone)
        user = User(
            self._new_id(),
            name,
            slug or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
            email.strip().lower(),
            timezone,
            organization or self.organization,
            role,
            self.now() - timedelta(days=300),
        )
        self._users[user.uuid] = user
        self.set_working_hours(user, DEFAULT_WORKING_HOURS if working_hours is None else working_hours)
        return user

    def add_token(self, user: User, token: str) -> None:
        """Another personal access token, for ``user``."""
        self._tokens[token] = Token(token, user, self.now())

    def set_working_hours(self, user: User, hours: Mapping[int, Sequence[tuple[time, time]]]) -> None:
        """Replace ``user``'s weekly hours: weekday (0 = Monday) → [(start, end)] in the user's time zone."""
        cleaned: dict[int, list[tuple[time, time]]] = {}
        for weekday, intervals in hours.items():
            if weekday not in range(7):
                raise ValueError(f"weekday must be 0..6, got {weekday}")
            for start, end in intervals:
                if not start < end:
                    raise ValueError(f"working interval must end after it starts: {start}-{end}")
            cleaned[weekday] = sorted(intervals)
        user.working_hours = cleaned

    def add_busy(self, user: User, start: datetime, end: datetime) -> None:
        """Block ``user``'s calendar from ``start`` to ``end`` (another commitment)."""
        user.busy.append((_utc(start), _utc(end)))

    def add_event_type(
        self,
        name: str,
        duration: int,
        *,
        slug: str | None = None,
        owner: User | None = None,
        active: bool = True,
        max_invitees: int = 1,
        locations: Sequence[tuple[str, str | None]] = (("google_conference", None),),
        increment_minutes: int = DEFAULT_INCREMENT_MINUTES,
        min_notice: timedelta = timedelta(0),
        description: str | None = None,
        secret: bool = False,
    ) -> EventType:
        """An event type of ``owner`` (default: the coach); ``max_invitees`` > 1 makes it a group event type."""
        if duration < 1 or increment_minutes < 1 or max_invitees < 1:
            raise ValueError("duration, increment_minutes and max_invitees must be positive")
        if not locations:
            raise ValueError("an event type needs at least one location")
        for kind, _ in locations:
            if kind not in LOCATION_KINDS:
                raise ValueError(f"unknown location kind {kind!r}")
        created = self.now() - timedelta(days=200)
        event_type = EventType(
            self._new_id(),
            name,
            duration,
            slug or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
            owner or self.me,
            active,
            "group" if max_invitees > 1 else "solo",
            max_invitees,
            list(locations),
            increment_minutes,
            min_notice,
            "#8247f5",
            description,
            secret,
            created,
            created,
        )
        self._event_types[event_type.uuid] = event_type
        return event_type

    def add_event(
        self,
        event_type: EventType,
        start: datetime,
        *,
        status: Status = "active",
        notes: str | None = None,
        notes_html: str | None = None,
        guests: Sequence[str] = (),
        location: tuple[str, str | None] | None = None,
        created_at: datetime | None = None,
        canceled_reason: str | None = None,
    ) -> ScheduledEvent:
        """A scheduled event of ``event_type`` starting at ``start`` (no availability check: world setup)."""
        begin = _utc(start)
        created = _utc(created_at) if created_at else min(self.now(), begin) - timedelta(days=1)
        event = ScheduledEvent(
            self._new_id(),
            event_type,
            [event_type.owner],
            begin,
            begin + timedelta(minutes=event_type.duration),
            status,
            location or event_type.locations[0],
            created,
            created,
            guests=[(g.strip().lower(), created) for g in guests],
            notes_plain=notes,
            notes_html=notes_html if notes_html is not None else (f"<p>{notes}</p>" if notes else None),
        )
        if status == "canceled":
            event.cancellation = Cancellation(event_type.owner.name, canceled_reason, "host", created)
        self._events[event.uuid] = event
        return event

    def add_invitee(
        self,
        event: ScheduledEvent,
        email: str,
        *,
        name: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        timezone: str = "UTC",
        status: Status | None = None,
        no_show: bool = False,
        questions_and_answers: Sequence[tuple[str, str]] = (),
        text_reminder_number: str | None = None,
        created_at: datetime | None = None,
    ) -> Invitee:
        """An invitee of ``event`` (status follows the event unless given); ``no_show`` marks them a no-show."""
        _zone(timezone)
        created = _utc(created_at) if created_at else event.created_at
        full_name = name or " ".join(p for p in (first_name, last_name) if p) or email.split("@")[0]
        invitee = Invitee(
            self._new_id(),
            event,
            email.strip().lower(),
            full_name,
            first_name,
            last_name,
            timezone,
            status or event.status,
            created,
            created,
            [{"question": q, "answer": a, "position": i} for i, (q, a) in enumerate(questions_and_answers)],
            text_reminder_number=text_reminder_number,
        )
        if no_show:
            invitee.no_show = (self._new_id(), max(created, event.end))
        if invitee.status == "canceled":
            invitee.cancellation = event.cancellation or Cancellation(full_name, None, "invitee", created)
        event.invitees.append(invitee)
        return invitee

    def book(
        self,
        event_type: EventType,
        start: datetime,
        email: str,
        name: str | None = None,
        **invitee: Any,
    ) -> tuple[ScheduledEvent, Invitee]:
        """A scheduled event with one invitee (``invitee`` takes :meth:`add_invitee`'s keywords)."""
        event_keys = ("status", "notes", "notes_html", "guests", "location", "created_at", "canceled_reason")
        event = self.add_event(event_type, start, **{k: invitee.pop(k) for k in event_keys if k in invitee})
        return event, self.add_invitee(event, email, name=name, **invitee)

    # ------------------------------------------------------------------ inspection

    def events(self) -> list[ScheduledEvent]:
        """Every scheduled event, by start time."""
        return sorted(self._events.values(), key=lambda e: (e.start, e.uuid))

    def event(self, uuid: str) -> ScheduledEvent:
        """The scheduled event ``uuid`` (KeyError when unknown)."""
        return self._events[uuid]

    def event_type(self, uuid: str) -> EventType:
        """The event type ``uuid`` (KeyError when unknown)."""
        return self._event_types[uuid]

    def available_starts(self, event_type: EventType, start: datetime, end: datetime) -> list[datetime]:
        """The slot start times ``GET /event_type_available_times`` would offer in [start, end)."""
        return [s for s, _ in self._free_slots(event_type, _utc(start), _utc(end))]

    def render_invitee(self, invitee: Invitee, base: str = API_BASE) -> Json:
        """``invitee`` as the API renders it (URIs on ``base``)."""
        return self._render_invitee(invitee, base)

    def render_event(self, event: ScheduledEvent, base: str = API_BASE) -> Json:
        """``event`` as the API renders it (URIs on ``base``)."""
        return self._render_event(event, base)

    def webhook(
        self,
        event_name: WebhookEvent,
        invitee: Invitee,
        *,
        signing_key: str,
        base: str = API_BASE,
        sent_at: datetime | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A signed webhook delivery about ``invitee``: (raw body, headers incl. ``Calendly-Webhook-Signature``)."""
        moment = _utc(sent_at) if sent_at else self.now()
        payload = self._render_invitee(invitee, base)
        payload["scheduled_event"] = self._render_event(invitee.event, base)
        body = json.dumps(
            {
                "created_at": iso(moment.replace(microsecond=0)),
                "created_by": f"{base}/users/{invitee.event.hosts[0].uuid}",
                "event": event_name,
                "payload": payload,
            },
            separators=(",", ":"),
        ).encode()
        signature = sign_webhook(signing_key, body, int(moment.timestamp()))
        return body, {"Content-Type": "application/json", "Calendly-Webhook-Signature": signature}

    # ------------------------------------------------------------------ availability

    def _free_slots(self, event_type: EventType, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
        """(slot start, invitees remaining) for every open slot with start <= slot < end."""
        host = event_type.owner
        zone = _zone(host.timezone)
        length = timedelta(minutes=event_type.duration)
        step = timedelta(minutes=event_type.increment_minutes)
        earliest = self.now() + event_type.min_notice
        hosted = [e for e in self._events.values() if e.status == "active" and any(h is host for h in e.hosts)]
        found: dict[datetime, int] = {}
        day = start.astimezone(zone).date() - timedelta(days=1)
        last_day = end.astimezone(zone).date() + timedelta(days=1)
        while day <= last_day:
            for opens, closes in host.working_hours.get(day.weekday(), []):
                slot = datetime.combine(day, opens, zone)
                closing = datetime.combine(day, closes, zone)
                while slot + length <= closing:
                    begin = slot.astimezone(UTC)
                    remaining = self._room(event_type, hosted, host, begin, begin + length)
                    if start <= begin < end and begin >= earliest and remaining > 0:
                        found[begin] = remaining
                    slot = (slot.astimezone(UTC) + step).astimezone(zone)
            day += timedelta(days=1)
        return sorted(found.items())

    @staticmethod
    def _room(event_type: EventType, hosted: list[ScheduledEvent], host: User, begin: datetime, end: datetime) -> int:
        room = event_type.max_invitees
        for event in hosted:
            if event.start < end and begin < event.end:
                same_group = event.event_type is event_type and event.start == begin and event_type.kind == "group"
                if not same_group:
                    return 0
                room = event_type.max_invitees - event.active_invitees()
        for busy_start, busy_end in host.busy:
            if busy_start < end and begin < busy_end:
                return 0
        return max(room, 0)

    # ------------------------------------------------------------------ rendering

    @staticmethod
    def _base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def _render_user(self, user: User, base: str) -> Json:
        return {
            "uri": f"{base}/users/{user.uuid}",
            "name": user.name,
            "slug": user.slug,
            "email": user.email,
            "scheduling_url": f"{WEB_BASE}/{user.slug}",
            "timezone": user.timezone,
            "avatar_url": None,
            "created_at": iso(user.created_at),
            "updated_at": iso(user.created_at),
            "current_organization": f"{base}/organizations/{user.organization.uuid}",
        }

    def _render_event_type(self, event_type: EventType, base: str) -> Json:
        return {
            "uri": f"{base}/event_types/{event_type.uuid}",
            "name": event_type.name,
            "active": event_type.active,
            "booking_method": "instant",
            "slug": event_type.slug,
            "scheduling_url": event_type.scheduling_url,
            "duration": event_type.duration,
            "kind": event_type.kind,
            "pooling_type": None,
            "type": "StandardEventType",
            "color": event_type.color,
            "created_at": iso(event_type.created_at),
            "updated_at": iso(event_type.updated_at),
            "internal_note": None,
            "description_plain": event_type.description,
            "description_html": f"<p>{event_type.description}</p>" if event_type.description else None,
            "profile": {
                "type": "User",
                "name": event_type.owner.name,
                "owner": f"{base}/users/{event_type.owner.uuid}",
            },
            "secret": event_type.secret,
            "deleted_at": None,
            "admin_managed": False,
            "custom_questions": [],
            "kind_description": "Group" if event_type.kind == "group" else "One-on-One",
        }

    @staticmethod
    def _render_location(event: ScheduledEvent) -> Json:
        kind, detail = event.location
        if kind not in _CONFERENCES and kind != "gotomeeting":
            return {"type": kind, "location": detail}
        join_urls = {
            "google_conference": f"{WEB_BASE}/events/{event.uuid}/google_meet",
            "zoom_conference": f"https://zoom.us/j/{int(event.uuid.replace('-', ''), 16) % 10**11:011d}",
            "microsoft_teams_conference": f"https://teams.microsoft.com/l/meetup-join/{event.uuid}",
            "webex_conference": f"https://calendly.webex.com/meet/{event.uuid}",
            "gotomeeting": f"https://meet.goto.com/{event.uuid}",
        }
        rendered: Json = {
            "type": "zoom" if kind == "zoom_conference" else kind,
            "status": "pushed",
            "join_url": join_urls[kind],
        }
        if kind in _CONFERENCES_WITH_DATA:
            rendered["data"] = None
        return rendered

    def _render_event(self, event: ScheduledEvent, base: str) -> Json:
        body: Json = {
            "uri": f"{base}/scheduled_events/{event.uuid}",
            "name": event.event_type.name,
            "status": event.status,
            "start_time": iso(event.start),
            "end_time": iso(event.end),
            "event_type": f"{base}/event_types/{event.event_type.uuid}",
            "location": self._render_location(event),
            "invitees_counter": {
                "total": len(event.invitees),
                "active": event.active_invitees(),
                "limit": event.event_type.max_invitees,
            },
            "created_at": iso(event.created_at),
            "updated_at": iso(event.updated_at),
            "event_memberships": [
                {"user": f"{base}/users/{host.uuid}", "user_email": host.email, "user_name": host.name}
                for host in event.hosts
            ],
            "event_guests": [
                {"email": email, "created_at": iso(added), "updated_at": iso(added)} for email, added in event.guests
            ],
            "calendar_event": None,
            "meeting_notes_plain": event.notes_plain,
            "meeting_notes_html": event.notes_html,
        }
        if event.cancellation is not None:
            body["cancellation"] = event.cancellation.render()
        return body

    def _render_invitee(self, invitee: Invitee, base: str) -> Json:
        event_uri = f"{base}/scheduled_events/{invitee.event.uuid}"
        tracking = {
            key: invitee.tracking.get(key)
            for key in ("utm_campaign", "utm_source", "utm_medium", "utm_content", "utm_term", "salesforce_uuid")
        }
        body: Json = {
            "uri": f"{event_uri}/invitees/{invitee.uuid}",
            "email": invitee.email,
            "first_name": invitee.first_name,
            "last_name": invitee.last_name,
            "name": invitee.name,
            "status": invitee.status,
            "questions_and_answers": [dict(qa) for qa in invitee.questions_and_answers],
            "timezone": invitee.timezone,
            "event": event_uri,
            "created_at": iso(invitee.created_at),
            "updated_at": iso(invitee.updated_at),
            "tracking": tracking,
            "text_reminder_number": invitee.text_reminder_number,
            "rescheduled": False,
            "old_invitee": None,
            "new_invitee": None,
            "cancel_url": f"{WEB_BASE}/cancellations/{invitee.uuid}",
            "reschedule_url": f"{WEB_BASE}/reschedulings/{invitee.uuid}",
            "routing_form_submission": None,
            "payment": None,
            "no_show": (
                {"uri": f"{base}/invitee_no_shows/{invitee.no_show[0]}", "created_at": iso(invitee.no_show[1])}
                if invitee.no_show
                else None
            ),
            "reconfirmation": None,
            "scheduling_method": None,
            "invitee_scheduled_by": (
                f"{base}/users/{invitee.scheduled_by.uuid}" if invitee.scheduled_by is not None else None
            ),
        }
        if invitee.cancellation is not None:
            body["cancellation"] = invitee.cancellation.render()
        return body

    # ------------------------------------------------------------------ request plumbing

    def build_app(self) -> Starlette:
        """The Starlette app serving the routes in the module docstring (also kept as :attr:`app`)."""
        api: list[tuple[str, str, str, Handler]] = [
            ("GET", "/users/me", "me", self._get_me),
            ("GET", "/event_types", "event_types", self._list_event_types),
            ("GET", "/event_types/{uuid}", "event_type", self._get_event_type),
            ("GET", "/event_type_available_times", "available_times", self._available_times),
            ("GET", "/scheduled_events", "scheduled_events", self._list_events),
            ("GET", "/scheduled_events/{uuid}", "scheduled_event", self._get_event),
            ("GET", "/scheduled_events/{uuid}/invitees", "invitees", self._list_invitees),
            ("GET", "/scheduled_events/{event_uuid}/invitees/{invitee_uuid}", "invitee", self._get_invitee),
            ("POST", "/scheduled_events/{uuid}/cancellation", "cancel", self._cancel_event),
            ("POST", "/invitees", "create_invitee", self._create_invitee),
            ("POST", "/scheduling_links", "scheduling_links", self._create_scheduling_link),
        ]
        routes = [
            Route(path, self._wrap(handler, name), methods=[method], name=name) for method, path, name, handler in api
        ]
        routes.append(Route("/oauth/token", self._oauth_endpoint, methods=["POST"], name="oauth_token"))
        every_method = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        routes.append(Route("/{path:path}", self._wrap(self._unknown_route, None), methods=every_method))
        return Starlette(routes=routes)

    def _wrap(self, handler: Handler, name: str | None) -> Handler:
        async def endpoint(request: Request) -> Response:
            self.requests.append(await record(request))
            fault = self._faults.take(request.url.path)
            if fault == "slow":
                await slow()
            elif fault is not None:
                faulted = self._fault_response(fault)
                for header, value in self._rate_headers(None).items():
                    faulted.headers.setdefault(header, value)
                return faulted
            auth_fault = self._take_auth_fault(request.url.path)
            if auth_fault is not None:
                return self._auth_fault_response(auth_fault, name)
            user: User | None = None
            try:
                token = self._authenticate(request)
                user = token.user
                self._count_request(user)
                if name is not None:
                    self._check_scope(SCOPES[name])
                request.state.calendly_user = user
                response = await handler(request)
            except CalendlyError as exc:
                response = JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)
            for header, value in self._rate_headers(user).items():
                response.headers.setdefault(header, value)
            return response

        return endpoint

    def _take_auth_fault(self, path: str) -> AuthFaultName | None:
        for scripted in self._auth_faults:
            if scripted.path_contains is None or scripted.path_contains in path:
                scripted.remaining -= 1
                if scripted.remaining <= 0:
                    self._auth_faults.remove(scripted)
                return scripted.fault
        return None

    def _auth_fault_response(self, fault: AuthFaultName, name: str | None) -> Response:
        if fault == "expired":
            body: Json = {"title": "Unauthenticated", "message": MSG_TOKEN_EXPIRED}
            return JSONResponse(body, status_code=401, headers=self._rate_headers(None))
        needed = SCOPES.get(name or "", "scheduled_events:read")
        body = {
            "title": "Permission Denied",
            "message": MSG_MISSING_SCOPE,
            "details": [_detail("scope", f"{needed} is required")],
        }
        return JSONResponse(body, status_code=403, headers=self._rate_headers(None))

    def _authenticate(self, request: Request) -> Token:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        token = self._tokens.get(credentials.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            raise CalendlyError(401, "Unauthenticated", MSG_TOKEN_INVALID)
        if token.expired or (token.expires_at is not None and self.now() >= token.expires_at):
            raise CalendlyError(401, "Unauthenticated", MSG_TOKEN_EXPIRED)
        return token

    def _check_scope(self, needed: str) -> None:
        if self.token_scopes is None:
            return
        domain, _, access = needed.partition(":")
        granted = needed in self.token_scopes or (access == "read" and f"{domain}:write" in self.token_scopes)
        if not granted:
            _denied(MSG_MISSING_SCOPE, [_detail("scope", f"{needed} is required")])

    def _limit(self) -> int:
        return self.rate_limit_per_minute or RATE_LIMITS[self.plan]

    def _count_request(self, user: User) -> None:
        minute = int(self.now().timestamp()) // 60
        index, used = self._windows.get(user.uuid, (minute, 0))
        used = used if index == minute else 0
        if used >= self._limit():
            raise CalendlyError(429, "Too Many Requests", MSG_TOO_MANY, headers=self._rate_headers(user, remaining=0))
        self._windows[user.uuid] = (minute, used + 1)

    def _seconds_to_reset(self, window: str = "minute") -> int:
        now = self.now()
        if window == "day":
            midnight = datetime.combine(now.date() + timedelta(days=1), time(), UTC)
            return max(1, math.ceil((midnight - now).total_seconds()))
        size = 60 if window == "minute" else 3600
        return max(1, math.ceil(size - (now.timestamp() % size)))

    def _rate_headers(self, user: User | None, *, remaining: int | None = None) -> dict[str, str]:
        limit = self._limit()
        if remaining is None:
            used = 0
            if user is not None:
                index, count = self._windows.get(user.uuid, (0, 0))
                used = count if index == int(self.now().timestamp()) // 60 else 0
            remaining = max(0, limit - used)
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(self._seconds_to_reset()),
        }

    def _fault_response(self, fault: FaultName) -> Response:
        if fault == "unavailable":
            return JSONResponse({"title": "Service Unavailable", "message": MSG_UNAVAILABLE}, status_code=503)
        if fault == "rate_limited":
            headers = {**self._rate_headers(None, remaining=0), "Retry-After": str(RETRY_AFTER_SECONDS)}
            return JSONResponse({"title": "Too Many Requests", "message": MSG_TOO_MANY}, 429, headers=headers)
        if fault == "quota":
            headers = {
                "X-RateLimit-Limit": str(DAILY_BOOKING_LIMIT),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(self._seconds_to_reset("day")),
            }
            return JSONResponse({"title": "Too Many Requests", "message": MSG_TOO_MANY}, 429, headers=headers)
        if fault == "auth":
            return JSONResponse({"title": "Unauthenticated", "message": MSG_TOKEN_EXPIRED}, status_code=401)
        return Response(
            MALFORMED_BODY, status_code=200, media_type="application/json", headers=self._rate_headers(None)
        )

    async def _unknown_route(self, request: Request) -> Response:
        _not_found()

    # ------------------------------------------------------------------ request helpers

    @staticmethod
    def _me(request: Request) -> User:
        user: User = request.state.calendly_user
        return user

    def _new_id(self) -> str:
        self._ids += 1
        n = self._ids
        return f"{n:08x}-ca1e-4d1e-8000-{n:012x}"

    @staticmethod
    async def _json_body(request: Request, *, required: bool = True) -> Json:
        raw = await request.body()
        if not raw.strip():
            if required:
                _invalid("body", "must be a JSON object")
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            _invalid("body", "is not valid JSON")
        if not isinstance(body, dict):
            _invalid("body", "must be a JSON object")
        return body

    def _from_uri(self, request: Request, value: str, collection: str, parameter: str) -> str:
        prefix = f"{self._base(request)}/{collection}/"
        uuid = value[len(prefix) :] if value.startswith(prefix) else ""
        if not uuid or "/" in uuid or "?" in uuid:
            _invalid(parameter, f"must be the URI of a resource in /{collection}")
        return uuid

    def _user_param(self, request: Request, value: str, parameter: str = "user") -> User:
        user = self._users.get(self._from_uri(request, value, "users", parameter))
        if user is None:
            _not_found()
        return user

    def _organization_param(self, request: Request, value: str) -> Organization:
        organization = self._organizations.get(self._from_uri(request, value, "organizations", "organization"))
        if organization is None:
            _not_found()
        return organization

    def _event_type_param(self, request: Request, value: Any, parameter: str) -> EventType:
        if not isinstance(value, str) or not value:
            _invalid(parameter, "is required")
        event_type = self._event_types.get(self._from_uri(request, value, "event_types", parameter))
        if event_type is None:
            _not_found()
        return event_type

    @staticmethod
    def _time_param(value: Any, parameter: str) -> datetime:
        if not isinstance(value, str) or not value:
            _invalid(parameter, "is required")
        try:
            return parse_time(value)
        except ValueError:
            _invalid(parameter, "must be an ISO-8601 time such as 2020-01-02T03:04:05.678123Z")

    @staticmethod
    def _enum_param(request: Request, name: str, allowed: Sequence[str]) -> str | None:
        value = request.query_params.get(name)
        if value is not None and value not in allowed:
            _invalid(name, f"must be one of: {', '.join(allowed)}")
        return value

    @staticmethod
    def _sort_param(request: Request, fields: Sequence[str], default: str) -> tuple[str, bool]:
        raw = request.query_params.get("sort", default)
        name, _, direction = raw.partition(":")
        if name not in fields or direction not in ("", "asc", "desc"):
            _invalid("sort", f"must be {{field}}:{{direction}} with field in {', '.join(fields)}")
        return name, direction == "desc"

    def _page(self, request: Request, items: Sequence[Any], render: Callable[[Any], Json]) -> Json:
        raw_count = request.query_params.get("count", str(DEFAULT_COUNT))
        if not re.fullmatch(r"\d+", raw_count) or not 1 <= int(raw_count) <= MAX_COUNT:
            _invalid("count", f"must be an integer between 1 and {MAX_COUNT}")
        size = int(raw_count) if self.max_page_size is None else min(int(raw_count), self.max_page_size)
        offset = self._decode_page_token(request.query_params.get("page_token"))
        page = items[offset : offset + size]
        next_offset = offset + size if offset + size < len(items) else None
        previous_offset = max(0, offset - size) if offset > 0 else None

        def link(target: int | None) -> tuple[str | None, str | None]:
            if target is None:
                return None, None
            token = self._encode_page_token(target)
            return str(request.url.include_query_params(page_token=token)), token

        next_page, next_token = link(next_offset)
        previous_page, previous_token = link(previous_offset)
        return {
            "collection": [render(item) for item in page],
            "pagination": {
                "count": len(page),
                "next_page": next_page,
                "previous_page": previous_page,
                "next_page_token": next_token,
                "previous_page_token": previous_token,
            },
        }

    @staticmethod
    def _encode_page_token(offset: int) -> str:
        return base64.urlsafe_b64encode(f"calendly-fake:{offset}".encode()).decode().rstrip("=")

    @staticmethod
    def _decode_page_token(token: str | None) -> int:
        if not token:
            return 0
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            _invalid("page_token", "is invalid")
        prefix, _, number = text.partition(":")
        if prefix != "calendly-fake" or not number.isdigit():
            _invalid("page_token", "is invalid")
        return int(number)

    @staticmethod
    def _can_view(me: User, event: ScheduledEvent) -> bool:
        if me in event.hosts:
            return True
        return me.is_admin and any(host.organization is me.organization for host in event.hosts)

    def _event_or_404(self, request: Request, uuid: str) -> ScheduledEvent:
        event = self._events.get(uuid)
        if event is None:
            _not_found()
        if not self._can_view(self._me(request), event):
            _denied(MSG_CANNOT_VIEW)
        return event

    # ------------------------------------------------------------------ handlers: users and event types

    async def _get_me(self, request: Request) -> Response:
        return JSONResponse({"resource": self._render_user(self._me(request), self._base(request))})

    async def _list_event_types(self, request: Request) -> Response:
        me = self._me(request)
        params = request.query_params
        if "organization" not in params and "user" not in params:
            _invalid("organization", "organization or user is required")
        owners: set[str]
        if "organization" in params:
            organization = self._organization_param(request, params["organization"])
            if organization is not me.organization:
                _denied(MSG_NOT_IN_ORG)
            if not me.is_admin:
                _denied(MSG_NO_PERMISSION)
            owners = {u.uuid for u in self._users.values() if u.organization is organization}
        else:
            owners = {u.uuid for u in self._users.values()}
        if "user" in params:
            user = self._user_param(request, params["user"])
            if user.organization is not me.organization:
                _denied(MSG_NOT_IN_ORG)
            owners &= {user.uuid}
        active = self._enum_param(request, "active", ("true", "false"))
        if self._enum_param(request, "admin_managed", ("true", "false")) == "true":
            owners = set()  # no event type of the fake is admin-managed
        sort_field, descending = self._sort_param(request, ("name", "created_at", "updated_at"), "name:asc")
        found = [
            t
            for t in self._event_types.values()
            if t.owner.uuid in owners and (active is None or t.active == (active == "true"))
        ]
        found.sort(key=lambda t: (str(getattr(t, sort_field)).lower(), t.uuid), reverse=descending)
        base = self._base(request)
        return JSONResponse(self._page(request, found, lambda t: self._render_event_type(t, base)))

    async def _get_event_type(self, request: Request) -> Response:
        event_type = self._event_types.get(request.path_params["uuid"])
        if event_type is None:
            _not_found()
        return JSONResponse({"resource": self._render_event_type(event_type, self._base(request))})

    async def _available_times(self, request: Request) -> Response:
        params = request.query_params
        event_type = self._event_type_param(request, params.get("event_type"), "event_type")
        start = self._time_param(params.get("start_time"), "start_time")
        end = self._time_param(params.get("end_time"), "end_time")
        if start < self.now():
            _invalid("start_time", "must be in the future")
        if end <= start:
            _invalid("end_time", "must be after start_time")
        if end - start > MAX_RANGE:
            _invalid("end_time", "date range can be no greater than 1 week (7 days)")
        slots = self._free_slots(event_type, start, end) if event_type.active else []
        collection = [
            {
                "status": "available",
                "invitees_remaining": remaining,
                "start_time": iso(begin),
                "scheduling_url": (
                    f"{event_type.scheduling_url}/{begin:%Y-%m-%dT%H:%M:%S}Z?month={begin:%Y-%m}&date={begin:%Y-%m-%d}"
                ),
            }
            for begin, remaining in slots
        ]
        return JSONResponse({"collection": collection})

    # ------------------------------------------------------------------ handlers: scheduled events

    def _visible_hosts(self, request: Request) -> set[str]:
        """The user uuids whose events a ``GET /scheduled_events`` may list (Calendly's scoping rules)."""
        me = self._me(request)
        params = request.query_params
        has_org, has_user = "organization" in params, "user" in params
        if not has_org and not has_user:
            _invalid("organization", "organization or user is required")
        if has_org:
            organization = self._organization_param(request, params["organization"])
            if organization is not me.organization:
                _denied(MSG_NO_ACCESS)
        if has_user:
            user = self._user_param(request, params["user"])
            if user is me and (not has_org or user.organization is me.organization):
                return {me.uuid}
            if not me.is_admin:
                _denied(MSG_NO_PERMISSION)
            if user.organization is not me.organization:
                _denied(MSG_NOT_IN_ORG)
            if not has_org:
                _denied(MSG_SPECIFY_ORG)
            return {user.uuid}
        if not me.is_admin:
            _denied(MSG_NO_PERMISSION)
        return {u.uuid for u in self._users.values() if u.organization is me.organization}

    async def _list_events(self, request: Request) -> Response:
        hosts = self._visible_hosts(request)
        params = request.query_params
        status = self._enum_param(request, "status", ("active", "canceled"))
        email = params.get("invitee_email")
        if email is not None and not _EMAIL.fullmatch(email.strip()):
            _invalid("invitee_email", "must be an e-mail address")
        earliest = self._time_param(params["min_start_time"], "min_start_time") if "min_start_time" in params else None
        latest = self._time_param(params["max_start_time"], "max_start_time") if "max_start_time" in params else None
        _, descending = self._sort_param(request, ("start_time",), "start_time:asc")
        found = [
            e
            for e in self._events.values()
            if any(h.uuid in hosts for h in e.hosts)
            and (status is None or e.status == status)
            and (email is None or any(i.email == email.strip().lower() for i in e.invitees))
            and (earliest is None or e.start >= earliest)
            and (latest is None or e.start < latest)
        ]
        found.sort(key=lambda e: (e.start, e.uuid), reverse=descending)
        base = self._base(request)
        return JSONResponse(self._page(request, found, lambda e: self._render_event(e, base)))

    async def _get_event(self, request: Request) -> Response:
        event = self._event_or_404(request, request.path_params["uuid"])
        return JSONResponse({"resource": self._render_event(event, self._base(request))})

    async def _list_invitees(self, request: Request) -> Response:
        event = self._event_or_404(request, request.path_params["uuid"])
        status = self._enum_param(request, "status", ("active", "canceled"))
        email = request.query_params.get("email")
        _, descending = self._sort_param(request, ("created_at",), "created_at:asc")
        found = [
            i
            for i in event.invitees
            if (status is None or i.status == status) and (email is None or i.email == email.strip().lower())
        ]
        found.sort(key=lambda i: (i.created_at, i.uuid), reverse=descending)
        base = self._base(request)
        return JSONResponse(self._page(request, found, lambda i: self._render_invitee(i, base)))

    async def _get_invitee(self, request: Request) -> Response:
        event = self._event_or_404(request, request.path_params["event_uuid"])
        for invitee in event.invitees:
            if invitee.uuid == request.path_params["invitee_uuid"]:
                return JSONResponse({"resource": self._render_invitee(invitee, self._base(request))})
        _not_found()

    async def _cancel_event(self, request: Request) -> Response:
        event = self._events.get(request.path_params["uuid"])
        if event is None:
            _not_found()
        me = self._me(request)
        if me not in event.hosts and not (me.is_admin and event.hosts[0].organization is me.organization):
            _denied(MSG_CANNOT_CANCEL)
        body = await self._json_body(request, required=False)
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            _invalid("reason", "must be a string")
        if isinstance(reason, str) and len(reason) > MAX_REASON_LENGTH:
            _invalid("reason", f"must be at most {MAX_REASON_LENGTH} characters")
        if event.status == "canceled":
            _denied(MSG_ALREADY_CANCELED)
        if event.start <= self.now():
            _denied(MSG_IN_PAST)
        cancellation = Cancellation(me.name, reason, "host", self.now())
        event.status = "canceled"
        event.cancellation = cancellation
        event.updated_at = self.now()
        for invitee in event.invitees:
            if invitee.status == "active":
                invitee.status = "canceled"
                invitee.cancellation = cancellation
                invitee.updated_at = self.now()
        return JSONResponse({"resource": cancellation.render()}, status_code=201)

    # ------------------------------------------------------------------ handlers: scheduling

    def _check_booking_caps(self, user: User) -> None:
        now = self.now()
        limits = BOOKING_LIMITS.get(self.plan, ())
        attempts = self._booking_attempts.setdefault(user.uuid, [])
        for window, limit in limits:
            if window == "day":
                used = sum(1 for a in attempts if a.date() == now.date())
            else:
                size = 60 if window == "minute" else 3600
                used = sum(1 for a in attempts if int(a.timestamp()) // size == int(now.timestamp()) // size)
            if used >= limit:
                headers = {
                    "X-RateLimit-Limit": str(limit),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(self._seconds_to_reset(window)),
                }
                raise CalendlyError(429, "Too Many Requests", MSG_TOO_MANY, headers=headers)
        attempts.append(now)

    async def _create_invitee(self, request: Request) -> Response:
        me = self._me(request)
        if self.plan == "free":
            _denied(MSG_UPGRADE)
        self._check_booking_caps(me)
        body = await self._json_body(request)
        event_type = self._event_type_param(request, body.get("event_type"), "event_type")
        if not event_type.active:
            _invalid("event_type", "is not active")
        start = self._time_param(body.get("start_time"), "start_time")
        person = body.get("invitee")
        if not isinstance(person, dict):
            _invalid("invitee", "is required")
        email = person.get("email")
        if not isinstance(email, str) or not _EMAIL.fullmatch(email.strip()):
            _invalid("invitee.email", "must be an e-mail address")
        timezone = person.get("timezone")
        if not isinstance(timezone, str):
            _invalid("invitee.timezone", "is required")
        try:
            _zone(timezone)
        except ValueError:
            _invalid("invitee.timezone", "must be an IANA time zone")
        name, first, last = person.get("name"), person.get("first_name"), person.get("last_name")
        for key, value in (("name", name), ("first_name", first), ("last_name", last)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                _invalid(f"invitee.{key}", "must be a non-empty string")
        if not name and not first:
            _invalid("invitee.name", "name or first_name is required")
        reminder = person.get("text_reminder_number")
        if reminder is not None and not (isinstance(reminder, str) and re.fullmatch(r"\+?[\d\s().-]{7,}", reminder)):
            _invalid("invitee.text_reminder_number", "must be a phone number")
        location = self._location_from(event_type, body.get("location"))
        answers = self._answers_from(body.get("questions_and_answers"))
        guests = self._guests_from(body.get("event_guests"))
        tracking = body.get("tracking") or {}
        if not isinstance(tracking, dict):
            _invalid("tracking", "must be an object")
        slots = dict(self._free_slots(event_type, start, start + timedelta(microseconds=1)))
        if start not in slots:
            _invalid("start_time", MSG_SLOT_TAKEN)
        event = self._event_for_booking(event_type, start, location)
        now = self.now()
        event.guests.extend((g, now) for g in guests)
        invitee = Invitee(
            self._new_id(),
            event,
            email.strip().lower(),
            name.strip() if name else " ".join(p.strip() for p in (first, last) if p),
            first.strip() if first else None,
            last.strip() if last else None,
            timezone,
            "active",
            now,
            now,
            answers,
            text_reminder_number=reminder,
            tracking={k: v for k, v in tracking.items() if isinstance(v, str)},
            scheduled_by=me,
        )
        event.invitees.append(invitee)
        event.updated_at = now
        return JSONResponse({"resource": self._render_invitee(invitee, self._base(request))}, status_code=201)

    def _event_for_booking(
        self, event_type: EventType, start: datetime, location: tuple[str, str | None]
    ) -> ScheduledEvent:
        if event_type.kind == "group":
            for event in self._events.values():
                if event.event_type is event_type and event.start == start and event.status == "active":
                    return event
        now = self.now()
        event = ScheduledEvent(
            self._new_id(),
            event_type,
            [event_type.owner],
            start,
            start + timedelta(minutes=event_type.duration),
            "active",
            location,
            now,
            now,
        )
        self._events[event.uuid] = event
        return event

    @staticmethod
    def _location_from(event_type: EventType, raw: Any) -> tuple[str, str | None]:
        if raw is None:
            return event_type.locations[0]
        if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
            _invalid("location", "must be an object with a kind")
        offered = dict(event_type.locations)
        kind = raw["kind"]
        if kind not in offered:
            _invalid("location.kind", f"must be one of: {', '.join(offered)}")
        detail = raw.get("location", offered[kind])
        if detail is not None and not isinstance(detail, str):
            _invalid("location.location", "must be a string")
        if kind in ("outbound_call", "ask_invitee") and not detail:
            _invalid("location.location", "is required for this kind")
        return kind, detail

    @staticmethod
    def _answers_from(raw: Any) -> list[Json]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            _invalid("questions_and_answers", "must be an array")
        answers: list[Json] = []
        for index, item in enumerate(raw):
            if not (isinstance(item, dict) and isinstance(item.get("question"), str)):
                _invalid(f"questions_and_answers[{index}].question", "is required")
            if not isinstance(item.get("answer"), str):
                _invalid(f"questions_and_answers[{index}].answer", "is required")
            position = item.get("position", index)
            if not isinstance(position, int) or isinstance(position, bool):
                _invalid(f"questions_and_answers[{index}].position", "must be an integer")
            answers.append({"question": item["question"], "answer": item["answer"], "position": position})
        return answers

    @staticmethod
    def _guests_from(raw: Any) -> list[str]:
        if raw is None:
            return []
        if not isinstance(raw, list) or len(raw) > MAX_GUESTS:
            _invalid("event_guests", f"must be an array of at most {MAX_GUESTS} e-mail addresses")
        guests: list[str] = []
        for item in raw:
            if not isinstance(item, str) or not _EMAIL.fullmatch(item.strip()):
                _invalid("event_guests", "must contain e-mail addresses")
            guests.append(item.strip().lower())
        return guests

    async def _create_scheduling_link(self, request: Request) -> Response:
        body = await self._json_body(request)
        count = body.get("max_event_count")
        if count != 1 or isinstance(count, bool):
            _invalid("max_event_count", "must be 1")
        if body.get("owner_type") != "EventType":
            _invalid("owner_type", "must be EventType")
        event_type = self._event_type_param(request, body.get("owner"), "owner")
        code = secrets.token_hex(2) + "-" + secrets.token_hex(2)
        link = SchedulingLink(event_type, f"{WEB_BASE}/d/{code}/{event_type.slug}", self.now())
        self.scheduling_links.append(link)
        resource = {
            "booking_url": link.booking_url,
            "owner": f"{self._base(request)}/event_types/{event_type.uuid}",
            "owner_type": "EventType",
        }
        return JSONResponse({"resource": resource}, status_code=201)

    # ------------------------------------------------------------------ OAuth token endpoint

    async def _oauth_endpoint(self, request: Request) -> Response:
        self.requests.append(await record(request))
        self.token_requests += 1
        fault = self._faults.take(request.url.path)
        if fault == "slow":
            await slow()
        elif fault is not None:
            return self._fault_response(fault)
        try:
            return await self._oauth_token(request)
        except OAuthError as exc:
            return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=exc.status)
        except CalendlyError as exc:
            return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    async def _oauth_token(self, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise OAuthError(400, "invalid_request", "The request must be application/x-www-form-urlencoded.")
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, client_secret = base64.b64decode(credentials.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError(401, "invalid_client", INVALID_CLIENT) from None
        if client_id != self.client_id or client_secret != self.client_secret:
            raise OAuthError(401, "invalid_client", INVALID_CLIENT)
        grant_type = form.get("grant_type")
        if grant_type != "refresh_token":
            raise OAuthError(400, "unsupported_grant_type", "The authorization grant type is not supported.")
        presented = form.get("refresh_token", "")
        user = self._refresh_tokens.get(presented)
        if user is None:
            raise OAuthError(400, "invalid_grant", INVALID_GRANT)
        now = self.now()
        issued = [t for t in self._token_issues.get(user.uuid, []) if now - t < timedelta(minutes=1)]
        if len(issued) >= TOKENS_PER_MINUTE:
            raise CalendlyError(429, "Too Many Requests", MSG_TOO_MANY, headers={"Retry-After": "60"})
        self._token_issues[user.uuid] = [*issued, now]
        del self._refresh_tokens[presented]
        access = Token(secrets.token_urlsafe(32), user, now, now + timedelta(seconds=ACCESS_TOKEN_SECONDS))
        self._tokens[access.value] = access
        refresh = secrets.token_urlsafe(32)
        self._refresh_tokens[refresh] = user
        base = API_BASE if self._base(request) == AUTH_BASE else self._base(request)
        body = {
            "access_token": access.value,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "scope": " ".join(sorted(self.token_scopes)) if self.token_scopes is not None else "default",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "created_at": int(now.timestamp()),
            "owner": f"{base}/users/{user.uuid}",
            "organization": f"{base}/organizations/{user.organization.uuid}",
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})


def build_app(fake: FakeCalendly | None = None) -> Starlette:
    """A Starlette app of ``fake`` (a fresh :class:`FakeCalendly` when None)."""
    return (fake or FakeCalendly()).app
