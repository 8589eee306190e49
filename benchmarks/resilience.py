"""Cache and breaker figures (issue: cache, circuit breakers, deadlines and health).

1. cold context with mocks at 50-200 ms, against a per-request floor: the profile read plus the
   slowest of the other sources (store halves timed here, mocks by their own simulated latency);
2. warm context (every part and the fitted context cached): in-process memory, and Redis;
3. CRM and scheduling failing (hanging past their timeout): extra latency before their breakers
   open, and the warm p95 once they are open;
4. 1,000 concurrent cold requests for one customer: calls per source operation;
5. hit rate over 10,000 customers, Zipf 1.1, 50 requests/s for 30 simulated minutes (fake clock),
   default TTLs and CACHE_MAX_SIZE.

Run: .venv/bin/python benchmarks/resilience.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from _common import machine, percentiles, seeded_settings

from fearvana_integration import IntegrationManager, MockCRMAdapter, MockSchedulingAdapter
from fearvana_integration.adapters.mock_support import SlowResponse
from fearvana_integration.cache import Codec, SourceCache
from fearvana_integration.clock import FakeClock
from fearvana_integration.config import Settings, load_settings
from fearvana_integration.observability.logging import configure_logging
from fearvana_integration.resilience.guard import Deadline, Part, SourceGuard
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store.demo import demo_specs

T = TypeVar("T")
REDIS_URL = "redis://127.0.0.1:6379/0"


def fmt(samples: list[float], unit: str = "ms") -> str:
    p50, p95, p99 = percentiles(samples)
    return f"p50 {p50:7.2f} {unit}  p95 {p95:7.2f} {unit}  p99 {p99:7.2f} {unit}"


def reset_mocks(latency: tuple[int, int]) -> None:
    for mock in (MockCRMAdapter.get_instance(), MockSchedulingAdapter.get_instance()):
        mock.clear_all_data()
        mock.configure(latency_ms=latency, failure_rate=0.0)


def timed_store(manager: IntegrationManager) -> dict[str, float]:
    """Wrap the store's three reads so each request's durations can be read back."""
    store = manager.runtime.store
    durations: dict[str, float] = {}

    def wrap(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                durations[name] = time.perf_counter() - started

        return timed

    store.find_profile = wrap("profile", store.find_profile)  # type: ignore[method-assign]
    store.load_activity = wrap("activity", store.load_activity)  # type: ignore[method-assign]
    store.load_journey = wrap("journey", store.load_journey)  # type: ignore[method-assign]
    return durations


async def cold_vs_floor(settings: Settings, runs: int) -> None:
    reset_mocks((50, 200))
    manager = IntegrationManager(build_runtime(settings))
    durations = timed_store(manager)
    customers = [spec.email for spec in demo_specs(12)]
    ids = [(await manager.runtime.assembler.resolve(email)).id for email in customers]
    crm, scheduling = MockCRMAdapter.get_instance(), MockSchedulingAdapter.get_instance()
    ratios, totals, floors = [], [], []
    for index in range(runs):
        customer = ids[index % len(ids)]
        await manager.invalidate(customer)
        durations.clear()
        crm.calls.clear()
        scheduling.calls.clear()
        started = time.perf_counter()
        await manager.get_customer_context(customer)
        total = time.perf_counter() - started
        slowest_other = max(
            durations.get("activity", 0.0),
            durations.get("journey", 0.0),
            *(call.latency_seconds for call in crm.calls),
            *(call.latency_seconds for call in scheduling.calls),
        )
        floor = durations.get("profile", 0.0) + slowest_other
        totals.append(total * 1000)
        floors.append(floor * 1000)
        ratios.append(total / floor)
    await manager.aclose()
    print(f"\n1. cold context, mocks at 50-200 ms, {runs} requests (each customer invalidated first)")
    print(f"   context:        {fmt(totals)}")
    print(f"   floor:          {fmt(floors)}")
    print(f"   context/floor:  {fmt(ratios, unit='x ')}   (target p95 <= 1.10)")


async def warm(settings: Settings, runs: int, label: str) -> list[float]:
    reset_mocks((0, 0))
    manager = IntegrationManager(build_runtime(settings))
    ids = [(await manager.runtime.assembler.resolve(spec.email)).id for spec in demo_specs(12)]
    for customer in ids:
        await manager.invalidate(customer)
        await manager.get_customer_context(customer)
    samples = []
    for index in range(runs):
        started = time.perf_counter()
        await manager.get_customer_context(ids[index % len(ids)])
        samples.append((time.perf_counter() - started) * 1000)
    await manager.aclose()
    print(f"   {label:<22}{fmt(samples)}")
    return samples


async def failing_sources(settings: Settings, runs: int, healthy_warm_p95: float) -> None:
    reset_mocks((0, 0))
    manager = IntegrationManager(build_runtime(settings))
    ids = [(await manager.runtime.assembler.resolve(spec.email)).id for spec in demo_specs(12)]
    for customer in ids:  # warm the store parts; CRM and scheduling parts are dropped below
        await manager.get_customer_context(customer)
    crm, scheduling = MockCRMAdapter.get_instance(), MockSchedulingAdapter.get_instance()
    hang = SlowResponse(30)
    crm.inject_fault("get_crm_context", hang, times=10_000)
    scheduling.inject_fault("get_scheduling_context", hang, times=10_000)
    timeout_ms = settings.timeout_seconds("crm") * 1000
    before_open: list[float] = []
    for index in range(settings.circuit_breaker_threshold):
        customer = ids[index % len(ids)]
        for part in ("crm", "scheduling"):
            await manager.runtime.cache.delete(manager.runtime.cache.key(str(customer), part))
        started = time.perf_counter()
        await manager.get_customer_context(customer)
        before_open.append((time.perf_counter() - started) * 1000)
    states = {name: (await manager.circuit_breakers[name].state()).state for name in ("crm", "scheduling")}
    first_open = []
    for customer in ids:  # the first request per customer while open assembles and fits once
        started = time.perf_counter()
        await manager.get_customer_context(customer)
        first_open.append((time.perf_counter() - started) * 1000)
    after_open = []
    for index in range(runs):
        customer = ids[index % len(ids)]
        for part in ("crm", "scheduling"):
            await manager.runtime.cache.delete(manager.runtime.cache.key(str(customer), part))
        started = time.perf_counter()
        await manager.get_customer_context(customer)
        after_open.append((time.perf_counter() - started) * 1000)
    await manager.aclose()
    print(
        f"\n3. CRM and scheduling hanging (timeout {timeout_ms:.0f} ms each, called concurrently), "
        "their cached parts dropped before each request"
    )
    print(f"   before the breakers open ({len(before_open)} requests): max {max(before_open):.1f} ms "
          f"(target: extra latency <= timeout, i.e. <= {timeout_ms:.0f} ms + the warm time)")  # fmt: skip
    print(f"   breakers now: {states}")
    print(f"   first request per customer once open (assembles and fits): max {max(first_open):.1f} ms")
    print(f"   once open:             {fmt(after_open)}")
    print(f"   target p95 <= healthy warm p95 + 1 ms = {healthy_warm_p95 + 1:.2f} ms")


async def thundering_herd(settings: Settings, concurrency: int) -> None:
    reset_mocks((50, 200))
    manager = IntegrationManager(build_runtime(settings))
    customer = (await manager.runtime.assembler.resolve("demo@fearvana.local")).id
    await manager.invalidate(customer)
    MockCRMAdapter.get_instance().call_counts.clear()
    MockSchedulingAdapter.get_instance().call_counts.clear()
    started = time.perf_counter()
    await asyncio.gather(*(manager.get_customer_context(customer) for _ in range(concurrency)))
    elapsed = (time.perf_counter() - started) * 1000
    stats = await manager.runtime.cache.stats()
    await manager.aclose()
    crm = MockCRMAdapter.get_instance().call_counts["get_crm_context"]
    scheduling = MockSchedulingAdapter.get_instance().call_counts["get_scheduling_context"]
    print(f"\n4. {concurrency} concurrent cold requests for one customer: {elapsed:.0f} ms in all")
    print(f"   calls: get_crm_context {crm}, get_scheduling_context {scheduling}; "
          f"store misses {stats.misses} for 5 parts (target 1 per operation)")  # fmt: skip


async def hit_rate(customers: int, rate: float, minutes: float, zipf: float) -> None:
    settings = load_settings({"MOCK_LATENCY_MS": "0"}, read_env_files=False)
    clock = FakeClock(datetime(2026, 11, 25, tzinfo=UTC))
    cache = SourceCache(settings, clock, namespace="bench")
    guard = SourceGuard(clock, cache=cache)
    ttl = {
        "profile": settings.cache_ttl_profile_seconds,
        "activity": settings.cache_ttl_life_areas_seconds,
        "journey": settings.cache_default_ttl,
        "crm": settings.cache_ttl_crm_seconds,
        "scheduling": settings.cache_ttl_scheduling_seconds,
    }
    parts = [Part("bench", name, float(seconds), Codec(int), 2.0) for name, seconds in ttl.items()]
    weights = list(itertools.accumulate(1 / (rank**zipf) for rank in range(1, customers + 1)))
    rng = random.Random(1)
    requests = int(rate * minutes * 60)

    async def load() -> int:
        return 1

    deadline = Deadline(clock, 3600)
    for _ in range(requests):
        customer = rng.choices(range(customers), cum_weights=weights)[0]
        for part in parts:
            await guard.fetch(part, str(customer), "bench", load, deadline)
        clock.advance(1 / rate)
    stats = await cache.stats()
    await cache.aclose()
    print(
        f"\n5. hit rate: {customers:,} customers, Zipf {zipf}, {rate:g} requests/s for {minutes:g} simulated "
        f"minutes ({requests:,} requests x 5 parts), default TTLs, CACHE_MAX_SIZE {settings.cache_max_size:,}"
    )
    print(f"   hits {stats.hits:,}  misses {stats.misses:,}  hit rate {stats.hit_rate:.1%}  (the seed claims ~70 %)")


async def redis_answers() -> bool:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, for a smoke test")
    args = parser.parse_args()
    runs = 40 if args.quick else 200
    configure_logging("CRITICAL")  # measure the work, not the warnings the failure cases print
    settings = await seeded_settings(12, LOG_LEVEL="CRITICAL")
    print(f"machine: {machine()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    slow = load_settings({**_env(settings), "MOCK_LATENCY_MS": "50-200"}, read_env_files=False)
    await cold_vs_floor(slow, runs)
    print(f"\n2. warm context, every part and the fitted context cached, {runs * 10} requests over 12 customers")
    memory = await warm(settings, runs * 10, "memory backend:")
    if await redis_answers():
        redis_settings = load_settings(
            {**_env(settings), "CACHE_BACKEND": "redis", "REDIS_URL": REDIS_URL}, read_env_files=False
        )
        await warm(redis_settings, runs * 10, "redis backend:")
    else:
        print(f"   redis backend:        skipped: Redis does not answer at {REDIS_URL}")
    await failing_sources(settings, runs, percentiles(memory)[1])
    await thundering_herd(slow, 1000)
    await hit_rate(10_000, 50, 30 if not args.quick else 3, 1.1)


def _env(settings: Settings) -> dict[str, str]:
    return {"DATABASE_URL": settings.database_url.get_secret_value(), "LOG_LEVEL": "CRITICAL"}


if __name__ == "__main__":
    asyncio.run(main())
