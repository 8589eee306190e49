"""Real scheduling adapters against their vendor fakes (issue: real scheduling).

Each adapter runs on its conformance harness (the vendor's fake in-process, reached over an ASGI
transport), with every request delayed by ``--latency`` ms (default 50) to stand for the network, and
counted. Per vendor:

* requests per ``get_scheduling_context`` — the customer's first context and the next one;
* a 14-day slot search (``get_availability`` for check-ins): requests and p50/p95 time;
* one booking (``book_appointment``): requests.

The mock is listed for comparison (no HTTP). The booking race figures (2 workers, 8 customers, 20
rounds) come from ``tests/services/test_booking_race.py``, which asserts them.

Run: .venv/bin/python benchmarks/scheduling_adapters.py [--latency 50] [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from _common import machine, percentiles

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conformance.harness import KNOWN, NOW, OTHER, Harness
from tests.conformance.harnesses import HARNESSES

from fearvana_integration.adapters.base import SchedulingAdapter
from fearvana_integration.domain.scheduling import DateRange


class CountingDelay(httpx.AsyncBaseTransport):
    """Counts requests and waits ``delay`` seconds before each (the network a real vendor is away)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, delay: float) -> None:
        self.inner = inner
        self.delay = delay
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        await asyncio.sleep(self.delay)
        return await self.inner.handle_async_request(request)


async def measure(name: str, latency: float, runs: int) -> dict[str, Any]:
    harness: Harness = HARNESSES[("scheduling", name)]()
    adapter = await harness.start()
    assert isinstance(adapter, SchedulingAdapter)
    counter: CountingDelay | None = None
    client = getattr(harness, "client", None)
    if isinstance(client, httpx.AsyncClient):
        counter = CountingDelay(client._transport, latency / 1000)
        client._transport = counter

    def used() -> int:
        return counter.requests if counter else 0

    async def count(call: Any) -> tuple[int, float]:
        before, started = used(), time.perf_counter()
        await call()
        return used() - before, (time.perf_counter() - started) * 1000

    try:
        first, first_ms = await count(lambda: adapter.get_scheduling_context(KNOWN))
        warm, warm_ms = await count(lambda: adapter.get_scheduling_context(KNOWN))
        window = DateRange(start_date=NOW, end_date=NOW + timedelta(days=14))
        search_requests = 0
        times: list[float] = []
        for _ in range(runs):
            requests, ms = await count(lambda: adapter.get_availability(window, "check-in"))
            search_requests, _ = requests, times.append(ms)
        slot = (await adapter.get_availability(window, "check-in"))[0]
        booking, booking_ms = await count(lambda: adapter.book_appointment(OTHER, slot, "check-in"))
    finally:
        await harness.stop()
    p50, p95, _ = percentiles(times)
    return {
        "name": name,
        "first": first,
        "first_ms": first_ms,
        "warm": warm,
        "warm_ms": warm_ms,
        "search": search_requests,
        "search_p50": p50,
        "search_p95": p95,
        "booking": booking,
        "booking_ms": booking_ms,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=50.0, help="ms added to every request")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(machine())
    print(f"every request delayed {args.latency:g} ms; slot search: 14 days of check-ins, {args.runs} runs")
    header = (
        f"{'adapter':<16}{'1st context':>20}{'next context':>20}{'14-day search':>16}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'booking':>18}"
    )
    print(header)
    for name in ("mock", "calendly", "acuity", "google-calendar"):
        r = await measure(name, args.latency, args.runs)
        print(
            f"{r['name']:<16}{r['first']:>6} req {r['first_ms']:>7.0f} ms{r['warm']:>6} req {r['warm_ms']:>7.0f} ms"
            f"{r['search']:>12} req{r['search_p50']:>9.0f}{r['search_p95']:>9.0f}"
            f"{r['booking']:>6} req {r['booking_ms']:>6.0f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
