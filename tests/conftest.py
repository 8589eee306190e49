"""Shared test fixtures: no network beyond loopback, fresh mocks, a seeded demo database."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fearvana_integration.adapters.crm.mock import MockCRMAdapter
from fearvana_integration.adapters.email.mock import MockEmailAdapter
from fearvana_integration.adapters.scheduling.mock import MockSchedulingAdapter
from fearvana_integration.clock import SystemClock
from fearvana_integration.config import Settings, load_settings
from fearvana_integration.manager import IntegrationManager
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store.admin import init_sqlite
from fearvana_integration.store.engine import create_engine

REPO = Path(__file__).resolve().parent.parent

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _loopback_only(address: Any) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost",):
            return
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
        raise ConnectionRefusedError(f"tests may not reach the network: {host}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _loopback_only(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _loopback_only(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True, scope="session")
def _audit_spools_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Audit spools (default: the user's state directory) go to a directory of this test session."""
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    if previous is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = previous


@pytest.fixture(autouse=True)
def _fresh_mocks() -> Iterator[None]:
    """Every test starts with mocks that forgot all writes, faults and counters."""
    for cls in (MockCRMAdapter, MockSchedulingAdapter, MockEmailAdapter):
        cls.get_instance().configure(latency_ms=(0, 0), failure_rate=0.0, seed=0, clock=SystemClock())
        cls.get_instance().clear_all_data()
    return


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database seeded once per test session with the 12 default demo customers."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    settings = load_settings({"DATABASE_URL": f"sqlite:///{path}"}, read_env_files=False)

    from fearvana_integration.store.demo import seed_demo

    async def build() -> None:
        engine = create_engine(settings, create=True)
        try:
            await init_sqlite(engine, path)
            await seed_demo(engine, "sqlite", count=12, now=datetime.now(UTC))
        finally:
            await engine.dispose()

    asyncio.run(build())
    return path


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(demo_db: Path) -> SettingsFactory:
    """Settings for the demo database with instant mocks; keyword arguments are extra env variables."""

    def factory(**env: str) -> Settings:
        values = {"DATABASE_URL": f"sqlite:///{demo_db}", "MOCK_LATENCY_MS": "0", "LOG_LEVEL": "WARNING"}
        values.update(env)
        return load_settings(values, read_env_files=False)

    return factory


@pytest.fixture
async def manager(make_settings: SettingsFactory) -> AsyncIterator[IntegrationManager]:
    """A manager on the demo database with default (mock) providers."""
    manager = IntegrationManager(build_runtime(make_settings()))
    yield manager
    await manager.aclose()


def require_services() -> bool:
    """Whether missing PostgreSQL/Redis must fail tests instead of skipping them."""
    return os.environ.get("FEARVANA_REQUIRE_SERVICES") == "1"


FIXED_NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
"""The moment both equal-content databases (SQLite and Postgres) are seeded at."""
