-- A local copy of the Fearvana app's own schema, as the app's SQL creates it on Supabase: the same
-- tables, column types, defaults and nullability (a column with a default but no NOT NULL can hold
-- NULL), the 7-value enum, the sign-up trigger that creates a customer's rows, the indexes, and the
-- row-level security policies in the app's form (no role named: they apply to PUBLIC; entries and
-- coach_actions look up the owner through life_levels for every row). Tests run against this, so
-- that they see what customers' databases really hold. Idempotent on a database it prepared.
--
-- pgvector is not installed everywhere: where it is missing, journal_entries.embedding is a real[]
-- stand-in (the project never reads that column).

DO $$
BEGIN
  CREATE TYPE public.life_level_category AS ENUM (
    'mindset_maturity', 'family_relationships', 'money', 'fitness', 'health', 'skill_building', 'fun_joy'
  );
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

create table if not exists public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  email text not null unique,
  display_name text,
  avatar_url text,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

create table if not exists public.life_levels (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  category public.life_level_category not null,
  goal_jsonb jsonb not null default '{}',
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  unique (profile_id, category)
);

create table if not exists public.entries (
  id uuid primary key default uuid_generate_v4(),
  level_id uuid not null references public.life_levels (id) on delete cascade,
  ts timestamptz default now(),
  metric jsonb not null default '{}',
  created_at timestamptz default now()
);

create table if not exists public.coach_actions (
  id uuid primary key default uuid_generate_v4(),
  level_id uuid not null references public.life_levels (id) on delete cascade,
  ts timestamptz default now(),
  suggestion text not null,
  ai_metadata jsonb default '{}',
  completed boolean default false,
  created_at timestamptz default now()
);

create table if not exists public.supplements (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  name text not null,
  qty_on_hand integer default 0,
  dosage_schema jsonb default '{}',
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

create table if not exists public.daily_tasks (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  level_id uuid references public.life_levels (id) on delete cascade,
  title text not null,
  description text,
  points integer default 0,
  completed boolean default false,
  due_date date default current_date,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    CREATE EXTENSION IF NOT EXISTS vector;
    EXECUTE 'create table if not exists public.journal_entries (
      id uuid primary key default uuid_generate_v4(),
      profile_id uuid not null references public.profiles (id) on delete cascade,
      encrypted_content text not null,
      sentiment_score float,
      embedding vector(1536),
      created_at timestamptz default now(),
      updated_at timestamptz default now())';
  ELSE
    EXECUTE 'create table if not exists public.journal_entries (
      id uuid primary key default uuid_generate_v4(),
      profile_id uuid not null references public.profiles (id) on delete cascade,
      encrypted_content text not null,
      sentiment_score float,
      embedding real[],
      created_at timestamptz default now(),
      updated_at timestamptz default now())';
  END IF;
END $$;

create table if not exists public.streaks (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  category public.life_level_category not null,
  current_streak integer default 0,
  longest_streak integer default 0,
  last_activity_date date,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  unique (profile_id, category)
);

create table if not exists public.spiral_assessments (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  primary_level text not null,
  secondary_level text,
  level_scores jsonb default '{}',
  assessment_responses jsonb default '{}',
  insights jsonb default '{}',
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

create table if not exists public.spiral_progress (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  current_level text not null,
  progress_in_level integer default 0,
  unlocked_levels text[] default array[]::text[],
  level_completion_dates jsonb default '{}',
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  unique (profile_id)
);

create table if not exists public.enhanced_coach_suggestions (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  level_id uuid references public.life_levels (id) on delete cascade,
  title text not null,
  description text not null,
  action_items jsonb default '[]',
  estimated_time text,
  difficulty text check (difficulty in ('easy', 'medium', 'hard')),
  impact text check (impact in ('low', 'medium', 'high')),
  spiral_level text not null,
  aqal_quadrant text not null,
  developmental_insight text,
  next_level_prep text,
  suggestion_type text not null,
  completed boolean default false,
  dismissed boolean default false,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

create table if not exists public.financial_accounts (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  plaid_account_id text unique,
  account_name text not null,
  account_type text not null,
  balance decimal(12, 2),
  currency text default 'USD',
  last_synced timestamptz,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

create table if not exists public.wearable_integrations (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  provider text not null,
  access_token text,
  refresh_token text,
  last_synced timestamptz,
  is_active boolean default true,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  unique (profile_id, provider)
);

create table if not exists public.spiral_journey_states (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  current_step integer default 1,
  step_progress integer default 0,
  readiness_signals jsonb default '{}',
  problem_pressure_score integer default 0,
  cognitive_bandwidth_score integer default 100,
  window_opportunity_open boolean default false,
  next_level_glimpses_count integer default 0,
  supportive_container_strength integer default 0,
  practice_integration_score integer default 0,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  unique (profile_id)
);

create table if not exists public.growth_challenges (
  id uuid primary key default uuid_generate_v4(),
  spiral_level text not null,
  target_step integer not null,
  challenge_type text not null,
  title text not null,
  description text not null,
  upgrade_tools jsonb default '[]',
  xp_reward integer default 10,
  difficulty_level integer default 1,
  estimated_time text default '15 minutes',
  success_criteria jsonb default '{}',
  is_active boolean default true,
  created_at timestamptz default now()
);

create table if not exists public.progression_triggers (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  trigger_type text not null,
  trigger_data jsonb default '{}',
  is_active boolean default true,
  fired_at timestamptz,
  created_at timestamptz default now()
);

create table if not exists public.level_transitions (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  from_level text not null,
  to_level text not null,
  transition_date timestamptz default now(),
  preparation_duration interval,
  integration_score integer default 0,
  success_indicators jsonb default '{}',
  is_completed boolean default false
);

create table if not exists public.challenge_completions (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  challenge_id uuid not null references public.growth_challenges (id) on delete cascade,
  completed_at timestamptz default now(),
  xp_earned integer default 0,
  quality_score integer,
  insights jsonb default '{}',
  created_at timestamptz default now()
);

create table if not exists public.spiral_xp_log (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  xp_type text not null,
  xp_amount integer not null,
  source_type text not null,
  source_id uuid,
  spiral_level text not null,
  description text,
  created_at timestamptz default now()
);

create table if not exists public.spiral_achievements (
  id uuid primary key default uuid_generate_v4(),
  profile_id uuid not null references public.profiles (id) on delete cascade,
  achievement_type text not null,
  achievement_name text not null,
  description text,
  spiral_level text,
  earned_at timestamptz default now(),
  metadata jsonb default '{}'
);

-- The coaching tables of the app's later migration (owner column user_id).
create table if not exists public.akshay_conversations (
  id uuid primary key default uuid_generate_v4(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  role text not null check (role in ('user', 'assistant')),
  content text not null,
  personality_score jsonb default null,
  spiral_level text default null,
  created_at timestamptz default now(),
  metadata jsonb default '{}'
);

create table if not exists public.user_sacred_edges (
  id uuid primary key default uuid_generate_v4(),
  user_id uuid not null unique references public.profiles (id) on delete cascade,
  description text not null,
  root_fear text default null,
  deeper_purpose text default null,
  identified_date timestamptz default now(),
  updated_at timestamptz default now(),
  experiments jsonb default '[]',
  status text default 'identified' check (status in ('identified', 'exploring', 'engaging', 'integrated'))
);

create table if not exists public.user_commitments (
  id uuid primary key default uuid_generate_v4(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  description text not null,
  created_at timestamptz default now(),
  due_date timestamptz default null,
  status text default 'pending' check (status in ('pending', 'completed', 'broken')),
  follow_up_count integer default 0,
  completed_at timestamptz default null,
  metadata jsonb default '{}'
);

create table if not exists public.user_patterns (
  id uuid primary key default uuid_generate_v4(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  pattern_type text not null
    check (pattern_type in ('avoidance', 'resistance', 'breakthrough', 'recurring_challenge')),
  description text not null,
  occurrences integer default 1,
  first_seen timestamptz default now(),
  last_seen timestamptz default now(),
  severity text default 'medium' check (severity in ('low', 'medium', 'high')),
  metadata jsonb default '{}'
);

create table if not exists public.user_spiral_assessments (
  id uuid primary key default uuid_generate_v4(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  spiral_level text not null
    check (spiral_level in ('beige', 'purple', 'red', 'blue', 'orange', 'green', 'yellow', 'turquoise', 'coral')),
  confidence_score integer not null check (confidence_score between 0 and 100),
  assessed_at timestamptz default now(),
  indicators jsonb default '{}',
  metadata jsonb default '{}'
);

create table if not exists public.user_wins (
  id uuid primary key default uuid_generate_v4(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  description text not null,
  category text default 'small_win' check (category in ('sacred_edge', 'commitment', 'breakthrough', 'small_win')),
  impact text default 'medium' check (impact in ('small', 'medium', 'large')),
  created_at timestamptz default now(),
  metadata jsonb default '{}'
);

-- Indexes, as the app creates them (note: none on supplements.profile_id).
create index if not exists idx_entries_level_id_ts on public.entries (level_id, ts desc);
create index if not exists idx_entries_ts on public.entries (ts desc);
create index if not exists idx_coach_actions_level_id on public.coach_actions (level_id);
create index if not exists idx_coach_actions_completed on public.coach_actions (completed);
create index if not exists idx_daily_tasks_profile_due on public.daily_tasks (profile_id, due_date);
create index if not exists idx_daily_tasks_completed on public.daily_tasks (completed);
create index if not exists idx_journal_entries_profile_created on public.journal_entries (profile_id, created_at desc);
create index if not exists idx_streaks_profile_category on public.streaks (profile_id, category);
create index if not exists idx_financial_accounts_profile on public.financial_accounts (profile_id);
create index if not exists idx_wearable_integrations_profile on public.wearable_integrations (profile_id);
create index if not exists idx_spiral_assessments_profile on public.spiral_assessments (profile_id);
create index if not exists idx_spiral_progress_profile on public.spiral_progress (profile_id);
create index if not exists idx_enhanced_coach_suggestions_profile on public.enhanced_coach_suggestions (profile_id);
create index if not exists idx_enhanced_coach_suggestions_level on public.enhanced_coach_suggestions (level_id);
create index if not exists idx_spiral_journey_states_profile on public.spiral_journey_states (profile_id);
create index if not exists idx_growth_challenges_level_step on public.growth_challenges (spiral_level, target_step);
create index if not exists idx_growth_challenges_active on public.growth_challenges (is_active);
create index if not exists idx_progression_triggers_profile on public.progression_triggers (profile_id);
create index if not exists idx_level_transitions_profile on public.level_transitions (profile_id);
create index if not exists idx_challenge_completions_profile on public.challenge_completions (profile_id);
create index if not exists idx_challenge_completions_challenge on public.challenge_completions (challenge_id);
create index if not exists idx_spiral_xp_log_profile on public.spiral_xp_log (profile_id);
create index if not exists idx_spiral_xp_log_level on public.spiral_xp_log (spiral_level);
create index if not exists idx_spiral_achievements_profile on public.spiral_achievements (profile_id);
create index if not exists idx_akshay_conversations_user_id on public.akshay_conversations (user_id);
create index if not exists idx_akshay_conversations_created_at on public.akshay_conversations (created_at desc);
create index if not exists idx_akshay_conversations_user_created on public.akshay_conversations (user_id, created_at desc);
create index if not exists idx_user_sacred_edges_user_id on public.user_sacred_edges (user_id);
create index if not exists idx_user_sacred_edges_status on public.user_sacred_edges (status);
create index if not exists idx_user_commitments_user_id on public.user_commitments (user_id);
create index if not exists idx_user_commitments_status on public.user_commitments (status);
create index if not exists idx_user_commitments_user_status on public.user_commitments (user_id, status);
create index if not exists idx_user_commitments_created_at on public.user_commitments (created_at desc);
create index if not exists idx_user_patterns_user_id on public.user_patterns (user_id);
create index if not exists idx_user_patterns_type on public.user_patterns (pattern_type);
create index if not exists idx_user_patterns_user_type on public.user_patterns (user_id, pattern_type);
create index if not exists idx_user_spiral_assessments_user_id on public.user_spiral_assessments (user_id);
create index if not exists idx_user_spiral_assessments_assessed_at on public.user_spiral_assessments (assessed_at desc);
create index if not exists idx_user_spiral_assessments_user_assessed
  on public.user_spiral_assessments (user_id, assessed_at desc);
create index if not exists idx_user_wins_user_id on public.user_wins (user_id);
create index if not exists idx_user_wins_category on public.user_wins (category);
create index if not exists idx_user_wins_created_at on public.user_wins (created_at desc);

-- Keeping updated_at current, as the app does.
create or replace function public.update_updated_at_column() returns trigger
language plpgsql as $$
begin
  new.updated_at = now();
  return new;
end $$;

DO $$
DECLARE
  tbl text;
BEGIN
  FOREACH tbl IN ARRAY array['profiles', 'life_levels', 'supplements', 'daily_tasks', 'journal_entries', 'streaks',
                             'financial_accounts', 'wearable_integrations', 'spiral_journey_states',
                             'user_sacred_edges']
  LOOP
    EXECUTE format('drop trigger if exists update_%s_updated_at on public.%I', tbl, tbl);
    EXECUTE format('create trigger update_%s_updated_at before update on public.%I '
                   'for each row execute function public.update_updated_at_column()', tbl, tbl);
  END LOOP;
END $$;

-- Sign-up: the app's trigger on auth.users creates the profile, the 7 life levels with default goals,
-- a streak row per area, the journey state (step 1) and spiral progress (level 'orange', the default).
create or replace function public.initialize_spiral_journey(user_id uuid, primary_level text default 'orange')
returns void language plpgsql security definer as $$
begin
  insert into public.spiral_journey_states (profile_id, current_step, cognitive_bandwidth_score)
  values (user_id, 1, 100)
  on conflict (profile_id) do nothing;
  insert into public.spiral_progress (profile_id, current_level, progress_in_level, unlocked_levels)
  values (user_id, primary_level, 0, array[primary_level]::text[])
  on conflict (profile_id) do nothing;
end $$;

create or replace function public.handle_new_user() returns trigger
language plpgsql security definer as $$
begin
  insert into public.profiles (id, email, display_name)
  values (new.id, new.email, new.raw_user_meta_data ->> 'display_name');
  insert into public.life_levels (profile_id, category, goal_jsonb) values
    (new.id, 'mindset_maturity', '{"meditation_minutes": 20, "gratitude_entries": 3, "goal_progress": 80}'),
    (new.id, 'family_relationships', '{"quality_time_hours": 2, "communication_score": 8}'),
    (new.id, 'money', '{"net_worth": 100000, "savings_rate": 20}'),
    (new.id, 'fitness', '{"weight": 180, "body_fat_percentage": 15, "workout_duration": 60}'),
    (new.id, 'health', '{"sleep_hours": 8, "sleep_quality": 8, "stress_level": 3}'),
    (new.id, 'skill_building', '{"study_hours": 1, "courses_completed": 1}'),
    (new.id, 'fun_joy', '{"leisure_hours": 2, "social_activities": 3}');
  insert into public.streaks (profile_id, category, current_streak, longest_streak)
  select new.id, area, 0, 0 from unnest(enum_range(null::public.life_level_category)) as area;
  perform public.initialize_spiral_journey(new.id, 'orange');
  return new;
end $$;

drop trigger if exists on_auth_user_created on auth.users;
create trigger on_auth_user_created after insert on auth.users
  for each row execute function public.handle_new_user();

-- Row-level security in the app's form: policies without a role (PUBLIC).
DO $$
DECLARE
  tbl text;
BEGIN
  FOREACH tbl IN ARRAY array['profiles', 'life_levels', 'entries', 'coach_actions', 'supplements', 'daily_tasks',
                             'journal_entries', 'streaks', 'financial_accounts', 'wearable_integrations',
                             'spiral_assessments', 'spiral_progress', 'enhanced_coach_suggestions',
                             'spiral_journey_states', 'growth_challenges', 'progression_triggers',
                             'level_transitions', 'challenge_completions', 'spiral_xp_log', 'spiral_achievements',
                             'akshay_conversations', 'user_sacred_edges', 'user_commitments', 'user_patterns',
                             'user_spiral_assessments', 'user_wins']
  LOOP
    EXECUTE format('alter table public.%I enable row level security', tbl);
  END LOOP;
  -- One "owner manages own rows" policy per table keyed on profile_id.
  FOREACH tbl IN ARRAY array['life_levels', 'supplements', 'daily_tasks', 'journal_entries', 'streaks',
                             'financial_accounts', 'wearable_integrations', 'spiral_assessments', 'spiral_progress',
                             'enhanced_coach_suggestions', 'spiral_journey_states', 'progression_triggers',
                             'level_transitions', 'challenge_completions', 'spiral_xp_log', 'spiral_achievements']
  LOOP
    EXECUTE format('drop policy if exists owner_all on public.%I', tbl);
    EXECUTE format('create policy owner_all on public.%I for all using (auth.uid() = profile_id)', tbl);
  END LOOP;
  -- Entries and coach actions find their owner through the life level: a subquery per row.
  FOREACH tbl IN ARRAY array['entries', 'coach_actions']
  LOOP
    EXECUTE format('drop policy if exists owner_all on public.%I', tbl);
    EXECUTE format('create policy owner_all on public.%I for all using '
                   '(auth.uid() = (select profile_id from public.life_levels where id = level_id))', tbl);
  END LOOP;
  -- The coaching tables: read and add own rows; some may also be updated.
  FOREACH tbl IN ARRAY array['akshay_conversations', 'user_sacred_edges', 'user_commitments', 'user_patterns',
                             'user_spiral_assessments', 'user_wins']
  LOOP
    EXECUTE format('drop policy if exists owner_select on public.%I', tbl);
    EXECUTE format('create policy owner_select on public.%I for select using (auth.uid() = user_id)', tbl);
    EXECUTE format('drop policy if exists owner_insert on public.%I', tbl);
    EXECUTE format('create policy owner_insert on public.%I for insert with check (auth.uid() = user_id)', tbl);
  END LOOP;
  FOREACH tbl IN ARRAY array['user_sacred_edges', 'user_commitments', 'user_patterns']
  LOOP
    EXECUTE format('drop policy if exists owner_update on public.%I', tbl);
    EXECUTE format('create policy owner_update on public.%I for update using (auth.uid() = user_id)', tbl);
  END LOOP;
END $$;

-- Profiles: read, change and create one's own; no delete.
drop policy if exists owner_select on public.profiles;
create policy owner_select on public.profiles for select using (auth.uid() = id);
drop policy if exists owner_update on public.profiles;
create policy owner_update on public.profiles for update using (auth.uid() = id);
drop policy if exists owner_insert on public.profiles;
create policy owner_insert on public.profiles for insert with check (auth.uid() = id);

-- The challenge catalogue is shared: anyone may read the active ones.
drop policy if exists read_active on public.growth_challenges;
create policy read_active on public.growth_challenges for select using (is_active = true);

-- Tables created before the default privileges above existed (a re-run after an upgrade) get them too.
grant all on all tables in schema public to anon, authenticated, service_role;
