-- Store a consolidation plan (optimizer/plan_store.py) for roles that may not write tables (analyst):
-- the plan row, then one pending `reallocation` report (kind `consolidation`) per host it retires.
-- A host's pending consolidation report from an earlier plan takes the new evidence and plan id (one
-- pending report per host, type and kind, as create_optimization_report() keeps them); an approved one
-- is being acted on and is left alone; pending ones of earlier plans whose host the new plan keeps
-- are rejected as superseded, with the actor and a note in their history.
CREATE OR REPLACE FUNCTION store_consolidation_plan(p_planned_at timestamptz, p_window_from timestamptz,
                                                    p_method text, p_actor text, p_options jsonb,
                                                    p_summary jsonb, p_reports jsonb)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_plan uuid;
  r jsonb;
  v_sid uuid;
  v_existing optimization_reports%ROWTYPE;
  v_hosts uuid[] := '{}';
BEGIN
  IF p_actor IS NULL OR btrim(p_actor) = '' OR length(p_actor) > 200 THEN
    RAISE EXCEPTION 'the actor must be named (1-200 characters)' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF jsonb_typeof(p_reports) <> 'array' OR jsonb_array_length(p_reports) > 10000 THEN
    RAISE EXCEPTION 'reports must be a JSON array of at most 10000 objects' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF length(p_summary::text) > 5000000 OR length(p_options::text) > 100000 THEN
    RAISE EXCEPTION 'plan too large' USING ERRCODE = 'program_limit_exceeded';
  END IF;
  -- One plan is stored at a time: concurrent optimizer passes and `sru plan --store` queue here.
  PERFORM pg_advisory_xact_lock(hashtextextended('sru consolidation plan', 0));
  INSERT INTO consolidation_plans (planned_at, window_from, method, created_by, options, summary)
  VALUES (p_planned_at, p_window_from, p_method, p_actor, p_options, p_summary)
  RETURNING id INTO v_plan;
  FOR r IN SELECT * FROM jsonb_array_elements(p_reports) LOOP
    IF jsonb_typeof(r -> 'recommendations') IS DISTINCT FROM 'object'
       OR r -> 'recommendations' ->> 'kind' IS DISTINCT FROM 'consolidation'
       OR length((r -> 'recommendations')::text) > 100000 OR length(r ->> 'title') > 500 THEN
      RAISE EXCEPTION 'each report needs recommendations of kind consolidation (at most 100000 characters) and a title'
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_sid := (r ->> 'system_id')::uuid;
    v_hosts := v_hosts || v_sid;
    SELECT o.* INTO v_existing FROM optimization_reports o
     WHERE o.system_id = v_sid AND o.report_type = 'reallocation'
       AND o.recommendations ->> 'kind' = 'consolidation' AND o.status IN ('pending', 'approved')
     ORDER BY o.status = 'approved' DESC LIMIT 1;
    IF FOUND AND v_existing.status = 'approved' THEN
      CONTINUE;
    ELSIF FOUND THEN
      UPDATE optimization_reports o
         SET severity = r ->> 'severity', priority_score = (r ->> 'priority_score')::integer,
             title = r ->> 'title', recommendations = jsonb_set(r -> 'recommendations', '{plan_id}', to_jsonb(v_plan)),
             plan_id = v_plan
       WHERE o.id = v_existing.id;
    ELSE
      INSERT INTO optimization_reports (system_id, report_type, severity, priority_score, title, recommendations, plan_id)
      VALUES (v_sid, 'reallocation', r ->> 'severity', (r ->> 'priority_score')::integer, r ->> 'title',
              jsonb_set(r -> 'recommendations', '{plan_id}', to_jsonb(v_plan)), v_plan);
    END IF;
  END LOOP;
  PERFORM set_config('sru.workflow_actor', p_actor, true);
  PERFORM set_config('sru.workflow_note', format('superseded by consolidation plan %s', v_plan), true);
  UPDATE optimization_reports o SET status = 'rejected'
   WHERE o.report_type = 'reallocation' AND o.recommendations ->> 'kind' = 'consolidation'
     AND o.status = 'pending' AND o.plan_id IS DISTINCT FROM v_plan AND NOT (o.system_id = ANY (v_hosts));
  PERFORM set_config('sru.workflow_actor', '', true);
  PERFORM set_config('sru.workflow_note', '', true);
  RETURN v_plan;
END $$;

GRANT EXECUTE ON FUNCTION store_consolidation_plan(timestamptz, timestamptz, text, text, jsonb, jsonb, jsonb)
  TO admin, analyst;
