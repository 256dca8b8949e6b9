-- Move a report through the workflow as a named person (the console, `sru reports`): the trigger
-- (R__sru_optimization_report_workflow.sql) checks the transition and records the actor and note.
-- History: 032_optimizer_functions, 051_workflow_same_actor; this file is the definition in force.
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

GRANT EXECUTE ON FUNCTION transition_optimization_report(uuid, text, text, text) TO admin, analyst, web_console;
