-- The web console (`sru web`): a group role that reads like Grafana and may act only through
-- SECURITY DEFINER functions, never by writing tables. Acknowledgements keep who, when, the note
-- and the Alertmanager silence in a table of their own (alert_logs keeps only the first ack).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'web_console') THEN
    CREATE ROLE web_console NOLOGIN;
  END IF;
END $$;
GRANT dashboard_readonly TO web_console;

CREATE TABLE alert_acknowledgements (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  alert_id         bigint NOT NULL,
  triggered_at     timestamptz NOT NULL,
  acknowledged_by  text NOT NULL CHECK (acknowledged_by <> '' AND length(acknowledged_by) <= 200),
  note             text CHECK (length(note) <= 2000),
  silence_id       text CHECK (length(silence_id) <= 100),
  silenced_until   timestamptz,
  at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_acknowledgements_alert_idx ON alert_acknowledgements (alert_id, at);

-- Acknowledge alert p_alert_id as p_by, with a note and the silence created for it. The first
-- acknowledgement sets alert_logs' fields (as `sru alerts ack` does); every one is kept with its note.
CREATE FUNCTION sru_acknowledge_alert(p_alert_id bigint, p_by text, p_note text DEFAULT NULL,
                                      p_silence_id text DEFAULT NULL, p_silenced_until timestamptz DEFAULT NULL)
RETURNS TABLE (alert_id bigint, acknowledged_by text, acknowledged_at timestamptz, changed boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_row alert_logs%ROWTYPE;
BEGIN
  IF p_by IS NULL OR btrim(p_by) = '' OR length(p_by) > 200 THEN
    RAISE EXCEPTION 'who acknowledges must be named (1-200 characters)' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF length(p_note) > 2000 THEN
    RAISE EXCEPTION 'the note is longer than 2000 characters' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT * INTO v_row FROM alert_logs a WHERE a.id = p_alert_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no alert %', p_alert_id USING ERRCODE = 'no_data_found';
  END IF;
  INSERT INTO alert_acknowledgements (alert_id, triggered_at, acknowledged_by, note, silence_id, silenced_until)
  VALUES (v_row.id, v_row.triggered_at, btrim(p_by), NULLIF(btrim(p_note), ''), p_silence_id, p_silenced_until);
  IF v_row.is_acknowledged THEN
    RETURN QUERY SELECT v_row.id, v_row.acknowledged_by, v_row.acknowledged_at, false;
    RETURN;
  END IF;
  RETURN QUERY
  UPDATE alert_logs a SET is_acknowledged = true, acknowledged_by = btrim(p_by), acknowledged_at = now()
   WHERE a.id = v_row.id AND a.triggered_at = v_row.triggered_at
  RETURNING a.id, a.acknowledged_by, a.acknowledged_at, true;
END $$;

GRANT SELECT ON alert_acknowledgements TO admin, dashboard_readonly, analyst;
GRANT EXECUTE ON FUNCTION sru_acknowledge_alert(bigint, text, text, text, timestamptz) TO admin, web_console;
GRANT EXECUTE ON FUNCTION transition_optimization_report(uuid, text, text, text) TO web_console;
