"""Alembic migrations of the project's own tables in schema ``integration`` (Postgres)."""
