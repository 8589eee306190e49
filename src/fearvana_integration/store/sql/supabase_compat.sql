-- What a Supabase project provides and a plain PostgreSQL lacks (SUPABASE.md "Local Postgres"):
-- the API roles, schema auth with auth.users and auth.uid(), the product's enum, and (after the
-- tables are created from store/schema.py) the foreign key to auth.users, row-level security
-- policies of the form auth.uid() = owner, and the grants. Idempotent: safe to run again.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
  END IF;
END $$;

-- The connecting role switches to these per transaction (SET LOCAL ROLE), as PostgREST's authenticator does.
GRANT anon, authenticated, service_role TO CURRENT_USER;

CREATE SCHEMA IF NOT EXISTS auth;
CREATE TABLE IF NOT EXISTS auth.users (
  id uuid PRIMARY KEY,
  email text,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE
AS $$
  SELECT nullif(
    coalesce(
      nullif(current_setting('request.jwt.claim.sub', true), ''),
      nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
    ),
    ''
  )::uuid
$$;

GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;

DO $$
BEGIN
  CREATE TYPE public.life_level_category AS ENUM (
    'mindset_maturity', 'family_relationships', 'money', 'fitness', 'health', 'skill_building', 'peace', 'fun_joy'
  );
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
