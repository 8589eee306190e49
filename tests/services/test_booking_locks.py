"""The booking lock on each kind of deployment: a lock file (every process on the machine), a Postgres
advisory lock and a Redis lock (every instance). A second holder of the same calendar waits; another
calendar does not; a holder that never lets go makes the others give up with a clear error."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fearvana_integration.config import load_settings
from fearvana_integration.errors import ProviderUnavailable
from fearvana_integration.resilience import booking_lock
from fearvana_integration.resilience.booking_lock import (
    BookingLock,
    FileBookingLock,
    PostgresBookingLock,
    RedisBookingLock,
)
from fearvana_integration.store.engine import create_engine
from tests.services.conftest import create_database, drop_database

HOLD = 0.6


async def _second_waits(first: BookingLock, second: BookingLock) -> None:
    """While ``first`` holds calendar A, ``second`` waits for A but gets B at once."""
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with first.hold("coach-a"):
            held.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await held.wait()
    started = time.monotonic()
    async with second.hold("coach-b"):
        assert time.monotonic() - started < HOLD / 2  # another calendar is free
    asyncio.get_running_loop().call_later(HOLD, release.set)
    started = time.monotonic()
    async with second.hold("coach-a"):
        waited = time.monotonic() - started
    await task
    assert waited >= HOLD * 0.8, waited


async def _gives_up(first: BookingLock, second: BookingLock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(booking_lock, "WAIT_SECONDS", 0.3)
    async with first.hold("coach-a"):
        with pytest.raises(ProviderUnavailable, match="Another booking in this calendar"):
            async with second.hold("coach-a"):
                pass


async def test_a_lock_file_serialises_the_processes_of_one_machine(tmp_path: Path) -> None:
    path = tmp_path / "calendar.lock"
    script = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from pathlib import Path
        from fearvana_integration.resilience.booking_lock import FileBookingLock
        async def main():
            async with FileBookingLock(Path({str(path)!r})).hold("coach-a"):
                print("held", flush=True)
                time.sleep({HOLD})
        asyncio.run(main())
        """
    )
    other = await asyncio.create_subprocess_exec(sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE)
    try:
        assert other.stdout is not None and (await other.stdout.readline()).strip() == b"held"
        lock = FileBookingLock(path)
        started = time.monotonic()
        async with lock.hold("coach-b"):
            assert time.monotonic() - started < HOLD / 2
        async with lock.hold("coach-a"):
            waited = time.monotonic() - started
        await lock.aclose()
    finally:
        await other.wait()
    assert waited >= HOLD * 0.6, waited


async def test_a_lock_file_serialises_coroutines_of_one_process_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = FileBookingLock(tmp_path / "calendar.lock")
    await _second_waits(lock, lock)
    await _gives_up(lock, lock, monkeypatch)
    await lock.aclose()


@pytest.fixture
async def postgres_locks() -> AsyncIterator[tuple[PostgresBookingLock, PostgresBookingLock]]:
    name = f"fitest_{uuid.uuid4().hex[:12]}"
    url = await create_database(name)
    settings = load_settings({"DATABASE_URL": url}, read_env_files=False)
    engines = [create_engine(settings), create_engine(settings)]  # two instances: two pools
    try:
        yield PostgresBookingLock(engines[0]), PostgresBookingLock(engines[1])
    finally:
        for engine in engines:
            await engine.dispose()
        await drop_database(name)


@pytest.mark.services
@pytest.mark.usefixtures("postgres_available")
async def test_a_postgres_advisory_lock_serialises_instances(
    postgres_locks: tuple[PostgresBookingLock, PostgresBookingLock], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = postgres_locks
    await _second_waits(first, second)
    await _gives_up(first, second, monkeypatch)


@pytest.mark.services
async def test_a_redis_lock_serialises_instances(
    redis_url: str, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = RedisBookingLock(redis_url, prefix=f"{namespace}:booking-lock:")
    second = RedisBookingLock(redis_url, prefix=f"{namespace}:booking-lock:")
    try:
        await _second_waits(first, second)
        await _gives_up(first, second, monkeypatch)
    finally:
        await first.aclose()
        await second.aclose()


async def test_an_unreachable_redis_refuses_the_booking_rather_than_risk_two() -> None:
    lock = RedisBookingLock("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(ProviderUnavailable, match="booking lock is unavailable"):
            async with lock.hold("coach-a"):
                pass
    finally:
        await lock.aclose()
