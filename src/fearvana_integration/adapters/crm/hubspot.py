"""HubSpot CRM adapter (async httpx against the CRM REST API; PROVIDERS.md §1.1).

Endpoints (legacy v3 spelling; with ``CRM_HUBSPOT_API_VERSION=2026-03`` the same resource is
``/crm/objects/2026-03/...`` and ``/crm/pipelines/2026-03/...`` — one path builder, :meth:`_path`):

====================================================================  ==========================================
request                                                               used for
====================================================================  ==========================================
``GET  /crm/v3/objects/contacts/{email}?idProperty=email&properties=``  find the contact (404: not in the CRM)
``GET  /crm/v3/objects/contacts/{id}?properties=``                     the same, once the id is remembered
``GET  /crm/v3/pipelines/tickets``                                     ids of the OPEN ticket stages (cached 10 min)
``POST /crm/v3/objects/tickets/search``                                open tickets (``total`` is the count)
``POST /crm/v3/objects/{notes|calls|emails|meetings}``                 log an interaction, with its association
``POST /crm/v3/objects/{notes|calls|emails|meetings}/search``          interaction history (4 searches at once)
``PATCH /crm/v3/objects/contacts/{id}``                                the sentiment property
``GET  /crm/v3/objects/contacts?limit=1``                              ping
====================================================================  ==========================================

Auth: ``Authorization: Bearer <CRM_API_KEY>`` (a static app token or an OAuth access token).

Mappings (:data:`HUBSPOT_FIELDS`, each overridable by ``CRM_*_PROPERTY`` / ``CRM_STAGE_MAP``):
``lifecyclestage`` customer → active, evangelist → vip, anything else → onboarding;
``fearvana_status`` (custom) at-risk / churned overrides the stage; ``fearvana_tags`` (custom
multi-checkbox, ``;``-separated) → tags; ``fearvana_sentiment`` (custom) → sentiment;
``notes_last_updated`` ("last activity date") → last interaction.

Interactions: chat and system → note (association type 202), call → call (194), email → email
(198), appointment → meeting (200), all ``HUBSPOT_DEFINED`` and stamped with ``hs_timestamp`` in ISO
UTC. Note, call and meeting bodies are HTML (HubSpot renders them as rich text), so they get
:func:`compose_html_body`; ``hs_email_text`` is plain text, so emails get :func:`compose_body`. The
footer carries type, exact time, sentiment and our id, and history reads them back. A meeting's end
time equals its start (we do not know the duration). Titles/subjects are the summary's first line.
A create answers 201 with the object (the OpenAPI says 200 + a created-response wrapper); both carry
``id``, which is all we read.

Tickets: a ticket is open when its ``hs_pipeline_stage`` is a stage whose ``metadata.ticketState`` is
OPEN, in any pipeline; its status is that stage's label ("Waiting on contact"), its priority
HubSpot's ``hs_ticket_priority`` lower-cased. The context lists the newest 20 and counts them all
(the search's ``total``).

Quirks:

* CRM search is eventually consistent in real HubSpot: a note logged a second ago can be missing
  from history (and ``notes_last_updated`` is recomputed asynchronously). The fake server is
  consistent; nothing here papers over the delay.
* Search is separately throttled (~5 requests/s per token), so history costs four searches and the
  context one; contacts are read by ``idProperty=email``, which is not a search.
* 429 with ``policyName`` ``DAILY`` (or a daily-remaining header of 0) → ``QuotaExhausted`` at the
  next UTC midnight; the portal's time zone, which really decides the reset, is unknown to us. Any
  other 429 → ``RateLimited`` after ``Retry-After``, else the 10 s rolling window.
* No idempotency key exists on HubSpot creates; the outbox owns de-duplication. No retries here.

Facts PROVIDERS.md marks **unconfirmed** that this module relies on, and how they were decided:

* ``metadata.ticketState`` OPEN/CLOSED on ticket stages — confirmed by the v3 pipelines reference
  (its example pipeline shows ``"ticketState": "OPEN"`` / ``"CLOSED"``).
* ``notes_last_updated`` as "last activity date" — chosen by the brief; HubSpot sets it from the
  newest activity's ``hs_timestamp``.
* Call/email/meeting enum values (``COMPLETED``, ``EMAIL``, ``SENT``, ``OUTBOUND``) — taken as
  documented in the engagement guides; they are written, never read back.
* No native sentiment property — hence the custom ``fearvana_sentiment`` default.
* Date-versioned twins: objects ``/crm/objects/<v>/…`` and pipelines ``/crm/pipelines/<v>/…`` are
  shown in the 2026-03 reference; this adapter needs no associations-v4 path, so the unconfirmed v4
  twin does not matter.
* ``associations.contact`` as a search filter — a pseudo-property used widely in public code and
  accepted by the fake; relied on for tickets and history (the alternative, v4 association listing
  plus batch reads, costs more requests).
* ``Retry-After`` on 429 — honoured when present; otherwise the 10 s window
  (``X-HubSpot-RateLimit-Interval-Milliseconds``, else 10 s).
* Emails are looked up lower-cased. HubSpot appears to store the ``email`` value lower-cased and the
  fake matches case-insensitively; lower-casing on our side is harmless either way.
* A create whose association points at a contact that no longer exists: the docs do not say which
  4xx HubSpot answers (the fake: 400 VALIDATION_ERROR). So any ``ProviderRejected`` on a create with a
  *remembered* id is checked with one GET of that id; a 404 there means the id is stale (forget it,
  look the email up again, create once more), otherwise the original error stands. A PATCH of a
  stale id answers 404 directly.
* Searches cannot tell a stale id from a contact without activities (they return nothing), so
  history and tickets trust the remembered id; the context read, which runs on every turn, is the
  one that notices a 404 and looks the email up again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from fearvana_integration.adapters.base import CRMAdapter
from fearvana_integration.adapters.crm.mapping import (
    CrmFieldMap,
    VendorIdCache,
    compose_body,
    compose_html_body,
    parse_body,
    parse_vendor_time,
    unmapped_fields,
)
from fearvana_integration.adapters.http import (
    VendorFailure,
    VendorHttp,
    VendorPolicy,
    collect,
    concurrently,
    gather_all,
    next_utc_midnight,
)
from fearvana_integration.clock import Clock
from fearvana_integration.domain.crm import (
    CrmContact,
    CRMContext,
    Interaction,
    InteractionRecord,
    InteractionType,
    Sentiment,
    Ticket,
)
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.errors import (
    ConfigurationError,
    CustomerNotFound,
    ProviderRejected,
    QuotaExhausted,
)

if TYPE_CHECKING:
    from fearvana_integration.config import Settings

PROVIDER = "HubSpot"
SOURCE = "crm"
DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_API_VERSION = "v3"

HUBSPOT_FIELDS = CrmFieldMap(
    stage_property="lifecyclestage",
    stage_map={"customer": "active", "evangelist": "vip", "*": "onboarding"},
    status_property="fearvana_status",
    tags_property="fearvana_tags",
    sentiment_property="fearvana_sentiment",
)

# Contact properties every read wants besides the mapped ones.
_CONTACT_PROPERTIES = ("email", "firstname", "lastname", "notes_last_updated")
_LAST_INTERACTION = "notes_last_updated"
_TICKET_PROPERTIES = ("subject", "hs_ticket_priority", "hs_pipeline_stage", "createdate")
# A context shows at most this many tickets; the count is still the full count.
_CONTEXT_TICKETS = 20
_SEARCH_PAGE_MAX = 200  # HubSpot's search page size limit
_OPEN_TICKETS_MAX = 200  # get_open_tickets: more than this is not "the customer's open tickets" any more
_PIPELINE_CACHE_SECONDS = 600.0
_TITLE_CHARS = 100
A = TypeVar("A")
B = TypeVar("B")
T = TypeVar("T")
_DATE_VERSION = re.compile(r"20\d\d-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class _Activity:
    """How one of our interaction kinds is stored as a HubSpot engagement object."""

    object_type: str
    association_type_id: int  # activity → contact, HUBSPOT_DEFINED
    body_property: str
    title_property: str | None
    default_type: InteractionType  # what a body without our footer is
    html: bool


_NOTES = _Activity("notes", 202, "hs_note_body", None, "chat", html=True)
_CALLS = _Activity("calls", 194, "hs_call_body", "hs_call_title", "call", html=True)
_EMAILS = _Activity("emails", 198, "hs_email_text", "hs_email_subject", "email", html=False)
_MEETINGS = _Activity("meetings", 200, "hs_meeting_body", "hs_meeting_title", "appointment", html=True)
_ACTIVITIES = (_NOTES, _CALLS, _EMAILS, _MEETINGS)
_ACTIVITY_FOR: dict[InteractionType, _Activity] = {
    "chat": _NOTES,
    "system": _NOTES,
    "call": _CALLS,
    "email": _EMAILS,
    "appointment": _MEETINGS,
}


# Wire models ----------------------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Object(_Wire):
    """Any CRM object: ``{"id", "properties": {name: string|null}, "createdAt", ...}``."""

    id: str
    properties: dict[str, str | None] = Field(default_factory=dict)
    created_at: str | None = Field(default=None, alias="createdAt")

    def prop(self, name: str | None) -> str | None:
        """A property's value, None when absent, null or blank (HubSpot sends "" for cleared values)."""
        if name is None:
            return None
        value = self.properties.get(name)
        return value if value is not None and value.strip() else None


class _Next(_Wire):
    after: str


class _Paging(_Wire):
    next: _Next | None = None


class _SearchPage(_Wire):
    total: int
    results: list[_Object]
    paging: _Paging | None = None


class _StageMetadata(_Wire):
    ticket_state: str | None = Field(default=None, alias="ticketState")


class _Stage(_Wire):
    id: str
    label: str = ""
    archived: bool = False
    metadata: _StageMetadata = Field(default_factory=_StageMetadata)


class _Pipeline(_Wire):
    id: str
    archived: bool = False
    stages: list[_Stage] = Field(default_factory=list)


class _Pipelines(_Wire):
    results: list[_Pipeline]


class _Created(_Wire):
    id: str


class _ErrorBody(_Wire):
    """HubSpot's error JSON (every field optional)."""

    message: str | None = None
    category: str | None = None
    error_type: str | None = Field(default=None, alias="errorType")
    policy_name: str | None = Field(default=None, alias="policyName")


# Error policy ---------------------------------------------------------------------------------------


class HubSpotPolicy(VendorPolicy):
    """HubSpot's error body (``message``, ``category``) and its 429 ``policyName`` rules."""

    default_retry_after = 10.0  # the TEN_SECONDLY_ROLLING window

    @staticmethod
    def _body(failure: VendorFailure) -> _ErrorBody | None:
        if not isinstance(failure.body, dict):
            return None
        try:
            return _ErrorBody.model_validate(failure.body)
        except ValueError:
            return None

    def message(self, failure: VendorFailure) -> str:
        """HubSpot's ``message``."""
        body = self._body(failure)
        return (body.message or "").strip() if body else ""

    def code(self, failure: VendorFailure) -> str:
        """``category`` (e.g. VALIDATION_ERROR), or the 429's ``policyName``."""
        body = self._body(failure)
        if body is None:
            return ""
        return (body.policy_name if failure.status == 429 and body.policy_name else body.category) or ""

    def classify(self, failure: VendorFailure, now: datetime) -> QuotaExhausted | None:
        """The daily limit: nothing succeeds before it resets, so retrying is pointless."""
        if failure.status != 429:
            return None
        body = self._body(failure)
        daily = body is not None and (body.policy_name or "").upper() == "DAILY"
        if not daily and failure.rate.daily_remaining != 0:
            return None
        # The reset is midnight in the portal's time zone, which we do not know: UTC midnight is the
        # documented stand-in (SPEC: the breaker and the AI note use resets_at).
        resets_at = next_utc_midnight(now)
        return QuotaExhausted(
            f"{PROVIDER} daily API limit reached (policy DAILY); resets around {resets_at:%Y-%m-%d %H:%M} UTC",
            resets_at=resets_at,
        )


# The adapter ----------------------------------------------------------------------------------------


class HubSpotCRMAdapter(CRMAdapter):
    """HubSpot through its CRM REST API; see the module docstring for endpoints, mappings and quirks."""

    name: ClassVar[str] = "hubspot"

    def __init__(
        self,
        *,
        http_client: httpx.AsyncClient,
        clock: Clock,
        api_key: str | SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        field_map: CrmFieldMap | None = None,
        pipeline_cache_seconds: float = _PIPELINE_CACHE_SECONDS,
    ) -> None:
        """Build the adapter on the runtime's shared client.

        ``api_version`` is ``v3`` (the legacy ``/crm/v3/...`` paths) or a date version such as
        ``2026-03`` (``/crm/objects/2026-03/...``). ``field_map`` None means :data:`HUBSPOT_FIELDS`.
        Open ticket stages are re-read after ``pipeline_cache_seconds``.
        """
        version = api_version.strip()
        if version != "v3" and not _DATE_VERSION.fullmatch(version):
            raise ConfigurationError(
                f"CRM_HUBSPOT_API_VERSION={api_version} is not valid: use v3 or a date version such as 2026-03"
            )
        secret = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        if not secret.get_secret_value().strip():
            raise ConfigurationError("Missing required environment variable: CRM_API_KEY")
        self._api_key = secret
        self.api_version = version
        self.clock = clock
        self.field_map = field_map or HUBSPOT_FIELDS
        self._ids = VendorIdCache()
        self._pipeline_cache_seconds = pipeline_cache_seconds
        self._open_stages: dict[str, str] | None = None  # stage id → label, OPEN stages only
        self._open_stages_read_at = 0.0
        self.http = VendorHttp(
            http_client,
            provider=PROVIDER,
            source=SOURCE,
            base_url=base_url,
            clock=clock,
            policy=HubSpotPolicy(),
            auth_headers=self._auth_headers,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, http_client: httpx.AsyncClient, clock: Clock) -> Self:
        """``CRM_API_KEY``, ``CRM_ENDPOINT`` (overrides the base URL), ``CRM_HUBSPOT_API_VERSION`` and the mappings."""
        if settings.crm_api_key is None or not settings.crm_api_key.get_secret_value().strip():
            raise ConfigurationError("Missing required environment variable: CRM_API_KEY")
        return cls(
            http_client=http_client,
            clock=clock,
            api_key=settings.crm_api_key,
            base_url=settings.crm_endpoint or DEFAULT_BASE_URL,
            api_version=settings.crm_hubspot_api_version,
            field_map=CrmFieldMap.from_settings(settings, HUBSPOT_FIELDS),
        )

    async def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key.get_secret_value()}"}

    def _path(self, api: str, *parts: str) -> str:
        """``/crm/v3/<api>/<parts>`` or, for a date version, ``/crm/<api>/<version>/<parts>``."""
        head = f"/crm/v3/{api}" if self.api_version == "v3" else f"/crm/{api}/{self.api_version}"
        return "/".join((head, *parts))

    # Contract -------------------------------------------------------------------------------------

    async def ping(self) -> None:
        """One cheap authenticated read: the first contact."""
        await self.http.send("GET", self._path("objects", "contacts"), operation="ping", params={"limit": 1})

    async def find_contact(self, customer: CustomerRef) -> CrmContact | None:
        """The contact with the profile's email, or None."""
        contact = await self._contact(customer, "find_contact")
        if contact is None:
            return None
        names = [part for part in (contact.prop("firstname"), contact.prop("lastname")) if part]
        return CrmContact(
            id=contact.id,
            email=contact.prop("email") or customer.email,
            display_name=" ".join(names) or None,
        )

    async def get_crm_context(self, customer: CustomerRef) -> CRMContext | None:
        """Stage, tags, sentiment, last activity and open tickets in (usually) one round of requests.

        With the contact id remembered, the contact read and the ticket search run together; the
        first time, the contact read runs beside the pipelines read and the ticket search follows.
        """
        operation = "get_crm_context"
        email = _email(customer)
        contact: _Object | None = None
        tickets: tuple[int, list[Ticket]] | None = None
        remembered = self._ids.get(email)
        if remembered is not None:
            contact, tickets = await concurrently(
                self._read_contact(remembered, by_email=False, operation=operation),
                self._tickets(remembered, limit=_CONTEXT_TICKETS, operation=operation),
            )
            if contact is None:
                self._ids.forget(email)  # deleted or merged away: look the email up again, once
            elif contact.id != remembered:
                self._ids.put(email, contact.id)  # HubSpot answered with the merged record's id
        if contact is None:
            contact, _ = await concurrently(
                self._read_contact(email, by_email=True, operation=operation),
                self._open_stage_labels(operation),  # warms the cache while the contact is read
            )
            if contact is None:
                return None
            self._ids.put(email, contact.id)
        if tickets is None or contact.id != remembered:
            tickets = await self._tickets(contact.id, limit=_CONTEXT_TICKETS, operation=operation)
        open_count, open_tickets = tickets
        return self._context(customer, contact, open_count, open_tickets, operation)

    async def get_open_tickets(self, customer: CustomerRef) -> list[Ticket]:
        """Open tickets (stages whose ``ticketState`` is OPEN), newest first."""
        operation = "get_open_tickets"
        contact_id = await self._contact_id(customer, operation)
        if contact_id is None:
            return []
        _, tickets = await self._tickets(contact_id, limit=_OPEN_TICKETS_MAX, operation=operation)
        return tickets

    async def get_interaction_history(self, customer: CustomerRef, limit: int = 20) -> list[InteractionRecord]:
        """Notes, calls, emails and meetings on the contact, merged newest first (four concurrent searches)."""
        operation = "get_interaction_history"
        if limit <= 0:
            return []
        contact_id = await self._contact_id(customer, operation)
        if contact_id is None:
            return []
        pages = await gather_all([self._activities(activity, contact_id, limit, operation) for activity in _ACTIVITIES])
        records = [record for page in pages for record in page]
        records.sort(key=lambda record: record.timestamp, reverse=True)
        return records[:limit]

    async def log_interaction(self, customer: CustomerRef, interaction: Interaction) -> str:
        """Create the note/call/email/meeting on the contact (and set the sentiment property); returns its id."""
        operation = "log_interaction"
        activity = _ACTIVITY_FOR[interaction.type]
        body: dict[str, Any] = {"properties": _activity_properties(activity, interaction)}
        email = _email(customer)
        for attempt in (1, 2):
            remembered = self._ids.get(email) is not None
            contact_id = await self._require_contact_id(customer, operation)
            body["associations"] = [
                {
                    "to": {"id": contact_id},
                    "types": [
                        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": activity.association_type_id}
                    ],
                }
            ]
            try:
                response = await self.http.send(
                    "POST", self._path("objects", activity.object_type), operation=operation, json_body=body
                )
            except ProviderRejected:
                # An association to a contact that no longer exists is refused (400 in the fake; the docs
                # do not say which 4xx). Only a remembered id can be stale: check it, forget it, try once more.
                if not (remembered and attempt == 1):
                    raise
                if await self._read_contact(contact_id, by_email=False, operation=operation) is not None:
                    raise
                self._ids.forget(email)
                continue
            created = self.http.parse(response, _Created, operation=operation).id
            break
        else:  # pragma: no cover - the second attempt returns or raises
            raise CustomerNotFound(f"{customer.id} (not in the CRM)")
        prop = self.field_map.sentiment_property
        # After the create, not beside it: a failed create must not leave a changed sentiment behind.
        # The footer records the sentiment too, so a field map without the property loses nothing.
        if (
            interaction.sentiment is not None
            and prop is not None
            and not await self._patch_contact(contact_id, {prop: interaction.sentiment}, operation)
        ):
            self._ids.forget(email)
            raise CustomerNotFound(f"{customer.id} (not in the CRM)")
        return created

    async def update_sentiment(self, customer: CustomerRef, sentiment: Sentiment) -> None:
        """PATCH the contact's sentiment property."""
        operation = "update_sentiment"
        prop = self.field_map.sentiment_property
        if prop is None:
            raise ConfigurationError("HubSpot has no sentiment field configured: set CRM_SENTIMENT_PROPERTY")
        for _ in (1, 2):
            contact_id = await self._require_contact_id(customer, operation)
            if await self._patch_contact(contact_id, {prop: sentiment}, operation):
                return
            self._ids.forget(_email(customer))  # the remembered id is gone: look the email up again, once
        raise CustomerNotFound(f"{customer.id} (not in the CRM)")

    # Contacts -------------------------------------------------------------------------------------

    def _context_properties(self) -> list[str]:
        names = [*_CONTACT_PROPERTIES, *self.field_map.properties()]
        return list(dict.fromkeys(names))

    async def _read_contact(self, key: str, *, by_email: bool, operation: str) -> _Object | None:
        """The contact by id or by email (``idProperty=email``, not a search); None on 404."""
        params: dict[str, str] = {"properties": ",".join(self._context_properties())}
        if by_email:
            params["idProperty"] = "email"
        response = await self.http.send(
            "GET",
            self._path("objects", "contacts", quote(key, safe="@")),
            operation=operation,
            params=params,
            accept=(404,),
        )
        if response.status_code == 404:
            return None
        return self.http.parse(response, _Object, operation=operation)

    async def _contact(self, customer: CustomerRef, operation: str) -> _Object | None:
        """The contact record, by the remembered id when there is one (forgotten and re-found on 404)."""
        email = _email(customer)
        remembered = self._ids.get(email)
        if remembered is not None:
            contact = await self._read_contact(remembered, by_email=False, operation=operation)
            if contact is not None:
                self._ids.put(email, contact.id)
                return contact
            self._ids.forget(email)
        contact = await self._read_contact(email, by_email=True, operation=operation)
        if contact is not None:
            self._ids.put(email, contact.id)
        return contact

    async def _contact_id(self, customer: CustomerRef, operation: str) -> str | None:
        """The remembered id, or the id found by email (remembered from then on); None when not in the CRM."""
        remembered = self._ids.get(_email(customer))
        if remembered is not None:
            return remembered
        contact = await self._contact(customer, operation)
        return contact.id if contact is not None else None

    async def _require_contact_id(self, customer: CustomerRef, operation: str) -> str:
        contact_id = await self._contact_id(customer, operation)
        if contact_id is None:
            raise CustomerNotFound(f"{customer.id} (not in the CRM)")
        return contact_id

    async def _patch_contact(self, contact_id: str, properties: dict[str, str], operation: str) -> bool:
        """PATCH contact properties; False when the contact id no longer exists."""
        response = await self.http.send(
            "PATCH",
            self._path("objects", "contacts", quote(contact_id, safe="")),
            operation=operation,
            json_body={"properties": properties},
            accept=(404,),
        )
        return response.status_code != 404

    def _context(
        self, customer: CustomerRef, contact: _Object, open_count: int, tickets: list[Ticket], operation: str
    ) -> CRMContext:
        fields = self.field_map
        stage = fields.stage(contact.prop(fields.stage_property), contact.prop(fields.status_property))
        sentiment = fields.sentiment(contact.prop(fields.sentiment_property))
        crm_email = contact.prop("email")
        last = contact.prop(_LAST_INTERACTION)
        return CRMContext(
            lifecycle_stage=stage.stage,
            tags=fields.tags(contact.prop(fields.tags_property)),
            last_interaction=self._time(last, operation) if last else None,
            sentiment=sentiment.sentiment,
            open_tickets=open_count,
            tickets=tickets,
            contact_email=crm_email if crm_email and crm_email.casefold() != customer.email.casefold() else None,
            unmapped_fields=unmapped_fields(stage, sentiment),
        )

    # Tickets --------------------------------------------------------------------------------------

    async def _open_stage_labels(self, operation: str) -> dict[str, str]:
        """Ids (→ labels) of every OPEN ticket stage across pipelines, re-read every 10 minutes."""
        now = self.clock.monotonic()
        if self._open_stages is not None and now - self._open_stages_read_at < self._pipeline_cache_seconds:
            return self._open_stages
        pipelines = await self.http.json("GET", self._path("pipelines", "tickets"), _Pipelines, operation=operation)
        stages = {
            stage.id: stage.label
            for pipeline in pipelines.results
            if not pipeline.archived
            for stage in pipeline.stages
            if not stage.archived and (stage.metadata.ticket_state or "").upper() == "OPEN"
        }
        self._open_stages, self._open_stages_read_at = stages, now
        return stages

    async def _tickets(self, contact_id: str, *, limit: int, operation: str) -> tuple[int, list[Ticket]]:
        """The count of the contact's open tickets and the newest ``limit`` of them."""
        stages = await self._open_stage_labels(operation)
        if not stages:
            return 0, []  # no ticket pipeline with an open stage (e.g. no Service Hub): nothing can be open
        total, objects = await self._search(
            "tickets",
            filters=[
                {"propertyName": "associations.contact", "operator": "EQ", "value": contact_id},
                {"propertyName": "hs_pipeline_stage", "operator": "IN", "values": sorted(stages)},
            ],
            sort_by="createdate",
            properties=_TICKET_PROPERTIES,
            limit=limit,
            operation=operation,
        )
        return total, [self._ticket(item, stages, operation) for item in objects]

    def _ticket(self, item: _Object, stages: dict[str, str], operation: str) -> Ticket:
        created = item.prop("createdate") or item.created_at
        priority = item.prop("hs_ticket_priority")
        stage = item.prop("hs_pipeline_stage")
        return Ticket(
            id=item.id,
            subject=item.prop("subject") or "(no subject)",
            # The stage's label ("Waiting on contact") says more than "open"; every stage searched is OPEN.
            status=(stages.get(stage or "") or "open"),
            priority=priority.lower() if priority else None,
            created_at=self._time(created, operation) if created else None,
        )

    # History --------------------------------------------------------------------------------------

    async def _activities(
        self, activity: _Activity, contact_id: str, limit: int, operation: str
    ) -> list[InteractionRecord]:
        properties = ["hs_timestamp", activity.body_property]
        if activity.title_property:
            properties.append(activity.title_property)
        _, objects = await self._search(
            activity.object_type,
            filters=[{"propertyName": "associations.contact", "operator": "EQ", "value": contact_id}],
            sort_by="hs_timestamp",
            properties=properties,
            limit=limit,
            operation=operation,
        )
        return [self._record(activity, item, operation) for item in objects]

    def _record(self, activity: _Activity, item: _Object, operation: str) -> InteractionRecord:
        parsed = parse_body(item.prop(activity.body_property))
        stamp = item.prop("hs_timestamp") or item.created_at
        timestamp = parsed.timestamp or (self._time(stamp, operation) if stamp else None)
        if timestamp is None:
            raise self.http.invalid(f"{activity.object_type}.hs_timestamp is missing", operation=operation)
        return InteractionRecord(
            crm_id=item.id,
            type=parsed.type or activity.default_type,
            timestamp=timestamp,
            summary=parsed.summary or item.prop(activity.title_property) or "",
            sentiment=parsed.sentiment,
        )

    # Search ---------------------------------------------------------------------------------------

    async def _search(
        self,
        object_type: str,
        *,
        filters: list[dict[str, Any]],
        sort_by: str,
        properties: Sequence[str],
        limit: int,
        operation: str,
    ) -> tuple[int, list[_Object]]:
        """``total`` and up to ``limit`` results, newest ``sort_by`` first, following ``paging.next.after``."""
        totals: list[int] = []

        async def page(after: str | None) -> tuple[list[_Object], str | None]:
            body: dict[str, Any] = {
                "filterGroups": [{"filters": filters}],
                "sorts": [{"propertyName": sort_by, "direction": "DESCENDING"}],
                "properties": list(properties),
                "limit": min(limit, _SEARCH_PAGE_MAX),
            }
            if after is not None:
                body["after"] = after
            result = await self.http.json(
                "POST", self._path("objects", object_type, "search"), _SearchPage, operation=operation, json_body=body
            )
            totals.append(result.total)
            cursor = result.paging.next.after if result.paging and result.paging.next else None
            return result.results, cursor

        objects = await collect(page, limit=limit)
        return (totals[0] if totals else 0), objects

    # Helpers --------------------------------------------------------------------------------------

    def _time(self, value: str, operation: str) -> datetime:
        try:
            return parse_vendor_time(value)
        except ValueError:
            raise self.http.invalid("a timestamp is not ISO-8601 or epoch milliseconds", operation=operation) from None


def _email(customer: CustomerRef) -> str:
    return customer.email.strip().lower()


def _iso(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as HubSpot's own timestamps look."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _title(summary: str) -> str:
    first = summary.strip().splitlines()[0].strip() if summary.strip() else ""
    return first if len(first) <= _TITLE_CHARS else first[: _TITLE_CHARS - 1].rstrip() + "…"


def _activity_properties(activity: _Activity, interaction: Interaction) -> dict[str, str]:
    """The engagement's properties: timestamp, body (HTML or text), and its kind's required extras."""
    body = compose_html_body(interaction) if activity.html else compose_body(interaction)
    stamp = _iso(interaction.timestamp)
    properties = {"hs_timestamp": stamp, activity.body_property: body}
    if activity.title_property:
        properties[activity.title_property] = _title(interaction.summary)
    if activity is _CALLS:
        properties |= {"hs_call_status": "COMPLETED", "hs_call_direction": "OUTBOUND"}
    elif activity is _EMAILS:
        properties |= {"hs_email_direction": "EMAIL", "hs_email_status": "SENT"}
    elif activity is _MEETINGS:
        properties |= {
            "hs_meeting_start_time": stamp,
            "hs_meeting_end_time": stamp,  # the duration is unknown; HubSpot needs end >= start
            "hs_meeting_outcome": "COMPLETED",
        }
    return properties
