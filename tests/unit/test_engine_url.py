"""DATABASE_URL as Supabase hands it out becomes what asyncpg needs."""

from __future__ import annotations

import pytest

from fearvana_integration.errors import ConfigurationError
from fearvana_integration.store.engine import postgres_target


def test_postgres_scheme_and_sslmode_are_translated() -> None:
    target = postgres_target("postgres://app:pw@db.abc.supabase.co:5432/postgres?sslmode=require", 30)
    assert target.url == "postgresql+asyncpg://app:pw@db.abc.supabase.co:5432/postgres"
    assert target.connect_args == {"timeout": 30, "ssl": "require"}
    assert not target.transaction_pooler


def test_the_pooled_port_switches_prepared_statement_caches_off() -> None:
    target = postgres_target("postgresql://postgres.abc:pw@aws-0-eu.pooler.supabase.com:6543/postgres", 5)
    assert target.transaction_pooler
    assert target.connect_args["statement_cache_size"] == 0
    assert target.url.endswith("?prepared_statement_cache_size=0")


def test_unknown_sslmode_is_named() -> None:
    with pytest.raises(ConfigurationError, match="unknown sslmode 'sometimes'"):
        postgres_target("postgresql://h/db?sslmode=sometimes", 5)
