"""The cache, breakers and stale-if-error as a user of the manager sees them (memory backend)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fearvana_integration import IntegrationManager, Interaction, MockCRMAdapter, MockSchedulingAdapter
from fearvana_integration.clock import FakeClock
from fearvana_integration.errors import ProviderUnavailable
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store.demo import demo_customer_id
from tests.conftest import SettingsFactory

DEMO = demo_customer_id("demo@fearvana.local")
PREP = demo_customer_id("prep-due@fearvana.local")
ManagerFactory = Callable[..., IntegrationManager]


@pytest.fixture
async def make_manager(make_settings: SettingsFactory) -> AsyncIterator[ManagerFactory]:
    made: list[IntegrationManager] = []

    def factory(clock: FakeClock | None = None, **env: str) -> IntegrationManager:
        manager = IntegrationManager(build_runtime(make_settings(**env), clock=clock))
        made.append(manager)
        return manager

    yield factory
    for manager in made:
        await manager.aclose()


def calls_for(adapter: MockCRMAdapter | MockSchedulingAdapter, operation: str, customer: object) -> int:
    return sum(1 for call in adapter.calls if call.operation == operation and call.customer_id == str(customer))


class Statements:
    """Counts SQL statements sent by one manager's store."""

    def __init__(self, manager: IntegrationManager) -> None:
        self.count = 0
        sa.event.listen(manager.runtime.store.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The audit trail's own writes share the engine; they are not reads of customer data.
        if not statement.lstrip().upper().startswith("PRAGMA") and "audit_log" not in statement:
            self.count += 1


async def test_stampede_of_100_cold_requests_makes_one_call_per_source_operation(make_manager: ManagerFactory) -> None:
    single = make_manager(MOCK_LATENCY_MS="0")
    one_read = Statements(single)
    await single.get_customer_context(DEMO)
    MockCRMAdapter.get_instance().clear_all_data()
    MockSchedulingAdapter.get_instance().clear_all_data()
    manager = make_manager(MOCK_LATENCY_MS="20")
    statements = Statements(manager)
    results = await asyncio.gather(*(manager.get_customer_context(DEMO) for _ in range(100)))
    crm, scheduling = MockCRMAdapter.get_instance(), MockSchedulingAdapter.get_instance()
    assert crm.call_counts["get_crm_context"] == 1
    assert scheduling.call_counts["get_scheduling_context"] == 1
    assert statements.count == one_read.count  # one store read (profile and both halves), not a hundred
    assert len({r.token_count for r in results}) == 1
    stats = await manager.runtime.cache.stats()
    assert stats.misses == 3  # profile (read with both store halves at once), CRM, scheduling
    assert stats.hits >= 99  # every other asker shared the one assembly (a coalesced waiter is a hit)


async def test_warm_requests_do_not_call_sources(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    first = await manager.get_customer_context(DEMO)
    statements = Statements(manager)
    again = await manager.get_customer_context(DEMO)
    assert statements.count == 0
    assert MockCRMAdapter.get_instance().call_counts["get_crm_context"] == 1
    assert again.retrieved_at == first.retrieved_at  # the fitted context itself was cached
    assert again.freshness["crm"].from_cache is False  # as it was when it was assembled
    other_budget = await manager.get_customer_context(DEMO, max_tokens=3000)
    assert other_budget.freshness["crm"].from_cache is True
    assert statements.count == 0


async def test_cache_disabled_calls_every_time(make_manager: ManagerFactory) -> None:
    manager = make_manager(CACHE_ENABLED="false")
    await manager.get_customer_context(DEMO)
    await manager.get_customer_context(DEMO)
    assert MockCRMAdapter.get_instance().call_counts["get_crm_context"] == 2


async def test_invalidate_drops_exactly_one_customer(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    crm = MockCRMAdapter.get_instance()
    await manager.get_customer_context(DEMO)
    await manager.get_customer_context(PREP)
    await manager.invalidate(DEMO)
    await manager.get_customer_context(DEMO)
    await manager.get_customer_context(PREP)
    assert calls_for(crm, "get_crm_context", DEMO) == 2
    assert calls_for(crm, "get_crm_context", PREP) == 1


async def test_writes_invalidate_what_they_change(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    crm, scheduling = MockCRMAdapter.get_instance(), MockSchedulingAdapter.get_instance()
    await manager.get_customer_context(DEMO)
    await manager.log_interaction(
        DEMO, Interaction(type="chat", timestamp=datetime.now(UTC), summary="Felt great today", sentiment="positive")
    )
    ctx = await manager.get_customer_context(DEMO)
    assert calls_for(crm, "get_crm_context", DEMO) == 2
    assert calls_for(scheduling, "get_scheduling_context", DEMO) == 1
    assert ctx.crm_context is not None and ctx.crm_context.sentiment == "positive"


async def test_failing_source_is_answered_stale_with_its_age(make_manager: ManagerFactory) -> None:
    clock = FakeClock(datetime.now(UTC))
    manager = make_manager(clock)
    await manager.get_customer_context(DEMO)
    clock.advance(601)  # past the CRM TTL (600 s)
    MockCRMAdapter.get_instance().inject_fault("get_crm_context", ProviderUnavailable("503", source="crm"))
    # Served at once from the cache while a refresh runs in the background …
    first = await manager.get_customer_context(DEMO)
    assert first.freshness["crm"].from_cache and first.crm_context is not None
    await manager.runtime.guard.settled()
    # … which failed: from now on the copy is marked stale, with its age and the reason.
    ctx = await manager.get_customer_context(DEMO)
    assert ctx.crm_context is not None and ctx.crm_context.lifecycle_stage == "active"
    crm = ctx.freshness["crm"]
    assert (crm.status, crm.stale, crm.from_cache) == ("stale", True, True)
    assert crm.age_seconds is not None and crm.age_seconds >= 601
    notes = [n for n in ctx.notes_for_ai if n.code == "stale_data" and n.source == "crm"]
    assert notes and "10 minutes old" in notes[0].message


async def test_stale_copy_beyond_the_stale_window_is_not_used(make_manager: ManagerFactory) -> None:
    clock = FakeClock(datetime.now(UTC))
    manager = make_manager(clock, CACHE_STALE_MAX_SECONDS="60")
    await manager.get_customer_context(DEMO)
    clock.advance(600 + 61)
    MockCRMAdapter.get_instance().inject_fault("get_crm_context", ProviderUnavailable("503", source="crm"))
    ctx = await manager.get_customer_context(DEMO)
    assert ctx.crm_context is None
    assert ctx.freshness["crm"].status == "unavailable"


async def test_store_down_is_served_from_a_stale_copy(
    make_settings: SettingsFactory, demo_db: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.db"
    shutil.copyfile(demo_db, copy)
    clock = FakeClock(datetime.now(UTC))
    manager = IntegrationManager(build_runtime(make_settings(DATABASE_URL=f"sqlite:///{copy}"), clock=clock))
    try:
        await manager.get_customer_context(DEMO)
        await manager.runtime.store.engine.dispose()
        copy.unlink()
        clock.advance(301)  # every store part is past its TTL
        ctx = await manager.get_customer_context(DEMO)
        assert ctx.freshness["store"].status == "stale"
        assert any(n.code == "stale_data" and n.source == "supabase" for n in ctx.notes_for_ai)
        assert len(ctx.life_areas) == 7
    finally:
        await manager.aclose()


async def test_crm_breaker_opens_after_five_failures_and_then_costs_nothing(make_manager: ManagerFactory) -> None:
    manager = make_manager(CRM_MOCK_FAILURE_RATE="1", CACHE_ENABLED="false")
    crm = MockCRMAdapter.get_instance()
    for _ in range(5):
        ctx = await manager.get_customer_context(DEMO)
        assert ctx.freshness["crm"].status == "unavailable"
    assert crm.call_counts["get_crm_context"] == 5
    ctx = await manager.get_customer_context(DEMO)
    assert crm.call_counts["get_crm_context"] == 5  # not called while open
    assert "circuit breaker open after 5 failures" in (ctx.freshness["crm"].reason or "")
    assert ctx.scheduling_context is not None
    health = await manager.get_health_status()
    assert health.status == "degraded"
    assert health.circuit_breakers["crm"].state == "OPEN"
    assert health.circuit_breakers["crm"].failure_count == 5
    assert health.circuit_breakers["crm"].next_attempt_at is not None
    manager.circuit_breakers["crm"].reset()
    assert (await manager.get_health_status()).circuit_breakers["crm"].state == "CLOSED"


async def test_not_found_and_rejections_do_not_count(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    for _ in range(6):
        with pytest.raises(Exception, match="Customer not found"):
            await manager.get_customer_context("00000000-0000-4000-8000-000000000000")
    assert (await manager.circuit_breakers["supabase"].state()).state == "CLOSED"
