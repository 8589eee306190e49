"""The HTTP layer every real vendor adapter shares.

One ``httpx.AsyncClient`` per runtime (:func:`build_http_client`); per adapter one :class:`VendorHttp`
that adds the vendor's base URL and auth, sends, and turns *every* failure into the error tree
(:func:`map_http_error`) in one place:

==========================================  ======================================================
what happened                               raised
==========================================  ======================================================
connect error, read error                   ``ProviderUnavailable`` (``ProviderTimeout`` on timeouts)
5xx                                         ``ProviderUnavailable``
429 with a short wait                       ``RateLimited(retry_after)``
daily/rolling quota (vendor policy decides)  ``QuotaExhausted(resets_at)``
401, 403                                    ``ProviderAuthError``
other 4xx                                   ``ProviderRejected`` (our request was wrong; not counted)
body not JSON / not the documented shape    ``ProviderResponseInvalid``
==========================================  ======================================================

``Retry-After`` (seconds or an HTTP-date) and the vendors' rate-limit headers are normalised into
:class:`RateLimitInfo`. Vendor error bodies differ; a :class:`VendorPolicy` per vendor extracts the
message and spots quota errors. Nothing here retries: the breaker and the caller's deadline decide.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar, overload

import httpx
from pydantic import TypeAdapter, ValidationError

from fearvana_integration.clock import Clock
from fearvana_integration.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderResponseInvalid,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)
from fearvana_integration.observability import tracing
from fearvana_integration.observability.redaction import redact_text

USER_AGENT = "fearvana-integration/0.1 (+httpx)"
# A Retry-After longer than this is not "a short wait": the vendor means a quota, not a burst.
SHORT_WAIT_SECONDS = 120.0
MAX_MESSAGE_CHARS = 200
MAX_PAGES = 50

M = TypeVar("M")
T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")


def build_http_client(timeout_seconds: float = 10.0) -> httpx.AsyncClient:
    """The runtime's one HTTP client: pooled, HTTP/1.1, a whole-request timeout as a last resort.

    The per-source deadline is enforced by ``SourceGuard``; this timeout only stops a request that
    nobody waits for any more (e.g. a write the caller gave up on) from hanging forever. Every request
    carries the current trace (W3C ``traceparent``; see ``observability/tracing.py``).
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
        event_hooks={"request": [tracing.httpx_request_hook]},
    )


# Rate-limit headers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimitInfo:
    """What a response said about our rate limits, in one vocabulary for every vendor."""

    retry_after_seconds: float | None = None
    window_remaining: int | None = None
    window_reset_seconds: float | None = None
    daily_remaining: int | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], now: datetime) -> RateLimitInfo:
        """Read ``Retry-After`` and the vendor headers (HubSpot, Pipedrive, Salesforce, generic)."""
        lower = {key.lower(): value for key, value in headers.items()}
        window_reset: float | None = None
        if "x-hubspot-ratelimit-interval-milliseconds" in lower:
            interval = _number(lower.get("x-hubspot-ratelimit-interval-milliseconds"))
            window_reset = interval / 1000 if interval is not None else None
        elif "x-ratelimit-reset" in lower:
            # Pipedrive and Calendly send seconds until the window resets (SendGrid's epoch is handled by its adapter).
            window_reset = _number(lower.get("x-ratelimit-reset"))
        remaining = _int(lower.get("x-hubspot-ratelimit-remaining") or lower.get("x-ratelimit-remaining"))
        daily = _int(lower.get("x-hubspot-ratelimit-daily-remaining") or lower.get("x-daily-requests-left"))
        if daily is None and "sforce-limit-info" in lower:
            daily = _salesforce_remaining(lower["sforce-limit-info"])
        return cls(
            retry_after_seconds=parse_retry_after(lower.get("retry-after"), now),
            window_remaining=remaining,
            window_reset_seconds=window_reset,
            daily_remaining=daily,
        )


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now`` (RFC 9110: delay-seconds or an HTTP-date); None if absent/garbled."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _salesforce_remaining(value: str) -> int | None:
    # "api-usage=25/15000" (possibly followed by other comma-separated items)
    for item in value.split(","):
        name, _, usage = item.strip().partition("=")
        if name == "api-usage" and "/" in usage:
            used, _, maximum = usage.partition("/")
            used_n, max_n = _int(used), _int(maximum)
            if used_n is not None and max_n is not None:
                return max(max_n - used_n, 0)
    return None


def next_utc_midnight(now: datetime) -> datetime:
    """The next 00:00 UTC after ``now`` (daily quotas whose reset time zone we do not know)."""
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


# Vendor policy and error mapping --------------------------------------------------------------------


@dataclass(frozen=True)
class VendorFailure:
    """A non-success response, parsed as far as the vendor's error format allows."""

    status: int
    body: Any  # parsed JSON, or None when the body was not JSON
    text: str
    rate: RateLimitInfo


class VendorPolicy:
    """How one vendor reports errors. Subclasses override what differs; the defaults suit most JSON APIs."""

    # When a 429 names no wait, retry after this (e.g. HubSpot's 10-second window).
    default_retry_after: float = 10.0

    def message(self, failure: VendorFailure) -> str:
        """The vendor's human message for a failure (first ``message``/``error`` field found)."""
        body = failure.body
        if isinstance(body, list) and body and isinstance(body[0], dict):
            body = body[0]
        if isinstance(body, dict):
            for key in ("message", "error_description", "error", "title", "detail"):
                value = body.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()
        return ""

    def code(self, failure: VendorFailure) -> str:
        """The vendor's machine-readable error code, when it sends one."""
        body = failure.body
        if isinstance(body, list) and body and isinstance(body[0], dict):
            body = body[0]
        if isinstance(body, dict):
            for key in ("errorCode", "category", "code", "error"):
                value = body.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()
        return ""

    def classify(self, failure: VendorFailure, now: datetime) -> ProviderError | None:
        """The vendor's own reading of a failure, before the status-code rules; None to use those.

        Vendors override it for what a status code alone does not say: a used-up daily allocation
        (QuotaExhausted with its reset time) or a throttle sent as something other than a 429.
        """
        return None


def map_http_error(
    failure: VendorFailure, *, provider: str, source: str, operation: str, policy: VendorPolicy, now: datetime
) -> ProviderError:
    """The one translation of a vendor's non-success response into the error tree."""
    vendor_message = redact_text(policy.message(failure))[:MAX_MESSAGE_CHARS]
    code = policy.code(failure)
    detail = " ".join(part for part in (code, vendor_message) if part)
    text = f"{provider} answered HTTP {failure.status}" + (f": {detail}" if detail else "")
    special = policy.classify(failure, now)
    if special is not None:
        special.source, special.operation = source, operation
        return special
    status = failure.status
    if status == 429:
        wait = failure.rate.retry_after_seconds
        if wait is None:
            wait = failure.rate.window_reset_seconds
        if wait is not None and wait > SHORT_WAIT_SECONDS:
            return QuotaExhausted(text, source=source, operation=operation, resets_at=now + timedelta(seconds=wait))
        return RateLimited(
            text,
            source=source,
            operation=operation,
            retry_after=wait if wait is not None else policy.default_retry_after,
        )
    if status in (401, 403):
        return ProviderAuthError(text, source=source, operation=operation)
    if status == 408 or status >= 500:
        return ProviderUnavailable(text, source=source, operation=operation)
    if 400 <= status < 500:
        return ProviderRejected(text, source=source, operation=operation)
    return ProviderResponseInvalid(
        f"{provider} answered an unexpected HTTP {status}", source=source, operation=operation
    )


def map_transport_error(error: httpx.HTTPError, *, provider: str, source: str, operation: str) -> ProviderError:
    """Connection problems and timeouts, named without leaking URLs or payloads."""
    if isinstance(error, httpx.TimeoutException):
        return ProviderTimeout(
            f"{provider} did not answer in time ({type(error).__name__})", source=source, operation=operation
        )
    return ProviderUnavailable(
        f"{provider} is unreachable ({type(error).__name__})", source=source, operation=operation
    )


# The per-adapter client -----------------------------------------------------------------------------

HeaderProvider = Callable[[], Awaitable[dict[str, str]]]


class VendorHttp:
    """One vendor's view of the shared client: base URL, auth, error mapping, JSON parsing.

    ``auth_headers`` is awaited before every request (a token may be minted there);
    ``on_unauthorized`` — when given — is awaited after a 401 and, if it returns True (a fresh
    credential was obtained), the request is sent once more.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        provider: str,
        source: str,
        base_url: str,
        clock: Clock,
        policy: VendorPolicy | None = None,
        auth_headers: HeaderProvider | None = None,
        on_unauthorized: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.client = client
        self.provider = provider
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.policy = policy or VendorPolicy()
        self.auth_headers = auth_headers
        self.on_unauthorized = on_unauthorized

    def url(self, path: str) -> str:
        """``path`` under the base URL; absolute URLs are taken as they are (paging links)."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    async def send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        accept: tuple[int, ...] = (),
        authenticate: bool = True,
    ) -> httpx.Response:
        """Send one request; a 2xx or a status in ``accept`` is returned, anything else raised as a ProviderError."""
        for attempt in (1, 2):
            merged = dict(headers or {})
            if authenticate and self.auth_headers is not None:
                merged.update(await self.auth_headers())
            try:
                response = await self.client.request(
                    method, self.url(path), params=params, json=json_body, data=form, headers=merged
                )
            except httpx.HTTPError as error:
                raise map_transport_error(
                    error, provider=self.provider, source=self.source, operation=operation
                ) from error
            if response.is_success or response.status_code in accept:
                return response
            if (
                response.status_code == 401
                and attempt == 1
                and authenticate
                and self.on_unauthorized is not None
                and await self.on_unauthorized()
            ):
                continue
            raise self.error_for(response, operation=operation)
        raise AssertionError("unreachable")  # pragma: no cover

    async def json(
        self,
        method: str,
        path: str,
        model: type[M] | TypeAdapter[M],
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
    ) -> M:
        """Send, then parse the body into ``model`` (a wire model); ProviderResponseInvalid when it does not fit."""
        response = await self.send(
            method,
            path,
            operation=operation,
            params=params,
            json_body=json_body,
            form=form,
            headers=headers,
            authenticate=authenticate,
        )
        return self.parse(response, model, operation=operation)

    def error_for(self, response: httpx.Response, *, operation: str) -> ProviderError:
        """The ProviderError for a non-success response the caller accepted to inspect first."""
        now = self.clock.now()
        return map_http_error(
            _failure(response, RateLimitInfo.from_headers(response.headers, now)),
            provider=self.provider,
            source=self.source,
            operation=operation,
            policy=self.policy,
            now=now,
        )

    def invalid(self, problem: str, *, operation: str) -> ProviderResponseInvalid:
        """The error for a payload that breaks the vendor's documented shape, naming the problem."""
        return ProviderResponseInvalid(
            f"{self.provider} sent a response that does not match its documented shape ({problem})",
            source=self.source,
            operation=operation,
        )

    def parse(self, response: httpx.Response, model: type[M] | TypeAdapter[M], *, operation: str) -> M:
        """``response``'s JSON body as ``model``; ProviderResponseInvalid naming the first problem otherwise."""
        adapter = model if isinstance(model, TypeAdapter) else TypeAdapter(model)
        try:
            return adapter.validate_json(response.content)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            problem = "is not valid JSON" if first["type"] == "json_invalid" else f"{where}: {first['msg']}"
            raise self.invalid(problem, operation=operation) from None


def _failure(response: httpx.Response, rate: RateLimitInfo) -> VendorFailure:
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    return VendorFailure(status=response.status_code, body=body, text=response.text[:500], rate=rate)


# Paging ---------------------------------------------------------------------------------------------

PageFetcher = Callable[[str | None], Awaitable[tuple[list[T], str | None]]]


async def paginate(fetch: PageFetcher[T], *, limit: int | None = None, max_pages: int = MAX_PAGES) -> AsyncIterator[T]:
    """Items from successive pages until the vendor says there is no next page or ``limit`` is reached.

    ``fetch(cursor)`` returns one page and the next cursor (None at the end). ``max_pages`` guards
    against a vendor that keeps returning the same cursor.
    """
    cursor: str | None = None
    seen: set[str] = set()
    produced = 0
    for _ in range(max_pages):
        items, cursor = await fetch(cursor)
        for item in items:
            yield item
            produced += 1
            if limit is not None and produced >= limit:
                return
        if cursor is None or cursor in seen:
            return
        seen.add(cursor)


async def collect(fetch: PageFetcher[T], *, limit: int | None = None, max_pages: int = MAX_PAGES) -> list[T]:
    """:func:`paginate` into a list."""
    return [item async for item in paginate(fetch, limit=limit, max_pages=max_pages)]


# Concurrency ----------------------------------------------------------------------------------------


async def gather_all(awaitables: Sequence[Awaitable[T]]) -> list[T]:
    """Run concurrently; on the first failure cancel the rest and wait for them, then raise that failure.

    Plain ``asyncio.gather`` leaves the siblings running: their requests would still reach the vendor
    after the caller got its error (and after the breaker opened).
    """
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


@overload
async def concurrently(first: Awaitable[A], second: Awaitable[B], /) -> tuple[A, B]: ...


@overload
async def concurrently(first: Awaitable[A], second: Awaitable[B], third: Awaitable[C], /) -> tuple[A, B, C]: ...


async def concurrently(*awaitables: Awaitable[Any]) -> tuple[Any, ...]:
    """:func:`gather_all` for two or three differently typed results."""
    return tuple(await gather_all(awaitables))
