-- Cheaper usage_metrics writes (bench/soak, bench/README.md "Soak"). Prometheus sends recording-rule
-- output rule by rule, so with 10,000 samples per request every row is written about 21 times within
-- an evaluation: inserted with its first column, then updated once per further column and per-core
-- value. An update that changes no indexed column and finds room on its page is HOT: no new index
-- entry, and its WAL record holds only the changed bytes. Measured on 10,000 hosts at 10,000 samples
-- per request, apache tier (short runs, same afternoon): 8 % of updates HOT, 232 MiB of WAL and
-- 5.7 PostgreSQL CPU-s per evaluation before; fillfactor alone 39 %, 183 MiB, 4.7 s; with the GIN
-- index gone too 69 %, 121 MiB, 3.8 s. This whole file in the 10-minute soak: 67 %, 116 MiB, 3.6 s.
--
-- * fillfactor 60: inserts leave 40 % of each page for the row's later versions (HOT pruning frees
--   the dead ones within the page). New chunks take the hypertable's setting; existing chunks keep
--   theirs (they receive only late data). The database grew no faster in the soak: without HOT, the
--   ~20 dead versions per row bloated the pages anyway.
-- * usage_metrics_cpu_per_core_idx (GIN) goes: no query of sru searches inside cpu_per_core, and every
--   per-core value that arrives changes the column, so with the index none of those 8 updates per
--   row could be HOT and each rewrote every index entry of the row, the GIN entries of all its keys
--   included.
-- * usage_metrics_system_time_idx goes: the primary key (system_id, "timestamp") read backwards
--   serves "newest rows of a host" without a sort, so the second index only cost an entry per
--   new row version.
ALTER TABLE usage_metrics SET (fillfactor = 60);
DROP INDEX IF EXISTS usage_metrics_cpu_per_core_idx;
DROP INDEX IF EXISTS usage_metrics_system_time_idx;
