"""Table definitions for both dialects.

The product's tables (SUPABASE.md) keep their Supabase names and columns, so the same query code reads
the embedded SQLite copy and a real Supabase Postgres. The project's own tables live in schema
``integration`` on Postgres and carry the prefix ``integration_`` on SQLite (which has no schemas).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from fearvana_integration.domain.customer import LIFE_AREA_ORDER


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
LIFE_LEVEL_CATEGORY: sa.types.TypeEngine[Any] = sa.String(32).with_variant(
    postgresql.ENUM(*LIFE_AREA_ORDER, name="life_level_category", create_type=False), "postgresql"
)
UUID = sa.Uuid(as_uuid=True)

product_metadata = sa.MetaData()

profiles = sa.Table(
    "profiles",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),
    sa.Column("display_name", sa.Text),
    sa.Column("avatar_url", sa.Text),
    sa.Column("created_at", UtcTimestamp, nullable=False),
    sa.Column("updated_at", UtcTimestamp),
)

life_levels = sa.Table(
    "life_levels",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("profile_id", UUID, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
    sa.Column("category", LIFE_LEVEL_CATEGORY, nullable=False),
    sa.Column("goal_jsonb", JSONB),
    sa.Column("created_at", UtcTimestamp),
    sa.Column("updated_at", UtcTimestamp),
    sa.UniqueConstraint("profile_id", "category", name="life_levels_profile_id_category_key"),
)

entries = sa.Table(
    "entries",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("level_id", UUID, sa.ForeignKey("life_levels.id", ondelete="CASCADE"), nullable=False),
    sa.Column("ts", UtcTimestamp, nullable=False),
    sa.Column("metric", JSONB),
    sa.Column("created_at", UtcTimestamp),
    sa.Index("entries_level_id_ts_idx", "level_id", sa.text("ts DESC")),
)

coach_actions = sa.Table(
    "coach_actions",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("level_id", UUID, sa.ForeignKey("life_levels.id", ondelete="CASCADE"), nullable=False),
    sa.Column("ts", UtcTimestamp),
    sa.Column("suggestion", sa.Text, nullable=False),
    sa.Column("ai_metadata", JSONB),
    sa.Column("completed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UtcTimestamp),
    sa.Index("coach_actions_level_id_idx", "level_id"),
)

supplements = sa.Table(
    "supplements",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("profile_id", UUID, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("qty_on_hand", sa.Integer, nullable=False, server_default="0"),
    sa.Column("dosage_schema", JSONB),
    sa.Index("supplements_profile_id_idx", "profile_id"),
)

spiral_journey_states = sa.Table(
    "spiral_journey_states",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("profile_id", UUID, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False, unique=True),
    sa.Column("current_step", sa.Integer, nullable=False, server_default="1"),
    sa.Column("step_progress", sa.Integer, nullable=False, server_default="0"),
    sa.Column("readiness_score", sa.Integer),
    sa.Column("readiness_assessed_at", UtcTimestamp),
    sa.Column("updated_at", UtcTimestamp),
    sa.CheckConstraint("current_step BETWEEN 1 AND 6", name="spiral_journey_states_step_check"),
    sa.CheckConstraint("step_progress BETWEEN 0 AND 100", name="spiral_journey_states_progress_check"),
)

spiral_progress = sa.Table(
    "spiral_progress",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("profile_id", UUID, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False, unique=True),
    sa.Column("current_level", sa.Text, nullable=False),
    sa.Column("progress_in_level", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unlocked_levels", TEXT_ARRAY),
    sa.Column("updated_at", UtcTimestamp),
)

challenge_completions = sa.Table(
    "challenge_completions",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("profile_id", UUID, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
    sa.Column("challenge_id", sa.Text, nullable=False),
    sa.Column("completed_at", UtcTimestamp, nullable=False),
    sa.Column("xp_earned", sa.Integer, nullable=False, server_default="0"),
    sa.Index("challenge_completions_profile_id_idx", "profile_id"),
)

spiral_xp_log = sa.Table(
    "spiral_xp_log",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("profile_id", UUID, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
    sa.Column("xp_amount", sa.Integer, nullable=False),
    sa.Column("xp_type", sa.Text),
    sa.Column("spiral_level", sa.Text),
    sa.Column("created_at", UtcTimestamp, nullable=False),
    sa.Index("spiral_xp_log_profile_id_idx", "profile_id"),
)

streaks = sa.Table(
    "streaks",
    product_metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("profile_id", UUID, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("current_streak", sa.Integer, nullable=False, server_default="0"),
    sa.Column("longest_streak", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_activity_date", sa.Date),
    sa.UniqueConstraint("profile_id", "category", name="streaks_profile_id_category_key"),
)

PRODUCT_TABLES = (
    profiles,
    life_levels,
    entries,
    coach_actions,
    supplements,
    spiral_journey_states,
    spiral_progress,
    challenge_completions,
    spiral_xp_log,
    streaks,
)


@dataclass(frozen=True)
class ProjectTables:
    """The project's own tables for one dialect (schema ``integration`` or prefix ``integration_``)."""

    metadata: sa.MetaData
    customer_preferences: sa.Table
    meta: sa.Table
    audit_log: sa.Table


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
        sa.Index(f"{prefix}audit_log_customer_at_idx", "customer_id", "at"),
        # The writer role may INSERT but not SELECT: no RETURNING of the new ids.
        implicit_returning=False,
    )
    return ProjectTables(metadata=metadata, customer_preferences=customer_preferences, meta=meta, audit_log=audit_log)


SQLITE_PROJECT_TABLES = _build_project_tables(schema=None, prefix="integration_")
POSTGRES_PROJECT_TABLES = _build_project_tables(schema="integration", prefix="")


def project_tables(backend: str) -> ProjectTables:
    """The project's tables for ``sqlite`` or ``postgres``."""
    return SQLITE_PROJECT_TABLES if backend == "sqlite" else POSTGRES_PROJECT_TABLES
