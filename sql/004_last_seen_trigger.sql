-- systems.last_seen follows usage_metrics writes. A statement-level trigger with a transition table
-- costs one UPDATE per host per statement (one COPY or INSERT … ON CONFLICT batch) instead of one per
-- row, which would halve ingest speed (bench/last_seen). TimescaleDB before 2.18 refuses transition
-- tables on hypertables (and fails only when the next chunk is created), so there the trigger is not
-- created and sru_meta tells the adapter to update last_seen once per batch instead.
CREATE FUNCTION sru_usage_metrics_last_seen() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE systems s
     SET last_seen = n.ts
    FROM (SELECT system_id, max("timestamp") AS ts FROM new_rows GROUP BY system_id) n
   WHERE s.id = n.system_id
     AND (s.last_seen IS NULL OR s.last_seen < n.ts);
  RETURN NULL;
END $$;

DO $$
DECLARE
  tsdb_version text := (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb');
BEGIN
  IF tsdb_version IS NULL
     OR string_to_array(split_part(tsdb_version, '-', 1), '.')::int[] >= ARRAY[2, 18] THEN
    CREATE TRIGGER usage_metrics_last_seen_ins AFTER INSERT ON usage_metrics
      REFERENCING NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION sru_usage_metrics_last_seen();
    CREATE TRIGGER usage_metrics_last_seen_upd AFTER UPDATE ON usage_metrics
      REFERENCING NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION sru_usage_metrics_last_seen();
    INSERT INTO sru_meta (key, value) VALUES ('last_seen_maintained_by', 'trigger');
  ELSE
    INSERT INTO sru_meta (key, value) VALUES ('last_seen_maintained_by', 'adapter');
  END IF;
END $$;
