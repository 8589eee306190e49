"""The prompt says what it left out: the omission line, hidden fields in the customer's view, cuts that
keep something meaningful, sessions where they belong in time, labels that match the backend."""

from __future__ import annotations

import re

import pytest

from fearvana_integration import IntegrationManager, render_context
from fearvana_integration.context.budget import _OMITTED_NOUNS, MEANINGFUL_CUT_TOKENS
from fearvana_integration.context.render import cut_line
from fearvana_integration.context.tokens import get_tokenizer

TOKENIZER = get_tokenizer("o200k_base")


async def test_every_section_left_out_is_named_with_its_count(manager: IntegrationManager) -> None:
    ctx = await manager.get_customer_context("heavy@fearvana.local", max_tokens=8000)
    assert ctx.optimization is not None and ctx.optimization.omission is not None
    text = render_context(ctx)
    lines = text.splitlines()
    assert lines[2] == ctx.optimization.omission  # right under the title and the note on quoted data
    dropped = {s.name: s.dropped for s in ctx.optimization.sections if s.dropped and s.name in _OMITTED_NOUNS}
    assert dropped, "the heavy customer does not fit in 8,000 tokens"
    for name, count in dropped.items():
        singular, plural = _OMITTED_NOUNS[name]
        assert f"{count} {singular if count == 1 else plural}" in lines[2], name
    summarised = next(s.summarised for s in ctx.optimization.sections if s.name == "recentEntries")
    assert f"{summarised} recent entries summarised by area" in lines[2]
    assert ctx.token_count == TOKENIZER.count(text) <= 8000


async def test_nothing_left_out_means_no_omission_line(manager: IntegrationManager) -> None:
    ctx = await manager.get_customer_context("new@fearvana.local", max_tokens=8000)
    assert ctx.optimization is not None and ctx.optimization.omission is None
    assert "Left out" not in render_context(ctx)


@pytest.mark.parametrize("budget", [60, 120, 199])
async def test_small_budgets_have_no_omission_line(manager: IntegrationManager, budget: int) -> None:
    ctx = await manager.get_customer_context("heavy@fearvana.local", max_tokens=budget)
    assert ctx.optimization is not None and ctx.optimization.omission is None
    assert ctx.token_count <= budget


@pytest.mark.parametrize("budget", range(50, 420, 7))
async def test_a_cut_line_keeps_something_meaningful(manager: IntegrationManager, budget: int) -> None:
    ctx = await manager.get_customer_context("demo@fearvana.local", max_tokens=budget)
    assert ctx.optimization is not None
    cut = ctx.optimization.cut
    if cut is None or cut.section == "profile":
        return  # identity is never dropped: below ~60 tokens its line is cut to what fits
    cut_lines = [line for line in render_context(ctx).splitlines() if line.endswith("…[cut]")]
    assert len(cut_lines) == 1
    line = cut_lines[0].removesuffix(" …[cut]").removesuffix('…"')
    label_end = min((i for i in (line.find(": "), line.find('"')) if i >= 0), default=0)
    assert TOKENIZER.count(line[label_end:]) >= MEANINGFUL_CUT_TOKENS - 1, cut_lines[0]  # -1: the closing quote


def test_cut_line_closes_an_open_fence() -> None:
    assert cut_line('- "abcdef" tail', 5) == '- "ab…" …[cut]'


async def test_the_customers_own_view_says_which_fields_are_hidden(manager: IntegrationManager) -> None:
    ctx = await manager.get_customer_context("demo@fearvana.local", view="customer")
    text = render_context(ctx)
    assert "- Open tickets 2 · stage, sentiment and tags are the coaching team's internal labels" in text
    assert "Stage active" not in text


async def test_sessions_are_placed_in_time(manager: IntegrationManager) -> None:
    ctx = await manager.get_customer_context("demo@fearvana.local", max_tokens=100_000)
    text = render_context(ctx)
    sessions = text[text.index("## Sessions") : text.index("\n## ", text.index("## Sessions") + 1)]
    assert "- Next session:" in sessions and "- Also booked:" in sessions  # upcoming ones with the next one
    past = text[text.index("## Past sessions") :]
    assert "- Past session:" in past and "Also booked" not in past


async def test_labels_match_the_backend_and_tickets_read_as_words(manager: IntegrationManager) -> None:
    text = render_context(await manager.get_customer_context("demo@fearvana.local", max_tokens=100_000))
    assert "- Sources: store (sqlite): profile, store fresh; mock: crm, scheduling fresh" in text
    assert "supabase" not in text
    assert re.search(r"- Ticket \(medium priority, (open|pending)\) opened ", text), text
