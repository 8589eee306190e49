"""The context function for the Fearvana app's real schema, with its coaching records.

Replaces ``integration.customer_context_data`` (revision 0001), which assumed an invented copy of the
app's tables. The new function reads the schema the app's own SQL creates: the enum compared as the
enum, challenge ids joined to the catalogue for their titles, nullable columns kept, the coaching
tables (Sacred Edge, commitments, patterns, wins, assessments, daily tasks, suggestions, conversation
recency), and the activity times that tell a new customer from an inactive one.

Fast under the app's policies: entries and coach_actions run a subquery per candidate row, so entries
are read per life level through the (level_id, ts desc) index, bounded by the time window, and never
counted over the customer's whole history.

``p_sections``: ``all`` (with the profile), ``activity`` (life areas and entries) or ``journey``
(everything else) — a partially cached context refreshes one half with the same code as a cold read.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from fearvana_integration.store.sqlscript import split_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = r"""
DROP FUNCTION IF EXISTS integration.customer_context_data(uuid, timestamptz, interval, integer, integer, integer);

-- The newest entry of one life level. Under the app's entries policy (a subquery per row) the planner
-- prefers a bitmap scan that reads — and checks the policy on — every entry of the level, then sorts;
-- an index scan stops at the first row the customer may see. Its own function, so that this one
-- planner setting applies to this one lookup.
CREATE OR REPLACE FUNCTION integration.newest_entry_at(p_level uuid) RETURNS timestamptz
LANGUAGE sql STABLE SECURITY INVOKER SET enable_bitmapscan = off AS $$
  SELECT e.ts FROM public.entries e WHERE e.level_id = p_level AND e.ts IS NOT NULL ORDER BY e.ts DESC LIMIT 1
$$;
GRANT EXECUTE ON FUNCTION integration.newest_entry_at(uuid) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION integration.customer_document(
  p_profile uuid,
  p_sections text,
  p_now timestamptz,
  p_history_start timestamptz,
  p_scoring_lookback interval,
  p_max_entries integer,
  p_max_actions integer,
  p_max_challenges integer
) RETURNS json
LANGUAGE plpgsql STABLE SECURITY INVOKER AS $$
DECLARE
  v_activity boolean := p_sections IN ('all', 'activity');
  v_journey boolean := p_sections IN ('all', 'journey');
  v_today date := (p_now AT TIME ZONE 'UTC')::date;
  -- Bounds computed once: under row-level security only leakproof conditions (a column compared with a
  -- value) reach the index before the policies; arithmetic inside a condition would keep it a filter
  -- evaluated after the app's per-row policy, on every row of the customer's history.
  v_tasks_from date := v_today - 8;
  v_tasks_to date := v_today + 2;
  v_month_ago timestamptz := p_now - interval '30 days';
BEGIN
RETURN (
WITH lv0 AS (
  SELECT l.id, l.category::text AS category, l.goal_jsonb, l.updated_at,
         s.current_streak, s.longest_streak, s.last_activity_date
  FROM public.life_levels l
  LEFT JOIN public.streaks s ON s.profile_id = l.profile_id AND s.category = l.category
  WHERE l.profile_id = p_profile
), recent AS (
  -- the history window of every area, newest first, through the (level_id, ts desc) index
  SELECT lv0.id AS level_id, lv0.category, e.id, e.ts, e.created_at, e.metric
  FROM lv0 CROSS JOIN LATERAL (
    SELECT e.id, e.ts, e.created_at, e.metric FROM public.entries e
    WHERE e.level_id = lv0.id AND e.ts >= p_history_start
    ORDER BY e.ts DESC, e.id
    LIMIT p_max_entries
  ) e
  WHERE v_activity
), lv AS (
  -- an area with nothing in the window: its newest entry, looked up on its own (the only lookup that
  -- reaches further back)
  SELECT lv0.*, newest.ts AS last_entry_at, least(p_history_start, newest.ts - p_scoring_lookback) AS window_start
  FROM lv0 CROSS JOIN LATERAL (
    SELECT CASE WHEN v_activity THEN
      coalesce((SELECT max(r.ts) FROM recent r WHERE r.level_id = lv0.id), integration.newest_entry_at(lv0.id))
    END AS ts
  ) newest
), en AS (
  SELECT x.id, x.category, x.ts, x.created_at, x.metric FROM (
    SELECT r.id, r.category, r.ts, r.created_at, r.metric FROM recent r
    UNION ALL
    -- an inactive area keeps the score of its last activity: the 14 days before its newest entry
    SELECT e.id, lv.category, e.ts, e.created_at, e.metric
    FROM lv CROSS JOIN LATERAL (
      SELECT e.id, e.ts, e.created_at, e.metric FROM public.entries e
      WHERE e.level_id = lv.id AND e.ts >= lv.window_start AND e.ts < p_history_start
      ORDER BY e.ts DESC, e.id
      LIMIT p_max_entries
    ) e
    WHERE v_activity AND lv.window_start < p_history_start
  ) x
  ORDER BY x.ts DESC, x.id
  LIMIT p_max_entries
), undated AS (
  SELECT x.category, x.ts, x.created_at, x.metric FROM (
    SELECT e.id, lv.category, e.ts, e.created_at, e.metric
    FROM lv CROSS JOIN LATERAL (
      SELECT e.id, e.ts, e.created_at, e.metric FROM public.entries e
      WHERE e.level_id = lv.id AND e.ts IS NULL
    ) e
    WHERE v_activity
  ) x
  ORDER BY x.created_at DESC NULLS LAST, x.id
  LIMIT 100
), ac AS (
  SELECT c.id, lv.category, c.ts, c.created_at, c.suggestion, c.completed, c.ai_metadata
  FROM lv JOIN public.coach_actions c ON c.level_id = lv.id
  WHERE v_journey
), xp AS (
  SELECT coalesce(sum(x.xp_amount), 0) AS total, max(x.created_at) AS last_at, count(*) > 0 AS any
  FROM public.spiral_xp_log x WHERE v_journey AND x.profile_id = p_profile
), cc AS (
  SELECT count(*) AS n, max(coalesce(c.completed_at, c.created_at)) AS last_at
  FROM public.challenge_completions c WHERE v_journey AND c.profile_id = p_profile
), cm AS (
  SELECT c.status, count(*) AS count, max(greatest(c.created_at, c.completed_at)) AS last_at
  FROM public.user_commitments c WHERE v_journey AND c.user_id = p_profile GROUP BY c.status
), asm AS (
  SELECT * FROM (
    SELECT 'user_spiral_assessments' AS source, a.spiral_level AS level, NULL::text AS secondary_level,
           a.confidence_score AS confidence, a.assessed_at
    FROM public.user_spiral_assessments a WHERE v_journey AND a.user_id = p_profile
    ORDER BY a.assessed_at DESC NULLS LAST LIMIT 1
  ) u
  UNION ALL
  SELECT * FROM (
    SELECT 'spiral_assessments', a.primary_level, a.secondary_level, NULL::integer, a.created_at
    FROM public.spiral_assessments a WHERE v_journey AND a.profile_id = p_profile
    ORDER BY a.created_at DESC NULLS LAST LIMIT 1
  ) s
)
SELECT json_build_object(
  'profile', CASE WHEN p_sections = 'all' THEN (
    SELECT to_json(x) FROM (
      SELECT p.id, p.email, p.display_name, p.avatar_url, p.created_at, cp.profile_id IS NOT NULL AS has_preferences,
             cp.time_zone, cp.email_opt_in, cp.email_frequency, cp.quiet_hours_start, cp.quiet_hours_end
      FROM public.profiles p LEFT JOIN integration.customer_preferences cp ON cp.profile_id = p.id
      WHERE p.id = p_profile
    ) x
  ) END,
  'categories', to_json(enum_range(NULL::public.life_level_category)::text[]),
  'levels', CASE WHEN v_activity THEN coalesce((SELECT json_agg(to_json(lv)) FROM lv), '[]'::json) END,
  -- entries are the bulk of the document: only what the context uses (no row ids)
  'entries', CASE WHEN v_activity THEN coalesce(
    (SELECT json_agg(json_build_object('category', en.category, 'ts', en.ts, 'metric', en.metric)
                     ORDER BY en.ts DESC, en.id)
     FROM en),
    '[]'::json) END,
  'undated_entries', CASE WHEN v_activity THEN coalesce((SELECT json_agg(to_json(undated)) FROM undated), '[]'::json)
    END,
  'actions', CASE WHEN v_journey THEN coalesce((
    SELECT json_agg(to_json(x)) FROM (
      SELECT * FROM ac ORDER BY coalesce(ac.ts, ac.created_at) DESC NULLS LAST, ac.id LIMIT p_max_actions
    ) x), '[]'::json) END,
  'supplements', CASE WHEN v_journey THEN coalesce((
    SELECT json_agg(to_json(x) ORDER BY x.name COLLATE "C", x.id) FROM (
      SELECT s.id, s.name, s.qty_on_hand, s.dosage_schema FROM public.supplements s
      WHERE s.profile_id = p_profile AND (s.qty_on_hand > 0 OR s.qty_on_hand IS NULL)
    ) x), '[]'::json) END,
  'spiral', CASE WHEN v_journey THEN json_build_object(
    'current_step', (SELECT j.current_step FROM public.spiral_journey_states j WHERE j.profile_id = p_profile),
    'step_progress', (SELECT j.step_progress FROM public.spiral_journey_states j WHERE j.profile_id = p_profile),
    'current_level', (SELECT sp.current_level FROM public.spiral_progress sp WHERE sp.profile_id = p_profile),
    'total_xp', (SELECT xp.total FROM xp)
  ) END,
  'challenges', CASE WHEN v_journey THEN coalesce((
    SELECT json_agg(to_json(x)) FROM (
      SELECT c.challenge_id, g.title, c.completed_at, c.created_at, c.xp_earned
      FROM public.challenge_completions c
      LEFT JOIN public.growth_challenges g ON g.id = c.challenge_id AND g.is_active IS TRUE
      WHERE c.profile_id = p_profile
      ORDER BY coalesce(c.completed_at, c.created_at) DESC NULLS LAST, c.id
      LIMIT p_max_challenges
    ) x), '[]'::json) END,
  'challenge_count', CASE WHEN v_journey THEN (SELECT cc.n FROM cc) END,
  'sacred_edge', CASE WHEN v_journey THEN (
    SELECT to_json(x) FROM (
      SELECT se.description, se.root_fear, se.deeper_purpose, se.identified_date, se.updated_at, se.status,
             CASE WHEN jsonb_typeof(se.experiments) = 'array' THEN jsonb_array_length(se.experiments) END
               AS experiments_count,
             CASE WHEN jsonb_typeof(se.experiments) = 'array' THEN se.experiments -> -1 END AS latest_experiment
      FROM public.user_sacred_edges se WHERE se.user_id = p_profile
      ORDER BY se.updated_at DESC NULLS LAST LIMIT 1
    ) x) END,
  'commitments', CASE WHEN v_journey THEN coalesce((
    SELECT json_agg(to_json(x)) FROM (
      SELECT c.id, c.description, c.created_at, c.due_date, c.status, c.follow_up_count
      FROM public.user_commitments c WHERE c.user_id = p_profile AND c.status = 'pending'
      ORDER BY c.due_date ASC NULLS LAST, c.created_at DESC NULLS LAST, c.id
      LIMIT 5
    ) x), '[]'::json) END,
  'overdue_commitments', CASE WHEN v_journey THEN (
    SELECT count(*) FROM public.user_commitments c
    WHERE c.user_id = p_profile AND c.status = 'pending' AND c.due_date < p_now) END,
  'commitment_counts', CASE WHEN v_journey THEN coalesce(
    (SELECT json_agg(json_build_object('status', cm.status, 'count', cm.count)) FROM cm), '[]'::json) END,
  'patterns', CASE WHEN v_journey THEN coalesce((
    SELECT json_agg(to_json(x)) FROM (
      (SELECT p.id, p.pattern_type, p.description, p.occurrences, p.first_seen, p.last_seen, p.severity
       FROM public.user_patterns p WHERE p.user_id = p_profile AND p.pattern_type <> 'breakthrough'
       ORDER BY CASE p.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'low' THEN 2 ELSE 3 END,
                p.last_seen DESC NULLS LAST, p.occurrences DESC NULLS LAST, p.id
       LIMIT 3)
      UNION ALL
      (SELECT p.id, p.pattern_type, p.description, p.occurrences, p.first_seen, p.last_seen, p.severity
       FROM public.user_patterns p WHERE p.user_id = p_profile AND p.pattern_type = 'breakthrough'
       ORDER BY p.last_seen DESC NULLS LAST, p.id
       LIMIT 1)
    ) x), '[]'::json) END,
  'pattern_count', CASE WHEN v_journey THEN
    (SELECT count(*) FROM public.user_patterns p WHERE p.user_id = p_profile) END,
  'wins', CASE WHEN v_journey THEN coalesce((
    SELECT json_agg(to_json(x)) FROM (
      SELECT w.id, w.description, w.category, w.impact, w.created_at FROM public.user_wins w
      WHERE w.user_id = p_profile ORDER BY w.created_at DESC NULLS LAST, w.id LIMIT 3
    ) x), '[]'::json) END,
  'win_count', CASE WHEN v_journey THEN (SELECT count(*) FROM public.user_wins w WHERE w.user_id = p_profile) END,
  'assessments', CASE WHEN v_journey THEN coalesce((SELECT json_agg(to_json(asm)) FROM asm), '[]'::json) END,
  'tasks', CASE WHEN v_journey THEN coalesce((
    SELECT json_agg(to_json(x)) FROM (
      (SELECT t.id, t.title, t.description, t.points, t.completed, t.due_date, l.category::text AS category
       FROM public.daily_tasks t LEFT JOIN public.life_levels l ON l.id = t.level_id
       WHERE t.profile_id = p_profile AND t.due_date BETWEEN v_tasks_from AND v_tasks_to)
      UNION ALL
      (SELECT t.id, t.title, t.description, t.points, t.completed, t.due_date, l.category::text
       FROM public.daily_tasks t LEFT JOIN public.life_levels l ON l.id = t.level_id
       WHERE t.profile_id = p_profile AND t.due_date < v_tasks_from AND t.completed IS NOT TRUE
       ORDER BY t.due_date DESC LIMIT 10)
    ) x), '[]'::json) END,
  'suggestions', CASE WHEN v_journey THEN coalesce((
    SELECT json_agg(to_json(x)) FROM (
      SELECT s.id, s.title, s.description, s.estimated_time, s.difficulty, s.impact, s.suggestion_type,
             l.category::text AS category, s.created_at
      FROM public.enhanced_coach_suggestions s LEFT JOIN public.life_levels l ON l.id = s.level_id
      WHERE s.profile_id = p_profile AND s.dismissed IS NOT TRUE AND s.completed IS NOT TRUE
      ORDER BY s.created_at DESC NULLS LAST, s.id LIMIT 5
    ) x), '[]'::json) END,
  'suggestion_count', CASE WHEN v_journey THEN (
    SELECT count(*) FROM public.enhanced_coach_suggestions s
    WHERE s.profile_id = p_profile AND s.dismissed IS NOT TRUE AND s.completed IS NOT TRUE) END,
  'conversation', CASE WHEN v_journey THEN json_build_object(
    'last_at', (SELECT a.created_at FROM public.akshay_conversations a
                WHERE a.user_id = p_profile AND a.created_at IS NOT NULL ORDER BY a.created_at DESC LIMIT 1),
    'last_customer_turn_at', (SELECT a.created_at FROM public.akshay_conversations a
                WHERE a.user_id = p_profile AND a.role = 'user' AND a.created_at IS NOT NULL
                ORDER BY a.created_at DESC LIMIT 1),
    'turns_30d', (SELECT count(*) FROM public.akshay_conversations a
                  WHERE a.user_id = p_profile AND a.created_at >= v_month_ago),
    'days_30d', (SELECT count(DISTINCT (a.created_at AT TIME ZONE 'UTC')::date) FROM public.akshay_conversations a
                 WHERE a.user_id = p_profile AND a.created_at >= v_month_ago)
  ) END,
  'activity', CASE WHEN v_journey THEN json_build_object(
    'completed_action_at', (SELECT max(coalesce(ac.ts, ac.created_at)) FROM ac WHERE ac.completed),
    'any_completed_action', EXISTS (SELECT 1 FROM ac WHERE ac.completed),
    'completed_task_at', (SELECT coalesce(t.updated_at, t.due_date::timestamptz) FROM public.daily_tasks t
                          WHERE t.profile_id = p_profile AND t.completed
                          ORDER BY t.due_date DESC NULLS LAST LIMIT 1),
    'any_completed_task', EXISTS (SELECT 1 FROM public.daily_tasks t WHERE t.profile_id = p_profile AND t.completed),
    'challenge_at', (SELECT cc.last_at FROM cc),
    'any_challenge', (SELECT cc.n > 0 FROM cc),
    'xp_at', (SELECT xp.last_at FROM xp),
    'any_xp', (SELECT xp.any FROM xp),
    'commitment_at', (SELECT max(cm.last_at) FROM cm),
    'any_commitment', EXISTS (SELECT 1 FROM cm),
    'assessment_at', (SELECT max(asm.assessed_at) FROM asm),
    'any_assessment', EXISTS (SELECT 1 FROM asm)
  ) END
)
);
END
$$;
GRANT EXECUTE ON FUNCTION integration.customer_document(uuid, text, timestamptz, timestamptz, interval, integer,
  integer, integer) TO authenticated, service_role;
"""

DOWNGRADE = r"""
DROP FUNCTION IF EXISTS integration.customer_document(uuid, text, timestamptz, timestamptz, interval, integer,
  integer, integer);
DROP FUNCTION IF EXISTS integration.newest_entry_at(uuid);
"""


def upgrade() -> None:
    """Replace the context function."""
    for statement in split_sql(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    """Remove it (revision 0001's function is not restored: it cannot read the app's real schema)."""
    for statement in split_sql(DOWNGRADE):
        op.execute(statement)
