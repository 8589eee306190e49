"""The append-only guard of the SQLite audit log (Postgres has its own, in the Alembic migration).

Triggers refuse UPDATE always and DELETE unless the purge path has put a row into the guard table in
the same transaction (``audit purge`` does exactly that, and nothing else does).
"""

from __future__ import annotations

SQLITE_AUDIT_STATEMENTS: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS integration_audit_purge_guard (active INTEGER NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS integration_audit_log_no_update BEFORE UPDATE ON integration_audit_log "
    "BEGIN SELECT RAISE(ABORT, 'integration_audit_log is append-only (UPDATE refused)'); END",
    "CREATE TRIGGER IF NOT EXISTS integration_audit_log_no_delete BEFORE DELETE ON integration_audit_log "
    "WHEN NOT EXISTS (SELECT 1 FROM integration_audit_purge_guard) "
    "BEGIN SELECT RAISE(ABORT, 'integration_audit_log is append-only (DELETE refused)'); END",
)
