"""A contract-faithful fake of HubSpot's CRM API (Starlette), for adapter and conformance tests.

What it serves (every route under both the legacy ``/crm/v3`` / ``/crm/v4`` spelling and the
date-versioned ``2026-03`` twin, PROVIDERS.md §1.1 "Versioning"):

- ``GET   /crm/v3/objects/contacts/{contactId}``  (twin ``/crm/objects/2026-03/contacts/{id}``)
- ``PATCH /crm/v3/objects/contacts/{contactId}``  (twin ``/crm/objects/2026-03/contacts/{id}``)
- ``POST  /crm/v3/objects/{contacts|tickets|notes|calls|emails|meetings}/search``  (``/crm/objects/2026-03/…/search``)
- ``POST  /crm/v3/objects/{same six}/batch/read``  (``/crm/objects/2026-03/…/batch/read``)
- ``GET   /crm/v3/objects/{tickets|notes|calls|emails|meetings}/{id}``  (``/crm/objects/2026-03/…/{id}``)
- ``GET   /crm/v3/objects/{same six}`` — list, ``limit`` ≤ 100, opaque ``after``  (``/crm/objects/2026-03/{type}``)
- ``POST  /crm/v3/objects/{notes|calls|emails|meetings}`` — create  (``/crm/objects/2026-03/{kind}``)
- ``GET   /crm/v3/pipelines/{objectType}``  (``/crm/pipelines/2026-03/{objectType}``)
- ``GET   /crm/v3/properties/{objectType}/{propertyName}``  (``/crm/properties/2026-03/{objectType}/{name}``)
- ``GET   /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}``
  (``/crm/objects/2026-03/{objectType}/{objectId}/associations/{toObjectType}``)

Anything else answers 404 in HubSpot's error format. Base URL is whatever the app is mounted at
(``https://api.hubapi.com`` in production).

Facts it follows (checked against HubSpot's published OpenAPI documents, kept trimmed in
``tests/fakes/openapi/hubspot-excerpt.json`` with their repository/commit, and against PROVIDERS.md §1.1):

* Auth: ``Authorization: Bearer <token>``. Missing/unknown token → 401
  ``{"status":"error","message":"Authentication credentials not found. …","correlationId":…,
  "category":"INVALID_AUTHENTICATION"}``;
  the ``auth`` fault → 401 ``EXPIRED_AUTHENTICATION`` ("The OAuth token used to make this call expired …",
  ``context {"expire time": [...]}``, body as seen in airbytehq/airbyte#74726).
* Objects are ``SimplePublicObject``: ``{"id","properties","createdAt","updatedAt","archived":false}`` with every
  property value a string or null; datetimes are ISO-8601 UTC with milliseconds and ``Z``.
  ``properties`` holds the asked-for properties (repeated ``properties=a&properties=b`` or comma-separated
  ``properties=a,b``; unknown names ignored, known-but-empty → null) plus the properties HubSpot always returns
  (contacts ``createdate``/``lastmodifieddate``/``hs_object_id``; tickets ``createdate``/``hs_lastmodifieddate``/
  ``hs_object_id``; engagements ``hs_createdate``/``hs_lastmodifieddate``/``hs_object_id``). Without ``properties``
  the documented defaults are returned (contacts ``firstname,lastname,email``; tickets ``content,hs_pipeline,
  hs_pipeline_stage,hs_ticket_category,hs_ticket_priority,subject`` — both lists from the spec's description).
* ``GET …/contacts/{id}``: ``idProperty=email`` (case-insensitive) or a unique property; 404 ``OBJECT_NOT_FOUND``.
* ``PATCH`` needs ``{"properties":{…}}``; unknown property → 400 ``PROPERTY_DOESNT_EXIST``, read-only (calculated)
  property → 400 ``READ_ONLY_VALUE``, bad enumeration option → 400 ``INVALID_OPTION`` (all inside HubSpot's
  ``"Property values were not valid: [...]"`` VALIDATION_ERROR); ``""`` clears a value (then null).
* Search (``PublicObjectSearchRequest``): filterGroups OR-ed, filters AND-ed; operators EQ NEQ LT LTE GT GTE BETWEEN
  IN NOT_IN HAS_PROPERTY NOT_HAS_PROPERTY CONTAINS_TOKEN NOT_CONTAINS_TOKEN; pseudo-property ``associations.<type>``
  (``associations.contact`` EQ/IN a contact id); ``sorts`` as ``[{"propertyName","direction"}]`` (or the spec's string
  form ``"prop"`` / ``"-prop"``), one sort at most; ``limit`` default 10, ≤ 200; ``after`` is an offset string;
  ≤ 5 groups, ≤ 10 filters per group, ≤ 25 in total; offset+limit beyond 10,000 → 400.
  Response ``{"total","results","paging":{"next":{"after"}}}`` (``paging`` only when more results remain).
* Engagement create (``SimplePublicObjectInputForCreate``): ``properties`` + optional ``associations``
  ``[{"to":{"id"},"types":[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":N}]}]`` with
  note→contact 202, call→contact 194, email→contact 198, meeting→contact 200; ``hs_timestamp`` required
  (ms epoch or ISO) — missing → 400 ``"Error creating NOTE.  Some required properties were not set."`` with
  ``context {"properties":["hs_timestamp"]}`` (HubSpot/hubspot-api-nodejs#124). Answers **201** with the object.
* Pipelines: ``{"results":[Pipeline]}``, stages ``{id,label,displayOrder,metadata{ticketState:OPEN|CLOSED},…}``
  (``ticketState`` OPEN/CLOSED is in the spec's PipelineStage description — no longer unconfirmed).
  Two ticket pipelines: the default ``"0"`` (stages ``1`` New, ``2`` Waiting on contact, ``3`` Waiting on us
  = OPEN, ``4`` Closed = CLOSED) and ``"73212345"`` Onboarding (``73212346`` OPEN, ``73212347`` CLOSED), so an
  adapter must read the stage ids instead of hard-coding ``"4"``.
* Properties: ``Property`` with ``options[{label,value,displayOrder,hidden}]``; ``lifecyclestage`` has the 8 defaults.
* v4 associations: ``{"results":[{"toObjectId": <int>,"associationTypes":[{"category","typeId","label"}]}],
  "paging"?}``, ``limit`` ≤ 500, opaque ``after`` cursor.
* Rate limits: ``rate_limited`` → 429 ``{"status":"error","message":"You have reached your ten_secondly_rolling limit.",
  "errorType":"RATE_LIMIT","correlationId","policyName":"TEN_SECONDLY_ROLLING","groupName"}`` + ``Retry-After: 2`` +
  ``X-HubSpot-RateLimit-Interval-Milliseconds: 10000``, ``-Max: 100``, ``-Remaining: 0``; ``quota`` → 429 with
  ``"policyName":"DAILY"`` and ``X-HubSpot-RateLimit-Daily-Remaining: 0`` (no Retry-After: wait for the reset).
  Normal responses carry ``X-HubSpot-RateLimit-Daily``, ``-Daily-Remaining``, ``-Interval-Milliseconds``, ``-Max``,
  ``-Remaining`` (a private-app token; OAuth apps would not get the daily pair).

Facts PROVIDERS.md marks **unconfirmed** (or that no source settled) and how this fake decides them:

1. Date-versioned twins: objects/search/create/batch-read under ``/crm/objects/2026-03/…`` and pipelines under
   ``/crm/pipelines/2026-03/…`` are in HubSpot's 2026-03 specs; the v4-associations twin
   ``/crm/objects/2026-03/{type}/{id}/associations/{to}`` follows the 2026-03 associations spec's operation id;
   ``/crm/properties/2026-03/{type}/{name}`` is inferred from the spec's ``/crm/properties/2026-03/{objectType}``.
2. Create status: the OpenAPI says ``200`` + ``CreatedResponseSimplePublicObject``; the live API answers ``201``
   with the object itself (HubSpot/hubspot-api-php#586; the official SDK's return type is ``SimplePublicObject``).
   The fake answers 201 + ``SimplePublicObject``.
3. Lifecycle stage values: the 8 defaults (subscriber … other) — used as PROVIDERS.md lists them.
4. ``notes_last_updated`` ("last activity date") and ``notes_last_contacted``: read-only, calculated by HubSpot.
   Creating a note/call/email/meeting associated with a contact moves the contact's ``notes_last_updated`` to
   max(existing, hs_timestamp); calls/emails/meetings (not notes) also move ``notes_last_contacted``. The fake does
   this at once (HubSpot does it asynchronously) and bumps the contact's ``lastmodifieddate``.
5. Call/email/meeting enumerations validated (general knowledge): ``hs_call_direction`` INBOUND|OUTBOUND;
   ``hs_call_status`` BUSY|CALLING_CRM_USER|CANCELED|COMPLETED|CONNECTING|FAILED|IN_PROGRESS|NO_ANSWER|QUEUED|RINGING;
   ``hs_email_direction`` EMAIL|INCOMING_EMAIL|FORWARDED_EMAIL; ``hs_email_status`` BOUNCED|FAILED|SCHEDULED|
   SENDING|SENT; ``hs_meeting_outcome`` SCHEDULED|COMPLETED|RESCHEDULED|NO_SHOW|CANCELED; ticket priority
   LOW|MEDIUM|HIGH|URGENT.
6. Search responses carry only the daily rate headers (the spec marks search ``x-hubspot-rate-limit-exemptions:
   ["ten-secondly"]``); a ``rate_limited`` fault on a search path answers ``policyName "SECONDLY"`` ("You have
   reached your secondly limit.") — still a 429 with ``Retry-After: 2``.
7. Error bodies the sources don't show verbatim: 404 for an unknown object ``{"status":"error","message":
   "resource not found",…,"category":"OBJECT_NOT_FOUND"}`` (a non-numeric id gets "Object not found.  objectId are
   usually numeric.", HubSpot/hubspot-api-nodejs#669); unknown route / wrong method → 404 ``"Unable to route …"``;
   ``unavailable`` → 503 ``{"status":"error","message":"Service Unavailable",…,"category":"SERVICE_UNAVAILABLE"}``;
   ``groupName`` of 429 bodies is a placeholder.
8. Unknown contact in an association → 400 VALIDATION_ERROR; wrong association type id → 400 VALIDATION_ERROR.
9. Search filter limits: ≤ 5 groups / ≤ 10 per group / ≤ 25 total (PROVIDERS.md; the older spec text says 6 groups).
   Search is *not* eventually consistent here (new records are found at once). Default search order is
   creation order; nulls sort last.
10. A v4 association listing for an object that does not exist answers 200 with no results.
11. List endpoints (``GET /crm/v3/objects/{type}``): ``limit`` default 10, above 100 → 400 (PROVIDERS.md says ≤ 100;
    whether HubSpot rejects or clamps is not documented); ``after`` is an opaque cursor, ``paging.next`` has
    ``after`` and ``link``.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, NoReturn

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import faults
from tests.fakes.faults import RETRY_AFTER_SECONDS, FaultName, FaultScript, RecordedRequest, slow

EngagementKind = Literal["notes", "calls", "emails", "meetings"]
Props = dict[str, str | None]

API_VERSION = "2026-03"
ENGAGEMENT_KINDS: tuple[EngagementKind, ...] = ("notes", "calls", "emails", "meetings")
OBJECT_TYPES: tuple[str, ...] = ("contacts", "tickets", *ENGAGEMENT_KINDS)

#: object type → (type id, singular upper-case name used in HubSpot messages, URL parameter name)
_TYPE_INFO: dict[str, tuple[str, str, str]] = {
    "contacts": ("0-1", "CONTACT", "contactId"),
    "tickets": ("0-5", "TICKET", "ticketId"),
    "notes": ("0-46", "NOTE", "noteId"),
    "meetings": ("0-47", "MEETING", "meetingId"),
    "calls": ("0-48", "CALL", "callId"),
    "emails": ("0-49", "EMAIL", "emailId"),
}
_ALIASES: dict[str, str] = {}
for _name, (_type_id, _upper, _param) in _TYPE_INFO.items():
    _ALIASES[_name] = _name
    _ALIASES[_name[:-1]] = _name
    _ALIASES[_type_id] = _name

#: (from type, to type) → HUBSPOT_DEFINED association type id (PROVIDERS.md §1.1)
ASSOCIATION_TYPE_IDS: dict[tuple[str, str], int] = {
    ("notes", "contacts"): 202,
    ("calls", "contacts"): 194,
    ("emails", "contacts"): 198,
    ("meetings", "contacts"): 200,
    ("contacts", "notes"): 201,
    ("contacts", "calls"): 193,
    ("contacts", "emails"): 197,
    ("contacts", "meetings"): 199,
    ("tickets", "contacts"): 16,
    ("contacts", "tickets"): 15,
}

RATE_DAILY = 250_000
RATE_INTERVAL_MS = 10_000
RATE_MAX = 100
SEARCH_MAX_LIMIT = 200
LIST_MAX_LIMIT = 100
SEARCH_MAX_RESULTS = 10_000
ASSOCIATIONS_MAX_LIMIT = 500
BATCH_MAX_INPUTS = 100

DEFAULT_PIPELINE_ID = "0"
OPEN_STAGE_IDS: tuple[str, ...] = ("1", "2", "3", "73212346")
CLOSED_STAGE_IDS: tuple[str, ...] = ("4", "73212347")

_AUTH_MISSING = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)

LIFECYCLE_STAGES: tuple[tuple[str, str], ...] = (
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)


# --------------------------------------------------------------------------------------------- helpers


def iso(moment: datetime) -> str:
    """HubSpot's datetime rendering: UTC, milliseconds, ``Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_when(value: str) -> datetime:
    """A HubSpot datetime input (ms epoch, ISO-8601 or a date) as an aware UTC datetime; ValueError otherwise."""
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _correlation_id() -> str:
    return str(uuid.uuid4())


class HubSpotError(Exception):
    """An error answer in HubSpot's format (raised inside handlers, rendered by the route wrapper)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(status: int, category: str, message: str, **extra: Any) -> NoReturn:
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": _correlation_id()}
    body.update(extra)
    body["category"] = category
    raise HubSpotError(status, body)


def _validation(message: str, **extra: Any) -> NoReturn:
    _error(400, "VALIDATION_ERROR", message, **extra)


def _invalid_properties(problems: list[dict[str, Any]]) -> NoReturn:
    _validation(f"Property values were not valid: {json.dumps(problems, separators=(',', ':'))}")


def _problem(name: str, error: str, message: str) -> dict[str, Any]:
    return {"isValid": False, "message": message, "error": error, "name": name, "localizedErrorMessage": message}


# --------------------------------------------------------------------------------------------- model


@dataclass
class PropertyDef:
    """One property definition of the (fake) portal."""

    name: str
    label: str
    type: str = "string"  # string | number | datetime | date | enumeration | bool
    field_type: str = "text"
    group_name: str = "contactinformation"
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    read_only: bool = False
    unique: bool = False
    hubspot_defined: bool = True
    description: str = ""

    def render(self, now: datetime) -> dict[str, Any]:
        """The ``Property`` JSON."""
        stamp = iso(now - timedelta(days=365))
        return {
            "updatedAt": stamp,
            "createdAt": stamp,
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [
                {"label": label, "value": value, "displayOrder": order, "hidden": False}
                for order, (value, label) in enumerate(self.options)
            ],
            "displayOrder": -1,
            "calculated": self.read_only and self.hubspot_defined,
            "externalOptions": False,
            "hasUniqueValue": self.unique,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": not self.read_only,
            "archived": False,
        }


def _default_catalogue() -> dict[str, dict[str, PropertyDef]]:
    def d(name: str, label: str, **kw: Any) -> PropertyDef:
        return PropertyDef(name, label, **kw)

    dt = {"type": "datetime", "field_type": "date"}
    ro_dt = {**dt, "read_only": True}
    owner = d("hubspot_owner_id", "Owner", type="enumeration", field_type="select")
    owner.options = []  # owners are portal data; any value accepted (see _check_value)
    common_engagement = [
        d("hs_timestamp", "Activity date", **dt, group_name="engagement"),
        d("hs_createdate", "Create date", **ro_dt, group_name="engagement"),
        d("hs_lastmodifieddate", "Last modified date", **ro_dt, group_name="engagement"),
        d("hs_object_id", "Record ID", type="number", field_type="number", read_only=True, unique=True),
        owner,
    ]
    catalogue: dict[str, list[PropertyDef]] = {
        "contacts": [
            d("email", "Email", unique=True),
            d("firstname", "First Name"),
            d("lastname", "Last Name"),
            d("phone", "Phone Number", field_type="phonenumber"),
            d("company", "Company Name"),
            d("hs_additional_emails", "Additional email addresses", field_type="textarea"),
            d(
                "lifecyclestage",
                "Lifecycle Stage",
                type="enumeration",
                field_type="radio",
                options=list(LIFECYCLE_STAGES),
                description="The qualification of contacts to sales readiness.",
            ),
            d("createdate", "Create Date", **ro_dt),
            d("lastmodifieddate", "Last Modified Date", **ro_dt),
            d("hs_object_id", "Record ID", type="number", field_type="number", read_only=True, unique=True),
            d("notes_last_updated", "Last Activity Date", **ro_dt, group_name="sales_properties"),
            d("notes_last_contacted", "Last Contacted", **ro_dt, group_name="sales_properties"),
            d("hs_last_sales_activity_timestamp", "Last Engagement Date", **ro_dt, group_name="sales_properties"),
            owner,
        ],
        "tickets": [
            d("subject", "Ticket name", group_name="ticketinformation"),
            d("content", "Ticket description", field_type="textarea", group_name="ticketinformation"),
            d("hs_pipeline", "Pipeline", type="enumeration", field_type="select", group_name="ticketinformation"),
            d("hs_pipeline_stage", "Ticket status", type="enumeration", field_type="select"),
            d(
                "hs_ticket_priority",
                "Priority",
                type="enumeration",
                field_type="select",
                options=[("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High"), ("URGENT", "Urgent")],
            ),
            d("hs_ticket_category", "Category", type="enumeration", field_type="checkbox"),
            d("createdate", "Create date", **ro_dt),
            d("hs_lastmodifieddate", "Last modified date", **ro_dt),
            d("closed_date", "Close date", **ro_dt),
            d("hs_object_id", "Ticket ID", type="number", field_type="number", read_only=True, unique=True),
            owner,
        ],
        "notes": [
            *common_engagement,
            d("hs_note_body", "Note body", field_type="html"),
            d("hs_attachment_ids", "Attachments"),
        ],
        "calls": [
            *common_engagement,
            d("hs_call_title", "Call Title"),
            d("hs_call_body", "Call notes", field_type="html"),
            d("hs_call_duration", "Call duration", type="number", field_type="number"),
            d("hs_call_from_number", "From number"),
            d("hs_call_to_number", "To number"),
            d("hs_call_recording_url", "Recording URL"),
            d("hs_call_disposition", "Call outcome"),
            d(
                "hs_call_direction",
                "Call direction",
                type="enumeration",
                field_type="select",
                options=[("INBOUND", "Inbound"), ("OUTBOUND", "Outbound")],
            ),
            d(
                "hs_call_status",
                "Call status",
                type="enumeration",
                field_type="select",
                options=[
                    (v, v.replace("_", " ").title())
                    for v in (
                        "BUSY",
                        "CALLING_CRM_USER",
                        "CANCELED",
                        "COMPLETED",
                        "CONNECTING",
                        "FAILED",
                        "IN_PROGRESS",
                        "NO_ANSWER",
                        "QUEUED",
                        "RINGING",
                    )
                ],
            ),
        ],
        "emails": [
            *common_engagement,
            d("hs_email_subject", "Email subject"),
            d("hs_email_text", "Email body", field_type="textarea"),
            d("hs_email_html", "Email HTML body", field_type="html"),
            d("hs_email_headers", "Email headers", field_type="textarea"),
            d(
                "hs_email_direction",
                "Email direction",
                type="enumeration",
                field_type="select",
                options=[("EMAIL", "Sent"), ("INCOMING_EMAIL", "Received"), ("FORWARDED_EMAIL", "Forwarded")],
            ),
            d(
                "hs_email_status",
                "Email send status",
                type="enumeration",
                field_type="select",
                options=[(v, v.title()) for v in ("BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT")],
            ),
        ],
        "meetings": [
            *common_engagement,
            d("hs_meeting_title", "Meeting name"),
            d("hs_meeting_body", "Meeting description", field_type="html"),
            d("hs_internal_meeting_notes", "Internal notes", field_type="html"),
            d("hs_meeting_location", "Location"),
            d("hs_meeting_start_time", "Start time", **dt),
            d("hs_meeting_end_time", "End time", **dt),
            d(
                "hs_meeting_outcome",
                "Meeting outcome",
                type="enumeration",
                field_type="select",
                options=[
                    (v, v.replace("_", " ").title())
                    for v in ("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")
                ],
            ),
        ],
    }
    return {object_type: {p.name: p for p in props} for object_type, props in catalogue.items()}


#: properties HubSpot returns on every read, per object type
_ALWAYS: dict[str, tuple[str, ...]] = {
    "contacts": ("createdate", "hs_object_id", "lastmodifieddate"),
    "tickets": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    **dict.fromkeys(ENGAGEMENT_KINDS, ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")),
}
#: properties returned when the request names none (the spec's "Properties returned by default")
_DEFAULTS: dict[str, tuple[str, ...]] = {
    "contacts": ("firstname", "lastname", "email"),
    "tickets": ("content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority", "subject"),
    **dict.fromkeys(ENGAGEMENT_KINDS, ()),
}
_CREATED_PROP = {"contacts": "createdate", "tickets": "createdate"}
_MODIFIED_PROP = {"contacts": "lastmodifieddate"}


@dataclass
class Stage:
    id: str
    label: str
    order: int
    state: Literal["OPEN", "CLOSED"]


@dataclass
class Pipeline:
    id: str
    label: str
    order: int
    stages: list[Stage]

    def render(self, epoch: str) -> dict[str, Any]:
        return {
            "label": self.label,
            "displayOrder": self.order,
            "id": self.id,
            "stages": [
                {
                    "label": s.label,
                    "displayOrder": s.order,
                    "metadata": {"ticketState": s.state, "isClosed": "true" if s.state == "CLOSED" else "false"},
                    "id": s.id,
                    "createdAt": epoch,
                    "updatedAt": epoch,
                    "archived": False,
                    "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                }
                for s in self.stages
            ],
            "createdAt": epoch,
            "updatedAt": epoch,
            "archived": False,
        }


def _default_pipelines() -> list[Pipeline]:
    return [
        Pipeline(
            DEFAULT_PIPELINE_ID,
            "Support Pipeline",
            0,
            [
                Stage("1", "New", 0, "OPEN"),
                Stage("2", "Waiting on contact", 1, "OPEN"),
                Stage("3", "Waiting on us", 2, "OPEN"),
                Stage("4", "Closed", 3, "CLOSED"),
            ],
        ),
        Pipeline(
            "73212345",
            "Onboarding",
            1,
            [Stage("73212346", "In progress", 0, "OPEN"), Stage("73212347", "Done", 1, "CLOSED")],
        ),
    ]


@dataclass
class StoredObject:
    """One CRM record of any type."""

    object_type: str
    id: str
    properties: Props
    created_at: datetime
    updated_at: datetime
    seq: int
    associations: dict[str, list[str]] = field(default_factory=dict)  # to type → ids (insertion order)

    def associate(self, to_type: str, to_id: str) -> None:
        ids = self.associations.setdefault(to_type, [])
        if to_id not in ids:
            ids.append(to_id)


# --------------------------------------------------------------------------------------------- the fake


Handler = Callable[[Request], Awaitable[Response]]


class FakeHubSpot:
    """A fake HubSpot portal with a private-app token, served as a Starlette app (see the module docstring)."""

    def __init__(
        self, *, token: str = "test-token", page_size: int = 2, now: Callable[[], datetime] | None = None
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.token = token
        self.page_size = page_size
        self._clock: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.requests: list[RecordedRequest] = []
        self._faults = FaultScript()
        self._objects: dict[str, dict[str, StoredObject]] = {}
        self._catalogue: dict[str, dict[str, PropertyDef]] = {}
        self._pipelines: list[Pipeline] = []
        self._next_id = 0
        self._seq = 0
        self._daily_used = 0
        self._window: tuple[int, int] = (0, 0)  # (window index, requests in it)
        self.reset()
        self.app: Starlette = self._build_app()

    # ------------------------------------------------------------------ control API

    def now(self) -> datetime:
        """The fake's clock (aware UTC)."""
        return _as_utc(self._clock())

    def fail_next(self, fault: FaultName, *, times: int = 1, path_contains: str | None = None) -> None:
        """Answer the next ``times`` requests (whose path contains ``path_contains``) with ``fault``."""
        self._faults.add(fault, times=times, path_contains=path_contains)

    def reset(self) -> None:
        """Forget all data, faults and recorded requests."""
        self.requests.clear()
        self._faults.clear()
        self._objects = {object_type: {} for object_type in OBJECT_TYPES}
        self._catalogue = _default_catalogue()
        self._pipelines = _default_pipelines()
        self._next_id = 100
        self._seq = 0
        self._daily_used = 0
        self._window = (0, 0)

    # ------------------------------------------------------------------ world setup (vendor-native values)

    def add_contact(self, email: str, properties: Props | None = None) -> str:
        """Create a contact; returns its id. Unknown property names become custom (string) properties."""
        email = email.strip().lower()
        if self._find_by("contacts", "email", email) is not None:
            raise ValueError(f"a contact with email {email} exists already")
        record = self._new_object("contacts", {"email": email})
        self._world_set(record, properties or {})
        return record.id

    def add_ticket(
        self,
        contact_id: str,
        *,
        subject: str,
        open: bool,
        priority: str | None = None,
        created_at: datetime | None = None,
        pipeline: str = DEFAULT_PIPELINE_ID,
    ) -> str:
        """Create a ticket associated with ``contact_id`` in the first OPEN (or CLOSED) stage of ``pipeline``."""
        contact = self._require("contacts", contact_id)
        found = [p for p in self._pipelines if p.id == pipeline]
        if not found:
            raise ValueError(f"no ticket pipeline {pipeline!r}")
        stage = next(s for s in found[0].stages if s.state == ("OPEN" if open else "CLOSED"))
        record = self._new_object(
            "tickets",
            {"subject": subject, "hs_pipeline": pipeline, "hs_pipeline_stage": stage.id},
            created_at=_as_utc(created_at) if created_at else None,
        )
        if priority is not None:
            self._world_set(record, {"hs_ticket_priority": priority})
        if not open:
            record.properties["closed_date"] = iso(self.now())
        self._link(record, contact)
        return record.id

    def add_engagement(self, contact_id: str, kind: EngagementKind, properties: Props) -> str:
        """Log a note/call/email/meeting on ``contact_id`` (``hs_timestamp`` defaults to now); returns its id."""
        if kind not in ENGAGEMENT_KINDS:
            raise ValueError(f"unknown engagement kind {kind!r}")
        contact = self._require("contacts", contact_id)
        record = self._new_object(kind, {"hs_timestamp": iso(self.now())})
        self._world_set(record, properties)
        self._link(record, contact)
        self._touch_activity(contact, kind, record)
        return record.id

    def define_property(
        self,
        object_type: str,
        name: str,
        *,
        label: str | None = None,
        type: str = "string",
        field_type: str = "text",
        options: list[tuple[str, str]] | None = None,
        unique: bool = False,
    ) -> None:
        """Create a custom property (``options`` as (value, label) for enumerations, e.g. a multi-checkbox)."""
        object_type = self._object_type(object_type)
        self._catalogue[object_type][name] = PropertyDef(
            name,
            label or name,
            type=type,
            field_type=field_type,
            group_name="contactinformation" if object_type == "contacts" else "custom",
            options=list(options or []),
            unique=unique,
            hubspot_defined=False,
        )

    def set_lifecycle_stages(self, stages: list[tuple[str, str]]) -> None:
        """Replace the portal's ``lifecyclestage`` options ((value, label) pairs; portals may customise them)."""
        self._catalogue["contacts"]["lifecyclestage"].options = list(stages)

    # ------------------------------------------------------------------ inspection

    def contact(self, contact_id: str) -> Props:
        """All current properties of a contact (KeyError when unknown)."""
        return self._all_props(self._require("contacts", contact_id))

    def engagements(self, contact_id: str) -> list[tuple[str, str, Props]]:
        """(kind, id, properties) of every engagement associated with the contact, oldest created first."""
        contact = self._require("contacts", contact_id)
        found = [self._objects[kind][eid] for kind in ENGAGEMENT_KINDS for eid in contact.associations.get(kind, [])]
        found.sort(key=lambda r: r.seq)
        return [(r.object_type, r.id, self._all_props(r)) for r in found]

    def tickets(self, contact_id: str) -> list[tuple[str, Props]]:
        """(id, properties) of every ticket associated with the contact."""
        contact = self._require("contacts", contact_id)
        return [
            (tid, self._all_props(self._objects["tickets"][tid])) for tid in contact.associations.get("tickets", [])
        ]

    # ------------------------------------------------------------------ storage internals

    def _new_object(self, object_type: str, properties: Props, *, created_at: datetime | None = None) -> StoredObject:
        self._next_id += 1
        self._seq += 1
        moment = created_at or self.now()
        record = StoredObject(object_type, str(self._next_id), dict(properties), moment, moment, self._seq)
        self._objects[object_type][record.id] = record
        return record

    def _require(self, object_type: str, object_id: str) -> StoredObject:
        try:
            return self._objects[object_type][str(object_id)]
        except KeyError:
            raise KeyError(f"no {object_type} with id {object_id}") from None

    def _link(self, record: StoredObject, other: StoredObject) -> None:
        record.associate(other.object_type, other.id)
        other.associate(record.object_type, record.id)

    def _world_set(self, record: StoredObject, properties: Props) -> None:
        catalogue = self._catalogue[record.object_type]
        for name, raw in properties.items():
            value = None if raw is None else str(raw)
            definition = catalogue.get(name)
            if definition is None:
                self.define_property(record.object_type, name)
                definition = catalogue[name]
            if value is not None and definition.type in ("datetime", "date"):
                moment = parse_when(value)
                value = iso(moment) if definition.type == "datetime" else moment.date().isoformat()
                if name == _CREATED_PROP.get(record.object_type):
                    record.created_at = moment
                    continue
                if name == _MODIFIED_PROP.get(record.object_type):
                    record.updated_at = moment
                    continue
            if value is not None and definition.type == "enumeration" and definition.options:
                problem = self._check_option(definition, value)
                if problem:
                    raise ValueError(problem["message"])
            record.properties[name] = value

    def _all_props(self, record: StoredObject) -> Props:
        props: Props = dict.fromkeys(self._catalogue[record.object_type])
        props.update(record.properties)
        props["hs_object_id"] = record.id
        if record.object_type in ("contacts", "tickets"):
            props["createdate"] = iso(record.created_at)
        if record.object_type == "contacts":
            props["lastmodifieddate"] = iso(record.updated_at)
        else:
            props["hs_lastmodifieddate"] = iso(record.updated_at)
        if record.object_type in ENGAGEMENT_KINDS:
            props["hs_createdate"] = iso(record.created_at)
        return props

    def _find_by(self, object_type: str, prop: str, value: str) -> StoredObject | None:
        for record in self._objects[object_type].values():
            current = self._all_props(record).get(prop)
            if current is None:
                continue
            if prop == "email" and current.lower() == value.lower():
                return record
            if current == value:
                return record
        return None

    def _touch_activity(self, contact: StoredObject, kind: str, engagement: StoredObject) -> None:
        stamp = engagement.properties.get("hs_timestamp")
        if stamp is None:
            return
        when = parse_when(stamp)
        keys = ["notes_last_updated"] + ([] if kind == "notes" else ["notes_last_contacted"])
        for key in keys:
            current = contact.properties.get(key)
            if current is None or parse_when(current) < when:
                contact.properties[key] = iso(when)
        contact.updated_at = max(contact.updated_at, self.now())

    def _object_type(self, raw: str) -> str:
        try:
            return _ALIASES[raw.lower()]
        except KeyError:
            _validation(f"Unable to infer object type from: {raw}")

    # ------------------------------------------------------------------ rendering

    def _render(self, record: StoredObject, requested: list[str] | None) -> dict[str, Any]:
        everything = self._all_props(record)
        names = list(_DEFAULTS[record.object_type]) if requested is None else requested
        known = self._catalogue[record.object_type]
        props: Props = {}
        for name in [*names, *_ALWAYS[record.object_type]]:
            if name in known or name in everything:
                props[name] = everything.get(name)
        return {
            "id": record.id,
            "properties": dict(sorted(props.items())),
            "createdAt": iso(record.created_at),
            "updatedAt": iso(record.updated_at),
            "archived": False,
        }

    def _render_with_associations(
        self, record: StoredObject, requested: list[str] | None, associations: list[str]
    ) -> dict[str, Any]:
        body = self._render(record, requested)
        wanted = {}
        for raw in associations:
            to_type = _ALIASES.get(raw.lower())
            if to_type is None or not record.associations.get(to_type):
                continue  # "If any of the specified associations do not exist, they will be ignored."
            singular_from = record.object_type[:-1]
            singular_to = to_type[:-1]
            wanted[to_type] = {
                "results": [
                    {"id": other, "type": f"{singular_from}_to_{singular_to}"} for other in record.associations[to_type]
                ]
            }
        if wanted:
            body["associations"] = wanted
        return body

    # ------------------------------------------------------------------ request plumbing

    def _build_app(self) -> Starlette:
        routes: list[Route] = []
        for objects in ("/crm/v3/objects", f"/crm/objects/{API_VERSION}"):
            for object_type in OBJECT_TYPES:
                base = f"{objects}/{object_type}"
                routes.append(Route(f"{base}/search", self._wrap(self._search_handler(object_type)), methods=["POST"]))
                routes.append(
                    Route(f"{base}/batch/read", self._wrap(self._batch_read_handler(object_type)), methods=["POST"])
                )
                routes.append(Route(base, self._wrap(self._list_handler(object_type)), methods=["GET"]))
                if object_type in ENGAGEMENT_KINDS:
                    routes.append(Route(base, self._wrap(self._create_handler(object_type)), methods=["POST"]))
                routes.append(
                    Route(f"{base}/{{object_id}}", self._wrap(self._get_handler(object_type)), methods=["GET"])
                )
                if object_type == "contacts":
                    routes.append(Route(f"{base}/{{object_id}}", self._wrap(self._patch_contact), methods=["PATCH"]))
        for pipelines in ("/crm/v3/pipelines", f"/crm/pipelines/{API_VERSION}"):
            routes.append(Route(f"{pipelines}/{{object_type}}", self._wrap(self._pipelines_handler), methods=["GET"]))
        for properties in ("/crm/v3/properties", f"/crm/properties/{API_VERSION}"):
            routes.append(
                Route(
                    f"{properties}/{{object_type}}/{{property_name}}",
                    self._wrap(self._property_handler),
                    methods=["GET"],
                )
            )
        for associations in ("/crm/v4/objects", f"/crm/objects/{API_VERSION}"):
            routes.append(
                Route(
                    f"{associations}/{{object_type}}/{{object_id}}/associations/{{to_object_type}}",
                    self._wrap(self._associations_handler),
                    methods=["GET"],
                )
            )
        every_method = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        routes.append(Route("/{path:path}", self._wrap(self._unknown_route), methods=every_method))
        return Starlette(routes=routes)

    def _wrap(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            self.requests.append(await faults.record(request))
            try:
                self._check_auth(request)
                fault = self._faults.take(request.url.path)
                if fault == "slow":
                    await slow()
                elif fault is not None:
                    return self._fault_response(fault, request.url.path)
                self._count_request()
                response = await handler(request)
            except HubSpotError as exc:
                response = JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)
                if exc.status == 401:
                    return response
            self._add_rate_headers(response, search=request.url.path.endswith("/search"))
            return response

        return endpoint

    def _check_auth(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or credentials.strip() != self.token:
            _error(401, "INVALID_AUTHENTICATION", _AUTH_MISSING)

    def _count_request(self) -> None:
        self._daily_used += 1
        window = int(self.now().timestamp() * 1000) // RATE_INTERVAL_MS
        index, used = self._window
        self._window = (window, used + 1 if index == window else 1)

    def _add_rate_headers(self, response: Response, *, search: bool) -> None:
        response.headers["X-HubSpot-RateLimit-Daily"] = str(RATE_DAILY)
        response.headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, RATE_DAILY - self._daily_used))
        if search:
            return
        response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(RATE_INTERVAL_MS)
        response.headers["X-HubSpot-RateLimit-Max"] = str(RATE_MAX)
        response.headers["X-HubSpot-RateLimit-Remaining"] = str(max(0, RATE_MAX - self._window[1]))

    def _fault_response(self, fault: FaultName, path: str) -> Response:
        correlation = _correlation_id()
        if fault == "unavailable":
            body = {
                "status": "error",
                "message": "Service Unavailable",
                "correlationId": correlation,
                "category": "SERVICE_UNAVAILABLE",
            }
            return JSONResponse(body, status_code=503)
        if fault == "rate_limited":
            search = path.endswith("/search")
            policy = "SECONDLY" if search else "TEN_SECONDLY_ROLLING"
            body = {
                "status": "error",
                "message": f"You have reached your {policy.lower()} limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": correlation,
                "policyName": policy,
                "groupName": "publicapi:private-app:1234567:87654321",
            }
            headers = {
                "Retry-After": str(RETRY_AFTER_SECONDS),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(1_000 if search else RATE_INTERVAL_MS),
                "X-HubSpot-RateLimit-Max": str(5 if search else RATE_MAX),
                "X-HubSpot-RateLimit-Remaining": "0",
                "X-HubSpot-RateLimit-Daily": str(RATE_DAILY),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, RATE_DAILY - self._daily_used)),
            }
            return JSONResponse(body, status_code=429, headers=headers)
        if fault == "quota":
            body = {
                "status": "error",
                "message": "You have reached your daily limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": correlation,
                "policyName": "DAILY",
                "groupName": "publicapi:private-app:1234567",
            }
            headers = {"X-HubSpot-RateLimit-Daily": str(RATE_DAILY), "X-HubSpot-RateLimit-Daily-Remaining": "0"}
            return JSONResponse(body, status_code=429, headers=headers)
        if fault == "auth":
            expired = self.now() - timedelta(seconds=1)
            expired_body: dict[str, Any] = {
                "status": "error",
                "message": "The OAuth token used to make this call expired 1 second(s) ago.",
                "correlationId": correlation,
                "category": "EXPIRED_AUTHENTICATION",
                "context": {"expire time": [iso(expired)]},
            }
            return JSONResponse(expired_body, status_code=401)
        # malformed: a 200 that claims JSON but is cut off mid-document
        return Response(
            b'{"total":3,"results":[{"id":"101","properties":{"email":"kim@exa',
            status_code=200,
            media_type="application/json",
        )

    async def _json_body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw or b"")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            _validation(f"Invalid input JSON on line 1, column {getattr(exc, 'colno', 1)}: {exc}")
        if not isinstance(body, dict):
            _validation("Invalid input JSON: expected an object")
        return body

    @staticmethod
    def _query_list(request: Request, name: str) -> list[str] | None:
        values = request.query_params.getlist(name)
        if not values:
            return None
        return [part.strip() for value in values for part in value.split(",") if part.strip()]

    # ------------------------------------------------------------------ handlers

    async def _unknown_route(self, request: Request) -> Response:
        _error(
            404,
            "OBJECT_NOT_FOUND",
            f"Unable to route {request.method} request to {request.url.path}",
        )

    def _lookup(self, object_type: str, object_id: str, id_property: str | None) -> StoredObject:
        if id_property and id_property != "hs_object_id":
            definition = self._catalogue[object_type].get(id_property)
            if definition is None or not definition.unique:
                _validation(f"{id_property} is not a unique property of {_TYPE_INFO[object_type][1].lower()}s")
            found = self._find_by(object_type, id_property, object_id)
            if found is None:
                _error(404, "OBJECT_NOT_FOUND", "resource not found")
            return found
        record = self._objects[object_type].get(object_id)
        if record is None:
            if not object_id.isdigit():
                _error(
                    404,
                    "OBJECT_NOT_FOUND",
                    "Object not found.  objectId are usually numeric.",
                    context={"id": [object_id]},
                )
            _error(404, "OBJECT_NOT_FOUND", "resource not found")
        return record

    def _get_handler(self, object_type: str) -> Handler:
        async def handler(request: Request) -> Response:
            if request.query_params.get("archived", "false").lower() == "true":
                _error(404, "OBJECT_NOT_FOUND", "resource not found")
            record = self._lookup(object_type, request.path_params["object_id"], request.query_params.get("idProperty"))
            body = self._render_with_associations(
                record, self._query_list(request, "properties"), self._query_list(request, "associations") or []
            )
            return JSONResponse(body)

        return handler

    async def _patch_contact(self, request: Request) -> Response:
        record = self._lookup("contacts", request.path_params["object_id"], request.query_params.get("idProperty"))
        body = await self._json_body(request)
        properties = body.get("properties")
        if not isinstance(properties, dict):
            _validation(
                "Invalid input JSON: properties is required",
                errors=[{"message": "properties is required", "in": "properties"}],
            )
        cleaned = self._validate_writes("contacts", properties)
        for name, value in cleaned.items():
            if name == "email" and value is not None:
                other = self._find_by("contacts", "email", value)
                if other is not None and other.id != record.id:
                    _error(409, "CONFLICT", f"Contact already exists. Existing ID: {other.id}")
            record.properties[name] = value
        record.updated_at = self.now()
        return JSONResponse(self._render(record, list(cleaned)))

    def _validate_writes(self, object_type: str, properties: dict[str, Any]) -> Props:
        catalogue = self._catalogue[object_type]
        problems: list[dict[str, Any]] = []
        cleaned: Props = {}
        for name, raw in properties.items():
            definition = catalogue.get(name)
            if definition is None:
                problems.append(_problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
                continue
            if definition.read_only:
                problems.append(
                    _problem(name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.')
                )
                continue
            if raw is None or raw == "":
                cleaned[name] = None
                continue
            if isinstance(raw, bool):
                value = "true" if raw else "false"
            elif isinstance(raw, int | float | str):
                value = str(raw)
            else:
                problems.append(_problem(name, "INVALID_VALUE", f"{raw!r} is not a valid value for {name}"))
                continue
            problem = self._check_value(definition, value)
            if problem:
                problems.append(problem)
                continue
            if definition.type == "datetime":
                value = iso(parse_when(value))
            if name == "email":
                value = value.strip().lower()
            cleaned[name] = value
        if problems:
            _invalid_properties(problems)
        return cleaned

    def _check_value(self, definition: PropertyDef, value: str) -> dict[str, Any] | None:
        if definition.type in ("datetime", "date"):
            try:
                parse_when(value)
            except ValueError:
                return _problem(definition.name, "INVALID_DATE", f"{value} was not a valid long or ISO-8601 date/time.")
            return None
        if definition.type == "number":
            try:
                float(value)
            except ValueError:
                return _problem(definition.name, "INVALID_FLOAT", f"{value} was not a valid number.")
            return None
        if definition.type == "enumeration" and definition.options:
            return self._check_option(definition, value)
        return None

    @staticmethod
    def _check_option(definition: PropertyDef, value: str) -> dict[str, Any] | None:
        allowed = [option for option, _ in definition.options]
        chosen = value.split(";") if definition.field_type == "checkbox" else [value]
        for item in chosen:
            if item and item not in allowed:
                return _problem(
                    definition.name,
                    "INVALID_OPTION",
                    f"{item} was not one of the allowed options: [{', '.join(allowed)}]",
                )
        return None

    def _create_handler(self, kind: EngagementKind) -> Handler:
        upper = _TYPE_INFO[kind][1]

        async def handler(request: Request) -> Response:
            body = await self._json_body(request)
            properties = body.get("properties")
            if not isinstance(properties, dict):
                _validation(
                    "Invalid input JSON: properties is required",
                    errors=[{"message": "properties is required", "in": "properties"}],
                )
            associations = body.get("associations", [])
            if not isinstance(associations, list):
                _validation("Invalid input JSON: associations must be an array")
            cleaned = self._validate_writes(kind, properties)
            if not cleaned.get("hs_timestamp"):
                _validation(
                    f"Error creating {upper}.  Some required properties were not set.",
                    context={"properties": ["hs_timestamp"]},
                )
            targets = [self._association_target(kind, item) for item in associations]
            record = self._new_object(kind, cleaned)
            for target in targets:
                self._link(record, target)
                if target.object_type == "contacts":
                    self._touch_activity(target, kind, record)
            return JSONResponse(self._render(record, list(cleaned)), status_code=201)

        return handler

    def _association_target(self, kind: str, item: Any) -> StoredObject:
        upper = _TYPE_INFO[kind][1]
        if not isinstance(item, dict) or not isinstance(item.get("to"), dict) or "id" not in item["to"]:
            _validation("Invalid input JSON: associations[].to.id is required")
        types = item.get("types")
        if not isinstance(types, list) or not types:
            _validation("Invalid input JSON: associations[].types must be a non-empty array")
        target_type: str | None = None
        for spec in types:
            if not isinstance(spec, dict):
                _validation("Invalid input JSON: associations[].types[] must be objects")
            category = spec.get("associationCategory")
            type_id = spec.get("associationTypeId")
            if category not in ("HUBSPOT_DEFINED", "INTEGRATOR_DEFINED", "USER_DEFINED", "WORK"):
                _validation(f"Invalid association category: {category}")
            if not isinstance(type_id, int) or isinstance(type_id, bool):
                _validation("Invalid input JSON: associationTypeId must be an integer")
            matches = [to for (frm, to), tid in ASSOCIATION_TYPE_IDS.items() if frm == kind and tid == type_id]
            if category != "HUBSPOT_DEFINED" or not matches:
                _validation(f"association type id {type_id} ({category}) does not exist for {upper}")
            target_type = matches[0]
        assert target_type is not None
        to_id = str(item["to"]["id"])
        target = self._objects[target_type].get(to_id)
        if target is None:
            _validation(
                f"One or more associations are invalid: {_TYPE_INFO[target_type][1]} {to_id} does not exist",
                context={"ids": [to_id]},
            )
        return target

    def _list_handler(self, object_type: str) -> Handler:
        async def handler(request: Request) -> Response:
            limit = self._int_param(request.query_params.get("limit"), "limit", default=10)
            if limit < 1 or limit > LIST_MAX_LIMIT:
                _validation(f"limit must be between 1 and {LIST_MAX_LIMIT}", context={"limit": [str(limit)]})
            offset = self._decode_cursor(request.query_params.get("after"))
            archived = request.query_params.get("archived", "false").lower() == "true"
            records = [] if archived else sorted(self._objects[object_type].values(), key=lambda r: r.seq)
            page_size = min(limit, self.page_size)
            requested = self._query_list(request, "properties")
            associations = self._query_list(request, "associations") or []
            body: dict[str, Any] = {
                "results": [
                    self._render_with_associations(r, requested, associations)
                    for r in records[offset : offset + page_size]
                ]
            }
            if offset + page_size < len(records):
                cursor = self._encode_cursor(offset + page_size)
                body["paging"] = {"next": {"after": cursor, "link": f"{request.url.path}?after={cursor}"}}
            return JSONResponse(body)

        return handler

    def _batch_read_handler(self, object_type: str) -> Handler:
        upper = _TYPE_INFO[object_type][1]

        async def handler(request: Request) -> Response:
            started = iso(self.now())
            body = await self._json_body(request)
            inputs = body.get("inputs")
            if not isinstance(inputs, list) or not all(isinstance(i, dict) and "id" in i for i in inputs):
                _validation("Invalid input JSON: inputs[].id is required")
            if len(inputs) > BATCH_MAX_INPUTS:
                _validation(f"Batch input must contain at most {BATCH_MAX_INPUTS} inputs")
            requested = body.get("properties")
            if requested is not None and not isinstance(requested, list):
                _validation("Invalid input JSON: properties must be an array")
            id_property = body.get("idProperty")
            results: list[dict[str, Any]] = []
            missing: list[str] = []
            for item in inputs:
                object_id = str(item["id"])
                if id_property and id_property != "hs_object_id":
                    found = self._find_by(object_type, str(id_property), object_id)
                else:
                    found = self._objects[object_type].get(object_id)
                if found is None:
                    missing.append(object_id)
                else:
                    results.append(self._render(found, [str(p) for p in requested] if requested else None))
            payload: dict[str, Any] = {
                "status": "COMPLETE",
                "results": results,
                "startedAt": started,
                "completedAt": iso(self.now()),
            }
            if not missing:
                return JSONResponse(payload)
            payload["numErrors"] = 1
            payload["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {upper} objects, they may be deleted or not exist. "
                    "Check that ids are valid.",
                    "context": {"ids": missing},
                    "errors": [],
                    "links": {},
                }
            ]
            return JSONResponse(payload, status_code=207)

        return handler

    async def _pipelines_handler(self, request: Request) -> Response:
        object_type = request.path_params["object_type"].lower()
        if object_type in ("deals", "0-3"):
            return JSONResponse({"results": []})
        if _ALIASES.get(object_type) != "tickets":
            _validation(f"Unable to infer object type from: {request.path_params['object_type']}")
        epoch = iso(datetime.fromtimestamp(0, tz=UTC))
        return JSONResponse({"results": [p.render(epoch) for p in self._pipelines]})

    async def _property_handler(self, request: Request) -> Response:
        object_type = self._object_type(request.path_params["object_type"])
        name = request.path_params["property_name"]
        definition = self._catalogue[object_type].get(name)
        if definition is None:
            _error(404, "OBJECT_NOT_FOUND", f"Unable to find property with name: {name}")
        return JSONResponse(definition.render(self.now()))

    async def _associations_handler(self, request: Request) -> Response:
        from_type = self._object_type(request.path_params["object_type"])
        to_type = self._object_type(request.path_params["to_object_type"])
        limit = self._int_param(request.query_params.get("limit"), "limit", default=ASSOCIATIONS_MAX_LIMIT)
        if limit < 1 or limit > ASSOCIATIONS_MAX_LIMIT:
            _validation(f"limit must be between 1 and {ASSOCIATIONS_MAX_LIMIT}")
        offset = self._decode_cursor(request.query_params.get("after"))
        record = self._objects[from_type].get(request.path_params["object_id"])
        ids = record.associations.get(to_type, []) if record else []
        page_size = min(limit, self.page_size)
        page = ids[offset : offset + page_size]
        type_id = ASSOCIATION_TYPE_IDS.get((from_type, to_type))
        results = [
            {
                "toObjectId": int(other),
                "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}],
            }
            for other in page
        ]
        body: dict[str, Any] = {"results": results}
        if offset + page_size < len(ids):
            cursor = self._encode_cursor(offset + page_size)
            body["paging"] = {"next": {"after": cursor, "link": f"{request.url.path}?after={cursor}"}}
        return JSONResponse(body)

    @staticmethod
    def _encode_cursor(offset: int) -> str:
        return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")

    @staticmethod
    def _decode_cursor(cursor: str | None) -> int:
        if not cursor:
            return 0
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            prefix, _, number = text.partition(":")
            if prefix != "offset":
                raise ValueError(text)
            return int(number)
        except ValueError:
            _validation(f"Invalid paging cursor: {cursor}")

    @staticmethod
    def _int_param(raw: Any, name: str, *, default: int) -> int:
        if raw is None:
            return default
        if isinstance(raw, bool):
            _validation(f"{name} must be an integer")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
            return int(raw)
        _validation(f"{name} must be an integer")

    # ------------------------------------------------------------------ search

    def _search_handler(self, object_type: str) -> Handler:
        async def handler(request: Request) -> Response:
            body = await self._json_body(request)
            groups = self._parse_groups(body.get("filterGroups", []))
            sort = self._parse_sort(body.get("sorts", []))
            limit = self._int_param(body.get("limit"), "limit", default=10)
            if limit < 0 or limit > SEARCH_MAX_LIMIT:
                _validation(f"limit must be between 0 and {SEARCH_MAX_LIMIT}", context={"limit": [str(limit)]})
            after = body.get("after")
            offset = 0 if after in (None, "") else self._int_param(str(after), "after", default=0)
            if offset < 0:
                _validation("after must not be negative")
            if offset + limit > SEARCH_MAX_RESULTS:
                _validation(f"Search can return at most {SEARCH_MAX_RESULTS} results (offset + limit).")
            requested = body.get("properties")
            if requested is not None and (
                not isinstance(requested, list) or not all(isinstance(p, str) for p in requested)
            ):
                _validation("Invalid input JSON: properties must be an array of strings")
            query = body.get("query")
            matches = [
                r
                for r in sorted(self._objects[object_type].values(), key=lambda r: r.seq)
                if self._matches(r, groups) and self._matches_query(r, query)
            ]
            if sort is not None:
                matches = self._sorted(object_type, matches, *sort)
            page_size = min(limit, self.page_size)
            page = matches[offset : offset + page_size]
            payload: dict[str, Any] = {
                "total": len(matches),
                "results": [self._render(r, requested if requested else None) for r in page],
            }
            if page_size and offset + page_size < len(matches):
                payload["paging"] = {"next": {"after": str(offset + page_size)}}
            return JSONResponse(payload)

        return handler

    @staticmethod
    def _parse_groups(raw: Any) -> list[list[dict[str, Any]]]:
        if not isinstance(raw, list):
            _validation("Invalid input JSON: filterGroups must be an array")
        if len(raw) > 5:
            _validation("Too many filter groups: at most 5 are allowed", context={"filterGroups": [str(len(raw))]})
        groups: list[list[dict[str, Any]]] = []
        total = 0
        for group in raw:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list):
                _validation("Invalid input JSON: filterGroups[].filters is required")
            if len(filters) > 10:
                _validation("Too many filters in a group: at most 10 are allowed")
            total += len(filters)
            for f in filters:
                if not isinstance(f, dict) or not isinstance(f.get("propertyName"), str):
                    _validation("Invalid input JSON: filters[].propertyName is required")
                operator = f.get("operator")
                if operator not in FILTER_OPERATORS:
                    _validation(f"Invalid input JSON: unknown filter operator {operator!r}")
                if operator in ("IN", "NOT_IN") and not isinstance(f.get("values"), list):
                    _validation(f"{operator} filter on {f['propertyName']} requires 'values'")
                if operator in ("EQ", "NEQ", "LT", "LTE", "GT", "GTE", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN") and (
                    f.get("value") is None
                ):
                    _validation(f"{operator} filter on {f['propertyName']} requires 'value'")
                if operator == "BETWEEN" and (f.get("value") is None or f.get("highValue") is None):
                    _validation(f"BETWEEN filter on {f['propertyName']} requires 'value' and 'highValue'")
            groups.append(filters)
        if total > 25:
            _validation("Too many filters: at most 25 are allowed in total")
        return groups

    @staticmethod
    def _parse_sort(raw: Any) -> tuple[str, bool] | None:
        if not isinstance(raw, list):
            _validation("Invalid input JSON: sorts must be an array")
        if not raw:
            return None
        if len(raw) > 1:
            _validation("Only one sort is allowed per search request")
        item = raw[0]
        if isinstance(item, str):
            return (item[1:], True) if item.startswith("-") else (item, False)
        if not isinstance(item, dict) or not isinstance(item.get("propertyName"), str):
            _validation("Invalid input JSON: sorts[].propertyName is required")
        direction = item.get("direction", "ASCENDING")
        if direction not in ("ASCENDING", "DESCENDING"):
            _validation(f"Invalid sort direction: {direction}")
        return item["propertyName"], direction == "DESCENDING"

    def _comparable(self, object_type: str, name: str, value: str | None) -> Any:
        if value is None:
            return None
        definition = self._catalogue[object_type].get(name)
        kind = definition.type if definition else "string"
        if name == "hs_object_id":
            kind = "number"
        try:
            if kind in ("datetime", "date"):
                return parse_when(value).timestamp()
            if kind == "number":
                return float(value)
        except ValueError:
            return value.lower()
        return value.lower()

    def _sorted(self, object_type: str, records: list[StoredObject], name: str, descending: bool) -> list[StoredObject]:
        present = [r for r in records if self._all_props(r).get(name) not in (None, "")]
        absent = [r for r in records if self._all_props(r).get(name) in (None, "")]

        def key(r: StoredObject) -> tuple[int, Any]:
            value = self._comparable(object_type, name, self._all_props(r)[name])
            return (0, value) if isinstance(value, float) else (1, value)

        present.sort(key=key, reverse=descending)
        return present + absent

    def _matches(self, record: StoredObject, groups: list[list[dict[str, Any]]]) -> bool:
        if not groups:
            return True
        return any(all(self._filter_matches(record, f) for f in group) for group in groups)

    def _filter_matches(self, record: StoredObject, f: dict[str, Any]) -> bool:
        name: str = f["propertyName"]
        operator: str = f["operator"]
        if name.startswith("associations."):
            to_type = _ALIASES.get(name.split(".", 1)[1].lower())
            linked = record.associations.get(to_type, []) if to_type else []
            wanted = [str(v) for v in f.get("values") or []] if operator in ("IN", "NOT_IN") else [str(f.get("value"))]
            hit = any(w in linked for w in wanted)
            if operator in ("EQ", "IN"):
                return hit
            if operator in ("NEQ", "NOT_IN"):
                return not hit
            if operator == "HAS_PROPERTY":
                return bool(linked)
            if operator == "NOT_HAS_PROPERTY":
                return not linked
            _validation(f"Operator {operator} is not supported for {name}")
        raw = self._all_props(record).get(name)
        present = raw not in (None, "")
        if operator == "HAS_PROPERTY":
            return present
        if operator == "NOT_HAS_PROPERTY":
            return not present
        ot = record.object_type
        mine = self._comparable(ot, name, raw) if present else None
        if operator in ("IN", "NOT_IN"):
            options = {self._comparable(ot, name, str(v)) for v in f["values"]}
            return (mine in options) if operator == "IN" else (mine not in options)
        if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            pattern = str(f["value"]).lower()
            text = (raw or "").lower()
            tokens = [text, *re.split(r"[\s,;]+", text)]
            hit = any(fnmatch.fnmatchcase(t, pattern) for t in tokens) if "*" in pattern else pattern in tokens
            return hit if operator == "CONTAINS_TOKEN" else not hit
        target = self._comparable(ot, name, str(f["value"]))
        if operator == "EQ":
            return present and mine == target
        if operator == "NEQ":
            return not present or mine != target
        if not present:
            return False
        try:
            if operator == "LT":
                return bool(mine < target)
            if operator == "LTE":
                return bool(mine <= target)
            if operator == "GT":
                return bool(mine > target)
            if operator == "GTE":
                return bool(mine >= target)
            high = self._comparable(ot, name, str(f["highValue"]))
            return bool(target <= mine <= high)  # BETWEEN
        except TypeError:
            return False

    def _matches_query(self, record: StoredObject, query: Any) -> bool:
        if not query:
            return True
        needle = str(query).lower()
        haystack = " ".join(v for v in record.properties.values() if v).lower()
        return needle in haystack


FILTER_OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
