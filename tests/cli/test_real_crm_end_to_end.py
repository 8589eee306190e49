"""End to end: the CLI and the manager against a vendor's fake served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fearvana_integration.config import load_settings
from fearvana_integration.manager import IntegrationManager
from fearvana_integration.runtime import build_runtime
from tests.cli.conftest import Result
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.server import serve

TOKEN = "pat-na1-e2e-token"


@pytest.fixture
def hubspot() -> Iterator[tuple[FakeHubSpot, str]]:
    fake = FakeHubSpot(token=TOKEN)
    contact = fake.add_contact(
        "demo@fearvana.local",
        {
            "firstname": "Dana",
            "lastname": "Demo",
            "lifecyclestage": "evangelist",
            "fearvana_tags": "retreat-2026;podcast-listener",
            "fearvana_sentiment": "positive",
        },
    )
    now = datetime.now(UTC)
    fake.add_ticket(
        contact, subject="Invoice for my employer", open=True, priority="HIGH", created_at=now - timedelta(days=2)
    )
    fake.add_ticket(contact, subject="Watch sync broken", open=True, priority="LOW", created_at=now - timedelta(days=5))
    fake.add_ticket(contact, subject="Old login problem", open=False, created_at=now - timedelta(days=40))
    with serve(fake.app) as url:
        yield fake, url


def test_cli_context_shows_the_vendors_stage_and_open_tickets(cli, hubspot: tuple[FakeHubSpot, str]) -> None:  # type: ignore[no-untyped-def]
    fake, url = hubspot
    env = {"CRM_PROVIDER": "hubspot", "CRM_API_KEY": TOKEN, "CRM_ENDPOINT": url}
    result: Result = cli("context", "demo@fearvana.local", "--format", "json", **env)
    assert result.code == 0, result.err
    crm = json.loads(result.out)["crmContext"]
    assert crm["lifecycleStage"] == "vip"  # HubSpot "evangelist" through the default map
    assert crm["openTickets"] == 2
    assert {t["subject"] for t in crm["tickets"]} == {"Invoice for my employer", "Watch sync broken"}
    assert sorted(crm["tags"]) == ["podcast-listener", "retreat-2026"]
    assert any(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in fake.requests)

    prompt = cli("context", "demo@fearvana.local", **env)
    assert prompt.code == 0 and "vip" in prompt.out and "Invoice for my employer" in prompt.out


def test_a_wrong_token_is_a_crm_note_not_a_crash(cli, hubspot: tuple[FakeHubSpot, str]) -> None:  # type: ignore[no-untyped-def]
    _, url = hubspot
    result = cli(
        "context",
        "demo@fearvana.local",
        "--format",
        "json",
        CRM_PROVIDER="hubspot",
        CRM_API_KEY="wrong",
        CRM_ENDPOINT=url,
    )
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["crmContext"] is None
    note = next(n for n in data["notesForAi"] if n["code"] == "source_unavailable" and n["source"] == "crm")
    assert "401" in note["message"]


async def test_a_failing_crm_opens_its_breaker_after_five_failures(
    hubspot: tuple[FakeHubSpot, str], demo_db: Path
) -> None:
    fake, url = hubspot
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite:///{demo_db}",
            "CRM_PROVIDER": "hubspot",
            "CRM_API_KEY": TOKEN,
            "CRM_ENDPOINT": url,
            "CACHE_ENABLED": "false",
            "MOCK_LATENCY_MS": "0",
        },
        read_env_files=False,
    )
    fake.fail_next("unavailable", times=1000)
    runtime = build_runtime(settings, namespace="e2e-breaker")
    manager = IntegrationManager(runtime)
    try:
        for _ in range(5):
            ctx = await manager.get_customer_context("demo@fearvana.local")
            assert ctx.crm_context is None
        assert (await runtime.breakers["crm"].state()).state == "OPEN"
        before = len(fake.requests)
        ctx = await manager.get_customer_context("demo@fearvana.local")
        assert len(fake.requests) == before  # refused without calling out
        note = next(n for n in ctx.notes_for_ai if n.source == "crm")
        assert "circuit breaker" in note.message.lower()
    finally:
        await manager.aclose()
