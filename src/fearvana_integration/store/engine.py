"""Engine creation from ``DATABASE_URL``: a SQLite file, or PostgreSQL (e.g. Supabase) through asyncpg."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from fearvana_integration.config import Settings
from fearvana_integration.errors import ConfigurationError
from fearvana_integration.observability import tracing

SUPAVISOR_TRANSACTION_PORT = 6543
_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


def sqlite_path(database_url: str) -> Path:
    """The file a ``sqlite:///…`` URL points at (relative paths are relative to the working directory)."""
    path = database_url.split(":///", 1)[1].split("?", 1)[0]
    if not path or path == ":memory:":
        raise ConfigurationError("DATABASE_URL: an in-memory SQLite database cannot be shared; use a file path")
    return Path(path)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


@dataclass(frozen=True)
class PostgresTarget:
    """A Postgres URL as asyncpg wants it, and what the original URL asked for."""

    url: str
    connect_args: dict[str, Any]
    transaction_pooler: bool
    database: str


def postgres_target(database_url: str, connect_timeout: float) -> PostgresTarget:
    """Translate a Supabase-style URL: ``postgres://`` accepted, ``sslmode`` moved to asyncpg's ``ssl``,
    and the prepared-statement caches switched off behind a transaction pooler (Supavisor, port 6543),
    which would otherwise hand one session's statements to another."""
    parts = urlsplit(database_url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgres", "postgresql"):
        raise ConfigurationError("DATABASE_URL must start with postgresql:// or postgres://")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    connect_args: dict[str, Any] = {"timeout": connect_timeout}
    ssl_mode = query.pop("sslmode", None)
    if ssl_mode is not None:
        if ssl_mode not in _SSL_MODES:
            raise ConfigurationError(
                f"DATABASE_URL: unknown sslmode {ssl_mode!r} (known: {', '.join(sorted(_SSL_MODES))})"
            )
        connect_args["ssl"] = ssl_mode
    pooler = parts.port == SUPAVISOR_TRANSACTION_PORT or query.pop("pgbouncer", "").lower() in ("true", "1")
    if pooler:
        connect_args["statement_cache_size"] = 0
        query["prepared_statement_cache_size"] = "0"
    url = urlunsplit(("postgresql+asyncpg", parts.netloc, parts.path, urlencode(query), parts.fragment))
    return PostgresTarget(url, connect_args, pooler, parts.path.lstrip("/") or "postgres")


def create_engine(settings: Settings, *, create: bool = False, pooled: bool = True) -> AsyncEngine:
    """An async engine for the configured store.

    SQLite: a file only created when ``create`` is set (``db init``), otherwise a missing file is an
    error instead of a silently empty database. Postgres: a pool of ``DB_POOL_SIZE`` connections
    (``pooled=False``: one connection per use, for short admin commands). With tracing on, every
    statement is a span (its text, never its parameters); off, no event is attached.
    """
    url = settings.database_url.get_secret_value()
    if settings.database_backend == "postgres":
        target = postgres_target(url, settings.db_connect_timeout_seconds)
        options: dict[str, Any] = {"connect_args": target.connect_args, "pool_pre_ping": False}
        if pooled:
            options.update(
                pool_size=settings.db_pool_size, max_overflow=0, pool_timeout=settings.db_connect_timeout_seconds
            )
        else:
            options["poolclass"] = NullPool
        engine = create_async_engine(target.url, **options)
        tracing.instrument_engine(engine)
        return engine
    path = sqlite_path(url)
    mode = "rwc" if create else "rw"
    engine = create_async_engine(
        f"sqlite+aiosqlite:///file:{quote(str(path.resolve()))}?mode={mode}&uri=true",
        connect_args={"timeout": settings.db_connect_timeout_seconds},
    )
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    if not create:
        event.listen(engine.sync_engine, "do_connect", _refuse_missing_file(path))
    tracing.instrument_engine(engine)
    return engine


def _refuse_missing_file(path: Path) -> Any:
    """A ``do_connect`` hook failing fast, before any driver thread starts, when the file is missing.

    aiosqlite would start a worker thread only to fail the open; that thread then finishes its
    clean-up on whichever event loop is current, which may already be closed (a CLI run, a test).
    The message is SQLite's own, so the store turns it into the usual "does not exist" error.
    """

    def check(_dialect: Any, _record: Any, _cargs: Any, _cparams: Any) -> None:
        if not path.exists():
            raise sqlite3.OperationalError("unable to open database file")

    return check
