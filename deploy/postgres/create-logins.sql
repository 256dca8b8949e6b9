-- Login users of the compose deployment, one per service, each in the narrowest group role (the
-- group roles and their grants come from `sru db migrate`). Run by the `db-logins` one-shot service
-- with psql after every migration; idempotent: it creates what is missing and (re)sets passwords, so
-- changing a password in .env and running `docker compose up` again applies it.
-- psql variables (-v): adapter_password, receiver_password, optimizer_password, grafana_password,
-- web_password, backup_password (sru backup-exporter: pg_monitor only), replication_password (the
-- standby's streaming login), and console_url (the web console as people reach it, SRU_WEB_URL; default below).
\set ON_ERROR_STOP on
\if :{?console_url}
\else
  \set console_url 'http://localhost:9850'
\endif

SELECT format('CREATE ROLE %I LOGIN', u)
  FROM unnest(ARRAY['sru_adapter', 'sru_receiver', 'sru_optimizer', 'sru_grafana', 'sru_web', 'sru_backup',
                    'sru_replicator']) AS u
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = u) \gexec

ALTER ROLE sru_adapter   WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'adapter_password';
ALTER ROLE sru_receiver  WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'receiver_password';
ALTER ROLE sru_optimizer WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'optimizer_password';
ALTER ROLE sru_grafana   WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'grafana_password';
ALTER ROLE sru_web       WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'web_password';
ALTER ROLE sru_backup    WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'backup_password';
-- Streams WAL to the standby (and pg_basebackup's copy); reads no table.
ALTER ROLE sru_replicator WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'replication_password';

GRANT data_collector     TO sru_adapter, sru_receiver;
GRANT analyst            TO sru_optimizer;
GRANT dashboard_readonly TO sru_grafana;
-- The console reads like Grafana and acts only through the SECURITY DEFINER functions web_console may run.
GRANT web_console        TO sru_web;
-- The backup exporter reads pg_stat_archiver, pg_stat_replication and the archive status directory.
GRANT pg_monitor         TO sru_backup;
ALTER ROLE sru_web SET statement_timeout = '30s';
-- Grafana runs whatever SQL a dashboard editor types: keep its queries short and read-only.
ALTER ROLE sru_grafana SET statement_timeout = '30s';
ALTER ROLE sru_grafana SET default_transaction_read_only = on;
-- The dashboards link to the web console: they read its base URL from this setting of Grafana's login
-- (their hidden console_url variable, see grafana/README.md), for this database only.
ALTER ROLE sru_grafana IN DATABASE :"DBNAME" SET sru.console_url = :'console_url';
