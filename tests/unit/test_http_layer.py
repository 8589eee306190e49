"""The shared vendor HTTP layer: one error mapping, Retry-After in both forms, rate headers, paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from fearvana_integration.adapters.http import (
    RateLimitInfo,
    VendorFailure,
    VendorHttp,
    VendorPolicy,
    collect,
    map_http_error,
    next_utc_midnight,
    parse_retry_after,
)
from fearvana_integration.clock import FakeClock
from fearvana_integration.errors import (
    ProviderAuthError,
    ProviderRejected,
    ProviderResponseInvalid,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after("Mon, 23 Nov 2026 08:00:30 GMT", NOW) == 30.0
    assert parse_retry_after("Mon, 23 Nov 2026 07:00:00 GMT", NOW) == 0.0  # in the past: retry now
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_rate_headers_of_each_vendor_land_in_one_vocabulary() -> None:
    hubspot = RateLimitInfo.from_headers(
        {
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Remaining": "0",
            "X-HubSpot-RateLimit-Daily-Remaining": "12",
        },
        NOW,
    )
    assert (hubspot.window_reset_seconds, hubspot.window_remaining, hubspot.daily_remaining) == (10.0, 0, 12)
    pipedrive = RateLimitInfo.from_headers({"x-ratelimit-remaining": "3", "x-ratelimit-reset": "2"}, NOW)
    assert (pipedrive.window_remaining, pipedrive.window_reset_seconds) == (3, 2.0)
    salesforce = RateLimitInfo.from_headers({"Sforce-Limit-Info": "api-usage=14990/15000"}, NOW)
    assert salesforce.daily_remaining == 10


def _failure(status: int, body: object = None, headers: dict[str, str] | None = None) -> VendorFailure:
    return VendorFailure(status=status, body=body, text="", rate=RateLimitInfo.from_headers(headers or {}, NOW))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (400, ProviderRejected),
        (404, ProviderRejected),
        (409, ProviderRejected),
        (408, ProviderUnavailable),
        (500, ProviderUnavailable),
        (503, ProviderUnavailable),
    ],
)
def test_status_codes_map_to_the_error_tree(status: int, expected: type[Exception]) -> None:
    error = map_http_error(
        _failure(status), provider="Acme", source="crm", operation="get_crm_context", policy=VendorPolicy(), now=NOW
    )
    assert type(error) is expected
    assert (error.source, error.operation) == ("crm", "get_crm_context")


def test_429_short_wait_is_rate_limited_long_wait_is_a_quota() -> None:
    short = map_http_error(
        _failure(429, headers={"Retry-After": "3"}),
        provider="A",
        source="crm",
        operation="x",
        policy=VendorPolicy(),
        now=NOW,
    )
    assert isinstance(short, RateLimited) and short.retry_after == 3.0 and short.retryable
    unnamed = map_http_error(_failure(429), provider="A", source="crm", operation="x", policy=VendorPolicy(), now=NOW)
    assert isinstance(unnamed, RateLimited) and unnamed.retry_after == VendorPolicy.default_retry_after
    long = map_http_error(
        _failure(429, headers={"Retry-After": "3600"}),
        provider="A",
        source="crm",
        operation="x",
        policy=VendorPolicy(),
        now=NOW,
    )
    assert isinstance(long, QuotaExhausted) and long.resets_at == NOW + timedelta(hours=1)
    assert not long.retryable


def test_vendor_messages_are_kept_short_and_free_of_pii() -> None:
    body = {"message": "Contact jane.doe@example.com already exists " + "x" * 500, "category": "CONFLICT"}
    error = map_http_error(
        _failure(409, body), provider="HubSpot", source="crm", operation="x", policy=VendorPolicy(), now=NOW
    )
    assert "jane.doe@example.com" not in str(error)
    assert "CONFLICT" in str(error) and "HTTP 409" in str(error)
    assert len(str(error)) < 300


def test_next_utc_midnight() -> None:
    assert next_utc_midnight(NOW) == datetime(2026, 11, 24, tzinfo=UTC)


def _vendor(handler: httpx.MockTransport, **kwargs: object) -> VendorHttp:
    client = httpx.AsyncClient(transport=handler)
    return VendorHttp(
        client, provider="Acme", source="crm", base_url="http://acme.test/", clock=FakeClock(NOW), **kwargs
    )  # type: ignore[arg-type]


async def test_transport_errors_become_unavailable_or_timeout() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ProviderUnavailable) as info:
        await _vendor(httpx.MockTransport(refuse)).send("GET", "/x", operation="ping")
    assert not isinstance(info.value, ProviderTimeout)

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ProviderTimeout):
        await _vendor(httpx.MockTransport(hang)).send("GET", "/x", operation="ping")


async def test_bodies_that_are_not_json_or_not_the_shape_are_invalid_responses() -> None:
    from pydantic import BaseModel

    class Thing(BaseModel):
        id: str

    vendor = _vendor(httpx.MockTransport(lambda r: httpx.Response(200, content=b'{"id": ')))
    with pytest.raises(ProviderResponseInvalid, match="not valid JSON"):
        await vendor.json("GET", "/thing", Thing, operation="get")
    vendor = _vendor(httpx.MockTransport(lambda r: httpx.Response(200, json={"name": "x"})))
    with pytest.raises(ProviderResponseInvalid, match="id"):
        await vendor.json("GET", "/thing", Thing, operation="get")


async def test_a_401_is_retried_once_after_the_credential_is_renewed() -> None:
    tokens = iter(["old", "new"])
    current = {"token": next(tokens)}
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200 if request.headers["Authorization"] == "Bearer new" else 401, json={})

    async def headers() -> dict[str, str]:
        return {"Authorization": f"Bearer {current['token']}"}

    async def renew() -> bool:
        current["token"] = next(tokens, "exhausted")
        return True

    vendor = _vendor(httpx.MockTransport(handler), auth_headers=headers, on_unauthorized=renew)
    await vendor.send("GET", "/x", operation="ping")
    assert seen == ["Bearer old", "Bearer new"]
    # when the renewed credential is refused too, that is an auth error, not a loop
    current["token"] = "revoked"
    seen.clear()
    with pytest.raises(ProviderAuthError):
        await vendor.send("GET", "/x", operation="ping")
    assert seen == ["Bearer revoked", "Bearer exhausted"]


async def test_paging_follows_cursors_stops_at_the_limit_and_on_a_repeated_cursor() -> None:
    pages = {None: ([1, 2], "a"), "a": ([3, 4], "b"), "b": ([5], None)}
    calls: list[str | None] = []

    async def fetch(cursor: str | None) -> tuple[list[int], str | None]:
        calls.append(cursor)
        return pages[cursor]

    assert await collect(fetch) == [1, 2, 3, 4, 5]
    calls.clear()
    assert await collect(fetch, limit=3) == [1, 2, 3]
    assert calls == [None, "a"]

    async def stuck(cursor: str | None) -> tuple[list[int], str | None]:
        return [0], "same"

    assert await collect(stuck) == [0, 0]
