-- Fix: when the person who approved a report also marks it implemented, transition_optimization_report
-- set status_changed_by to the value it already had, and the workflow trigger (030), which takes an
-- unchanged status_changed_by to mean "not given", recorded the database login (session_user) as the
-- actor instead. The function now names the actor in a transaction-local setting the trigger reads
-- first; direct UPDATEs by admin keep the old rule.
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

CREATE OR REPLACE FUNCTION transition_optimization_report(p_id uuid, p_status text, p_actor text, p_note text DEFAULT NULL)
RETURNS SETOF optimization_reports
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  IF p_actor IS NULL OR btrim(p_actor) = '' OR length(p_actor) > 200 THEN
    RAISE EXCEPTION 'the actor must be named (1-200 characters)' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM set_config('sru.workflow_note', coalesce(left(p_note, 2000), ''), true);
  PERFORM set_config('sru.workflow_actor', p_actor, true);
  RETURN QUERY
  UPDATE optimization_reports r SET status = p_status, status_changed_by = p_actor
   WHERE r.id = p_id RETURNING r.*;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no optimization report %', p_id USING ERRCODE = 'no_data_found';
  END IF;
  PERFORM set_config('sru.workflow_note', '', true);
  PERFORM set_config('sru.workflow_actor', '', true);
END $$;
