"""The audit trail: every read and write of customer data, in an append-only table.

Recording is a list append — the request never waits for the database. A background task writes
the pending events in batches (every ``flush_seconds`` or ``batch_size`` events); a write that fails
is retried, and ``aclose()`` writes whatever is left, so nothing is lost on a clean shutdown. On
Postgres the rows are written as role ``integration_writer``, which may only INSERT; on both backends
triggers refuse UPDATE and DELETE, and rows leave only through :meth:`AuditLog.purge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

import sqlalchemy as sa
import structlog

from fearvana_integration.clock import Clock
from fearvana_integration.errors import StoreUnavailable
from fearvana_integration.store.repository import CustomerStore

log = structlog.get_logger("fearvana_integration.audit")
MAX_PENDING = 100_000
_COPY_COLUMNS = ("at", "actor", "customer_id", "action", "resources", "outcome", "detail", "correlation_id")

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
    """One read or write of customer data."""

    at: datetime
    actor: str
    customer_id: UUID | None
    action: str
    resources: tuple[str, ...]
    outcome: str
    detail: str | None = None
    correlation_id: str | None = None

    def record(self) -> tuple[object, ...]:
        """The row as a COPY record, in ``_COPY_COLUMNS`` order."""
        return (
            self.at,
            self.actor,
            self.customer_id,
            self.action,
            list(self.resources),
            self.outcome,
            self.detail,
            self.correlation_id,
        )

    def row(self) -> dict[str, object]:
        """The table row."""
        return {
            "at": self.at,
            "actor": self.actor,
            "customer_id": self.customer_id,
            "action": self.action,
            "resources": list(self.resources),
            "outcome": self.outcome,
            "detail": self.detail,
            "correlation_id": self.correlation_id,
        }


@dataclass
class AuditLog:
    """Batched, append-only audit writer over the customer store's database."""

    store: CustomerStore
    clock: Clock
    flush_seconds: float = 0.5
    batch_size: int = 500
    pending: list[AuditEvent] = field(default_factory=list)
    written: int = 0
    _task: asyncio.Task[None] | None = None
    _wake: asyncio.Event | None = None
    _flushing: asyncio.Lock | None = None
    _closed: bool = False

    def record(
        self,
        action: str,
        *,
        customer_id: UUID | None,
        resources: Sequence[str] = (),
        outcome: str = "ok",
        detail: str | None = None,
    ) -> None:
        """Queue one event (never blocks, never raises)."""
        if len(self.pending) >= MAX_PENDING:
            log.error("audit backlog full: dropping the oldest event", pending=len(self.pending))
            self.pending.pop(0)
        self.pending.append(
            AuditEvent(
                at=self.clock.now(),
                actor=_actor.get(),
                customer_id=customer_id,
                action=action,
                resources=tuple(resources),
                outcome=outcome,
                detail=detail,
                correlation_id=current_correlation_id(),
            )
        )
        self._ensure_writer()

    def _ensure_writer(self) -> None:
        if self._closed:
            return
        if self._task is None or self._task.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (sync caller): aclose() or the next async record writes it
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._writer(), name="audit-writer")
        if len(self.pending) >= self.batch_size and self._wake is not None:
            self._wake.set()

    async def _writer(self) -> None:
        while not self._closed:
            assert self._wake is not None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_seconds):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except StoreUnavailable as error:
                log.warning("audit write failed; will retry", error=str(error), pending=len(self.pending))

    async def flush(self) -> int:
        """Write every pending event now; returns how many were written."""
        if self._flushing is None:
            self._flushing = asyncio.Lock()
        async with self._flushing:  # two flushes at once would write the same batch twice
            return await self._flush()

    async def _flush(self) -> int:
        total = 0
        while self.pending:
            batch = self.pending[: self.batch_size]
            table = self.store.tables.audit_log
            async with self.store.transaction(None, role="integration_writer") as conn:
                if self.store.backend == "postgres":
                    # COPY: one round trip and far less work than a multi-row INSERT, so a flush
                    # barely delays the reads sharing the event loop.
                    raw = await conn.get_raw_connection()
                    try:
                        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                            "audit_log",
                            schema_name="integration",
                            columns=_COPY_COLUMNS,
                            records=[e.record() for e in batch],
                        )
                    except Exception as error:  # the driver's own errors: SQLAlchemy does not wrap COPY
                        if not hasattr(error, "sqlstate"):
                            raise
                        raise self.store.unavailable(error) from error
                else:
                    await conn.execute(sa.insert(table), [event.row() for event in batch])
            del self.pending[: len(batch)]
            total += len(batch)
        self.written += total
        return total

    async def aclose(self) -> None:
        """Stop the writer and write what is left (a clean shutdown loses nothing)."""
        self._closed = True
        if self._task is not None and not self._task.done():
            # Let a write in progress finish (cancelling it mid-transaction would leave the database
            # driver's worker answering a loop that may be gone), then stop the writer.
            if self._wake is not None:
                self._wake.set()
            try:
                async with asyncio.timeout(10):
                    await asyncio.shield(self._task)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        try:
            await self.flush()
        except StoreUnavailable as error:
            log.warning("audit events could not be written at shutdown", error=str(error), lost=len(self.pending))

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
        self.record("audit.purge", customer_id=None, resources=("audit_log",), detail=f"removed {removed} rows")
        await self.flush()
        return int(removed)

    async def show(self, customer_id: UUID, limit: int = 100) -> list[dict[str, object]]:
        """The customer's newest audit rows (read as service_role on Postgres; the reading is audited)."""
        self.record("audit.show", customer_id=customer_id, resources=("audit_log",), detail="service_role")
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
