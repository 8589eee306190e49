"""The audit trail on the embedded SQLite store: append-only, batched, nothing lost on shutdown."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from fearvana_integration import IntegrationManager
from fearvana_integration.cli import parse_age
from fearvana_integration.errors import InvalidInput
from fearvana_integration.observability.audit import audit_context
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store.admin import init_sqlite
from fearvana_integration.store.demo import demo_customer_id, seed_demo
from fearvana_integration.store.engine import create_engine
from tests.conftest import FIXED_NOW, SettingsFactory

DEMO = demo_customer_id("demo@fearvana.local")


@pytest.fixture
async def own_db(tmp_path: Path, make_settings: SettingsFactory) -> Path:
    """A database of its own: audit rows other tests wrote (some with fake future clocks) cannot be removed."""
    path = tmp_path / "audit.db"
    engine = create_engine(make_settings(DATABASE_URL=f"sqlite:///{path}"), create=True)
    await init_sqlite(engine, path)
    await seed_demo(engine, "sqlite", count=6, now=FIXED_NOW)
    await engine.dispose()
    return path


async def test_reads_and_writes_are_recorded_with_actor_and_correlation(
    make_settings: SettingsFactory, own_db: Path
) -> None:
    manager = IntegrationManager(build_runtime(make_settings(DATABASE_URL=f"sqlite:///{own_db}")))
    try:
        with audit_context(actor="coach-ai", correlation_id="req-123"):
            await manager.get_customer_context("demo@fearvana.local")
        with pytest.raises(Exception, match="Customer not found"):
            await manager.get_customer_context("00000000-0000-4000-8000-000000000000")
        rows = await manager.runtime.audit.show(DEMO)
    finally:
        await manager.aclose()
    actions = [(r["action"], r["actor"], r["correlation_id"], r["outcome"]) for r in rows]
    assert ("context.read", "coach-ai", "req-123", "ok") in actions
    assert ("profile.lookup_by_email", "coach-ai", "req-123", "ok") in actions


async def test_nothing_is_lost_on_a_clean_shutdown(make_settings: SettingsFactory, own_db: Path) -> None:
    url = f"sqlite:///{own_db}"
    manager = IntegrationManager(build_runtime(make_settings(DATABASE_URL=url)))
    for _ in range(25):
        await manager.get_customer_context(DEMO)
    await manager.aclose()  # whatever the background writer had not written yet is written here
    reader = IntegrationManager(build_runtime(make_settings(DATABASE_URL=url)))
    try:
        rows = await reader.runtime.audit.show(DEMO, limit=1000)
    finally:
        await reader.aclose()
    assert len([r for r in rows if r["action"] == "context.read"]) == 25


async def test_rows_cannot_be_changed_or_deleted_except_by_the_purge(
    make_settings: SettingsFactory, own_db: Path
) -> None:
    manager = IntegrationManager(build_runtime(make_settings(DATABASE_URL=f"sqlite:///{own_db}")))
    try:
        await manager.get_customer_context(DEMO)
        await manager.runtime.audit.flush()
        engine = manager.runtime.store.engine
        for statement in ("UPDATE integration_audit_log SET outcome = 'x'", "DELETE FROM integration_audit_log"):
            with pytest.raises(IntegrityError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(sa.text(statement))
        removed = await manager.runtime.audit.purge(timedelta(seconds=0))
        assert removed >= 1
        remaining = [r["action"] for r in await manager.runtime.audit.show(DEMO)]
        assert remaining == ["audit.show"]
    finally:
        await manager.aclose()


def test_retention_ages() -> None:
    assert parse_age("7y") == timedelta(days=7 * 365)
    assert parse_age("30d") == timedelta(days=30)
    assert parse_age(" 12h ") == timedelta(hours=12)
    with pytest.raises(InvalidInput):
        parse_age("7 years")
