#!/bin/sh
# The optional hot standby of the compose deployment (`docker compose --profile standby up -d`):
# on first start, a base backup of the primary streamed over the replication protocol as
# sru_replicator (password SRU_REPLICATION_PASSWORD via PGPASSWORD), configured to follow it;
# then PostgreSQL in hot-standby mode, read-only, for the console and Grafana. Promotion:
# docs/operations.md, "Standby".
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pg_basebackup --host=timescaledb --username=sru_replicator --pgdata="$PGDATA" --wal-method=stream \
    --checkpoint=fast --write-recovery-conf --progress
  # The name synchronous_standby_names refers to (SRU_SYNCHRONOUS_STANDBY=sru_standby on the primary).
  echo "primary_conninfo = 'host=timescaledb user=sru_replicator application_name=sru_standby'" \
    >> "$PGDATA/postgresql.auto.conf"
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
