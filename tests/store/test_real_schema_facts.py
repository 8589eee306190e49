"""The Fearvana app's real schema, fact by fact, on both backends: the embedded SQLite copy and a
PostgreSQL built by ``db init --supabase-compat`` (the app's own tables, enum, sign-up trigger and
policies). Every customer here signs up the way the app's customers do, then gets the rows a test
needs; nothing depends on demo data.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from fearvana_integration import IntegrationManager, render_context
from fearvana_integration.clock import FakeClock
from fearvana_integration.config import load_settings
from fearvana_integration.domain.context import CustomerContext
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store import schema as t
from fearvana_integration.store.admin import init_postgres, init_sqlite
from fearvana_integration.store.demo_coaching import catalogue_rows, challenge_id
from fearvana_integration.store.engine import create_engine
from fearvana_integration.store.signup import NewUser, sign_up
from tests.conftest import require_services
from tests.services.conftest import create_database, drop_database, postgres_answers

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


class Backend:
    """One database of one backend, with helpers to sign customers up and add rows."""

    def __init__(self, name: str, url: str, engine: AsyncEngine) -> None:
        self.name = name
        self.url = url
        self.engine = engine

    async def sign_up(self, display_name: str | None = "Kim Example", at: datetime = NOW) -> uuid.UUID:
        customer = uuid.uuid4()
        async with self.engine.begin() as conn:
            await sign_up(conn, self.name, [NewUser(customer, f"{customer.hex[:12]}@example.com", display_name, at)])
            await conn.execute(sa.update(t.profiles).where(t.profiles.c.id == customer).values(created_at=at))
        return customer

    async def level(self, customer: uuid.UUID, category: str) -> uuid.UUID:
        async with self.engine.connect() as conn:
            query = sa.select(t.life_levels.c.id).where(
                t.life_levels.c.profile_id == customer, sa.cast(t.life_levels.c.category, sa.Text) == category
            )
            return (await conn.execute(query)).scalar_one()  # type: ignore[no-any-return]

    async def insert(self, table: sa.Table, **values: Any) -> None:
        values.setdefault("id", uuid.uuid4())
        async with self.engine.begin() as conn:
            await conn.execute(table.insert(), values)

    async def execute(self, statement: sa.Executable, **params: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(statement, params)

    def manager(self, clock: FakeClock | None = None, **env: str) -> IntegrationManager:
        values = {"DATABASE_URL": self.url, "MOCK_LATENCY_MS": "0", "LOG_LEVEL": "CRITICAL", **env}
        return IntegrationManager(
            build_runtime(load_settings(values, read_env_files=False), clock=clock or FakeClock(NOW))
        )


@pytest.fixture(scope="module")
def postgres_backend_url() -> Iterator[str | None]:
    """A Postgres database made by ``db init --supabase-compat`` for this module (None without a server)."""
    if not asyncio.run(postgres_answers()):
        yield None
        return
    name = f"fitest_{uuid.uuid4().hex[:12]}"

    async def build() -> str:
        url = await create_database(name)
        engine = create_engine(load_settings({"DATABASE_URL": url}, read_env_files=False), pooled=False)
        try:
            await init_postgres(engine, supabase_compat=True)
            async with engine.begin() as conn:
                await conn.execute(t.growth_challenges.insert(), catalogue_rows(NOW))
        finally:
            await engine.dispose()
        return url

    url = asyncio.run(build())
    yield url
    asyncio.run(drop_database(name))


@pytest.fixture(params=["sqlite", "postgres"])
async def db(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_backend_url: str | None
) -> AsyncIterator[Backend]:
    """Each test runs on the embedded SQLite copy and on PostgreSQL with the app's schema."""
    if request.param == "sqlite":
        path = tmp_path / "facts.db"
        url = f"sqlite:///{path}"
        engine = create_engine(load_settings({"DATABASE_URL": url}, read_env_files=False), create=True)
        await init_sqlite(engine, path)
        async with engine.begin() as conn:
            await conn.execute(t.growth_challenges.insert(), catalogue_rows(NOW))
    else:
        if postgres_backend_url is None:
            message = "PostgreSQL does not answer at 127.0.0.1:5432 (see SERVICES.md)"
            if require_services():
                pytest.fail(message)
            pytest.skip(message)
        url = postgres_backend_url
        engine = create_engine(load_settings({"DATABASE_URL": url}, read_env_files=False))
    backend = Backend(request.param, url, engine)
    yield backend
    await engine.dispose()


async def context_of(db: Backend, customer: uuid.UUID, **env: str) -> CustomerContext:
    manager = db.manager(**env)
    try:
        return await manager.get_customer_context(customer)
    finally:
        await manager.aclose()


# The areas ---------------------------------------------------------------------------------------


async def test_seven_areas_from_the_database_with_fun_joy_shown_as_peace(db: Backend) -> None:
    customer = await db.sign_up()
    level = await db.level(customer, "fun_joy")
    await db.insert(t.entries, level_id=level, ts=NOW - timedelta(hours=3), metric={"leisure_hours": 2}, created_at=NOW)
    ctx = await context_of(db, customer)
    assert [a.category for a in ctx.life_areas] == [
        "mindset_maturity", "family_relationships", "money", "fitness", "health", "skill_building", "fun_joy",
    ]  # fmt: skip
    assert [a.label for a in ctx.life_areas] == [
        "Mindset", "Relationships", "Wealth", "Fitness", "Health", "Career", "Peace",
    ]  # fmt: skip
    peace = ctx.life_areas[-1]
    assert peace.current_score == 100 and peace.entries_last_90_days == 1
    text = render_context(ctx)
    assert "- Peace: 100" in text and "Fun & Joy" not in text
    assert "- 06:00 Peace: leisure_hours=2" in text


async def test_streaks_join_on_the_enum_column(db: Backend) -> None:
    customer = await db.sign_up()
    await db.execute(
        sa.update(t.streaks)
        .where(t.streaks.c.profile_id == customer, sa.cast(t.streaks.c.category, sa.Text) == "health")
        .values(current_streak=6, longest_streak=21)
    )
    ctx = await context_of(db, customer)
    health = next(a for a in ctx.life_areas if a.category == "health")
    assert (health.current_streak, health.longest_streak) == (6, 21)


async def test_a_goal_with_a_description_keeps_its_area(db: Backend) -> None:
    customer = await db.sign_up()
    goal = {"description": "Run a half marathon in the spring", "weekly_runs": 3, "notes": ["knee"], "on": True}
    await db.execute(
        sa.update(t.life_levels)
        .where(t.life_levels.c.profile_id == customer, sa.cast(t.life_levels.c.category, sa.Text) == "fitness")
        .values(goal_jsonb=goal)
    )
    level = await db.level(customer, "fitness")
    await db.insert(t.entries, level_id=level, ts=NOW - timedelta(hours=1), metric={"weekly_runs": 3}, created_at=NOW)
    ctx = await context_of(db, customer)
    fitness = next(a for a in ctx.life_areas if a.category == "fitness")
    assert fitness.goal == {"weekly_runs": 3.0} and fitness.goal_description == "Run a half marathon in the spring"
    assert fitness.current_score == 100
    assert not any(note.code == "data_unreadable" for note in ctx.notes_for_ai)
    assert 'goal "Run a half marathon in the spring" (weekly_runs 3)' in render_context(ctx)


# Nullable columns are "unknown", never a dropped row ---------------------------------------------


async def test_nulls_the_schema_allows_are_unknown_not_dropped(db: Backend) -> None:
    customer = await db.sign_up()
    level = await db.level(customer, "health")
    action = uuid.uuid4()
    await db.insert(t.coach_actions, id=action, level_id=level, ts=None, suggestion="Sleep before 11.", completed=None,
                    ai_metadata=None, created_at=None)  # fmt: skip
    await db.insert(t.supplements, profile_id=customer, name="Vitamin D", qty_on_hand=None,
                    dosage_schema={"dosage": "5000 IU", "timing": "morning"})  # fmt: skip
    await db.insert(t.supplements, profile_id=customer, name="Zinc", qty_on_hand=0, dosage_schema={})
    await db.insert(t.entries, level_id=level, ts=None, metric={"sleep_hours": 7}, created_at=NOW - timedelta(days=1))
    await db.insert(t.entries, level_id=level, ts=None, metric={"sleep_hours": 5}, created_at=None)
    await db.execute(sa.update(t.profiles).where(t.profiles.c.id == customer).values(created_at=None))
    ctx = await context_of(db, customer)
    assert [(a.id, a.completed, a.created_at) for a in ctx.coach_actions] == [(str(action), None, None)]
    assert [(s.name, s.dosage, s.quantity_on_hand) for s in ctx.supplements] == [
        ("Vitamin D", "5000 IU, morning", None)
    ]
    assert [(e.timestamp, e.metrics) for e in ctx.recent_entries] == [(NOW - timedelta(days=1), {"sleep_hours": 7})]
    assert ctx.profile.created_at is None and ctx.profile.account_age is None
    unreadable = [note for note in ctx.notes_for_ai if note.code == "data_unreadable"]
    assert len(unreadable) == 1 and "1 in entries" in unreadable[0].message  # the entry with no time at all
    text = render_context(ctx)
    assert 'date unknown · Health · status unknown: "Sleep before 11."' in text
    assert '- "Vitamin D" "5000 IU, morning", quantity unknown' in text
    assert "since an unknown date" in text


async def test_an_unreadable_row_is_reported_by_table_and_count_never_content(db: Backend) -> None:
    customer = await db.sign_up()
    level = await db.level(customer, "mindset_maturity")
    for hours in (1, 2):
        await db.insert(t.entries, level_id=level, ts=NOW - timedelta(hours=hours), metric=["secret journal text"],
                        created_at=NOW)  # fmt: skip
    ctx = await context_of(db, customer)
    note = next(note for note in ctx.notes_for_ai if note.code == "data_unreadable")
    assert "2 rows" in note.message and "2 in entries" in note.message
    assert "secret" not in render_context(ctx) and "secret" not in str(ctx.to_json_dict())


# Challenges: titles from the catalogue, on cold and warm paths -----------------------------------


async def test_completed_challenges_show_titles_cold_and_after_a_partial_refresh(db: Backend) -> None:
    customer = await db.sign_up()
    for days, slug in ((1, "hard-conversation"), (3, "gratitude-week"), (5, "public-talk")):
        at = NOW - timedelta(days=days)
        await db.insert(t.challenge_completions, profile_id=customer, challenge_id=challenge_id(slug), completed_at=at,
                        created_at=at, xp_earned=50)  # fmt: skip
    clock = FakeClock(NOW)
    manager = db.manager(clock)
    try:
        cold = await manager.get_customer_context(customer)
        clock.advance(200)  # life areas (2 min) expired, the rest (5 min) still cached
        await manager.get_customer_context(customer)  # served at once, refreshed in the background
        await manager.runtime.guard.settled()
        activity_refreshed = await manager.get_customer_context(customer)
        clock.advance(200)  # now the journey half expired too, the profile (5 min) not
        await manager.get_customer_context(customer)
        await manager.runtime.guard.settled()
        journey_refreshed = await manager.get_customer_context(customer)
    finally:
        await manager.aclose()
    for ctx in (cold, activity_refreshed, journey_refreshed):
        assert ctx.spiral_state is not None
        # "Give a five-minute talk" is retired from the catalogue: counted, not named
        assert ctx.spiral_state.completed_challenges == ["Have the conversation you avoid", "A week of gratitude notes"]
        assert ctx.spiral_state.completed_challenge_count == 3
    assert journey_refreshed.freshness["store"].fetched_at == NOW + timedelta(seconds=400)


# New customers and defaults ----------------------------------------------------------------------


async def test_a_customer_who_just_signed_up_is_new_not_stale(db: Backend) -> None:
    customer = await db.sign_up(at=NOW - timedelta(minutes=1))
    ctx = await context_of(db, customer)
    codes = [note.code for note in ctx.notes_for_ai]
    assert "new_customer" in codes and "stale_data" not in codes
    assert ctx.profile.email_preferences.source == "default" and ctx.profile.time_zone == "UTC"
    assert ctx.spiral_state is not None and ctx.spiral_state.current_level == "orange"
    assert ctx.spiral_state.assessment is None
    assert ctx.sacred_edge is None and ctx.commitments is None and ctx.patterns == [] and ctx.wins == []
    assert ctx.daily_tasks is None and ctx.conversation is None and ctx.enhanced_suggestions == []
    text = render_context(ctx)
    assert "never assessed" in text and "defaults: the customer never stated preferences" in text


@pytest.mark.parametrize(
    ("activity", "table"),
    [
        ("an assessment", "user_spiral_assessments"),
        ("a commitment", "user_commitments"),
        ("a conversation turn", "akshay_conversations"),
        ("a completed task", "daily_tasks"),
    ],
)
async def test_any_activity_ends_new_and_old_activity_is_stale(db: Backend, activity: str, table: str) -> None:
    customer = await db.sign_up(at=NOW - timedelta(days=200))
    at = NOW - timedelta(days=40)
    rows: dict[str, dict[str, Any]] = {
        "user_spiral_assessments": {"user_id": customer, "spiral_level": "blue", "confidence_score": 70,
                                    "assessed_at": at},
        "user_commitments": {"user_id": customer, "description": "Call mum", "created_at": at, "status": "pending"},
        "akshay_conversations": {"user_id": customer, "role": "user", "content": "hi", "created_at": at},
        "daily_tasks": {"profile_id": customer, "title": "Walk", "completed": True, "due_date": at.date(),
                        "updated_at": at},
    }  # fmt: skip
    await db.insert(t.product_metadata.tables[table], **rows[table])
    ctx = await context_of(db, customer)
    codes = [note.code for note in ctx.notes_for_ai]
    assert "new_customer" not in codes, activity
    stale = next(note for note in ctx.notes_for_ai if note.code == "stale_data")
    assert "2026-10-16 (40 days ago)" in stale.message, activity


# The coaching records ----------------------------------------------------------------------------


async def test_sacred_edge_commitments_patterns_wins_assessment_tasks_and_conversations(db: Backend) -> None:
    customer = await db.sign_up(at=NOW - timedelta(days=100))
    await db.insert(t.user_sacred_edges, user_id=customer, description="Asking for the raise",
                    root_fear="Being told I am not worth it", deeper_purpose="Respect for my own work",
                    identified_date=NOW - timedelta(days=30), updated_at=NOW - timedelta(days=2),
                    experiments=[{"title": "Practised the ask"}, {"title": "Booked the meeting"}],
                    status="engaging")  # fmt: skip
    for days, status, text in ((-2, "pending", "Send the draft"), (3, "pending", "Book the meeting"),
                               (None, "pending", "Read the book"), (-10, "completed", "Update CV"),
                               (-20, "completed", "Ask a mentor"), (-30, "broken", "Cold shower")):  # fmt: skip
        due = NOW + timedelta(days=days) if days is not None else None
        await db.insert(t.user_commitments, user_id=customer, description=text, created_at=NOW - timedelta(days=40),
                        due_date=due, status=status, follow_up_count=1)  # fmt: skip
    patterns = (("avoidance", "low", 1), ("resistance", "high", 5), ("recurring_challenge", "medium", 2),
                ("breakthrough", "low", 3), ("avoidance", "medium", 9))  # fmt: skip
    for kind, severity, seen in patterns:
        await db.insert(t.user_patterns, user_id=customer, pattern_type=kind, description=f"{kind} {severity}",
                        occurrences=seen, last_seen=NOW - timedelta(days=seen), severity=severity)  # fmt: skip
    for days in range(1, 6):
        await db.insert(t.user_wins, user_id=customer, description=f"win {days}", category="small_win",
                        impact="small", created_at=NOW - timedelta(days=days))  # fmt: skip
    await db.insert(
        t.spiral_assessments, profile_id=customer, primary_level="blue", created_at=NOW - timedelta(days=90)
    )
    await db.insert(t.user_spiral_assessments, user_id=customer, spiral_level="green", confidence_score=72,
                    assessed_at=NOW - timedelta(days=8))  # fmt: skip
    today = NOW.date()
    for offset, done in ((0, True), (0, False), (1, True), (2, False), (20, False)):
        await db.insert(t.daily_tasks, profile_id=customer, title=f"task -{offset}", completed=done,
                        due_date=today - timedelta(days=offset), points=5)  # fmt: skip
    level = await db.level(customer, "money")
    await db.insert(t.enhanced_coach_suggestions, profile_id=customer, level_id=level, title="Open", description="d",
                    spiral_level="green", aqal_quadrant="UL", suggestion_type="habit", difficulty="easy",
                    impact="high", created_at=NOW - timedelta(days=1))  # fmt: skip
    await db.insert(t.enhanced_coach_suggestions, profile_id=customer, title="Dismissed", description="d",
                    spiral_level="green", aqal_quadrant="UL", suggestion_type="habit", dismissed=True)  # fmt: skip
    for hours in (3, 4, 50):
        await db.insert(t.akshay_conversations, user_id=customer, role="user" if hours != 3 else "assistant",
                        content="private words", created_at=NOW - timedelta(hours=hours))  # fmt: skip

    ctx = await context_of(db, customer)
    edge = ctx.sacred_edge
    assert edge is not None and edge.status == "engaging" and edge.experiments_count == 2
    assert edge.latest_experiment == "Booked the meeting" and edge.root_fear == "Being told I am not worth it"
    commitments = ctx.commitments
    assert commitments is not None
    assert [c.description for c in commitments.pending] == ["Send the draft", "Book the meeting", "Read the book"]
    assert [c.overdue for c in commitments.pending] == [True, False, False]
    assert (commitments.pending_count, commitments.overdue_count) == (3, 1)
    assert (commitments.completed_count, commitments.broken_count, commitments.follow_through_rate) == (2, 1, 0.667)
    assert [p.description for p in ctx.patterns] == [
        "resistance high",
        "recurring_challenge medium",
        "breakthrough low",
    ]
    assert [w.description for w in ctx.wins] == ["win 1", "win 2", "win 3"]
    assert ctx.spiral_state is not None and ctx.spiral_state.assessment is not None
    assessment = ctx.spiral_state.assessment
    assert (assessment.level, assessment.confidence, assessment.source) == ("green", 72, "user_spiral_assessments")
    tasks = ctx.daily_tasks
    assert tasks is not None and tasks.today == today
    assert sorted(task.completed for task in tasks.due_today) == [False, True]
    assert [task.title for task in tasks.overdue] == ["task -2", "task -20"] and tasks.completion_rate_7_days == 0.5
    assert [s.title for s in ctx.enhanced_suggestions] == ["Open"] and ctx.enhanced_suggestions[0].category == "money"
    conversation = ctx.conversation
    assert conversation is not None and conversation.messages_last_30_days == 3
    assert conversation.days_with_conversation_last_30_days == 2
    assert conversation.last_conversation_at == NOW - timedelta(hours=3)
    assert conversation.last_customer_message_at == NOW - timedelta(hours=4)
    text = render_context(ctx)
    assert "private words" not in text
    assert text.index("## Sacred Edge") < text.index("## Commitments") < text.index("## Life areas")
    assert "follow-through 67% (2 kept, 1 broken) · 3 pending, 1 overdue" in text
    assert 'OVERDUE, was due 2026-11-23 (2 days ago): "Send the draft"' in text
    assert "assessed green (72% confidence) 2026-11-17 (8 days ago)" in text


async def test_the_older_assessment_table_counts_when_the_coaching_one_is_empty(db: Backend) -> None:
    customer = await db.sign_up()
    await db.insert(t.spiral_assessments, profile_id=customer, primary_level="blue", secondary_level="orange",
                    created_at=NOW - timedelta(days=10))  # fmt: skip
    ctx = await context_of(db, customer)
    assert ctx.spiral_state is not None and ctx.spiral_state.assessment is not None
    assessment = ctx.spiral_state.assessment
    assert (assessment.level, assessment.secondary_level, assessment.confidence) == ("blue", "orange", None)
    assert assessment.source == "spiral_assessments"
