"""Schema integration: preferences, meta, the append-only audit log, the context function.

Never touches the product's tables, roles or policies. Creates one role of its own,
``integration_writer``, which may only INSERT audit rows; deletes go through
``integration.purge_audit`` (SECURITY DEFINER), callable by ``service_role`` only.

Revision ID: 0001
Revises:
"""

from alembic import op

from fearvana_integration.store.sqlscript import split_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE IF NOT EXISTS integration.meta (
  key text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE IF NOT EXISTS integration.customer_preferences (
  profile_id uuid PRIMARY KEY,
  time_zone text NOT NULL DEFAULT 'UTC',
  email_opt_in boolean NOT NULL DEFAULT true,
  email_frequency text NOT NULL DEFAULT 'weekly',
  quiet_hours_start time,
  quiet_hours_end time,
  updated_at timestamptz
);
ALTER TABLE integration.customer_preferences ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS own_rows ON integration.customer_preferences;
CREATE POLICY own_rows ON integration.customer_preferences FOR ALL TO authenticated
  USING (auth.uid() = profile_id) WITH CHECK (auth.uid() = profile_id);

CREATE TABLE IF NOT EXISTS integration.audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  customer_id uuid,
  action text NOT NULL,
  resources text[] NOT NULL DEFAULT '{}',
  outcome text NOT NULL,
  detail text,
  correlation_id text
);
CREATE INDEX IF NOT EXISTS audit_log_customer_at_idx ON integration.audit_log (customer_id, at DESC);
CREATE INDEX IF NOT EXISTS audit_log_at_idx ON integration.audit_log (at);

-- Append-only even for the table's owner: rows change only inside purge_audit().
CREATE OR REPLACE FUNCTION integration.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('integration.audit_purge', true) IS DISTINCT FROM 'on' OR TG_OP = 'UPDATE' THEN
    RAISE EXCEPTION 'integration.audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN OLD;
END $$;
DROP TRIGGER IF EXISTS audit_log_append_only ON integration.audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON integration.audit_log
  FOR EACH ROW EXECUTE FUNCTION integration.audit_log_append_only();

CREATE OR REPLACE FUNCTION integration.purge_audit(older_than interval) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = integration, pg_temp AS $$
DECLARE
  removed bigint;
BEGIN
  PERFORM set_config('integration.audit_purge', 'on', true);
  DELETE FROM integration.audit_log WHERE at < now() - older_than;
  GET DIAGNOSTICS removed = ROW_COUNT;
  PERFORM set_config('integration.audit_purge', 'off', true);
  RETURN removed;
END $$;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'integration_writer') THEN
    CREATE ROLE integration_writer NOLOGIN NOINHERIT;
  END IF;
END $$;
GRANT integration_writer TO CURRENT_USER;

REVOKE ALL ON integration.audit_log FROM PUBLIC;
GRANT USAGE ON SCHEMA integration TO integration_writer, authenticated, service_role;
GRANT INSERT ON integration.audit_log TO integration_writer;
GRANT USAGE ON SEQUENCE integration.audit_log_id_seq TO integration_writer;
GRANT SELECT ON integration.audit_log TO service_role;
REVOKE ALL ON FUNCTION integration.purge_audit(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION integration.purge_audit(interval) TO service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON integration.customer_preferences TO authenticated, service_role;
GRANT SELECT ON integration.meta TO authenticated, service_role;

-- Everything one context needs from the store, in one statement. SECURITY INVOKER: it runs with the
-- caller's role and claims, so row-level security filters it like any other query. plpgsql, not sql:
-- a plpgsql function's plan is kept per connection, a sql function's is made again on every call.
CREATE OR REPLACE FUNCTION integration.customer_context_data(
  p_profile uuid,
  p_history_start timestamptz,
  p_scoring_lookback interval,
  p_max_entries integer,
  p_max_actions integer,
  p_max_challenges integer
) RETURNS json
LANGUAGE plpgsql STABLE SECURITY INVOKER AS $$
BEGIN
RETURN (
WITH lv AS (
  SELECT l.id, l.category::text AS category, l.goal_jsonb, l.updated_at,
         s.current_streak, s.longest_streak, s.last_activity_date,
         coalesce(a.entry_count, 0) AS entry_count, a.last_entry_at
  FROM public.life_levels l
  LEFT JOIN public.streaks s ON s.profile_id = l.profile_id AND s.category = l.category::text
  LEFT JOIN LATERAL (
    SELECT count(*) AS entry_count, max(e.ts) AS last_entry_at FROM public.entries e WHERE e.level_id = l.id
  ) a ON true
  WHERE l.profile_id = p_profile
), en AS (
  SELECT e.id, e.level_id, lv.category, e.ts, e.metric
  FROM public.entries e JOIN lv ON lv.id = e.level_id
  WHERE e.ts >= p_history_start OR e.ts >= lv.last_entry_at - p_scoring_lookback
  ORDER BY e.ts DESC, e.id
  LIMIT p_max_entries
), ac AS (
  SELECT c.id, l.category::text AS category, c.ts, c.created_at, c.suggestion, c.completed, c.ai_metadata
  FROM public.coach_actions c JOIN public.life_levels l ON l.id = c.level_id
  WHERE l.profile_id = p_profile
  ORDER BY coalesce(c.ts, c.created_at) DESC, c.id
  LIMIT p_max_actions
), ch AS (
  SELECT c.challenge_id, c.completed_at FROM public.challenge_completions c
  WHERE c.profile_id = p_profile
  ORDER BY c.completed_at DESC, c.id
  LIMIT p_max_challenges
)
SELECT json_build_object(
  'profile', (
    SELECT to_json(x) FROM (
      SELECT p.id, p.email, p.display_name, p.avatar_url, p.created_at,
             cp.time_zone, cp.email_opt_in, cp.email_frequency, cp.quiet_hours_start, cp.quiet_hours_end
      FROM public.profiles p LEFT JOIN integration.customer_preferences cp ON cp.profile_id = p.id
      WHERE p.id = p_profile
    ) x
  ),
  'levels', coalesce((SELECT json_agg(to_json(lv)) FROM lv), '[]'::json),
  -- entries are the bulk of the document: only what the context uses (no row ids)
  'entries', coalesce(
    (SELECT json_agg(json_build_object('category', en.category, 'ts', en.ts, 'metric', en.metric)
                     ORDER BY en.ts DESC, en.id) FROM en),
    '[]'::json
  ),
  'actions', coalesce(
    (SELECT json_agg(to_json(ac) ORDER BY coalesce(ac.ts, ac.created_at) DESC, ac.id) FROM ac), '[]'::json
  ),
  'supplements', coalesce((
    SELECT json_agg(to_json(x) ORDER BY x.name) FROM (
      SELECT s.id, s.name, s.qty_on_hand, s.dosage_schema FROM public.supplements s
      WHERE s.profile_id = p_profile AND s.qty_on_hand > 0
    ) x
  ), '[]'::json),
  'spiral', json_build_object(
    'current_step', (SELECT j.current_step FROM public.spiral_journey_states j WHERE j.profile_id = p_profile),
    'step_progress', (SELECT j.step_progress FROM public.spiral_journey_states j WHERE j.profile_id = p_profile),
    'current_level', (SELECT sp.current_level FROM public.spiral_progress sp WHERE sp.profile_id = p_profile),
    'total_xp', (SELECT coalesce(sum(x.xp_amount), 0) FROM public.spiral_xp_log x WHERE x.profile_id = p_profile)
  ),
  'challenges', coalesce((SELECT json_agg(to_json(ch) ORDER BY ch.completed_at DESC) FROM ch), '[]'::json)
)
);
END
$$;
GRANT EXECUTE ON FUNCTION integration.customer_context_data(uuid, timestamptz, interval, integer, integer, integer)
  TO authenticated, service_role;
"""

DOWNGRADE = r"""
DROP FUNCTION IF EXISTS integration.customer_context_data(uuid, timestamptz, interval, integer, integer, integer);
DROP FUNCTION IF EXISTS integration.purge_audit(interval);
DROP TABLE IF EXISTS integration.audit_log;
DROP FUNCTION IF EXISTS integration.audit_log_append_only();
DROP TABLE IF EXISTS integration.customer_preferences;
DROP TABLE IF EXISTS integration.meta;
"""


def upgrade() -> None:
    """Create the project's schema objects."""
    for statement in split_sql(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    """Remove them (the role integration_writer stays: roles are cluster-wide)."""
    for statement in split_sql(DOWNGRADE):
        op.execute(statement)
