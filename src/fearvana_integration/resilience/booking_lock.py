"""One booking at a time per coach calendar, across every worker and instance.

A platform cannot reserve a slot atomically (Google has no slots; Calendly and Acuity check at
create time with their own races), so "check the slot, then book it" must not interleave with
another booking of the same calendar. The lock is per calendar, not per slot: two slots of different
lengths can overlap (a 60-minute session at 09:00 and a 30-minute check-in at 09:30), and bookings
are rare enough that serialising them per coach costs nothing.

Where the lock lives follows the deployment: a PostgreSQL advisory lock when the store is Postgres
(every instance shares it), a Redis lock (SET NX with a token and an expiry) when only Redis is
shared, else a lock file beside the SQLite database (``fcntl`` byte-range locks: every worker on the
machine) together with an in-process lock (file locks belong to the process, not to a coroutine).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import redis.asyncio as aioredis
import sqlalchemy as sa
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from fearvana_integration.errors import ProviderUnavailable

WAIT_SECONDS = 15.0
HOLD_SECONDS = 60.0  # a Redis lock outlives a crashed holder by at most this long
POLL_SECONDS = 0.02
FILE_SLOTS = 1 << 16  # byte ranges in the lock file; distinct calendars rarely share one


def lock_key(calendar: str) -> int:
    """A stable signed 64-bit key for ``calendar`` (Postgres advisory locks take a bigint)."""
    digest = hashlib.blake2b(calendar.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _busy(calendar: str) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"Another booking in this calendar took longer than {WAIT_SECONDS:.0f} s; try again",
        source="scheduling",
        operation="book_appointment",
    )


class BookingLock(Protocol):
    """``async with lock.hold(calendar):`` — the one place a booking of ``calendar`` runs."""

    def hold(self, calendar: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Wait (up to ``WAIT_SECONDS``) for the calendar, then hold it for the block."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class _ProcessLocks:
    """asyncio locks by key, dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            try:
                async with asyncio.timeout(WAIT_SECONDS):
                    await lock.acquire()
            except TimeoutError:
                raise _busy(key) from None
            try:
                yield
            finally:
                lock.release()
        finally:
            self._release_user(key)

    def _release_user(self, key: str) -> None:
        lock, users = self._locks[key]
        if users <= 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)


class FileBookingLock:
    """Every worker on this machine (the embedded SQLite deployment): a byte-range lock per calendar."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = _ProcessLocks()
        self._fd: int | None = None

    def _descriptor(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    @contextlib.asynccontextmanager
    async def hold(self, calendar: str) -> AsyncIterator[None]:
        """In-process first (the file lock cannot tell two coroutines apart), then the file range."""
        async with self._local.hold(calendar):
            fd = self._descriptor()
            offset = lock_key(calendar) % FILE_SLOTS
            deadline = time.monotonic() + WAIT_SECONDS
            while True:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise _busy(calendar) from None
                    await asyncio.sleep(POLL_SECONDS)
            try:
                yield
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)

    async def aclose(self) -> None:
        """Close the lock file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class PostgresBookingLock:
    """A transaction-scoped advisory lock on the store's database: every instance, any pooler mode."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @contextlib.asynccontextmanager
    async def hold(self, calendar: str) -> AsyncIterator[None]:
        """The lock lives as long as the transaction (a crashed holder's connection releases it)."""
        try:
            async with self.engine.connect() as conn, conn.begin():
                await conn.execute(sa.text(f"SET LOCAL lock_timeout = '{int(WAIT_SECONDS * 1000)}ms'"))
                try:
                    await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(calendar)})
                except SQLAlchemyError as error:
                    if "lock timeout" in str(error).lower() or "55P03" in str(error):
                        raise _busy(calendar) from None
                    raise
                yield
        except SQLAlchemyError as error:
            raise ProviderUnavailable(
                f"The booking lock is unavailable: the database failed ({type(error).__name__})",
                source="scheduling",
                operation="book_appointment",
            ) from error

    async def aclose(self) -> None:
        """Nothing of its own: the engine belongs to the store."""


_UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisBookingLock:
    """A Redis lock (token + expiry, released only by its holder) shared by every instance."""

    def __init__(self, url: str, *, prefix: str = "fi:booking-lock:") -> None:
        self.client = aioredis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        self.prefix = prefix
        self._local = _ProcessLocks()

    @contextlib.asynccontextmanager
    async def hold(self, calendar: str) -> AsyncIterator[None]:
        """Poll SET NX until it is ours; a holder that died frees it after ``HOLD_SECONDS``."""
        key, token = self.prefix + hashlib.sha256(calendar.encode()).hexdigest()[:32], uuid.uuid4().hex
        async with self._local.hold(calendar):
            deadline = time.monotonic() + WAIT_SECONDS
            try:
                while not await self.client.set(key, token, nx=True, px=int(HOLD_SECONDS * 1000)):
                    if time.monotonic() > deadline:
                        raise _busy(calendar)
                    await asyncio.sleep(POLL_SECONDS)
            except RedisError as error:
                # Without the shared lock two instances could double-book: refuse rather than risk it.
                raise ProviderUnavailable(
                    f"The booking lock is unavailable: Redis failed ({type(error).__name__})",
                    source="scheduling",
                    operation="book_appointment",
                ) from error
            try:
                yield
            finally:
                with contextlib.suppress(RedisError):
                    await self.client.eval(_UNLOCK, 1, key, token)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()
