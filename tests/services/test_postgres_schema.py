"""What ``db init`` checks on a real PostgreSQL, and what the store says when the app's schema differs.

Each test builds its own database (``fitest_…``) and drops it; the shared server's others are untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from fearvana_integration import IntegrationManager, render_context
from fearvana_integration.clock import FakeClock
from fearvana_integration.config import load_settings
from fearvana_integration.errors import ConfigurationError, StoreUnavailable
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store import schema as t
from fearvana_integration.store.admin import init_postgres
from fearvana_integration.store.engine import create_engine
from fearvana_integration.store.signup import NewUser, sign_up
from tests.services.conftest import create_database, drop_database

pytestmark = [pytest.mark.services, pytest.mark.usefixtures("postgres_available")]
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
async def fresh() -> AsyncIterator[tuple[str, AsyncEngine]]:
    """An empty database of this test's own, and an engine on it."""
    name = f"fitest_{uuid.uuid4().hex[:12]}"
    url = await create_database(name)
    engine = create_engine(load_settings({"DATABASE_URL": url}, read_env_files=False), pooled=False)
    yield url, engine
    await engine.dispose()
    await drop_database(name)


def _manager(url: str) -> IntegrationManager:
    env = {"DATABASE_URL": url, "MOCK_LATENCY_MS": "0", "LOG_LEVEL": "CRITICAL"}
    return IntegrationManager(build_runtime(load_settings(env, read_env_files=False), clock=FakeClock(NOW)))


async def _customer(engine: AsyncEngine) -> uuid.UUID:
    customer = uuid.uuid4()
    async with engine.begin() as conn:
        await sign_up(conn, "postgres", [NewUser(customer, f"{customer.hex[:8]}@example.com", "Kim", NOW)])
    return customer


async def test_db_init_names_a_column_whose_type_differs(fresh: tuple[str, AsyncEngine]) -> None:
    url, engine = fresh
    await init_postgres(engine, supabase_compat=True)
    async with engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE public.user_commitments ALTER COLUMN due_date TYPE text"))
        await conn.execute(sa.text("ALTER TABLE public.supplements RENAME COLUMN dosage_schema TO dosage"))
    with pytest.raises(ConfigurationError) as raised:
        await init_postgres(engine, supabase_compat=False)
    message = str(raised.value)
    assert "in 2 places" in message
    assert "user_commitments.due_date: expected timestamptz, found text" in message
    assert "supplements.dosage_schema: expected jsonb, found no such column" in message
    manager = _manager(url)
    try:
        health = await manager.get_health_status()
        assert health.status == "unhealthy"
        assert health.services["supabase"].schema_ == "mismatch"
        assert "user_commitments.due_date" in (health.services["supabase"].error or "")
        assert health.to_json_dict()["services"]["supabase"]["schema"] == "mismatch"  # type: ignore[index]
        customer = await _customer(engine)
        with pytest.raises(StoreUnavailable) as store_error:
            await manager.get_customer_context(customer)
    finally:
        await manager.aclose()
    # the driver's error is never the only explanation: SQL state, short cause, what to run
    assert "SQL state 42" in str(store_error.value) and "db init" in str(store_error.value)
    assert "SELECT" not in str(store_error.value)


async def test_a_matching_schema_is_ok_in_health(fresh: tuple[str, AsyncEngine]) -> None:
    url, engine = fresh
    await init_postgres(engine, supabase_compat=True)
    manager = _manager(url)
    try:
        health = await manager.get_health_status()
    finally:
        await manager.aclose()
    assert health.services["supabase"].schema_ == "ok" and health.status != "unhealthy"


async def test_a_database_with_more_areas_gets_them_too(fresh: tuple[str, AsyncEngine]) -> None:
    url, engine = fresh
    await init_postgres(engine, supabase_compat=True)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("ALTER TYPE public.life_level_category ADD VALUE 'spiritual_growth'"))
    await init_postgres(engine, supabase_compat=False)  # more values than the app's seven: still a match
    customer = await _customer(engine)
    level = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO public.life_levels (id, profile_id, category, goal_jsonb) "
                "VALUES (:id, :p, 'spiritual_growth', '{\"practice_minutes\": 20}')"
            ),
            {"id": level, "p": customer},
        )
        await conn.execute(
            t.entries.insert(),
            {"id": uuid.uuid4(), "level_id": level, "ts": NOW - timedelta(hours=2), "metric": {"practice_minutes": 10}},
        )
    manager = _manager(url)
    try:
        ctx = await manager.get_customer_context(customer)
    finally:
        await manager.aclose()
    assert [a.category for a in ctx.life_areas][-2:] == ["fun_joy", "spiritual_growth"]
    area = ctx.life_areas[-1]
    assert (area.label, area.current_score, area.goal) == ("Spiritual Growth", 50, {"practice_minutes": 20.0})
    assert "- Spiritual Growth: 50" in render_context(ctx)


async def test_compat_refuses_a_database_that_already_has_auth_uid(fresh: tuple[str, AsyncEngine]) -> None:
    _, engine = fresh
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE SCHEMA auth"))
        await conn.execute(sa.text("CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid'"))
    with pytest.raises(ConfigurationError, match="looks like a real Supabase project"):
        await init_postgres(engine, supabase_compat=True)
    async with engine.connect() as conn:  # and it changed nothing
        tables = (await conn.execute(sa.text("SELECT to_regclass('public.profiles')"))).scalar()
    assert tables is None


async def test_compat_is_safe_to_repeat_and_refuses_an_older_local_copy(fresh: tuple[str, AsyncEngine]) -> None:
    _, engine = fresh
    await init_postgres(engine, supabase_compat=True)
    await init_postgres(engine, supabase_compat=True)
    async with engine.begin() as conn:
        await conn.execute(sa.text("UPDATE integration.meta SET value = 'true' WHERE key = 'supabase_compat'"))
    with pytest.raises(ConfigurationError, match="older fearvana-integration"):
        await init_postgres(engine, supabase_compat=True)


async def test_sign_up_creates_what_the_app_creates(fresh: tuple[str, AsyncEngine]) -> None:
    _, engine = fresh
    await init_postgres(engine, supabase_compat=True)
    customer = await _customer(engine)
    async with engine.connect() as conn:
        counts = {
            table: (
                await conn.execute(sa.text(f"SELECT count(*) FROM public.{table} WHERE {column} = :p"), {"p": customer})
            ).scalar()
            for table, column in (
                ("profiles", "id"),
                ("life_levels", "profile_id"),
                ("streaks", "profile_id"),
                ("spiral_journey_states", "profile_id"),
                ("spiral_progress", "profile_id"),
            )
        }
        level = (
            await conn.execute(sa.text("SELECT current_level FROM public.spiral_progress WHERE profile_id = :p"),
                               {"p": customer})
        ).scalar()  # fmt: skip
        policies = (
            await conn.execute(
                sa.text("SELECT count(*) FROM pg_policies WHERE schemaname = 'public' AND roles = '{public}'")
            )
        ).scalar()
    assert counts == {"profiles": 1, "life_levels": 7, "streaks": 7, "spiral_journey_states": 1, "spiral_progress": 1}
    assert level == "orange"
    assert (policies or 0) >= 26  # the app's policies name no role: they apply to PUBLIC


async def test_the_cli_says_each_mismatch_in_one_line(fresh: tuple[str, AsyncEngine]) -> None:
    import asyncio
    import contextlib
    import io

    from fearvana_integration.cli import main

    url, engine = fresh
    await init_postgres(engine, supabase_compat=True)
    async with engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE public.entries ALTER COLUMN metric TYPE json"))
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(stderr):
        patch.setenv("DATABASE_URL", url)
        with pytest.raises(SystemExit) as exit_info:
            await asyncio.to_thread(main, ["db", "init"])
    assert exit_info.value.code == 2
    lines = stderr.getvalue().strip().splitlines()
    assert lines == [
        "error: The database's schema differs from the Fearvana app's in 1 place this project reads: "
        "entries.metric: expected jsonb, found json"
    ]
