"""Store reads on the embedded SQLite copy: a fixed number of statements whatever the data size, only
the customer's own rows, NULLs as "unknown", unreadable rows counted (never silently dropped)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from fearvana_integration.config import load_settings
from fearvana_integration.errors import CustomerNotFound
from fearvana_integration.store.demo import demo_customer_id
from fearvana_integration.store.engine import create_engine
from fearvana_integration.store.repository import CustomerStore


@pytest.fixture
def store(demo_db: Path) -> Iterator[CustomerStore]:
    settings = load_settings({"DATABASE_URL": f"sqlite:///{demo_db}"}, read_env_files=False)
    return CustomerStore(create_engine(settings), "sqlite")


def _copy(tmp_path: Path, demo_db: Path) -> CustomerStore:
    copy = tmp_path / "copy.db"
    shutil.copyfile(demo_db, copy)
    return CustomerStore(
        create_engine(load_settings({"DATABASE_URL": f"sqlite:///{copy}"}, read_env_files=False)), "sqlite"
    )


class StatementLog:
    def __init__(self, store: CustomerStore) -> None:
        self.statements: list[str] = []
        sa.event.listen(store.engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith("PRAGMA"):
            self.statements.append(statement)


async def test_same_number_of_statements_whatever_the_data_size(store: CustomerStore) -> None:
    counts = {}
    for email in ("new@fearvana.local", "demo@fearvana.local", "heavy@fearvana.local"):
        log = StatementLog(store)
        profile = await store.find_profile(email)
        sections = await store.load_sections(profile.id, datetime.now(UTC))
        counts[email] = len(log.statements)
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", log._record)
        if email == "heavy@fearvana.local":
            assert len(sections.activity.entries) > 1000
    await store.aclose()
    assert len(set(counts.values())) == 1, counts
    assert counts["heavy@fearvana.local"] <= 20


async def test_every_section_belongs_to_the_customer(store: CustomerStore) -> None:
    demo = await store.find_profile(demo_customer_id("demo@fearvana.local"))
    sections = await store.load_sections(demo.id, datetime.now(UTC))
    async with store.engine.connect() as conn:
        own_levels = set(
            (await conn.execute(sa.text("SELECT id FROM life_levels WHERE profile_id = :p"), {"p": demo.id.hex}))
            .scalars()
            .all()
        )
        own_entry_count = (
            await conn.execute(
                sa.text(
                    "SELECT count(*) FROM entries e JOIN life_levels l ON l.id = e.level_id "
                    "WHERE l.profile_id = :p AND e.ts >= :since"
                ),
                {"p": demo.id.hex, "since": sections.activity.history_start.replace(tzinfo=None).isoformat(" ")},
            )
        ).scalar()
        own_commitments = (
            await conn.execute(sa.text("SELECT count(*) FROM user_commitments WHERE user_id = :p"), {"p": demo.id.hex})
        ).scalar()
    await store.aclose()
    assert {level.id.hex for level in sections.activity.levels} == own_levels
    assert len(sections.activity.entries) == own_entry_count
    assert sections.journey.spiral.total_xp == 1240
    assert sum(c.count for c in sections.journey.coaching.commitment_counts) == own_commitments
    assert sections.journey.coaching.sacred_edge is not None
    assert sections.journey.coaching.sacred_edge.description.startswith("Speaking up")


async def test_lookup_by_email_is_case_insensitive_and_unknown_is_not_found(store: CustomerStore) -> None:
    assert (await store.find_profile("  Demo@Fearvana.LOCAL ")).email == "demo@fearvana.local"
    with pytest.raises(CustomerNotFound):
        await store.find_profile("nobody@fearvana.local")
    await store.aclose()


async def test_an_unreadable_row_is_counted_not_silently_dropped(
    tmp_path: Path, demo_db: Path, store: CustomerStore
) -> None:
    demo = demo_customer_id("demo@fearvana.local")
    before = await store.load_sections(demo, datetime.now(UTC))
    await store.aclose()
    broken = _copy(tmp_path, demo_db)
    async with broken.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE entries SET metric = '\"not an object\"' WHERE id IN (SELECT e.id FROM entries e "
                "JOIN life_levels l ON l.id = e.level_id WHERE l.profile_id = :p ORDER BY e.ts DESC LIMIT 1)"
            ),
            {"p": demo.hex},
        )
    with capture_logs() as logs:
        after = await broken.load_sections(demo, datetime.now(UTC))
    await broken.aclose()
    warnings = [log for log in logs if log["log_level"] == "warning"]
    assert [(w["event"], w["table"]) for w in warnings] == [("unreadable row skipped", "entries")]
    assert "metric" in warnings[0]["problem"] and "not an object" not in str(warnings[0])  # the reason, not the data
    assert len(after.activity.entries) == len(before.activity.entries) - 1
    assert after.activity.unreadable == {"entries": 1}
    assert before.activity.unreadable == {}
