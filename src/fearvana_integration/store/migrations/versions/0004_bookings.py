"""Bookings by the caller's booking id (a retried booking returns the first), and the mock scheduling
platform's calendar (shared by every worker, kept across restarts).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from fearvana_integration.store.sqlscript import split_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE IF NOT EXISTS integration.bookings (
    booking_id text PRIMARY KEY,
    customer_id uuid NOT NULL,
    provider text NOT NULL,
    appointment text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS integration.mock_appointments (
    id text PRIMARY KEY,
    customer_id uuid NOT NULL,
    email text,
    type text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz NOT NULL,
    status text NOT NULL,
    notes text,
    outcome text,
    join_url text,
    booking_id text UNIQUE,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS mock_appointments_start_idx ON integration.mock_appointments (start_time);
CREATE INDEX IF NOT EXISTS mock_appointments_customer_idx ON integration.mock_appointments (customer_id, start_time);
-- Written on a customer's behalf by the service (bookings are audited); customers' own tokens see nothing.
ALTER TABLE integration.bookings ENABLE ROW LEVEL SECURITY;
ALTER TABLE integration.mock_appointments ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT ON integration.bookings TO service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON integration.mock_appointments TO service_role;
"""

DOWNGRADE = r"""
DROP TABLE IF EXISTS integration.mock_appointments;
DROP TABLE IF EXISTS integration.bookings;
"""


def upgrade() -> None:
    """Create the two tables."""
    for statement in split_sql(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    """Drop them."""
    for statement in split_sql(DOWNGRADE):
        op.execute(statement)
