"""Table definitions for both dialects.

The Fearvana app's tables keep their Supabase names, columns, types and nullability, so the same query
code reads the embedded SQLite copy and a real Supabase Postgres. The project's own tables live in schema
``integration`` on Postgres and carry the prefix ``integration_`` on SQLite (which has no schemas).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from fearvana_integration.domain.life_areas import APP_LIFE_AREAS


class UtcTimestamp(sa.types.TypeDecorator[datetime]):
    """``timestamptz``: aware UTC datetimes in Python on every dialect.

    SQLite has no time zones, so values are stored as naive UTC there (all in one format, so string
    comparison orders them correctly) and made aware again when read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps written to the store must be timezone-aware")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONB: sa.types.TypeEngine[Any] = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TEXT_ARRAY: sa.types.TypeEngine[Any] = sa.JSON().with_variant(postgresql.ARRAY(sa.Text()), "postgresql")
# The enum's values are read from the database (``enum_range``); the type here only names it, so
# comparisons in queries bind as the enum, never as text.
LIFE_LEVEL_CATEGORY: sa.types.TypeEngine[Any] = sa.String(64).with_variant(
    postgresql.ENUM(*APP_LIFE_AREAS, name="life_level_category", create_type=False), "postgresql"
)
UUID = sa.Uuid(as_uuid=True)

product_metadata = sa.MetaData()


def _owner(column: str = "profile_id") -> sa.Column[Any]:
    return sa.Column(column, UUID, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False)


def _stamps(*names: str) -> list[sa.Column[Any]]:
    return [sa.Column(name, UtcTimestamp) for name in names]


# The Fearvana app's tables, with its nullability: a column declared with a default but
# without NOT NULL can hold NULL in real rows. Only tables the context reads are mirrored here; the
# local Supabase copy (sql/fearvana_app.sql) creates the rest as well.
profiles = sa.Table(
    "profiles",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),
    sa.Column("display_name", sa.Text),
    sa.Column("avatar_url", sa.Text),
    *_stamps("created_at", "updated_at"),
)

life_levels = sa.Table(
    "life_levels",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    _owner(),
    sa.Column("category", LIFE_LEVEL_CATEGORY, nullable=False),
    sa.Column("goal_jsonb", JSONB, nullable=False, server_default="{}"),
    *_stamps("created_at", "updated_at"),
    sa.UniqueConstraint("profile_id", "category", name="life_levels_profile_id_category_key"),
)

entries = sa.Table(
    "entries",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("level_id", UUID, sa.ForeignKey("life_levels.id", ondelete="CASCADE"), nullable=False),
    sa.Column("ts", UtcTimestamp),
    sa.Column("metric", JSONB, nullable=False, server_default="{}"),
    sa.Column("created_at", UtcTimestamp),
    sa.Index("idx_entries_level_id_ts", "level_id", sa.text("ts DESC")),
    sa.Index("idx_entries_ts", sa.text("ts DESC")),
)

coach_actions = sa.Table(
    "coach_actions",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("level_id", UUID, sa.ForeignKey("life_levels.id", ondelete="CASCADE"), nullable=False),
    sa.Column("ts", UtcTimestamp),
    sa.Column("suggestion", sa.Text, nullable=False),
    sa.Column("ai_metadata", JSONB),
    sa.Column("completed", sa.Boolean, server_default=sa.false()),
    sa.Column("created_at", UtcTimestamp),
    sa.Index("idx_coach_actions_level_id", "level_id"),
)

supplements = sa.Table(
    "supplements",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    _owner(),  # no index on profile_id in the app's schema
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("qty_on_hand", sa.Integer, server_default="0"),
    sa.Column("dosage_schema", JSONB),
    *_stamps("created_at", "updated_at"),
)

daily_tasks = sa.Table(
    "daily_tasks",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    _owner(),
    sa.Column("level_id", UUID, sa.ForeignKey("life_levels.id", ondelete="CASCADE")),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("points", sa.Integer, server_default="0"),
    sa.Column("completed", sa.Boolean, server_default=sa.false()),
    sa.Column("due_date", sa.Date),
    *_stamps("created_at", "updated_at"),
    sa.Index("idx_daily_tasks_profile_due", "profile_id", "due_date"),
)

streaks = sa.Table(
    "streaks",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    _owner(),
    sa.Column("category", LIFE_LEVEL_CATEGORY, nullable=False),
    sa.Column("current_streak", sa.Integer, server_default="0"),
    sa.Column("longest_streak", sa.Integer, server_default="0"),
    sa.Column("last_activity_date", sa.Date),
    *_stamps("created_at", "updated_at"),
    sa.UniqueConstraint("profile_id", "category", name="streaks_profile_id_category_key"),
)

spiral_assessments = sa.Table(
    "spiral_assessments",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    _owner(),
    sa.Column("primary_level", sa.Text, nullable=False),
    sa.Column("secondary_level", sa.Text),
    sa.Column("level_scores", JSONB),
    sa.Column("assessment_responses", JSONB),
    sa.Column("insights", JSONB),
    *_stamps("created_at", "updated_at"),
    sa.Index("idx_spiral_assessments_profile", "profile_id"),
)

spiral_progress = sa.Table(
    "spiral_progress",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("profile_id", UUID, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False, unique=True),
    sa.Column("current_level", sa.Text, nullable=False),
    sa.Column("progress_in_level", sa.Integer, server_default="0"),
    sa.Column("unlocked_levels", TEXT_ARRAY),
    sa.Column("level_completion_dates", JSONB),
    *_stamps("created_at", "updated_at"),
)

enhanced_coach_suggestions = sa.Table(
    "enhanced_coach_suggestions",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    _owner(),
    sa.Column("level_id", UUID, sa.ForeignKey("life_levels.id", ondelete="CASCADE")),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("action_items", JSONB),
    sa.Column("estimated_time", sa.Text),
    sa.Column("difficulty", sa.Text),
    sa.Column("impact", sa.Text),
    sa.Column("spiral_level", sa.Text, nullable=False),
    sa.Column("aqal_quadrant", sa.Text, nullable=False),
    sa.Column("developmental_insight", sa.Text),
    sa.Column("next_level_prep", sa.Text),
    sa.Column("suggestion_type", sa.Text, nullable=False),
    sa.Column("completed", sa.Boolean, server_default=sa.false()),
    sa.Column("dismissed", sa.Boolean, server_default=sa.false()),
    *_stamps("created_at", "updated_at"),
    sa.Index("idx_enhanced_coach_suggestions_profile", "profile_id"),
)

spiral_journey_states = sa.Table(
    "spiral_journey_states",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("profile_id", UUID, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False, unique=True),
    sa.Column("current_step", sa.Integer, server_default="1"),
    sa.Column("step_progress", sa.Integer, server_default="0"),
    sa.Column("readiness_signals", JSONB),
    sa.Column("problem_pressure_score", sa.Integer, server_default="0"),
    sa.Column("cognitive_bandwidth_score", sa.Integer, server_default="100"),
    sa.Column("window_opportunity_open", sa.Boolean, server_default=sa.false()),
    sa.Column("next_level_glimpses_count", sa.Integer, server_default="0"),
    sa.Column("supportive_container_strength", sa.Integer, server_default="0"),
    sa.Column("practice_integration_score", sa.Integer, server_default="0"),
    *_stamps("created_at", "updated_at"),
)

growth_challenges = sa.Table(
    "growth_challenges",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("spiral_level", sa.Text, nullable=False),
    sa.Column("target_step", sa.Integer, nullable=False),
    sa.Column("challenge_type", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("xp_reward", sa.Integer, server_default="10"),
    sa.Column("difficulty_level", sa.Integer, server_default="1"),
    sa.Column("is_active", sa.Boolean, server_default=sa.true()),
    sa.Column("created_at", UtcTimestamp),
)

challenge_completions = sa.Table(
    "challenge_completions",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    _owner(),
    sa.Column("challenge_id", UUID, sa.ForeignKey("growth_challenges.id", ondelete="CASCADE"), nullable=False),
    sa.Column("completed_at", UtcTimestamp),
    sa.Column("xp_earned", sa.Integer, server_default="0"),
    sa.Column("quality_score", sa.Integer),
    sa.Column("insights", JSONB),
    sa.Column("created_at", UtcTimestamp),
    sa.Index("idx_challenge_completions_profile", "profile_id"),
)

spiral_xp_log = sa.Table(
    "spiral_xp_log",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    _owner(),
    sa.Column("xp_type", sa.Text, nullable=False),
    sa.Column("xp_amount", sa.Integer, nullable=False),
    sa.Column("source_type", sa.Text, nullable=False),
    sa.Column("source_id", UUID),
    sa.Column("spiral_level", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("created_at", UtcTimestamp),
    sa.Index("idx_spiral_xp_log_profile", "profile_id"),
)

# The coaching tables of the app's later migration: owner column ``user_id``.
akshay_conversations = sa.Table(
    "akshay_conversations",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    _owner("user_id"),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),  # never read: recency and counts only
    sa.Column("personality_score", JSONB),
    sa.Column("spiral_level", sa.Text),
    sa.Column("created_at", UtcTimestamp),
    sa.Column("metadata", JSONB),
    sa.Index("idx_akshay_conversations_user_created", "user_id", sa.text("created_at DESC")),
)

user_sacred_edges = sa.Table(
    "user_sacred_edges",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("user_id", UUID, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("root_fear", sa.Text),
    sa.Column("deeper_purpose", sa.Text),
    sa.Column("identified_date", UtcTimestamp),
    sa.Column("updated_at", UtcTimestamp),
    sa.Column("experiments", JSONB),
    sa.Column("status", sa.Text, server_default="identified"),
)

user_commitments = sa.Table(
    "user_commitments",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    _owner("user_id"),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_at", UtcTimestamp),
    sa.Column("due_date", UtcTimestamp),
    sa.Column("status", sa.Text, server_default="pending"),
    sa.Column("follow_up_count", sa.Integer, server_default="0"),
    sa.Column("completed_at", UtcTimestamp),
    sa.Column("metadata", JSONB),
    sa.Index("idx_user_commitments_user_status", "user_id", "status"),
)

user_patterns = sa.Table(
    "user_patterns",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    _owner("user_id"),
    sa.Column("pattern_type", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("occurrences", sa.Integer, server_default="1"),
    sa.Column("first_seen", UtcTimestamp),
    sa.Column("last_seen", UtcTimestamp),
    sa.Column("severity", sa.Text, server_default="medium"),
    sa.Column("metadata", JSONB),
    sa.Index("idx_user_patterns_user_type", "user_id", "pattern_type"),
)

user_spiral_assessments = sa.Table(
    "user_spiral_assessments",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    _owner("user_id"),
    sa.Column("spiral_level", sa.Text, nullable=False),
    sa.Column("confidence_score", sa.Integer, nullable=False),
    sa.Column("assessed_at", UtcTimestamp),
    sa.Column("indicators", JSONB),
    sa.Column("metadata", JSONB),
    sa.Index("idx_user_spiral_assessments_user_assessed", "user_id", sa.text("assessed_at DESC")),
)

user_wins = sa.Table(
    "user_wins",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    _owner("user_id"),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("category", sa.Text, server_default="small_win"),
    sa.Column("impact", sa.Text, server_default="medium"),
    sa.Column("created_at", UtcTimestamp),
    sa.Column("metadata", JSONB),
    sa.Index("idx_user_wins_user_id", "user_id"),
)

PRODUCT_TABLES = tuple(product_metadata.sorted_tables)
"""Every mirrored app table, parents before children."""


@dataclass(frozen=True)
class ProjectTables:
    """The project's own tables for one dialect (schema ``integration`` or prefix ``integration_``)."""

    metadata: sa.MetaData
    customer_preferences: sa.Table
    meta: sa.Table
    audit_log: sa.Table
    bookings: sa.Table
    mock_appointments: sa.Table


def _build_project_tables(schema: str | None, prefix: str) -> ProjectTables:
    metadata = sa.MetaData(schema=schema)
    customer_preferences = sa.Table(
        f"{prefix}customer_preferences",
        metadata,
        sa.Column("profile_id", UUID, primary_key=True),
        sa.Column("time_zone", sa.Text, nullable=False, server_default="UTC"),
        sa.Column("email_opt_in", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("email_frequency", sa.Text, nullable=False, server_default="weekly"),
        sa.Column("quiet_hours_start", sa.Time),
        sa.Column("quiet_hours_end", sa.Time),
        sa.Column("updated_at", UtcTimestamp),
    )
    meta = sa.Table(
        f"{prefix}meta",
        metadata,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    audit_log = sa.Table(
        f"{prefix}audit_log",
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", UtcTimestamp, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("customer_id", UUID),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("resources", TEXT_ARRAY, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("correlation_id", sa.Text),
        # Unique (an index made by the migration / db init): an event copied again from the spool after
        # a crash is written once.
        sa.Column("event_id", UUID),
        sa.Index(f"{prefix}audit_log_customer_at_idx", "customer_id", "at"),
        # The writer role may INSERT but not SELECT: no RETURNING of the new ids.
        implicit_returning=False,
    )
    # A booking made with the caller's booking id: a retry returns it instead of booking again.
    bookings = sa.Table(
        f"{prefix}bookings",
        metadata,
        sa.Column("booking_id", sa.Text, primary_key=True),
        sa.Column("customer_id", UUID, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("appointment", sa.Text, nullable=False),  # the Appointment as JSON
        sa.Column("created_at", UtcTimestamp, nullable=False),
    )
    # The mock scheduling platform's calendar, shared by every worker and kept across restarts.
    mock_appointments = sa.Table(
        f"{prefix}mock_appointments",
        metadata,
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("customer_id", UUID, nullable=False),
        sa.Column("email", sa.Text),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("start_time", UtcTimestamp, nullable=False),
        sa.Column("end_time", UtcTimestamp, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column("outcome", sa.Text),
        sa.Column("join_url", sa.Text),
        sa.Column("booking_id", sa.Text, unique=True),
        sa.Column("updated_at", UtcTimestamp, nullable=False),
        sa.Index(f"{prefix}mock_appointments_start_idx", "start_time"),
        sa.Index(f"{prefix}mock_appointments_customer_idx", "customer_id", "start_time"),
    )
    return ProjectTables(
        metadata=metadata,
        customer_preferences=customer_preferences,
        meta=meta,
        audit_log=audit_log,
        bookings=bookings,
        mock_appointments=mock_appointments,
    )


SQLITE_PROJECT_TABLES = _build_project_tables(schema=None, prefix="integration_")
POSTGRES_PROJECT_TABLES = _build_project_tables(schema="integration", prefix="")


def project_tables(backend: str) -> ProjectTables:
    """The project's tables for ``sqlite`` or ``postgres``."""
    return SQLITE_PROJECT_TABLES if backend == "sqlite" else POSTGRES_PROJECT_TABLES
