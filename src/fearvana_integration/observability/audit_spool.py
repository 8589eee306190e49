"""The audit trail's local spool: an append-only file per process, on disk before a request is answered.

Every audit event is appended to this process's spool file and made durable (``fsync``) before the
request it records is answered; one ``fsync`` serves every event that arrived while the previous one
ran (group commit). A drainer copies the spooled events into the audit table in batches — while the
database is down they simply wait on disk — and a process that starts replays the files of processes
that died (their ``flock`` is gone). The table has a unique event id, so an event copied twice (a
crash between the insert and the note of how far the file was copied) is written once.

Files live in ``AUDIT_SPOOL_DIR/<database>/``: one directory per database, so a spool is never
replayed into another database. A file whose events are all in the table is deleted when it is
closed or grown past ``ROTATE_BYTES``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog

log = structlog.get_logger("fearvana_integration.audit")
ROTATE_BYTES = 4 * 1024 * 1024


def spool_directory(root: Path, database_url: str) -> Path:
    """The spool directory of one database: a hash of its URL without the password."""
    safe = database_url.split("@", 1)[-1] if "@" in database_url else database_url
    digest = hashlib.sha256(safe.encode()).hexdigest()[:16]
    return root / digest


@dataclass
class SpoolFile:
    """One spool file: its path, how far its events are known to be in the table, its lock."""

    path: Path
    handle: IO[bytes] | None = None
    copied: int = 0  # bytes whose events are in the table

    def size(self) -> int:
        """Bytes written so far."""
        return self.path.stat().st_size if self.path.exists() else 0

    def read_from(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Up to ``limit`` whole event lines from ``offset``; the offset after the last one read.

        A line that does not parse (a torn write of a process that died mid-line) ends the readable
        part: nothing after it was acknowledged.
        """
        events: list[dict[str, Any]] = []
        with self.path.open("rb") as reader:
            reader.seek(offset)
            position = offset
            for raw in reader:
                if not raw.endswith(b"\n") or len(events) >= limit:
                    break
                try:
                    events.append(json.loads(raw))
                except json.JSONDecodeError:
                    log.error("unreadable audit spool line: stopping there", file=str(self.path), offset=position)
                    break
                position += len(raw)
        return events, position


@dataclass
class Spool:
    """This process's spool file (exclusively locked) and the group-committing appender."""

    directory: Path
    own: SpoolFile | None = None
    _queue: list[tuple[bytes, asyncio.Future[None]]] = field(default_factory=list)
    _appender: asyncio.Task[None] | None = None
    _wake: asyncio.Event | None = None
    appended: asyncio.Event | None = None  # set after each durable write (the drainer waits on it)

    def open(self) -> None:
        """Create the directory and this process's file, locked for as long as the process lives."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"audit-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        handle = path.open("ab")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.own = SpoolFile(path, handle)

    def orphans(self) -> Iterator[tuple[SpoolFile, IO[bytes]]]:
        """Files of processes that are gone (their lock can be taken), each with the lock held."""
        for path in sorted(self.directory.glob("audit-*.jsonl")):
            if self.own is not None and path == self.own.path:
                continue
            try:
                handle = path.open("rb+")
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()  # a live process owns it
                continue
            yield SpoolFile(path), handle

    async def append(self, line: bytes) -> None:
        """Append one event line; returns once it is on disk (raises OSError when it cannot be)."""
        if self.own is None:
            self.open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.append((line, future))
        if self._appender is None or self._appender.done():
            self._wake = asyncio.Event()
            self.appended = self.appended or asyncio.Event()
            # A fresh context: this task outlives the request that started it and must not carry its ids.
            self._appender = loop.create_task(self._append_loop(), name="audit-spool", context=contextvars.Context())
        assert self._wake is not None
        self._wake.set()
        await future

    async def _append_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._queue:
                continue
            batch, self._queue = self._queue, []
            try:
                await asyncio.to_thread(self._write, b"".join(line for line, _ in batch))
            except OSError as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
            if self.appended is not None:
                self.appended.set()

    def _write(self, data: bytes) -> None:
        own = self.own
        if own is None or own.handle is None:
            raise OSError("the audit spool file is closed")
        own.handle.write(data)
        own.handle.flush()
        os.fsync(own.handle.fileno())

    def rotate_if_drained(self, *, force: bool = False) -> None:
        """Start a new file when every event of this one is in the table and it has grown (or ``force``)."""
        own = self.own
        if own is None or own.handle is None or self._queue:
            return
        size = own.size()
        if own.copied < size or (size < ROTATE_BYTES and not force):
            return
        with contextlib.suppress(OSError):
            own.path.unlink()
        own.handle.close()
        self.own = None

    def close(self) -> None:
        """Stop appending; the file stays (and is replayed) unless every event of it is in the table."""
        if self._appender is not None:
            self._appender.cancel()
        self.rotate_if_drained(force=True)
        if self.own is not None and self.own.handle is not None:
            self.own.handle.close()
        with contextlib.suppress(OSError):
            self.directory.rmdir()  # only when empty: a spool left for replay keeps it
