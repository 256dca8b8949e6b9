-- Group roles (NOLOGIN). Deployments grant them to their own login users, e.g.
--   CREATE ROLE adapter LOGIN PASSWORD '...' IN ROLE data_collector;
-- Roles are cluster-wide, so they are created only when missing; grants on objects are made by the
-- migration that creates each object.
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['admin', 'data_collector', 'dashboard_readonly', 'analyst'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
END $$;

-- Nobody but the owner creates objects in public (PostgreSQL < 15 allowed everyone).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO admin, data_collector, dashboard_readonly, analyst;
-- The analysis functions are opt-in: new functions are not executable by PUBLIC.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
