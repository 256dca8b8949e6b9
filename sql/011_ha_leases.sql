-- Prometheus HA pairs (remote_write_adapter/ha.py): per cluster, the replica whose remote writes
-- the adapters store, and until when. Every adapter process reads and renews the same row, so
-- they agree on one leader; a replica takes over only once the lease has expired. A plain table
-- on every tier: a handful of rows, updated every few seconds (HOT updates: no index on the
-- updated columns).
CREATE TABLE sru_ha_leases (
  cluster       text PRIMARY KEY CHECK (cluster <> '' AND octet_length(cluster) <= 256),
  leader        text NOT NULL CHECK (leader <> '' AND octet_length(leader) <= 256),
  leader_since  timestamptz NOT NULL DEFAULT now(),
  lease_until   timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sru_ha_leases IS
  'Prometheus HA-pair election of the remote-write adapters: the replica stored per cluster';

-- The adapter claims and renews leases; nobody needs DELETE (a stale row is simply taken over).
GRANT SELECT, INSERT, UPDATE ON sru_ha_leases TO data_collector;
GRANT SELECT, INSERT, UPDATE, DELETE ON sru_ha_leases TO admin;
GRANT SELECT ON sru_ha_leases TO dashboard_readonly, analyst;
