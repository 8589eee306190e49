"""A vendor that refuses our credentials is said so — expired, missing a scope, or invalid — in health
and in the AI's notes, instead of passing for a generic outage."""

from __future__ import annotations

import pytest

from fearvana_integration import IntegrationManager
from fearvana_integration.adapters.scheduling.mock import MockSchedulingAdapter
from fearvana_integration.errors import ProviderAuthError
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store.demo import demo_customer_id
from tests.conftest import SettingsFactory

DEMO = demo_customer_id("demo@fearvana.local")


@pytest.mark.parametrize(
    ("reason", "advice"),
    [
        ("expired", "expired or were revoked"),
        ("missing_scope", "lack a permission"),
        ("invalid", "refused our credentials"),
    ],
)
async def test_health_and_notes_name_the_credential_problem(
    make_settings: SettingsFactory, reason: str, advice: str
) -> None:
    manager = IntegrationManager(build_runtime(make_settings(CACHE_ENABLED="false")))
    mock = MockSchedulingAdapter.get_instance()
    refused = ProviderAuthError("401 from the platform", source="scheduling", reason=reason)  # type: ignore[arg-type]
    try:
        mock.inject_fault("ping", refused)
        health = await manager.get_health_status()
        scheduling = health.services["scheduling"]
        assert (scheduling.healthy, scheduling.auth) == (False, reason)
        assert health.services["crm"].auth == "ok" and health.services["supabase"].auth is None
        assert health.status == "degraded"

        mock.inject_fault("get_scheduling_context", refused)
        context = await manager.get_customer_context(DEMO)
        note = next(n for n in context.notes_for_ai if n.source == "scheduling" and n.code == "source_unavailable")
        assert advice in note.message
    finally:
        await manager.aclose()
