"""Checking the app's tables against what the project reads: every table, column, type and enum value.

``db init``, ``config check`` and ``health`` run this, so that a database whose schema differs from the
Fearvana app's (a column renamed, a type changed, the enum missing a value) is named precisely —
table, column, expected, found — instead of failing later as a driver error in the middle of a read.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from fearvana_integration.domain.life_areas import APP_LIFE_AREAS
from fearvana_integration.store import schema as t
from fearvana_integration.store.schema import UtcTimestamp

ENUM_NAME = "life_level_category"

READ_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "profiles": ("id", "email", "display_name", "avatar_url", "created_at"),
    "life_levels": ("id", "profile_id", "category", "goal_jsonb", "updated_at"),
    "entries": ("id", "level_id", "ts", "metric", "created_at"),
    "coach_actions": ("id", "level_id", "ts", "created_at", "suggestion", "completed", "ai_metadata"),
    "supplements": ("id", "profile_id", "name", "qty_on_hand", "dosage_schema"),
    "streaks": ("profile_id", "category", "current_streak", "longest_streak", "last_activity_date"),
    "spiral_journey_states": ("profile_id", "current_step", "step_progress"),
    "spiral_progress": ("profile_id", "current_level"),
    "spiral_assessments": ("profile_id", "primary_level", "secondary_level", "created_at"),
    "growth_challenges": ("id", "title"),
    "challenge_completions": ("id", "profile_id", "challenge_id", "completed_at", "created_at"),
    "spiral_xp_log": ("profile_id", "xp_amount", "created_at"),
    "daily_tasks": ("id", "profile_id", "level_id", "title", "description", "points", "completed", "due_date"),
    "enhanced_coach_suggestions": (
        "id",
        "profile_id",
        "level_id",
        "title",
        "description",
        "estimated_time",
        "difficulty",
        "impact",
        "suggestion_type",
        "completed",
        "dismissed",
        "created_at",
    ),
    "akshay_conversations": ("user_id", "role", "created_at"),
    "user_sacred_edges": (
        "user_id",
        "description",
        "root_fear",
        "deeper_purpose",
        "identified_date",
        "updated_at",
        "experiments",
        "status",
    ),
    "user_commitments": (
        "id",
        "user_id",
        "description",
        "created_at",
        "due_date",
        "status",
        "follow_up_count",
        "completed_at",
    ),
    "user_patterns": (
        "id",
        "user_id",
        "pattern_type",
        "description",
        "occurrences",
        "first_seen",
        "last_seen",
        "severity",
    ),
    "user_spiral_assessments": ("user_id", "spiral_level", "confidence_score", "assessed_at"),
    "user_wins": ("id", "user_id", "description", "category", "impact", "created_at"),
}
"""Every column of the app's tables that a context read touches."""


@dataclass(frozen=True)
class Mismatch:
    """One difference between the database and what the project reads."""

    table: str
    column: str | None
    expected: str
    found: str

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{where}: expected {self.expected}, found {self.found}"


OWNER_COLUMNS: Mapping[str, str] = {
    "life_levels": "profile_id",
    "supplements": "profile_id",
    "streaks": "profile_id",
    "spiral_journey_states": "profile_id",
    "spiral_progress": "profile_id",
    "spiral_assessments": "profile_id",
    "challenge_completions": "profile_id",
    "spiral_xp_log": "profile_id",
    "daily_tasks": "profile_id",
    "enhanced_coach_suggestions": "profile_id",
    "akshay_conversations": "user_id",
    "user_sacred_edges": "user_id",
    "user_commitments": "user_id",
    "user_patterns": "user_id",
    "user_spiral_assessments": "user_id",
    "user_wins": "user_id",
}
"""The column each table the context reads is filtered by (one customer's rows)."""


@dataclass(frozen=True)
class SchemaReport:
    """The outcome of a schema check, with advice that does not make it a mismatch."""

    mismatches: tuple[Mismatch, ...]
    advice: tuple[str, ...] = ()
    project_problem: str | None = None  # this project's own schema missing or older than this version

    @property
    def ok(self) -> bool:
        """No mismatch, and this project's own schema is in place."""
        return not self.mismatches and self.project_problem is None

    @property
    def status(self) -> str:
        """``ok`` or ``mismatch`` (the health report's ``supabase.schema``)."""
        return "ok" if self.ok else "mismatch"

    def message(self) -> str:
        """One line naming every mismatch (table, column, expected, found)."""
        if self.ok:
            return "the app's tables match what fearvana-integration reads"
        if not self.mismatches and self.project_problem is not None:
            return self.project_problem
        listed = "; ".join(str(m) for m in self.mismatches)
        count = len(self.mismatches)
        return (
            f"The database's schema differs from the Fearvana app's in {count} place{'s' if count != 1 else ''} "
            f"this project reads: {listed}"
        )


def _postgres_type(column: sa.Column[object]) -> str:
    """The ``pg_type.typname`` a column of the app's schema has on Postgres."""
    kind = column.type
    if isinstance(kind, UtcTimestamp):
        return "timestamptz"
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    impl = kind.dialect_impl(dialect)
    if isinstance(impl, postgresql.ENUM):
        return impl.name or ENUM_NAME
    if isinstance(impl, postgresql.JSONB):
        return "jsonb"
    if isinstance(impl, postgresql.ARRAY):
        return "_text"
    if isinstance(impl, sa.Uuid):
        return "uuid"
    if isinstance(impl, sa.Boolean):
        return "bool"
    if isinstance(impl, sa.Integer):
        return "int4"
    if isinstance(impl, sa.Float):
        return "float8"
    if isinstance(impl, sa.Date):
        return "date"
    if isinstance(impl, sa.Text | sa.String):
        return "text"
    raise TypeError(f"no Postgres type name for {kind!r}")


def expected_columns() -> dict[str, dict[str, str]]:
    """table → column → the Postgres type name the project expects there."""
    tables = {table.name: table for table in t.product_metadata.tables.values()}
    return {
        name: {column: _postgres_type(tables[name].c[column]) for column in columns}
        for name, columns in READ_COLUMNS.items()
    }


_PG_COLUMNS = sa.text(
    "SELECT c.relname AS table_name, a.attname AS column_name, ty.typname AS type_name "
    "FROM pg_catalog.pg_attribute a "
    "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid "
    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 "
    "AND NOT a.attisdropped AND c.relname = ANY(:tables)"
)
_PG_ENUM = sa.text(
    "SELECT e.enumlabel FROM pg_catalog.pg_enum e JOIN pg_catalog.pg_type ty ON ty.oid = e.enumtypid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = ty.typnamespace "
    "WHERE n.nspname = 'public' AND ty.typname = :name ORDER BY e.enumsortorder"
)


def compare(
    expected: Mapping[str, Mapping[str, str]],
    found: Mapping[str, Mapping[str, str]],
    enum_values: list[str] | None,
) -> SchemaReport:
    """The mismatches between ``expected`` and ``found`` (table → column → type) and the enum's values
    (``None``: the enum type does not exist)."""
    mismatches: list[Mismatch] = []
    for table, columns in expected.items():
        present = found.get(table)
        if present is None:
            mismatches.append(Mismatch(table, None, "a table", "none"))
            continue
        for column, kind in columns.items():
            actual = present.get(column)
            if actual is None:
                mismatches.append(Mismatch(table, column, kind, "no such column"))
            elif actual != kind:
                mismatches.append(Mismatch(table, column, kind, actual))
    if enum_values is None:
        mismatches.append(Mismatch(f"type {ENUM_NAME}", None, "an enum", "none"))
    else:
        missing = [value for value in APP_LIFE_AREAS if value not in enum_values]
        if missing:
            mismatches.append(
                Mismatch(
                    f"type {ENUM_NAME}",
                    None,
                    f"the values {', '.join(APP_LIFE_AREAS)}",
                    f"{', '.join(enum_values) or 'no values'} (missing {', '.join(missing)})",
                )
            )
    return SchemaReport(tuple(mismatches))


_PG_LEADING_INDEX_COLUMNS = sa.text(
    "SELECT c.relname AS table_name, a.attname AS column_name "
    "FROM pg_catalog.pg_index i "
    "JOIN pg_catalog.pg_class c ON c.oid = i.indrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] "
    "WHERE n.nspname = 'public' AND c.relname = ANY(:tables)"
)
_PG_ROWS = sa.text(
    "SELECT c.relname, c.reltuples::bigint FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = ANY(:tables)"
)


async def check_postgres(conn: AsyncConnection) -> SchemaReport:
    """Compare the database's ``public`` tables and enum with what the project reads, and advise on
    tables a context read can only scan whole (no index starting with the owner column)."""
    expected = expected_columns()
    found: dict[str, dict[str, str]] = {}
    for row in (await conn.execute(_PG_COLUMNS, {"tables": list(expected)})).mappings():
        found.setdefault(row["table_name"], {})[row["column_name"]] = row["type_name"]
    labels = [row[0] for row in await conn.execute(_PG_ENUM, {"name": ENUM_NAME})]
    exists = (
        await conn.execute(sa.text("SELECT to_regtype(:name) IS NOT NULL"), {"name": f"public.{ENUM_NAME}"})
    ).scalar_one()
    report = compare(expected, found, labels if exists else None)
    tables = list(OWNER_COLUMNS)
    indexed = {
        (row.table_name, row.column_name) for row in await conn.execute(_PG_LEADING_INDEX_COLUMNS, {"tables": tables})
    }
    sizes = {name: int(rows) for name, rows in await conn.execute(_PG_ROWS, {"tables": tables})}
    advice = tuple(
        f"public.{table} has no index on {column}: every context read scans the whole table"
        + (f" (about {sizes[table]:,} rows)" if sizes[table] > 0 else "")
        + f"; the app's owner can add one with `create index on public.{table} ({column})` "
        "(this project never changes the app's tables)"
        for table, column in OWNER_COLUMNS.items()
        if table in sizes and (table, column) not in indexed
    )
    return SchemaReport(report.mismatches, advice)


async def check_sqlite(conn: AsyncConnection) -> SchemaReport:
    """The embedded copy: every table and column the project reads exists (SQLite has no enums)."""
    expected = expected_columns()

    def inspect(sync: sa.Connection) -> dict[str, dict[str, str]]:
        inspector = sa.inspect(sync)
        present = set(inspector.get_table_names())
        return {
            table: {column["name"]: expected[table].get(column["name"], "") for column in inspector.get_columns(table)}
            for table in expected
            if table in present
        }

    found = await conn.run_sync(inspect)
    return compare(expected, found, list(APP_LIFE_AREAS))


async def check_project_sqlite(conn: AsyncConnection, tables: t.ProjectTables) -> str | None:
    """Whether the file has every table of this version's own (``db init`` adds new ones); None when so."""
    wanted = {table.name for table in tables.metadata.sorted_tables}
    present = await conn.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
    missing = sorted(wanted - present)
    if missing:
        names = ", ".join(missing)
        return f"This database lacks fearvana-integration's tables {names}: run `fearvana-integration db init`"
    return None


async def check_project_postgres(conn: AsyncConnection, head: str) -> str | None:
    """Whether ``db init`` has brought schema ``integration`` to ``head``; None when it has."""
    exists = (await conn.execute(sa.text("SELECT to_regclass('integration.alembic_version') IS NOT NULL"))).scalar_one()
    if not exists:
        return (
            "This database does not have fearvana-integration's own schema (integration): "
            "run `fearvana-integration db init`"
        )
    version = (await conn.execute(sa.text("SELECT version_num FROM integration.alembic_version"))).scalar()
    if version != head:
        return (
            f"fearvana-integration's own schema is at revision {version or 'none'}, this version needs {head}: "
            "run `fearvana-integration db init`"
        )
    return None


@functools.cache
def migration_head() -> str:
    """The newest revision of this project's migrations (schema ``integration``)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(resources.files("fearvana_integration.store") / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise RuntimeError("no migration head")
    return head
