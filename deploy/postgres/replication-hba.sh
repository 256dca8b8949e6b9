#!/bin/sh
# Run once by the image's entrypoint when it creates the cluster: replication connections are not
# covered by the image's "host all all all" line. The login itself (sru_replicator) is made by
# create-logins.sql. Existing clusters: add the line by hand (docs/operations.md, "Standby").
echo "host replication sru_replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
