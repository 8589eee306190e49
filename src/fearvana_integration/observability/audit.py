"""The audit trail: every read and write of customer data, and every refused attempt, in an append-only
table — durable before the request is answered.

:meth:`AuditLog.commit` appends the event to this process's spool file on disk and waits for the
``fsync`` (one for every event that arrived meanwhile: group commit) before it returns; only then is
the request answered. A drainer copies spooled events into the table in batches, with a unique event
id so a copy repeated after a crash is written once; while the database is down the events wait on
disk, and a process that starts replays the spools of processes that died (``audit_spool.py``). When
neither the spool nor the database can take an event, :class:`AuditUnavailable` refuses the request:
never an answered request without its audit row.

On Postgres the rows are written as role ``integration_writer``, which may only INSERT; on both
backends triggers refuse UPDATE and DELETE, and rows leave only through :meth:`AuditLog.purge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
import structlog

from fearvana_integration.clock import Clock
from fearvana_integration.errors import AuditUnavailable, StoreUnavailable
from fearvana_integration.observability.audit_spool import Spool, SpoolFile, spool_directory
from fearvana_integration.store.repository import CustomerStore

log = structlog.get_logger("fearvana_integration.audit")
REPLAY_EVERY_SECONDS = 30.0
RETRY_MAX_SECONDS = 5.0

_actor: contextvars.ContextVar[str] = contextvars.ContextVar("audit_actor", default="library")
_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


@contextlib.contextmanager
def audit_context(*, actor: str | None = None, correlation_id: str | None = None) -> Iterator[None]:
    """Who is acting and under which correlation id, for every event recorded inside."""
    actor_token = _actor.set(actor) if actor is not None else None
    correlation_token = _correlation.set(correlation_id) if correlation_id is not None else None
    try:
        yield
    finally:
        if correlation_token is not None:
            _correlation.reset(correlation_token)
        if actor_token is not None:
            _actor.reset(actor_token)


def current_correlation_id() -> str:
    """The correlation id of the current request (a new one when none was set)."""
    return _correlation.get() or uuid.uuid4().hex


@dataclass(frozen=True)
class AuditEvent:
    """One read or write of customer data, or a refused attempt."""

    at: datetime
    actor: str
    customer_id: UUID | None
    action: str
    resources: tuple[str, ...]
    outcome: str
    detail: str | None = None
    correlation_id: str | None = None
    event_id: UUID = field(default_factory=uuid.uuid4)

    def row(self) -> dict[str, object]:
        """The table row."""
        return {
            "event_id": self.event_id,
            "at": self.at,
            "actor": self.actor,
            "customer_id": self.customer_id,
            "action": self.action,
            "resources": list(self.resources),
            "outcome": self.outcome,
            "detail": self.detail,
            "correlation_id": self.correlation_id,
        }

    def line(self) -> bytes:
        """The event as one spool line (JSON)."""
        document = {**self.row(), "event_id": str(self.event_id), "at": self.at.isoformat()}
        document["customer_id"] = str(self.customer_id) if self.customer_id else None
        return json.dumps(document, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_line(cls, document: dict[str, Any]) -> AuditEvent:
        """The event a spool line holds."""
        return cls(
            at=datetime.fromisoformat(document["at"]),
            actor=str(document["actor"]),
            customer_id=UUID(document["customer_id"]) if document.get("customer_id") else None,
            action=str(document["action"]),
            resources=tuple(document.get("resources") or ()),
            outcome=str(document["outcome"]),
            detail=document.get("detail"),
            correlation_id=document.get("correlation_id"),
            event_id=UUID(document["event_id"]),
        )


@dataclass
class AuditLog:
    """Durable audit writer: spool first, then the customer store's database."""

    store: CustomerStore
    clock: Clock
    spool_root: Path
    database_url: str = ""
    flush_seconds: float = 0.5
    batch_size: int = 500
    written: int = 0
    _spool: Spool | None = None
    _drainer: asyncio.Task[None] | None = None
    _draining: asyncio.Lock | None = None
    _closed: bool = False
    _replayed_at: float = field(default=-REPLAY_EVERY_SECONDS)

    @property
    def spool(self) -> Spool:
        """This process's spool (created on first use)."""
        if self._spool is None:
            self._spool = Spool(spool_directory(self.spool_root, self.database_url or str(self.store.url)))
        return self._spool

    async def commit(
        self,
        action: str,
        *,
        customer_id: UUID | None,
        resources: Sequence[str] = (),
        outcome: str = "ok",
        detail: str | None = None,
        actor: str | None = None,
    ) -> None:
        """Record one event durably; returns only once it is on disk (or in the table).

        Raises :class:`AuditUnavailable` when neither the spool nor the database can take it: the
        caller must then refuse the request rather than answer it unaudited.
        """
        event = AuditEvent(
            at=self.clock.now(),
            actor=actor or _actor.get(),
            customer_id=customer_id,
            action=action,
            resources=tuple(resources),
            outcome=outcome,
            detail=detail,
            correlation_id=current_correlation_id(),
        )
        try:
            await self.spool.append(event.line())
        except OSError as spool_error:
            log.error("audit spool not writable; writing to the table directly", error=str(spool_error))
            try:
                await self._insert([event])
            except StoreUnavailable as store_error:
                raise AuditUnavailable(
                    "The audit trail cannot record this request (its spool and the database both fail), so it "
                    "is refused rather than answered unaudited"
                ) from store_error
            return
        self._ensure_drainer()

    def _ensure_drainer(self) -> None:
        if self._closed or (self._drainer is not None and not self._drainer.done()):
            return
        # A fresh context: this task outlives the request that started it and must not carry its ids.
        self._drainer = asyncio.get_running_loop().create_task(
            self._drain_loop(), name="audit-drainer", context=contextvars.Context()
        )

    async def _drain_loop(self) -> None:
        delay = self.flush_seconds
        while not self._closed:
            appended = self.spool.appended
            try:
                await self.flush()
                delay = self.flush_seconds
            except StoreUnavailable as error:
                log.warning("audit rows wait in the spool: the database is unavailable", error=str(error))
                delay = min(delay * 2, RETRY_MAX_SECONDS)
            if appended is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await appended.wait()
                appended.clear()
            else:
                await asyncio.sleep(delay)

    async def flush(self) -> int:
        """Copy every spooled event (this process's, and those of processes that died) into the table;
        returns how many rows were written. Raises StoreUnavailable when the database cannot take them."""
        if self._draining is None:
            self._draining = asyncio.Lock()
        async with self._draining:  # two drains at once would copy the same lines twice
            total = 0
            now = asyncio.get_running_loop().time()
            if now - self._replayed_at >= REPLAY_EVERY_SECONDS:
                total += await self._replay_orphans()
                self._replayed_at = now
            own = self.spool.own
            if own is not None:
                total += await self._drain_file(own)
                self.spool.rotate_if_drained()
            return total

    async def _drain_file(self, spooled: SpoolFile) -> int:
        total = 0
        while True:
            lines, end = spooled.read_from(spooled.copied, self.batch_size)
            if not lines:
                return total
            written = await self._insert([AuditEvent.from_line(line) for line in lines])
            spooled.copied = end
            total += written

    async def _replay_orphans(self) -> int:
        if not self.spool.directory.exists():
            return 0
        total = 0
        for orphan, lock in self.spool.orphans():
            try:
                total += await self._drain_file(orphan)
                orphan.path.unlink()
                log.info("replayed the audit spool of a process that stopped", file=orphan.path.name, rows=total)
            finally:
                lock.close()
        return total

    async def _insert(self, events: Sequence[AuditEvent]) -> int:
        """Insert rows, skipping event ids already in the table; how many were new."""
        async with self.store.transaction(None, role="integration_writer") as conn:
            if self.store.backend == "postgres":
                result = await conn.execute(_PG_INSERT, _columns(events))
            else:
                statement = sa.insert(self.store.tables.audit_log).prefix_with("OR IGNORE")
                result = await conn.execute(statement, [event.row() for event in events])
        written = max(result.rowcount, 0) if result.rowcount is not None else len(events)
        self.written += written
        return written

    async def aclose(self) -> None:
        """Stop the drainer and copy what is left; what cannot be copied stays in the spool (replayed
        by the next process), so a shutdown loses nothing either way."""
        self._closed = True
        if self._drainer is not None and not self._drainer.done():
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
        if self._spool is None:
            return
        try:
            await self.flush()
        except StoreUnavailable as error:
            log.warning("audit rows stay in the spool until the database is back", error=str(error))
        self._spool.close()

    async def purge(self, older_than: timedelta) -> int:
        """Delete rows older than ``older_than`` — the only way rows leave — and audit the purge."""
        cutoff = self.clock.now() - older_than
        if self.store.backend == "postgres":
            async with self.store.transaction(None, role="service_role") as conn:
                removed = (
                    await conn.execute(sa.text("SELECT integration.purge_audit(:age)"), {"age": older_than})
                ).scalar_one()
        else:
            table = self.store.tables.audit_log
            async with self.store.transaction(None) as conn:
                await conn.execute(sa.text("INSERT INTO integration_audit_purge_guard (active) VALUES (1)"))
                result = await conn.execute(sa.delete(table).where(table.c.at < cutoff))
                await conn.execute(sa.text("DELETE FROM integration_audit_purge_guard"))
                removed = result.rowcount
        await self.commit("audit.purge", customer_id=None, resources=("audit_log",), detail=f"removed {removed} rows")
        await self.flush()
        return int(removed)

    async def show(self, customer_id: UUID, limit: int = 100) -> list[dict[str, object]]:
        """The customer's newest audit rows (read as service_role on Postgres; the reading is audited)."""
        await self.commit("audit.show", customer_id=customer_id, resources=("audit_log",), detail="service_role")
        await self.flush()
        table = self.store.tables.audit_log
        query = (
            sa.select(table)
            .where(table.c.customer_id == customer_id)
            .order_by(table.c.at.desc(), table.c.id.desc())
            .limit(limit)
        )
        async with self.store.transaction(None, role="service_role") as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]


# One statement for a whole batch, skipping event ids the table has (the writer role may see only that
# column of the table: enough for the conflict check, nothing of the rows' content).
_PG_INSERT = sa.text(
    "INSERT INTO integration.audit_log "
    "(event_id, at, actor, customer_id, action, resources, outcome, detail, correlation_id) "
    "SELECT e.event_id, e.at, e.actor, e.customer_id, e.action, "
    "ARRAY(SELECT json_array_elements_text(e.resources)), e.outcome, e.detail, e.correlation_id "
    "FROM unnest(CAST(:event_ids AS uuid[]), CAST(:ats AS timestamptz[]), CAST(:actors AS text[]), "
    "CAST(:customers AS uuid[]), CAST(:actions AS text[]), CAST(:resources AS json[]), CAST(:outcomes AS text[]), "
    "CAST(:details AS text[]), CAST(:correlations AS text[])) "
    "AS e(event_id, at, actor, customer_id, action, resources, outcome, detail, correlation_id) "
    "ON CONFLICT (event_id) DO NOTHING"
)


def _columns(events: Sequence[AuditEvent]) -> dict[str, list[Any]]:
    return {
        "event_ids": [e.event_id for e in events],
        "ats": [e.at for e in events],
        "actors": [e.actor for e in events],
        "customers": [e.customer_id for e in events],
        "actions": [e.action for e in events],
        "resources": [json.dumps(list(e.resources)) for e in events],
        "outcomes": [e.outcome for e in events],
        "details": [e.detail for e in events],
        "correlations": [e.correlation_id for e in events],
    }
