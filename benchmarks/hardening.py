"""Hardening figures: what a durable audit trail costs a request, and context latency with one slow
or hanging source once a customer's parts were fetched before.

1. Audit spool overhead: warm context reads (SQLite demo, memory cache) with the audit event made
   durable (spool append + fsync) against the same reads with auditing switched off, in alternating
   blocks of one run; then 64 concurrent reads per round to show one fsync serving many requests.
2. Context p95 with the CRM answering in 2 s (mock latency), CRM TTL shortened to 2 s so that
   nearly every request finds its CRM part past its TTL: stale-while-revalidate must keep the
   context fast. Same with the CRM hanging (10 s, past its 2 s timeout) and with the store answering
   in 3 s. Target (the product's service level): p95 < 500 ms once a value was ever fetched.

Run: .venv/bin/python benchmarks/hardening.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _common import machine, percentiles, seeded_settings

from fearvana_integration import IntegrationManager, MockCRMAdapter, MockSchedulingAdapter
from fearvana_integration.config import Settings, load_settings
from fearvana_integration.observability.logging import configure_logging
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store.demo import demo_customer_id, demo_specs


def fmt(samples: list[float]) -> str:
    p50, p95, p99 = percentiles(samples)
    return f"p50 {p50:8.2f} ms  p95 {p95:8.2f} ms  p99 {p99:8.2f} ms  max {max(samples):8.2f} ms  (n={len(samples)})"


def with_env(settings: Settings, **env: str) -> Settings:
    values = {"DATABASE_URL": settings.database_url.get_secret_value(), "LOG_LEVEL": "ERROR", **env}
    return load_settings(values, read_env_files=False)


def mocks(crm_ms: int = 0, scheduling_ms: int = 0) -> None:
    for mock, latency in (
        (MockCRMAdapter.get_instance(), crm_ms),
        (MockSchedulingAdapter.get_instance(), scheduling_ms),
    ):
        mock.clear_all_data()
        mock.configure(latency_ms=(latency, latency), failure_rate=0.0)


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


# 1 ---------------------------------------------------------------------------------------------


async def audit_overhead(base: Settings, rounds: int) -> None:
    spool = tempfile.mkdtemp(prefix="fi-bench-spool-")
    manager = IntegrationManager(build_runtime(with_env(base, AUDIT_SPOOL_DIR=spool)))
    audit = manager.runtime.audit
    real_commit = audit.commit

    async def no_audit(*_args: Any, **_kwargs: Any) -> None:
        return None

    customers = [demo_customer_id(spec.email) for spec in demo_specs(12)]
    mocks()
    for customer in customers:  # warm: every part and the fitted context cached
        await manager.get_customer_context(customer)
    audited: list[float] = []
    unaudited: list[float] = []
    for block in range(rounds):
        for samples, commit in ((audited, real_commit), (unaudited, no_audit)):
            audit.commit = commit  # type: ignore[method-assign]
            for index in range(100):
                customer = customers[(block + index) % len(customers)]
                samples.append(await timed(lambda c=customer: manager.get_customer_context(c)))
    audit.commit = real_commit  # type: ignore[method-assign]
    p95_with, p95_without = percentiles(audited)[1], percentiles(unaudited)[1]
    print("1. audit spool overhead, warm context reads, sequential (alternating blocks of 100)")
    print(f"   with a durable audit event : {fmt(audited)}")
    print(f"   auditing switched off      : {fmt(unaudited)}")
    print(f"   overhead at p95            : {p95_with - p95_without:+.2f} ms")

    spool_state = audit.spool
    writes = 0
    original_write = spool_state._write

    def counted(data: bytes) -> None:
        nonlocal writes
        writes += 1
        original_write(data)

    spool_state._write = counted  # type: ignore[method-assign]
    concurrent: list[float] = []
    requests = 0
    for _ in range(rounds):
        started = time.perf_counter()
        await asyncio.gather(*(manager.get_customer_context(customers[i % 12]) for i in range(64)))
        concurrent.append((time.perf_counter() - started) * 1000)
        requests += 64
    print(
        f"   64 concurrent reads x {rounds}: {requests} events in {writes} fsyncs "
        f"({requests / max(writes, 1):.1f} events per fsync); a round of 64 {fmt(concurrent)}"
    )
    await manager.aclose()


# 2 ---------------------------------------------------------------------------------------------


async def slow_source(base: Settings, seconds: float, label: str, crm_ms: int, store_delay: float = 0.0) -> None:
    ttls = ("CRM", "PROFILE", "LIFE_AREAS", "SCHEDULING")
    settings = with_env(base, CACHE_DEFAULT_TTL="2", **{f"CACHE_TTL_{name}_SECONDS": "2" for name in ttls})
    manager = IntegrationManager(build_runtime(settings))
    customers = [demo_customer_id(spec.email) for spec in demo_specs(12)]
    mocks()
    for customer in customers:  # ever fetched: once, while everything is healthy
        await manager.get_customer_context(customer)
    mocks(crm_ms=crm_ms)
    if store_delay:
        store = manager.runtime.store
        for name in ("find_profile", "load_all", "load_activity", "load_journey"):
            original = getattr(store, name)

            async def slowed(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                await asyncio.sleep(store_delay)
                return await _original(*args, **kwargs)

            setattr(store, name, slowed)
    rng = random.Random(7)
    samples: list[float] = []
    stale = 0
    ends = time.monotonic() + seconds
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        nonlocal stale
        customer = rng.choice(customers)
        started = time.perf_counter()
        context = await manager.get_customer_context(customer)
        samples.append((time.perf_counter() - started) * 1000)
        stale += any(f.stale for f in context.freshness.values())

    while time.monotonic() < ends:  # 50 requests a second, open loop
        task = asyncio.get_running_loop().create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
        await asyncio.sleep(0.02)
    await asyncio.gather(*pending)
    p95 = percentiles(samples)[1]
    verdict = "met" if p95 < 500 else "MISSED"
    print(f"   {label:<38}: {fmt(samples)}  stale answers {stale}  -> p95 < 500 ms {verdict}")
    await manager.runtime.guard.aclose()
    await manager.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    configure_logging("ERROR")
    os.environ.setdefault("XDG_STATE_HOME", tempfile.mkdtemp(prefix="fi-bench-state-"))
    print(machine())
    base = await seeded_settings(12)
    await audit_overhead(base, rounds=5 if args.quick else 20)
    seconds = 8.0 if args.quick else 30.0
    print(
        f"2. context latency, 50 req/s for {seconds:.0f} s over 12 customers, every TTL 2 s, "
        "after one healthy fetch each"
    )
    await slow_source(base, seconds, "all sources healthy (control)", crm_ms=0)
    await slow_source(base, seconds, "CRM answering in 2 s", crm_ms=2000)
    await slow_source(base, seconds, "CRM hanging (10 s, timeout 2 s)", crm_ms=10_000)
    await slow_source(base, seconds, "store answering in 3 s", crm_ms=0, store_delay=3.0)


if __name__ == "__main__":
    asyncio.run(main())
