"""Audit rows carry a unique event id: an event copied from the local spool twice (a crash between the
insert and noting how far the spool was copied) is written once.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from fearvana_integration.store.sqlscript import split_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = r"""
ALTER TABLE integration.audit_log ADD COLUMN IF NOT EXISTS event_id uuid;
CREATE UNIQUE INDEX IF NOT EXISTS audit_log_event_id_key ON integration.audit_log (event_id);
-- ON CONFLICT (event_id) needs to see that column; the writer still sees nothing of the rows' content.
GRANT SELECT (event_id) ON integration.audit_log TO integration_writer;
"""

DOWNGRADE = r"""
DROP INDEX IF EXISTS integration.audit_log_event_id_key;
ALTER TABLE integration.audit_log DROP COLUMN IF EXISTS event_id;
"""


def upgrade() -> None:
    """Add the event id."""
    for statement in split_sql(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    """Remove it."""
    for statement in split_sql(DOWNGRADE):
        op.execute(statement)
