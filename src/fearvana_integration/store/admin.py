"""Creating the embedded database (``db init``)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from fearvana_integration.errors import StoreUnavailable
from fearvana_integration.store import schema as t

SCHEMA_VERSION = "1"
MARKER_KEY = "created_by"
MARKER_VALUE = "fearvana-integration db init"


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
