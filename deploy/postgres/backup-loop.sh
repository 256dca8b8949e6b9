#!/bin/sh
# The compose deployment's backup schedule (the `backup` service, the database image with pgBackRest,
# sharing the data volume read-only and the server's socket): the stanza once, a backup now and every
# SRU_BACKUP_EVERY_SECONDS (full on Sundays, UTC, else differential; pgBackRest makes the first one
# full), and every minute `pgbackrest info` as JSON for `sru backup-exporter`, whose image has no
# pgBackRest. A failed backup is retried after 10 minutes and shows in the exporter's metrics.
set -u
every=${SRU_BACKUP_EVERY_SECONDS:-86400}
status=/var/lib/sru-backup/info.json
until pgbackrest --stanza=sru stanza-create; do
  echo "stanza-create failed; retrying in 30 s" >&2
  sleep 30
done
next=0
while :; do
  now=$(date +%s)
  if [ "$now" -ge "$next" ]; then
    if [ "$(date -u +%u)" = 7 ]; then type=full; else type=diff; fi
    if pgbackrest --stanza=sru --type="$type" backup; then
      next=$((now + every))
    else
      echo "$type backup failed; retrying in 10 minutes" >&2
      next=$((now + 600))
    fi
  fi
  (umask 022; pgbackrest --stanza=sru --output=json info > "$status.tmp" && mv "$status.tmp" "$status")
  sleep 60
done
