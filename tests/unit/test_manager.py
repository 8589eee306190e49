"""IntegrationManager against the demo database and the mocks: assembly, degradation, actions, health."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from fearvana_integration import (
    CustomerNotFound,
    DateRange,
    IntegrationDisabled,
    IntegrationManager,
    Interaction,
    MockCRMAdapter,
    MockSchedulingAdapter,
    SlotUnavailable,
    render_context,
)
from fearvana_integration.adapters.mock_support import SlowResponse
from fearvana_integration.errors import AppointmentNotFound, ProviderUnavailable, StoreUnavailable
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store.demo import demo_customer_id
from tests.conftest import SettingsFactory

DEMO = demo_customer_id("demo@fearvana.local")


async def test_context_of_a_typical_customer(manager: IntegrationManager) -> None:
    ctx = await manager.get_customer_context(DEMO, max_tokens=8000)
    assert ctx.customer_id == DEMO and ctx.profile.email == "demo@fearvana.local"
    assert [a.category for a in ctx.life_areas][:2] == ["mindset_maturity", "family_relationships"]
    assert len(ctx.life_areas) == 7 and any(a.current_score is not None for a in ctx.life_areas)
    assert ctx.crm_context is not None and ctx.crm_context.lifecycle_stage == "active"
    assert ctx.scheduling_context is not None and ctx.scheduling_context.next_appointment is not None
    assert ctx.freshness["crm"].status == "fresh" and ctx.freshness["crm"].source == "mock"
    assert ctx.token_count == manager.runtime.tokenizer.count(render_context(ctx)) <= 8000
    assert [e.timestamp for e in ctx.recent_entries] == sorted((e.timestamp for e in ctx.recent_entries), reverse=True)
    assert all(e.timestamp >= ctx.retrieved_at - timedelta(days=30) for e in ctx.recent_entries)
    assert len(ctx.coach_actions) <= 20
    assert all(s.quantity_on_hand > 0 for s in ctx.supplements)


async def test_email_and_uuid_text_find_the_same_customer(manager: IntegrationManager) -> None:
    by_email = await manager.get_customer_context("DEMO@fearvana.local")
    by_text = await manager.get_customer_context(str(DEMO))
    assert by_email.customer_id == by_text.customer_id == DEMO


async def test_unknown_customer(manager: IntegrationManager) -> None:
    with pytest.raises(CustomerNotFound):
        await manager.get_customer_context(UUID("00000000-0000-4000-8000-000000000000"))


async def test_failing_crm_degrades_with_a_note(manager: IntegrationManager) -> None:
    MockCRMAdapter.get_instance().inject_fault("get_crm_context", ProviderUnavailable("503 from CRM", source="crm"))
    ctx = await manager.get_customer_context(DEMO)
    assert ctx.crm_context is None
    assert ctx.freshness["crm"].status == "unavailable" and "503 from CRM" in (ctx.freshness["crm"].reason or "")
    notes = [n for n in ctx.notes_for_ai if n.code == "source_unavailable"]
    assert notes and notes[0].source == "crm"
    assert ctx.scheduling_context is not None  # the other source is unaffected


async def test_slow_crm_costs_at_most_its_timeout(make_settings: SettingsFactory) -> None:
    manager = IntegrationManager(build_runtime(make_settings(CRM_TIMEOUT_MS="200")))
    try:
        MockCRMAdapter.get_instance().inject_fault("get_crm_context", SlowResponse(5))
        started = time.perf_counter()
        ctx = await manager.get_customer_context(DEMO)
        elapsed = time.perf_counter() - started
    finally:
        await manager.aclose()
    assert ctx.crm_context is None and "did not answer within 0.2 s" in (ctx.freshness["crm"].reason or "")
    assert elapsed < 2  # generous: the point is "not 5 s", measured precisely in benchmarks/


async def test_disabled_sources(make_settings: SettingsFactory) -> None:
    manager = IntegrationManager(build_runtime(make_settings(CRM_ENABLED="false", SCHEDULING_ENABLED="false")))
    try:
        ctx = await manager.get_customer_context(DEMO)
        assert ctx.crm_context is None and ctx.scheduling_context is None
        assert {n.code for n in ctx.notes_for_ai} >= {"source_disabled"}
        assert ctx.freshness["crm"].status == "disabled"
        assert MockCRMAdapter.get_instance().call_counts["get_crm_context"] == 0
        with pytest.raises(IntegrationDisabled, match="Integration not available: CRM is disabled"):
            await manager.log_interaction(DEMO, Interaction(type="chat", timestamp=datetime.now(UTC), summary="hi"))
        health = await manager.get_health_status()
        assert health.status == "healthy" and not health.services["crm"].enabled
    finally:
        await manager.aclose()


async def test_log_interaction_shows_in_crm(manager: IntegrationManager) -> None:
    now = datetime.now(UTC)
    crm_id = await manager.log_interaction(
        DEMO, Interaction(type="chat", timestamp=now, summary="Asked about Sacred Edge", sentiment="negative")
    )
    crm = MockCRMAdapter.get_instance()
    assert crm.call_counts["update_sentiment"] == 1
    ctx = await manager.get_customer_context(DEMO)
    assert ctx.crm_context is not None and ctx.crm_context.sentiment == "negative"
    assert ctx.crm_context.last_interaction == now
    assert crm_id.startswith("mock-note-")


async def test_book_and_cancel(manager: IntegrationManager) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    slots = await manager.get_available_slots(DateRange(start_date=start, end_date=start + timedelta(days=7)))
    appointment = await manager.book_appointment(DEMO, slots[0], "coaching-session")
    other = demo_customer_id("new@fearvana.local")
    with pytest.raises(SlotUnavailable) as info:
        await manager.book_appointment(other, slots[0], "coaching-session")
    assert info.value.alternatives
    with pytest.raises(AppointmentNotFound):
        await manager.cancel_appointment(other, appointment.id)
    cancelled = await manager.cancel_appointment(DEMO, appointment.id)
    assert cancelled.status == "cancelled"
    assert MockSchedulingAdapter.get_instance().call_counts["book_appointment"] == 2


async def test_health(manager: IntegrationManager) -> None:
    health = await manager.get_health_status()
    assert health.status == "healthy"
    assert set(health.services) == {"supabase", "crm", "scheduling", "email"}
    assert health.services["supabase"].backend == "sqlite"
    assert health.services["supabase"].latency is not None
    assert health.circuit_breakers["crm"].state == "CLOSED"
    assert health.cache is not None
    # pings are cached (HEALTH_PING_CACHE_SECONDS): a load balancer polling does not burn vendor quota
    await manager.get_health_status()
    assert MockCRMAdapter.get_instance().call_counts["ping"] == 1


async def test_failing_optional_source_degrades_health(make_settings: SettingsFactory) -> None:
    manager = IntegrationManager(build_runtime(make_settings(HEALTH_PING_CACHE_SECONDS="0")))
    try:
        MockCRMAdapter.get_instance().inject_fault("ping", ProviderUnavailable("down", source="crm"))
        health = await manager.get_health_status()
        assert health.status == "degraded"
        assert health.services["crm"].error == "down"
    finally:
        await manager.aclose()


async def test_store_down_is_unhealthy_and_context_fails_clearly(make_settings: SettingsFactory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    manager = IntegrationManager(build_runtime(make_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'gone.db'}")))
    try:
        assert (await manager.get_health_status()).status == "unhealthy"
        with pytest.raises(StoreUnavailable, match="does not exist"):
            await manager.get_customer_context(DEMO)
    finally:
        await manager.aclose()
