-- Consolidation plans (issue 20, `sru plan`, optimizer/consolidate.py): which hosts could go and
-- where their load moves. A plan is one row here (its options, the fleet summary, the baselines'
-- figures); each host it retires is one `reallocation` report (kind `consolidation`) in
-- optimization_reports with the plan's id, so the existing workflow approves and implements it.
-- store_consolidation_plan() (R__store_consolidation_plan.sql) writes both for the analyst role.
CREATE TABLE consolidation_plans (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  planned_at   timestamptz NOT NULL,          -- end of the training window (the planner's "now")
  window_from  timestamptz NOT NULL CHECK (window_from < planned_at),
  method       text NOT NULL CHECK (method IN ('aligned', 'ffd_p95', 'ff_mean')),
  created_by   text NOT NULL CHECK (created_by <> '' AND length(created_by) <= 200),
  options      jsonb NOT NULL CHECK (jsonb_typeof(options) = 'object'),
  summary      jsonb NOT NULL CHECK (jsonb_typeof(summary) = 'object'),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consolidation_plans_planned_idx ON consolidation_plans (planned_at DESC);

ALTER TABLE optimization_reports ADD COLUMN plan_id uuid REFERENCES consolidation_plans (id) ON DELETE SET NULL;
CREATE INDEX optimization_reports_plan_idx ON optimization_reports (plan_id) WHERE plan_id IS NOT NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON consolidation_plans TO admin;
GRANT SELECT ON consolidation_plans TO dashboard_readonly, analyst;
