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
from fearvana_integration.store.verify import SchemaReport, check_postgres, check_sqlite

SCHEMA_VERSION = "2"
MARKER_KEY = "created_by"
MARKER_VALUE = "fearvana-integration db init"
COMPAT_KEY = "supabase_compat"
COMPAT_VERSION = "2"  # "true" was written by versions that built an older, invented copy of the app's schema


async def init_sqlite(engine: AsyncEngine, path: Path, *, rebuild_outdated: bool = False) -> list[str]:
    """Create every table (the app's copy and the project's own) if missing; returns what was done.

    A file made by an older version (schema 1: an invented copy of the app's tables) is refused with a
    clear message, or, with ``rebuild_outdated`` (``db seed-demo``, which rewrites the demo data
    anyway), its copy of the app's tables is dropped and made anew.
    """
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    tables = t.project_tables("sqlite")
    done: list[str] = []
    try:
        async with engine.begin() as conn:
            existed = await conn.run_sync(lambda sync: sa.inspect(sync).has_table("profiles"))
            version = await _sqlite_schema_version(conn, tables)
            if existed and version != SCHEMA_VERSION:
                if not rebuild_outdated:
                    raise ConfigurationError(
                        f"{path} was made by an older fearvana-integration (schema {version or 'unknown'}, now "
                        f"{SCHEMA_VERSION}) with a different copy of the app's tables: delete it and run "
                        "`fearvana-integration db seed-demo`, or run `db seed-demo` to rebuild it"
                    )
                await conn.run_sync(_drop_outdated_app_tables)
                done.append(f"Rebuilt the app's tables in {path}: it was made by an older version")
            await conn.run_sync(t.product_metadata.create_all)
            await conn.run_sync(tables.metadata.create_all)
            await conn.run_sync(_add_audit_event_ids)
            for statement in SQLITE_AUDIT_STATEMENTS:
                await conn.execute(sa.text(statement))
            for key, value in ((MARKER_KEY, MARKER_VALUE), ("schema_version", SCHEMA_VERSION)):
                await conn.execute(sa.delete(tables.meta).where(tables.meta.c.key == key))
                await conn.execute(sa.insert(tables.meta), {"key": key, "value": value})
            report = await check_sqlite(conn)
            if not report.ok:
                raise ConfigurationError(report.message())
    except ConfigurationError:
        raise
    except (SQLAlchemyError, OSError) as error:
        raise StoreUnavailable(f"Cannot create the database at {path}: {error.__class__.__name__}: {error}") from error
    if not done:
        done.append(f"{'Up to date' if existed else 'Created'}: {path}")
    return done


async def _sqlite_schema_version(conn: AsyncConnection, tables: t.ProjectTables) -> str | None:
    has_meta = await conn.run_sync(lambda sync: sa.inspect(sync).has_table(tables.meta.name))
    if not has_meta:
        return None
    query = sa.select(tables.meta.c.value).where(tables.meta.c.key == "schema_version")
    value = (await conn.execute(query)).scalar_one_or_none()
    return str(value) if value is not None else None


def _add_audit_event_ids(sync: sa.Connection) -> None:
    """Files made before audit rows had event ids get the column (and its unique index)."""
    columns = {column["name"] for column in sa.inspect(sync).get_columns("integration_audit_log")}
    if "event_id" not in columns:
        sync.exec_driver_sql("ALTER TABLE integration_audit_log ADD COLUMN event_id CHAR(32)")
    sync.exec_driver_sql(
        "CREATE UNIQUE INDEX IF NOT EXISTS uq_integration_audit_log_event_id ON integration_audit_log (event_id)"
    )


def _drop_outdated_app_tables(sync: sa.Connection) -> None:
    inspector = sa.inspect(sync)
    present = set(inspector.get_table_names())
    old = [name for name in present if not name.startswith("integration_") and not name.startswith("sqlite_")]
    sync.exec_driver_sql("PRAGMA foreign_keys=OFF")
    for name in old:
        sync.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
    sync.exec_driver_sql("PRAGMA foreign_keys=ON")


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


async def _compat_marker(conn: AsyncConnection) -> str | None:
    """The value of the local-copy marker, or None when this database has none."""
    if not (await conn.execute(sa.text("SELECT to_regclass('integration.meta') IS NOT NULL"))).scalar_one():
        return None
    query = sa.text("SELECT value FROM integration.meta WHERE key = :k")
    value = (await conn.execute(query, {"k": COMPAT_KEY})).scalar_one_or_none()
    return str(value) if value is not None else None


async def _prepare_local_copy(conn: AsyncConnection) -> None:
    """Create Supabase's pieces and the Fearvana app's schema on a plain PostgreSQL (or one this did)."""
    has_uid = (await conn.execute(sa.text("SELECT to_regprocedure('auth.uid()') IS NOT NULL"))).scalar_one()
    marker = await _compat_marker(conn)
    if has_uid and marker is None:
        raise ConfigurationError(
            "This database already has auth.uid() but was not prepared by `db init --supabase-compat`: it looks "
            "like a real Supabase project, whose schema belongs to the app. Run `fearvana-integration db init` "
            "without --supabase-compat"
        )
    if marker is not None and marker != COMPAT_VERSION:
        raise ConfigurationError(
            "This local copy was prepared by an older fearvana-integration, with tables that differ from the "
            "Fearvana app's (8 life areas, text challenge ids): run `db init --supabase-compat` on a new, empty "
            "database"
        )
    for script in ("supabase_compat.sql", "fearvana_app.sql"):
        for statement in _sql(script):
            await conn.execute(sa.text(statement))


async def verify_postgres(engine: AsyncEngine) -> SchemaReport:
    """Check the app's tables the project reads (``config check``, ``health``)."""
    async with engine.connect() as conn:
        return await check_postgres(conn)


async def init_postgres(engine: AsyncEngine, *, supabase_compat: bool) -> list[str]:
    """Check the app's tables, then run the project's migrations (schema ``integration`` only). With
    ``supabase_compat``, first create on a plain PostgreSQL what Supabase provides and the Fearvana
    app's own schema, as the app's SQL creates it (refused on a real Supabase project).

    Returns what was done, for the CLI to print; a schema mismatch is a ConfigurationError naming each
    difference, and nothing is changed.
    """
    done: list[str] = []
    try:
        async with engine.begin() as conn:
            if supabase_compat:
                await _prepare_local_copy(conn)
                done.append(
                    "created roles anon/authenticated/service_role, schema auth, and the Fearvana app's tables, "
                    "sign-up trigger and policies"
                )
            elif not await _is_supabase_like(conn):
                raise ConfigurationError(
                    "This PostgreSQL has no auth.uid() or role 'authenticated' (it is not a Supabase database): "
                    "run `fearvana-integration db init --supabase-compat` to create what Supabase provides"
                )
            report = await check_postgres(conn)
            if not report.ok:
                raise ConfigurationError(report.message())
            done.append("checked the app's tables: they match what fearvana-integration reads")
            done.extend(f"advice: {advice}" for advice in report.advice)
            await conn.run_sync(_upgrade)
            done.append("migrated schema integration to the newest revision")
            marks = [{"k": MARKER_KEY, "v": MARKER_VALUE}, {"k": "schema_version", "v": SCHEMA_VERSION}]
            if supabase_compat:
                marks.append({"k": COMPAT_KEY, "v": COMPAT_VERSION})
            await conn.execute(
                sa.text(
                    "INSERT INTO integration.meta (key, value) VALUES (:k, :v) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                ),
                marks,
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
    return value == COMPAT_VERSION
