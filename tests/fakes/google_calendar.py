"""A contract-faithful fake of the Google Calendar API v3 and Google's OAuth token endpoint (Starlette), for tests.

Real base URLs: ``https://www.googleapis.com/calendar/v3`` (the API) and ``https://oauth2.googleapis.com/token``
(tokens). The fake serves the API under ``<fake>/calendar/v3`` and tokens at ``<fake>/token`` — point the adapter's
two configurable URLs there.

What it serves (paths below ``/calendar/v3`` are the discovery document's; :data:`SERVED_METHODS` is the table):

- ``POST   /token`` — ``grant_type=refresh_token`` (client id/secret in the form or HTTP Basic) or
  ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` with an ``assertion`` (a JWT, decoded for its claims;
  its RS256 signature is checked only for service accounts registered with a public key).
- ``GET    /calendar/v3/calendars/{calendarId}/events`` (``calendar.events.list``) — timeMin, timeMax, singleEvents,
  orderBy, maxResults, pageToken, q, privateExtendedProperty / sharedExtendedProperty (repeatable), showDeleted,
  timeZone, updatedMin, syncToken, iCalUID, eventTypes, maxAttendees; alwaysIncludeEmail and showHiddenInvitations
  are accepted and ignored.
- ``POST   /calendar/v3/calendars/{calendarId}/events`` (``calendar.events.insert``) — sendUpdates,
  sendNotifications, conferenceDataVersion, maxAttendees; supportsAttachments and eventLabelVersion are ignored.
- ``POST   /calendar/v3/calendars/{calendarId}/events/watch`` (``calendar.events.watch``) — a ``Channel`` body.
- ``GET    /calendar/v3/calendars/{calendarId}/events/{eventId}`` (``calendar.events.get``) — timeZone,
  maxAttendees.
- ``PATCH  /calendar/v3/calendars/{calendarId}/events/{eventId}`` (``calendar.events.patch``) — as insert, plus an
  ``If-Match`` header.
- ``DELETE /calendar/v3/calendars/{calendarId}/events/{eventId}`` (``calendar.events.delete``) — sendUpdates,
  sendNotifications.
- ``POST   /calendar/v3/freeBusy`` (``calendar.freebusy.query``).
- ``POST   /calendar/v3/channels/stop`` (``calendar.channels.stop``).

Every API route also takes the global parameters ``fields`` (partial responses: ``a,b/c,items(id,start)``, ``*``),
``alt=json``, ``prettyPrint``, ``quotaUser``, ``key``, ``userIp`` and ``oauth_token`` (a bearer token in the query).
Anything else answers 404 ``notFound`` in Google's error envelope.

Facts it follows. The methods, parameters, schemas, enums, defaults, maxima and OAuth scopes are the discovery
document's (``google-api-python-client``'s ``calendar.v3.json``; a trimmed copy with the package version is in
``tests/fakes/openapi/google-calendar-v3-excerpt.json`` and ``test_google_calendar_fake_matches_discovery.py`` checks
the fake against the installed document). Wire facts the document lacks are in that excerpt's ``x-observed``, with
sources (chiefly Google's "Handle API errors", "Extended properties" and "Push notifications" guides):

* Errors: ``{"error": {"code", "message", "errors": [{"domain", "reason", "message", "locationType"?, "location"?}],
  "status"?}}``. Bodies as the errors guide lists them: 400 ``timeRangeEmpty`` (domain ``calendar``), 403
  ``usageLimits`` ``userRateLimitExceeded`` / ``rateLimitExceeded`` / ``quotaExceeded`` ("Calendar usage limits
  exceeded."), 404 ``notFound``, 409 ``duplicate`` ("The requested identifier already exists."), 410
  ``fullSyncRequired`` / ``updatedMinTooLongAgo`` / ``deleted``, 412 ``conditionNotMet``, 429 ``rateLimitExceeded``,
  500 ``backendError``. A ``rateLimitExceeded`` may be a 403 or a 429 (the guide: handle both alike).
* Auth: ``Authorization: Bearer <token>``. No credential → 401 reason ``required`` ("Login Required.", status
  ``UNAUTHENTICATED``); an unknown or expired token → 401 ``authError`` ("Invalid Credentials", status
  ``UNAUTHENTICATED``); both with ``WWW-Authenticate: Bearer realm=…``. A token lacking every scope the method lists in
  the discovery document → 403 ``insufficientPermissions`` / "Request had insufficient authentication scopes."
  (status ``PERMISSION_DENIED``, ``details[ErrorInfo ACCESS_TOKEN_SCOPE_INSUFFICIENT]``). Note what that implies:
  ``calendar.events`` alone may not call ``freeBusy`` (its scopes are ``calendar``, ``calendar.events.freebusy``,
  ``calendar.freebusy``, ``calendar.readonly``), and ``calendar.readonly`` may not insert/patch/delete.
* ``calendarId`` is an email-like id (compared case-insensitively) or ``primary`` (the token's own user: the
  constructor's ``user_email``, a refresh token's subject, or a service-account JWT's ``sub`` — else its ``iss``).
* ``events.list``: ``timeMin`` bounds the event's *end* (exclusive), ``timeMax`` its *start* (exclusive); both need an
  offset (else 400 ``badRequest``), milliseconds are ignored, ``timeMin >= timeMax`` → 400 ``timeRangeEmpty``.
  ``orderBy=startTime`` without ``singleEvents=true`` → 400 ``invalid`` "The requested ordering is not available for
  the particular query." (location ``orderBy``, googleworkspace/java-samples#52). ``maxResults`` default 250, larger
  than 2500 is cut to 2500 ("the page size can never be larger than 2500"), < 1 → 400. Cancelled events are left out
  unless ``showDeleted=true`` or the request is incremental (``syncToken``/``updatedMin``). ``syncToken`` cannot be
  combined with iCalUID, orderBy, privateExtendedProperty, q, sharedExtendedProperty, timeMin, timeMax, updatedMin
  (→ 400) nor with ``showDeleted=false``; an expired/unknown sync token → 410 ``fullSyncRequired``.
  ``nextPageToken`` and ``nextSyncToken`` never come together; ``nextSyncToken`` only on the last page.
  Responses ``{kind: "calendar#events", etag, summary, description?, updated, timeZone, accessRole,
  defaultReminders, nextPageToken | nextSyncToken, items}``; ``dateTime`` values are written in the ``timeZone``
  parameter's zone, else the calendar's ("Time zone used in the response … default is the time zone of the
  calendar"); ``Z`` for a zero offset; ``created``/``updated`` are UTC with milliseconds.
* ``q`` searches summary, description, location, attendees' and organizer's displayName and email (the parameter's
  documented field list; working-location fields are not modelled).
* Extended properties (the guide): keys longer than 44 characters are dropped silently, values cut to 1024 characters,
  at most 300 properties (private + shared) per event. Repeated ``privateExtendedProperty`` (or repeated
  ``sharedExtendedProperty``) constraints are OR-ed, private and shared constraint groups AND-ed — see item 1 below.
* Event ids chosen by the client: base32hex characters (``a``-``v``, ``0``-``9``), 5 to 1024 of them, else 400
  ``invalid`` "Invalid resource id value."; an id in use on the calendar (even by a cancelled event) → 409
  ``duplicate``. Server ids are 26 base32hex characters. ``start``/``end`` are required on insert (``Missing end
  time.``); a ``dateTime`` without offset needs ``timeZone``; an unknown IANA zone → 400.
* ``conferenceDataVersion`` (0 default, max 1): with 0 the body's ``conferenceData`` is ignored; with 1 a
  ``createRequest`` (``requestId`` + ``conferenceSolutionKey.type: hangoutsMeet``) makes a Google Meet conference:
  ``hangoutLink``, ``conferenceData.{createRequest.status.statusCode, entryPoints[video], conferenceSolution,
  conferenceId}``; a ``createRequest`` repeating the event's previous ``requestId`` is ignored (the schema says so).
* ``PATCH`` has patch semantics: objects merge (``extendedProperties.private.k: null`` deletes ``k``), arrays replace,
  ``null`` clears a field; ``{"status": "cancelled"}`` cancels. ``DELETE`` → 204 with no body and leaves the event
  ``cancelled`` (``get`` still returns it); deleting it again → 410 ``deleted``; unknown → 404 ``notFound``.
* ``freeBusy``: ``{kind: "calendar#freeBusy", timeMin, timeMax, calendars: {<id as asked>: {busy: [{start, end}],
  errors?: [{domain: "global", reason: "notFound" | "tooManyCalendarsRequested"}]}}}``; ``timeMin``/``timeMax`` are
  echoed in UTC with milliseconds and ``busy`` times are in the request's ``timeZone`` (default UTC), as in the observed
  answer in the excerpt. ``calendarExpansionMax`` ≤ 50, ``groupExpansionMax`` ≤ 100 (the schema's maxima).
* Push: ``events.watch`` takes ``{id, type: web_hook|webhook, address, token?, expiration? (ms), params?}`` and answers
  ``{kind: "api#channel", id, resourceId, resourceUri, token?, expiration}`` (``expiration`` a string: ``int64``).
  Notifications are body-less POSTs with ``X-Goog-Channel-ID``, ``X-Goog-Channel-Token``, ``X-Goog-Channel-Expiration``
  (RFC 1123), ``X-Goog-Resource-ID``, ``X-Goog-Resource-URI``, ``X-Goog-Resource-State`` (``sync`` first, then
  ``exists``; ``not_exists`` for single resources) and ``X-Goog-Message-Number``. The fake records the ones it would
  send in :attr:`FakeGoogleCalendar.notifications` (it sends nothing); :meth:`FakeGoogleCalendar.build_notification`
  builds one on demand.
* Faults (``tests/fakes/faults.py``): ``rate_limited`` → 403 ``rateLimitExceeded`` (variants ``"429"`` → the same
  as a 429, ``"user"`` → 403 ``userRateLimitExceeded``); ``quota`` → 403 ``quotaExceeded``; ``unavailable`` → 503
  ``backendError`` (variant ``"500"`` → 500 "Backend Error"); ``auth`` → 401 ``authError`` (as an expired token);
  ``malformed`` → 200 with a cut-off JSON body; ``slow`` → sleeps, then answers normally.

Facts the project's research leaves unconfirmed (or that no source settled) and how this fake decides them:

1. Repeated extended-property filters: the Extended-properties guide says repeated constraints are OR-ed (private vs
   shared AND-ed); the discovery document's parameter text says "match all given constraints". Default ``"any"`` (the
   guide, with its worked example); ``FakeGoogleCalendar(extended_property_match="all")`` switches to the other
   reading. An adapter filtering on one property is unaffected.
2. Maximum ``freeBusy`` span: not documented. 90 days (calcom/cal.diy#11962, #11696 observed "The requested time range
   is too long."): a longer window → 400 domain ``calendar`` reason ``timeRangeTooLong`` (the reason name is a second
   hand report), location ``timeMax``.
3. Busy periods: clipped to the query window; overlapping *and touching* periods merged; tentative events are busy;
   cancelled and ``transparent`` events are not, nor events the calendar's owner declined (``self`` attendee with
   ``responseStatus: declined``); zero-length events are not busy. All-day events are busy from local midnight to
   local midnight in the calendar's zone (unless transparent). A calendar answered with ``errors`` also gets
   ``busy: []``.
4. ``nextSyncToken``: given on the last page of a full list that uses none of the sync-incompatible parameters (the
   brief's rule; whether Google also gives one with ``timeMin`` is not settled — google-api-php-client#2637 even reports
   none with ``singleEvents=true``, which the fake does not copy). A sync token is an opaque string; the fake
   answers 410 ``fullSyncRequired`` for undecodable tokens, tokens of another calendar and tokens issued before
   :meth:`FakeGoogleCalendar.invalidate_sync_tokens`. ``updatedMin`` older than
   :meth:`FakeGoogleCalendar.forget_history_before` → 410 ``updatedMinTooLongAgo`` (off by default).
5. Page tokens are opaque and bound to the query: reusing one with different filter parameters (other than
   ``maxResults`` and the global ones) → 400 ``invalid`` (location ``pageToken``); the real behaviour is unspecified.
   ``FakeGoogleCalendar(page_size=N)`` caps pages below ``maxResults`` (allowed: "may be less than this value").
6. Default order without ``orderBy`` ("unspecified, stable"): creation order. ``orderBy=updated``: by ``updated``, then
   creation. Recurring events are not expanded: an event with ``recurrence`` is one item whatever ``singleEvents`` is.
7. Error messages not shown in any source are the fake's own wording (adapters must key on status and ``reason``):
   bad parameter values → 400 ``invalid``; a body that is not JSON → 400 ``parseError`` "Parse Error";
   ``Missing start time.``/``Missing end time.``/``Missing attendee email.`` → 400 ``required``; a non-base32hex id →
   "Invalid resource id value."; unknown conference type → "Invalid conference type value."; a ``syncToken`` mixed
   with incompatible parameters → 400 ``invalid`` (location ``syncToken``); more than 300 extended properties →
   400 ``invalid``; reminders with both ``useDefault: true`` and overrides → 400
   ``cannotUseDefaultRemindersAndSpecifyOverride`` (recalled, not found in a source).
   Unknown body fields, ``attachments`` and read-only fields (``htmlLink``, ``created``, ``organizer`` …) are ignored.
8. Time rendering: ``Z`` for a zero UTC offset whatever the zone; an event's ``start.timeZone`` is returned only when
   it was given. ``end`` before ``start`` → 400 ``timeRangeEmpty``; ``end == start`` is accepted.
9. Access roles (per calendar, default ``owner``): ``none`` → 404 ``notFound`` everywhere (freeBusy: a per-calendar
   ``notFound``); ``freeBusyReader`` → freeBusy only, events 403 ``requiredAccessLevel`` (domain ``calendar``);
   ``reader`` → no writes (403 ``requiredAccessLevel``). ``calendar.events.owned``/``calendar.app.created`` scopes are
   honoured as the discovery document lists them, without their ownership restriction.
10. PATCH: ``start``/``end`` are replaced whole (not merged), ``sequence`` goes up by one when ``start`` or ``end``
    changes, ``If-Match`` with another etag → 412 ``conditionNotMet``. ``PUT`` (``events.update``) is not served (404).
11. The 401 for an expired token and the ``auth`` fault use the current front-end wording ("Request had invalid
    authentication credentials. …", status ``UNAUTHENTICATED``; the guide's older example says "Invalid Credentials"
    at the top and has no status); ``errors[0]`` is the guide's in both. The scope-error ``ErrorInfo`` metadata names
    ``calendar-json.googleapis.com`` and ``calendar.v3.<Resource>.<Method>`` (the pattern seen for other APIs).
    ``unavailable`` answers 503 with reason ``backendError`` "The service is currently unavailable." (the guide
    shows only the 500). No ``Retry-After`` header on 403/429 (none is documented).
12. Channels: default lifetime 7 days, at most 30 days (a longer ``expiration`` is cut); ``expiration`` in the past →
    400 ``invalid``; ``address`` must be HTTPS (400 ``push.webhookUrlNotHttps``); a channel id must be 1 to 64 of
    ``A-Za-z0-9-_+/=`` (else 400 ``invalid``) and not in use (else 400 ``channelIdNotUnique``); ``resourceId`` is
    stable per calendar; ``resourceUri`` is ``https://www.googleapis.com/calendar/v3/calendars/<id as asked>/events
    ?alt=json`` (as seen in real notifications); ``channels.stop`` with an unknown id or a resourceId of another
    channel → 404 ``notFound``. Notifications stop after expiry.
13. Token endpoint: answers ``{access_token, expires_in: 3599, scope, token_type: "Bearer"}`` for both grants (Google
    may omit ``scope`` for service accounts). Errors are RFC 6749 bodies: unknown client → 401 ``invalid_client``;
    unknown/revoked refresh token or a bad JWT (undecodable, not RS256, no ``iss``, ``aud`` neither a Google token URL
    nor this endpoint, ``exp - iat`` > 3600, expired, or a signature the registered key rejects) → 400
    ``invalid_grant``; no ``scope`` claim → 400 ``invalid_scope``; another grant type → 400
    ``unsupported_grant_type``. Scripted faults reach the token endpoint only when their ``path_contains`` names it
    (``fail_next(…, path_contains="/token")``), so a bare ``fail_next("unavailable")`` still hits the Calendar API
    call after a token refresh; there ``unavailable`` → 503 ``{"error": "temporarily_unavailable"}``, ``auth`` →
    400 ``invalid_grant``, ``rate_limited``/``quota`` → 429 ``{"error": "rate_limit_exceeded"}``, ``malformed`` → a
    cut-off JSON body, ``slow`` → sleeps first. A refresh may narrow (never widen) the granted scopes via ``scope``.
14. Order of checks on API routes: token (401) → scope (403) → scripted fault → the request itself. Tokens never
    expire unless :meth:`FakeGoogleCalendar.expire_tokens` is called or their ``expires_in`` passes on the fake clock.
15. Conferences are created at once (``statusCode: success``) unless ``conference_status`` is ``"pending"`` (no entry
    points until :meth:`FakeGoogleCalendar.complete_pending_conferences`) or ``"failure"``.
16. ``q``: whitespace-separated terms, each a case-insensitive substring of the searchable text; all terms must match
    (Google's tokenised full-text search is not modelled).
17. Calendar ids containing ``@`` are compared case-insensitively. Every calendar the fake knows is reachable by every
    token (sharing is modelled only as the per-calendar access role), ``primary`` included.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from email.utils import format_datetime
from typing import Any, Literal, NoReturn, cast, get_args
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.faults import FAULT_NAMES, FaultName, FaultScript, RecordedRequest, record, slow

Json = dict[str, Any]
AccessRole = Literal["none", "freeBusyReader", "reader", "writerWithoutPrivateAccess", "writer", "owner"]
EventStatus = Literal["confirmed", "tentative", "cancelled"]
ConferenceStatus = Literal["success", "pending", "failure"]
ResourceState = Literal["sync", "exists", "not_exists"]
ExtendedPropertyMatch = Literal["any", "all"]

# ------------------------------------------------------------------------------------------------ constants

BASE_PATH = "/calendar/v3"
TOKEN_PATH = "/token"
REAL_BASE_URL = "https://www.googleapis.com/calendar/v3"
REAL_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_TOKEN_AUDIENCES = frozenset(
    {REAL_TOKEN_URL, "https://www.googleapis.com/oauth2/v4/token", "https://accounts.google.com/o/oauth2/token"}
)
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

_AUTH = "https://www.googleapis.com/auth/"
SCOPE_CALENDAR = _AUTH + "calendar"
SCOPE_CALENDAR_READONLY = _AUTH + "calendar.readonly"
SCOPE_EVENTS = _AUTH + "calendar.events"
SCOPE_EVENTS_READONLY = _AUTH + "calendar.events.readonly"
SCOPE_EVENTS_OWNED = _AUTH + "calendar.events.owned"
SCOPE_EVENTS_OWNED_READONLY = _AUTH + "calendar.events.owned.readonly"
SCOPE_EVENTS_PUBLIC_READONLY = _AUTH + "calendar.events.public.readonly"
SCOPE_EVENTS_FREEBUSY = _AUTH + "calendar.events.freebusy"
SCOPE_FREEBUSY = _AUTH + "calendar.freebusy"
SCOPE_APP_CREATED = _AUTH + "calendar.app.created"
SCOPE_ACLS = _AUTH + "calendar.acls"
SCOPE_ACLS_READONLY = _AUTH + "calendar.acls.readonly"
SCOPE_CALENDARLIST = _AUTH + "calendar.calendarlist"
SCOPE_CALENDARLIST_READONLY = _AUTH + "calendar.calendarlist.readonly"
SCOPE_SETTINGS = _AUTH + "calendar.settings"
SCOPE_SETTINGS_READONLY = _AUTH + "calendar.settings.readonly"

#: the scopes a token gets by default: everything (narrow with :meth:`FakeGoogleCalendar.set_scopes`)
DEFAULT_SCOPES: frozenset[str] = frozenset({SCOPE_CALENDAR})
#: a token without the events-write scope (for the "insufficient scopes" mode)
READ_ONLY_SCOPES: frozenset[str] = frozenset({SCOPE_CALENDAR_READONLY})

_READ_EVENT_SCOPES = frozenset(
    {
        SCOPE_CALENDAR,
        SCOPE_APP_CREATED,
        SCOPE_EVENTS,
        SCOPE_EVENTS_FREEBUSY,
        SCOPE_EVENTS_OWNED,
        SCOPE_EVENTS_OWNED_READONLY,
        SCOPE_EVENTS_PUBLIC_READONLY,
        SCOPE_EVENTS_READONLY,
        SCOPE_CALENDAR_READONLY,
    }
)
_WRITE_EVENT_SCOPES = frozenset({SCOPE_CALENDAR, SCOPE_APP_CREATED, SCOPE_EVENTS, SCOPE_EVENTS_OWNED})
_FREEBUSY_SCOPES = frozenset({SCOPE_CALENDAR, SCOPE_EVENTS_FREEBUSY, SCOPE_FREEBUSY, SCOPE_CALENDAR_READONLY})
_CHANNEL_STOP_SCOPES = frozenset(
    {
        SCOPE_CALENDAR,
        SCOPE_ACLS,
        SCOPE_ACLS_READONLY,
        SCOPE_APP_CREATED,
        SCOPE_CALENDARLIST,
        SCOPE_CALENDARLIST_READONLY,
        SCOPE_EVENTS,
        SCOPE_EVENTS_FREEBUSY,
        SCOPE_EVENTS_OWNED,
        SCOPE_EVENTS_OWNED_READONLY,
        SCOPE_EVENTS_PUBLIC_READONLY,
        SCOPE_EVENTS_READONLY,
        SCOPE_CALENDAR_READONLY,
        SCOPE_SETTINGS,
        SCOPE_SETTINGS_READONLY,
    }
)

#: the discovery document's global parameters (every route accepts them)
GLOBAL_PARAMS: frozenset[str] = frozenset({"alt", "fields", "key", "oauth_token", "prettyPrint", "quotaUser", "userIp"})

_LIST_PARAMS = frozenset(
    {
        "alwaysIncludeEmail",
        "eventTypes",
        "iCalUID",
        "maxAttendees",
        "maxResults",
        "orderBy",
        "pageToken",
        "privateExtendedProperty",
        "q",
        "sharedExtendedProperty",
        "showDeleted",
        "showHiddenInvitations",
        "singleEvents",
        "syncToken",
        "timeMax",
        "timeMin",
        "timeZone",
        "updatedMin",
    }
)
_WRITE_PARAMS = frozenset(
    {
        "conferenceDataVersion",
        "eventLabelVersion",
        "maxAttendees",
        "sendNotifications",
        "sendUpdates",
        "supportsAttachments",
    }
)


@dataclass(frozen=True)
class ServedMethod:
    """One discovery-document method the fake serves: its id, HTTP method, path (below ``/calendar/v3/``), the
    query parameters it accepts besides :data:`GLOBAL_PARAMS`, and the scopes that may call it (any one suffices)."""

    id: str
    http_method: str
    path: str
    query: frozenset[str]
    scopes: frozenset[str]
    rpc_name: str

    @property
    def route_path(self) -> str:
        """The Starlette route path (``{calendarId}`` style placeholders kept)."""
        return f"{BASE_PATH}/{self.path}"


SERVED_METHODS: tuple[ServedMethod, ...] = (
    ServedMethod(
        "calendar.events.list",
        "GET",
        "calendars/{calendarId}/events",
        _LIST_PARAMS,
        _READ_EVENT_SCOPES,
        "calendar.v3.Events.List",
    ),
    ServedMethod(
        "calendar.events.insert",
        "POST",
        "calendars/{calendarId}/events",
        _WRITE_PARAMS,
        _WRITE_EVENT_SCOPES,
        "calendar.v3.Events.Insert",
    ),
    ServedMethod(
        "calendar.events.watch",
        "POST",
        "calendars/{calendarId}/events/watch",
        _LIST_PARAMS,
        _READ_EVENT_SCOPES,
        "calendar.v3.Events.Watch",
    ),
    ServedMethod(
        "calendar.events.get",
        "GET",
        "calendars/{calendarId}/events/{eventId}",
        frozenset({"alwaysIncludeEmail", "maxAttendees", "timeZone"}),
        _READ_EVENT_SCOPES,
        "calendar.v3.Events.Get",
    ),
    ServedMethod(
        "calendar.events.patch",
        "PATCH",
        "calendars/{calendarId}/events/{eventId}",
        _WRITE_PARAMS | {"alwaysIncludeEmail"},
        _WRITE_EVENT_SCOPES,
        "calendar.v3.Events.Patch",
    ),
    ServedMethod(
        "calendar.events.delete",
        "DELETE",
        "calendars/{calendarId}/events/{eventId}",
        frozenset({"sendNotifications", "sendUpdates"}),
        _WRITE_EVENT_SCOPES,
        "calendar.v3.Events.Delete",
    ),
    ServedMethod(
        "calendar.freebusy.query", "POST", "freeBusy", frozenset(), _FREEBUSY_SCOPES, "calendar.v3.Freebusy.Query"
    ),
    ServedMethod(
        "calendar.channels.stop",
        "POST",
        "channels/stop",
        frozenset(),
        _CHANNEL_STOP_SCOPES,
        "calendar.v3.Channels.Stop",
    ),
)
SERVED_BY_ID: dict[str, ServedMethod] = {m.id: m for m in SERVED_METHODS}

MAX_RESULTS_DEFAULT = 250
MAX_RESULTS_MAX = 2500
ORDER_BY_VALUES: tuple[str, ...] = ("startTime", "updated")
SEND_UPDATES_VALUES: tuple[str, ...] = ("all", "externalOnly", "none")
EVENT_TYPE_VALUES: tuple[str, ...] = ("birthday", "default", "focusTime", "fromGmail", "outOfOffice", "workingLocation")
EVENT_STATUSES: tuple[EventStatus, ...] = ("confirmed", "tentative", "cancelled")
RESPONSE_STATUSES: tuple[str, ...] = ("needsAction", "declined", "tentative", "accepted")
TRANSPARENCY_VALUES: tuple[str, ...] = ("opaque", "transparent")
VISIBILITY_VALUES: tuple[str, ...] = ("default", "public", "private", "confidential")
REMINDER_METHODS: tuple[str, ...] = ("email", "popup")
REMINDER_MAX_MINUTES = 40320
REMINDER_MAX_OVERRIDES = 5
ACCESS_ROLES: tuple[AccessRole, ...] = cast(tuple[AccessRole, ...], get_args(AccessRole))
#: syncToken cannot be combined with these (the discovery document's syncToken description)
SYNC_INCOMPATIBLE_PARAMS: tuple[str, ...] = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
CONFERENCE_DATA_VERSION_MAX = 1
EVENT_ID_MIN_LENGTH = 5
EVENT_ID_MAX_LENGTH = 1024
EVENT_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuv"  # base32hex, lower case
EXTENDED_KEY_MAX = 44
EXTENDED_VALUE_MAX = 1024
EXTENDED_MAX_PROPERTIES = 300
FREEBUSY_MAX_DAYS = 90
FREEBUSY_CALENDARS_MAX = 50
FREEBUSY_GROUP_MEMBERS_MAX = 100
CHANNEL_ID_MAX_LENGTH = 64
CHANNEL_DEFAULT_TTL = timedelta(days=7)
CHANNEL_MAX_TTL = timedelta(days=30)
TOKEN_LIFETIME_SECONDS = 3599
JWT_MAX_LIFETIME_SECONDS = 3600
DEFAULT_REMINDERS: tuple[Json, ...] = ({"method": "popup", "minutes": 10},)

#: Event fields the fake stores when a client sends them (everything else in a body is ignored)
WRITABLE_EVENT_FIELDS: frozenset[str] = frozenset(
    {
        "anyoneCanAddSelf",
        "attendees",
        "colorId",
        "conferenceData",
        "description",
        "end",
        "endTimeUnspecified",
        "extendedProperties",
        "guestsCanInviteOthers",
        "guestsCanModify",
        "guestsCanSeeOtherGuests",
        "iCalUID",
        "id",
        "location",
        "privateCopy",
        "recurrence",
        "reminders",
        "source",
        "start",
        "status",
        "summary",
        "transparency",
        "visibility",
    }
)
#: Event fields a client cannot set (ignored in bodies); the fake computes them
READ_ONLY_EVENT_FIELDS: frozenset[str] = frozenset(
    {"created", "creator", "etag", "hangoutLink", "htmlLink", "kind", "locked", "organizer", "updated"}
)
#: FreeBusyRequest fields the fake reads
FREEBUSY_REQUEST_FIELDS: frozenset[str] = frozenset(
    {"calendarExpansionMax", "groupExpansionMax", "items", "timeMax", "timeMin", "timeZone"}
)
_BOOLEAN_EVENT_FIELDS: dict[str, bool] = {  # field → Google's default (rendered only when different)
    "anyoneCanAddSelf": False,
    "endTimeUnspecified": False,
    "guestsCanInviteOthers": True,
    "guestsCanModify": False,
    "guestsCanSeeOtherGuests": True,
    "privateCopy": False,
}
MEET_ICON_URI = (
    "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png"
)

_AUTH_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_LOCAL_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_EVENT_ID = re.compile(f"[{EVENT_ID_ALPHABET}]+")
_FIELD_NAME = re.compile(r"[A-Za-z0-9_*@.#-]+")

# ------------------------------------------------------------------------------------------------ helpers


def iso_ms(moment: datetime) -> str:
    """Google's rendering of ``created``/``updated``/freeBusy bounds: UTC, milliseconds, ``Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def rfc3339(moment: datetime, zone: tzinfo) -> str:
    """``moment`` as an RFC 3339 date-time in ``zone`` (whole seconds; ``Z`` for a zero offset)."""
    local = moment.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if offset == timedelta(0):
        return text + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 timestamp *with* offset as an aware UTC datetime; ValueError otherwise."""
    value = text.strip()
    if not _RFC3339.fullmatch(value):
        raise ValueError(f"not an RFC 3339 timestamp with offset: {text!r}")
    return datetime.fromisoformat(value.replace("z", "Z").replace("t", "T")).astimezone(UTC)


def zone_named(name: str) -> tzinfo | None:
    """The IANA zone called ``name`` (``UTC`` included), None when unknown."""
    if name in ("UTC", "Etc/UTC", "GMT"):
        return UTC
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return None


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: give a time zone")
    return moment.astimezone(UTC)


def _b64(data: Json) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":"), sort_keys=True).encode()).decode().rstrip("=")
    )


def _unb64(token: str) -> Json:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def _digest(*parts: str, length: int = 16) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def _base32hex(seed: str, length: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, 32)
        chars.append(EVENT_ID_ALPHABET[index])
    return "".join(chars)


def _key(calendar_id: str) -> str:
    return calendar_id.lower() if "@" in calendar_id else calendar_id


class GoogleApiError(Exception):
    """An error answer in Google's JSON envelope (raised in handlers, rendered by the route wrapper)."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location: str | None = None,
        location_type: str | None = None,
        status: str | None = None,
        top_message: str | None = None,
        details: list[Json] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.domain = domain
        self.location = location
        self.location_type = location_type
        self.status = status
        self.top_message = top_message or message
        self.details = details
        self.headers = headers or {}

    def body(self) -> Json:
        """The ``{"error": {...}}`` document."""
        item: Json = {"domain": self.domain, "reason": self.reason, "message": self.message}
        if self.location is not None:
            item["locationType"] = self.location_type or "parameter"
            item["location"] = self.location
        error: Json = {"code": self.code, "message": self.top_message, "errors": [item]}
        if self.status is not None:
            error["status"] = self.status
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}

    def response(self) -> Response:
        """The HTTP answer."""
        return JSONResponse(self.body(), status_code=self.code, headers=self.headers)


def _invalid(message: str, location: str | None = None, *, reason: str = "invalid", domain: str = "global") -> NoReturn:
    raise GoogleApiError(400, reason, message, domain=domain, location=location)


def _required(message: str, location: str | None = None) -> NoReturn:
    raise GoogleApiError(400, "required", message, location=location)


def _not_found() -> NoReturn:
    raise GoogleApiError(404, "notFound", "Not Found")


def _time_range_empty() -> NoReturn:
    raise GoogleApiError(
        400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar", location="timeMax"
    )


def _auth_error() -> GoogleApiError:
    return GoogleApiError(
        401,
        "authError",
        "Invalid Credentials",
        location="Authorization",
        location_type="header",
        status="UNAUTHENTICATED",
        top_message="Request had invalid authentication credentials. " + _AUTH_HELP,
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
    )


# ------------------------------------------------------------------------------------------------ partial responses

FieldTree = dict[str, "FieldTree | None"]


def parse_fields(spec: str) -> FieldTree:
    """Parse a ``fields`` selector (``a,b/c,items(id,start/dateTime)``, ``*``) into a tree; ValueError if malformed."""
    pos = 0

    def name() -> str:
        nonlocal pos
        match = _FIELD_NAME.match(spec, pos)
        if match is None:
            raise ValueError(f"bad field selector at {pos}: {spec!r}")
        pos = match.end()
        return match.group()

    def selection() -> FieldTree:
        nonlocal pos
        tree: FieldTree = {}
        while True:
            path = [name()]
            while pos < len(spec) and spec[pos] == "/":
                pos += 1
                path.append(name())
            sub: FieldTree | None = None
            if pos < len(spec) and spec[pos] == "(":
                pos += 1
                sub = selection()
                if pos >= len(spec) or spec[pos] != ")":
                    raise ValueError(f"unbalanced parentheses in {spec!r}")
                pos += 1
            _merge_fields(tree, path, sub)
            if pos < len(spec) and spec[pos] == ",":
                pos += 1
                continue
            return tree

    tree = selection()
    if pos != len(spec):
        raise ValueError(f"unexpected {spec[pos]!r} in {spec!r}")
    return tree


def _merge_fields(tree: FieldTree, path: list[str], sub: FieldTree | None) -> None:
    node = tree
    for part in path[:-1]:
        if part in node and node[part] is None:
            return  # already selected whole
        child = node.setdefault(part, {})
        assert child is not None
        node = child
    last = path[-1]
    if last not in node:
        node[last] = sub
        return
    existing = node[last]
    if existing is None or sub is None:
        node[last] = None
        return
    for key, value in sub.items():
        _merge_fields(existing, [key], value)


def apply_fields(value: Any, tree: FieldTree) -> Any:
    """``value`` reduced to the fields ``tree`` selects (lists are filtered element-wise)."""
    if isinstance(value, list):
        return [apply_fields(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    out: Json = {}
    for key, item in value.items():
        sub = tree[key] if key in tree else tree.get("*", False)
        if sub is False:
            continue
        out[key] = item if sub is None else apply_fields(item, cast(FieldTree, sub))
    return out


# ------------------------------------------------------------------------------------------------ model


@dataclass(frozen=True)
class EventTime:
    """An event's start or end: an instant (``moment``, UTC) or an all-day ``day``, plus the event's own zone."""

    moment: datetime | None = None
    day: date | None = None
    zone: str | None = None

    def instant(self, calendar_zone: tzinfo) -> datetime:
        """The instant this denotes (all-day: local midnight in the calendar's zone)."""
        if self.moment is not None:
            return self.moment
        assert self.day is not None
        return datetime.combine(self.day, time(), tzinfo=calendar_zone).astimezone(UTC)

    def render(self, zone: tzinfo) -> Json:
        """The ``EventDateTime`` JSON, date-times written in ``zone``."""
        if self.day is not None:
            return {"date": self.day.isoformat()}
        assert self.moment is not None
        out: Json = {"dateTime": rfc3339(self.moment, zone)}
        if self.zone is not None:
            out["timeZone"] = self.zone
        return out


@dataclass
class StoredEvent:
    """One event on one calendar (the organizer's copy)."""

    id: str
    calendar_key: str
    start: EventTime
    end: EventTime
    data: Json  # the other stored fields, in wire form
    created: datetime
    updated: datetime
    seq: int
    version: int
    etag: int
    ical_uid: str
    sequence: int = 0
    via_api: bool = False

    @property
    def status(self) -> str:
        """confirmed | tentative | cancelled."""
        return str(self.data.get("status", "confirmed"))


@dataclass
class CalendarState:
    """One calendar the fake knows, with the token user's access role to it."""

    id: str
    time_zone: str
    summary: str
    description: str | None
    access_role: AccessRole
    updated: datetime
    default_reminders: list[Json]
    events: dict[str, StoredEvent] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The lookup key (email ids are case-insensitive)."""
        return _key(self.id)

    @property
    def zone(self) -> tzinfo:
        """The calendar's zone."""
        found = zone_named(self.time_zone)
        assert found is not None
        return found


@dataclass
class IssuedToken:
    """An access token the fake accepts."""

    value: str
    scopes: frozenset[str]
    subject: str
    expires_at: datetime | None
    grant: str  # "static" | "refresh_token" | "jwt-bearer"


@dataclass
class RefreshGrant:
    """A refresh token: which client holds it, whose calendar it reaches, which scopes consent granted."""

    refresh_token: str
    client_id: str
    subject: str
    scopes: frozenset[str]
    revoked: bool = False


@dataclass
class Channel:
    """A push-notification channel on a calendar's events."""

    id: str
    resource_id: str
    resource_uri: str
    calendar_key: str
    address: str
    token: str | None
    expiration: datetime
    params: dict[str, str]
    messages: int = 0


@dataclass(frozen=True)
class PushNotification:
    """A notification request Google would POST to a channel's address (body-less)."""

    address: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def state(self) -> str:
        """The ``X-Goog-Resource-State`` value."""
        return self.headers["X-Goog-Resource-State"]

    def to_httpx(self) -> httpx.Request:
        """The notification as an ``httpx.Request`` (send it with any client, e.g. to an ASGI app)."""
        return httpx.Request("POST", self.address, headers=self.headers, content=self.body)


@dataclass(frozen=True)
class SentUpdate:
    """A change the API made with its effective ``sendUpdates`` (who Google would have e-mailed)."""

    action: Literal["insert", "patch", "delete"]
    calendar_id: str
    event_id: str
    send_updates: str
    attendees: tuple[str, ...]


Handler = Callable[[Request, IssuedToken], Awaitable[Response]]


# ------------------------------------------------------------------------------------------------ the fake


class FakeGoogleCalendar:
    """A fake Google Calendar account (one user, any number of calendars) plus its OAuth token endpoint.

    ``app`` is the Starlette application (see the module docstring for routes and facts). Build the world with
    :meth:`add_calendar` / :meth:`add_event`, script faults with :meth:`fail_next`, drive the clock with
    :meth:`set_now` / :meth:`advance`, and read back with :meth:`event`, :meth:`events`, :meth:`created_events`,
    :attr:`requests`, :attr:`sent_updates`, :attr:`notifications` and :attr:`token_requests`.
    """

    def __init__(
        self,
        *,
        now: datetime | Callable[[], datetime] | None = None,
        user_email: str = "coach@example.com",
        time_zone: str = "UTC",
        token: str = "test-token",
        scopes: Iterable[str] = DEFAULT_SCOPES,
        client_id: str = "test-client-id",
        client_secret: str = "test-client-secret",
        refresh_token: str = "test-refresh-token",
        page_size: int | None = None,
        extended_property_match: ExtendedPropertyMatch = "any",
    ) -> None:
        if page_size is not None and page_size < 1:
            raise ValueError("page_size must be at least 1")
        if extended_property_match not in ("any", "all"):
            raise ValueError("extended_property_match must be 'any' or 'all'")
        self.user_email = user_email
        self.default_time_zone = time_zone
        self.static_token = token
        self.client_id = client_id
        self.client_secret = client_secret
        self.default_refresh_token = refresh_token
        self.page_size = page_size
        self.extended_property_match: ExtendedPropertyMatch = extended_property_match
        self._initial_scopes = frozenset(scopes)
        self._fixed_now: datetime | None = None
        self._clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        if isinstance(now, datetime):
            self._fixed_now = _as_utc(now)
        elif now is not None:
            self._clock = now
        self.conference_status: ConferenceStatus = "success"
        self.requests: list[RecordedRequest] = []
        self.sent_updates: list[SentUpdate] = []
        self.notifications: list[PushNotification] = []
        self.token_requests = 0
        self._faults = FaultScript()
        self._variants: dict[int, str] = {}
        self._calendars: dict[str, CalendarState] = {}
        self._tokens: dict[str, IssuedToken] = {}
        self._clients: dict[str, str] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._service_account_keys: dict[str, str] = {}
        self._channels: dict[str, Channel] = {}
        self._granted_scopes: frozenset[str] = self._initial_scopes
        self._seq = 0
        self._version = 0
        self._sync_epoch = 0
        self._history_horizon: datetime | None = None
        self._minted = 0
        self.reset()
        self.app: Starlette = self._build_app()

    # ------------------------------------------------------------------ clock, faults, reset

    def now(self) -> datetime:
        """The fake's clock (aware UTC)."""
        if self._fixed_now is not None:
            return self._fixed_now
        return _as_utc(self._clock())

    def set_now(self, moment: datetime) -> None:
        """Stop the clock at ``moment`` (aware)."""
        self._fixed_now = _as_utc(moment)

    def advance(self, delta: timedelta) -> None:
        """Move the (stopped) clock forward by ``delta``."""
        self._fixed_now = self.now() + delta

    def fail_next(
        self, fault: FaultName, *, times: int = 1, path_contains: str | None = None, variant: str | None = None
    ) -> None:
        """Answer the next ``times`` API requests (whose path contains ``path_contains``) with ``fault``.

        ``variant``: for ``rate_limited`` ``"403"`` (default, ``rateLimitExceeded``), ``"429"`` or ``"user"``
        (403 ``userRateLimitExceeded``); for ``unavailable`` ``"503"`` (default) or ``"500"``.
        """
        allowed = {"rate_limited": ("403", "429", "user"), "unavailable": ("503", "500")}
        if fault not in FAULT_NAMES:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULT_NAMES)}")
        if variant is not None and variant not in allowed.get(fault, ()):
            raise ValueError(f"fault {fault!r} has no variant {variant!r}")
        self._faults.add(fault, times=times, path_contains=path_contains)
        if variant is not None:
            self._variants[id(self._faults.pending[-1])] = variant

    def clear_faults(self) -> None:
        """Forget every scripted fault."""
        self._faults.clear()
        self._variants.clear()

    def reset(self) -> None:
        """Forget all calendars (but the user's own, emptied), tokens issued, channels, faults and logs."""
        self.requests.clear()
        self.sent_updates.clear()
        self.notifications.clear()
        self.token_requests = 0
        self.clear_faults()
        self._calendars.clear()
        self._channels.clear()
        self._granted_scopes = self._initial_scopes
        self._tokens = {
            self.static_token: IssuedToken(self.static_token, self._initial_scopes, self.user_email, None, "static")
        }
        self._clients = {self.client_id: self.client_secret}
        self._refresh = {
            self.default_refresh_token: RefreshGrant(
                self.default_refresh_token, self.client_id, self.user_email, self._initial_scopes
            )
        }
        self._service_account_keys.clear()
        self._seq = 0
        self._version = 0
        self._sync_epoch = 0
        self._history_horizon = None
        self._minted = 0
        self.conference_status = "success"
        self.add_calendar(self.user_email, time_zone=self.default_time_zone)

    # ------------------------------------------------------------------ tokens and scopes

    def set_scopes(self, scopes: Iterable[str], *, token: str | None = None) -> None:
        """Scopes of ``token`` (default: the static token, every refresh grant and every token minted later)."""
        chosen = frozenset(scopes)
        if token is not None:
            self._tokens[token].scopes = chosen
            return
        self._granted_scopes = chosen
        self._tokens[self.static_token].scopes = chosen
        for grant in self._refresh.values():
            grant.scopes = chosen

    def expire_tokens(self) -> None:
        """Make every access token issued so far (the static one too) answer 401 from now on."""
        moment = self.now() - timedelta(seconds=1)
        for issued in self._tokens.values():
            issued.expires_at = moment

    def add_oauth_client(self, client_id: str, client_secret: str) -> None:
        """Register another OAuth client."""
        self._clients[client_id] = client_secret

    def add_refresh_token(
        self,
        refresh_token: str,
        *,
        client_id: str | None = None,
        subject: str | None = None,
        scopes: Iterable[str] | None = None,
    ) -> None:
        """Register a refresh token (default: the default client, the user, the current granted scopes)."""
        self._refresh[refresh_token] = RefreshGrant(
            refresh_token,
            client_id or self.client_id,
            subject or self.user_email,
            frozenset(scopes) if scopes is not None else self._granted_scopes,
        )

    def revoke_refresh_token(self, refresh_token: str) -> None:
        """The user withdrew consent: the refresh token answers ``invalid_grant`` from now on."""
        self._refresh[refresh_token].revoked = True

    def add_service_account(self, email: str, public_key_pem: str) -> None:
        """Check RS256 signatures of JWT assertions issued by ``email`` against this public key."""
        self._service_account_keys[email] = public_key_pem

    @property
    def issued_tokens(self) -> list[IssuedToken]:
        """Every access token known (the static one first)."""
        return list(self._tokens.values())

    # ------------------------------------------------------------------ world setup

    def add_calendar(
        self,
        calendar_id: str,
        *,
        time_zone: str = "UTC",
        summary: str | None = None,
        description: str | None = None,
        access_role: AccessRole = "owner",
    ) -> str:
        """Add a calendar the token's user can reach with ``access_role``; returns its id."""
        if zone_named(time_zone) is None:
            raise ValueError(f"unknown time zone {time_zone!r}")
        if access_role not in ACCESS_ROLES:
            raise ValueError(f"unknown access role {access_role!r}")
        if _key(calendar_id) in self._calendars:
            raise ValueError(f"calendar {calendar_id} exists already")
        self._calendars[_key(calendar_id)] = CalendarState(
            calendar_id,
            time_zone,
            summary or calendar_id,
            description,
            access_role,
            self.now(),
            [dict(r) for r in DEFAULT_REMINDERS],
        )
        return calendar_id

    def set_access_role(self, calendar_id: str, access_role: AccessRole) -> None:
        """Change the user's access role to a calendar."""
        self._calendar(calendar_id).access_role = access_role

    def add_event(
        self,
        calendar_id: str = "primary",
        *,
        start: datetime | date | str,
        end: datetime | date | str,
        summary: str | None = None,
        description: str | None = None,
        location: str | None = None,
        attendees: Iterable[str | Mapping[str, Any]] = (),
        status: EventStatus = "confirmed",
        transparency: Literal["opaque", "transparent"] | None = None,
        private_properties: Mapping[str, str] | None = None,
        shared_properties: Mapping[str, str] | None = None,
        event_id: str | None = None,
        organizer: str | Mapping[str, Any] | None = None,
        time_zone: str | None = None,
        conference: bool = False,
        recurrence: list[str] | None = None,
        created: datetime | None = None,
    ) -> str:
        """Put an event on a calendar (``primary`` = the user's) as if made elsewhere; returns its id.

        ``start``/``end``: aware datetimes, dates (all-day) or RFC 3339 strings. ``attendees``: emails or
        ``EventAttendee`` dicts. ``conference=True`` gives it a Google Meet link. Validation as for the API
        (``ValueError`` instead of a 400).
        """
        cal = self._calendar(calendar_id)
        body: Json = {"start": self._world_time(start, time_zone), "end": self._world_time(end, time_zone)}
        for name, value in (("summary", summary), ("description", description), ("location", location)):
            if value is not None:
                body[name] = value
        body["status"] = status
        if transparency is not None:
            body["transparency"] = transparency
        people = [{"email": a} if isinstance(a, str) else dict(a) for a in attendees]
        if people:
            body["attendees"] = people
        extended: Json = {}
        if private_properties:
            extended["private"] = dict(private_properties)
        if shared_properties:
            extended["shared"] = dict(shared_properties)
        if extended:
            body["extendedProperties"] = extended
        if recurrence:
            body["recurrence"] = list(recurrence)
        if conference:
            body["conferenceData"] = {
                "createRequest": {
                    "requestId": f"world-{self._seq + 1}",
                    "conferenceSolutionKey": {"type": "hangoutsMeet"},
                }
            }
        if event_id is not None:
            body["id"] = event_id
        try:
            stored = self._create(cal, body, conference_version=1 if conference else 0, via_api=False)
        except GoogleApiError as exc:
            raise ValueError(exc.message) from None
        if organizer is not None:
            stored.data["organizer"] = {"email": organizer} if isinstance(organizer, str) else dict(organizer)
        if created is not None:
            stored.created = stored.updated = _as_utc(created)
        return stored.id

    def update_event(self, calendar_id: str, event_id: str, changes: Mapping[str, Any]) -> None:
        """Change an event as if someone edited it elsewhere (patch semantics, wire-format values)."""
        cal = self._calendar(calendar_id)
        stored = self._event(cal, event_id)
        try:
            self._apply_patch(cal, stored, dict(changes), conference_version=1)
        except GoogleApiError as exc:
            raise ValueError(exc.message) from None

    def cancel_event(self, calendar_id: str, event_id: str) -> None:
        """Cancel (delete) an event as if done elsewhere."""
        self.update_event(calendar_id, event_id, {"status": "cancelled"})

    def invalidate_sync_tokens(self) -> None:
        """Every sync token issued so far answers 410 ``fullSyncRequired`` from now on."""
        self._sync_epoch += 1

    def forget_history_before(self, moment: datetime | None) -> None:
        """``updatedMin`` earlier than ``moment`` answers 410 ``updatedMinTooLongAgo`` (None: never)."""
        self._history_horizon = _as_utc(moment) if moment is not None else None

    def complete_pending_conferences(self) -> None:
        """Finish every ``pending`` conference create request (they get their Meet link)."""
        for cal in self._calendars.values():
            for stored in cal.events.values():
                conference = stored.data.get("conferenceData")
                if isinstance(conference, dict) and self._conference_state(conference) == "pending":
                    stored.data["conferenceData"], stored.data["hangoutLink"] = self._meet(
                        stored.id, conference["createRequest"]["requestId"]
                    )
                    self._touch(cal, stored)

    # ------------------------------------------------------------------ inspection

    def event(self, calendar_id: str, event_id: str) -> Json:
        """An event as ``events.get`` would answer it (KeyError when unknown)."""
        cal = self._calendar(calendar_id)
        return self._render(cal, self._event(cal, event_id), cal.zone)

    def events(self, calendar_id: str = "primary", *, include_cancelled: bool = True) -> list[Json]:
        """Every event of a calendar, in creation order."""
        cal = self._calendar(calendar_id)
        return [
            self._render(cal, e, cal.zone)
            for e in sorted(cal.events.values(), key=lambda e: e.seq)
            if include_cancelled or e.status != "cancelled"
        ]

    def created_events(self, calendar_id: str | None = None) -> list[Json]:
        """Events created through the API (``events.insert``), oldest first, as they are now."""
        found: list[tuple[int, Json]] = []
        for cal in self._calendars.values():
            if calendar_id is not None and cal.key != self._calendar(calendar_id).key:
                continue
            found += [(e.seq, self._render(cal, e, cal.zone)) for e in cal.events.values() if e.via_api]
        return [body for _, body in sorted(found, key=lambda pair: pair[0])]

    @property
    def channels(self) -> list[Json]:
        """Active channels as ``Channel`` JSON."""
        return [self._render_channel(c) for c in self._channels.values()]

    def build_notification(self, channel_id: str, state: ResourceState = "exists") -> PushNotification:
        """The next notification of channel ``channel_id`` (its message number goes up); not recorded."""
        channel = self._channels[channel_id]
        channel.messages += 1
        headers = {
            "Content-Type": "application/json; utf-8",
            "Content-Length": "0",
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": format_datetime(channel.expiration, usegmt=True),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": channel.resource_uri,
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(channel.messages),
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        return PushNotification(channel.address, headers)

    # ------------------------------------------------------------------ internals: world

    def _calendar(self, calendar_id: str) -> CalendarState:
        key = _key(self.user_email if calendar_id == "primary" else calendar_id)
        try:
            return self._calendars[key]
        except KeyError:
            raise KeyError(f"no calendar {calendar_id}") from None

    @staticmethod
    def _event(cal: CalendarState, event_id: str) -> StoredEvent:
        try:
            return cal.events[event_id]
        except KeyError:
            raise KeyError(f"no event {event_id} on {cal.id}") from None

    @staticmethod
    def _world_time(value: datetime | date | str, zone: str | None) -> Json:
        out: Json
        if isinstance(value, datetime):
            out = {"dateTime": rfc3339(_as_utc(value), UTC)}
        elif isinstance(value, date):
            return {"date": value.isoformat()}
        elif _DATE.fullmatch(value):
            return {"date": value}
        else:
            out = {"dateTime": value}
        if zone is not None:
            out["timeZone"] = zone
        return out

    def _next_version(self) -> int:
        self._version += 1
        return self._version

    def _touch(self, cal: CalendarState, stored: StoredEvent) -> None:
        stored.updated = self.now()
        stored.etag += 1
        stored.version = self._next_version()
        cal.updated = stored.updated
        self._notify(cal)

    def _new_event_id(self, cal: CalendarState) -> str:
        while True:
            candidate = _base32hex(f"{cal.key}:{self._seq}:{self._version}:{len(cal.events)}", 26)
            if candidate not in cal.events:
                return candidate
            self._seq += 1

    # ------------------------------------------------------------------ internals: validation

    def _parse_event_time(self, raw: Any, which: Literal["start", "end"]) -> EventTime:
        if not isinstance(raw, dict):
            _required(f"Missing {which} time.")
        day, moment, zone_name = raw.get("date"), raw.get("dateTime"), raw.get("timeZone")
        if zone_name is not None and (not isinstance(zone_name, str) or zone_named(zone_name) is None):
            _invalid(f"Invalid time zone definition for {which} time.")
        if day is not None and moment is not None:
            _invalid(f"Invalid {which} time: give either date or dateTime.")
        if day is not None:
            if not isinstance(day, str) or not _DATE.fullmatch(day):
                _invalid(f"Invalid {which} time.")
            try:
                return EventTime(day=date.fromisoformat(day), zone=zone_name)
            except ValueError:
                _invalid(f"Invalid {which} time.")
        if moment is None:
            _required(f"Missing {which} time.")
        if not isinstance(moment, str):
            _invalid(f"Invalid {which} time.")
        try:
            if _RFC3339.fullmatch(moment.strip()):
                return EventTime(moment=parse_rfc3339(moment).replace(microsecond=0), zone=zone_name)
            if not _LOCAL_DATETIME.fullmatch(moment.strip()):
                _invalid(f"Invalid {which} time.")
            if zone_name is None:
                _required(f"Missing time zone definition for {which} time.")
            local = datetime.fromisoformat(moment.strip().replace("t", "T"))
            zone = zone_named(zone_name)
            assert zone is not None
            return EventTime(moment=local.replace(tzinfo=zone, microsecond=0).astimezone(UTC), zone=zone_name)
        except ValueError:
            _invalid(f"Invalid {which} time.")

    @staticmethod
    def _check_string(body: Json, name: str) -> None:
        if name in body and not isinstance(body[name], str):
            _invalid(f"Invalid value for: {name} must be a string")

    def _normalise(self, body: Json) -> tuple[EventTime, EventTime, Json]:
        """(start, end, other stored fields) of a full event body; raises GoogleApiError on invalid input."""
        start = self._parse_event_time(body.get("start"), "start")
        end = self._parse_event_time(body.get("end"), "end")
        if (start.day is None) != (end.day is None):
            _invalid("Start and end times must either both be date or both be dateTime.")
        utc_zone: tzinfo = UTC
        if end.instant(utc_zone) < start.instant(utc_zone):
            _time_range_empty()
        data: Json = {}
        for name in ("summary", "description", "location", "colorId", "iCalUID"):
            self._check_string(body, name)
            if body.get(name) is not None:
                data[name] = body[name]
        status = body.get("status", "confirmed")
        if status not in EVENT_STATUSES:
            _invalid(f"Invalid value for: status must be one of {', '.join(EVENT_STATUSES)}")
        data["status"] = status
        for name, allowed in (("transparency", TRANSPARENCY_VALUES), ("visibility", VISIBILITY_VALUES)):
            if body.get(name) is not None:
                if body[name] not in allowed:
                    _invalid(f"Invalid value for: {name} must be one of {', '.join(allowed)}")
                data[name] = body[name]
        for name in _BOOLEAN_EVENT_FIELDS:
            if body.get(name) is not None:
                if not isinstance(body[name], bool):
                    _invalid(f"Invalid value for: {name} must be a boolean")
                data[name] = body[name]
        if body.get("recurrence") is not None:
            recurrence = body["recurrence"]
            if not isinstance(recurrence, list) or not all(isinstance(r, str) for r in recurrence):
                _invalid("Invalid value for: recurrence must be a list of strings")
            data["recurrence"] = list(recurrence)
        if body.get("source") is not None:
            if not isinstance(body["source"], dict):
                _invalid("Invalid value for: source must be an object")
            data["source"] = dict(body["source"])
        if body.get("attendees") is not None:
            data["attendees"] = self._attendees(body["attendees"])
        if body.get("extendedProperties") is not None:
            extended = self._extended_properties(body["extendedProperties"])
            if extended:
                data["extendedProperties"] = extended
        if body.get("reminders") is not None:
            data["reminders"] = self._reminders(body["reminders"])
        for name in ("conferenceData", "hangoutLink", "organizer", "creator"):
            if body.get(name) is not None:
                data[name] = body[name]
        return start, end, data

    @staticmethod
    def _attendees(raw: Any) -> list[Json]:
        if not isinstance(raw, list):
            _invalid("Invalid value for: attendees must be a list")
        out: list[Json] = []
        seen: set[str] = set()
        for item in raw:
            if not isinstance(item, dict):
                _invalid("Invalid value for: attendees[] must be objects")
            email = item.get("email")
            if email is None or email == "":
                _required("Missing attendee email.")
            if not isinstance(email, str) or not _EMAIL.fullmatch(email.strip()):
                _invalid("Invalid attendee email.")
            email = email.strip()
            if email.lower() in seen:
                continue
            seen.add(email.lower())
            attendee: Json = {"email": email}
            for name in ("displayName", "comment"):
                if item.get(name) is not None:
                    if not isinstance(item[name], str):
                        _invalid(f"Invalid value for: attendees[].{name} must be a string")
                    attendee[name] = item[name]
            for name in ("optional", "resource"):
                if item.get(name) is not None:
                    if not isinstance(item[name], bool):
                        _invalid(f"Invalid value for: attendees[].{name} must be a boolean")
                    attendee[name] = item[name]
            if item.get("additionalGuests") is not None:
                guests = item["additionalGuests"]
                if not isinstance(guests, int) or isinstance(guests, bool) or guests < 0:
                    _invalid("Invalid value for: attendees[].additionalGuests")
                attendee["additionalGuests"] = guests
            response_status = item.get("responseStatus", "needsAction")
            if response_status not in RESPONSE_STATUSES:
                _invalid(f"Invalid value for: attendees[].responseStatus must be one of {', '.join(RESPONSE_STATUSES)}")
            attendee["responseStatus"] = response_status
            out.append(attendee)
        return out

    @staticmethod
    def _extended_properties(raw: Any) -> Json:
        if not isinstance(raw, dict):
            _invalid("Invalid value for: extendedProperties must be an object")
        out: Json = {}
        total = 0
        for kind in ("private", "shared"):
            values = raw.get(kind)
            if values is None:
                continue
            if not isinstance(values, dict):
                _invalid(f"Invalid value for: extendedProperties.{kind} must be an object")
            kept: dict[str, str] = {}
            for name, value in values.items():
                if value is None:
                    continue
                if not isinstance(value, str):
                    _invalid(f"Invalid value for: extendedProperties.{kind}.{name} must be a string")
                if len(name) > EXTENDED_KEY_MAX:
                    continue  # "silently dropped"
                kept[name] = value[:EXTENDED_VALUE_MAX]  # "silently truncated"
            total += len(kept)
            if kept:
                out[kind] = kept
        if total > EXTENDED_MAX_PROPERTIES:
            _invalid(f"An event can have at most {EXTENDED_MAX_PROPERTIES} extended properties.")
        return out

    @staticmethod
    def _reminders(raw: Any) -> Json:
        if not isinstance(raw, dict):
            _invalid("Invalid value for: reminders must be an object")
        use_default = raw.get("useDefault", False)
        if not isinstance(use_default, bool):
            _invalid("Invalid value for: reminders.useDefault must be a boolean")
        overrides = raw.get("overrides") or []
        if not isinstance(overrides, list):
            _invalid("Invalid value for: reminders.overrides must be a list")
        if use_default and overrides:
            raise GoogleApiError(
                400,
                "cannotUseDefaultRemindersAndSpecifyOverride",
                "Cannot specify both default reminders and overrides at the same time.",
            )
        if len(overrides) > REMINDER_MAX_OVERRIDES:
            _invalid(f"At most {REMINDER_MAX_OVERRIDES} override reminders are allowed.")
        cleaned: list[Json] = []
        for item in overrides:
            if not isinstance(item, dict) or item.get("method") not in REMINDER_METHODS:
                _required("Missing or invalid reminder method.")
            minutes = item.get("minutes")
            if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 <= minutes <= REMINDER_MAX_MINUTES:
                _invalid("Invalid reminder minutes.")
            cleaned.append({"method": item["method"], "minutes": minutes})
        out: Json = {"useDefault": use_default}
        if cleaned:
            out["overrides"] = cleaned
        return out

    @staticmethod
    def _conference_state(conference: Json) -> str | None:
        request = conference.get("createRequest")
        if isinstance(request, dict) and isinstance(request.get("status"), dict):
            return cast(str | None, request["status"].get("statusCode"))
        return None

    @staticmethod
    def _meet(event_id: str, request_id: str) -> tuple[Json, str]:
        letters = "".join(chr(ord("a") + int(c, 32) % 26) for c in _base32hex(f"meet:{event_id}:{request_id}", 10))
        code = f"{letters[:3]}-{letters[3:7]}-{letters[7:]}"
        uri = f"https://meet.google.com/{code}"
        conference = {
            "createRequest": {
                "requestId": request_id,
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
                "status": {"statusCode": "success"},
            },
            "entryPoints": [{"entryPointType": "video", "uri": uri, "label": f"meet.google.com/{code}"}],
            "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet", "iconUri": MEET_ICON_URI},
            "conferenceId": code,
        }
        return conference, uri

    def _conference(self, event_id: str, raw: Any, existing: Json | None) -> tuple[Json | None, str | None]:
        """(conferenceData, hangoutLink) for a body's ``conferenceData`` at ``conferenceDataVersion=1``."""
        if not isinstance(raw, dict):
            _invalid("Invalid conference data.")
        request = raw.get("createRequest")
        if request is None:
            if not raw.get("entryPoints") or not raw.get("conferenceSolution"):
                _invalid("Invalid conference data: conferenceSolution and entryPoints, or createRequest, are required.")
            video = [p for p in raw["entryPoints"] if isinstance(p, dict) and p.get("entryPointType") == "video"]
            return dict(raw), (str(video[0].get("uri")) if video else None)
        if not isinstance(request, dict) or not isinstance(request.get("requestId"), str) or not request["requestId"]:
            _invalid("Invalid conference data: createRequest.requestId is required.")
        solution = request.get("conferenceSolutionKey")
        if not isinstance(solution, dict) or solution.get("type") != "hangoutsMeet":
            _invalid("Invalid conference type value.")
        if existing is not None:
            previous = existing.get("createRequest")
            if isinstance(previous, dict) and previous.get("requestId") == request["requestId"]:
                return existing, None  # "If an ID provided is the same as for the previous request, it is ignored"
        if self.conference_status == "success":
            return self._meet(event_id, request["requestId"])
        pending = {
            "createRequest": {
                "requestId": request["requestId"],
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
                "status": {"statusCode": self.conference_status},
            }
        }
        return pending, None

    def _create(self, cal: CalendarState, body: Json, *, conference_version: int, via_api: bool) -> StoredEvent:
        event_id = body.get("id")
        if event_id is not None:
            if (
                not isinstance(event_id, str)
                or not EVENT_ID_MIN_LENGTH <= len(event_id) <= EVENT_ID_MAX_LENGTH
                or not _EVENT_ID.fullmatch(event_id)
            ):
                _invalid("Invalid resource id value.")
            if event_id in cal.events:
                raise GoogleApiError(409, "duplicate", "The requested identifier already exists.")
        clean = {k: v for k, v in body.items() if k in WRITABLE_EVENT_FIELDS and k not in ("conferenceData", "id")}
        start, end, data = self._normalise(clean)
        self._seq += 1
        new_id = event_id or self._new_event_id(cal)
        if conference_version >= 1 and body.get("conferenceData") is not None:
            conference, link = self._conference(new_id, body["conferenceData"], None)
            if conference is not None:
                data["conferenceData"] = conference
            if link is not None:
                data["hangoutLink"] = link
        moment = self.now()
        stored = StoredEvent(
            id=new_id,
            calendar_key=cal.key,
            start=start,
            end=end,
            data=data,
            created=moment,
            updated=moment,
            seq=self._seq,
            version=self._next_version(),
            etag=int(moment.timestamp() * 1000) * 1000 + self._seq,
            ical_uid=str(data.pop("iCalUID", f"{new_id}@google.com")),
            via_api=via_api,
        )
        cal.events[new_id] = stored
        cal.updated = moment
        self._notify(cal)
        return stored

    def _apply_patch(self, cal: CalendarState, stored: StoredEvent, patch: Json, *, conference_version: int) -> None:
        current = self._wire(cal, stored)
        merged = _merge_patch(current, {k: v for k, v in patch.items() if k in WRITABLE_EVENT_FIELDS - {"id"}})
        for name in ("start", "end"):  # replaced whole, not merged
            if name in patch:
                merged[name] = patch[name]
        merged.pop("conferenceData", None)
        if stored.data.get("conferenceData") is not None:
            merged["conferenceData"] = stored.data["conferenceData"]
        if stored.data.get("hangoutLink") is not None:
            merged["hangoutLink"] = stored.data["hangoutLink"]
        start, end, data = self._normalise(merged)
        data.pop("iCalUID", None)
        if conference_version >= 1 and "conferenceData" in patch:
            if patch["conferenceData"] is None:
                data.pop("conferenceData", None)
                data.pop("hangoutLink", None)
            else:
                conference, link = self._conference(stored.id, patch["conferenceData"], data.get("conferenceData"))
                if conference is not None:
                    data["conferenceData"] = conference
                if link is not None:
                    data["hangoutLink"] = link
        if (start, end) != (stored.start, stored.end):
            stored.sequence += 1
        stored.start, stored.end, stored.data = start, end, data
        self._touch(cal, stored)

    def _wire(self, cal: CalendarState, stored: StoredEvent) -> Json:
        """The writable fields of an event in request form (input of a patch merge)."""
        out: Json = {k: json.loads(json.dumps(v)) for k, v in stored.data.items()}
        out["start"] = stored.start.render(UTC)
        out["end"] = stored.end.render(UTC)
        return out

    # ------------------------------------------------------------------ internals: rendering

    def _render(self, cal: CalendarState, stored: StoredEvent, zone: tzinfo, max_attendees: int | None = None) -> Json:
        data = stored.data
        eid = base64.urlsafe_b64encode(f"{stored.id} {cal.id}".encode()).decode().rstrip("=")
        out: Json = {
            "kind": "calendar#event",
            "etag": f'"{stored.etag}"',
            "id": stored.id,
            "status": stored.status,
            "htmlLink": f"https://www.google.com/calendar/event?eid={eid}",
            "created": iso_ms(stored.created),
            "updated": iso_ms(stored.updated),
        }
        for name in ("summary", "description", "location", "colorId"):
            if name in data:
                out[name] = data[name]
        for role in ("creator", "organizer"):
            person = dict(data.get(role) or {"email": cal.id})
            if _key(str(person.get("email", ""))) == cal.key:
                person["self"] = True
            out[role] = person
        out["start"] = stored.start.render(zone)
        out["end"] = stored.end.render(zone)
        if "recurrence" in data:
            out["recurrence"] = list(data["recurrence"])
        for name in ("transparency", "visibility"):
            if name in data and data[name] != ("opaque" if name == "transparency" else "default"):
                out[name] = data[name]
        out["iCalUID"] = stored.ical_uid
        out["sequence"] = stored.sequence
        attendees = self._render_attendees(cal, data, out["organizer"])
        if attendees:
            if max_attendees is not None and len(attendees) > max_attendees:
                out["attendees"] = [a for a in attendees if a.get("self")]
                out["attendeesOmitted"] = True
                if not out["attendees"]:
                    del out["attendees"]
            else:
                out["attendees"] = attendees
        for name, default in _BOOLEAN_EVENT_FIELDS.items():
            if name in data and data[name] != default:
                out[name] = data[name]
        if "hangoutLink" in data:
            out["hangoutLink"] = data["hangoutLink"]
        if "conferenceData" in data:
            out["conferenceData"] = json.loads(json.dumps(data["conferenceData"]))
        if data.get("extendedProperties"):
            out["extendedProperties"] = json.loads(json.dumps(data["extendedProperties"]))
        out["reminders"] = json.loads(json.dumps(data.get("reminders", {"useDefault": True})))
        if "source" in data:
            out["source"] = dict(data["source"])
        out["eventType"] = "default"
        return out

    @staticmethod
    def _render_attendees(cal: CalendarState, data: Json, organizer: Json) -> list[Json]:
        out: list[Json] = []
        for attendee in data.get("attendees", []):
            item = dict(attendee)
            if _key(str(item["email"])) == _key(str(organizer.get("email", ""))):
                item["organizer"] = True
            if _key(str(item["email"])) == cal.key:
                item["self"] = True
            out.append(item)
        return out

    @staticmethod
    def _render_channel(channel: Channel) -> Json:
        out: Json = {
            "kind": "api#channel",
            "id": channel.id,
            "resourceId": channel.resource_id,
            "resourceUri": channel.resource_uri,
        }
        if channel.token is not None:
            out["token"] = channel.token
        out["expiration"] = str(int(channel.expiration.timestamp() * 1000))
        return out

    def _notify(self, cal: CalendarState) -> None:
        now = self.now()
        for channel in list(self._channels.values()):
            if channel.calendar_key == cal.key and channel.expiration > now:
                self.notifications.append(self.build_notification(channel.id, "exists"))

    # ------------------------------------------------------------------ request plumbing

    def _build_app(self) -> Starlette:
        handlers: dict[str, Handler] = {
            "calendar.events.list": self._list,
            "calendar.events.insert": self._insert,
            "calendar.events.watch": self._watch,
            "calendar.events.get": self._get,
            "calendar.events.patch": self._patch,
            "calendar.events.delete": self._delete,
            "calendar.freebusy.query": self._freebusy,
            "calendar.channels.stop": self._stop,
        }
        routes = [Route(TOKEN_PATH, self._token_endpoint, methods=["POST"])]
        routes += [Route(m.route_path, self._wrap(m, handlers[m.id]), methods=[m.http_method]) for m in SERVED_METHODS]
        every = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        routes.append(Route("/{path:path}", self._unknown_route, methods=every))
        return Starlette(routes=routes)

    def _wrap(self, method: ServedMethod, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.requests.append(await record(request))
            request.state.method = method
            try:
                token = self._authenticate(request)
                self._check_scope(token, method)
                taken = self._take_fault(request.url.path, token_endpoint=False)
                if taken is not None:
                    fault, variant = taken
                    if fault != "slow":
                        return self._fault_response(fault, variant)
                    await slow()
                alt = self._q(request, "alt")
                if alt not in (None, "json"):
                    _invalid(
                        f"Invalid value '{alt}'. Values must match the following regular expression: 'json'", "alt"
                    )
                return await handler(request, token)
            except GoogleApiError as exc:
                return exc.response()

        return endpoint

    async def _unknown_route(self, request: Request) -> Response:
        self.requests.append(await record(request))
        return GoogleApiError(404, "notFound", "Not Found").response()

    def _authenticate(self, request: Request) -> IssuedToken:
        header = request.headers.get("authorization", "").strip()
        value: str | None = None
        if header:
            scheme, _, credentials = header.partition(" ")
            if scheme.lower() != "bearer" or not credentials.strip():
                raise _auth_error()
            value = credentials.strip()
        elif request.query_params.get("oauth_token"):
            value = request.query_params["oauth_token"]
        if value is None:
            raise GoogleApiError(
                401,
                "required",
                "Login Required.",
                location="Authorization",
                location_type="header",
                status="UNAUTHENTICATED",
                top_message="Request is missing required authentication credential. " + _AUTH_HELP,
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        issued = self._tokens.get(value)
        if issued is None or (issued.expires_at is not None and issued.expires_at <= self.now()):
            raise _auth_error()
        return issued

    @staticmethod
    def _check_scope(token: IssuedToken, method: ServedMethod) -> None:
        if token.scopes & method.scopes:
            return
        raise GoogleApiError(
            403,
            "insufficientPermissions",
            "Insufficient Permission",
            status="PERMISSION_DENIED",
            top_message="Request had insufficient authentication scopes.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                    "domain": "googleapis.com",
                    "metadata": {"service": "calendar-json.googleapis.com", "method": method.rpc_name},
                }
            ],
            headers={
                "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="insufficient_scope", '
                f'scope="{" ".join(sorted(method.scopes))}"'
            },
        )

    def _take_fault(self, path: str, *, token_endpoint: bool) -> tuple[FaultName, str | None] | None:
        """Like ``FaultScript.take`` but unscoped faults skip the token endpoint, and the variant comes along."""
        for scripted in self._faults.pending:
            if scripted.path_contains is None:
                if token_endpoint:
                    continue
            elif scripted.path_contains not in path:
                continue
            variant = self._variants.get(id(scripted))
            scripted.remaining -= 1
            if scripted.remaining <= 0:
                self._faults.pending.remove(scripted)
                self._variants.pop(id(scripted), None)
            return scripted.fault, variant
        return None

    @staticmethod
    def _fault_response(fault: FaultName, variant: str | None) -> Response:
        if fault == "rate_limited":
            if variant == "user":
                error = GoogleApiError(403, "userRateLimitExceeded", "User Rate Limit Exceeded", domain="usageLimits")
            else:
                code = 429 if variant == "429" else 403
                error = GoogleApiError(code, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits")
            return error.response()
        if fault == "quota":
            return GoogleApiError(
                403, "quotaExceeded", "Calendar usage limits exceeded.", domain="usageLimits"
            ).response()
        if fault == "unavailable":
            if variant == "500":
                return GoogleApiError(500, "backendError", "Backend Error").response()
            return GoogleApiError(503, "backendError", "The service is currently unavailable.").response()
        if fault == "auth":
            return _auth_error().response()
        return Response(  # malformed: a 200 that claims JSON but is cut off
            b'{"kind": "calendar#events", "items": [{"kind": "calendar#event", "id": "',
            status_code=200,
            media_type="application/json",
        )

    # ------------------------------------------------------------------ request parsing

    @staticmethod
    def _declared(request: Request, name: str) -> None:
        method: ServedMethod = request.state.method
        if name not in method.query and name not in GLOBAL_PARAMS:
            raise AssertionError(f"{method.id} does not declare the query parameter {name!r}")

    def _q(self, request: Request, name: str) -> str | None:
        self._declared(request, name)
        return request.query_params.get(name)

    def _q_all(self, request: Request, name: str) -> list[str]:
        self._declared(request, name)
        return request.query_params.getlist(name)

    def _q_bool(self, request: Request, name: str) -> bool | None:
        raw = self._q(request, name)
        if raw is None:
            return None
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        _invalid(f"Invalid boolean value: '{raw}'.", name)

    def _q_int(self, request: Request, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
        raw = self._q(request, name)
        if raw is None:
            return None
        if not re.fullmatch(r"-?\d+", raw.strip()):
            _invalid(f"Invalid integer value: '{raw}'.", name)
        value = int(raw)
        if value < minimum or (maximum is not None and value > maximum):
            _invalid(f"Invalid value '{raw}'. Values must be within the range: [{minimum}, {maximum or 'inf'}]", name)
        return value

    def _q_time(self, request: Request, name: str) -> datetime | None:
        raw = self._q(request, name)
        if raw is None:
            return None
        try:
            return parse_rfc3339(raw).replace(microsecond=0)  # "milliseconds … are ignored"
        except ValueError:
            raise GoogleApiError(400, "badRequest", "Bad Request") from None

    def _q_zone(self, request: Request, cal: CalendarState) -> tzinfo:
        raw = self._q(request, "timeZone")
        if raw is None:
            return cal.zone
        zone = zone_named(raw)
        if zone is None:
            _invalid(f"Invalid time zone: {raw}", "timeZone")
        return zone

    @staticmethod
    async def _json_body(request: Request) -> Json:
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise GoogleApiError(400, "parseError", "Parse Error") from None
        if not isinstance(body, dict):
            raise GoogleApiError(400, "parseError", "Parse Error")
        return body

    def _ok(self, request: Request, body: Json, status: int = 200) -> Response:
        spec = self._q(request, "fields")
        if spec:
            try:
                tree = parse_fields(spec)
            except ValueError:
                _invalid(f"Invalid field selection {spec}", "fields", reason="invalidParameter")
            body = apply_fields(body, tree)
        return JSONResponse(body, status_code=status)

    def _calendar_for(self, request: Request, token: IssuedToken, need: Literal["read", "write"]) -> CalendarState:
        raw = request.path_params["calendarId"]
        cal = self._calendars.get(_key(token.subject if raw == "primary" else raw))
        if cal is None or cal.access_role == "none":
            _not_found()
        if cal.access_role == "freeBusyReader" or (need == "write" and cal.access_role == "reader"):
            level = "writer" if need == "write" else "reader"
            raise GoogleApiError(
                403, "requiredAccessLevel", f"You need to have {level} access to this calendar.", domain="calendar"
            )
        return cal

    def _send_updates(self, request: Request) -> str:
        value = self._q(request, "sendUpdates")
        if value is not None:
            if value not in SEND_UPDATES_VALUES:
                _invalid(
                    f"Invalid value for: sendUpdates must be one of {', '.join(SEND_UPDATES_VALUES)}", "sendUpdates"
                )
            return value
        notify = self._q_bool(request, "sendNotifications")
        return "all" if notify else "none"

    def _record_update(
        self, action: Literal["insert", "patch", "delete"], cal: CalendarState, stored: StoredEvent, send: str
    ) -> None:
        attendees = tuple(str(a["email"]) for a in stored.data.get("attendees", []))
        self.sent_updates.append(SentUpdate(action, cal.id, stored.id, send, attendees))

    # ------------------------------------------------------------------ handlers: events

    async def _list(self, request: Request, token: IssuedToken) -> Response:
        cal = self._calendar_for(request, token, "read")
        sync_token = self._q(request, "syncToken")
        show_deleted = self._q_bool(request, "showDeleted")
        if sync_token is not None:
            mixed = [name for name in SYNC_INCOMPATIBLE_PARAMS if self._q_all(request, name)]
            if mixed:
                _invalid(f"Sync token cannot be used with the {', '.join(mixed)} parameter(s).", "syncToken")
            if show_deleted is False:
                _invalid("showDeleted cannot be false with a sync token.", "showDeleted")
        time_min, time_max = self._q_time(request, "timeMin"), self._q_time(request, "timeMax")
        if time_min is not None and time_max is not None and time_min >= time_max:
            _time_range_empty()
        updated_min = self._q_time(request, "updatedMin")
        if updated_min is not None and self._history_horizon is not None and updated_min < self._history_horizon:
            raise GoogleApiError(
                410,
                "updatedMinTooLongAgo",
                "The requested minimum modification time lies too far in the past.",
                domain="calendar",
                location="updatedMin",
            )
        order_by = self._q(request, "orderBy")
        single_events = self._q_bool(request, "singleEvents") or False
        if order_by is not None and order_by not in ORDER_BY_VALUES:
            _invalid(f"Invalid value for: orderBy must be one of {', '.join(ORDER_BY_VALUES)}", "orderBy")
        if order_by == "startTime" and not single_events:
            _invalid("The requested ordering is not available for the particular query.", "orderBy")
        max_results = self._q_int(request, "maxResults", minimum=1) or MAX_RESULTS_DEFAULT
        page_size = min(max_results, MAX_RESULTS_MAX, self.page_size or MAX_RESULTS_MAX)
        zone = self._q_zone(request, cal)
        max_attendees = self._q_int(request, "maxAttendees", minimum=1)
        event_types = self._q_all(request, "eventTypes")
        for value in event_types:
            if value not in EVENT_TYPE_VALUES:
                _invalid(f"Invalid value for: eventTypes must be among {', '.join(EVENT_TYPE_VALUES)}", "eventTypes")
        private = self._constraints(request, "privateExtendedProperty")
        shared = self._constraints(request, "sharedExtendedProperty")
        fingerprint = self._fingerprint(request, cal)
        offset = self._decode_page_token(self._q(request, "pageToken"), fingerprint)
        since: int | None = None
        if sync_token is not None:
            since = self._decode_sync_token(sync_token, cal)
        include_cancelled = bool(show_deleted) or since is not None or updated_min is not None
        terms = (self._q(request, "q") or "").lower().split()
        ical_uid = self._q(request, "iCalUID")
        utc_zone: tzinfo = UTC

        def keep(e: StoredEvent) -> bool:
            if since is not None and e.version <= since:
                return False
            if e.status == "cancelled" and not include_cancelled:
                return False
            start, end = e.start.instant(cal.zone), e.end.instant(cal.zone)
            if time_min is not None and end <= time_min:
                return False
            if time_max is not None and start >= time_max:
                return False
            if updated_min is not None and e.updated < updated_min:
                return False
            if ical_uid is not None and e.ical_uid != ical_uid:
                return False
            if event_types and "default" not in event_types:
                return False
            if terms:
                haystack = self._haystack(cal, e)
                if not all(term in haystack for term in terms):
                    return False
            return self._matches_properties(e, private, shared)

        chosen = sorted((e for e in cal.events.values() if keep(e)), key=lambda e: e.seq)
        if order_by == "startTime":
            chosen.sort(key=lambda e: (e.start.instant(cal.zone), e.seq))
        elif order_by == "updated":
            chosen.sort(key=lambda e: (e.updated.astimezone(utc_zone), e.seq))
        page = chosen[offset : offset + page_size]
        body: Json = {
            "kind": "calendar#events",
            "etag": f'"p{_digest(cal.key, str(self._version), length=14)}"',
            "summary": cal.summary,
        }
        if cal.description is not None:
            body["description"] = cal.description
        body["updated"] = iso_ms(cal.updated)
        body["timeZone"] = cal.time_zone
        body["accessRole"] = cal.access_role
        body["defaultReminders"] = (
            [dict(r) for r in cal.default_reminders] if cal.access_role in ("owner", "writer") else []
        )
        if offset + page_size < len(chosen):
            body["nextPageToken"] = _b64({"o": offset + page_size, "f": fingerprint})
        elif not any(self._q_all(request, name) for name in SYNC_INCOMPATIBLE_PARAMS):
            body["nextSyncToken"] = _b64({"c": cal.key, "v": self._version, "e": self._sync_epoch})
        body["items"] = [self._render(cal, e, zone, max_attendees) for e in page]
        return self._ok(request, body)

    def _constraints(self, request: Request, name: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for raw in self._q_all(request, name):
            key, sep, value = raw.partition("=")
            if not sep or not key:
                _invalid(f"Invalid value for: {name} must be of the form propertyName=value", name)
            out.append((key, value))
        return out

    def _matches_properties(
        self, stored: StoredEvent, private: list[tuple[str, str]], shared: list[tuple[str, str]]
    ) -> bool:
        extended = stored.data.get("extendedProperties", {})
        combine = any if self.extended_property_match == "any" else all
        for kind, constraints in (("private", private), ("shared", shared)):
            if not constraints:
                continue
            values = extended.get(kind, {})
            if not combine(values.get(k) == v for k, v in constraints):
                return False
        return True

    @staticmethod
    def _haystack(cal: CalendarState, stored: StoredEvent) -> str:
        data = stored.data
        parts = [str(data.get(name, "")) for name in ("summary", "description", "location")]
        organizer = data.get("organizer") or {"email": cal.id}
        parts += [str(organizer.get("displayName", "")), str(organizer.get("email", ""))]
        for attendee in data.get("attendees", []):
            parts += [str(attendee.get("displayName", "")), str(attendee.get("email", ""))]
        return "\n".join(parts).lower()

    def _fingerprint(self, request: Request, cal: CalendarState) -> str:
        ignored = GLOBAL_PARAMS | {"pageToken", "maxResults"}
        items = sorted((k, v) for k, v in request.query_params.multi_items() if k not in ignored)
        return _digest(cal.key, json.dumps(items), length=12)

    @staticmethod
    def _decode_page_token(token: str | None, fingerprint: str) -> int:
        if token is None:
            return 0
        try:
            data = _unb64(token)
            if data.get("f") != fingerprint or not isinstance(data.get("o"), int) or data["o"] < 0:
                raise ValueError(token)
            return int(data["o"])
        except (ValueError, binascii.Error):
            _invalid("Invalid page token; it does not belong to this query.", "pageToken")

    def _decode_sync_token(self, token: str, cal: CalendarState) -> int:
        try:
            data = _unb64(token)
            if data.get("c") != cal.key or data.get("e") != self._sync_epoch or not isinstance(data.get("v"), int):
                raise ValueError(token)
            return int(data["v"])
        except (ValueError, binascii.Error):
            raise GoogleApiError(
                410,
                "fullSyncRequired",
                "Sync token is no longer valid, a full sync is required.",
                domain="calendar",
                location="syncToken",
            ) from None

    async def _get(self, request: Request, token: IssuedToken) -> Response:
        cal = self._calendar_for(request, token, "read")
        stored = cal.events.get(request.path_params["eventId"])
        if stored is None:
            _not_found()
        zone = self._q_zone(request, cal)
        max_attendees = self._q_int(request, "maxAttendees", minimum=1)
        return self._ok(request, self._render(cal, stored, zone, max_attendees))

    async def _insert(self, request: Request, token: IssuedToken) -> Response:
        cal = self._calendar_for(request, token, "write")
        send = self._send_updates(request)
        version = self._q_int(request, "conferenceDataVersion", minimum=0, maximum=CONFERENCE_DATA_VERSION_MAX) or 0
        max_attendees = self._q_int(request, "maxAttendees", minimum=1)
        body = await self._json_body(request)
        stored = self._create(cal, body, conference_version=version, via_api=True)
        self._record_update("insert", cal, stored, send)
        return self._ok(request, self._render(cal, stored, cal.zone, max_attendees))

    async def _patch(self, request: Request, token: IssuedToken) -> Response:
        cal = self._calendar_for(request, token, "write")
        stored = cal.events.get(request.path_params["eventId"])
        if stored is None:
            _not_found()
        send = self._send_updates(request)
        version = self._q_int(request, "conferenceDataVersion", minimum=0, maximum=CONFERENCE_DATA_VERSION_MAX) or 0
        max_attendees = self._q_int(request, "maxAttendees", minimum=1)
        if_match = request.headers.get("if-match")
        if if_match is not None and if_match not in ("*", f'"{stored.etag}"'):
            raise GoogleApiError(
                412, "conditionNotMet", "Precondition Failed", location="If-Match", location_type="header"
            )
        body = await self._json_body(request)
        self._apply_patch(cal, stored, body, conference_version=version)
        self._record_update("patch", cal, stored, send)
        return self._ok(request, self._render(cal, stored, cal.zone, max_attendees))

    async def _delete(self, request: Request, token: IssuedToken) -> Response:
        cal = self._calendar_for(request, token, "write")
        stored = cal.events.get(request.path_params["eventId"])
        if stored is None:
            _not_found()
        send = self._send_updates(request)
        if stored.status == "cancelled":
            raise GoogleApiError(410, "deleted", "Resource has been deleted")
        stored.data["status"] = "cancelled"
        self._touch(cal, stored)
        self._record_update("delete", cal, stored, send)
        return Response(status_code=204)

    # ------------------------------------------------------------------ handlers: free/busy

    async def _freebusy(self, request: Request, token: IssuedToken) -> Response:
        body = await self._json_body(request)
        bounds: dict[str, datetime] = {}
        for name in ("timeMin", "timeMax"):
            raw = body.get(name)
            if raw is None:
                _required(f"Missing {name} parameter.", name)
            try:
                bounds[name] = parse_rfc3339(str(raw))
            except ValueError:
                _invalid(f"Invalid value for: {name} is not an RFC 3339 timestamp with offset", name)
        time_min, time_max = bounds["timeMin"], bounds["timeMax"]
        if time_min >= time_max:
            _time_range_empty()
        if time_max - time_min > timedelta(days=FREEBUSY_MAX_DAYS):
            _invalid("The requested time range is too long.", "timeMax", reason="timeRangeTooLong", domain="calendar")
        zone_name = body.get("timeZone", "UTC")
        zone = zone_named(zone_name) if isinstance(zone_name, str) else None
        if zone is None:
            _invalid(f"Invalid time zone: {zone_name}", "timeZone")
        limits: dict[str, int] = {}
        for name, maximum in (
            ("calendarExpansionMax", FREEBUSY_CALENDARS_MAX),
            ("groupExpansionMax", FREEBUSY_GROUP_MEMBERS_MAX),
        ):
            value = body.get(name)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
                _invalid(f"Invalid value for: {name} must be between 1 and {maximum}", name)
            limits[name] = value
        items = body.get("items", [])
        if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in items):
            _invalid("Invalid value for: items must be a list of {id}", "items")
        limit = min(limits.get("calendarExpansionMax", FREEBUSY_CALENDARS_MAX), FREEBUSY_CALENDARS_MAX)
        calendars: Json = {}
        for item in items:
            asked: str = item["id"]
            if asked in calendars:
                continue
            if len(calendars) >= limit:
                calendars[asked] = {"errors": [{"domain": "global", "reason": "tooManyCalendarsRequested"}], "busy": []}
                continue
            cal = self._calendars.get(_key(token.subject if asked == "primary" else asked))
            if cal is None or cal.access_role == "none":
                calendars[asked] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
                continue
            calendars[asked] = {
                "busy": [
                    {"start": rfc3339(s, zone), "end": rfc3339(e, zone)} for s, e in self._busy(cal, time_min, time_max)
                ]
            }
        answer = {
            "kind": "calendar#freeBusy",
            "timeMin": iso_ms(time_min),
            "timeMax": iso_ms(time_max),
            "calendars": calendars,
        }
        return self._ok(request, answer)

    def busy_periods(self, calendar_id: str, time_min: datetime, time_max: datetime) -> list[tuple[datetime, datetime]]:
        """The merged busy periods freeBusy would report for a calendar (UTC)."""
        return self._busy(self._calendar(calendar_id), _as_utc(time_min), _as_utc(time_max))

    @staticmethod
    def _busy(cal: CalendarState, time_min: datetime, time_max: datetime) -> list[tuple[datetime, datetime]]:
        spans: list[tuple[datetime, datetime]] = []
        for stored in cal.events.values():
            if stored.status == "cancelled" or stored.data.get("transparency") == "transparent":
                continue
            me = [a for a in stored.data.get("attendees", []) if _key(str(a["email"])) == cal.key]
            if me and me[0].get("responseStatus") == "declined":
                continue
            start, end = stored.start.instant(cal.zone), stored.end.instant(cal.zone)
            if end <= start or end <= time_min or start >= time_max:
                continue
            spans.append((max(start, time_min), min(end, time_max)))
        merged: list[tuple[datetime, datetime]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    # ------------------------------------------------------------------ handlers: push

    async def _watch(self, request: Request, token: IssuedToken) -> Response:
        cal = self._calendar_for(request, token, "read")
        body = await self._json_body(request)
        channel_id = body.get("id")
        if not isinstance(channel_id, str) or not channel_id:
            _required("Missing channel id.", "id")
        if len(channel_id) > CHANNEL_ID_MAX_LENGTH or not re.fullmatch(r"[A-Za-z0-9\-_+/=]+", channel_id):
            _invalid("Invalid channel id.", "id")
        if channel_id in self._channels:
            _invalid(f"Channel id {channel_id} not unique", "id", reason="channelIdNotUnique")
        if body.get("type") not in ("web_hook", "webhook"):
            _invalid("Invalid value for: type must be web_hook", "type")
        address = body.get("address")
        if not isinstance(address, str) or not address:
            _required("Missing channel address.", "address")
        if not address.lower().startswith("https://"):
            _invalid(f"WebHook callback must be HTTPS: {address}", "address", reason="push.webhookUrlNotHttps")
        channel_token = body.get("token")
        if channel_token is not None and not isinstance(channel_token, str):
            _invalid("Invalid value for: token must be a string", "token")
        now = self.now()
        expiration = now + CHANNEL_DEFAULT_TTL
        if body.get("expiration") is not None:
            raw = body["expiration"]
            if isinstance(raw, bool) or not isinstance(raw, int | str) or not re.fullmatch(r"\d+", str(raw)):
                _invalid("Invalid value for: expiration must be milliseconds since the epoch", "expiration")
            requested = datetime.fromtimestamp(int(raw) / 1000, tz=UTC)
            if requested <= now:
                _invalid("Invalid expiration time: it is in the past.", "expiration")
            expiration = min(requested, now + CHANNEL_MAX_TTL)
        params = body.get("params") or {}
        if not isinstance(params, dict):
            _invalid("Invalid value for: params must be an object", "params")
        raw_id = request.path_params["calendarId"]
        channel = Channel(
            id=channel_id,
            resource_id=_digest("resource", cal.key, length=27),
            resource_uri=f"{REAL_BASE_URL}/calendars/{raw_id}/events?alt=json",
            calendar_key=cal.key,
            address=address,
            token=channel_token,
            expiration=expiration.replace(microsecond=(expiration.microsecond // 1000) * 1000),
            params={str(k): str(v) for k, v in params.items()},
        )
        self._channels[channel_id] = channel
        self.notifications.append(self.build_notification(channel_id, "sync"))
        return self._ok(request, self._render_channel(channel))

    async def _stop(self, request: Request, token: IssuedToken) -> Response:
        body = await self._json_body(request)
        channel = self._channels.get(str(body.get("id")))
        if channel is None or body.get("resourceId") != channel.resource_id:
            raise GoogleApiError(404, "notFound", f"Channel '{body.get('id')}' not found for project '000000000000'")
        del self._channels[channel.id]
        return Response(status_code=204)

    # ------------------------------------------------------------------ token endpoint

    async def _token_endpoint(self, request: Request) -> Response:
        self.requests.append(await record(request))
        self.token_requests += 1
        taken = self._take_fault(request.url.path, token_endpoint=True)
        if taken is not None:
            fault, _ = taken
            if fault == "slow":
                await slow()
            elif fault == "malformed":
                return Response(b'{"access_token": "ya29.', status_code=200, media_type="application/json")
            elif fault == "unavailable":
                return self._oauth_error(503, "temporarily_unavailable", "The service is currently unavailable.")
            elif fault == "auth":
                return self._oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
            else:
                return self._oauth_error(429, "rate_limit_exceeded", "Rate limit exceeded.")
        form = await self._form(request)
        grant_type = form.get("grant_type", "")
        if grant_type == "refresh_token":
            return self._refresh_grant(request, form)
        if grant_type == JWT_BEARER_GRANT:
            return self._jwt_grant(request, form)
        return self._oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    @staticmethod
    async def _form(request: Request) -> dict[str, str]:
        raw = (await request.body()).decode("utf-8", errors="replace")
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                parsed = json.loads(raw or "{}")
            except json.JSONDecodeError:
                return {}
            return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
        return dict(parse_qsl(raw, keep_blank_values=True))

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> Response:
        return JSONResponse({"error": error, "error_description": description}, status_code=status)

    def _mint(self, scopes: frozenset[str], subject: str, grant: str) -> Response:
        self._minted += 1
        value = f"ya29.fake-{self._minted:04d}-{_digest(subject, str(self._minted), length=10)}"
        expires_at = self.now() + timedelta(seconds=TOKEN_LIFETIME_SECONDS)
        self._tokens[value] = IssuedToken(value, scopes, subject, expires_at, grant)
        return JSONResponse(
            {
                "access_token": value,
                "expires_in": TOKEN_LIFETIME_SECONDS,
                "scope": " ".join(sorted(scopes)),
                "token_type": "Bearer",
            },
            headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"},
        )

    def _refresh_grant(self, request: Request, form: dict[str, str]) -> Response:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip()).decode()
            except (binascii.Error, UnicodeDecodeError):
                return self._oauth_error(401, "invalid_client", "Unauthorized")
            client_id, _, client_secret = decoded.partition(":")
        if not client_id or client_id not in self._clients:
            return self._oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if client_secret != self._clients[client_id]:
            return self._oauth_error(401, "invalid_client", "Unauthorized")
        refresh = form.get("refresh_token")
        if not refresh:
            return self._oauth_error(400, "invalid_request", "Missing required parameter: refresh_token")
        grant = self._refresh.get(refresh)
        if grant is None or grant.revoked or grant.client_id != client_id:
            return self._oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        scopes = grant.scopes
        if form.get("scope"):
            asked = frozenset(form["scope"].split())
            if not asked <= grant.scopes:
                return self._oauth_error(400, "invalid_scope", "Bad Request")
            scopes = asked
        return self._mint(scopes, grant.subject, "refresh_token")

    def _jwt_grant(self, request: Request, form: dict[str, str]) -> Response:
        assertion = form.get("assertion")
        if not assertion:
            return self._oauth_error(400, "invalid_request", "Missing required parameter: assertion")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return self._oauth_error(400, "invalid_grant", "Invalid JWT: could not decode the assertion.")
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or not issuer:
            return self._oauth_error(400, "invalid_grant", "Invalid JWT: no issuer (iss).")
        if issuer in self._service_account_keys:
            try:
                jwt.decode(
                    assertion,
                    self._service_account_keys[issuer],
                    algorithms=["RS256"],
                    options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
                )
            except jwt.PyJWTError:
                return self._oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        if header.get("alg") != "RS256":
            return self._oauth_error(400, "invalid_grant", "Invalid JWT: the algorithm must be RS256.")
        here = str(request.url.replace(query=""))
        if claims.get("aud") not in GOOGLE_TOKEN_AUDIENCES | {here}:
            return self._oauth_error(400, "invalid_grant", "Invalid JWT: the audience (aud) is not the token URL.")
        iat, exp = claims.get("iat"), claims.get("exp")
        now = self.now().timestamp()
        if (
            not isinstance(iat, int | float)
            or not isinstance(exp, int | float)
            or exp - iat > JWT_MAX_LIFETIME_SECONDS
            or exp <= now
            or iat > now + 300
        ):
            return self._oauth_error(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                "Check your iat and exp values in the JWT claim.",
            )
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.split():
            return self._oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        subject = claims.get("sub") if isinstance(claims.get("sub"), str) else issuer
        return self._mint(frozenset(scope.split()), str(subject), "jwt-bearer")


def _merge_patch(target: Json, patch: Json) -> Json:
    """RFC 7386-style merge: objects merge recursively, ``null`` deletes, anything else replaces."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_patch(out[key], value)
        else:
            out[key] = value
    return out
