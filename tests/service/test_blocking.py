"""Failed-auth blocking through the app (memory store): exactly N 401s under concurrency, valid tokens
and liveness never blocked, who counts as one client, the alert and the metrics."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from fearvana_integration.config import load_settings
from fearvana_integration.service.app import create_app
from fearvana_integration.service.throttle import (
    FailedAuthLimiter,
    MemoryFailures,
    client_address,
    client_key,
    parse_proxies,
)
from tests.service.conftest import (
    AUDIENCE,
    DEMO,
    HEAVY,
    JWKS_URL,
    SECRET,
    Keys,
    LogCapture,
    bearer,
    customer_token,
    remember,
)

CONTEXT = f"/api/customers/{DEMO}/context"
BAD = bearer("garbage")


def app_settings(demo_db: Path, **env: str) -> Any:
    """The settings the HTTP suite uses, plus ``env``."""
    values = {
        "DATABASE_URL": f"sqlite:///{demo_db}",
        "MOCK_LATENCY_MS": "0",
        "SUPABASE_JWT_SECRET": SECRET,
        "LOG_LEVEL": "INFO",
        **env,
    }
    return load_settings(values, read_env_files=False)


@asynccontextmanager
async def running_app(
    demo_db: Path, *, limiter: FailedAuthLimiter | None = None, keys: Keys | None = None, **env: str
) -> AsyncIterator[FastAPI]:
    """The app with its lifespan run in this event loop (so many requests can be in flight at once)."""
    if keys is not None:
        env["SUPABASE_JWKS_URL"] = JWKS_URL
    http = httpx.AsyncClient(transport=keys.transport()) if keys is not None else None
    app = create_app(app_settings(demo_db, **env), limiter=limiter, http_client=http)
    async with app.router.lifespan_context(app):
        yield app
    if http is not None:
        await http.aclose()


@asynccontextmanager
async def client_from(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests come from ``address`` (the ASGI peer)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        yield client


async def statuses(client: httpx.AsyncClient, count: int, **kwargs: Any) -> Counter[int]:
    """Send ``count`` failing requests at once; how many got each status (every 429 has Retry-After)."""
    kwargs.setdefault("headers", BAD)
    responses = await asyncio.gather(*(client.get(CONTEXT, **kwargs) for _ in range(count)))
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["type"].endswith("too-many-failed-attempts")
    return Counter(response.status_code for response in responses)


def metric(app: FastAPI, name: str, **labels: str) -> float:
    """One sample of the app's Prometheus registry."""
    value = app.state.services.metrics.registry.get_sample_value(name, labels)
    return float(value) if value is not None else 0.0


async def test_fifty_concurrent_failures_get_exactly_n_401s(demo_db: Path, logs: LogCapture) -> None:
    async with running_app(demo_db, AUTH_MAX_FAILURES="5") as app, client_from(app, "127.0.0.5") as client:
        assert await statuses(client, 50) == {401: 5, 429: 45}
        assert await statuses(client, 5, headers={}) == {429: 5}  # a missing token is refused as well
        async with client_from(app, "127.0.0.6") as other:
            assert await statuses(other, 1) == {401: 1}  # another client is not affected
        alerts = [line for line in logs.lines if '"alert": true' in line and "client blocked" in line]
        assert len(alerts) == 1, alerts  # one block, one alert
        assert '"client": "127.0.0.5"' in alerts[0] and '"failures": 6' in alerts[0]
        assert '"block_seconds": 900' in alerts[0] and '"level": "error"' in alerts[0]
        assert metric(app, "fearvana_auth_blocks_total", store="memory") == 1
        assert metric(app, "fearvana_auth_failures_total", status="401") == 6
        assert metric(app, "fearvana_auth_failures_total", status="429") == 50
        exposed = (await client.get("/metrics")).text
        assert 'fearvana_auth_blocks_total{store="memory"} 1.0' in exposed


async def test_the_failure_after_n_is_the_first_429(demo_db: Path) -> None:
    async with (
        running_app(demo_db, AUTH_MAX_FAILURES="3", AUTH_BLOCK_SECONDS="120") as app,
        client_from(app, "127.0.0.7") as client,
    ):
        for _ in range(3):
            assert (await client.get(CONTEXT, headers=BAD)).status_code == 401
        blocked = await client.get(CONTEXT, headers=BAD)
        assert blocked.status_code == 429
        assert 118 <= int(blocked.headers["retry-after"]) <= 120
        assert "www-authenticate" not in blocked.headers


async def test_a_blocked_address_keeps_its_valid_tokens_and_its_liveness(demo_db: Path) -> None:
    async with running_app(demo_db, AUTH_MAX_FAILURES="2") as app, client_from(app, "127.0.0.8") as client:
        assert await statuses(client, 3) == {401: 2, 429: 1}
        valid = await client.get(CONTEXT, headers=bearer(remember(customer_token(DEMO))))
        assert valid.status_code == 200  # the real user behind the address is not locked out
        assert (await client.get("/healthz")).status_code == 200  # load balancers still see a live process
        assert (await client.get("/api/health/integrations")).status_code in (200, 503)
        assert (await client.get("/metrics")).status_code == 200
        other = await client.get(f"/api/customers/{HEAVY}/context", headers=bearer(customer_token(DEMO)))
        assert other.status_code == 403  # valid but not allowed: the token is judged, not the address
        assert await statuses(client, 2) == {429: 2}  # and failing requests are still refused


async def test_a_blocked_client_cannot_make_us_fetch_the_jwks(demo_db: Path) -> None:
    keys = Keys()
    keys.add("key-1")
    claims = {"sub": str(DEMO), "role": "authenticated", "aud": AUDIENCE, "exp": int(time.time()) + 600}
    async with (
        running_app(demo_db, keys=keys, AUTH_MAX_FAILURES="2") as app,
        client_from(app, "127.0.0.9") as client,
    ):
        assert (await client.get(CONTEXT, headers=bearer(remember(keys.sign("key-1", claims))))).status_code == 200
        assert keys.fetches == 1
        assert await statuses(client, 3) == {401: 2, 429: 1}
        rogue = Keys()
        rogue.add("rogue")
        forged = [
            bearer(jwt.encode(claims, rogue.private["rogue"], algorithm="RS256", headers={"kid": f"kid-{n}"}))
            for n in range(20)
        ]
        results = await asyncio.gather(*(client.get(CONTEXT, headers=headers) for headers in forged))
        assert {response.status_code for response in results} == {429}
        assert keys.fetches <= 2  # the JWKS refetch stays rate limited (at most once per 5 s)
        valid = await client.get(CONTEXT, headers=bearer(remember(keys.sign("key-1", claims))))
        assert valid.status_code == 200  # verified with the cached key, then served


async def test_ipv6_clients_are_counted_by_64(demo_db: Path) -> None:
    async with running_app(demo_db, AUTH_MAX_FAILURES="2") as app:
        for address in ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe"):
            async with client_from(app, address) as client:
                assert await statuses(client, 1) == {401: 1}
        async with client_from(app, "2001:db8:1:2::abcd") as client:
            assert await statuses(client, 1) == {429: 1}  # the third failure of that /64
        async with client_from(app, "2001:db8:1:3::1") as client:
            assert await statuses(client, 2) == {401: 2}  # the next /64 counts on its own


async def test_an_ipv4_mapped_peer_is_its_ipv4_address(demo_db: Path) -> None:
    async with running_app(demo_db, AUTH_MAX_FAILURES="2") as app:
        async with client_from(app, "::ffff:127.0.0.5") as mapped:
            assert await statuses(mapped, 2) == {401: 2}
        async with client_from(app, "127.0.0.5") as plain:
            assert await statuses(plain, 1) == {429: 1}


async def test_the_two_loopbacks_are_two_clients(demo_db: Path) -> None:
    async with running_app(demo_db, AUTH_MAX_FAILURES="1") as app:
        async with client_from(app, "::1") as six, client_from(app, "127.0.0.1") as four:
            assert await statuses(six, 1) == {401: 1}
            assert await statuses(four, 1) == {401: 1}
            assert await statuses(six, 1) == {429: 1}
            assert await statuses(four, 1) == {429: 1}
        async with client_from(app, "0:0:0:0:0:0:0:1") as spelled_out:
            assert await statuses(spelled_out, 1) == {429: 1}  # the same ::1, however it is written


async def test_forwarded_addresses_with_ports_are_the_address(demo_db: Path) -> None:
    async with (
        running_app(demo_db, AUTH_MAX_FAILURES="2", TRUSTED_PROXIES="127.0.0.1") as app,
        client_from(app, "127.0.0.1") as proxy,
    ):
        for hop in ("1.2.3.4:5555", "1.2.3.4:6666"):
            assert await statuses(proxy, 1, headers={**BAD, "X-Forwarded-For": hop}) == {401: 1}
        assert await statuses(proxy, 1, headers={**BAD, "X-Forwarded-For": "1.2.3.4"}) == {429: 1}
        for hop in ("[2001:db8::1]:443", "2001:db8::2"):
            assert await statuses(proxy, 1, headers={**BAD, "X-Forwarded-For": hop}) == {401: 1}
        assert await statuses(proxy, 1, headers={**BAD, "X-Forwarded-For": "[2001:db8::3]"}) == {429: 1}
        spoofed_left = {**BAD, "X-Forwarded-For": "9.9.9.9, 5.6.7.8:1"}  # the client wrote the left one
        assert await statuses(proxy, 2, headers=spoofed_left) == {401: 2}
        assert await statuses(proxy, 1, headers={**BAD, "X-Forwarded-For": "5.6.7.8"}) == {429: 1}


async def test_forwarded_for_is_only_believed_from_trusted_proxies(demo_db: Path) -> None:
    async with (
        running_app(demo_db, AUTH_MAX_FAILURES="1", TRUSTED_PROXIES="10.0.0.1") as app,
        client_from(app, "127.0.0.60") as client,
    ):
        assert await statuses(client, 1, headers={**BAD, "X-Forwarded-For": "203.0.113.9"}) == {401: 1}
        # the peer is not in TRUSTED_PROXIES: a new header is no new client, the peer itself is counted
        assert await statuses(client, 1, headers={**BAD, "X-Forwarded-For": "203.0.113.10"}) == {429: 1}


@pytest.mark.parametrize(
    "hop",
    ["not-an-ip", "1.2.3.4:notaport", "1.2.3.4:", "[::1", "[::1]x", "999.1.1.1", "\u00e9t\u00e9", "1" * 5000, ":::"],
)
async def test_garbage_forwarded_for_is_one_unknown_client(demo_db: Path, hop: str) -> None:
    async with (
        running_app(demo_db, AUTH_MAX_FAILURES="2", TRUSTED_PROXIES="127.0.0.1") as app,
        client_from(app, "127.0.0.1") as proxy,
    ):
        headers: dict[str, Any] = {**BAD, "X-Forwarded-For": hop.encode()}  # raw bytes, as a proxy may send
        assert await statuses(proxy, 2, headers=headers) == {401: 2}
        assert await statuses(proxy, 1, headers={**BAD, "X-Forwarded-For": "also garbage"}) == {429: 1}
        assert await statuses(proxy, 1, headers={**BAD, "X-Forwarded-For": "198.51.100.1"}) == {401: 1}


async def test_concurrent_failures_in_the_memory_store_are_decided_one_by_one() -> None:
    settings = load_settings({"AUTH_MAX_FAILURES": "4"}, read_env_files=False)
    limiter = FailedAuthLimiter(settings)
    assert isinstance(limiter.store, MemoryFailures)
    verdicts = await asyncio.gather(*(limiter.failed("192.0.2.1") for _ in range(50)))
    assert sum(v.blocked_for == 0 for v in verdicts) == 4
    assert sum(v.new_block for v in verdicts) == 1
    assert all(v.store == "memory" for v in verdicts)


def test_memory_store_forgets_expired_entries() -> None:
    store = MemoryFailures(max_failures=1, window=0.001, block_seconds=0.001)
    for n in range(3000):
        store.decide(f"192.0.{n // 256}.{n % 256}")
    time.sleep(0.01)
    store.decide("198.51.100.1")
    for n in range(3000):
        store.decide(f"203.0.{n // 256}.{n % 256}")
    assert len(store.failures) + len(store.blocked_until) < 4000  # not every address ever seen


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("203.0.113.9:5555", "203.0.113.9"),
        ("::ffff:127.0.0.5", "127.0.0.5"),
        ("[::ffff:127.0.0.5]:80", "127.0.0.5"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::1", "::1"),
        ("[::1]:8000", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("testclient", "unknown"),
        ("", "unknown"),
        ("1.2.3.4:99999999", "unknown"),
        ("01.2.3.4", "unknown"),
        ("2001:db8:1:2::/64", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1/64", "unknown"),
    ],
)
def test_client_key(address: str, key: str) -> None:
    assert client_key(address) == key
    assert client_key(key) == key  # a key is its own key


def test_client_address_normalises_and_walks_trusted_hops() -> None:
    trusted = parse_proxies("10.0.0.0/8, 2001:db8:ffff::/48")
    assert client_address("10.1.2.3", "203.0.113.9:4711", trusted) == "203.0.113.9"
    assert client_address("::ffff:10.1.2.3", "203.0.113.9", trusted) == "203.0.113.9"  # a mapped proxy
    assert client_address("10.1.2.3", "198.51.100.1, [2001:db8::5]:1, 10.9.9.9:80", trusted) == "2001:db8::5"
    assert client_address("[2001:db8:ffff::1]:443", "203.0.113.9", trusted) == "203.0.113.9"
    assert client_address("10.1.2.3", "198.51.100.1, nonsense", trusted) == "unknown"  # not believed further left
    assert client_address("10.1.2.3", " , ", trusted) == "10.1.2.3"
    assert client_address("203.0.113.50", "198.51.100.1", trusted) == "203.0.113.50"  # untrusted peer
    assert client_address(None, "198.51.100.1", trusted) == "unknown"
    assert client_address("::ffff:203.0.113.50", None, []) == "203.0.113.50"
    mapped = parse_proxies("::ffff:10.0.0.0/104")
    assert client_address("10.1.2.3", "203.0.113.9", mapped) == "203.0.113.9"  # a proxy listed as mapped
