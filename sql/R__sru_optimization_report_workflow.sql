-- The optimization-report workflow, as a trigger on optimization_reports: reports are created
-- pending; the only transitions are pending → approved | rejected and approved → implemented; each
-- one stamps who and when and is logged in optimization_report_events. The actor is the one
-- transition_optimization_report() names (a transaction-local setting), else a changed
-- status_changed_by, else the database login (direct UPDATEs by admin).
-- History: 030_optimizer_schema, 051_workflow_same_actor; this file is the definition in force.
CREATE OR REPLACE FUNCTION sru_optimization_report_workflow() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  v_actor text := NULLIF(current_setting('sru.workflow_actor', true), '');
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'pending' THEN
      RAISE EXCEPTION 'optimization reports are created pending, not %', NEW.status
        USING ERRCODE = 'check_violation';
    END IF;
    NEW.status_changed_by := NULL;
    NEW.status_changed_at := NULL;
    RETURN NEW;
  END IF;
  IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
    NEW.status_changed_by := OLD.status_changed_by;
    NEW.status_changed_at := OLD.status_changed_at;
    RETURN NEW;
  END IF;
  IF NOT (OLD.status, NEW.status) IN (('pending', 'approved'), ('pending', 'rejected'),
                                      ('approved', 'implemented')) THEN
    RAISE EXCEPTION 'invalid transition of report %: % → %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'check_violation',
            HINT = 'allowed: pending → approved | rejected, approved → implemented';
  END IF;
  IF v_actor IS NOT NULL THEN
    NEW.status_changed_by := v_actor;
  ELSIF NEW.status_changed_by IS NOT DISTINCT FROM OLD.status_changed_by OR NEW.status_changed_by = '' THEN
    NEW.status_changed_by := session_user;
  END IF;
  NEW.status_changed_at := now();
  INSERT INTO optimization_report_events (report_id, from_status, to_status, actor, note)
  VALUES (NEW.id, OLD.status, NEW.status, NEW.status_changed_by,
          NULLIF(current_setting('sru.workflow_note', true), ''));
  RETURN NEW;
END $$;
