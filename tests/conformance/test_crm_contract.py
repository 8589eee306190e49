"""The CRM contract, run against every registered CRM adapter (``test_x[mock]``, ``test_x[hubspot]`` …)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from fearvana_integration.adapters.base import CRMAdapter
from fearvana_integration.domain.crm import Interaction
from fearvana_integration.errors import (
    CapabilityNotSupported,
    CustomerNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderResponseInvalid,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)
from tests.conformance.harness import FAULTS, KNOWN, NOW, OTHER, UNKNOWN, CrmWorld, Fault, Harness


async def test_finds_the_contact_by_email(crm: CRMAdapter) -> None:
    contact = await crm.find_contact(KNOWN)
    assert contact is not None
    assert contact.email.lower() == KNOWN.email
    assert await crm.find_contact(UNKNOWN) is None


async def test_context_has_stage_tags_sentiment_and_open_tickets(crm: CRMAdapter) -> None:
    world = CrmWorld()
    ctx = await crm.get_crm_context(KNOWN)
    assert ctx is not None
    assert ctx.lifecycle_stage == world.stage
    assert sorted(ctx.tags) == sorted(world.tags)
    assert ctx.sentiment == world.sentiment
    assert ctx.last_interaction is not None
    assert abs(ctx.last_interaction - world.last_interaction) < timedelta(seconds=1)
    if "tickets" in crm.capabilities:
        assert ctx.open_tickets == len(world.open_tickets)
        assert {t.subject for t in ctx.tickets} == {subject for subject, _ in world.open_tickets}
    else:
        assert ctx.open_tickets is None


async def test_customer_missing_from_the_crm_is_not_an_error(crm: CRMAdapter) -> None:
    assert await crm.get_crm_context(UNKNOWN) is None


async def test_open_tickets_or_capability_missing(crm: CRMAdapter) -> None:
    if "tickets" not in crm.capabilities:
        with pytest.raises(CapabilityNotSupported):
            await crm.get_open_tickets(KNOWN)
        return
    tickets = await crm.get_open_tickets(KNOWN)
    assert {t.subject for t in tickets} == {subject for subject, _ in CrmWorld().open_tickets}
    assert all(t.status != "closed" for t in tickets)


async def test_logged_interaction_shows_up_in_history_newest_first(crm: CRMAdapter) -> None:
    interaction = Interaction(
        type="chat", timestamp=NOW, summary="Asked about the Sacred Edge philosophy", sentiment="positive"
    )
    crm_id = await crm.log_interaction(KNOWN, interaction)
    assert crm_id
    history = await crm.get_interaction_history(KNOWN, limit=10)
    assert history[0].crm_id == crm_id
    assert history[0].summary == interaction.summary
    assert [h.timestamp for h in history] == sorted((h.timestamp for h in history), reverse=True)
    ctx = await crm.get_crm_context(KNOWN)
    assert ctx is not None and ctx.last_interaction is not None
    assert abs(ctx.last_interaction - NOW) < timedelta(seconds=1)


@pytest.mark.parametrize("kind", ["call", "email", "appointment"])
async def test_every_interaction_type_can_be_logged(crm: CRMAdapter, kind: str) -> None:
    interaction = Interaction(type=kind, timestamp=NOW - timedelta(hours=1), summary=f"A {kind}")  # type: ignore[arg-type]
    assert await crm.log_interaction(KNOWN, interaction)


async def test_history_respects_the_limit(crm: CRMAdapter) -> None:
    for i in range(3):
        await crm.log_interaction(
            KNOWN, Interaction(type="chat", timestamp=NOW - timedelta(minutes=i), summary=f"n{i}")
        )
    assert len(await crm.get_interaction_history(KNOWN, limit=2)) == 2


async def test_update_sentiment_is_visible_in_the_context(crm: CRMAdapter) -> None:
    await crm.update_sentiment(KNOWN, "negative")
    ctx = await crm.get_crm_context(KNOWN)
    assert ctx is not None and ctx.sentiment == "negative"


async def test_writes_for_a_customer_not_in_the_crm_raise_not_found(crm: CRMAdapter) -> None:
    with pytest.raises(CustomerNotFound):
        await crm.log_interaction(UNKNOWN, Interaction(type="chat", timestamp=NOW, summary="hello"))
    with pytest.raises(CustomerNotFound):
        await crm.update_sentiment(UNKNOWN, "positive")


async def test_customers_do_not_see_each_others_records(crm: CRMAdapter) -> None:
    await crm.log_interaction(KNOWN, Interaction(type="chat", timestamp=NOW, summary="private to Kim"))
    history = await crm.get_interaction_history(OTHER, limit=50)
    assert all("private to Kim" not in item.summary for item in history)
    other = await crm.get_crm_context(OTHER)
    assert other is not None and other.lifecycle_stage == "vip"


async def test_ping(crm: CRMAdapter) -> None:
    await crm.ping()


EXPECTED: dict[Fault, type[Exception]] = {
    "unavailable": ProviderUnavailable,
    "rate_limited": RateLimited,
    "quota": QuotaExhausted,
    "auth": ProviderAuthError,
    "malformed": ProviderResponseInvalid,
}


@pytest.mark.parametrize("fault", FAULTS)
async def test_faults_map_to_the_error_tree(crm_harness: Harness, crm: CRMAdapter, fault: Fault) -> None:
    crm_harness.fail_next("get_crm_context", fault)
    if fault == "slow":
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await crm.get_crm_context(KNOWN)
        return
    with pytest.raises(EXPECTED[fault]) as info:
        await crm.get_crm_context(KNOWN)
    assert isinstance(info.value, ProviderError)
    if fault == "rate_limited":
        assert isinstance(info.value, RateLimited) and info.value.retry_after is not None
    if fault in ("unavailable", "rate_limited"):
        assert info.value.retryable
    if fault in ("quota", "auth", "malformed"):
        assert not info.value.retryable and info.value.counts_for_breaker
    # the fault was for one call only
    assert await crm.get_crm_context(KNOWN) is not None
