"""The audit spool on its own: durable before commit returns, copied once, replayed after a crash,
and requests refused (never answered unaudited) when neither the spool nor the database can record."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from fearvana_integration import IntegrationManager
from fearvana_integration.errors import AuditUnavailable, StoreUnavailable
from fearvana_integration.observability.audit import AuditLog
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store.demo import demo_customer_id
from tests.conftest import SettingsFactory

DEMO = demo_customer_id("demo@fearvana.local")


def _rows(manager: IntegrationManager) -> int:
    return manager.runtime.audit.written


async def test_an_event_is_on_disk_when_commit_returns(make_settings: SettingsFactory, tmp_path: Path) -> None:
    manager = IntegrationManager(build_runtime(make_settings(AUDIT_SPOOL_DIR=str(tmp_path))))
    try:
        await manager.runtime.audit.commit("probe", customer_id=DEMO, resources=("x",))
        files = list(tmp_path.rglob("audit-*.jsonl"))
        assert len(files) == 1
        line = json.loads(files[0].read_bytes().splitlines()[-1])
        assert line["action"] == "probe" and line["customer_id"] == str(DEMO) and line["event_id"]
    finally:
        await manager.aclose()
    assert not list(tmp_path.rglob("audit-*.jsonl")), "a drained spool is removed at a clean close"


async def test_a_spool_copied_twice_is_written_once(make_settings: SettingsFactory, tmp_path: Path) -> None:
    settings = make_settings(AUDIT_SPOOL_DIR=str(tmp_path))
    manager = IntegrationManager(build_runtime(settings))
    audit = manager.runtime.audit
    try:
        for index in range(5):
            await audit.commit("probe", customer_id=DEMO, detail=str(index))
        await audit.flush()
        assert audit.written == 5
        own = audit.spool.own
        assert own is not None
        own.copied = 0  # as if the process died between the insert and noting it
        assert await audit.flush() == 0
        assert audit.written == 5
    finally:
        await manager.aclose()


async def test_the_spool_of_a_process_that_died_is_replayed(make_settings: SettingsFactory, tmp_path: Path) -> None:
    settings = make_settings(AUDIT_SPOOL_DIR=str(tmp_path))
    dead = IntegrationManager(build_runtime(settings))
    audit = dead.runtime.audit
    for index in range(3):
        await audit.commit("probe", customer_id=DEMO, detail=f"dead {index}")
    own = audit.spool.own
    assert own is not None and own.handle is not None
    if audit._drainer is not None:
        audit._drainer.cancel()
    own.handle.close()  # the lock goes with the process
    survivor = IntegrationManager(build_runtime(settings))
    try:
        replayed = await survivor.runtime.audit.flush()
        rows = await survivor.runtime.audit.show(DEMO, limit=50)
    finally:
        await survivor.aclose()
    # Its drainer may have copied some before it "died"; the survivor copies the rest, none twice.
    assert replayed == 3 - audit.written
    assert sorted(r["detail"] for r in rows if (r["detail"] or "").startswith("dead")) == ["dead 0", "dead 1", "dead 2"]
    assert not own.path.exists()


async def test_neither_spool_nor_database_means_refused_not_unaudited(
    make_settings: SettingsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "read-only"
    blocked.mkdir()
    os.chmod(blocked, stat.S_IRUSR | stat.S_IXUSR)
    if os.access(blocked, os.W_OK):  # root ignores permissions: use a file where a directory must go
        os.chmod(blocked, stat.S_IRWXU)
        blocked = tmp_path / "a-file"
        blocked.write_text("not a directory")
    manager = IntegrationManager(build_runtime(make_settings(AUDIT_SPOOL_DIR=str(blocked))))

    async def database_down(self: AuditLog, events: object) -> int:
        raise StoreUnavailable("The database connection failed")

    try:
        # The spool cannot be written: the event goes straight to the table…
        await manager.get_customer_context(DEMO)
        assert manager.runtime.audit.written >= 1
        # …and when the table cannot take it either, the request is refused.
        monkeypatch.setattr(AuditLog, "_insert", database_down)
        with pytest.raises(AuditUnavailable, match="refused rather than answered unaudited"):
            await manager.get_customer_context(DEMO)
    finally:
        monkeypatch.undo()
        await manager.aclose()
