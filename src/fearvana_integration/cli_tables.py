"""The CLI's tables (``health``, ``config check``, ``audit show``): rich tables that fit a 100-column
terminal, wrapping long details instead of overflowing; plain text when standard output is not a
terminal (no colour codes in files or pipes)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime

from rich.console import Console
from rich.table import Table

from fearvana_integration.domain.health import HealthStatus

WIDTH = 100


def print_tables(*parts: Table | str) -> None:
    """Write tables and lines to standard output, at most ``WIDTH`` columns wide."""
    terminal = sys.stdout.isatty()
    console = Console(
        file=sys.stdout,
        width=min(Console().width, WIDTH) if terminal else WIDTH,
        no_color=not terminal,
        highlight=False,
        soft_wrap=False,
    )
    for part in parts:
        console.print(part)


def _table(*columns: str, title: str | None = None, whole: Sequence[str] = ()) -> Table:
    """A borderless table; columns named in ``whole`` never wrap (ids, times)."""
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in whole)
    return table


def health_tables(status: HealthStatus) -> list[Table | str]:
    """The status line, one row per source, and the cache."""
    table = _table("service", "provider", "healthy", "latency", "breaker", "detail")
    for name, service in status.services.items():
        latency = f"{service.latency:.1f} ms" if service.latency is not None else "-"
        healthy = "disabled" if not service.enabled else ("yes" if service.healthy else "NO")
        provider = service.provider or "-"
        if service.backend:
            provider = f"{provider} ({service.backend})"
        breaker = status.circuit_breakers.get(name)
        state = "-"
        if breaker is not None:
            state = breaker.state if breaker.state == "CLOSED" else f"{breaker.state} ({breaker.failure_count} fails)"
        detail = service.error or (f"schema {service.schema_}" if service.schema_ else "")
        table.add_row(name, provider, healthy, latency, state, detail)
    parts: list[Table | str] = [f"status: {status.status}", table]
    cache = status.cache
    if cache is not None:
        if cache.reachable:
            parts.append(
                f"cache: {cache.backend}, {cache.size} entries, {cache.hits} hits, {cache.misses} misses, "
                f"hit rate {cache.hit_rate:.1%}"
            )
        else:
            parts.append(
                f"cache: {cache.backend} DOES NOT ANSWER ({cache.error}): this instance works alone, sharing no "
                "cache, breakers or failed-auth counts; check REDIS_URL"
            )
    return parts


def config_tables(
    settings: Sequence[tuple[str, str]], status: HealthStatus, advice: Sequence[str]
) -> list[Table | str]:
    """Effective settings, whether each source answers, and advice."""
    values = _table("setting", "value", title="Settings")
    for name, value in settings:
        values.add_row(name, value)
    sources = _table("source", "provider", "state", title="Sources")
    for name, service in status.services.items():
        if not service.enabled:
            state = "disabled"
        elif service.schema_ == "mismatch":
            state = f"answers ({service.latency:.1f} ms), schema: mismatch — {service.error}"
        elif service.healthy:
            state = f"answers ({service.latency:.1f} ms)" + (f", schema: {service.schema_}" if service.schema_ else "")
        else:
            state = f"DOES NOT ANSWER: {service.error}"
        sources.add_row(name, service.provider or "-", state)
    cache = status.cache
    if cache is not None:
        if cache.backend != "redis":
            state = "in this process"
        elif cache.reachable:
            state = "answers"
        else:
            state = f"DOES NOT ANSWER: {cache.error}; check REDIS_URL"
        sources.add_row("cache", cache.backend, state)
    parts: list[Table | str] = [values, "", sources]
    if advice:
        parts += ["", "Advice:", *(f"  {item}" for item in advice)]
    return parts


def audit_table(rows: Sequence[dict[str, object]]) -> Table:
    """The customer's audit rows, newest first."""
    table = _table(
        "when (UTC)", "actor", "action", "outcome", "data", "correlation id", whole=("when (UTC)", "correlation id")
    )
    for row in rows:
        at = row["at"]
        when = at.strftime("%Y-%m-%d %H:%M:%S") if isinstance(at, datetime) else str(at)
        resources = row["resources"]
        data = ", ".join(str(r) for r in resources) if isinstance(resources, list) else ""
        table.add_row(
            when, str(row["actor"]), str(row["action"]), str(row["outcome"]), data, str(row["correlation_id"])
        )
    return table
