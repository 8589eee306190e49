"""Engine creation from ``DATABASE_URL``."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fearvana_integration.config import Settings
from fearvana_integration.errors import ConfigurationError


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


def create_engine(settings: Settings, *, create: bool = False) -> AsyncEngine:
    """An async engine for the configured store. Postgres arrives with the production-store work.

    A SQLite file is only created when ``create`` is set (``db init``); otherwise a missing file is an
    error instead of a silently empty database.
    """
    url = settings.database_url.get_secret_value()
    if settings.database_backend != "sqlite":
        raise ConfigurationError(
            "DATABASE_URL: PostgreSQL is not supported by this version yet; use sqlite:///path/to/file.db"
        )
    path = sqlite_path(url)
    mode = "rwc" if create else "rw"
    engine = create_async_engine(
        f"sqlite+aiosqlite:///file:{quote(str(path.resolve()))}?mode={mode}&uri=true",
        connect_args={"timeout": settings.db_connect_timeout_seconds},
    )
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine
