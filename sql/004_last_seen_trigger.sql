-- tiers: plain
-- systems.last_seen follows usage_metrics inserts. A statement-level trigger with a transition table
-- costs one UPDATE per host per INSERT statement instead of one per row. TimescaleDB refuses
-- transition tables on hypertables, so on the TimescaleDB tiers the adapter updates last_seen once
-- per batch instead (see sql/README.md).
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

CREATE TRIGGER usage_metrics_last_seen_ins AFTER INSERT ON usage_metrics
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sru_usage_metrics_last_seen();
CREATE TRIGGER usage_metrics_last_seen_upd AFTER UPDATE ON usage_metrics
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sru_usage_metrics_last_seen();
