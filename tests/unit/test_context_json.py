"""A fitted context's API JSON is computed once and reused, and never outlives a change."""

from __future__ import annotations

import json

from fearvana_integration import IntegrationManager, render_context
from fearvana_integration.cache import Cached
from fearvana_integration.context.assembler import FITTED_CODEC
from fearvana_integration.store.demo import demo_customer_id

HEAVY = demo_customer_id("heavy@fearvana.local")


async def test_served_json_is_the_models_json_and_copies_do_not_inherit_it(manager: IntegrationManager) -> None:
    ctx = await manager.get_customer_context(HEAVY)
    body = ctx.json_bytes()
    assert body == ctx.model_dump_json(by_alias=True).encode()
    assert json.loads(body)["customerId"] == str(HEAVY)
    again = await manager.get_customer_context(HEAVY)  # a cached fitted context
    assert again.json_bytes() == body
    smaller = ctx.model_copy(update={"max_tokens": 123})
    assert json.loads(smaller.json_bytes())["maxTokens"] == 123
    assert ctx.memoised("prompt", render_context) == render_context(ctx)


async def test_a_fitted_context_from_redis_is_served_as_the_bytes_it_was_stored_as(
    manager: IntegrationManager,
) -> None:
    ctx = await manager.get_customer_context(HEAVY)
    stored = FITTED_CODEC.encode(Cached(ctx, 1.5))
    entry = FITTED_CODEC.decode(stored.encode())
    assert entry.fetched_at == 1.5 and entry.readable()
    assert entry.value == ctx
    assert entry.value.json_bytes() == ctx.json_bytes()
