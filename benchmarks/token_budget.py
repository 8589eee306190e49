"""Token-budget figures (issue: token budget):

1. fit time of the heavy demo customer into 8,000 tokens (p50/p95/p99), beside the floor of
   rendering and counting the already-fitted text once;
2. fill ratio (tokenCount / budget) across the demo customers for budgets where the data is larger;
3. how far the characters/4 estimate is from the exact count on our rendered contexts.

Run: .venv/bin/python benchmarks/token_budget.py [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime

from _common import machine, percentiles, seeded_settings

from fearvana_integration.context.budget import FullContext, fit_context
from fearvana_integration.context.render import clear_caches, render_context
from fearvana_integration.context.tokens import get_tokenizer
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store.demo import demo_specs

BUDGETS = (500, 1000, 2000, 4000, 8000)


async def load_full_contexts(customers: int) -> dict[str, FullContext]:
    runtime = build_runtime(await seeded_settings(customers))
    try:
        return {spec.email: await runtime.assembler.assemble_full(spec.email) for spec in demo_specs(customers)}
    finally:
        await runtime.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--customers", type=int, default=12)
    args = parser.parse_args()
    tokenizer = get_tokenizer("o200k_base")
    contexts = asyncio.run(load_full_contexts(args.customers))
    print(f"machine: {machine()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")

    heavy = contexts["heavy@fearvana.local"]
    entries = len(heavy.context.recent_entries) + len(heavy.older_entries)
    fitted = fit_context(heavy, max_tokens=8000, budget=8000, tokenizer=tokenizer)

    def timed(cold: bool) -> tuple[list[float], list[float]]:
        fits, floors = [], []
        for _ in range(args.runs):
            if cold:  # a customer fitted for the first time in this process: nothing memoised
                tokenizer.count_line.cache_clear()
                clear_caches()
            started = time.perf_counter()
            fit_context(heavy, max_tokens=8000, budget=8000, tokenizer=tokenizer)
            fits.append((time.perf_counter() - started) * 1000)
            if cold:
                clear_caches()
            started = time.perf_counter()
            tokenizer.count(render_context(fitted))
            floors.append((time.perf_counter() - started) * 1000)
        return fits, floors

    print(
        f"\n1. fit heavy@fearvana.local ({entries} loaded entries, full text "
        f"{fitted.optimization.tokens_before if fitted.optimization else '?'} tokens) into 8,000 tokens, "
        f"{args.runs} runs each; floor = rendering and counting the fitted text once (target fit p95 <= 10 ms)"
    )
    for label, cold in (("cold (first fit of this customer)", True), ("warm (lines memoised)", False)):
        fits, floors = timed(cold)
        p50, p95, p99 = percentiles(fits)
        f50, f95, f99 = percentiles(floors)
        print(f"   {label}:")
        print(f"     fit   p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  p99 {p99:6.2f} ms")
        print(f"     floor p50 {f50:6.2f} ms  p95 {f95:6.2f} ms  p99 {f99:6.2f} ms   fit/floor p95 {p95 / f95:.1f}x")
    print(f"   tokenCount {fitted.token_count}")

    print("\n2. fill ratio (tokenCount / budget) where the full text is larger than the budget")
    fills: dict[int, list[float]] = {b: [] for b in BUDGETS}
    for full in contexts.values():
        before = tokenizer.count(render_context(full.context))
        for budget in BUDGETS:
            if before > budget:
                result = fit_context(full, max_tokens=budget, budget=budget, tokenizer=tokenizer)
                assert result.token_count <= budget
                fills[budget].append(result.token_count / budget)
    for budget, values in fills.items():
        if values:
            print(f"   budget {budget:5d}: {len(values):2d} customers over it, fill min {min(values):.3f} "
                  f"median {statistics.median(values):.3f} max {max(values):.3f}")  # fmt: skip

    print("\n3. characters/4 versus the exact o200k_base count on rendered contexts")
    errors = []
    for full in contexts.values():
        for budget in (*BUDGETS, 1_000_000):
            text = render_context(fit_context(full, max_tokens=budget, budget=budget, tokenizer=tokenizer))
            exact = tokenizer.count(text)
            errors.append((len(text) / 4 - exact) / exact)
    print(f"   {len(errors)} texts: error min {min(errors):+.1%} median {statistics.median(errors):+.1%} "
          f"max {max(errors):+.1%}  (positive: chars/4 over-counts)")  # fmt: skip


if __name__ == "__main__":
    main()
