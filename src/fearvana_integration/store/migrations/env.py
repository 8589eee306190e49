"""Alembic environment: migrations run on a connection the caller passes in (``db init``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

connection = context.config.attributes["connection"]
connection.execute(text("CREATE SCHEMA IF NOT EXISTS integration"))
context.configure(connection=connection, target_metadata=None, version_table_schema="integration")
with context.begin_transaction():
    context.run_migrations()
