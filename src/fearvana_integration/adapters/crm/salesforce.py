"""Salesforce as the CRM: REST API over httpx, OAuth 2.0 client-credentials, SOQL for every read.

Endpoints used (paths under the instance URL; ``{v}`` is ``CRM_SALESFORCE_API_VERSION``, default v62.0)
-------------------------------------------------------------------------------------------------------
``POST {login_url}/services/oauth2/token``   form ``grant_type=client_credentials, client_id, client_secret``
                                              → ``{"access_token", "instance_url", ...}``
``GET /services/data/{v}/query?q=<SOQL>``     every read; ``nextRecordsUrl`` followed (:func:`collect`)
``POST /services/data/{v}/sobjects/Task``     chat, call, email (and system) interactions → 201 ``{"id", ...}``
``POST /services/data/{v}/sobjects/Event``    appointments → 201 ``{"id", ...}``
``PATCH /services/data/{v}/sobjects/Contact/{Id}``  the sentiment field → 204
``GET /services/data/{v}/limits``             ``ping`` (authenticated and cheap)

SOQL, kept to one object per query and no relationship fields or subqueries::

    SELECT Id, Email, FirstName, LastName, LastActivityDate, <mapped fields> FROM Contact
      WHERE Email = '<email>' ORDER BY LastModifiedDate DESC LIMIT 2        (Id = '<id>' once remembered)
    SELECT Id, Subject, Status, Priority, CreatedDate FROM Case
      WHERE ContactId = '<id>' AND IsClosed = false ORDER BY CreatedDate DESC
    SELECT Id, Subject, Description, TaskSubtype, ActivityDate, CreatedDate FROM Task
      WHERE WhoId = '<id>' AND IsClosed = true ORDER BY ActivityDate DESC NULLS LAST, CreatedDate DESC LIMIT n
    SELECT Id, Subject, Description, StartDateTime, CreatedDate FROM Event
      WHERE WhoId = '<id>' AND StartDateTime <= <now> ORDER BY StartDateTime DESC, CreatedDate DESC LIMIT n

String literals are escaped by SOQL's rules (backslash before ``\\`` and ``'``; ``\\n``, ``\\r``, ``\\t``,
``\\b``, ``\\f``, ``\\"`` as documented under "Quoted String Escape Sequences"), so an email such as
``o'brien@example.com`` is a literal, never SOQL. Field names come from configuration and must be API
names (``Lifecycle_Stage__c``); anything else is a ConfigurationError at construction.

Mappings
--------
* Stage: ``Lifecycle_Stage__c`` (a custom picklist holding our stage names, e.g. ``Active``, ``At-Risk``);
  with the default empty ``CRM_STAGE_MAP`` a value that is one of our stages passes through
  case-insensitively, anything else is ``None`` plus ``unmapped_fields``. No status field by default.
* Tags: ``Fearvana_Tags__c`` (multi-select picklist, ``;``-separated). Sentiment: ``AI_Sentiment__c``,
  written as ``Positive``/``Neutral``/``Negative`` (Salesforce picklist values are conventionally
  capitalised, as the stage values are) and read back case-insensitively.
* Interactions: chat (and system) → Task ``TaskSubtype=Task``; call → Task ``TaskSubtype=Call`` with
  ``CallType`` from ``metadata["callType"|"call_type"|"direction"]`` (Inbound/Outbound/Internal, else
  Outbound); email → Task ``TaskSubtype=Email``; appointment → Event (``StartDateTime`` = the
  timestamp, ``DurationInMinutes`` = ``metadata["duration"]`` or 60). Tasks are ``Status=Completed``
  with ``ActivityDate`` = the UTC date. ``Description`` = :func:`compose_body` (plain text; Salesforce
  does not render HTML in it; at most 5,000 + footer characters, well under its 32,000 limit).
  Chat is a Task rather than a ContentNote because a ContentNote needs a second call (a
  ContentDocumentLink to the contact), is not an activity (no ``LastActivityDate``, not in the
  activity timeline's history) and would need a third query to read back.
* History and last interaction: what Salesforce calls activity history — closed Tasks and Events
  that have started (an open Task is a to-do, a future Event a plan, neither an interaction).
  ``Task.ActivityDate`` is a date only, so the exact time is read from our body footer, else
  ``Event.StartDateTime``, else ``ActivityDate`` at 00:00 UTC. Without our footer, TaskSubtype
  Call → call, Email/ListEmail → email, other Tasks → chat, Events → appointment.
  ``last_interaction`` is the newest such time that is not in the future, or the contact's
  ``LastActivityDate`` (00:00 UTC) when that date is later and not in the future (Salesforce counts
  the due dates of open tasks and future events in it).

Quirks
------
* Auth: one token in memory, minted on first use (single flight: concurrent callers share one token
  request; when that request fails, every caller that waited for it gets its error instead of
  minting again). The client-credentials response has no ``expires_in`` (the session policy decides),
  so a 401 from a data call re-mints once and retries that request once (``VendorHttp.on_unauthorized``);
  a second 401 is ProviderAuthError. Token endpoint refusals (``{"error": "invalid_client", ...}``,
  any 4xx) are ProviderAuthError, except ``rate_limit_exceeded`` (the login rate limit, 3,600 token
  requests per user per hour: QuotaExhausted, resetting an hour later at the latest); its 5xx are
  ProviderUnavailable. Data calls go to the token's
  ``instance_url`` unless ``CRM_ENDPOINT`` overrides it.
* Errors are JSON arrays ``[{"message", "errorCode", "fields"}]``. Salesforce never sends 429: a 403
  ``REQUEST_LIMIT_EXCEEDED`` is either the rolling 24-hour request allocation (QuotaExhausted with
  ``resets_at=None``: Salesforce publishes no reset time for a rolling window) or, when its message
  names the concurrent long-running request limit (``ConcurrentPerOrgLongTxn`` / "concurrent"),
  a short throttle (RateLimited, ``Retry-After`` if sent, else 20 s: a request counts as long-running
  after 20 s). Any other 403 is ProviderAuthError.
* The contact id is remembered per email (:class:`VendorIdCache`). Reads with a remembered id run the
  ``Contact WHERE Id =`` query alongside the other queries (no extra latency); no record means the
  contact was deleted or merged (SOQL's 404), so the id is forgotten and the email searched once.
  Writes use a remembered id optimistically; a 404 or a ``ENTITY_IS_DELETED`` /
  ``INVALID_CROSS_REFERENCE_KEY`` refusal forgets it and searches once.
* ``log_interaction`` writes the activity first and the sentiment second, so the sentiment never
  changes without the interaction being logged.

Facts PROVIDERS.md marks unconfirmed, and how they were decided
---------------------------------------------------------------
* Newest API version (v66–v67): not relied on; the default is v62.0 (configurable), which has every
  field used here.
* Sentiment has no native field: relied on, the ``AI_Sentiment__c`` custom field is the default and
  ``CRM_SENTIMENT_PROPERTY`` names another.
* Query batch size range / ``Sforce-Query-Options``: not used; ``nextRecordsUrl`` is followed whatever
  the batch size.
* Composite API counting as one call: not used (two writes at most, sequential on purpose).
* Daily allocation formula and ``api-bursts``: not used; only ``REQUEST_LIMIT_EXCEEDED`` is acted on.
* Topics / CampaignMember as tags: not used; tags are a multi-select picklist field.
* No idempotency key on sObject creates (absence unconfirmed): relied on — the adapter never retries
  a create itself (except after a stale-id refusal, when nothing was created), and our interaction id
  travels in the body footer so a duplicate can be recognised.
* Which 400 codes a create with a deleted ``WhoId`` answers (``ENTITY_IS_DELETED`` or
  ``INVALID_CROSS_REFERENCE_KEY``, both documented StatusCodes): treated as "contact gone"; anything
  else is ProviderRejected.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, SecretStr, TypeAdapter, ValidationError

from fearvana_integration.adapters.base import CRMAdapter
from fearvana_integration.adapters.crm.mapping import (
    CrmFieldMap,
    VendorIdCache,
    compose_body,
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
    ConfigurationError,
    CustomerNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    QuotaExhausted,
    RateLimited,
)
from fearvana_integration.observability.redaction import redact_text

PROVIDER = "Salesforce"
SOURCE = "crm"
DEFAULT_API_VERSION = "v62.0"

SALESFORCE_FIELDS = CrmFieldMap(
    stage_property="Lifecycle_Stage__c",
    stage_map={},
    status_property=None,
    tags_property="Fearvana_Tags__c",
    sentiment_property="AI_Sentiment__c",
)
"""Salesforce's defaults: custom fields on Contact holding our own stage names, tags and sentiment."""

# Open tickets shown in a context (the count stays the full count).
MAX_CONTEXT_TICKETS = 20
# Activities read for the last-interaction time: enough to cover several on the newest date, whose
# order inside the date (CreatedDate) may differ from the exact times in our footers.
LAST_INTERACTION_WINDOW = 10
# A long-running request is one over 20 s; with no Retry-After, a slot is likely free again by then.
CONCURRENT_LIMIT_RETRY_SECONDS = 20.0
# Salesforce's answer to "Login Rate Exceeded" (help article 000381578): wait one hour.
LOGIN_RATE_WINDOW = timedelta(hours=1)
MAX_SUBJECT_CHARS = 255
DEFAULT_EVENT_MINUTES = 60
MAX_EVENT_MINUTES = 14 * 24 * 60  # Salesforce events last at most 14 days

_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_STALE_ID_CODES = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})
_SOQL_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_SUBJECTS: dict[InteractionType, str] = {
    "chat": "Chat with the coach",
    "call": "Call with the coach",
    "email": "Email with the coach",
    "appointment": "Coaching session",
    "system": "Note from the coaching system",
}
_TASK_SUBTYPES: dict[InteractionType, str] = {"chat": "Task", "system": "Task", "call": "Call", "email": "Email"}
_KIND_OF_SUBTYPE: dict[str, InteractionType] = {"call": "call", "email": "email", "listemail": "email"}
_CALL_TYPES = {"inbound": "Inbound", "outbound": "Outbound", "internal": "Internal"}
# Token endpoint answers that mean "these credentials are refused" (408 and 429 keep their usual meaning).
_TOKEN_REFUSALS = tuple(status for status in range(400, 500) if status not in (408, 429))

# The contract method a request belongs to (tokens are minted inside VendorHttp's auth hook, which
# knows no operation), and the token a request was sent with (so a 401 invalidates that one only).
_OPERATION: ContextVar[str] = ContextVar("salesforce_operation", default="")
_SENT_TOKEN: ContextVar[str | None] = ContextVar("salesforce_sent_token", default=None)

T = TypeVar("T")
R = TypeVar("R", bound=BaseModel)


def soql_literal(value: str) -> str:
    """``value`` as a quoted SOQL string literal (SOQL's escape sequences; never string-built SOQL)."""
    return "'" + "".join(_SOQL_ESCAPES.get(char, char) for char in value) + "'"


def soql_datetime(moment: datetime) -> str:
    """``moment`` as a SOQL datetime literal in UTC, rounded up to the second (so ``<=`` keeps it)."""
    whole = moment.astimezone(UTC).replace(microsecond=0)
    if moment.microsecond:
        whole += timedelta(seconds=1)
    return whole.strftime("%Y-%m-%dT%H:%M:%SZ")


# Wire models ----------------------------------------------------------------------------------------


def _vendor_time(value: object) -> object:
    # Salesforce writes "2026-11-23T08:00:00.000+0000"; parse_vendor_time reads every form it uses.
    return parse_vendor_time(value) if isinstance(value, str) else value


VendorTime = Annotated[datetime, BeforeValidator(_vendor_time)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Token(_Wire):
    access_token: str = Field(min_length=1)
    instance_url: str = Field(min_length=1)


class _OAuthError(_Wire):
    error: str = ""
    error_description: str = ""


class _ApiError(_Wire):
    message: str = ""
    errorCode: str = ""
    fields: list[str] = []


class _Created(_Wire):
    id: str = Field(min_length=1)
    success: bool = True
    errors: list[_ApiError] = []


class _Contact(BaseModel):
    # Mapped fields are configurable, so they arrive as extras and are read by name (case-insensitively:
    # Salesforce answers with the field's canonical spelling whatever the SOQL said).
    model_config = ConfigDict(extra="allow", frozen=True)

    Id: str = Field(min_length=1)
    Email: str | None = None
    FirstName: str | None = None
    LastName: str | None = None
    LastActivityDate: date | None = None

    def field(self, name: str | None) -> object:
        """The value of the configured field ``name`` (None when not configured or not returned)."""
        if name is None:
            return None
        extra: dict[str, Any] = self.model_extra or {}
        if name in extra:
            return _scalar(extra[name])
        folded = name.casefold()
        for key, value in extra.items():
            if key.casefold() == folded:
                return _scalar(value)
        return None


def _scalar(value: object) -> object:
    # A picklist is a string, a multi-select a ";"-list; a number or flag is read as text. Anything
    # structured means the configured name is not a plain field: treat it as "no value".
    return value if isinstance(value, str | int | float | list) and not isinstance(value, bool) else None


class _Case(_Wire):
    Id: str = Field(min_length=1)
    Subject: str | None = None
    Status: str | None = None
    Priority: str | None = None
    CreatedDate: VendorTime | None = None


class _Task(_Wire):
    Id: str = Field(min_length=1)
    Subject: str | None = None
    Description: str | None = None
    TaskSubtype: str | None = None
    ActivityDate: date | None = None
    CreatedDate: VendorTime


class _Event(_Wire):
    Id: str = Field(min_length=1)
    Subject: str | None = None
    Description: str | None = None
    StartDateTime: VendorTime | None = None
    CreatedDate: VendorTime


class _QueryPage(BaseModel, Generic[R]):
    model_config = ConfigDict(extra="ignore", frozen=True)

    totalSize: int = Field(ge=0)
    done: bool
    records: list[R]
    nextRecordsUrl: str | None = None


class _ContactPage(_QueryPage[_Contact]):
    pass


class _CasePage(_QueryPage[_Case]):
    pass


class _TaskPage(_QueryPage[_Task]):
    pass


class _EventPage(_QueryPage[_Event]):
    pass


_ERRORS: TypeAdapter[list[_ApiError]] = TypeAdapter(list[_ApiError])
_LIMITS: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])


# Error policy ---------------------------------------------------------------------------------------


class SalesforcePolicy(VendorPolicy):
    """Salesforce's errors: JSON arrays, and 403 ``REQUEST_LIMIT_EXCEEDED`` instead of 429."""

    default_retry_after = CONCURRENT_LIMIT_RETRY_SECONDS

    def classify(self, failure: VendorFailure, now: datetime) -> ProviderError | None:
        """403 REQUEST_LIMIT_EXCEEDED is either the concurrency throttle or the used-up 24-hour allocation."""
        if not self._limit_exceeded(failure):
            return None
        if self._concurrency(failure):
            wait = failure.rate.retry_after_seconds
            detail = redact_text(self.message(failure))[:200]
            return RateLimited(
                f"{PROVIDER} answered HTTP 403 REQUEST_LIMIT_EXCEEDED (too many concurrent long-running "
                f"requests): {detail}",
                retry_after=wait if wait is not None else self.default_retry_after,
            )
        return QuotaExhausted(
            f"{PROVIDER} answered HTTP 403 REQUEST_LIMIT_EXCEEDED: the org's rolling 24-hour API request "
            "allocation is used up; Salesforce publishes no reset time (requests succeed again as "
            "usage from 24 hours ago drops out of the window)",
            resets_at=None,
        )

    def _limit_exceeded(self, failure: VendorFailure) -> bool:
        return failure.status == 403 and self.code(failure) == "REQUEST_LIMIT_EXCEEDED"

    def _concurrency(self, failure: VendorFailure) -> bool:
        return "concurrent" in self.message(failure).casefold()


# The adapter ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Session:
    access_token: str
    instance_url: str


class _StaleContactId(Exception):
    """A remembered contact id no longer exists (deleted or merged). Never leaves the adapter."""


@dataclass(frozen=True)
class _ContextParts:
    open_count: int
    tickets: list[Ticket]
    newest: datetime | None


class SalesforceCRMAdapter(CRMAdapter):
    """Salesforce Contacts, Cases, Tasks and Events through the REST API (see the module docstring)."""

    name: ClassVar[str] = "salesforce"
    source: ClassVar[str] = SOURCE

    def __init__(
        self,
        *,
        http_client: httpx.AsyncClient,
        clock: Clock,
        login_url: str,
        client_id: str,
        client_secret: str | SecretStr,
        base_url: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        field_map: CrmFieldMap | None = None,
    ) -> None:
        """Build the adapter on the shared client.

        ``login_url`` is the org's My Domain URL (the client-credentials flow does not work on
        login.salesforce.com); ``base_url`` overrides the token's ``instance_url`` for data calls
        (``CRM_ENDPOINT``, fakes); ``field_map`` defaults to :data:`SALESFORCE_FIELDS`.
        """
        self.clock = clock
        self.fields = field_map or SALESFORCE_FIELDS
        for configured in self.fields.properties():
            if not _API_NAME.fullmatch(configured):
                raise ConfigurationError(
                    f"Salesforce field names must be API names such as Lifecycle_Stage__c (got {configured!r})"
                )
        if not re.fullmatch(r"v\d{2,3}\.0", api_version):
            raise ConfigurationError("CRM_SALESFORCE_API_VERSION must look like v62.0")
        self._token_url = f"{login_url.rstrip('/')}/services/oauth2/token"
        self._client_id = client_id
        self._client_secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        self._base_url = base_url.rstrip("/") if base_url else None
        self._api = f"/services/data/{api_version}"
        self._policy = SalesforcePolicy()
        self._http = VendorHttp(
            http_client,
            provider=PROVIDER,
            source=SOURCE,
            base_url=self._base_url or "",
            clock=clock,
            policy=self._policy,
            auth_headers=self._auth_headers,
            on_unauthorized=self._reauthorize,
        )
        self._ids = VendorIdCache()
        self._session: _Session | None = None
        self._session_lock = asyncio.Lock()
        self._mints = 0  # the generation: how many token requests were made
        self._mint_error: ProviderError | None = None
        contact_fields = ["Id", "Email", "FirstName", "LastName", "LastActivityDate"]
        for name in self.fields.properties():
            if name.casefold() not in {field.casefold() for field in contact_fields}:
                contact_fields.append(name)
        self._contact_fields = ", ".join(contact_fields)

    @classmethod
    def from_settings(cls, settings: Settings, *, http_client: httpx.AsyncClient, clock: Clock) -> Self:
        """From ``CRM_SALESFORCE_CLIENT_ID`` / ``_CLIENT_SECRET`` / ``_LOGIN_URL`` / ``_API_VERSION``,
        ``CRM_ENDPOINT`` and the ``CRM_*`` field mapping (``CRM_API_KEY`` is not used)."""
        secret = settings.crm_salesforce_client_secret
        login_url = _required("CRM_SALESFORCE_LOGIN_URL", settings.crm_salesforce_login_url)
        client_id = _required("CRM_SALESFORCE_CLIENT_ID", settings.crm_salesforce_client_id)
        client_secret = _required("CRM_SALESFORCE_CLIENT_SECRET", secret.get_secret_value() if secret else None)
        return cls(
            http_client=http_client,
            clock=clock,
            login_url=login_url,
            client_id=client_id,
            client_secret=client_secret,
            base_url=settings.crm_endpoint,
            api_version=settings.crm_salesforce_api_version,
            field_map=CrmFieldMap.from_settings(settings, SALESFORCE_FIELDS),
        )

    # Contract -------------------------------------------------------------------------------------

    async def ping(self) -> None:
        """``GET /limits``: proves the credentials, the instance URL and the API version in one call."""
        response = await self._send("GET", f"{self._api}/limits", "ping")
        self._http.parse(response, _LIMITS, operation="ping")

    async def find_contact(self, customer: CustomerRef) -> CrmContact | None:
        """The Contact with the profile's email (Salesforce compares emails case-insensitively)."""
        contact = await self._contact(customer, "find_contact")
        if contact is None:
            return None
        name = " ".join(part for part in (contact.FirstName, contact.LastName) if part and part.strip())
        return CrmContact(id=contact.Id, email=contact.Email or customer.email, display_name=name or None)

    async def get_crm_context(self, customer: CustomerRef) -> CRMContext | None:
        """Contact fields, open Cases and the newest Task/Event, queried concurrently."""
        operation = "get_crm_context"
        found = await self._with_contact(customer, operation, lambda contact_id: self._context_parts(contact_id))
        if found is None:
            return None
        contact, parts = found
        stage = self.fields.stage(contact.field(self.fields.stage_property), contact.field(self.fields.status_property))
        sentiment = CrmFieldMap.sentiment(contact.field(self.fields.sentiment_property))
        email = contact.Email
        differs = email is not None and email.strip().casefold() != customer.email.strip().casefold()
        return CRMContext(
            lifecycle_stage=stage.stage,
            tags=CrmFieldMap.tags(contact.field(self.fields.tags_property)),
            last_interaction=self._last_interaction(parts.newest, contact.LastActivityDate),
            sentiment=sentiment.sentiment,
            open_tickets=parts.open_count,
            tickets=parts.tickets,
            contact_email=email if differs else None,
            unmapped_fields=unmapped_fields(stage, sentiment),
        )

    async def get_open_tickets(self, customer: CustomerRef) -> list[Ticket]:
        """Every open Case of the contact (``IsClosed = false``), newest first."""
        operation = "get_open_tickets"
        found = await self._with_contact(customer, operation, lambda contact_id: self._open_cases(contact_id, None))
        return found[1][1] if found is not None else []

    async def get_interaction_history(self, customer: CustomerRef, limit: int = 20) -> list[InteractionRecord]:
        """Tasks and Events on the contact, merged by their exact time, newest first."""
        operation = "get_interaction_history"
        if limit <= 0:
            return []
        # Twice the limit from each object: Tasks sort by date only, so the exact order needs slack.
        window = min(limit * 2, 2000)
        found = await self._with_contact(customer, operation, lambda contact_id: self._activities(contact_id, window))
        return found[1][:limit] if found is not None else []

    async def log_interaction(self, customer: CustomerRef, interaction: Interaction) -> str:
        """A Task (chat, call, email, system) or an Event (appointment); then the sentiment, if given."""
        operation = "log_interaction"
        sobject = "Event" if interaction.type == "appointment" else "Task"
        crm_id = await self._write(
            customer,
            operation,
            lambda contact_id: self._create(sobject, self._activity_body(interaction, contact_id), operation),
        )
        prop = self.fields.sentiment_property
        if interaction.sentiment is not None and prop:
            value = _sentiment_value(interaction.sentiment)
            await self._write(
                customer, operation, lambda contact_id: self._patch_contact(contact_id, {prop: value}, operation)
            )
        return crm_id

    async def update_sentiment(self, customer: CustomerRef, sentiment: Sentiment) -> None:
        """``PATCH /sobjects/Contact/{Id}`` with the sentiment field (204)."""
        operation = "update_sentiment"
        prop = self.fields.sentiment_property
        if not prop:
            raise ConfigurationError(
                "No Salesforce sentiment field is configured: set CRM_SENTIMENT_PROPERTY (e.g. AI_Sentiment__c)"
            )
        value = _sentiment_value(sentiment)
        await self._write(
            customer, operation, lambda contact_id: self._patch_contact(contact_id, {prop: value}, operation)
        )

    # Contacts and the id memory -------------------------------------------------------------------

    async def _contact(self, customer: CustomerRef, operation: str) -> _Contact | None:
        remembered = self._ids.get(customer.email)
        if remembered is not None:
            contact = await self._contact_by_id(remembered, operation)
            if contact is not None:
                return contact
            self._ids.forget(customer.email)  # deleted or merged: search by email once
        return await self._find_by_email(customer, operation)

    async def _with_contact(
        self, customer: CustomerRef, operation: str, work: Callable[[str], Awaitable[T]]
    ) -> tuple[_Contact, T] | None:
        """The contact and ``work(contact_id)``; concurrently when the id is remembered."""
        token = _OPERATION.set(operation)
        try:
            remembered = self._ids.get(customer.email)
            if remembered is not None:
                contact, result = await concurrently(self._contact_by_id(remembered, operation), work(remembered))
                if contact is not None:
                    return contact, result
                self._ids.forget(customer.email)  # deleted or merged: search by email once
            found = await self._find_by_email(customer, operation)
            if found is None:
                return None
            return found, await work(found.Id)
        finally:
            _OPERATION.reset(token)

    async def _write(self, customer: CustomerRef, operation: str, action: Callable[[str], Awaitable[T]]) -> T:
        """``action(contact_id)`` with the remembered id; once more after a fresh search if it is stale."""
        token = _OPERATION.set(operation)
        try:
            remembered = self._ids.get(customer.email)
            if remembered is not None:
                try:
                    return await action(remembered)
                except _StaleContactId:
                    self._ids.forget(customer.email)
            contact = await self._find_by_email(customer, operation)
            if contact is None:
                raise CustomerNotFound(f"{customer.id} (not in the CRM)")
            try:
                return await action(contact.Id)
            except _StaleContactId:
                # Deleted between our search and the write: for the caller, not in the CRM.
                self._ids.forget(customer.email)
                raise CustomerNotFound(f"{customer.id} (not in the CRM)") from None
        finally:
            _OPERATION.reset(token)

    async def _find_by_email(self, customer: CustomerRef, operation: str) -> _Contact | None:
        # LIMIT 2 shows duplicates exist without paying for them; the most recently edited one wins.
        soql = (
            f"SELECT {self._contact_fields} FROM Contact WHERE Email = {soql_literal(customer.email.strip())} "
            "ORDER BY LastModifiedDate DESC LIMIT 2"
        )
        page = await self._page(None, soql, _ContactPage, operation)
        if not page.records:
            return None
        contact = page.records[0]
        self._ids.put(customer.email, contact.Id)
        return contact

    async def _contact_by_id(self, contact_id: str, operation: str) -> _Contact | None:
        soql = f"SELECT {self._contact_fields} FROM Contact WHERE Id = {soql_literal(contact_id)}"
        page = await self._page(None, soql, _ContactPage, operation)
        return page.records[0] if page.records else None

    # Reads ----------------------------------------------------------------------------------------

    async def _context_parts(self, contact_id: str) -> _ContextParts:
        (count, tickets), newest = await concurrently(
            self._open_cases(contact_id, MAX_CONTEXT_TICKETS), self._newest_interaction(contact_id)
        )
        return _ContextParts(open_count=count, tickets=tickets, newest=newest)

    async def _open_cases(self, contact_id: str, limit: int | None) -> tuple[int, list[Ticket]]:
        """(open count, open Cases newest first — the first ``limit`` when given)."""
        operation = _OPERATION.get()
        soql = (
            "SELECT Id, Subject, Status, Priority, CreatedDate FROM Case "
            f"WHERE ContactId = {soql_literal(contact_id)} AND IsClosed = false ORDER BY CreatedDate DESC"
        )
        totals: list[int] = []

        async def fetch(cursor: str | None) -> tuple[list[_Case], str | None]:
            page = await self._page(cursor, soql, _CasePage, operation)
            if cursor is None:
                totals.append(page.totalSize)  # the whole count, whatever the batch size
            return page.records, None if page.done else page.nextRecordsUrl

        cases = await collect(fetch, limit=limit)
        tickets = [
            Ticket(
                id=case.Id,
                subject=case.Subject or "(no subject)",
                status=case.Status or "Open",
                priority=case.Priority,
                created_at=case.CreatedDate,
            )
            for case in cases
        ]
        return (totals[0] if totals else len(tickets)), tickets

    async def _newest_interaction(self, contact_id: str) -> datetime | None:
        activities = await self._activities(contact_id, LAST_INTERACTION_WINDOW)
        now = self.clock.now()
        return max((item.timestamp for item in activities if item.timestamp <= now), default=None)

    async def _activities(self, contact_id: str, window: int) -> list[InteractionRecord]:
        """Up to ``window`` newest Tasks and Events each, as records, newest first."""
        operation = _OPERATION.get()
        who = soql_literal(contact_id)
        # What Salesforce itself calls activity history: closed Tasks and Events that have started.
        # Tasks without a date (none of ours) go last, not first (SOQL sorts nulls first by default).
        task_soql = (
            "SELECT Id, Subject, Description, TaskSubtype, ActivityDate, CreatedDate FROM Task "
            f"WHERE WhoId = {who} AND IsClosed = true "
            f"ORDER BY ActivityDate DESC NULLS LAST, CreatedDate DESC LIMIT {window}"
        )
        event_soql = (
            "SELECT Id, Subject, Description, StartDateTime, CreatedDate FROM Event "
            f"WHERE WhoId = {who} AND StartDateTime <= {soql_datetime(self.clock.now())} "
            f"ORDER BY StartDateTime DESC, CreatedDate DESC LIMIT {window}"
        )
        tasks, events = await concurrently(
            self._query(task_soql, _TaskPage, operation, window), self._query(event_soql, _EventPage, operation, window)
        )
        merged = [(_task_record(task), task.CreatedDate) for task in tasks]
        merged += [(_event_record(event), event.CreatedDate) for event in events]
        merged.sort(key=lambda pair: (pair[0].timestamp, pair[1]), reverse=True)
        return [record for record, _ in merged]

    def _last_interaction(self, newest: datetime | None, last_activity: date | None) -> datetime | None:
        if last_activity is None:
            return newest
        midnight = datetime.combine(last_activity, time(), tzinfo=UTC)
        # LastActivityDate includes open tasks' due dates and future events: a future date is no interaction.
        if midnight > self.clock.now():
            return newest
        return midnight if newest is None or midnight > newest else newest

    # Writes ---------------------------------------------------------------------------------------

    def _activity_body(self, interaction: Interaction, contact_id: str) -> dict[str, object]:
        stamp = interaction.timestamp.astimezone(UTC)
        body: dict[str, object] = {
            "WhoId": contact_id,
            "Subject": _SUBJECTS[interaction.type][:MAX_SUBJECT_CHARS],
            # compose_body: ≤ 5,000 summary characters plus a short footer, far below the 32,000 limit.
            "Description": compose_body(interaction),
        }
        if interaction.type == "appointment":
            body["StartDateTime"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
            body["DurationInMinutes"] = _duration_minutes(interaction.metadata)
            return body
        body["TaskSubtype"] = _TASK_SUBTYPES[interaction.type]
        body["Status"] = "Completed"
        body["ActivityDate"] = stamp.date().isoformat()
        if interaction.type == "call":
            body["CallType"] = _call_type(interaction.metadata)
        return body

    async def _create(self, sobject: str, body: dict[str, object], operation: str) -> str:
        response = await self._send(
            "POST", f"{self._api}/sobjects/{sobject}", operation, json_body=body, accept=(400, 404)
        )
        if response.status_code in (400, 404):
            self._raise_unless_stale(response, operation)
        created = self._http.parse(response, _Created, operation=operation)
        if not created.success:
            codes = ", ".join(error.errorCode for error in created.errors if error.errorCode) or "no error code"
            raise ProviderRejected(
                f"{PROVIDER} did not create the {sobject} ({codes})", source=SOURCE, operation=operation
            )
        return created.id

    async def _patch_contact(self, contact_id: str, fields: dict[str, object], operation: str) -> None:
        response = await self._send(
            "PATCH", f"{self._api}/sobjects/Contact/{contact_id}", operation, json_body=fields, accept=(400, 404)
        )
        if response.status_code in (400, 404):
            self._raise_unless_stale(response, operation)

    def _raise_unless_stale(self, response: httpx.Response, operation: str) -> None:
        """A 404 or a deleted-record refusal means the contact id is stale; anything else is an error."""
        if response.status_code == 404:
            raise _StaleContactId
        try:
            errors = _ERRORS.validate_json(response.content)
        except ValidationError:
            errors = []
        if any(error.errorCode in _STALE_ID_CODES for error in errors):
            raise _StaleContactId
        raise self._error(response, operation)

    # HTTP -----------------------------------------------------------------------------------------

    async def _query(self, soql: str, page_model: type[_QueryPage[R]], operation: str, limit: int) -> list[R]:
        async def fetch(cursor: str | None) -> tuple[list[R], str | None]:
            page = await self._page(cursor, soql, page_model, operation)
            return page.records, None if page.done else page.nextRecordsUrl

        return await collect(fetch, limit=limit)

    async def _page(
        self, cursor: str | None, soql: str, page_model: type[_QueryPage[R]], operation: str
    ) -> _QueryPage[R]:
        """The first batch of ``soql``, or the batch at ``cursor`` (a ``nextRecordsUrl``)."""
        if cursor is None:
            response = await self._send("GET", f"{self._api}/query", operation, params={"q": soql})
        else:
            response = await self._send("GET", cursor, operation)
        return self._http.parse(response, page_model, operation=operation)

    async def _send(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        accept: tuple[int, ...] = (),
    ) -> httpx.Response:
        """One data call, with the operation visible to the token hooks (they name it in their errors)."""
        token = _OPERATION.set(operation)
        try:
            return await self._http.send(
                method, path, operation=operation, params=params, json_body=json_body, accept=accept
            )
        finally:
            _OPERATION.reset(token)

    def _error(self, response: httpx.Response, operation: str) -> ProviderError:
        return self._http.error_for(response, operation=operation)

    # Tokens ---------------------------------------------------------------------------------------

    async def _auth_headers(self) -> dict[str, str]:
        session = await self._ensure_session(stale=None)
        _SENT_TOKEN.set(session.access_token)
        return {"Authorization": f"Bearer {session.access_token}"}

    async def _reauthorize(self) -> bool:
        # The token this request was sent with was refused: replace it (unless another request already did).
        await self._ensure_session(stale=_SENT_TOKEN.get())
        return True

    async def _ensure_session(self, *, stale: str | None) -> _Session:
        """A usable token; at most one token request in flight (single flight, generation-checked)."""
        session = self._session
        if session is not None and session.access_token != stale:
            return session
        generation = self._mints
        async with self._session_lock:
            session = self._session
            if session is not None and session.access_token != stale:
                return session  # minted while we waited
            if self._mints != generation and self._mint_error is not None:
                # The token request we waited for failed: share its answer instead of asking again.
                raise _again(self._mint_error, _OPERATION.get())
            self._session = None
            try:
                session = await self._mint()
            except ProviderError as error:
                self._mint_error = error
                raise
            finally:
                self._mints += 1
            self._session, self._mint_error = session, None
            return session

    async def _mint(self) -> _Session:
        operation = _OPERATION.get()
        response = await self._http.send(
            "POST",
            self._token_url,
            operation=operation,
            form={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret.get_secret_value(),
            },
            accept=_TOKEN_REFUSALS,
            authenticate=False,
        )
        if response.status_code in _TOKEN_REFUSALS:
            try:
                refusal = _OAuthError.model_validate_json(response.content)
            except ValidationError:
                refusal = _OAuthError()
            if refusal.error == "rate_limit_exceeded":
                # The login rate limit (3,600 token requests per user per hour; Salesforce says to wait an
                # hour): the credentials are fine, so this is a quota, not an auth failure.
                raise QuotaExhausted(
                    f"{PROVIDER} refused a new token: the integration user's login rate limit (3,600 per hour) "
                    "is exceeded",
                    source=SOURCE,
                    operation=operation,
                    resets_at=self.clock.now() + LOGIN_RATE_WINDOW,
                )
            detail = ": ".join(part for part in (refusal.error, refusal.error_description) if part)
            detail = redact_text(detail)[:200] or f"HTTP {response.status_code}"
            raise ProviderAuthError(
                f"{PROVIDER} refused the client credentials ({detail})", source=SOURCE, operation=operation
            )
        token = self._http.parse(response, _Token, operation=operation)
        if self._base_url is None:
            # Data calls go to the org's instance; paging links are paths on it.
            self._http.base_url = token.instance_url.rstrip("/")
        return _Session(access_token=token.access_token, instance_url=token.instance_url)


# Helpers --------------------------------------------------------------------------------------------


def _task_record(task: _Task) -> InteractionRecord:
    parsed = parse_body(task.Description)
    kind = parsed.type or _KIND_OF_SUBTYPE.get((task.TaskSubtype or "").casefold(), "chat")
    when = parsed.timestamp
    if when is None:
        when = datetime.combine(task.ActivityDate, time(), tzinfo=UTC) if task.ActivityDate else task.CreatedDate
    return InteractionRecord(
        crm_id=task.Id,
        type=kind,
        timestamp=when,
        summary=parsed.summary or task.Subject or "",
        sentiment=parsed.sentiment,
    )


def _event_record(event: _Event) -> InteractionRecord:
    parsed = parse_body(event.Description)
    when = parsed.timestamp or event.StartDateTime or event.CreatedDate
    return InteractionRecord(
        crm_id=event.Id,
        type=parsed.type or "appointment",
        timestamp=when,
        summary=parsed.summary or event.Subject or "",
        sentiment=parsed.sentiment,
    )


def _required(variable: str, value: str | None) -> str:
    if value is None or not value.strip():
        raise ConfigurationError(f"Missing required environment variable: {variable} (CRM_PROVIDER=salesforce)")
    return value.strip()


def _sentiment_value(sentiment: Sentiment) -> str:
    return sentiment.capitalize()


def _duration_minutes(metadata: Mapping[str, JsonValue] | None) -> int:
    raw = (metadata or {}).get("duration")
    try:
        minutes = int(float(raw)) if isinstance(raw, int | float | str) and not isinstance(raw, bool) else 0
    except ValueError:
        minutes = 0
    return minutes if 0 < minutes <= MAX_EVENT_MINUTES else DEFAULT_EVENT_MINUTES


def _call_type(metadata: Mapping[str, JsonValue] | None) -> str:
    for key in ("callType", "call_type", "direction"):
        raw = (metadata or {}).get(key)
        if isinstance(raw, str) and raw.strip().casefold() in _CALL_TYPES:
            return _CALL_TYPES[raw.strip().casefold()]
    return "Outbound"


def _again(error: ProviderError, operation: str) -> ProviderError:
    """A copy of a shared failure for another caller (one exception object must not be raised twice)."""
    clone = copy.copy(error)
    clone.operation = operation or error.operation
    return clone
