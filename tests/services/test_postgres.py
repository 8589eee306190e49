"""The production store on a real PostgreSQL: row-level security, one statement, audit, outages.

Each test session creates its own databases (``fitest_…``) with ``db init --supabase-compat`` and the
demo customers, and drops them at the end; the shared server's other databases are never touched.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from fearvana_integration import IntegrationManager, render_context
from fearvana_integration.clock import FakeClock
from fearvana_integration.config import load_settings
from fearvana_integration.errors import CustomerNotFound, StoreUnavailable
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store.admin import init_postgres, init_sqlite
from fearvana_integration.store.demo import demo_customer_id, demo_specs, seed_demo
from fearvana_integration.store.engine import create_engine
from fearvana_integration.store.repository import CustomerStore
from tests.conftest import FIXED_NOW
from tests.services.conftest import create_database, drop_database
from tests.services.proxy import TcpProxy

pytestmark = [pytest.mark.services, pytest.mark.usefixtures("postgres_available")]
DEMO = demo_customer_id("demo@fearvana.local")
HEAVY = demo_customer_id("heavy@fearvana.local")
TABLES_BY_PROFILE = [
    ("public.profiles", "id"),
    ("public.life_levels", "profile_id"),
    ("public.supplements", "profile_id"),
    ("public.spiral_journey_states", "profile_id"),
    ("public.spiral_progress", "profile_id"),
    ("public.spiral_assessments", "profile_id"),
    ("public.challenge_completions", "profile_id"),
    ("public.spiral_xp_log", "profile_id"),
    ("public.streaks", "profile_id"),
    ("public.daily_tasks", "profile_id"),
    ("public.enhanced_coach_suggestions", "profile_id"),
    ("public.user_sacred_edges", "user_id"),
    ("public.user_commitments", "user_id"),
    ("public.user_patterns", "user_id"),
    ("public.user_spiral_assessments", "user_id"),
    ("public.user_wins", "user_id"),
    ("public.akshay_conversations", "user_id"),
    ("integration.customer_preferences", "profile_id"),
]


def _env(url: str, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": url, "MOCK_LATENCY_MS": "0", "LOG_LEVEL": "CRITICAL", **extra}


@pytest.fixture(scope="session")
def pg_url(postgres_available: None) -> Iterator[str]:
    """A Postgres database made by ``db init --supabase-compat`` with the 12 demo customers (at FIXED_NOW)."""
    name = f"fitest_{uuid.uuid4().hex[:12]}"

    async def build() -> str:
        url = await create_database(name)
        settings = load_settings(_env(url), read_env_files=False)
        engine = create_engine(settings, pooled=False)
        try:
            await init_postgres(engine, supabase_compat=True)
            await seed_demo(engine, "postgres", count=12, now=FIXED_NOW)
        finally:
            await engine.dispose()
        return url

    url = asyncio.run(build())
    yield url
    asyncio.run(drop_database(name))


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[CustomerStore]:
    settings = load_settings(_env(pg_url), read_env_files=False)
    store = CustomerStore(create_engine(settings), "postgres")
    yield store
    await store.aclose()


@pytest.fixture
async def manager_for(pg_url: str) -> AsyncIterator[Any]:
    made: list[IntegrationManager] = []

    def factory(clock: FakeClock | None = None, **env: str) -> IntegrationManager:
        manager = IntegrationManager(
            build_runtime(load_settings(_env(pg_url, **env), read_env_files=False), clock=clock)
        )
        made.append(manager)
        return manager

    yield factory
    for manager in made:
        await manager.aclose()


# Row-level security -------------------------------------------------------------------------------


async def test_another_customers_claims_see_nothing_of_theirs_in_any_table(store: CustomerStore) -> None:
    async with store.transaction(DEMO) as conn:
        for table, column in TABLES_BY_PROFILE:
            mine = (
                await conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {column} = :p"), {"p": DEMO})
            ).scalar()
            theirs = (
                await conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {column} = :p"), {"p": HEAVY})
            ).scalar()
            everyone = (await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar()
            assert theirs == 0, table
            assert everyone == mine, table
            if table != "integration.customer_preferences":
                assert (await _count_as_service(conn, table, column, HEAVY)) > 0, table  # there is something to hide
        for table in ("public.entries", "public.coach_actions"):
            theirs = (
                await conn.execute(
                    sa.text(
                        f"SELECT count(*) FROM {table} t JOIN public.life_levels l ON l.id = t.level_id "
                        "WHERE l.profile_id = :p"
                    ),
                    {"p": HEAVY},
                )
            ).scalar()
            unfiltered = (
                await conn.execute(
                    sa.text(f"SELECT count(*) FROM {table} t WHERE t.level_id IN (SELECT id FROM public.life_levels)")
                )
            ).scalar()
            total = (await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar()
            assert theirs == 0, table
            assert total == unfiltered, table  # only own levels are visible, so only own rows


async def test_the_query_layer_with_wrong_claims_returns_nothing(store: CustomerStore) -> None:
    now = FIXED_NOW + timedelta(hours=1)
    with pytest.raises(CustomerNotFound):
        await store.find_profile(HEAVY, subject=DEMO)
    with pytest.raises(CustomerNotFound):
        await store.load_all(HEAVY, now, subject=DEMO)
    activity = await store.load_activity(HEAVY, now, subject=DEMO)
    journey = await store.load_journey(HEAVY, now, subject=DEMO)
    assert activity.levels == [] and activity.entries == []
    assert journey.coach_actions == [] and journey.supplements == [] and journey.challenges == []
    assert journey.spiral.total_xp in (0, None)
    coaching = journey.coaching
    assert coaching.sacred_edge is None and coaching.commitments == [] and coaching.commitment_counts == []
    assert coaching.patterns == [] and coaching.wins == [] and coaching.assessments == [] and coaching.tasks == []
    assert coaching.suggestions == [] and coaching.conversation.turns_30d == 0 and coaching.pattern_count == 0
    # and with the right claims the same calls see everything
    assert len((await store.load_activity(HEAVY, now)).entries) > 1000


async def test_two_hundred_concurrent_requests_never_mix_customers(manager_for: Any) -> None:
    # isolation, not speed: generous timeouts for 200 uncached reads through 4 connections
    manager = manager_for(
        CACHE_ENABLED="false", DB_POOL_SIZE="4", STORE_TIMEOUT_MS="30000", CONTEXT_DEADLINE_MS="30000"
    )
    specs = demo_specs(12)
    ids = [demo_customer_id(spec.email) for spec in specs]
    requests = [ids[i % len(ids)] for i in range(200)]
    contexts = await asyncio.gather(*(manager.get_customer_context(c) for c in requests))
    names = {demo_customer_id(spec.email): spec.display_name for spec in specs}
    emails = {demo_customer_id(spec.email): spec.email for spec in specs}
    for customer, ctx in zip(requests, contexts, strict=True):
        text = render_context(ctx)
        assert ctx.customer_id == customer
        assert emails[customer] in text
        for other, name in names.items():
            if other != customer:
                assert f'"{name}"' not in text
                assert emails[other] not in text
        assert ("Ignore previous instructions" in text) == (customer == HEAVY)


async def _count_as_service(conn: Any, table: str, column: str, owner: uuid.UUID) -> int:
    """Rows of ``owner`` in ``table`` as service_role (which bypasses row-level security), inside a savepoint."""
    async with conn.begin_nested():
        await conn.execute(sa.text("SET LOCAL ROLE service_role"))
        query = sa.text(f"SELECT count(*) FROM {table} WHERE {column} = :p")
        count = (await conn.execute(query, {"p": owner})).scalar()
        await conn.execute(sa.text("SET LOCAL ROLE authenticated"))
    return int(count or 0)


# One statement, equal contexts -------------------------------------------------------------------


async def test_a_cold_context_is_one_data_statement(manager_for: Any) -> None:
    manager = manager_for()
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(manager.runtime.store.engine.sync_engine, "before_cursor_execute", seen)
    await manager.get_customer_context(HEAVY)
    # The customer's data; the mock scheduling platform keeps its own calendar in the store too, which
    # is that platform's work, not the context's.
    data = [
        s
        for s in statements
        if not s.lstrip().startswith("SELECT set_config(") and "INSERT INTO" not in s and "mock_appointments" not in s
    ]
    assert len(data) == 1, data
    assert "customer_document" in data[0]


async def test_sqlite_and_postgres_give_equal_contexts(manager_for: Any, tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'same.db'}"
    settings = load_settings(_env(sqlite_url), read_env_files=False)
    engine = create_engine(settings, create=True)
    await init_sqlite(engine, tmp_path / "same.db")
    await seed_demo(engine, "sqlite", count=12, now=FIXED_NOW)
    await engine.dispose()
    later = FIXED_NOW + timedelta(hours=2)
    for spec in demo_specs(12):
        customer = demo_customer_id(spec.email)
        results = []
        for url in (sqlite_url, None):
            clock = FakeClock(later)
            if url is None:
                manager = manager_for(clock)
            else:
                manager = IntegrationManager(build_runtime(load_settings(_env(url), read_env_files=False), clock=clock))
            for mock in (manager.runtime.crm, manager.runtime.scheduling):
                mock.clear_all_data()  # type: ignore[union-attr]
            # A budget everything fits in: the prompt names the backend ("store (sqlite)"), which may
            # change what an 8,000-token budget keeps by a token; the data must be equal.
            ctx = await manager.get_customer_context(customer, max_tokens=100_000)
            data = ctx.to_json_dict()
            for part in data["freshness"].values():  # type: ignore[union-attr]
                part.pop("backend")
            data.pop("tokenCount")
            data.pop("optimization")
            results.append(data)
            if url is not None:
                await manager.aclose()
        assert results[0] == results[1], spec.email


@pytest.mark.parametrize(
    ("expiring", "ttls"),
    [
        ("activity", {"CACHE_TTL_LIFE_AREAS_SECONDS": "60", "CACHE_DEFAULT_TTL": "3600"}),
        ("journey", {"CACHE_TTL_LIFE_AREAS_SECONDS": "3600", "CACHE_DEFAULT_TTL": "60"}),
    ],
)  # fmt: skip
async def test_cold_and_partly_cached_contexts_are_equal(manager_for: Any, expiring: str, ttls: dict[str, str]) -> None:
    statements: list[tuple[str, Any]] = []
    for spec in demo_specs(12):
        customer = demo_customer_id(spec.email)
        clock = FakeClock(FIXED_NOW + timedelta(hours=2))
        manager = manager_for(clock, CACHE_TTL_PROFILE_SECONDS="3600", **ttls)
        for mock in (manager.runtime.crm, manager.runtime.scheduling):
            mock.clear_all_data()  # type: ignore[union-attr]
        cold = (await manager.get_customer_context(customer)).to_json_dict()
        clock.advance(90)  # only the ``expiring`` half is past its TTL
        sa.event.listen(
            manager.runtime.store.engine.sync_engine,
            "before_cursor_execute",
            lambda _c, _cu, statement, parameters, *_a: statements.append((statement, parameters)),
        )
        await manager.get_customer_context(customer)  # served from the cache; refreshed in the background
        await manager.runtime.guard.settled()
        warm = (await manager.get_customer_context(customer)).to_json_dict()
        for ctx in (cold, warm):  # the data, not the bookkeeping (the sources line says "cached" now)
            for key in ("retrievedAt", "freshness", "tokenCount", "optimization"):
                ctx.pop(key)
        assert warm == cold, spec.email
    documents = [parameters for statement, parameters in statements if "customer_document" in statement]
    # one partial read per customer, through the same function as a cold read
    assert [parameters[1] for parameters in documents] == [expiring] * 12


# Audit ---------------------------------------------------------------------------------------------


async def test_every_context_read_is_audited(manager_for: Any) -> None:
    manager = manager_for(CACHE_ENABLED="false")
    before = len(await manager.runtime.audit.show(DEMO, limit=10_000))
    for _ in range(3):
        await manager.get_customer_context(DEMO)
    rows = await manager.runtime.audit.show(DEMO, limit=10_000)
    reads = [r for r in rows[: len(rows) - before] if r["action"] == "context.read"]
    assert len(reads) == 3
    assert all(r["outcome"] == "ok" and "lifeAreas" in r["resources"] for r in reads)


async def test_nobody_can_change_or_delete_audit_rows_except_the_purge(store: CustomerStore, manager_for: Any) -> None:
    manager = manager_for()
    await manager.get_customer_context(DEMO)
    await manager.runtime.audit.flush()
    for role in ("integration_writer", "authenticated"):
        for statement in ("UPDATE integration.audit_log SET outcome = 'x'", "DELETE FROM integration.audit_log"):
            with pytest.raises(StoreUnavailable):
                async with store.transaction(None, role=role) as conn:
                    await conn.execute(sa.text(statement))
    # even the owner, outside the purge function, is refused by the trigger
    async with store.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            async with conn.begin():
                await conn.execute(sa.text("DELETE FROM integration.audit_log"))
    removed = await manager.runtime.audit.purge(timedelta(seconds=0))
    assert removed >= 1
    rows = await manager.runtime.audit.show(DEMO, limit=100)
    assert [r["action"] for r in rows] == ["audit.show"]  # the purge removed the rest; this read is audited


# Outages -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["cut", "blackhole"])
async def test_database_down_is_a_quick_clear_error_not_a_hang(pg_url: str, mode: str) -> None:
    proxy = TcpProxy()
    await proxy.start()
    url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    env = _env(url, CACHE_ENABLED="false", STORE_TIMEOUT_MS="1000", DB_CONNECT_TIMEOUT_SECONDS="1")
    manager = IntegrationManager(build_runtime(load_settings(env, read_env_files=False)))
    try:
        await manager.get_customer_context(DEMO)
        proxy.cut(mode)
        started = asyncio.get_running_loop().time()
        with pytest.raises(StoreUnavailable):
            await manager.get_customer_context(DEMO)
        assert asyncio.get_running_loop().time() - started < 3.5
        health = await manager.get_health_status()
        assert health.status == "unhealthy"
    finally:
        await manager.aclose()
        await proxy.stop()


async def test_seed_refuses_a_database_not_made_by_supabase_compat(postgres_available: None) -> None:
    from fearvana_integration.cli import main

    name = f"fitest_{uuid.uuid4().hex[:12]}"
    url = await create_database(name)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DATABASE_URL", url)
            with pytest.raises(SystemExit) as exit_info:
                await asyncio.to_thread(main, ["db", "seed-demo"])
        assert exit_info.value.code == 2
    finally:
        await drop_database(name)
