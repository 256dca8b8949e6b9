-- Issue #22: two more kinds of anomaly episode (optimizer/anomaly_core.py), catalogued like 039's.
-- record_anomaly_episodes() accepts them from sql/R__record_anomaly_episodes.sql on.
INSERT INTO alert_rules (name, expression, threshold, duration, severity, source_file, description) VALUES
  ('sru_anomaly_stuck',
   '6 consecutive hours with the same hourly mean (within 0.01 points) and no gap up to the hourly maximum, on a host whose hours change at least 95 % of the time',
   6, INTERVAL '6 hours', 'warning', 'optimizer',
   'The series stopped moving: an exporter, sensor or collector repeating its last value.'),
  ('sru_anomaly_variance',
   'median hour-to-hour change of the last 6 hours at least 3 times its 30-day median, 4 points above it and 1.25 times the largest of 30 normal days, for 3 hours',
   3, INTERVAL '3 hours', 'warning', 'optimizer',
   'Usage became erratic: the same level, much larger swings (a flapping job, a thrashing host).')
ON CONFLICT (name) DO NOTHING;
