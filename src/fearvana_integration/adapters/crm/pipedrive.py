"""Pipedrive as the CRM: persons, activities and notes over Pipedrive's REST API (httpx, async).

Endpoints (paths under the base URL, ``https://api.pipedrive.com`` or the company domain in ``CRM_ENDPOINT``)
------------------------------------------------------------------------------------------------------------
=============================================  ==============================================================
``GET  /api/v2/persons/search``                find: ``term=<email>&fields=email&exact_match=true&limit=10``
                                               (``data.items[].item{id,name,emails}``, cursor paging followed)
``GET  /api/v2/persons/{id}``                  the person: ``emails[{value,primary}]`` and ``custom_fields``
                                               (only the configured keys are asked for, ``custom_fields=k1,k2``)
``PATCH /api/v2/persons/{id}``                 sentiment: ``{"custom_fields": {<key>: "positive"}}``
``GET  /api/v2/activities``                    ``person_id, done=true, sort_by=due_date, sort_direction=desc,
                                               limit, cursor`` (``additional_data.next_cursor``)
``POST /api/v2/activities``                    call / email / appointment → ``type`` call / email / meeting,
                                               ``done: true``, ``due_date``/``due_time`` (UTC), the primary
                                               participant, ``note`` = :func:`compose_html_body`
``GET  /v1/notes``                             ``person_id, sort="add_time DESC", start, limit``
                                               (``additional_data.pagination.{more_items_in_collection,next_start}``)
``POST /v1/notes``                             chat / system → ``{content, person_id, add_time}``
``GET  /v1/users/me``                          ``ping()`` (the API has no v2 equivalent)
=============================================  ==============================================================

v2 for persons and activities because the v1 ones are out of support since 2026-08-01; notes exist only in
v1. The API token travels in the ``x-api-token`` header, never as ``?api_token=`` (URLs end up in logs).

Mappings
--------
Pipedrive has no lifecycle stage, no sentiment, no tags and no tickets (PROVIDERS.md §1.3), so
``PIPEDRIVE_FIELDS`` maps nothing: stage, tags and sentiment are ``None``/``[]`` unless
``CRM_STAGE_PROPERTY`` / ``CRM_STATUS_PROPERTY`` / ``CRM_TAGS_PROPERTY`` / ``CRM_SENTIMENT_PROPERTY`` name
person custom fields by their 40-character hash key. Their values go through :class:`CrmFieldMap`
(stage names as they are, or through ``CRM_STAGE_MAP``; tags ``;``/``,``-separated; sentiment
``positive|neutral|negative``); a value the map does not know is ``None`` and reported in
``unmapped_fields``. **Limitation:** only text-type custom fields work — single/multiple option fields
hold option *ids*, which are reported as unmapped values rather than translated.
``get_open_tickets`` raises ``CapabilityNotSupported`` and the context has ``open_tickets=None``.

History merges activities and notes, newest first. Times, types and sentiments come from our footer
(:func:`parse_body`) when present; otherwise a note is a ``chat`` at its ``add_time`` and an activity is
``call``/``email``/``appointment`` (``meeting``, ``lunch``) or ``system`` (any other type) at its
``due_date`` + ``due_time`` (else ``marked_as_done_time``, else the due date at 00:00 UTC).

Quirks and decisions
--------------------
* The person is found by email once and its id remembered (:class:`VendorIdCache`); when a remembered
  id answers 404/410, it is forgotten and the email searched again once.
* ``exact_match`` search is case-insensitive (Pipedrive docs); we still only accept a hit whose emails
  contain the profile's email, because a search result naming a different address is not our customer.
* ``contact_email`` is the person's primary email, reported only when none of the person's emails is the
  profile's (a person with the profile's address as a secondary email is not an inconsistency).
* Only *done* activities count as interactions (a scheduled future meeting is not "the last
  interaction"): ``done=true`` is sent and also checked on each item, in case the filter is ignored.
* ``last_interaction`` reads one small page (10) of each list rather than ``limit=1``: a list request
  costs the same daily-budget tokens whatever its size, and a page guards against same-day activities
  that ``sort_by=due_date`` may order by date only.
* ``due_time`` has minutes only and is UTC; the exact time (seconds) is in the footer, which wins.
  ``duration`` is sent only when ``interaction.metadata`` names one (``duration_minutes``): Pipedrive
  would otherwise show a made-up length.
* ``log_interaction`` with a sentiment also writes the sentiment field when one is configured; without
  ``CRM_SENTIMENT_PROPERTY`` the footer alone records it (``update_sentiment`` then raises
  ``ConfigurationError``). The note/activity is created first, the field patched after.
* ``CRM_ENDPOINT`` is the company domain (``https://acme.pipedrive.com``); a trailing ``/api/v2``,
  ``/api/v1`` or ``/v1`` someone copied from the docs is dropped.

Errors and limits
-----------------
Error bodies are ``{"success": false, "error", "error_info", "data", "additional_data"}``. The company's
daily token budget (shared by every user and integration) used up — HTTP 429 with
``x-daily-requests-left: 0`` or an error text naming the daily budget/limit — is ``QuotaExhausted`` with
``resets_at`` = next 00:00 UTC (the budget resets "at the start of the next day" in the company's time
zone, which we do not know; the docs compute ``x-daily-requests-left`` in UTC). Any other 429 is
``RateLimited`` after ``Retry-After``, else ``x-ratelimit-reset`` (seconds left in the 2-second
window), else 2 s. 401/403 → ``ProviderAuthError``. Nothing is retried here.

Facts PROVIDERS.md marks **unconfirmed** that this module relies on
------------------------------------------------------------------
* v2 error bodies have the v1 shape — relied on only for the message; any other JSON (or none) still
  maps by HTTP status, so a different v2 shape costs a message, not a wrong error class.
* The daily-budget rendering (the docs say only "rejected with a 429"; no body or header is documented
  for it): decided to treat a 429 with ``x-daily-requests-left: 0`` (the docs' per-day counter, sent for
  api_token requests) or an error text naming a daily budget/limit as the quota; any other 429 is the
  2-second burst window and stays a short ``RateLimited``.
* No v2 "current user" endpoint exists, so ``ping()`` uses ``GET /v1/users/me`` (v1 users are not among
  the endpoints that went out of support).
* Budget reset time: the docs say "the start of the next day" without a zone → next UTC midnight.
* ``sort_by=due_date`` and ``done`` on ``GET /api/v2/activities``: the current v2 OpenAPI lists both (older
  generated clients list only ``id|update_time|add_time``). Sent as documented; the adapter still re-filters
  (done only) and re-sorts what it gets, so a server ignoring them is answered correctly within its page.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, JsonValue, SecretStr

from fearvana_integration.adapters.base import CRMAdapter
from fearvana_integration.adapters.crm.mapping import (
    CrmFieldMap,
    VendorIdCache,
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
    next_utc_midnight,
    paginate,
)
from fearvana_integration.clock import Clock
from fearvana_integration.config import Settings
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
    CapabilityNotSupported,
    ConfigurationError,
    CustomerNotFound,
    ProviderResponseInvalid,
    QuotaExhausted,
)

PROVIDER = "Pipedrive"
DEFAULT_BASE_URL = "https://api.pipedrive.com"

# No vendor field holds our stage, tags or sentiment: everything is configuration (CRM_*_PROPERTY).
PIPEDRIVE_FIELDS = CrmFieldMap(
    stage_property=None, stage_map={}, status_property=None, tags_property=None, sentiment_property=None
)

# Interaction types that become activities, with Pipedrive's built-in activity type keys; the rest are notes.
_ACTIVITY_TYPES: dict[InteractionType, str] = {"call": "call", "email": "email", "appointment": "meeting"}
# Reading back activities we did not write.
_FROM_ACTIVITY_TYPE: dict[str, InteractionType] = {
    "call": "call",
    "email": "email",
    "meeting": "appointment",
    "lunch": "appointment",
}
_SEARCH_PAGE = 10
_RECENT_PAGE = 10  # one small page per list for last_interaction (a list costs the same tokens at any size)
_MAX_PAGE = 500  # Pipedrive's maximum `limit` for v1 and v2 lists
_MAX_CUSTOM_FIELD_KEYS = 15  # GET /api/v2/persons/{id}?custom_fields= takes at most 15 keys
_SUBJECT_CHARS = 80
_GONE = (404, 410)
_DAILY_BUDGET_WORDS = re.compile(r"daily|budget", re.IGNORECASE)

T = TypeVar("T")


# Wire models -----------------------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _EmailValue(_Wire):
    value: str
    primary: bool = False


class _Cursor(_Wire):
    next_cursor: str | None = None


class _SearchItem(_Wire):
    id: int
    name: str | None = None
    # The v2 search returns plain strings; accept the person shape too.
    emails: list[str | _EmailValue] = []


class _SearchHit(_Wire):
    item: _SearchItem


class _SearchData(_Wire):
    items: list[_SearchHit] = []


class _SearchResponse(_Wire):
    data: _SearchData | None = None
    additional_data: _Cursor | None = None


class _Person(_Wire):
    id: int
    name: str | None = None
    emails: list[_EmailValue] = []
    custom_fields: dict[str, JsonValue] | None = None
    is_deleted: bool = False


class _PersonResponse(_Wire):
    data: _Person


class _Activity(_Wire):
    id: int
    subject: str | None = None
    type: str | None = None
    due_date: str | None = None
    due_time: str | None = None
    done: bool | None = None
    marked_as_done_time: str | None = None
    note: str | None = None
    is_deleted: bool = False


class _ActivitiesResponse(_Wire):
    data: list[_Activity] | None = None
    additional_data: _Cursor | None = None


class _Note(_Wire):
    id: int
    content: str | None = None
    add_time: str


class _Pagination(_Wire):
    more_items_in_collection: bool = False
    next_start: int | None = None


class _NotesAdditional(_Wire):
    pagination: _Pagination | None = None


class _NotesResponse(_Wire):
    # v1 lists answer `"data": null` when there is nothing.
    data: list[_Note] | None = None
    additional_data: _NotesAdditional | None = None


class _Id(_Wire):
    id: int


class _Created(_Wire):
    data: _Id


# Error policy ------------------------------------------------------------------------------------------


class PipedrivePolicy(VendorPolicy):
    """Pipedrive's error body (``success/error/error_info``) and its daily token budget."""

    # A 429 naming no wait: Pipedrive's burst window is 2 seconds.
    default_retry_after: float = 2.0

    def code(self, failure: VendorFailure) -> str:
        """Pipedrive's ``errorCode`` when sent (``error`` is the message, not a code)."""
        body = failure.body
        if isinstance(body, dict):
            code = body.get("errorCode") or body.get("error_code")
            if isinstance(code, str | int) and not isinstance(code, bool) and str(code).strip():
                return str(code).strip()
        return ""

    def classify(self, failure: VendorFailure, now: datetime) -> QuotaExhausted | None:
        """The company's daily token budget is used up: nothing works before the next (UTC) midnight."""
        if failure.status != 429:
            return None
        texts: list[str] = [failure.text]
        if isinstance(failure.body, dict):
            texts += [str(failure.body.get(key) or "") for key in ("error", "error_info")]
        budget_said = any(_DAILY_BUDGET_WORDS.search(text) for text in texts)
        if failure.rate.daily_remaining == 0 or budget_said:
            return QuotaExhausted(
                "Pipedrive's daily API budget is used up (shared by the whole company)",
                resets_at=next_utc_midnight(now),
            )
        return None


class _PersonGone(Exception):
    """A person-scoped request answered 404/410: the remembered id no longer exists."""


# The adapter ---------------------------------------------------------------------------------------------


class PipedriveCRMAdapter(CRMAdapter):
    """Pipedrive persons, activities and notes as the CRM contract (see the module docstring)."""

    name: ClassVar[str] = "pipedrive"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"find_contact", "crm_context", "interaction_history", "log_interaction", "update_sentiment"}
    )

    def __init__(
        self,
        *,
        http_client: httpx.AsyncClient,
        clock: Clock,
        api_token: str | SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        field_map: CrmFieldMap | None = None,
    ) -> None:
        """An adapter on the runtime's client.

        ``api_token``: the Pipedrive API token (sent as ``x-api-token``). ``base_url``: Pipedrive's
        API host or the company domain. ``field_map``: which person custom fields hold stage, status,
        tags and sentiment (None → ``PIPEDRIVE_FIELDS``, i.e. none).
        """
        token = api_token.get_secret_value() if isinstance(api_token, SecretStr) else api_token
        if not token.strip():
            raise ConfigurationError("Missing required environment variable: CRM_API_KEY (CRM_PROVIDER=pipedrive)")
        self._token = SecretStr(token.strip())
        self.clock = clock
        self.field_map = field_map or PIPEDRIVE_FIELDS
        self.http = VendorHttp(
            http_client,
            provider=PROVIDER,
            source="crm",
            base_url=_company_root(base_url),
            clock=clock,
            policy=PipedrivePolicy(),
            auth_headers=self._auth_headers,
        )
        self._ids = VendorIdCache()

    @classmethod
    def from_settings(cls, settings: Settings, *, http_client: httpx.AsyncClient, clock: Clock) -> Self:
        """``CRM_API_KEY`` (the API token), ``CRM_ENDPOINT`` (company domain) and the ``CRM_*`` field mapping."""
        key = settings.crm_api_key
        if key is None or not key.get_secret_value().strip():
            raise ConfigurationError("Missing required environment variable: CRM_API_KEY (CRM_PROVIDER=pipedrive)")
        return cls(
            http_client=http_client,
            clock=clock,
            api_token=key,
            base_url=settings.crm_endpoint or DEFAULT_BASE_URL,
            field_map=CrmFieldMap.from_settings(settings, PIPEDRIVE_FIELDS),
        )

    async def _auth_headers(self) -> dict[str, str]:
        return {"x-api-token": self._token.get_secret_value()}

    # Contract ---------------------------------------------------------------------------------------------

    async def ping(self) -> None:
        """``GET /v1/users/me``: the cheapest authenticated request (a single entity)."""
        await self.http.json("GET", "/v1/users/me", _Created, operation="ping")

    async def find_contact(self, customer: CustomerRef) -> CrmContact | None:
        """The Pipedrive person with the profile's email, or None."""

        async def action(person_id: int) -> _Person:
            return await self._get_person(person_id, "find_contact")

        person = await self._with_person(customer, "find_contact", action)
        if person is None:
            return None
        return CrmContact(id=str(person.id), email=_matching_email(person, customer), display_name=person.name)

    async def get_crm_context(self, customer: CustomerRef) -> CRMContext | None:
        """Stage/tags/sentiment from the configured custom fields, last interaction; no tickets (None)."""
        operation = "get_crm_context"

        async def action(person_id: int) -> tuple[_Person, datetime | None]:
            person, activities, notes = await concurrently(
                self._get_person(person_id, operation),
                self._activity_page(person_id, operation, limit=_RECENT_PAGE, cursor=None),
                self._note_page(person_id, operation, limit=_RECENT_PAGE, start=None),
            )
            records = [_activity_record(item, operation) for item in activities[0]]
            records += [_note_record(item, operation) for item in notes[0]]
            return person, max((record.timestamp for record in records), default=None)

        found = await self._with_person(customer, operation, action)
        if found is None:
            return None
        person, last_interaction = found
        fields = person.custom_fields or {}
        field_map = self.field_map
        stage = field_map.stage(_field(fields, field_map.stage_property), _field(fields, field_map.status_property))
        sentiment = CrmFieldMap.sentiment(_field(fields, field_map.sentiment_property))
        return CRMContext(
            lifecycle_stage=stage.stage,
            tags=CrmFieldMap.tags(_field(fields, field_map.tags_property)),
            last_interaction=last_interaction,
            sentiment=sentiment.sentiment,
            open_tickets=None,
            tickets=[],
            contact_email=_differing_email(person, customer),
            unmapped_fields=unmapped_fields(stage, sentiment),
        )

    async def get_open_tickets(self, customer: CustomerRef) -> list[Ticket]:
        """Pipedrive has no support tickets."""
        raise CapabilityNotSupported(PROVIDER, "tickets")

    async def get_interaction_history(self, customer: CustomerRef, limit: int = 20) -> list[InteractionRecord]:
        """Done activities and notes of the person, merged newest first, at most ``limit``."""
        if limit <= 0:
            return []
        operation = "get_interaction_history"

        async def action(person_id: int) -> list[InteractionRecord]:
            activities, notes = await concurrently(
                self._activities(person_id, operation, limit), self._notes(person_id, operation, limit)
            )
            records = [_activity_record(item, operation) for item in activities] + [
                _note_record(item, operation) for item in notes
            ]
            records.sort(key=lambda record: record.timestamp, reverse=True)
            return records[:limit]

        history = await self._with_person(customer, operation, action)
        return history or []

    async def log_interaction(self, customer: CustomerRef, interaction: Interaction) -> str:
        """A chat (or system event) becomes a note, a call/email/appointment a done activity."""
        operation = "log_interaction"

        async def action(person_id: int) -> str:
            if interaction.type in _ACTIVITY_TYPES:
                created = await self._person_scoped(
                    "POST", "/api/v2/activities", _Created, operation, json_body=_activity_body(person_id, interaction)
                )
            else:
                created = await self._person_scoped(
                    "POST", "/v1/notes", _Created, operation, json_body=_note_body(person_id, interaction)
                )
            if interaction.sentiment is not None and self.field_map.sentiment_property:
                try:
                    await self._patch_sentiment(person_id, interaction.sentiment, operation)
                except _PersonGone:
                    # Deleted in the meantime: the interaction is logged; searching again would log it twice.
                    self._ids.forget(customer.email)
            return str(created.data.id)

        crm_id = await self._with_person(customer, operation, action)
        if crm_id is None:
            raise CustomerNotFound(f"{customer.id} (not in the CRM)")
        return crm_id

    async def update_sentiment(self, customer: CustomerRef, sentiment: Sentiment) -> None:
        """Write ``sentiment`` into the person custom field named by ``CRM_SENTIMENT_PROPERTY``."""
        if not self.field_map.sentiment_property:
            raise ConfigurationError(
                "Pipedrive has no sentiment field: set CRM_SENTIMENT_PROPERTY to the key of a text person field"
            )
        operation = "update_sentiment"

        async def action(person_id: int) -> bool:
            await self._patch_sentiment(person_id, sentiment, operation)
            return True

        if await self._with_person(customer, operation, action) is None:
            raise CustomerNotFound(f"{customer.id} (not in the CRM)")

    # Finding the person -------------------------------------------------------------------------------------

    async def _with_person(
        self, customer: CustomerRef, operation: str, action: Callable[[int], Awaitable[T]]
    ) -> T | None:
        """Run ``action(person_id)``; None when the customer is not in Pipedrive.

        A remembered id that 404s is forgotten and the email searched again, once.
        """
        remembered = self._ids.get(customer.email)
        if remembered is not None:
            try:
                return await action(int(remembered))
            except _PersonGone:
                self._ids.forget(customer.email)
        person_id = await self._search(customer, operation)
        if person_id is None:
            return None
        self._ids.put(customer.email, str(person_id))
        try:
            return await action(person_id)
        except _PersonGone:
            # Deleted between the search and the read: as good as not in the CRM.
            self._ids.forget(customer.email)
            return None

    async def _search(self, customer: CustomerRef, operation: str) -> int | None:
        email = customer.email.strip()
        wanted = email.casefold()

        async def fetch(cursor: str | None) -> tuple[list[_SearchItem], str | None]:
            params: dict[str, Any] = {"term": email, "fields": "email", "exact_match": "true", "limit": _SEARCH_PAGE}
            if cursor is not None:
                params["cursor"] = cursor
            page = await self.http.json(
                "GET", "/api/v2/persons/search", _SearchResponse, operation=operation, params=params
            )
            items = [hit.item for hit in page.data.items] if page.data else []
            return items, page.additional_data.next_cursor if page.additional_data else None

        async for item in paginate(fetch):
            addresses = [_address(value).casefold() for value in item.emails]
            # An item listing emails must list ours; one listing none is taken on the exact match's word.
            if not addresses or wanted in addresses:
                return item.id
        return None

    async def _get_person(self, person_id: int, operation: str) -> _Person:
        params: dict[str, Any] = {}
        keys = self.field_map.properties()
        if keys and len(keys) <= _MAX_CUSTOM_FIELD_KEYS:
            # Only the fields we map: a smaller, faster answer (Pipedrive accepts up to 15 keys).
            params["custom_fields"] = ",".join(dict.fromkeys(keys))
        response = await self._person_scoped("GET", f"/api/v2/persons/{person_id}", _PersonResponse, operation, params)
        if response.data.is_deleted:
            raise _PersonGone
        return response.data

    async def _person_scoped(
        self,
        method: str,
        path: str,
        model: type[T],
        operation: str,
        params: dict[str, Any] | None = None,
        *,
        json_body: Any = None,
    ) -> T:
        """A request about one person: 404/410 means the person is gone (``_PersonGone``), not an error."""
        response = await self.http.send(
            method, path, operation=operation, params=params, json_body=json_body, accept=_GONE
        )
        if response.status_code in _GONE:
            raise _PersonGone
        return self.http.parse(response, model, operation=operation)

    async def _patch_sentiment(self, person_id: int, sentiment: Sentiment, operation: str) -> None:
        key = self.field_map.sentiment_property
        assert key is not None  # checked by the callers
        await self._person_scoped(
            "PATCH",
            f"/api/v2/persons/{person_id}",
            _PersonResponse,
            operation,
            json_body={"custom_fields": {key: sentiment}},
        )

    # Lists ----------------------------------------------------------------------------------------------------

    async def _activity_page(
        self, person_id: int, operation: str, *, limit: int, cursor: str | None
    ) -> tuple[list[_Activity], str | None]:
        params: dict[str, Any] = {
            "person_id": person_id,
            "done": "true",
            "sort_by": "due_date",
            "sort_direction": "desc",
            "limit": min(max(limit, 1), _MAX_PAGE),
        }
        if cursor is not None:
            params["cursor"] = cursor
        page = await self._person_scoped("GET", "/api/v2/activities", _ActivitiesResponse, operation, params)
        # Re-checked here: a scheduled (not done) or deleted activity is not an interaction.
        items = [item for item in page.data or [] if item.done is not False and not item.is_deleted]
        return items, page.additional_data.next_cursor if page.additional_data else None

    async def _activities(self, person_id: int, operation: str, limit: int) -> list[_Activity]:
        async def fetch(cursor: str | None) -> tuple[list[_Activity], str | None]:
            return await self._activity_page(person_id, operation, limit=limit, cursor=cursor)

        return await collect(fetch, limit=limit)

    async def _note_page(
        self, person_id: int, operation: str, *, limit: int, start: int | None
    ) -> tuple[list[_Note], str | None]:
        params: dict[str, Any] = {
            "person_id": person_id,
            "sort": "add_time DESC",
            "start": start or 0,
            "limit": min(max(limit, 1), _MAX_PAGE),
        }
        page = await self._person_scoped("GET", "/v1/notes", _NotesResponse, operation, params)
        pagination = page.additional_data.pagination if page.additional_data else None
        more = pagination is not None and pagination.more_items_in_collection and pagination.next_start is not None
        next_start = str(pagination.next_start) if more and pagination is not None else None
        return list(page.data or []), next_start

    async def _notes(self, person_id: int, operation: str, limit: int) -> list[_Note]:
        async def fetch(cursor: str | None) -> tuple[list[_Note], str | None]:
            return await self._note_page(
                person_id, operation, limit=limit, start=int(cursor) if cursor is not None else None
            )

        return await collect(fetch, limit=limit)


# Helpers ----------------------------------------------------------------------------------------------------


def _company_root(base_url: str) -> str:
    """The host part we append ``/api/v2/…`` and ``/v1/…`` to (an API path copied from the docs is dropped)."""
    root = base_url.strip().rstrip("/")
    for suffix in ("/api/v2", "/api/v1", "/v1", "/v2"):
        if root.endswith(suffix):
            return root[: -len(suffix)]
    return root


def _address(value: str | _EmailValue) -> str:
    return (value if isinstance(value, str) else value.value).strip()


def _field(fields: dict[str, JsonValue], key: str | None) -> object:
    """A custom field's value; None when not configured or not set."""
    if key is None:
        return None
    return fields.get(key)


def _primary_email(person: _Person) -> str | None:
    for email in person.emails:
        if email.primary and email.value.strip():
            return email.value.strip()
    return next((email.value.strip() for email in person.emails if email.value.strip()), None)


def _matching_email(person: _Person, customer: CustomerRef) -> str:
    wanted = customer.email.strip().casefold()
    for email in person.emails:
        if email.value.strip().casefold() == wanted:
            return email.value.strip()
    return _primary_email(person) or customer.email


def _differing_email(person: _Person, customer: CustomerRef) -> str | None:
    wanted = customer.email.strip().casefold()
    if any(email.value.strip().casefold() == wanted for email in person.emails):
        return None
    return _primary_email(person)


def _activity_time(activity: _Activity) -> datetime:
    """``due_date`` + ``due_time`` (UTC), else ``marked_as_done_time``, else the due date at 00:00 UTC."""
    if activity.due_date and activity.due_time:
        return parse_vendor_time(f"{activity.due_date}T{activity.due_time}")
    if activity.marked_as_done_time:
        return parse_vendor_time(activity.marked_as_done_time)
    if activity.due_date:
        return parse_vendor_time(activity.due_date)
    raise ValueError("no date")


def _vendor_time(read: Callable[[], datetime], item_id: int, operation: str) -> datetime:
    """A vendor time; a missing or garbled one breaks the documented shape (ProviderResponseInvalid)."""
    try:
        return read()
    except ValueError:
        raise ProviderResponseInvalid(
            f"{PROVIDER} sent an item without a readable date (id {item_id})", source="crm", operation=operation
        ) from None


def _activity_record(activity: _Activity, operation: str) -> InteractionRecord:
    parsed = parse_body(activity.note)
    timestamp = parsed.timestamp or _vendor_time(lambda: _activity_time(activity), activity.id, operation)
    kind = parsed.type or _FROM_ACTIVITY_TYPE.get((activity.type or "").casefold(), "system")
    return InteractionRecord(
        crm_id=str(activity.id),
        type=kind,
        timestamp=timestamp,
        summary=parsed.summary or (activity.subject or "").strip(),
        sentiment=parsed.sentiment,
    )


def _note_record(note: _Note, operation: str) -> InteractionRecord:
    parsed = parse_body(note.content)
    timestamp = parsed.timestamp or _vendor_time(lambda: parse_vendor_time(note.add_time), note.id, operation)
    return InteractionRecord(
        crm_id=str(note.id),
        type=parsed.type or "chat",
        timestamp=timestamp,
        summary=parsed.summary,
        sentiment=parsed.sentiment,
    )


def _subject(interaction: Interaction) -> str:
    first_line = interaction.summary.strip().splitlines()[0].strip() if interaction.summary.strip() else ""
    if len(first_line) > _SUBJECT_CHARS:
        first_line = first_line[: _SUBJECT_CHARS - 1].rstrip() + "…"
    return first_line or interaction.type.capitalize()


def _duration(interaction: Interaction) -> str | None:
    minutes = (interaction.metadata or {}).get("duration_minutes")
    if isinstance(minutes, int) and not isinstance(minutes, bool) and minutes > 0:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    return None


def _activity_body(person_id: int, interaction: Interaction) -> dict[str, Any]:
    at = interaction.timestamp
    body: dict[str, Any] = {
        "subject": _subject(interaction),
        "type": _ACTIVITY_TYPES[interaction.type],
        "due_date": at.strftime("%Y-%m-%d"),
        "due_time": at.strftime("%H:%M"),
        "done": True,
        "participants": [{"person_id": person_id, "primary": True}],
        "note": compose_html_body(interaction),
    }
    duration = _duration(interaction)
    if duration is not None:
        body["duration"] = duration
    return body


def _note_body(person_id: int, interaction: Interaction) -> dict[str, Any]:
    return {
        "content": compose_html_body(interaction),
        "person_id": person_id,
        # v1 takes UTC "YYYY-MM-DD HH:MM:SS"; the note then sorts at the interaction's time, not the logging time.
        "add_time": interaction.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
    }
