-- The remote-write adapter closes a session whose series disappears without a stale marker (a
-- Prometheus restart sends none) once the host's newer samples show it gone; for that it needs the
-- time the session's series was last seen. Covered by the table grants of 002.
ALTER TABLE user_sessions ADD COLUMN last_sample_at timestamptz;
COMMENT ON COLUMN user_sessions.last_sample_at IS
  'Newest sample of the session''s series the adapter received (sru:session_login_time_seconds)';
