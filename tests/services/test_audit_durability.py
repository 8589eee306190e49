"""An answered request is an audited request: the service in its own process, PostgreSQL behind a
proxy the test cuts, and the process killed (SIGKILL) or stopped (SIGTERM) while the database is
down. After a restart every request that was answered has its audit row, exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from fearvana_integration.config import load_settings
from fearvana_integration.service.auth import mint_token
from fearvana_integration.store.demo import demo_customer_id
from fearvana_integration.store.engine import create_engine
from tests.services.conftest import drop_database, seeded_database
from tests.services.proxy import TcpProxy

pytestmark = [pytest.mark.services, pytest.mark.usefixtures("postgres_available"), pytest.mark.slow]
SECRET = "durability-test-secret-" + "x" * 32
DEMO = demo_customer_id("demo@fearvana.local")
SCRIPT = Path(sys.executable).parent / "fearvana-integration"


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    name = f"fitest_{uuid.uuid4().hex[:12]}"
    yield asyncio.run(seeded_database(name))
    asyncio.run(drop_database(name))


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy()
    await proxy.start()
    yield proxy
    await proxy.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _start(url: str, spool: Path, cwd: Path) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(
        {
            "DATABASE_URL": url,
            "SUPABASE_JWT_SECRET": SECRET,
            "AUDIT_SPOOL_DIR": str(spool),
            "MOCK_LATENCY_MS": "0",
            "LOG_LEVEL": "WARNING",
            "DB_CONNECT_TIMEOUT_SECONDS": "1",
            "STORE_TIMEOUT_MS": "1000",
        }
    )
    command = [str(SCRIPT), "serve", "--port", str(port)]
    server = await asyncio.to_thread(subprocess.Popen, command, cwd=cwd, env=env, stderr=subprocess.DEVNULL, text=True)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return server, base
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    server.kill()
    raise RuntimeError("the service did not start")


async def _answered(base: str, count: int, token: str) -> list[str]:
    """Context reads with our own correlation ids; the ids of those answered 200."""
    answered = []
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(count):
            request_id = uuid.uuid4().hex
            response = await client.get(
                f"{base}/api/customers/{DEMO}/context",
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
            )
            if response.status_code == 200:
                answered.append(request_id)
    return answered


async def _audited(url: str, correlation_ids: list[str]) -> dict[str, int]:
    engine = create_engine(load_settings({"DATABASE_URL": url}, read_env_files=False), pooled=False)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT correlation_id, count(*) FROM integration.audit_log "
                    "WHERE correlation_id = ANY(:ids) AND action = 'context.read' GROUP BY correlation_id"
                ),
                {"ids": correlation_ids},
            )
            return {row[0]: row[1] for row in rows}
    finally:
        await engine.dispose()


async def _replay(url: str, spool: Path, cwd: Path) -> None:
    """A later process with the same spool directory replays what the stopped one left."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update({"DATABASE_URL": url, "AUDIT_SPOOL_DIR": str(spool), "LOG_LEVEL": "ERROR"})
    command = [str(SCRIPT), "audit", "show", str(DEMO), "--limit", "1"]
    done = await asyncio.to_thread(
        subprocess.run, command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
async def test_every_answered_request_is_audited_after_a_crash_with_the_database_down(
    database: str, proxy: TcpProxy, tmp_path: Path, stop: signal.Signals
) -> None:
    spool = tmp_path / "spool"
    through_proxy = database.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    server, base = await _start(through_proxy, spool, tmp_path)
    token = mint_token(SECRET, subject=None, audience="authenticated")
    try:
        answered = await _answered(base, 20, token)  # the database up: context cached, rows written
        proxy.cut()  # the database is gone: contexts are served from the cache…
        answered += await _answered(base, 60, token)
        assert len(answered) >= 60, "the service must keep answering from its cache"
    finally:
        server.send_signal(stop)
        await asyncio.to_thread(server.wait, 30)
    assert list(spool.rglob("audit-*.jsonl")), "the events of the outage wait on disk"
    proxy.restore()
    await _replay(through_proxy, spool, tmp_path)  # the same DATABASE_URL, as a restarted service would have
    audited = await _audited(database, answered)
    assert set(audited) == set(answered), f"{len(set(answered) - set(audited))} answered requests not audited"
    assert set(audited.values()) == {1}, "each exactly once"
    assert not list(spool.rglob("audit-*.jsonl")), "a replayed spool is removed"


async def test_a_healthy_database_and_kill_9_loses_nothing_either(database: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    server, base = await _start(database, spool, tmp_path)
    token = mint_token(SECRET, subject=None, audience="authenticated")
    try:
        answered = await _answered(base, 40, token)
    finally:
        server.kill()  # no chance to write what was still on its way to the table
        await asyncio.to_thread(server.wait, 30)
    await _replay(database, spool, tmp_path)
    audited = await _audited(database, answered)
    assert set(audited) == set(answered) and set(audited.values()) == {1}
