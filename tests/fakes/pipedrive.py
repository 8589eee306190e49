"""A contract-faithful fake of the Pipedrive REST API (v2 persons/activities/person fields, v1 notes/users), for tests.

What it serves (base URL = the fake's URL; real: ``https://<company>.pipedrive.com`` or ``https://api.pipedrive.com``):

==========  ==================================  ==============================================================
``GET``     ``/api/v2/persons/search``          term, fields, exact_match, organization_id, limit, cursor
``GET``     ``/api/v2/persons/{id}``            include_fields, custom_fields, include_labels, include_option_labels
``PATCH``   ``/api/v2/persons/{id}``            JSON body: name, emails, phones, label_ids, custom_fields, …
``GET``     ``/api/v2/activities``              person_id, done, sort_by, sort_direction, updated_since, limit, cursor …
``POST``    ``/api/v2/activities``              JSON body: subject, type, due_date, due_time, done, participants, note
``GET``     ``/api/v2/activities/{id}``
``GET``     ``/api/v2/personFields``            limit, cursor
``GET``     ``/v1/notes`` (also ``/api/v1/…``)  person_id, start, limit, sort, start_date, end_date, updated_since
``POST``    ``/v1/notes`` (also ``/api/v1/…``)  JSON (or form) body: content, person_id, add_time, pinned_to_person_flag
``GET``     ``/v1/users/me`` (also ``/api/v1/…``)
==========  ==================================  ==============================================================

Facts it follows (``tests/fakes/openapi/pipedrive-excerpt.yaml`` keeps the published text it was built from, and
``test_pipedrive_fake_matches_openapi.py`` checks the fake against it):

* Auth: ``x-api-token: <token>`` header (the OpenAPI ``api_key`` scheme), ``?api_token=<token>`` (docs, official
  clients) or ``Authorization: Bearer <token>`` (OAuth). Missing/wrong → 401
  ``{"success": false, "error": "unauthorized access", "errorCode": 401, …}`` (the v1 OpenAPI 401 example, plus the
  documented ``error_info``/``data``/``additional_data`` of every error body).
* Every error body: ``{"success": false, "error": str, "error_info": str, "data": null, "additional_data": null}``
  (docs "Responses"); status codes per the docs' table (400, 401, 403, 404, 405, 429, 503).
* v2 lists: ``limit`` (default 100, max 500) + opaque ``cursor``; next page in ``additional_data.next_cursor``, null
  at the end. v1 lists: ``start``/``limit``; ``additional_data.pagination.{start, limit, more_items_in_collection,
  next_start}`` (``next_start`` only while more items exist).
* v2 times are RFC 3339 UTC (``2021-01-01T00:00:00Z``); v1 times ``YYYY-MM-DD HH:MM:SS`` UTC (both as the examples).
* Person search items are ``{result_score, item{id, type: "person", name, phones[str], emails[str], visible_to,
  owner{id}, organization, custom_fields[str], notes[str]}}``; ``exact_match`` is "not case sensitive"; the term
  needs ≥ 2 characters (≥ 1 with ``exact_match``).
* ``POST /api/v2/activities`` answers **200** (not 201); ``person_id`` is not accepted in the body — the primary
  participant (``participants: [{"person_id": 1, "primary": true}]``) sets the activity's ``person_id``, and
  ``GET /api/v2/activities?person_id=`` returns activities whose *primary participant* is that person.
* ``POST /v1/notes`` answers 200; ``content`` is required, and one of ``person_id/deal_id/org_id/lead_id/project_id/
  task_id``; ``add_time`` is ``YYYY-MM-DD HH:MM:SS`` in UTC.
* ``PATCH /api/v2/persons/{id}``: custom fields under ``custom_fields`` keyed by 40-character hashes; ``null``
  clears one, ``[]`` is a validation error (400); contact-sync fields (``im``, ``postal_address``, ``notes``,
  ``birthday``, ``job_title``) → 403 (the fake's company has no contact sync).
* Rate limits: every response carries ``x-ratelimit-limit``/``x-ratelimit-remaining``/``x-ratelimit-reset`` (2-second
  burst window) and ``x-daily-requests-left``; an exhausted burst window or daily budget → 429.

Facts PROVIDERS.md marks **unconfirmed**, or the sources leave open, and what the fake decided:

* v2 error body shape "assumed identical" to v1 → decided identical (the v2 OpenAPI's only error example has exactly
  the v1 keys). Error *messages* are the fake's own wording except "unauthorized access" and "Requested service is not
  available" (quoted from the docs); adapters must key on the status code, never on the message.
* Person fields path (``/api/v2/personFields`` or ``/v1/personFields``) → the v2 OpenAPI has ``GET /personFields``
  (``field_code``, ``field_name``, ``field_type``, ``options[{id, label}]``), so the fake serves only
  ``/api/v2/personFields``; ``/v1/personFields`` is a 404 here.
* "Who am I" for pings: the v2 OpenAPI has no ``/users/me``; the v1 one has → ``GET /v1/users/me``.
* The 429 body is not documented (the legacy page's example is cut off) → ``{"success": false, "error": "Request over
  limit", "errorCode": 429, …}`` for a burst 429, with ``Retry-After: 2``, ``x-ratelimit-remaining: 0``,
  ``x-ratelimit-reset: 2``.
* The daily token budget: the docs say only "rejected with a 429" until the next day's reset; no header or body is
  documented → fault ``quota`` is 429 **without** ``Retry-After``, with ``x-daily-requests-left: 0`` (burst headers
  show the window is *not* exhausted: ``x-ratelimit-remaining: 39``) and error "Daily request budget exceeded". An
  adapter tells the two apart by ``Retry-After``/``x-ratelimit-remaining: 0`` (burst) versus
  ``x-daily-requests-left: 0`` (daily).
* ``x-daily-requests-left`` starts at 10000 and goes down by one per successful POST/PUT/PATCH; the burst headers
  are fixed at limit 40 (the "Growth" plan), remaining 39, reset 2.
* ``POST /api/v2/activities`` with no ``type`` → ``"call"`` (v1's documented default); no ``subject`` → the type's
  name (``"Call"``). ``type`` must be a known activity type key (defaults: call, meeting, task, deadline, email,
  lunch; more with :meth:`FakePipedrive.add_activity_type`), else 400. A participant who is not a known person → 400.
  Unknown body fields → 400. ``due_time``/``duration`` accept ``HH:MM`` or ``HH:MM:SS`` and are returned as
  ``HH:MM:SS`` (the OpenAPI example's form). ``done: true`` sets ``marked_as_done_time`` to now.
* Search matching: ``exact_match`` compares whole values case-insensitively; otherwise a case-insensitive substring
  match. Searchable custom field values are strings and numbers. ``result_score`` is 1.0 for a whole-value match and
  0.5 otherwise; items come best score first, then by id. ``organization`` is ``null`` for a person without one.
* Unknown custom field keys in a PATCH → 400 (register keys with :meth:`~FakePipedrive.add_person_field` or by
  passing them to :meth:`~FakePipedrive.add_person`). ``GET /persons/{id}`` lists every registered custom field key,
  ``null`` when the person has no value.
* ``include_fields``: ``activities_count``, ``done_activities_count``, ``undone_activities_count``, ``notes_count``,
  ``last_activity_id`` (done activity with the latest due date/time), ``next_activity_id`` (undone activity with
  the earliest due date/time) are computed; the mail times and ``marketing_status``/``doi_status``/``smart_bcc_email``
  are ``null``; every other count is 0.
* ``GET /v1/notes`` with no match → ``"data": null`` (v1's habit for empty lists); default order id ascending.
* Unknown query parameters are ignored; an unknown path → 404, a known path with another method → 405.
* Scripted faults are taken before the auth check (a scripted ``auth`` fault answers 401 even with a good token).
* Stored times are timezone-aware UTC; a naive ``datetime`` given to a world method is taken as UTC.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, TypeGuard
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.faults import RETRY_AFTER_SECONDS, FaultName, FaultScript, RecordedRequest, record, slow

Json = dict[str, Any]


def _words(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``."""
    return frozenset(text.split())


ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
BURST_LIMIT = 40  # requests per 2-second window (the documented "Growth" plan figure for api_token)
BURST_WINDOW_SECONDS = 2
DAILY_REQUESTS = 10_000
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
USER_ID = 1
COMPANY_ID = 1
DEFAULT_ACTIVITY_TYPES: dict[str, str] = {
    "call": "Call",
    "meeting": "Meeting",
    "task": "Task",
    "deadline": "Deadline",
    "email": "Email",
    "lunch": "Lunch",
}
CONTACT_SYNC_FIELDS = frozenset({"im", "postal_address", "notes", "birthday", "job_title"})
PERSON_INCLUDE_FIELDS = _words(
    """
    next_activity_id last_activity_id open_deals_count related_open_deals_count closed_deals_count
    related_closed_deals_count participant_open_deals_count participant_closed_deals_count
    email_messages_count activities_count done_activities_count undone_activities_count files_count
    notes_count followers_count won_deals_count related_won_deals_count lost_deals_count
    related_lost_deals_count last_incoming_mail_time last_outgoing_mail_time marketing_status
    doi_status smart_bcc_email
    """
)
SEARCH_FIELDS = ("name", "email", "phone", "notes", "custom_fields")
NOTE_SORT_FIELDS = frozenset({"id", "user_id", "deal_id", "person_id", "org_id", "content", "add_time", "update_time"})
ACTIVITY_BODY_FIELDS = _words(
    """
    subject type owner_id deal_id lead_id org_id project_id due_date due_time duration busy done
    location participants attendees public_description priority outcome note
    """
)
NOTE_LINK_FIELDS = ("person_id", "deal_id", "org_id", "lead_id", "project_id", "task_id")
NOTE_PIN_FLAGS = (
    "pinned_to_lead_flag",
    "pinned_to_deal_flag",
    "pinned_to_organization_flag",
    "pinned_to_person_flag",
    "pinned_to_project_flag",
    "pinned_to_task_flag",
)
MALFORMED_BODY = b'{"success":true,"data":{"id":1,"name":"Trunc'

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2}))?$")
_V1_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_INT_RE = re.compile(r"^\d+$")


@dataclass(frozen=True)
class FakeRoute:
    """One (method, path template) the fake serves, and the query parameters it honours there."""

    method: str
    path: str
    query_params: frozenset[str] = frozenset()
    handler: str = ""

    @property
    def pattern(self) -> re.Pattern[str]:
        """The path template as a regular expression (``{name}`` matches one path segment)."""
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$")


_V1_PREFIXES = ("/v1", "/api/v1")
ROUTES: tuple[FakeRoute, ...] = (
    FakeRoute(
        "GET",
        "/api/v2/persons/search",
        frozenset({"term", "fields", "exact_match", "organization_id", "include_fields", "limit", "cursor"}),
        "_search_persons",
    ),
    FakeRoute(
        "GET",
        "/api/v2/persons/{id}",
        frozenset({"include_fields", "custom_fields", "include_option_labels", "include_labels"}),
        "_get_person",
    ),
    FakeRoute("PATCH", "/api/v2/persons/{id}", frozenset(), "_patch_person"),
    FakeRoute(
        "GET",
        "/api/v2/activities",
        _words(
            "ids owner_id deal_id person_id org_id done updated_since updated_until sort_by sort_direction"
            " include_fields limit cursor"
        ),
        "_list_activities",
    ),
    FakeRoute("POST", "/api/v2/activities", frozenset(), "_create_activity"),
    FakeRoute("GET", "/api/v2/activities/{id}", frozenset({"include_fields"}), "_get_activity"),
    FakeRoute("GET", "/api/v2/personFields", frozenset({"include_fields", "limit", "cursor"}), "_list_person_fields"),
    *(
        route
        for prefix in _V1_PREFIXES
        for route in (
            FakeRoute(
                "GET",
                f"{prefix}/notes",
                _words(
                    "user_id deal_id person_id org_id start limit sort start_date end_date updated_since"
                    " pinned_to_person_flag"
                ),
                "_list_notes",
            ),
            FakeRoute("POST", f"{prefix}/notes", frozenset(), "_create_note"),
            FakeRoute("GET", f"{prefix}/users/me", frozenset(), "_users_me"),
        )
    ),
)


class PipedriveApiError(Exception):
    """Raised inside a handler: answer ``status`` with Pipedrive's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Person:
    id: int
    name: str
    emails: list[Json]
    phones: list[Json]
    label_ids: list[int]
    custom_fields: dict[str, Any]
    add_time: datetime
    update_time: datetime
    owner_id: int = USER_ID
    org_id: int | None = None
    visible_to: int = 3
    marketing_status: str | None = None


@dataclass
class _Activity:
    id: int
    subject: str
    type: str
    done: bool
    add_time: datetime
    update_time: datetime
    participants: list[Json] = field(default_factory=list)
    owner_id: int = USER_ID
    creator_user_id: int = USER_ID
    due_date: str | None = None
    due_time: str | None = None
    duration: str | None = None
    busy: bool = False
    note: str | None = None
    public_description: str | None = None
    deal_id: int | None = None
    lead_id: str | None = None
    org_id: int | None = None
    project_id: int | None = None
    location: Json | None = None
    priority: int | None = None
    marked_as_done_time: datetime | None = None

    @property
    def person_id(self) -> int | None:
        """The primary participant's person id (what Pipedrive reports as the activity's ``person_id``)."""
        for participant in self.participants:
            if participant.get("primary"):
                return int(participant["person_id"])
        return None


@dataclass
class _Note:
    id: int
    content: str
    person_id: int
    add_time: datetime
    update_time: datetime
    user_id: int = USER_ID
    pinned_to_person_flag: bool = False


@dataclass
class _PersonField:
    code: str
    name: str
    field_type: str
    is_custom: bool
    options: list[Json] | None = None


def _utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (a naive one is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _v2_time(moment: datetime | None) -> str | None:
    return None if moment is None else _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _v1_time(moment: datetime | None) -> str | None:
    return None if moment is None else _utc(moment).strftime("%Y-%m-%d %H:%M:%S")


def _error_body(message: str, **extra: Any) -> Json:
    return {
        "success": False,
        "error": message,
        **extra,
        "error_info": ERROR_INFO,
        "data": None,
        "additional_data": None,
    }


def _bad(message: str) -> PipedriveApiError:
    return PipedriveApiError(400, message)


def _encode_cursor(offset: int) -> str:
    raw = json.dumps({"offset": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = payload["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError) as e:
        raise _bad("Validation failed: cursor: Invalid cursor") from e
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise _bad("Validation failed: cursor: Invalid cursor")
    return offset


def _parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise _bad(f"Validation failed: {name}: Expected boolean, received '{value}'")


def _parse_int(value: str, name: str) -> int:
    if not _INT_RE.match(value.strip()):
        raise _bad(f"Validation failed: {name}: Expected integer, received '{value}'")
    return int(value)


def _parse_rfc3339(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as e:
        raise _bad(f"Validation failed: {name}: Expected an RFC3339 date-time, received '{value}'") from e
    return _utc(parsed)


def _parse_date(value: str, name: str) -> date:
    if not _DATE_RE.match(value):
        raise _bad(f"Validation failed: {name}: Expected YYYY-MM-DD, received '{value}'")
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise _bad(f"Validation failed: {name}: Invalid date '{value}'") from e


def _normalize_time(value: object, name: str, *, max_hours: int) -> str:
    """``HH:MM`` or ``HH:MM:SS`` → ``HH:MM:SS``; anything else → 400."""
    match = _TIME_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise _bad(f"Validation failed: {name}: Expected HH:MM or HH:MM:SS, received {value!r}")
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if hours > max_hours or minutes > 59 or seconds > 59:
        raise _bad(f"Validation failed: {name}: Invalid time {value!r}")
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().partition(" ")
    return first, last.strip()


class FakePipedrive:
    """An in-memory Pipedrive company served as a Starlette app (see the module docstring for the wire contract)."""

    ROUTES = ROUTES

    def __init__(
        self, *, token: str = "test-token", page_size: int = 2, now: Callable[[], datetime] | None = None
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.token = token
        self.page_size = page_size
        self._now = now or (lambda: datetime.now(UTC))
        self.requests: list[RecordedRequest] = []
        self._faults = FaultScript()
        self._handlers: dict[str, Callable[[Request, dict[str, str]], Awaitable[Response]]] = {
            route.handler: getattr(self, route.handler) for route in ROUTES
        }
        self._reset_world()
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        self.app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=methods)])

    # ----------------------------------------------------------------------------------------------- control API

    def fail_next(self, fault: FaultName, *, times: int = 1, path_contains: str | None = None) -> None:
        """Answer the next ``times`` requests (whose path contains ``path_contains``) with ``fault``."""
        self._faults.add(fault, times=times, path_contains=path_contains)

    def reset(self) -> None:
        """Forget all data, scripted faults and recorded requests."""
        self._faults.clear()
        self.requests.clear()
        self._reset_world()

    @property
    def daily_requests_left(self) -> int:
        """What ``x-daily-requests-left`` says now."""
        return self._daily_requests_left

    # ----------------------------------------------------------------------------------------------- world setup

    def add_person(
        self,
        email: str,
        *,
        name: str = "",
        custom_fields: dict[str, object] | None = None,
        label_ids: list[int] | None = None,
    ) -> int:
        """A person with ``email`` as primary work email; unknown custom field keys are registered (``varchar``)."""
        for key in custom_fields or {}:
            if key not in self._fields:
                self.add_person_field(key, key=key)
        now = self._clock()
        person = _Person(
            id=self._next_id("person"),
            name=name or email.split("@", 1)[0],
            emails=[{"value": email, "primary": True, "label": "work"}],
            phones=[],
            label_ids=list(label_ids or []),
            custom_fields=dict(custom_fields or {}),
            add_time=now,
            update_time=now,
        )
        self._persons[person.id] = person
        return person.id

    def add_activity(self, person_id: int, fields: dict[str, object]) -> int:
        """An activity whose primary participant is ``person_id``.

        ``fields`` holds ``POST /activities`` body fields (``subject``, ``type``, ``due_date``, ``due_time``,
        ``duration``, ``done``, ``note``, …) plus, optionally, ``add_time``/``update_time``/``marked_as_done_time``
        as datetimes. ValueError for a field Pipedrive would reject.
        """
        if person_id not in self._persons:
            raise KeyError(f"no person {person_id}")
        body = {k: v for k, v in fields.items() if k not in ("add_time", "update_time", "marked_as_done_time")}
        body.setdefault("participants", [{"person_id": person_id, "primary": True}])
        try:
            activity = self._activity_from_body(body)
        except PipedriveApiError as e:
            raise ValueError(e.message) from e
        for name in ("add_time", "update_time", "marked_as_done_time"):
            value = fields.get(name)
            if value is not None:
                if not isinstance(value, datetime):
                    raise ValueError(f"{name} must be a datetime")
                setattr(activity, name, _utc(value))
        self._activities[activity.id] = activity
        return activity.id

    def add_note(self, person_id: int, content: str, add_time: datetime) -> int:
        """A note on ``person_id`` created at ``add_time`` (naive = UTC)."""
        if person_id not in self._persons:
            raise KeyError(f"no person {person_id}")
        moment = _utc(add_time)
        note = _Note(
            id=self._next_id("note"), content=content, person_id=person_id, add_time=moment, update_time=moment
        )
        self._notes[note.id] = note
        return note.id

    def add_person_field(
        self, name: str, *, field_type: str = "varchar", options: list[str] | None = None, key: str | None = None
    ) -> str:
        """A person custom field; returns its key (a 40-character hash unless ``key`` is given)."""
        code = key or hashlib.sha1(f"{name}:{len(self._fields)}".encode()).hexdigest()
        rendered_options = None
        if options is not None:
            rendered_options = [self._option(self._next_id("option"), label) for label in options]
        self._fields[code] = _PersonField(code, name, field_type, is_custom=True, options=rendered_options)
        return code

    def add_label(self, name: str) -> int:
        """A person label (an option of the ``label_ids`` person field); returns its id."""
        label_id = self._next_id("option")
        self._labels[label_id] = self._option(label_id, name)
        return label_id

    def add_activity_type(self, key_string: str, name: str) -> None:
        """Make ``key_string`` a valid activity ``type``."""
        self._activity_types[key_string] = name

    # ---------------------------------------------------------------------------------------------- inspection

    def person(self, person_id: int) -> dict[str, object]:
        """The person as ``GET /api/v2/persons/{id}`` renders it (KeyError when unknown)."""
        return self._render_person(self._persons[person_id])

    def activities(self, person_id: int) -> list[dict[str, object]]:
        """The activities whose primary participant is ``person_id``, as the v2 API renders them, by id."""
        return [
            self._render_activity(a)
            for a in sorted(self._activities.values(), key=lambda a: a.id)
            if a.person_id == person_id
        ]

    def notes(self, person_id: int) -> list[dict[str, object]]:
        """The notes on ``person_id``, as ``GET /v1/notes`` renders them, by id."""
        return [
            self._render_note(n) for n in sorted(self._notes.values(), key=lambda n: n.id) if n.person_id == person_id
        ]

    # ------------------------------------------------------------------------------------------------ internals

    def _reset_world(self) -> None:
        self._persons: dict[int, _Person] = {}
        self._activities: dict[int, _Activity] = {}
        self._notes: dict[int, _Note] = {}
        self._labels: dict[int, Json] = {}
        self._fields: dict[str, _PersonField] = {}
        self._activity_types = dict(DEFAULT_ACTIVITY_TYPES)
        self._ids: dict[str, int] = {}
        self._daily_requests_left = DAILY_REQUESTS

    def _option(self, option_id: int, label: str) -> Json:
        """A field option as ``GET /personFields`` renders it."""
        return {
            "id": option_id,
            "label": label,
            "color": None,
            "update_time": None,
            "add_time": _v2_time(self._clock()),
        }

    def _next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def _clock(self) -> datetime:
        return _utc(self._now())

    def _rate_headers(self, *, remaining: int = BURST_LIMIT - 1) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(BURST_LIMIT),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(BURST_WINDOW_SECONDS),
            "x-daily-requests-left": str(self._daily_requests_left),
        }

    def _json(self, body: Json, status: int = 200) -> JSONResponse:
        return JSONResponse(body, status_code=status, headers=self._rate_headers())

    def _error(self, status: int, message: str) -> JSONResponse:
        extra: Json = {"errorCode": status} if status == 401 else {}
        return self._json(_error_body(message, **extra), status)

    def _fault_response(self, fault: FaultName) -> Response:
        if fault == "unavailable":
            body = {
                "success": False,
                "error": "Requested service is not available",
                "error_info": "Please check developers.pipedrive.com",
                "data": None,
                "additional_data": None,
            }
            return self._json(body, 503)
        if fault == "rate_limited":
            headers = {**self._rate_headers(remaining=0), "retry-after": str(RETRY_AFTER_SECONDS)}
            return JSONResponse(_error_body("Request over limit", errorCode=429), status_code=429, headers=headers)
        if fault == "quota":
            headers = {**self._rate_headers(), "x-daily-requests-left": "0"}
            body = _error_body("Daily request budget exceeded", errorCode=429)
            return JSONResponse(body, status_code=429, headers=headers)
        if fault == "auth":
            return self._error(401, "unauthorized access")
        # malformed
        return Response(MALFORMED_BODY, status_code=200, media_type="application/json", headers=self._rate_headers())

    def _authenticated(self, request: Request) -> bool:
        header = request.headers.get("x-api-token")
        query = request.query_params.get("api_token")
        authorization = request.headers.get("authorization", "")
        bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        return self.token in (header, query, bearer)

    def _match(self, method: str, path: str) -> tuple[FakeRoute, dict[str, str]]:
        path_matched = False
        for route in ROUTES:
            match = route.pattern.match(path)
            if match is None:
                continue
            path_matched = True
            if route.method == method:
                return route, match.groupdict()
        if path_matched:
            raise PipedriveApiError(405, "Method not allowed")
        raise PipedriveApiError(404, "Resource unavailable")

    async def _endpoint(self, request: Request) -> Response:
        self.requests.append(await record(request))
        fault = self._faults.take(request.url.path)
        if fault == "slow":
            await slow()
        elif fault is not None:
            return self._fault_response(fault)
        try:
            if not self._authenticated(request):
                return self._error(401, "unauthorized access")
            route, params = self._match(request.method, request.url.path)
            response = await self._handlers[route.handler](request, params)
        except PipedriveApiError as e:
            return self._error(e.status, e.message)
        if request.method in ("POST", "PUT", "PATCH") and response.status_code < 400:
            self._daily_requests_left = max(0, self._daily_requests_left - 1)
            response.headers["x-daily-requests-left"] = str(self._daily_requests_left)
        return response

    @staticmethod
    async def _json_body(request: Request, *, allow_form: bool = False) -> Json:
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        if allow_form and content_type.startswith("application/x-www-form-urlencoded"):
            return dict(parse_qsl(raw.decode(), keep_blank_values=True))
        try:
            body = json.loads(raw) if raw else None
        except ValueError as e:
            raise _bad("Invalid JSON in request body") from e
        if not isinstance(body, dict):
            raise _bad("Request body must be a JSON object")
        return body

    def _limit(self, request: Request, *, default: int = DEFAULT_LIMIT) -> int:
        """The page size to use: the request's ``limit`` (1…500) clamped to the fake's ``page_size``."""
        raw = request.query_params.get("limit")
        limit = default if raw is None else _parse_int(raw, "limit")
        if not 1 <= limit <= MAX_LIMIT:
            raise _bad(f"Validation failed: limit: Number must be between 1 and {MAX_LIMIT}")
        return min(limit, self.page_size)

    def _cursor_page(self, request: Request, items: list[Any]) -> tuple[list[Any], str | None]:
        limit = self._limit(request)
        cursor = request.query_params.get("cursor")
        offset = _decode_cursor(cursor) if cursor else 0
        page = items[offset : offset + limit]
        next_cursor = _encode_cursor(offset + limit) if offset + limit < len(items) else None
        return page, next_cursor

    def _person_or_404(self, raw_id: str) -> _Person:
        if not _INT_RE.match(raw_id):
            raise _bad(f"Validation failed: id: Expected integer, received '{raw_id}'")
        person = self._persons.get(int(raw_id))
        if person is None:
            raise PipedriveApiError(404, "Person not found")
        return person

    # ---- rendering

    def _render_person(self, person: _Person, *, only_fields: list[str] | None = None) -> Json:
        first, last = _split_name(person.name)
        keys = only_fields if only_fields is not None else [f.code for f in self._fields.values() if f.is_custom]
        return {
            "id": person.id,
            "name": person.name,
            "first_name": first,
            "last_name": last,
            "owner_id": person.owner_id,
            "org_id": person.org_id,
            "add_time": _v2_time(person.add_time),
            "update_time": _v2_time(person.update_time),
            "emails": [dict(e) for e in person.emails],
            "phones": [dict(p) for p in person.phones],
            "is_deleted": False,
            "visible_to": person.visible_to,
            "label_ids": list(person.label_ids),
            "picture_id": None,
            "custom_fields": {key: person.custom_fields.get(key) for key in keys},
        }

    def _render_activity(self, activity: _Activity, *, attendees: bool = False) -> Json:
        rendered: Json = {
            "id": activity.id,
            "subject": activity.subject,
            "type": activity.type,
            "owner_id": activity.owner_id,
            "creator_user_id": activity.creator_user_id,
            "is_deleted": False,
            "add_time": _v2_time(activity.add_time),
            "update_time": _v2_time(activity.update_time),
            "deal_id": activity.deal_id,
            "lead_id": activity.lead_id,
            "person_id": activity.person_id,
            "org_id": activity.org_id,
            "project_id": activity.project_id,
            "due_date": activity.due_date,
            "due_time": activity.due_time,
            "duration": activity.duration,
            "busy": activity.busy,
            "done": activity.done,
            "marked_as_done_time": _v2_time(activity.marked_as_done_time),
            "location": activity.location,
            "participants": [dict(p) for p in activity.participants],
            "public_description": activity.public_description,
            "priority": activity.priority,
            "note": activity.note,
        }
        if attendees:
            rendered["attendees"] = []
        return rendered

    def _render_note(self, note: _Note) -> Json:
        person = self._persons.get(note.person_id)
        rendered: Json = {
            "id": note.id,
            "active_flag": True,
            "add_time": _v1_time(note.add_time),
            "content": note.content,
            "deal": None,
            "lead_id": None,
            "deal_id": None,
            "last_update_user_id": note.user_id,
            "org_id": None,
            "organization": None,
            "person": {"name": person.name} if person else None,
            "person_id": note.person_id,
            "project_id": None,
            "project": None,
            "task_id": None,
            "task": None,
            "update_time": _v1_time(note.update_time),
            "user": {"email": "fake.user@example.com", "icon_url": None, "is_you": True, "name": "Fake User"},
            "user_id": note.user_id,
        }
        for flag in NOTE_PIN_FLAGS:
            rendered[flag] = note.pinned_to_person_flag if flag == "pinned_to_person_flag" else False
        return rendered

    def _render_field(self, person_field: _PersonField) -> Json:
        options = person_field.options
        if person_field.code == "label_ids":
            options = [dict(option) for _, option in sorted(self._labels.items())]
        return {
            "field_name": person_field.name,
            "field_code": person_field.code,
            "field_type": person_field.field_type,
            "options": options,
            "subfields": None,
            "is_custom_field": person_field.is_custom,
            "is_optional_response_field": False,
        }

    # ---- persons

    async def _search_persons(self, request: Request, params: dict[str, str]) -> Response:
        query = request.query_params
        term = query.get("term")
        exact = _parse_bool(query["exact_match"], "exact_match") if "exact_match" in query else False
        if term is None:
            raise _bad("Validation failed: term: Required")
        if len(term) < (1 if exact else 2):
            raise _bad("Validation failed: term: Search term must be at least 2 characters long (1 with exact_match)")
        fields = _csv(query["fields"]) if "fields" in query else list(SEARCH_FIELDS)
        unknown = [f for f in fields if f not in SEARCH_FIELDS]
        if unknown or not fields:
            raise _bad(f"Validation failed: fields: Invalid value(s) {', '.join(unknown) or '(empty)'}")
        org_filter = _parse_int(query["organization_id"], "organization_id") if "organization_id" in query else None
        if "include_fields" in query and any(v != "person.picture" for v in _csv(query["include_fields"])):
            raise _bad("Validation failed: include_fields: Invalid value")
        needle = term.casefold()
        hits: list[tuple[float, _Person]] = []
        for person in self._persons.values():
            if org_filter is not None and person.org_id != org_filter:
                continue
            values: list[str] = []
            if "name" in fields:
                values.append(person.name)
            if "email" in fields:
                values.extend(str(e["value"]) for e in person.emails)
            if "phone" in fields:
                values.extend(str(p["value"]) for p in person.phones)
            if "custom_fields" in fields:
                values.extend(self._searchable_custom_values(person))
            folded = [v.casefold() for v in values]
            if needle in folded:
                hits.append((1.0, person))
            elif not exact and any(needle in v for v in folded):
                hits.append((0.5, person))
        hits.sort(key=lambda hit: (-hit[0], hit[1].id))
        page, next_cursor = self._cursor_page(request, hits)
        items = [{"result_score": score, "item": self._search_item(person)} for score, person in page]
        return self._json({"success": True, "data": {"items": items}, "additional_data": {"next_cursor": next_cursor}})

    @staticmethod
    def _searchable_custom_values(person: _Person) -> list[str]:
        values = []
        for value in person.custom_fields.values():
            if isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
                values.append(str(value))
        return values

    def _search_item(self, person: _Person) -> Json:
        return {
            "id": person.id,
            "type": "person",
            "name": person.name,
            "phones": [str(p["value"]) for p in person.phones],
            "emails": [str(e["value"]) for e in person.emails],
            "visible_to": person.visible_to,
            "owner": {"id": person.owner_id},
            "organization": None,
            "custom_fields": self._searchable_custom_values(person),
            "notes": [],
        }

    async def _get_person(self, request: Request, params: dict[str, str]) -> Response:
        person = self._person_or_404(params["id"])
        query = request.query_params
        include = _csv(query["include_fields"]) if "include_fields" in query else []
        unknown = [f for f in include if f not in PERSON_INCLUDE_FIELDS]
        if unknown:
            raise _bad(f"Validation failed: include_fields: Invalid value(s) {', '.join(unknown)}")
        only_fields = _csv(query["custom_fields"]) if "custom_fields" in query else None
        if only_fields is not None and len(only_fields) > 15:
            raise _bad("Validation failed: custom_fields: A maximum of 15 keys is allowed")
        data = self._render_person(person, only_fields=only_fields)
        for name in include:
            data[name] = self._person_extra(person, name)
        if "include_option_labels" in query and _parse_bool(query["include_option_labels"], "include_option_labels"):
            data["custom_fields"] = {k: self._option_label(k, v) for k, v in data["custom_fields"].items()}
        if "include_labels" in query and _parse_bool(query["include_labels"], "include_labels"):
            labels = [self._labels[i] for i in person.label_ids if i in self._labels]
            data["labels"] = [{"id": label["id"], "label": label["label"]} for label in labels]
        return self._json({"success": True, "data": data})

    def _option_label(self, key: str, value: Any) -> Any:
        person_field = self._fields.get(key)
        if person_field is None or not person_field.options:
            return value
        labels = {option["id"]: option["label"] for option in person_field.options}
        if _is_int(value) and value in labels:
            return {"id": value, "label": labels[value]}
        if isinstance(value, list):
            return [{"id": v, "label": labels[v]} if _is_int(v) and v in labels else v for v in value]
        return value

    def _person_extra(self, person: _Person, name: str) -> Any:
        mine = [a for a in self._activities.values() if a.person_id == person.id]
        done = [a for a in mine if a.done]
        undone = [a for a in mine if not a.done]

        def when(activity: _Activity) -> tuple[str, str, int]:
            return (activity.due_date or "", activity.due_time or "", activity.id)

        if name == "activities_count":
            return len(mine)
        if name == "done_activities_count":
            return len(done)
        if name == "undone_activities_count":
            return len(undone)
        if name == "notes_count":
            return sum(1 for n in self._notes.values() if n.person_id == person.id)
        if name == "last_activity_id":
            return max(done, key=when).id if done else None
        if name == "next_activity_id":
            dated = [a for a in undone if a.due_date]
            return min(dated, key=when).id if dated else None
        if name == "marketing_status":
            return person.marketing_status
        if name.endswith("_count"):
            return 0
        return None

    async def _patch_person(self, request: Request, params: dict[str, str]) -> Response:
        person = self._person_or_404(params["id"])
        body = await self._json_body(request)
        if not body:
            raise _bad("Validation failed: at least one field must be provided")
        sync_fields = sorted(CONTACT_SYNC_FIELDS & body.keys())
        if sync_fields:
            raise PipedriveApiError(403, f"Contact sync is not enabled for the company: {', '.join(sync_fields)}")
        allowed = {
            "name",
            "owner_id",
            "org_id",
            "emails",
            "phones",
            "visible_to",
            "label_ids",
            "marketing_status",
            "custom_fields",
        }
        unknown = sorted(body.keys() - allowed)
        if unknown:
            raise _bad(f"Validation failed: unknown field(s): {', '.join(unknown)}")
        updates = self._validate_person_patch(body)
        for name, value in updates.items():
            if name == "custom_fields":
                person.custom_fields.update(value)
            else:
                setattr(person, name, value)
        person.update_time = self._clock()
        return self._json({"success": True, "data": self._render_person(person)})

    def _validate_person_patch(self, body: Json) -> Json:
        updates: Json = {}
        if "name" in body:
            if not isinstance(body["name"], str) or not body["name"].strip():
                raise _bad("Validation failed: name: Expected a non-empty string")
            updates["name"] = body["name"]
        for name in ("owner_id", "org_id"):
            if name in body:
                if body[name] is not None and not _is_int(body[name]):
                    raise _bad(f"Validation failed: {name}: Expected integer")
                updates[name] = body[name] if name == "org_id" else (body[name] or USER_ID)
        for name in ("emails", "phones"):
            if name in body:
                updates[name] = self._validate_contacts(body[name], name)
        if "visible_to" in body:
            if body["visible_to"] not in (1, 3, 5, 7):
                raise _bad("Validation failed: visible_to: Expected one of 1, 3, 5, 7")
            updates["visible_to"] = body["visible_to"]
        if "label_ids" in body:
            label_ids = body["label_ids"]
            if not isinstance(label_ids, list) or not all(_is_int(i) for i in label_ids):
                raise _bad("Validation failed: label_ids: Expected an array of integers")
            updates["label_ids"] = list(label_ids)
        if "marketing_status" in body:
            if body["marketing_status"] not in ("no_consent", "unsubscribed", "subscribed", "archived"):
                raise _bad("Validation failed: marketing_status: Invalid value")
            updates["marketing_status"] = body["marketing_status"]
        if "custom_fields" in body:
            custom = body["custom_fields"]
            if not isinstance(custom, dict):
                raise _bad("Validation failed: custom_fields: Expected an object")
            unknown = sorted(k for k in custom if k not in self._fields or not self._fields[k].is_custom)
            if unknown:
                raise _bad(f"Validation failed: custom_fields: unknown custom field key(s): {', '.join(unknown)}")
            empty = sorted(k for k, v in custom.items() if v == [])
            if empty:
                raise _bad(f"Validation failed: custom_fields: {', '.join(empty)}: an empty array is not supported")
            updates["custom_fields"] = dict(custom)
        return updates

    @staticmethod
    def _validate_contacts(value: object, name: str) -> list[Json]:
        if not isinstance(value, list):
            raise _bad(f"Validation failed: {name}: Expected an array")
        contacts = []
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
                raise _bad(f"Validation failed: {name}: each item needs a string 'value'")
            primary = entry.get("primary", False)
            label = entry.get("label", "work")
            if not isinstance(primary, bool) or not isinstance(label, str):
                raise _bad(f"Validation failed: {name}: 'primary' is a boolean, 'label' a string")
            contacts.append({"value": entry["value"], "primary": primary, "label": label})
        return contacts

    async def _list_person_fields(self, request: Request, params: dict[str, str]) -> Response:
        query = request.query_params
        allowed = {"ui_visibility", "important_fields", "required_fields"}
        if "include_fields" in query and any(v not in allowed for v in _csv(query["include_fields"])):
            raise _bad("Validation failed: include_fields: Invalid value")
        built_in = [
            _PersonField("name", "Name", "varchar", is_custom=False),
            _PersonField("email", "Email", "varchar", is_custom=False),
            _PersonField("phone", "Phone", "phone", is_custom=False),
            _PersonField("label_ids", "Labels", "set", is_custom=False),
            _PersonField("owner_id", "Owner", "user", is_custom=False),
            _PersonField("org_id", "Organization", "org", is_custom=False),
        ]
        fields = [self._render_field(f) for f in [*built_in, *self._fields.values()]]
        page, next_cursor = self._cursor_page(request, fields)
        return self._json({"success": True, "data": page, "additional_data": {"next_cursor": next_cursor}})

    # ---- activities

    def _activity_from_body(self, body: Json) -> _Activity:
        if "person_id" in body:
            raise _bad("Validation failed: person_id: not accepted; set the person through participants")
        unknown = sorted(body.keys() - ACTIVITY_BODY_FIELDS)
        if unknown:
            raise _bad(f"Validation failed: unknown field(s): {', '.join(unknown)}")
        for name in ("subject", "type", "note", "public_description", "lead_id"):
            if name in body and body[name] is not None and not isinstance(body[name], str):
                raise _bad(f"Validation failed: {name}: Expected string")
        for name in ("owner_id", "deal_id", "org_id", "project_id", "priority", "outcome"):
            if name in body and body[name] is not None and not _is_int(body[name]):
                raise _bad(f"Validation failed: {name}: Expected integer")
        for name in ("done", "busy"):
            if name in body and not isinstance(body[name], bool):
                raise _bad(f"Validation failed: {name}: Expected boolean")
        activity_type = body.get("type") or "call"
        if activity_type not in self._activity_types:
            raise _bad(f"Validation failed: type: Unknown activity type '{activity_type}'")
        due_date = body.get("due_date")
        if due_date is not None:
            if not isinstance(due_date, str):
                raise _bad("Validation failed: due_date: Expected YYYY-MM-DD")
            _parse_date(due_date, "due_date")
        due_time = body.get("due_time")
        duration = body.get("duration")
        participants = self._validate_participants(body.get("participants", []))
        location = body.get("location")
        if location is not None and not isinstance(location, dict):
            raise _bad("Validation failed: location: Expected an object")
        now = self._clock()
        done = bool(body.get("done", False))
        return _Activity(
            id=self._next_id("activity"),
            subject=body.get("subject") or self._activity_types[activity_type],
            type=activity_type,
            done=done,
            add_time=now,
            update_time=now,
            participants=participants,
            owner_id=body.get("owner_id") or USER_ID,
            due_date=due_date,
            due_time=None if due_time is None else _normalize_time(due_time, "due_time", max_hours=23),
            duration=None if duration is None else _normalize_time(duration, "duration", max_hours=99),
            busy=bool(body.get("busy", False)),
            note=body.get("note"),
            public_description=body.get("public_description"),
            deal_id=body.get("deal_id"),
            lead_id=body.get("lead_id"),
            org_id=body.get("org_id"),
            project_id=body.get("project_id"),
            location=location,
            priority=body.get("priority"),
            marked_as_done_time=now if done else None,
        )

    def _validate_participants(self, value: object) -> list[Json]:
        if not isinstance(value, list):
            raise _bad("Validation failed: participants: Expected an array")
        participants = []
        for entry in value:
            if not isinstance(entry, dict) or not _is_int(entry.get("person_id")):
                raise _bad("Validation failed: participants: each item needs an integer 'person_id'")
            primary = entry.get("primary", False)
            if not isinstance(primary, bool):
                raise _bad("Validation failed: participants: 'primary' must be a boolean")
            if entry["person_id"] not in self._persons:
                raise _bad(f"Validation failed: participants: person {entry['person_id']} not found")
            participants.append({"person_id": entry["person_id"], "primary": primary})
        if sum(1 for p in participants if p["primary"]) > 1:
            raise _bad("Validation failed: participants: only one participant can be primary")
        return participants

    async def _create_activity(self, request: Request, params: dict[str, str]) -> Response:
        activity = self._activity_from_body(await self._json_body(request))
        self._activities[activity.id] = activity
        return self._json({"success": True, "data": self._render_activity(activity)})

    async def _get_activity(self, request: Request, params: dict[str, str]) -> Response:
        raw_id = params["id"]
        if not _INT_RE.match(raw_id):
            raise _bad(f"Validation failed: id: Expected integer, received '{raw_id}'")
        activity = self._activities.get(int(raw_id))
        if activity is None:
            raise PipedriveApiError(404, "Activity not found")
        attendees = self._attendees_requested(request)
        return self._json({"success": True, "data": self._render_activity(activity, attendees=attendees)})

    @staticmethod
    def _attendees_requested(request: Request) -> bool:
        include = _csv(request.query_params.get("include_fields", ""))
        if any(v != "attendees" for v in include):
            raise _bad("Validation failed: include_fields: Invalid value")
        return "attendees" in include

    async def _list_activities(self, request: Request, params: dict[str, str]) -> Response:
        query = request.query_params
        selected = list(self._activities.values())
        for name in ("person_id", "owner_id", "deal_id", "org_id"):
            if name in query:
                wanted = _parse_int(query[name], name)
                selected = [a for a in selected if getattr(a, name) == wanted]
        if "ids" in query:
            ids = {_parse_int(v, "ids") for v in _csv(query["ids"])}
            selected = [a for a in selected if a.id in ids]
        if "done" in query:
            done = _parse_bool(query["done"], "done")
            selected = [a for a in selected if a.done == done]
        if "updated_since" in query:
            since = _parse_rfc3339(query["updated_since"], "updated_since")
            selected = [a for a in selected if a.update_time >= since]
        if "updated_until" in query:
            until = _parse_rfc3339(query["updated_until"], "updated_until")
            selected = [a for a in selected if a.update_time < until]
        sort_by = query.get("sort_by", "id")
        direction = query.get("sort_direction", "asc")
        if sort_by not in ("id", "update_time", "add_time", "due_date"):
            raise _bad("Validation failed: sort_by: Expected one of id, update_time, add_time, due_date")
        if direction not in ("asc", "desc"):
            raise _bad("Validation failed: sort_direction: Expected one of asc, desc")
        sort_keys: dict[str, Callable[[_Activity], tuple[Any, ...]]] = {
            "id": lambda a: (a.id,),
            "update_time": lambda a: (a.update_time, a.id),
            "add_time": lambda a: (a.add_time, a.id),
            "due_date": lambda a: (a.due_date or "", a.due_time or "", a.id),
        }
        selected.sort(key=sort_keys[sort_by], reverse=direction == "desc")
        attendees = self._attendees_requested(request)
        page, next_cursor = self._cursor_page(request, selected)
        data = [self._render_activity(a, attendees=attendees) for a in page]
        return self._json({"success": True, "data": data, "additional_data": {"next_cursor": next_cursor}})

    # ---- notes (v1)

    async def _create_note(self, request: Request, params: dict[str, str]) -> Response:
        body = await self._json_body(request, allow_form=True)
        content = body.get("content")
        if not isinstance(content, str) or not content.strip():
            raise _bad("Note content is required.")
        links = {name: body[name] for name in NOTE_LINK_FIELDS if body.get(name) not in (None, "")}
        if not links:
            raise _bad("One of person_id, deal_id, org_id, lead_id, project_id or task_id is required.")
        other = sorted(set(links) - {"person_id"})
        if other:
            kind = other[0].removesuffix("_id")
            raise _bad(f"Cannot add/update note because {kind} does not exist or you have no permissions to access it.")
        person_id = self._v1_int(links["person_id"], "person_id")
        if person_id not in self._persons:
            raise _bad(
                "Cannot add/update note because person does not exist or you have no permissions to access this person."
            )
        now = self._clock()
        add_time = now
        raw_add_time = body.get("add_time")
        if raw_add_time not in (None, ""):
            if not isinstance(raw_add_time, str) or not _V1_TIME_RE.match(raw_add_time):
                raise _bad("Invalid add_time: expected format YYYY-MM-DD HH:MM:SS")
            try:
                add_time = datetime.strptime(raw_add_time, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            except ValueError as e:
                raise _bad("Invalid add_time: expected format YYYY-MM-DD HH:MM:SS") from e
        pinned = body.get("pinned_to_person_flag", 0)
        if pinned not in (0, 1, "0", "1", True, False):
            raise _bad("Invalid pinned_to_person_flag: expected 0 or 1")
        user_id = self._v1_int(body["user_id"], "user_id") if body.get("user_id") not in (None, "") else USER_ID
        note = _Note(
            id=self._next_id("note"),
            content=content,
            person_id=person_id,
            add_time=add_time,
            update_time=now,
            user_id=user_id,
            pinned_to_person_flag=pinned in (1, "1", True),
        )
        self._notes[note.id] = note
        return self._json({"success": True, "data": self._render_note(note)})

    @staticmethod
    def _v1_int(value: object, name: str) -> int:
        if _is_int(value):
            return value
        if isinstance(value, str) and _INT_RE.match(value):
            return int(value)
        raise _bad(f"Invalid {name}: expected an integer")

    async def _list_notes(self, request: Request, params: dict[str, str]) -> Response:
        query = request.query_params
        selected = list(self._notes.values())
        for name in ("person_id", "user_id"):
            if name in query:
                wanted = _parse_int(query[name], name)
                selected = [n for n in selected if getattr(n, name) == wanted]
        for name in ("deal_id", "org_id"):
            if name in query:
                _parse_int(query[name], name)
                selected = []  # the fake's notes hang on persons only
        if "start_date" in query:
            start_date = _parse_date(query["start_date"], "start_date")
            selected = [n for n in selected if n.add_time.date() >= start_date]
        if "end_date" in query:
            end_date = _parse_date(query["end_date"], "end_date")
            selected = [n for n in selected if n.add_time.date() <= end_date]
        if "updated_since" in query:
            since = _parse_rfc3339(query["updated_since"], "updated_since")
            selected = [n for n in selected if n.update_time >= since]
        if "pinned_to_person_flag" in query:
            pinned = _parse_bool(query["pinned_to_person_flag"], "pinned_to_person_flag")
            selected = [n for n in selected if n.pinned_to_person_flag == pinned]
        selected.sort(key=lambda n: n.id)
        for sort_field, descending in reversed(self._note_sort(query.get("sort", ""))):
            selected.sort(key=partial(self._note_sort_key, name=sort_field), reverse=descending)
        start = _parse_int(query["start"], "start") if "start" in query else 0
        limit = self._limit(request)
        page = selected[start : start + limit]
        more = start + limit < len(selected)
        pagination: Json = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        data = [self._render_note(n) for n in page] or None
        return self._json({"success": True, "data": data, "additional_data": {"pagination": pagination}})

    @staticmethod
    def _note_sort(raw: str) -> list[tuple[str, bool]]:
        order = []
        for part in _csv(raw):
            words = part.split()
            name = words[0]
            direction = words[1].upper() if len(words) > 1 else "ASC"
            if name not in NOTE_SORT_FIELDS or direction not in ("ASC", "DESC") or len(words) > 2:
                raise _bad(f"Invalid sort: '{part}'")
            order.append((name, direction == "DESC"))
        return order

    @staticmethod
    def _note_sort_key(note: _Note, name: str) -> tuple[int, Any]:
        value = {
            "id": note.id,
            "user_id": note.user_id,
            "person_id": note.person_id,
            "content": note.content,
            "add_time": note.add_time,
            "update_time": note.update_time,
        }.get(name)
        return (0, 0) if value is None else (1, value)

    # ---- users (v1)

    async def _users_me(self, request: Request, params: dict[str, str]) -> Response:
        data = {
            "id": USER_ID,
            "name": "Fake User",
            "default_currency": "EUR",
            "locale": "en_US",
            "lang": 1,
            "email": "fake.user@example.com",
            "phone": None,
            "activated": True,
            "last_login": _v1_time(self._clock()),
            "created": "2024-01-01 00:00:00",
            "modified": None,
            "has_created_company": True,
            "access": [{"app": "sales", "admin": True, "permission_set_id": "fake-permission-set"}],
            "active_flag": True,
            "timezone_name": "UTC",
            "timezone_offset": "+00:00",
            "role_id": 1,
            "icon_url": None,
            "is_you": True,
            "is_deleted": False,
            "company_id": COMPANY_ID,
            "company_name": "Fake Company",
            "company_domain": "fakecompany",
            "company_country": "EE",
            "company_industry": "IT Services",
            "language": {"language_code": "en", "country_code": "US"},
        }
        return self._json({"success": True, "data": data})
