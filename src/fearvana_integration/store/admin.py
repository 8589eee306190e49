"""Creating and migrating the store (``db init``): the embedded SQLite file, or the project's schema on
PostgreSQL (Alembic), optionally with what a Supabase project provides (``--supabase-compat``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fearvana_integration.errors import ConfigurationError, StoreUnavailable
from fearvana_integration.store import schema as t
from fearvana_integration.store.audit_schema import SQLITE_AUDIT_STATEMENTS
from fearvana_integration.store.sqlscript import split_sql

SCHEMA_VERSION = "1"
MARKER_KEY = "created_by"
MARKER_VALUE = "fearvana-integration db init"
COMPAT_KEY = "supabase_compat"


async def init_sqlite(engine: AsyncEngine, path: Path) -> bool:
    """Create every table (the product's copy and the project's own) if missing; True when newly created."""
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    tables = t.project_tables("sqlite")
    try:
        async with engine.begin() as conn:
            existed = await conn.run_sync(lambda sync: sa.inspect(sync).has_table("profiles"))
            await conn.run_sync(t.product_metadata.create_all)
            await conn.run_sync(tables.metadata.create_all)
            for statement in SQLITE_AUDIT_STATEMENTS:
                await conn.execute(sa.text(statement))
            present = (
                await conn.execute(sa.select(tables.meta.c.value).where(tables.meta.c.key == MARKER_KEY))
            ).scalar_one_or_none()
            if present is None:
                await conn.execute(
                    sa.insert(tables.meta),
                    [{"key": MARKER_KEY, "value": MARKER_VALUE}, {"key": "schema_version", "value": SCHEMA_VERSION}],
                )
    except (SQLAlchemyError, OSError) as error:
        raise StoreUnavailable(f"Cannot create the database at {path}: {error.__class__.__name__}: {error}") from error
    return not existed


def _sql(name: str) -> list[str]:
    return split_sql(resources.files("fearvana_integration.store").joinpath("sql", name).read_text())


def _upgrade(sync_connection: sa.Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(resources.files("fearvana_integration.store") / "migrations"))
    config.attributes["connection"] = sync_connection
    command.upgrade(config, "head")


async def _is_supabase_like(conn: AsyncConnection) -> bool:
    row = (
        await conn.execute(
            sa.text(
                "SELECT to_regprocedure('auth.uid()') IS NOT NULL AS has_uid, "
                "EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') AS has_role"
            )
        )
    ).one()
    return bool(row.has_uid and row.has_role)


async def init_postgres(engine: AsyncEngine, *, supabase_compat: bool) -> list[str]:
    """Run the project's migrations (schema ``integration`` only). With ``supabase_compat``, first create
    on a plain PostgreSQL what Supabase provides: roles, ``auth``, the product tables and their policies.

    Returns what was done, for the CLI to print.
    """
    done: list[str] = []
    try:
        async with engine.begin() as conn:
            if supabase_compat:
                for statement in _sql("supabase_compat.sql"):
                    await conn.execute(sa.text(statement))
                await conn.run_sync(t.product_metadata.create_all)
                for statement in _sql("supabase_compat_policies.sql"):
                    await conn.execute(sa.text(statement))
                done.append("created roles anon/authenticated/service_role, schema auth, product tables, policies")
            elif not await _is_supabase_like(conn):
                raise ConfigurationError(
                    "This PostgreSQL has no auth.uid() or role 'authenticated' (it is not a Supabase database): "
                    "run `fearvana-integration db init --supabase-compat` to create what Supabase provides"
                )
            await conn.run_sync(_upgrade)
            done.append("migrated schema integration to the newest revision")
            await conn.execute(
                sa.text("INSERT INTO integration.meta (key, value) VALUES (:k, :v) ON CONFLICT (key) DO NOTHING"),
                [{"k": MARKER_KEY, "v": MARKER_VALUE}, {"k": "schema_version", "v": SCHEMA_VERSION}],
            )
            if supabase_compat:
                await conn.execute(
                    sa.text(
                        "INSERT INTO integration.meta (key, value) VALUES (:k, 'true') ON CONFLICT (key) DO NOTHING"
                    ),
                    {"k": COMPAT_KEY},
                )
    except ConfigurationError:
        raise
    except (SQLAlchemyError, OSError) as error:
        raise StoreUnavailable(f"Cannot initialise the database: {type(error).__name__}: {error}") from error
    return done


async def created_by_compat(engine: AsyncEngine) -> bool:
    """Whether ``db init --supabase-compat`` created this Postgres database (so demo data may go in)."""
    try:
        async with engine.connect() as conn:
            value = (
                await conn.execute(
                    sa.text(
                        "SELECT value FROM integration.meta WHERE key = :k "
                        "AND to_regclass('integration.meta') IS NOT NULL"
                    ),
                    {"k": COMPAT_KEY},
                )
            ).scalar_one_or_none()
    except SQLAlchemyError:
        return False
    return value == "true"
