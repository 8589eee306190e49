"""Real CRM adapters against their vendor fakes over loopback HTTP (issue: real CRM adapters).

Each vendor's fake runs in its own process (uvicorn, one worker) with the conformance world; the
adapter is built from settings, as the runtime builds it, on the runtime's HTTP client. Per vendor:

* floor: one authenticated round trip to the fake's cheapest route (the adapter's ping);
* warm context: ``get_crm_context`` once the vendor id is remembered (and the token / ticket
  stages are cached) — the per-turn cost; requests per call counted on the client;
* cold context: a fresh adapter (nothing remembered; Salesforce mints a token first);
* history: ``get_interaction_history(limit=20)``.

The ratio warm p50 / floor p50 says how many round-trip-equivalents a context costs on loopback,
where the single-process fake's own work (e.g. Salesforce's SOQL interpreter) dominates. Real
vendors are 50-300 ms away, so the second table adds 40 ms to every request (a transport that
waits before sending): context time / 40 ms is then the number of sequential rounds on the critical
path — what a customer's turn actually waits for.

Run: .venv/bin/python benchmarks/crm_adapters.py [--runs 300]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from _common import machine, percentiles

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conformance import harness_hubspot, harness_pipedrive
from tests.conformance.harness import KNOWN

from fearvana_integration.adapters.base import CRMAdapter
from fearvana_integration.adapters.http import build_http_client
from fearvana_integration.adapters.registry import adapter_class
from fearvana_integration.clock import SystemClock
from fearvana_integration.config import load_settings

VENDORS = ("hubspot", "salesforce", "pipedrive")


def vendor_env(vendor: str, url: str) -> dict[str, str]:
    """The settings a deployment would set for ``vendor``, pointed at the fake."""
    if vendor == "hubspot":
        return {"CRM_PROVIDER": "hubspot", "CRM_API_KEY": harness_hubspot.TOKEN, "CRM_ENDPOINT": url}
    if vendor == "salesforce":
        return {
            "CRM_PROVIDER": "salesforce",
            "CRM_SALESFORCE_CLIENT_ID": "test-client",
            "CRM_SALESFORCE_CLIENT_SECRET": "test-secret",
            "CRM_SALESFORCE_LOGIN_URL": url,
        }
    return {
        "CRM_PROVIDER": "pipedrive",
        "CRM_API_KEY": harness_pipedrive.TOKEN,
        "CRM_ENDPOINT": url,
        "CRM_STAGE_PROPERTY": harness_pipedrive.STAGE_KEY,
        "CRM_TAGS_PROPERTY": harness_pipedrive.TAGS_KEY,
        "CRM_SENTIMENT_PROPERTY": harness_pipedrive.SENTIMENT_KEY,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_fake(vendor: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    script = Path(__file__).resolve().parent / "_crm_fake_server.py"
    process = subprocess.Popen([sys.executable, str(script), vendor, str(port)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the {vendor} fake did not start")


async def timed(runs: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def row(name: str, samples: list[float], requests: float | None = None) -> str:
    p50, p95, _ = percentiles(samples)
    reqs = f"{requests:.1f}" if requests is not None else ""
    return f"| {name} | {p50:.2f} ms | {p95:.2f} ms | {reqs} |"


NETWORK_MS = 40.0


class DelayedTransport(httpx.AsyncBaseTransport):
    """Forwards every request after ``NETWORK_MS``: a stand-in for the distance to a real vendor."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(NETWORK_MS / 1000)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def rounds(vendor: str, url: str, runs: int) -> str:
    """Warm and cold context with NETWORK_MS added per request: sequential rounds on the critical path."""
    settings = load_settings({**vendor_env(vendor, url), "LOG_LEVEL": "ERROR"}, read_env_files=False)
    client = httpx.AsyncClient(transport=DelayedTransport(httpx.AsyncHTTPTransport()))
    cls = adapter_class("crm", vendor)
    try:
        adapter = cls.from_settings(settings, http_client=client, clock=SystemClock())
        assert isinstance(adapter, CRMAdapter)
        await adapter.get_crm_context(KNOWN)
        warm = await timed(runs, lambda: adapter.get_crm_context(KNOWN))  # type: ignore[union-attr]
        cold: list[float] = []
        for _ in range(runs):
            fresh = cls.from_settings(settings, http_client=client, clock=SystemClock())
            assert isinstance(fresh, CRMAdapter)
            started = time.perf_counter()
            await fresh.get_crm_context(KNOWN)
            cold.append((time.perf_counter() - started) * 1000)
    finally:
        await client.aclose()
    warm_p50, cold_p50 = percentiles(warm)[0], percentiles(cold)[0]
    warm_rounds, cold_rounds = warm_p50 / NETWORK_MS, cold_p50 / NETWORK_MS
    return f"| {vendor} | {warm_p50:.1f} ms | {warm_rounds:.2f} | {cold_p50:.1f} ms | {cold_rounds:.2f} |"


async def bench(vendor: str, url: str, runs: int) -> list[str]:
    settings = load_settings({**vendor_env(vendor, url), "LOG_LEVEL": "ERROR"}, read_env_files=False)
    client = build_http_client()
    sent = [0]

    async def count(_request: httpx.Request) -> None:
        sent[0] += 1

    client.event_hooks["request"].append(count)
    cls = adapter_class("crm", vendor)

    def build() -> CRMAdapter:
        adapter = cls.from_settings(settings, http_client=client, clock=SystemClock())
        assert isinstance(adapter, CRMAdapter)
        return adapter

    adapter = build()
    try:
        assert (await adapter.get_crm_context(KNOWN)) is not None  # warms id, token, ticket stages
        for _ in range(20):
            await adapter.ping()
        floor = await timed(runs, adapter.ping)
        sent[0] = 0
        warm = await timed(runs, lambda: adapter.get_crm_context(KNOWN))
        warm_requests = sent[0] / runs
        cold_samples: list[float] = []
        sent[0] = 0
        for _ in range(max(runs // 5, 20)):
            fresh = build()
            cold_samples += await timed(1, lambda fresh=fresh: fresh.get_crm_context(KNOWN))  # type: ignore[misc]
        cold_requests = sent[0] / len(cold_samples)
        sent[0] = 0
        history = await timed(runs, lambda: adapter.get_interaction_history(KNOWN, limit=20))
        history_requests = sent[0] / runs
    finally:
        await client.aclose()
    floor_p50 = percentiles(floor)[0]
    warm_p50 = percentiles(warm)[0]
    return [
        f"### {vendor}",
        "",
        "| call | p50 | p95 | requests per call |",
        "|---|---|---|---|",
        row("floor: one authenticated round trip (ping)", floor, 1.0),
        row("warm `get_crm_context` (id remembered)", warm, warm_requests),
        row("cold `get_crm_context` (fresh adapter)", cold_samples, cold_requests),
        row("`get_interaction_history(limit=20)`", history, history_requests),
        "",
        f"warm context / floor (p50): **{warm_p50 / floor_p50:.2f}×**",
        "",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    print(f"Machine: {machine()}\n")
    network_rows = []
    for vendor in VENDORS:
        process, url = start_fake(vendor)
        try:
            print("\n".join(await bench(vendor, url, args.runs)))
            network_rows.append(await rounds(vendor, url, max(args.runs // 10, 20)))
        finally:
            process.terminate()
            process.wait(timeout=10)
    print(f"### With {NETWORK_MS:.0f} ms added to every request\n")
    print("| vendor | warm context p50 | rounds | cold context p50 | rounds |")
    print("|---|---|---|---|---|")
    print("\n".join(network_rows))


if __name__ == "__main__":
    asyncio.run(main())
