"""A contract-faithful fake of the Salesforce REST API (a Starlette app), for adapter and conformance tests.

What it serves (paths relative to the fake's base URL, which is also the ``instance_url`` it hands out):

- ``POST /services/oauth2/token`` - OAuth 2.0 client-credentials flow (form body ``grant_type=client_credentials``,
  ``client_id``, ``client_secret``; the credentials may also come as ``Authorization: Basic``). Also accepts the JWT
  bearer flow (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``, ``assertion``: ``iss`` must be the client
  id; the signature is NOT verified). Answers ``{"access_token","signature","scope","instance_url","id",
  "token_type":"Bearer","issued_at"}``; ``signature`` is base64(HMAC-SHA256(client_secret, id + issued_at)) as
  Salesforce documents, ``issued_at`` is milliseconds since the epoch as a string. OAuth errors are
  ``{"error","error_description"}`` with HTTP 400: ``unsupported_grant_type``, ``invalid_client_id`` (unknown
  client id), ``invalid_client`` / ``invalid client credentials`` (wrong secret), ``invalid_grant`` (bad assertion).
- ``GET /services/data/`` - the versions list ``[{"label","url","version"}]`` from 31.0 to ``api_version``; no
  authentication needed (documented).
- ``GET /services/data/vXX.X/limits`` - ``{"DailyApiRequests": {"Max", "Remaining"}, ...}`` (integers).
- ``GET /services/data/vXX.X/query?q=<SOQL>`` and ``GET /services/data/vXX.X/query/<locator>-<offset>`` (the
  ``nextRecordsUrl``) - ``{"totalSize","done","nextRecordsUrl"?,"records":[{"attributes":{"type","url"},...}]}``.
- ``POST /services/data/vXX.X/sobjects/<Type>`` - 201 ``{"id","errors":[],"success":true}``.
- ``GET|PATCH /services/data/vXX.X/sobjects/<Type>/<Id>`` - the record (``?fields=A,B`` narrows it) / 204, no body.
- ``GET /services/data/vXX.X/sobjects/<Type>/<Field>/<value>`` - lookup by external id: 200 record, 404, or **300**
  with a JSON array of record URLs when several records match.
- Trailing slashes are optional everywhere (the docs use both); the version segment may be ``latest``.

Objects: Contact (003), Case (500), Task (00T), Event (00U) with the fields listed in ``_standard_schema``, plus
custom ``__c`` fields the world defines. Ids are 18-character Salesforce ids (15-char base + the real case-safe
checksum suffix); 15-character ids are accepted on input. Datetimes are written ``2026-11-23T08:00:00.000+0000``,
dates ``2026-11-23``. Everything stored is timezone-aware UTC.

Facts it follows (quoted with URLs in ``tests/fakes/openapi/salesforce-excerpt.md``; PROVIDERS.md section 1.2):
errors are JSON arrays ``[{"message","errorCode","fields"?}]``; 401 ``INVALID_SESSION_ID`` "Session expired or
invalid"; 403 ``REQUEST_LIMIT_EXCEEDED`` both for the org's rolling API allocation and for the concurrent request
limit (no 429 anywhere in the core REST API); ``Sforce-Limit-Info: api-usage=<used>/<max>`` on responses;
``Sforce-Query-Options: batchSize=N``; query ``totalSize`` is the number of rows the query returns (after
LIMIT/OFFSET); SOQL keywords and field names are case-insensitive and ``=`` on text is case-insensitive; ORDER BY
sorts text case-insensitively with nulls first by default; long text areas (``Description``) can't be filtered or
sorted; the SOQL escape sequences (``\\' \\" \\\\ \\n \\r \\t \\b \\f \\uXXXX``, ``\\_``/``\\%`` in LIKE only);
Contact.LastActivityDate is the most recent of the due dates of events and closed tasks logged against the contact.

SOQL subset interpreted (a real parser, not string matching): ``SELECT f1, f2 | COUNT() | COUNT(f) FROM <sObject>
[WHERE ...] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]``; conditions ``= != <> < > <= >=``,
``IN (...)``, ``NOT IN (...)``, ``LIKE``; ``AND`` / ``OR`` (mixing them needs parentheses, as in SOQL), ``NOT``,
parentheses; literals: 'strings', numbers, true/false/null, ``2026-11-23T08:00:00Z`` datetimes, ``2026-11-23`` dates,
``TODAY``, ``YESTERDAY``, ``TOMORROW``, ``LAST_N_DAYS:n``, ``NEXT_N_DAYS:n``, ``N_DAYS_AGO:n`` (UTC days). Literal types
are checked against field types like Salesforce does (a date literal on a datetime field is an error). Not
supported (answered 400 ``MALFORMED_QUERY``): relationship paths (``Account.Name`` - ``INVALID_FIELD``), subqueries,
GROUP BY, WITH, FOR, TYPEOF, other aggregate functions.

Control API (tests and the conformance harness)::

    FakeSalesforce(*, token="test-token", page_size=2, now=None, client_id="test-client",
                   client_secret="test-secret", api_version="v62.0", api_limit=15000)
    .app  .requests  .tokens_issued  .api_usage
    .fail_next(fault, *, times=1, path_contains=None)  .reset()
    .issue_token() -> str  .revoke_tokens()  .define_field(sobject, name, field_type="string", *, external_id=True)
    .add_contact(email, fields=None) -> Id  .add_case(contact_id, *, subject, closed, priority=None, status=None,
    created_at=None) -> Id  .add_task(contact_id, fields) -> Id  .add_event(contact_id, fields) -> Id
    .record(sobject, id) -> dict  .records(sobject) -> list[dict]

``token`` is the first access token the fake mints (tokens are valid only once minted, over HTTP or with
``issue_token``; later ones are random). World methods take Python values (aware datetimes, dates) or the API's
strings, may set read-only fields (CreatedDate, LastActivityDate, ...), and raise ValueError with Salesforce's
errorCode for what the API would refuse. The token endpoint and the versions list need no token; every other route
checks ``Authorization: Bearer <token>`` (``OAuth <token>`` works too) before anything else.

Decisions on facts PROVIDERS.md marks **unconfirmed** (or that the docs leave open):
- ``rate_limited``: Salesforce never sends 429. The core REST API's only short-window throttle is the concurrent
  request limit (25 long-running requests per production org, 5 in Developer Edition; it clears as soon as fewer
  are in flight), answered with ``REQUEST_LIMIT_EXCEEDED`` - HTTP 403 like the daily allocation, told apart only by
  its message. So ``rate_limited`` renders as 403 ``[{"message":"ConcurrentRequests (Concurrent API Requests)
  Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`` plus ``Retry-After: 2`` (the shared fault contract;
  Salesforce itself sends no Retry-After there, so adapters must not require it). (Salesforce's 503 throttle
  belongs to Connect/Chatter REST and GraphQL, which the fake doesn't serve.) ``quota`` renders as 403
  ``[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`` with no Retry-After and
  ``Sforce-Limit-Info: api-usage=<max>/<max>``. ``unavailable`` is 503 ``[{"errorCode":"SERVER_UNAVAILABLE",...}]``
  without Retry-After.
- ``auth`` fault: revokes every token issued so far and makes the next token request fail with 400
  ``invalid_client`` (once); the request that drew the fault gets 401 ``INVALID_SESSION_ID``.
- Faults scripted without ``path_contains`` hit data requests (and the versions list), never the OAuth token
  endpoint; a fault reaches the token endpoint only when ``path_contains`` matches its path (rendered in OAuth
  form: ``temporarily_unavailable`` 503; ``rate_limit_exceeded`` 503 + Retry-After for ``rate_limited``, 400 for
  ``quota``).
- Batch size: ``page_size`` (default 2) unless ``Sforce-Query-Options: batchSize=N`` asks otherwise; the
  documented minimum of 200 is NOT applied (N is clamped to 1..2000) so small pages can be tested.
- API versions: any ``vNN.N`` from v20.0 up is accepted (real orgs accept every version they list; the fake
  can't know which one the adapter chose); ``GET /services/data/`` lists 31.0..``api_version``.
- ``Sforce-Limit-Info`` is sent on every response, including the versions list and the token endpoint (the real
  versions list omits it: don't require it there). Every authenticated data request counts one API call.
- ``LAST_N_DAYS:n`` covers today and the n days before it; relative dates use UTC days. ``Field != value`` also
  matches records whose field is null (SOQL, unlike SQL); ``= null`` / ``!= null`` test for null.
- LastActivityDate: creating/updating an Event with a WhoId, or a *closed* Task (Status ``Completed``) with a WhoId,
  moves the contact's LastActivityDate to that activity's ActivityDate (for a closed task without one: the day it
  was created) if that is later than the current value (future-dated events move it into the future, like
  Salesforce). It never moves backwards.
- Required fields: Contact needs LastName (API create only); Task has none (Status defaults to ``Not Started``,
  Priority to ``Normal``, TaskSubtype to ``Task``); Event needs StartDateTime (or ActivityDateTime) →
  ``REQUIRED_FIELD_MISSING`` ``[StartDateTime]``, and EndDateTime or DurationInMinutes → ``REQUIRED_FIELD_MISSING``
  ``[DurationInMinutes]``; both given but disagreeing, or an end before the start, → ``FIELD_INTEGRITY_EXCEPTION``.
  Event.ActivityDate is the UTC date of StartDateTime (Salesforce uses the user's time zone).
- Restricted picklists (``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``): Task.Status, Task.Priority, Task.TaskSubtype,
  Task.CallType. TaskSubtype is create-only (``INVALID_FIELD_FOR_INSERT_UPDATE`` on PATCH). Read-only fields
  (Id, Name, IsClosed, CreatedDate, LastModifiedDate, LastActivityDate, CaseNumber, ClosedDate) →
  ``INVALID_FIELD_FOR_INSERT_UPDATE``; an ``Id`` in a body → ``INVALID_FIELD`` "The Id field should not be
  specified in the sobject data."; unknown field → ``INVALID_FIELD`` "No such column 'X' on sobject of type T".
- Case.IsClosed is true for Status ``Closed`` and for any custom status the world created a closed case with;
  ClosedDate is set when a case closes and cleared when it reopens; CaseNumber is an 8-digit auto number.
- WhoId must be a 003 (Contact) or 00Q (Lead) id: malformed → ``MALFORMED_ID``, other prefix →
  ``FIELD_INTEGRITY_EXCEPTION``, unknown contact → ``INVALID_CROSS_REFERENCE_KEY``.
- External-id lookups work on ``Id``, on ``Email`` (an idLookup field) and on every custom field the world defines
  (they're flagged External ID unless ``define_field(..., external_id=False)``); other fields → 404 ``NOT_FOUND``
  "Provided external ID field does not exist or is not accessible: X".
- Custom fields come into existence when the world first sets them (type inferred from the Python value: str →
  string, bool → boolean, int/float → double, date → date, datetime → datetime) or via ``define_field``. The API
  can't create fields: a PATCH of an undefined ``AI_Sentiment__c`` is ``INVALID_FIELD``, as in a real org.
- Not served (404 ``NOT_FOUND``): describe, composite, search, queryAll, DELETE (405). World ``Case.Priority`` may be
  None.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import operator
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.faults import RETRY_AFTER_SECONDS, FaultName, FaultScript, RecordedRequest, record, slow

# --------------------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------------------

FieldType = Literal[
    "id", "reference", "string", "textarea", "email", "picklist", "boolean", "int", "double", "date", "datetime"
]
_TEXT_TYPES: frozenset[str] = frozenset({"id", "reference", "string", "textarea", "email", "picklist"})
_CUSTOM_TYPES: frozenset[str] = frozenset(
    {"string", "textarea", "email", "picklist", "boolean", "double", "date", "datetime"}
)

TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
CLOSED_TASK_STATUSES = frozenset({"Completed"})
TASK_SUBTYPES = ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")
CALL_TYPES = ("Internal", "Inbound", "Outbound")
TASK_PRIORITIES = ("High", "Normal", "Low")

KEY_PREFIXES: dict[str, str] = {"Contact": "003", "Case": "500", "Task": "00T", "Event": "00U"}

# The concurrent API request limit's message, as Salesforce words it (the fake's ``rate_limited``).
CONCURRENT_LIMIT_MESSAGE = "ConcurrentRequests (Concurrent API Requests) Limit exceeded."
# The rolling 24-hour allocation's message (the fake's ``quota``).
TOTAL_REQUESTS_MESSAGE = "TotalRequests Limit exceeded."

ORG_ID = "00D5g000004ElWqEAK"
USER_ID = "0055g00000E1xyzAAB"


@dataclass(frozen=True)
class FieldSpec:
    """One field as the fake's describe would show it."""

    name: str
    type: FieldType
    label: str = ""
    createable: bool = True
    updateable: bool = True
    filterable: bool = True
    id_lookup: bool = False
    external_id: bool = False
    max_length: int | None = None
    restricted: tuple[str, ...] = ()
    refers_to: tuple[str, ...] = ()

    @property
    def display(self) -> str:
        """The label Salesforce puts in front of field errors."""
        return self.label or self.name


def _ro(name: str, type_: FieldType, **kwargs: Any) -> FieldSpec:
    return FieldSpec(name, type_, createable=False, updateable=False, **kwargs)


@dataclass
class SObjectSpec:
    """An sObject type: its name, id key prefix and fields (lower-case name → spec, in describe order)."""

    name: str
    key_prefix: str
    fields: dict[str, FieldSpec]

    def field(self, name: str) -> FieldSpec | None:
        """The field called ``name`` (case-insensitive, like Salesforce)."""
        return self.fields.get(name.lower())

    def add(self, spec: FieldSpec) -> FieldSpec:
        """Define (or redefine) a field."""
        self.fields[spec.name.lower()] = spec
        return spec


def _sobject(name: str, specs: Iterable[FieldSpec]) -> SObjectSpec:
    return SObjectSpec(name, KEY_PREFIXES[name], {s.name.lower(): s for s in specs})


def _standard_schema() -> dict[str, SObjectSpec]:
    """The four standard objects the fake knows, with the standard fields it models."""
    who = FieldSpec("WhoId", "reference", label="Name ID", refers_to=("003", "00Q"))
    description = FieldSpec("Description", "textarea", filterable=False, max_length=32000)
    subject = FieldSpec("Subject", "string", max_length=255)
    created = _ro("CreatedDate", "datetime")
    modified = _ro("LastModifiedDate", "datetime")
    return {
        "Contact": _sobject(
            "Contact",
            [
                _ro("Id", "id", id_lookup=True),
                FieldSpec("FirstName", "string", max_length=40),
                FieldSpec("LastName", "string", max_length=80),
                _ro("Name", "string"),
                FieldSpec("Email", "email", max_length=80, id_lookup=True),
                FieldSpec("Phone", "string", max_length=40),
                FieldSpec("AccountId", "reference", label="Account ID", refers_to=("001",)),
                _ro("LastActivityDate", "date"),
                created,
                modified,
            ],
        ),
        "Case": _sobject(
            "Case",
            [
                _ro("Id", "id", id_lookup=True),
                _ro("CaseNumber", "string", id_lookup=True),
                FieldSpec("ContactId", "reference", label="Contact ID", refers_to=("003",)),
                subject,
                description,
                FieldSpec("Status", "picklist", max_length=40),
                FieldSpec("Priority", "picklist", max_length=40),
                FieldSpec("Origin", "picklist", max_length=40),
                _ro("IsClosed", "boolean"),
                created,
                _ro("ClosedDate", "datetime"),
                modified,
            ],
        ),
        "Task": _sobject(
            "Task",
            [
                _ro("Id", "id", id_lookup=True),
                who,
                subject,
                description,
                FieldSpec("Status", "picklist", restricted=TASK_STATUSES),
                FieldSpec("Priority", "picklist", restricted=TASK_PRIORITIES),
                FieldSpec("ActivityDate", "date", label="Due Date Only"),
                FieldSpec("TaskSubtype", "picklist", label="Task Subtype", updateable=False, restricted=TASK_SUBTYPES),
                FieldSpec("Type", "picklist", max_length=40),
                FieldSpec("CallType", "picklist", label="Call Type", restricted=CALL_TYPES),
                FieldSpec("CallDurationInSeconds", "int", label="Call Duration"),
                FieldSpec("CallDisposition", "string", label="Call Result", max_length=255),
                _ro("IsClosed", "boolean"),
                created,
                modified,
            ],
        ),
        "Event": _sobject(
            "Event",
            [
                _ro("Id", "id", id_lookup=True),
                who,
                subject,
                description,
                FieldSpec("Location", "string", max_length=255),
                FieldSpec("StartDateTime", "datetime", label="Start Date Time"),
                FieldSpec("EndDateTime", "datetime", label="End Date Time"),
                FieldSpec("ActivityDateTime", "datetime", label="Due Date Time"),
                FieldSpec("ActivityDate", "date", label="Due Date Only"),
                FieldSpec("DurationInMinutes", "int", label="Duration"),
                FieldSpec("Type", "picklist", max_length=40),
                created,
                modified,
            ],
        ),
    }


# --------------------------------------------------------------------------------------------------------------
# Values: ids, wire formats
# --------------------------------------------------------------------------------------------------------------

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$"
)
_VERSION_RE = re.compile(r"^v(\d{2,3})\.(\d)$")


def id18(id15: str) -> str:
    """The 18-character form of a 15-character Salesforce id (the documented case-safe checksum suffix)."""
    suffix = ""
    for chunk in range(3):
        flags = 0
        for bit, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                flags |= 1 << bit
        suffix += _SUFFIX_ALPHABET[flags]
    return id15 + suffix


def _base62(number: int, width: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    return digits.rjust(width, "0")[-width:]


def sf_datetime(value: datetime) -> str:
    """A datetime the way Salesforce writes it: ``2026-11-23T08:00:00.000+0000``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _wire(value: object) -> object:
    """A stored value as JSON."""
    if isinstance(value, datetime):
        return sf_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _parse_date(text: str) -> date | None:
    match = _DATE_RE.match(text)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _parse_datetime(text: str) -> datetime | None:
    """ISO-8601 with a time part; no offset means UTC (as the REST API reads it)."""
    match = _DATETIME_RE.match(text)
    if not match:
        return None
    fraction = (match[7] or "0")[:6].ljust(6, "0")
    offset = match[8] or "Z"
    try:
        tz = UTC
        if offset != "Z":
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        value = datetime(
            int(match[1]),
            int(match[2]),
            int(match[3]),
            int(match[4]),
            int(match[5]),
            int(match[6] or 0),
            int(fraction),
            tzinfo=tz,
        )
        return value.astimezone(UTC)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------------


class SalesforceApiError(Exception):
    """An error the fake answers with Salesforce's error array."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, object]]:
        """``[{"message","errorCode","fields"?}]``."""
        item: dict[str, object] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]


def _not_found() -> SalesforceApiError:
    return SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")


# --------------------------------------------------------------------------------------------------------------
# SOQL
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # ident string number date datetime op punct eof
    text: str
    pos: int
    value: object = None


_TOKEN_RE = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2})
    |(?P<number>[+-]?\d+(?:\.\d+)?)
    |(?P<string>')
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op><=|>=|!=|<>|=|<|>)
    |(?P<punct>[(),.:])
    """,
    re.VERBOSE,
)

_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_RELATIVE_DATES = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
_RELATIVE_N_DATES = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO"})
_CLAUSE_WORDS = frozenset({"FROM", "WHERE", "ORDER", "LIMIT", "OFFSET", "GROUP", "WITH", "FOR", "HAVING"})


class SoqlError(Exception):
    """A SOQL error: ``code`` is Salesforce's errorCode, ``message`` its message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _located(text: str, pos: int, detail: str) -> str:
    """Salesforce's query error layout: the query, a caret, ``ERROR at Row:r:Column:c`` and the detail."""
    row = text.count("\n", 0, pos) + 1
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    column = pos - line_start + 1
    return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{detail}"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match:
            raise SoqlError("MALFORMED_QUERY", _located(text, pos, f"unexpected token: '{text[pos]}'"))
        kind = match.lastgroup or ""
        if kind == "ws":
            pos = match.end()
            continue
        if kind == "string":
            end = pos + 1
            raw = []
            while True:
                if end >= len(text):
                    raise SoqlError("MALFORMED_QUERY", _located(text, pos, "line 1:0 mismatched character '<EOF>'"))
                char = text[end]
                if char == "\\":
                    if end + 1 >= len(text):
                        raise SoqlError("MALFORMED_QUERY", _located(text, end, "Invalid string literal"))
                    raw.append(text[end : end + 2])
                    end += 2
                    continue
                if char == "'":
                    break
                raw.append(char)
                end += 1
            tokens.append(_Token("string", text[pos : end + 1], pos, "".join(raw)))
            pos = end + 1
            continue
        tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("eof", "<EOF>", len(text)))
    return tokens


def _decode_string(raw: str, text: str, pos: int) -> str:
    """A SOQL string literal's value (escapes other than LIKE's ``\\_`` ``\\%`` decoded)."""
    out = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escape = raw[index + 1]
        if escape.lower() in _SIMPLE_ESCAPES and escape not in "\"'\\":
            out.append(_SIMPLE_ESCAPES[escape.lower()])
            index += 2
        elif escape in "\"'\\":
            out.append(escape)
            index += 2
        elif escape == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", raw[index + 2 : index + 6]):
            out.append(chr(int(raw[index + 2 : index + 6], 16)))
            index += 6
        else:
            raise SoqlError(
                "MALFORMED_QUERY",
                _located(text, pos, f"Invalid string literal '{raw}'. Illegal character sequence '\\{escape}'"),
            )
    return "".join(out)


def _like_pattern(raw: str, text: str, pos: int) -> re.Pattern[str]:
    """A LIKE pattern as a regex: ``%`` any run, ``_`` one character, ``\\%`` ``\\_`` literal; case-insensitive."""
    parts = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and raw[index + 1] in "%_":
            parts.append(re.escape(raw[index + 1]))
            index += 2
        elif char == "\\":
            end = index + 6 if raw[index + 1] == "u" else index + 2
            parts.append(re.escape(_decode_string(raw[index:end], text, pos)))
            index = end
        elif char == "%":
            parts.append(".*")
            index += 1
        elif char == "_":
            parts.append(".")
            index += 1
        else:
            parts.append(re.escape(char))
            index += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


@dataclass
class _Literal:
    kind: str  # string number date datetime boolean null relative
    token: _Token
    value: object = None  # decoded value (strings: once checked); relative dates: (start, end exclusive)
    raw: str = ""  # a string literal as written between the quotes


@dataclass
class _Cond:
    field_token: _Token
    op: str
    value: _Literal | list[_Literal]
    spec: FieldSpec | None = None
    pattern: re.Pattern[str] | None = None


@dataclass
class _BoolOp:
    op: str  # AND | OR
    items: list[_Expr]


@dataclass
class _Not:
    item: _Expr


_Expr = _Cond | _BoolOp | _Not


@dataclass
class _Query:
    text: str
    sobject_token: _Token
    fields: list[_Token] = field(default_factory=list)
    count: bool = False
    count_field: _Token | None = None
    where: _Expr | None = None
    order: list[tuple[_Token, bool, bool]] = field(default_factory=list)  # field, descending, nulls first
    limit: int | None = None
    offset: int = 0


class _Parser:
    def __init__(self, text: str, today: date) -> None:
        self.text = text
        self.today = today
        self.tokens = _tokenize(text)
        self.index = 0

    # --- token helpers
    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def next(self) -> _Token:
        token = self.peek()
        self.index += 1
        return token

    def is_word(self, word: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == "ident" and token.text.upper() == word

    def is_punct(self, char: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == "punct" and token.text == char

    def error(self, token: _Token, detail: str | None = None) -> SoqlError:
        shown = token.text if token.kind == "eof" else f"'{token.text}'"
        return SoqlError("MALFORMED_QUERY", _located(self.text, token.pos, detail or f"unexpected token: {shown}"))

    def expect_word(self, word: str) -> _Token:
        if not self.is_word(word):
            raise self.error(self.peek())
        return self.next()

    def expect_punct(self, char: str) -> _Token:
        if not self.is_punct(char):
            raise self.error(self.peek())
        return self.next()

    def field_name(self) -> _Token:
        token = self.next()
        if token.kind != "ident" or token.text.upper() in _CLAUSE_WORDS:
            raise self.error(token)
        if self.is_punct("."):
            raise SoqlError(
                "INVALID_FIELD",
                _located(
                    self.text,
                    token.pos,
                    f"Didn't understand relationship '{token.text}' in field path. If you are attempting to use a "
                    "custom relationship, be sure to append the '__r' after the custom relationship name. Please "
                    "reference your WSDL or the describe call for the appropriate names.",
                ),
            )
        return token

    def integer(self) -> int:
        token = self.next()
        if token.kind != "number" or not token.text.isdigit():
            raise self.error(token)
        return int(token.text)

    # --- grammar
    def parse(self) -> _Query:
        self.expect_word("SELECT")
        query = _Query(self.text, self.peek())
        if self.is_word("COUNT") and self.is_punct("(", 1):
            self.next()
            self.next()
            query.count = True
            if not self.is_punct(")"):
                query.count_field = self.field_name()
            self.expect_punct(")")
            if self.is_punct(","):
                raise self.error(self.peek(), "Field must be grouped or aggregated")
        else:
            while True:
                if self.is_punct("("):
                    raise self.error(self.peek(), "the fake does not support subqueries")
                query.fields.append(self.field_name())
                if not self.is_punct(","):
                    break
                self.next()
        self.expect_word("FROM")
        sobject = self.next()
        if sobject.kind != "ident":
            raise self.error(sobject)
        query.sobject_token = sobject
        if self.is_word("WHERE"):
            self.next()
            query.where = self.expression()
        if self.is_word("ORDER"):
            self.next()
            self.expect_word("BY")
            while True:
                name = self.field_name()
                descending = False
                nulls_first = True
                if self.is_word("ASC") or self.is_word("DESC"):
                    descending = self.next().text.upper() == "DESC"
                if self.is_word("NULLS"):
                    self.next()
                    if not (self.is_word("FIRST") or self.is_word("LAST")):
                        raise self.error(self.peek())
                    nulls_first = self.next().text.upper() == "FIRST"
                query.order.append((name, descending, nulls_first))
                if not self.is_punct(","):
                    break
                self.next()
        if self.is_word("LIMIT"):
            self.next()
            query.limit = self.integer()
        if self.is_word("OFFSET"):
            self.next()
            query.offset = self.integer()
        if self.peek().kind != "eof":
            raise self.error(self.peek())
        return query

    def expression(self) -> _Expr:
        first = self.unary()
        items = [first]
        connective: str | None = None
        while self.is_word("AND") or self.is_word("OR"):
            word = self.peek().text.upper()
            if connective and word != connective:
                raise self.error(self.peek())  # SOQL needs parentheses to mix AND and OR
            connective = word
            self.next()
            items.append(self.unary())
        return first if connective is None else _BoolOp(connective, items)

    def unary(self) -> _Expr:
        if self.is_word("NOT"):
            self.next()
            return _Not(self.unary())
        if self.is_punct("("):
            self.next()
            inner = self.expression()
            self.expect_punct(")")
            return inner
        return self.condition()

    def condition(self) -> _Cond:
        name = self.field_name()
        token = self.peek()
        if token.kind == "op":
            self.next()
            op = "!=" if token.text == "<>" else token.text
        elif self.is_word("IN"):
            self.next()
            op = "IN"
        elif self.is_word("NOT") and self.is_word("IN", 1):
            self.next()
            self.next()
            op = "NOT IN"
        elif self.is_word("LIKE"):
            self.next()
            op = "LIKE"
        else:
            raise self.error(token)
        if op in ("IN", "NOT IN"):
            self.expect_punct("(")
            values = [self.literal()]
            while self.is_punct(","):
                self.next()
                values.append(self.literal())
            self.expect_punct(")")
            return _Cond(name, op, values)
        return _Cond(name, op, self.literal())

    def literal(self) -> _Literal:
        token = self.next()
        if token.kind == "string":
            return _Literal("string", token, token.value, raw=str(token.value))
        if token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            return _Literal("number", token, number)
        if token.kind == "date":
            value = _parse_date(token.text)
            if value is None:
                raise self.error(token, f"invalid date: {token.text}")
            return _Literal("date", token, value)
        if token.kind == "datetime":
            parsed = _parse_datetime(token.text)
            if parsed is None:
                raise self.error(token, f"invalid datetime: {token.text}")
            return _Literal("datetime", token, parsed)
        if token.kind == "ident":
            word = token.text.upper()
            if word in ("TRUE", "FALSE"):
                return _Literal("boolean", token, word == "TRUE")
            if word == "NULL":
                return _Literal("null", token, None)
            today = self.today
            if word in _RELATIVE_DATES:
                start = {"TODAY": today, "YESTERDAY": today - timedelta(1), "TOMORROW": today + timedelta(1)}[word]
                return _Literal("relative", token, (start, start + timedelta(1)))
            if word in _RELATIVE_N_DATES:
                self.expect_punct(":")
                n = self.integer()
                if word == "LAST_N_DAYS":
                    span = (today - timedelta(n), today + timedelta(1))
                elif word == "NEXT_N_DAYS":
                    span = (today + timedelta(1), today + timedelta(1 + n))
                else:
                    span = (today - timedelta(n), today - timedelta(n - 1))
                return _Literal("relative", token, span)
        raise self.error(token)


def _type_error(text: str, literal: _Literal, spec: FieldSpec) -> SoqlError:
    if spec.type in ("date", "datetime", "boolean", "int", "double"):
        expected = {"int": "double", "double": "double"}.get(spec.type, spec.type)
        detail = (
            f"value of filter criterion for field '{spec.name}' must be of type {expected} "
            "and should not be enclosed in quotes"
        )
    else:
        detail = (
            f"value of filter criterion for field '{spec.name}' must be of type string and should be enclosed in quotes"
        )
    return SoqlError("INVALID_QUERY_FILTER_OPERATOR", _located(text, literal.token.pos, detail))


def _check_literal(text: str, literal: _Literal, spec: FieldSpec, op: str) -> None:
    """Reject a literal whose type doesn't fit the field, as SOQL does."""
    if literal.kind == "null":
        if op not in ("=", "!=", "IN", "NOT IN"):
            raise SoqlError("MALFORMED_QUERY", _located(text, literal.token.pos, "unexpected token: 'null'"))
        return
    ok = {
        "string": spec.type in _TEXT_TYPES,
        "number": spec.type in ("int", "double"),
        "boolean": spec.type == "boolean",
        "date": spec.type == "date",
        "datetime": spec.type == "datetime",
        "relative": spec.type in ("date", "datetime"),
    }[literal.kind]
    if not ok:
        raise _type_error(text, literal, spec)
    if literal.kind == "string" and op != "LIKE":
        literal.value = _decode_string(literal.raw, text, literal.token.pos)
    if literal.kind == "string" and spec.type in ("id", "reference") and op != "LIKE":
        value = str(literal.value)
        if not _ID_RE.match(value):
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR", _located(text, literal.token.pos, f"invalid ID field: {value}")
            )


def _compare_key(spec: FieldSpec, value: object) -> object:
    """A stored value in comparable form (text case-insensitive, ids by their 15-char base)."""
    if value is None:
        return None
    if spec.type in ("id", "reference"):
        return str(value)[:15]
    if spec.type in _TEXT_TYPES:
        return str(value).casefold()
    if spec.type == "double" or spec.type == "int":
        return float(value)  # type: ignore[arg-type]
    return value


def _literal_key(spec: FieldSpec, literal: _Literal, text: str) -> object:
    if literal.kind == "string":
        decoded = str(literal.value)
        return decoded[:15] if spec.type in ("id", "reference") else decoded.casefold()
    if literal.kind == "number":
        return float(literal.value)  # type: ignore[arg-type]
    return literal.value


def _in_span(spec: FieldSpec, value: object, span: tuple[date, date]) -> tuple[bool, bool, bool]:
    """(before the span, inside it, after it) for a date or datetime value."""
    start, end = span
    if spec.type == "datetime" and isinstance(value, datetime):
        lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
        hi = datetime(end.year, end.month, end.day, tzinfo=UTC)
        return value < lo, lo <= value < hi, value >= hi
    assert isinstance(value, date)
    return value < start, start <= value < end, value >= end


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _eval(expr: _Expr, row: Mapping[str, object], text: str) -> bool:
    if isinstance(expr, _BoolOp):
        results = (_eval(item, row, text) for item in expr.items)
        return all(results) if expr.op == "AND" else any(results)
    if isinstance(expr, _Not):
        return not _eval(expr.item, row, text)
    spec = expr.spec
    assert spec is not None
    stored = row.get(spec.name)
    value = _compare_key(spec, stored)
    if expr.op in ("IN", "NOT IN"):
        assert isinstance(expr.value, list)
        keys = [_literal_key(spec, literal, text) for literal in expr.value]
        found = value in keys
        return found if expr.op == "IN" else not found
    assert isinstance(expr.value, _Literal)
    literal = expr.value
    if expr.op == "LIKE":
        return value is not None and expr.pattern is not None and bool(expr.pattern.fullmatch(str(stored)))
    if literal.kind == "null":
        return (value is None) if expr.op == "=" else (value is not None)
    if value is None:
        return expr.op == "!="
    if literal.kind == "relative":
        before, inside, after = _in_span(spec, stored, literal.value)  # type: ignore[arg-type]
        return {
            "=": inside,
            "!=": not inside,
            "<": before,
            "<=": before or inside,
            ">": after,
            ">=": inside or after,
        }[expr.op]
    try:
        return bool(_OPERATORS[expr.op](value, _literal_key(spec, literal, text)))
    except TypeError:
        return False


def _sort_rows(rows: list[dict[str, object]], order: list[tuple[FieldSpec, bool, bool]]) -> list[dict[str, object]]:
    result = list(rows)
    for spec, descending, nulls_first in reversed(order):
        present = [row for row in result if row.get(spec.name) is not None]
        missing = [row for row in result if row.get(spec.name) is None]

        def key(row: dict[str, object], spec: FieldSpec = spec) -> Any:
            return _compare_key(spec, row.get(spec.name))

        present.sort(key=key, reverse=descending)
        result = missing + present if nulls_first else present + missing
    return result


# --------------------------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _Cursor:
    records: list[dict[str, object]]
    total: int
    batch: int


# (path template, methods, handler name). The dispatcher serves exactly these; tests read them.
ROUTES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("/services/oauth2/token", ("POST",), "token"),
    ("/services/data", ("GET",), "versions"),
    ("/services/data/{version}/limits", ("GET",), "limits"),
    ("/services/data/{version}/query", ("GET",), "query"),
    ("/services/data/{version}/query/{locator}", ("GET",), "query_more"),
    ("/services/data/{version}/sobjects/{sobject}", ("POST",), "create"),
    ("/services/data/{version}/sobjects/{sobject}/{record_id}", ("GET", "PATCH"), "row"),
    ("/services/data/{version}/sobjects/{sobject}/{id_field}/{id_value}", ("GET",), "by_external_id"),
)
_COMPILED_ROUTES = tuple(
    (re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"), methods, name)
    for template, methods, name in ROUTES
)
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_JSON = "application/json;charset=UTF-8"
_MALFORMED_BODY = b'{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Contact","url":"/services/data/v'


class FakeSalesforce:
    """A Salesforce org in memory, served over its REST API. See the module docstring for the contract."""

    ROUTES: ClassVar[tuple[tuple[str, tuple[str, ...], str], ...]] = ROUTES

    def __init__(
        self,
        *,
        token: str = "test-token",
        page_size: int = 2,
        now: Callable[[], datetime] | None = None,
        client_id: str = "test-client",
        client_secret: str = "test-secret",
        api_version: str = "v62.0",
        api_limit: int = 15000,
    ) -> None:
        if not _VERSION_RE.match(api_version):
            raise ValueError(f"api_version must look like v62.0, not {api_version!r}")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.first_token = token
        self.page_size = page_size
        self.client_id = client_id
        self.client_secret = client_secret
        self.api_version = api_version
        self.api_limit = api_limit
        self._clock: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.app = Starlette(routes=[Route("/{path:path}", self._dispatch, methods=_ALL_METHODS)])
        self.reset()

    # ------------------------------------------------------------------ control API
    def reset(self) -> None:
        """Forget all data, custom fields, tokens, cursors, faults, counters and recorded requests."""
        if not hasattr(self, "requests"):
            self.requests: list[RecordedRequest] = []
        self.requests.clear()
        self.tokens_issued = 0
        self.api_usage = 0
        self._faults = FaultScript()
        self._valid_tokens: set[str] = set()
        self._fail_next_token_request = False
        self._schema = _standard_schema()
        self._data: dict[str, dict[str, dict[str, object]]] = {name: {} for name in self._schema}
        self._cursors: dict[str, _Cursor] = {}
        self._serial = 0
        self._case_numbers = 1000
        self._closed_case_statuses = {"Closed"}

    def fail_next(self, fault: FaultName, *, times: int = 1, path_contains: str | None = None) -> None:
        """Answer the next ``times`` matching requests with ``fault`` (see the module docstring for renderings)."""
        self._faults.add(fault, times=times, path_contains=path_contains)

    def issue_token(self) -> str:
        """Mint a valid access token without an HTTP call (counts in ``tokens_issued``)."""
        token = self.first_token if self.tokens_issued == 0 else f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        self._valid_tokens.add(token)
        self.tokens_issued += 1
        return token

    def revoke_tokens(self) -> None:
        """Make every token issued so far invalid (as an expired session would be)."""
        self._valid_tokens.clear()

    def define_field(
        self, sobject: str, name: str, field_type: FieldType = "string", *, external_id: bool = True
    ) -> None:
        """Define a custom field (``name`` must end in ``__c``) on ``sobject``; existing records get None."""
        spec = self._spec(sobject)
        if not name.endswith("__c"):
            raise ValueError(f"custom field names end in __c: {name!r}")
        if field_type not in _CUSTOM_TYPES:
            raise ValueError(f"unsupported custom field type {field_type!r}")
        existing = spec.field(name)
        if existing and existing.name != name:
            name = existing.name
        spec.add(
            FieldSpec(name, field_type, external_id=external_id, max_length=255 if field_type == "string" else None)
        )
        for row in self._data[spec.name].values():
            row.setdefault(name, None)

    def add_contact(self, email: str, fields: dict[str, object] | None = None) -> str:
        """Add a Contact with ``Email`` = ``email`` and ``fields``; returns its 18-char Id."""
        return self._world_insert("Contact", {"Email": email, **(fields or {})})

    def add_case(
        self,
        contact_id: str,
        *,
        subject: str,
        closed: bool,
        priority: str | None = None,
        status: str | None = None,
        created_at: datetime | None = None,
    ) -> str:
        """Add a Case for the contact; ``status`` defaults to Closed/New; a custom closed status becomes closed."""
        status = status or ("Closed" if closed else "New")
        if closed:
            self._closed_case_statuses.add(status)
        elif status in self._closed_case_statuses:
            raise ValueError(f"status {status!r} is a closed status but closed=False")
        values: dict[str, object] = {
            "ContactId": contact_id,
            "Subject": subject,
            "Status": status,
            "Priority": priority,
        }
        if created_at is not None:
            values["CreatedDate"] = created_at
        return self._world_insert("Case", values)

    def add_task(self, contact_id: str, fields: dict[str, object]) -> str:
        """Add a Task whose WhoId is the contact (moves its LastActivityDate like Salesforce, if closed)."""
        return self._world_insert("Task", {**fields, "WhoId": contact_id})

    def add_event(self, contact_id: str, fields: dict[str, object]) -> str:
        """Add an Event whose WhoId is the contact (needs StartDateTime and EndDateTime or DurationInMinutes)."""
        return self._world_insert("Event", {**fields, "WhoId": contact_id})

    def record(self, sobject: str, record_id: str) -> dict[str, object]:
        """The record's current field values (Python values: str, bool, int, float, date, aware UTC datetime)."""
        spec = self._spec(sobject)
        row = self._data[spec.name].get(record_id[:15])
        if row is None:
            raise KeyError(f"no {spec.name} {record_id}")
        return dict(row)

    def records(self, sobject: str) -> list[dict[str, object]]:
        """All records of ``sobject`` (oldest first), as :meth:`record` returns them."""
        return [dict(row) for row in self._data[self._spec(sobject).name].values()]

    # ------------------------------------------------------------------ world internals
    def _now(self) -> datetime:
        value = self._clock()
        if value.tzinfo is None:
            raise ValueError("the fake's clock must return timezone-aware datetimes")
        return value.astimezone(UTC)

    def _spec(self, sobject: str) -> SObjectSpec:
        for name, spec in self._schema.items():
            if name.lower() == sobject.lower():
                return spec
        raise KeyError(f"the fake has no sObject {sobject!r}; it knows {', '.join(self._schema)}")

    def _new_id(self, spec: SObjectSpec) -> str:
        self._serial += 1
        return id18(f"{spec.key_prefix}5g00000{_base62(2_147_483 + self._serial * 7_919_211, 5)}")

    def _world_insert(self, sobject: str, values: Mapping[str, object]) -> str:
        try:
            return self._insert(self._spec(sobject), values, world=True)
        except SalesforceApiError as error:
            raise ValueError(f"{error.code}: {error.message}") from None

    def _infer_custom(self, spec: SObjectSpec, name: str, value: object) -> FieldSpec:
        field_type: FieldType
        if isinstance(value, bool):
            field_type = "boolean"
        elif isinstance(value, int | float):
            field_type = "double"
        elif isinstance(value, datetime):
            field_type = "datetime"
        elif isinstance(value, date):
            field_type = "date"
        elif value is None or isinstance(value, str):
            field_type = "string"
        else:
            raise ValueError(f"can't infer a Salesforce field type for {name}={value!r}")
        self.define_field(spec.name, name, field_type)
        found = spec.field(name)
        assert found is not None
        return found

    # ------------------------------------------------------------------ writes (API and world)
    def _resolve(
        self, spec: SObjectSpec, body: Mapping[str, object], *, creating: bool, world: bool
    ) -> dict[str, object]:
        """Body keys → canonical field names with coerced values; raises SalesforceApiError like Salesforce."""
        resolved: dict[str, object] = {}
        for key, raw in body.items():
            if key == "attributes" and not world:
                continue
            spec_field = spec.field(key)
            if spec_field is None:
                if not (world and key.endswith("__c")):
                    raise SalesforceApiError(
                        400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {spec.name}"
                    )
                spec_field = self._infer_custom(spec, key, raw)
            if not world:
                if spec_field.name == "Id":
                    raise SalesforceApiError(
                        400, "INVALID_FIELD", "The Id field should not be specified in the sobject data."
                    )
                if not (spec_field.createable if creating else spec_field.updateable):
                    raise SalesforceApiError(
                        400,
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        f"Unable to create/update fields: {spec_field.name}. Please check the security settings of "
                        "this field and verify that it is read/write for your profile or permission set.",
                        [spec_field.name],
                    )
            resolved[spec_field.name] = self._coerce(spec_field, raw, world=world)
        return resolved

    def _coerce(self, spec: FieldSpec, raw: object, *, world: bool) -> object:
        if raw is None:
            return None

        def parse_error() -> SalesforceApiError:
            shown = json.dumps(raw) if not isinstance(raw, datetime | date) else raw.isoformat()
            kind = {"datetime": "datetime", "date": "date", "boolean": "boolean", "int": "int", "double": "double"}
            return SalesforceApiError(
                400,
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {kind.get(spec.type, 'string')} from VALUE_STRING value {shown} "
                "or request may be missing a required field at [line:1, column:1]",
            )

        if spec.type == "boolean":
            if isinstance(raw, bool):
                return raw
            raise parse_error()
        if spec.type in ("int", "double"):
            number: float
            if isinstance(raw, bool):
                raise parse_error()
            numeric_text = isinstance(raw, str) and re.fullmatch(r"[+-]?\d+(\.\d+)?", raw.strip())
            if isinstance(raw, int | float) or numeric_text:
                number = float(raw)  # type: ignore[arg-type]
            else:
                raise parse_error()
            if spec.type == "int":
                if number != int(number):
                    raise parse_error()
                return int(number)
            return number
        if spec.type == "date":
            if isinstance(raw, datetime):
                raise parse_error()
            if isinstance(raw, date) and world:
                return raw
            parsed_date = _parse_date(raw) if isinstance(raw, str) else None
            if parsed_date is None:
                raise parse_error()
            return parsed_date
        if spec.type == "datetime":
            if isinstance(raw, datetime) and world:
                if raw.tzinfo is None:
                    raise ValueError(f"{spec.name}: datetimes given to the fake must be timezone-aware")
                return raw.astimezone(UTC)
            parsed = _parse_datetime(raw) if isinstance(raw, str) else None
            if parsed is None:
                raise parse_error()
            return parsed
        # text types
        if isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, int | float):
            text = str(raw)
        elif isinstance(raw, str):
            text = raw
        else:
            raise parse_error()
        if spec.max_length is not None and len(text) > spec.max_length:
            raise SalesforceApiError(
                400,
                "STRING_TOO_LONG",
                f"{spec.display}: data value too large: {text[:40]}... (max length={spec.max_length})",
                [spec.name],
            )
        if spec.type == "email" and text and not _EMAIL_RE.match(text):
            raise SalesforceApiError(
                400, "INVALID_EMAIL_ADDRESS", f"{spec.display}: invalid email address: {text}", [spec.name]
            )
        if spec.restricted and text not in spec.restricted:
            raise SalesforceApiError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{spec.display}: bad value for restricted picklist field: {text}",
                [spec.name],
            )
        if spec.type == "reference":
            if not _ID_RE.match(text):
                raise SalesforceApiError(
                    400, "MALFORMED_ID", f"{spec.display}: id value of incorrect type: {text}", [spec.name]
                )
            if spec.refers_to and text[:3] not in spec.refers_to:
                raise SalesforceApiError(
                    400, "FIELD_INTEGRITY_EXCEPTION", f"{spec.display}: id value of incorrect type: {text}", [spec.name]
                )
            if text[:3] == KEY_PREFIXES["Contact"] and text[:15] not in self._data["Contact"]:
                raise SalesforceApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [spec.name])
            return id18(text[:15]) if len(text) == 15 else text
        return text

    def _insert(self, spec: SObjectSpec, body: Mapping[str, object], *, world: bool) -> str:
        values = self._resolve(spec, body, creating=True, world=world)
        now = self._now()
        row: dict[str, object] = {fs.name: None for fs in spec.fields.values()}
        row.update(self._defaults(spec.name))
        row.update(values)
        row["Id"] = self._new_id(spec)
        if not world or row.get("CreatedDate") is None:
            row["CreatedDate"] = now
        if not world or row.get("LastModifiedDate") is None:
            row["LastModifiedDate"] = row["CreatedDate"]
        if spec.name == "Contact" and not world and not row.get("LastName"):
            raise SalesforceApiError(
                400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ["LastName"]
            )
        self._derive(spec.name, row, changed=set(values), previous=None)
        self._data[spec.name][str(row["Id"])[:15]] = row
        self._touch_activity(spec.name, row)
        return str(row["Id"])

    def _update(self, spec: SObjectSpec, row: dict[str, object], body: Mapping[str, object]) -> None:
        values = self._resolve(spec, body, creating=False, world=False)
        candidate = {**row, **values}
        self._derive(spec.name, candidate, changed=set(values), previous=row)
        candidate["LastModifiedDate"] = self._now()
        row.update(candidate)
        self._touch_activity(spec.name, row)

    @staticmethod
    def _defaults(sobject: str) -> dict[str, object]:
        defaults: dict[str, dict[str, object]] = {
            "Task": {"Status": "Not Started", "Priority": "Normal", "TaskSubtype": "Task"},
            "Case": {"Status": "New"},
        }
        return dict(defaults.get(sobject, {}))

    def _derive(
        self, sobject: str, row: dict[str, object], *, changed: set[str], previous: Mapping[str, object] | None
    ) -> None:
        """Recompute derived fields; enforce cross-field rules."""
        if sobject == "Contact":
            row["Name"] = " ".join(str(part) for part in (row.get("FirstName"), row.get("LastName")) if part) or None
        elif sobject == "Task":
            row["IsClosed"] = row.get("Status") in CLOSED_TASK_STATUSES
        elif sobject == "Case":
            closed = row.get("Status") in self._closed_case_statuses
            was_closed = bool(previous and previous.get("IsClosed"))
            row["IsClosed"] = closed
            if closed and not was_closed:
                created = row.get("CreatedDate")
                now = self._now()
                row["ClosedDate"] = created if isinstance(created, datetime) and created > now else now
            elif not closed:
                row["ClosedDate"] = None
            if row.get("CaseNumber") is None:
                self._case_numbers += 1
                row["CaseNumber"] = f"{self._case_numbers:08d}"
        elif sobject == "Event":
            self._derive_event(row, changed)

    @staticmethod
    def _derive_event(row: dict[str, object], changed: set[str]) -> None:
        if "StartDateTime" in changed:
            start = row.get("StartDateTime")
        elif "ActivityDateTime" in changed:
            start = row.get("ActivityDateTime")
        else:
            start = row.get("StartDateTime") or row.get("ActivityDateTime")
        if not isinstance(start, datetime):
            raise SalesforceApiError(
                400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [StartDateTime]", ["StartDateTime"]
            )
        end = row.get("EndDateTime")
        duration = row.get("DurationInMinutes")
        if "EndDateTime" in changed and "DurationInMinutes" not in changed:
            duration = None
        elif "DurationInMinutes" in changed and "EndDateTime" not in changed:
            end = None
        elif {"StartDateTime", "ActivityDateTime"} & changed and "EndDateTime" not in changed:
            end = None  # moving the start keeps the duration
        if end is None and duration is None:
            raise SalesforceApiError(
                400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [DurationInMinutes]", ["DurationInMinutes"]
            )
        if isinstance(end, datetime):
            if end < start:
                raise SalesforceApiError(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    "End Date Time: End time must be after start time",
                    ["EndDateTime"],
                )
            minutes = int((end - start).total_seconds() // 60)
            if duration is not None and duration != minutes:
                raise SalesforceApiError(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    "Duration: DurationInMinutes doesn't match StartDateTime and EndDateTime",
                    ["DurationInMinutes"],
                )
            duration = minutes
        else:
            assert isinstance(duration, int)
            if duration < 0:
                raise SalesforceApiError(
                    400, "FIELD_INTEGRITY_EXCEPTION", "Duration: must not be negative", ["DurationInMinutes"]
                )
            end = start + timedelta(minutes=duration)
        row.update(
            StartDateTime=start,
            ActivityDateTime=start,
            EndDateTime=end,
            DurationInMinutes=duration,
            ActivityDate=start.date(),
        )

    def _touch_activity(self, sobject: str, row: Mapping[str, object]) -> None:
        """Move the contact's LastActivityDate for an event or closed task logged against it."""
        if sobject not in ("Task", "Event"):
            return
        who = row.get("WhoId")
        if not isinstance(who, str) or not who.startswith(KEY_PREFIXES["Contact"]):
            return
        contact = self._data["Contact"].get(who[:15])
        if contact is None:
            return
        if sobject == "Task":
            if not row.get("IsClosed"):
                return
            when = row.get("ActivityDate")
            if when is None:
                created = row.get("CreatedDate")
                when = created.date() if isinstance(created, datetime) else self._now().date()
        else:
            when = row.get("ActivityDate")
        current = contact.get("LastActivityDate")
        if isinstance(when, date) and (not isinstance(current, date) or when > current):
            contact["LastActivityDate"] = when

    # ------------------------------------------------------------------ reads
    def _record_json(
        self, spec: SObjectSpec, row: Mapping[str, object], version: str, names: Iterable[str] | None = None
    ) -> dict[str, object]:
        body: dict[str, object] = {"attributes": {"type": spec.name, "url": self._record_url(spec, row, version)}}
        for name in names if names is not None else (fs.name for fs in spec.fields.values()):
            body[name] = _wire(row.get(name))
        return body

    @staticmethod
    def _record_url(spec: SObjectSpec, row: Mapping[str, object], version: str) -> str:
        return f"/services/data/{version}/sobjects/{spec.name}/{row['Id']}"

    def _run_soql(self, text: str, version: str) -> tuple[list[dict[str, object]], int]:
        query = _Parser(text, self._now().date()).parse()
        name = query.sobject_token.text
        spec = next((s for n, s in self._schema.items() if n.lower() == name.lower()), None)
        if spec is None:
            raise SoqlError(
                "INVALID_TYPE",
                _located(
                    text,
                    query.sobject_token.pos,
                    f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure "
                    "to append the '__c' after the entity name. Please reference your WSDL or the describe call for "
                    "the appropriate names.",
                ),
            )

        def resolve(token: _Token) -> FieldSpec:
            found = spec.field(token.text)
            if found is None:
                raise SoqlError(
                    "INVALID_FIELD",
                    _located(
                        text,
                        token.pos,
                        f"No such column '{token.text}' on entity '{spec.name}'. If you are attempting to use a custom "
                        "field, be sure to append the '__c' after the custom field name. Please reference your WSDL "
                        "or the describe call for the appropriate names.",
                    ),
                )
            return found

        selected: list[FieldSpec] = []
        for token in query.fields:
            resolved = resolve(token)
            if resolved in selected:
                raise SoqlError(
                    "MALFORMED_QUERY", _located(text, token.pos, f"duplicate field selected: {resolved.name}")
                )
            selected.append(resolved)
        count_spec = resolve(query.count_field) if query.count_field else None

        def check(expr: _Expr) -> None:
            if isinstance(expr, _BoolOp):
                for item in expr.items:
                    check(item)
                return
            if isinstance(expr, _Not):
                check(expr.item)
                return
            expr.spec = resolve(expr.field_token)
            if not expr.spec.filterable:
                raise SoqlError(
                    "INVALID_FIELD",
                    _located(
                        text, expr.field_token.pos, f"field '{expr.spec.name}' can not be filtered in a query call"
                    ),
                )
            literals = expr.value if isinstance(expr.value, list) else [expr.value]
            for literal in literals:
                _check_literal(text, literal, expr.spec, expr.op)
            if expr.op == "LIKE":
                literal = literals[0]
                if literal.kind != "string" or expr.spec.type not in _TEXT_TYPES:
                    raise _type_error(text, literal, expr.spec)
                expr.pattern = _like_pattern(literal.raw, text, literal.token.pos)

        if query.where is not None:
            check(query.where)
        order: list[tuple[FieldSpec, bool, bool]] = []
        for token, descending, nulls_first in query.order:
            resolved = resolve(token)
            if not resolved.filterable:
                raise SoqlError(
                    "INVALID_FIELD",
                    _located(text, token.pos, f"field '{resolved.name}' can not be sorted in a query call"),
                )
            order.append((resolved, descending, nulls_first))
        if query.count and order:
            raise SoqlError(
                "MALFORMED_QUERY", _located(text, query.order[0][0].pos, "Ordered field must be grouped or aggregated")
            )

        rows = [row for row in self._data[spec.name].values() if query.where is None or _eval(query.where, row, text)]
        if order:
            rows = _sort_rows(rows, order)
        rows = rows[query.offset :]
        if query.limit is not None:
            rows = rows[: query.limit]
        if query.count and count_spec is None:
            return [], len(rows)
        if query.count:
            assert count_spec is not None
            counted = sum(1 for row in rows if row.get(count_spec.name) is not None)
            return [{"attributes": {"type": "AggregateResult"}, "expr0": counted}], 1
        names = [fs.name for fs in selected]
        return [self._record_json(spec, row, version, names) for row in rows], len(rows)

    # ------------------------------------------------------------------ HTTP plumbing
    def _limit_info(self, used: int | None = None) -> str:
        return f"api-usage={self.api_usage if used is None else used}/{self.api_limit}"

    def _json(self, status: int, body: object, headers: Mapping[str, str] | None = None) -> Response:
        all_headers = {"Sforce-Limit-Info": self._limit_info()}
        all_headers.update(headers or {})
        return Response(json.dumps(body), status_code=status, media_type=_JSON, headers=all_headers)

    def _error(self, error: SalesforceApiError, headers: Mapping[str, str] | None = None) -> Response:
        return self._json(error.status, error.body(), headers)

    def _oauth_error(
        self, status: int, error: str, description: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        return self._json(status, {"error": error, "error_description": description}, headers)

    def _fault_response(self, fault: FaultName) -> Response | None:
        """The data API's rendering of a fault (None for ``slow``, which answers normally afterwards)."""
        if fault == "unavailable":
            return self._error(
                SalesforceApiError(
                    503, "SERVER_UNAVAILABLE", "Service temporarily unavailable. Please try again later."
                )
            )
        if fault == "rate_limited":
            return self._error(
                SalesforceApiError(403, "REQUEST_LIMIT_EXCEEDED", CONCURRENT_LIMIT_MESSAGE),
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if fault == "quota":
            error = SalesforceApiError(403, "REQUEST_LIMIT_EXCEEDED", TOTAL_REQUESTS_MESSAGE)
            return Response(
                json.dumps(error.body()),
                status_code=403,
                media_type=_JSON,
                headers={"Sforce-Limit-Info": self._limit_info(self.api_limit)},
            )
        if fault == "auth":
            self.revoke_tokens()
            self._fail_next_token_request = True
            return self._invalid_session()
        if fault == "malformed":
            return Response(
                _MALFORMED_BODY, status_code=200, media_type=_JSON, headers={"Sforce-Limit-Info": self._limit_info()}
            )
        return None

    def _invalid_session(self) -> Response:
        return self._error(SalesforceApiError(401, "INVALID_SESSION_ID", "Session expired or invalid"))

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() in ("bearer", "oauth") and token.strip() in self._valid_tokens

    def _take_explicit_fault(self, path: str) -> FaultName | None:
        """A fault scripted with a ``path_contains`` that matches ``path`` (unfiltered faults don't count)."""
        for scripted in list(self._faults.pending):
            if scripted.path_contains is not None and scripted.path_contains in path:
                scripted.remaining -= 1
                if scripted.remaining <= 0:
                    self._faults.pending.remove(scripted)
                return scripted.fault
        return None

    def _version(self, segment: str) -> str | None:
        """The request's API version (``latest`` resolved), or None when it isn't one Salesforce would serve."""
        if segment == "latest":
            return self.api_version
        match = _VERSION_RE.match(segment)
        if not match or int(match[1]) < 20:
            return None
        return segment

    async def _dispatch(self, request: Request) -> Response:
        self.requests.append(await record(request))
        path = request.url.path.rstrip("/") or "/"
        method = request.method
        for pattern, methods, name in _COMPILED_ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            params = match.groupdict()
            if name == "token":
                if method not in methods:
                    return self._error(self._method_not_allowed(method, methods))
                return await self._token(request)
            if name == "versions":
                if method not in methods:
                    return self._error(self._method_not_allowed(method, methods))
                fault = self._faults.take(request.url.path)
                if fault == "slow":
                    await slow()
                elif fault is not None:
                    faulted = self._fault_response(fault)
                    if faulted is not None:
                        return faulted
                return self._versions()
            return await self._data_request(request, name, methods, params)
        if path.startswith("/services/data/"):
            return await self._data_request(request, None, (), {"version": path.split("/")[3]})
        return self._error(_not_found())

    @staticmethod
    def _method_not_allowed(method: str, methods: tuple[str, ...]) -> SalesforceApiError:
        return SalesforceApiError(
            405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {','.join(methods)}"
        )

    async def _data_request(
        self, request: Request, name: str | None, methods: tuple[str, ...], params: dict[str, str]
    ) -> Response:
        if not self._authorized(request):
            return self._invalid_session()
        version = self._version(params.get("version", ""))
        if name is None or version is None:
            return self._error(_not_found())
        if request.method not in methods:
            return self._error(self._method_not_allowed(request.method, methods))
        self.api_usage += 1
        fault = self._faults.take(request.url.path)
        if fault == "slow":
            await slow()
        elif fault is not None:
            faulted = self._fault_response(fault)
            if faulted is not None:
                return faulted
        try:
            if name == "limits":
                return self._limits()
            if name == "query":
                return self._query(request, version)
            if name == "query_more":
                return self._query_more(params["locator"], version)
            if name == "create":
                return self._create(params["sobject"], await request.body(), version)
            if name == "row":
                if request.method == "PATCH":
                    return self._patch(params["sobject"], params["record_id"], await request.body())
                return self._get_row(request, params["sobject"], params["record_id"], version)
            return self._by_external_id(params["sobject"], params["id_field"], params["id_value"], version)
        except SalesforceApiError as error:
            return self._error(error)

    # ------------------------------------------------------------------ handlers
    async def _token(self, request: Request) -> Response:
        fault = self._take_explicit_fault(request.url.path)
        if fault == "slow":
            await slow()
        elif fault == "unavailable":
            return self._oauth_error(503, "temporarily_unavailable", "service temporarily unavailable")
        elif fault == "rate_limited":
            return self._oauth_error(
                503, "rate_limit_exceeded", "too many requests", {"Retry-After": str(RETRY_AFTER_SECONDS)}
            )
        elif fault == "quota":
            return self._oauth_error(400, "rate_limit_exceeded", "rate limit exceeded")
        elif fault == "malformed":
            return Response(
                b'{"access_token":"',
                status_code=200,
                media_type=_JSON,
                headers={"Sforce-Limit-Info": self._limit_info()},
            )
        elif fault == "auth":
            self.revoke_tokens()
            return self._oauth_error(400, "invalid_client", "invalid client credentials")
        if self._fail_next_token_request:
            self._fail_next_token_request = False
            self.revoke_tokens()
            return self._oauth_error(400, "invalid_client", "invalid client credentials")
        form = {key: values[-1] for key, values in _parse_form(await request.body()).items()}
        client_id = form.get("client_id")
        client_secret = form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(basic[6:].strip()).decode()
                client_id, _, client_secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                return self._oauth_error(400, "invalid_client", "invalid client credentials")
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if client_id != self.client_id:
                return self._oauth_error(400, "invalid_client_id", "client identifier invalid")
            if client_secret != self.client_secret:
                return self._oauth_error(400, "invalid_client", "invalid client credentials")
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            try:
                claims = jwt.decode(form.get("assertion", ""), options={"verify_signature": False})
            except jwt.PyJWTError:
                return self._oauth_error(400, "invalid_grant", "invalid assertion")
            if claims.get("iss") != self.client_id:
                return self._oauth_error(400, "invalid_client_id", "client identifier invalid")
            if not claims.get("sub") or not claims.get("aud"):
                return self._oauth_error(400, "invalid_grant", "invalid assertion")
        else:
            return self._oauth_error(400, "unsupported_grant_type", "grant type not supported")
        instance_url = str(request.base_url).rstrip("/")
        identity = f"{instance_url}/id/{ORG_ID}/{USER_ID}"
        issued_at = str(int(self._now().timestamp() * 1000))
        signature = base64.b64encode(
            hmac.new(self.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        return self._json(
            200,
            {
                "access_token": self.issue_token(),
                "signature": signature,
                "scope": "api",
                "instance_url": instance_url,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
            },
        )

    def _versions(self) -> Response:
        top = int(self.api_version[1:].split(".")[0])
        versions = []
        for number in range(31, top + 1):
            step = number - 31
            season = ("Summer", "Winter", "Spring")[step % 3]
            year = 14 + (step + 2) // 3
            versions.append(
                {"label": f"{season} '{year:02d}", "url": f"/services/data/v{number}.0", "version": f"{number}.0"}
            )
        return self._json(200, versions)

    def _limits(self) -> Response:
        def pair(maximum: int, remaining: int | None = None) -> dict[str, int]:
            return {"Max": maximum, "Remaining": maximum if remaining is None else remaining}

        return self._json(
            200,
            {
                "DailyApiRequests": pair(self.api_limit, max(0, self.api_limit - self.api_usage)),
                "DailyAsyncApexExecutions": pair(250000),
                "DailyBulkApiBatches": pair(15000),
                "DataStorageMB": pair(5),
                "FileStorageMB": pair(20),
            },
        )

    def _batch_size(self, request: Request) -> int:
        header = request.headers.get("sforce-query-options", "")
        match = re.search(r"batchSize\s*=\s*(\d+)", header, re.IGNORECASE)
        if not match:
            return self.page_size
        return max(1, min(2000, int(match[1])))

    def _query(self, request: Request, version: str) -> Response:
        text = request.query_params.get("q")
        if not text or not text.strip():
            raise SalesforceApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            records, total = self._run_soql(text, version)
        except SoqlError as error:
            raise SalesforceApiError(400, error.code, error.message) from None
        locator = "01g" + "".join(secrets.choice(_BASE62) for _ in range(15))
        cursor = _Cursor(records, total, self._batch_size(request))
        self._cursors[locator] = cursor
        return self._json(200, self._page(locator, cursor, 0, version))

    def _query_more(self, locator_and_offset: str, version: str) -> Response:
        locator, _, offset_text = locator_and_offset.rpartition("-")
        cursor = self._cursors.get(locator)
        if cursor is None or not offset_text.isdigit() or int(offset_text) > len(cursor.records):
            raise SalesforceApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._json(200, self._page(locator, cursor, int(offset_text), version))

    @staticmethod
    def _page(locator: str, cursor: _Cursor, start: int, version: str) -> dict[str, object]:
        end = min(len(cursor.records), start + cursor.batch)
        body: dict[str, object] = {"totalSize": cursor.total, "done": end >= len(cursor.records)}
        if end < len(cursor.records):
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{end}"
        body["records"] = cursor.records[start:end]
        return body

    def _api_spec(self, sobject: str) -> SObjectSpec:
        try:
            return self._spec(sobject)
        except KeyError:
            raise _not_found() from None

    @staticmethod
    def _parse_body(raw: bytes) -> dict[str, object]:
        try:
            body = json.loads(raw or b"")
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            message = getattr(error, "msg", str(error))
            raise SalesforceApiError(
                400, "JSON_PARSER_ERROR", f"Unexpected character: {message} at [line:1, column:1]"
            ) from None
        if not isinstance(body, dict):
            raise SalesforceApiError(
                400,
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of SObject out of START_ARRAY token at [line:1, column:1]",
            )
        return body

    def _create(self, sobject: str, raw: bytes, version: str) -> Response:
        spec = self._api_spec(sobject)
        new_id = self._insert(spec, self._parse_body(raw), world=False)
        return self._json(201, {"id": new_id, "errors": [], "success": True})

    def _find(self, spec: SObjectSpec, record_id: str) -> dict[str, object]:
        if not _ID_RE.match(record_id):
            raise _not_found()
        if record_id[:3] != spec.key_prefix:
            raise SalesforceApiError(
                400, "MALFORMED_ID", f"{spec.name} ID: id value of incorrect type: {record_id}", ["Id"]
            )
        row = self._data[spec.name].get(record_id[:15])
        if row is None:
            raise _not_found()
        return row

    def _get_row(self, request: Request, sobject: str, record_id: str, version: str) -> Response:
        spec = self._api_spec(sobject)
        row = self._find(spec, record_id)
        wanted = request.query_params.get("fields")
        names: list[str] | None = None
        if wanted:
            names = []
            for raw in wanted.split(","):
                found = spec.field(raw.strip())
                if found is None:
                    raise SalesforceApiError(
                        400, "INVALID_FIELD", f"No such column '{raw.strip()}' on entity '{spec.name}'."
                    )
                names.append(found.name)
        return self._json(200, self._record_json(spec, row, version, names))

    def _patch(self, sobject: str, record_id: str, raw: bytes) -> Response:
        spec = self._api_spec(sobject)
        row = self._find(spec, record_id)
        self._update(spec, row, self._parse_body(raw))
        return Response(status_code=204, headers={"Sforce-Limit-Info": self._limit_info()})

    def _by_external_id(self, sobject: str, id_field: str, value: str, version: str) -> Response:
        spec = self._api_spec(sobject)
        lookup = spec.field(id_field)
        if lookup is None or not (lookup.id_lookup or lookup.external_id):
            raise SalesforceApiError(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {id_field}"
            )
        if lookup.name == "Id":
            return self._json(200, self._record_json(spec, self._find(spec, value), version))
        if lookup.type in ("double", "int"):
            try:
                wanted: object = float(value)
            except ValueError:
                raise _not_found() from None
        else:
            wanted = _compare_key(lookup, value)
        matches = [
            row for row in self._data[spec.name].values() if _compare_key(lookup, row.get(lookup.name)) == wanted
        ]
        if not matches:
            raise _not_found()
        if len(matches) > 1:
            return self._json(300, [self._record_url(spec, row, version) for row in matches])
        return self._json(200, self._record_json(spec, matches[0], version))


def _parse_form(raw: bytes) -> dict[str, list[str]]:
    return parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)


__all__ = [
    "CALL_TYPES",
    "CLOSED_TASK_STATUSES",
    "CONCURRENT_LIMIT_MESSAGE",
    "KEY_PREFIXES",
    "ROUTES",
    "TASK_STATUSES",
    "TASK_SUBTYPES",
    "TOTAL_REQUESTS_MESSAGE",
    "FakeSalesforce",
    "FieldSpec",
    "SalesforceApiError",
    "id18",
    "sf_datetime",
]
