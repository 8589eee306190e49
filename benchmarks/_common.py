"""Shared helpers for the benchmark scripts: a seeded temporary database, percentiles, machine facts."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from fearvana_integration.config import Settings, load_settings
from fearvana_integration.store.admin import init_sqlite
from fearvana_integration.store.demo import seed_demo
from fearvana_integration.store.engine import create_engine


def machine() -> str:
    """One line describing where the figures come from."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 of ``samples``."""
    ordered = sorted(samples)
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return statistics.median(ordered), cut[94], cut[98]


async def seeded_settings(customers: int = 12, **env: str) -> Settings:
    """Settings for a fresh temporary SQLite database seeded with ``customers`` demo customers."""
    path = Path(tempfile.mkdtemp(prefix="fearvana-bench-")) / "bench.db"
    values = {"DATABASE_URL": f"sqlite:///{path}", "MOCK_LATENCY_MS": "0", "LOG_LEVEL": "ERROR", **env}
    settings = load_settings(values, read_env_files=False)

    engine = create_engine(settings, create=True)
    try:
        await init_sqlite(engine, path)
        await seed_demo(engine, "sqlite", count=customers, now=datetime.now(UTC))
    finally:
        await engine.dispose()
    return settings
