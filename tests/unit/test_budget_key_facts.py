"""What must survive a small budget, on the demo customers, and the budget settings."""

from __future__ import annotations

import json

import pytest

from fearvana_integration import BudgetTooSmall, IntegrationManager, render_context
from fearvana_integration.context.tokens import get_tokenizer
from fearvana_integration.runtime import build_runtime
from tests.conftest import SettingsFactory

SCENARIOS = [
    "demo@fearvana.local",
    "heavy@fearvana.local",
    "prep-due@fearvana.local",
    "churned-booked@fearvana.local",
    "stale@fearvana.local",
    "new@fearvana.local",
]


@pytest.mark.parametrize("email", SCENARIOS)
async def test_key_facts_survive_2000_tokens(manager: IntegrationManager, email: str) -> None:
    full = await manager.get_customer_context(email, max_tokens=100_000)
    ctx = await manager.get_customer_context(email, max_tokens=2000)
    text = render_context(ctx)
    assert ctx.token_count <= 2000
    assert full.profile.display_name is not None and full.profile.display_name in text
    for note in full.notes_for_ai:
        assert note.message[:60] in text, note.code
    scored = [a for a in full.life_areas if a.current_score is not None]
    if scored:
        lowest = min(scored, key=lambda a: a.current_score or 0)
        highest = max(scored, key=lambda a: a.current_score or 0)
        assert f"- {lowest.label}: {lowest.current_score}," in text
        assert f"- {highest.label}: {highest.current_score}," in text
    spiral = full.spiral_state
    if spiral is not None and spiral.current_level:
        assert f"Level {spiral.current_level} · step {spiral.current_step} of 6" in text
    scheduling = full.scheduling_context
    assert scheduling is not None
    assert "- Next session:" in text
    if scheduling.preparation_due:
        assert "PREPARATION DUE" in text
    if full.crm_context is not None:
        assert f"Stage {full.crm_context.lifecycle_stage}" in text
        assert f"open tickets {full.crm_context.open_tickets}" in text
    if full.coach_actions:
        assert full.coach_actions[0].suggestion[:40] in text
    if full.sacred_edge is not None:
        assert "## Sacred Edge" in text and json.dumps(full.sacred_edge.description)[:40] in text
    if full.commitments is not None:
        assert f"{full.commitments.pending_count} pending" in text
        for commitment in full.commitments.pending:
            assert json.dumps(commitment.description) in text, commitment.description


async def test_the_sacred_edge_never_takes_more_than_120_tokens(manager: IntegrationManager) -> None:
    ctx = await manager.get_customer_context("heavy@fearvana.local", max_tokens=100_000)
    assert ctx.sacred_edge is not None and ctx.sacred_edge.description.endswith("…[shortened]")
    line = next(line for line in render_context(ctx).splitlines() if line.startswith('- "Standing on a stage'))
    assert get_tokenizer("o200k_base").count(line + "\n") <= 120
    assert ctx.optimization is not None
    assert {s.name: s.shortened for s in ctx.optimization.sections}["sacredEdge"] == 1


async def test_heavy_customer_at_8000_keeps_the_newest_entries(manager: IntegrationManager) -> None:
    ctx = await manager.get_customer_context("heavy@fearvana.local", max_tokens=8000)
    assert sum(a.entries_last_90_days for a in ctx.life_areas) >= 1200
    assert 7600 <= ctx.token_count <= 8000
    assert len(ctx.life_areas) == 7 and ctx.spiral_state is not None
    assert ctx.scheduling_context is not None and ctx.scheduling_context.next_appointment is not None
    assert ctx.recent_entries, "the newest entries are listed"
    assert ctx.entry_summaries, "the rest is summarised, not lost"
    assert ctx.optimization is not None
    sections = {s.name: s for s in ctx.optimization.sections}
    assert sections["recentEntries"].summarised + sections["recentEntries"].kept > len(ctx.recent_entries) - 1
    assert sections["olderEntries"].summarised > 0 and sections["olderEntries"].dropped == 0
    assert ctx.optimization.tokens_before > ctx.optimization.tokens_after == ctx.token_count


async def test_reserved_tokens_and_margin_shrink_the_text(make_settings: SettingsFactory) -> None:
    manager = IntegrationManager(
        build_runtime(make_settings(CONTEXT_RESERVED_TOKENS="500", CONTEXT_TOKEN_MARGIN_PERCENT="10"))
    )
    try:
        ctx = await manager.get_customer_context("heavy@fearvana.local", max_tokens=2000)
        assert ctx.max_tokens == 2000
        assert ctx.token_count <= (2000 - 500) * 0.9
        with pytest.raises(BudgetTooSmall):
            await manager.get_customer_context("heavy@fearvana.local", max_tokens=540)
    finally:
        await manager.aclose()


async def test_cl100k_is_selectable(make_settings: SettingsFactory) -> None:
    manager = IntegrationManager(build_runtime(make_settings(TOKENIZER_ENCODING="cl100k_base")))
    try:
        ctx = await manager.get_customer_context("heavy@fearvana.local", max_tokens=3000)
        assert ctx.token_count == get_tokenizer("cl100k_base").count(render_context(ctx)) <= 3000
        assert ctx.token_count != get_tokenizer("o200k_base").count(render_context(ctx))
    finally:
        await manager.aclose()


@pytest.mark.parametrize("budget", [0, 49, -5])
async def test_budget_under_50_is_refused(manager: IntegrationManager, budget: int) -> None:
    with pytest.raises(BudgetTooSmall, match="at least 50"):
        await manager.get_customer_context("demo@fearvana.local", max_tokens=budget)
