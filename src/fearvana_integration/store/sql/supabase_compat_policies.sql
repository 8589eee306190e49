-- Runs after the product tables exist. Foreign key to auth.users, RLS and grants, as in Supabase.

DO $$
BEGIN
  ALTER TABLE public.profiles
    ADD CONSTRAINT profiles_id_fkey FOREIGN KEY (id) REFERENCES auth.users (id) ON DELETE CASCADE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.life_levels ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.coach_actions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.supplements ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.spiral_journey_states ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.spiral_progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.challenge_completions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.spiral_xp_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.streaks ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS own_rows ON public.profiles;
CREATE POLICY own_rows ON public.profiles FOR ALL TO authenticated
  USING (auth.uid() = id) WITH CHECK (auth.uid() = id);

DROP POLICY IF EXISTS own_rows ON public.life_levels;
CREATE POLICY own_rows ON public.life_levels FOR ALL TO authenticated
  USING (auth.uid() = profile_id) WITH CHECK (auth.uid() = profile_id);

DROP POLICY IF EXISTS own_rows ON public.entries;
CREATE POLICY own_rows ON public.entries FOR ALL TO authenticated
  USING (EXISTS (SELECT 1 FROM public.life_levels l WHERE l.id = entries.level_id AND l.profile_id = auth.uid()))
  WITH CHECK (EXISTS (SELECT 1 FROM public.life_levels l WHERE l.id = entries.level_id AND l.profile_id = auth.uid()));

DROP POLICY IF EXISTS own_rows ON public.coach_actions;
CREATE POLICY own_rows ON public.coach_actions FOR ALL TO authenticated
  USING (EXISTS (SELECT 1 FROM public.life_levels l WHERE l.id = coach_actions.level_id AND l.profile_id = auth.uid()))
  WITH CHECK (EXISTS (SELECT 1 FROM public.life_levels l WHERE l.id = coach_actions.level_id AND l.profile_id = auth.uid()));

DROP POLICY IF EXISTS own_rows ON public.supplements;
CREATE POLICY own_rows ON public.supplements FOR ALL TO authenticated
  USING (auth.uid() = profile_id) WITH CHECK (auth.uid() = profile_id);

DROP POLICY IF EXISTS own_rows ON public.spiral_journey_states;
CREATE POLICY own_rows ON public.spiral_journey_states FOR ALL TO authenticated
  USING (auth.uid() = profile_id) WITH CHECK (auth.uid() = profile_id);

DROP POLICY IF EXISTS own_rows ON public.spiral_progress;
CREATE POLICY own_rows ON public.spiral_progress FOR ALL TO authenticated
  USING (auth.uid() = profile_id) WITH CHECK (auth.uid() = profile_id);

DROP POLICY IF EXISTS own_rows ON public.challenge_completions;
CREATE POLICY own_rows ON public.challenge_completions FOR ALL TO authenticated
  USING (auth.uid() = profile_id) WITH CHECK (auth.uid() = profile_id);

DROP POLICY IF EXISTS own_rows ON public.spiral_xp_log;
CREATE POLICY own_rows ON public.spiral_xp_log FOR ALL TO authenticated
  USING (auth.uid() = profile_id) WITH CHECK (auth.uid() = profile_id);

DROP POLICY IF EXISTS own_rows ON public.streaks;
CREATE POLICY own_rows ON public.streaks FOR ALL TO authenticated
  USING (auth.uid() = profile_id) WITH CHECK (auth.uid() = profile_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON
  public.profiles, public.life_levels, public.entries, public.coach_actions, public.supplements,
  public.spiral_journey_states, public.spiral_progress, public.challenge_completions, public.spiral_xp_log,
  public.streaks
TO authenticated, service_role;
