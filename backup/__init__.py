"""Backups, point-in-time restore and standbys with pgBackRest and streaming replication (`sru db backup`, `sru db backup-status`, `sru db restore`, `sru backup-exporter`)."""
