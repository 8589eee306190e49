"""Breakers and the cache shared through a real Redis: several instances, several processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fearvana_integration import IntegrationManager, Interaction, MockCRMAdapter
from fearvana_integration.clock import FakeClock
from fearvana_integration.errors import CircuitOpen
from fearvana_integration.resilience.breaker import BreakerConfig, CircuitBreaker
from fearvana_integration.resilience.breaker_redis import RedisBreakerStore
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store.demo import demo_customer_id
from tests.conftest import REPO, SettingsFactory

pytestmark = pytest.mark.services
CONFIG = BreakerConfig(threshold=5, open_seconds=60, trial_timeout_seconds=10)
DEMO = demo_customer_id("demo@fearvana.local")


async def test_two_instances_share_one_breaker_and_one_half_open_trial(redis_url: str, namespace: str) -> None:
    clock = FakeClock()
    store_a = RedisBreakerStore(redis_url, prefix=f"{namespace}:breaker:")
    store_b = RedisBreakerStore(redis_url, prefix=f"{namespace}:breaker:")
    a = CircuitBreaker("crm", store_a, CONFIG, clock)
    b = CircuitBreaker("crm", store_b, CONFIG, clock)
    try:
        for _ in range(5):
            await a.record_failure(await a.before_call())
        assert (await b.state()).state == "OPEN"
        with pytest.raises(CircuitOpen):
            await b.before_call()
        clock.advance(60)
        outcomes = await asyncio.gather(*(breaker.before_call() for breaker in [a, b] * 10), return_exceptions=True)
        trials = [o for o in outcomes if isinstance(o, str)]
        assert len(trials) == 1, outcomes
        assert sum(isinstance(o, CircuitOpen) for o in outcomes) == 19
        winner = a if outcomes.index(trials[0]) % 2 == 0 else b
        await winner.record_success(trials[0])
        assert (await a.state()).state == (await b.state()).state == "CLOSED"
        await a.record_failure(await a.before_call())
        await b.areset()
        assert (await a.state()).failures == 0
    finally:
        await store_a.aclose()
        await store_b.aclose()


async def test_unreachable_redis_falls_back_to_memory_instead_of_failing() -> None:
    store = RedisBreakerStore("redis://127.0.0.1:1/0", timeout_seconds=0.1)
    breaker = CircuitBreaker("crm", store, CONFIG, FakeClock())
    try:
        for _ in range(5):
            await breaker.record_failure(await breaker.before_call())
        assert (await breaker.state()).state == "OPEN"
        with pytest.raises(CircuitOpen):
            await breaker.before_call()
        breaker.reset()
        await breaker.before_call()
    finally:
        await store.aclose()


@pytest.fixture
async def two_instances(
    redis_url: str, namespace: str, make_settings: SettingsFactory
) -> AsyncIterator[tuple[IntegrationManager, IntegrationManager]]:
    """Two managers sharing one Redis (as two service instances would)."""
    settings = make_settings(CACHE_BACKEND="redis", REDIS_URL=redis_url)
    first = IntegrationManager(build_runtime(settings, namespace=namespace))
    second = IntegrationManager(build_runtime(settings, namespace=namespace))
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


async def test_cached_context_is_shared_by_instances(
    two_instances: tuple[IntegrationManager, IntegrationManager],
) -> None:
    first, second = two_instances
    await first.get_customer_context(DEMO)
    ctx = await second.get_customer_context(DEMO, max_tokens=4000)
    assert MockCRMAdapter.get_instance().call_counts["get_crm_context"] == 1
    assert ctx.freshness["crm"].from_cache
    await second.invalidate(DEMO)
    await first.get_customer_context(DEMO)
    assert MockCRMAdapter.get_instance().call_counts["get_crm_context"] == 2
    stats = await first.runtime.cache.stats()
    assert stats.backend == "redis"
    assert stats.size > 0


async def test_a_fitted_context_is_reused_across_instances_until_a_part_changes(
    two_instances: tuple[IntegrationManager, IntegrationManager],
) -> None:
    first, second = two_instances
    made = await first.get_customer_context(DEMO)
    reused = await second.get_customer_context(DEMO)
    assert reused.json_bytes() == made.json_bytes()  # the same fitted context, retrievedAt included
    assert reused.retrieved_at == made.retrieved_at
    # A write through the first instance drops the CRM part; the second must not keep serving the
    # fitted context it has in memory, although that one is well within its 60 s.
    interaction = Interaction(type="chat", timestamp=datetime.now(UTC), summary="Talked about sleep")
    await first.log_interaction(DEMO, interaction)
    after = await second.get_customer_context(DEMO)
    assert MockCRMAdapter.get_instance().call_counts["get_crm_context"] == 2
    assert after.crm_context is not None and after.json_bytes() != made.json_bytes()
    assert (await second.get_customer_context(DEMO)).json_bytes() == after.json_bytes()


STAMPEDE_SCRIPT = r"""
import asyncio, json, sys, time
from fearvana_integration import IntegrationManager, MockCRMAdapter, MockSchedulingAdapter
from fearvana_integration.config import load_settings
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store.demo import demo_customer_id

async def main(start_at, namespace):
    settings = load_settings(read_env_files=False)
    manager = IntegrationManager(build_runtime(settings, namespace=namespace))
    customer = demo_customer_id("demo@fearvana.local")
    await asyncio.sleep(max(start_at - time.time(), 0))
    await asyncio.gather(*(manager.get_customer_context(customer) for _ in range(50)))
    crm, scheduling = MockCRMAdapter.get_instance(), MockSchedulingAdapter.get_instance()
    print(json.dumps({"crm": crm.call_counts["get_crm_context"],
                      "scheduling": scheduling.call_counts["get_scheduling_context"]}))
    await manager.aclose()

asyncio.run(main(float(sys.argv[1]), sys.argv[2]))
"""


def test_stampede_across_two_processes_makes_one_call_per_operation(
    redis_url: str, namespace: str, demo_db: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{demo_db}",
        "CACHE_BACKEND": "redis",
        "REDIS_URL": redis_url,
        "MOCK_LATENCY_MS": "100",
        "LOG_LEVEL": "ERROR",
    }
    start_at = f"{time.time() + 4:.3f}"  # both processes fire 50 requests each at the same moment
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", STAMPEDE_SCRIPT, start_at, namespace],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        counts = [line for line in out.splitlines() if line.startswith('{"crm"')]
        assert counts, (out, err)  # anything else on stdout: an unconfigured structlog's warnings
        results.append(json.loads(counts[-1]))
    assert sum(r["crm"] for r in results) == 1, results
    assert sum(r["scheduling"] for r in results) == 1, results


def test_breaker_opened_by_one_process_is_open_in_another(redis_url: str, namespace: str, demo_db: Path) -> None:
    # The library loop opens the breaker; the CLI in another process reports it.
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{demo_db}",
        "CACHE_BACKEND": "redis",
        "REDIS_URL": redis_url,
        "MOCK_LATENCY_MS": "0",
        "CRM_MOCK_FAILURE_RATE": "1",
        "CACHE_ENABLED": "false",
    }
    loop = (
        "import asyncio\n"
        "from fearvana_integration import IntegrationManager\n"
        "from fearvana_integration.config import load_settings\n"
        "from fearvana_integration.runtime import build_runtime\n"
        "async def main():\n"
        f"    m = IntegrationManager(build_runtime(load_settings(read_env_files=False), namespace={namespace!r}))\n"
        "    for _ in range(6):\n"
        "        await m.get_customer_context('demo@fearvana.local')\n"
        "    await m.aclose()\n"
        "asyncio.run(main())\n"
    )
    subprocess.run([sys.executable, "-c", loop], env=env, cwd=REPO, check=True, timeout=60)
    health = (
        "import asyncio, json\n"
        "from fearvana_integration import IntegrationManager\n"
        "from fearvana_integration.config import load_settings\n"
        "from fearvana_integration.runtime import build_runtime\n"
        "async def main():\n"
        f"    m = IntegrationManager(build_runtime(load_settings(read_env_files=False), namespace={namespace!r}))\n"
        "    print((await m.get_health_status()).model_dump_json(by_alias=True))\n"
        "    await m.aclose()\n"
        "asyncio.run(main())\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", health], env=env, cwd=REPO, check=True, timeout=60, capture_output=True, text=True
    )
    data = json.loads(shown.stdout)
    assert data["circuitBreakers"]["crm"]["state"] == "OPEN"
    assert data["circuitBreakers"]["crm"]["failureCount"] == 5
    assert data["status"] == "degraded"
