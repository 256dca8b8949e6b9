"""Backups, point-in-time restore and a hot standby, against real servers (tests/backup/conftest.py:
one primary of the full tier archiving into a pgBackRest repository, a synchronous standby).

What each setting guarantees, and what the tests below prove:

* ``archive_timeout`` (WAL archiving): a restore from the repository holds every commit whose WAL
  segment reached the archive; a segment is closed and archived at most ``archive_timeout`` after
  its first write, so at most the last ``archive_timeout`` seconds (plus the push) are at risk when
  the data directory is lost. Proven: every sample acknowledged at a WAL position inside the last
  archived segment is restored, including samples written after the base backup.
* synchronous replication (``synchronous_standby_names`` + ``synchronous_commit = on``): a commit is
  acknowledged only once the standby has flushed its WAL, so promoting the standby loses nothing that
  was acknowledged. Proven: after the primary's data directory is destroyed mid-stream, the promoted
  standby holds every acknowledged sample.

The tests run in file order; the last destroys the primary."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from backup.status import evaluate, read_snapshot
from sru.db import scalar
from tests.backup.conftest import STANDBY_NAME, Site, Stream, run_jobs, segment_end, stored_stamps
from tests.fixtures.net import free_port, wait_for
from tests.fixtures.postgres import ROLE_USERS
from tests.support.proc import start_logged, stop_process

MONITOR_LOGIN = "sru_t_backup"


def test_bad_options_are_named(tmp_path, capsys) -> None:
    for args, option in ((["db", "restore", "--pg-data", str(tmp_path), "--time", "yesterday"], "--time"),
                         (["db", "restore", "--pg-data", str(tmp_path), "--time", "2026-03-01T12:00:00"], "--time"),
                         (["db", "backup", "--pgbackrest-config", str(tmp_path / "none.conf")], "--pgbackrest-config"),
                         (["db", "backup", "--every", "soon"], "--every"),
                         (["db", "backup-status", "--database-url", "postgresql://x@127.0.0.1:1/sru",
                           "--max-age", "old"], "--max-age")):
        rc, err = _sru(capsys, *args)
        assert rc == 1 and option in err and len(err.strip().splitlines()) == 1, (args, err)


def test_the_exporter_reports_an_unreachable_database() -> None:
    from backup.collector import BackupCollector
    from backup.status import snapshot_reader
    from sru.db import connect

    collector = BackupCollector(snapshot_reader(lambda: connect(f"postgresql://x@127.0.0.1:{free_port()}/sru"), None))
    assert [(f.name, [s.value for s in f.samples]) for f in collector.collect()] == [("sru_backup_exporter_up", [0])]


def _sru(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`sru ARGS` through the CLI's own entry point, in this process (a subprocess costs seconds of
    imports on a loaded machine): exit status, what it printed."""
    from sru.cli import main

    capsys.readouterr()
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out + out.err


def _status(site: Site, url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    return _sru(capsys, "db", "backup-status", "--database-url", url, "--pgbackrest-config",
                str(site.repo.config_path), *extra)


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(url, timeout=30).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _archiver(conn: psycopg.Connection) -> tuple[int, datetime | None, datetime | None]:
    row = conn.execute("SELECT failed_count, last_archived_time, last_failed_time FROM pg_stat_archiver").fetchone()
    assert row is not None  # the view has one row
    return row[0], row[1], row[2]


def test_status_and_metrics_report_the_chain_and_a_failing_archive(site: Site, tmp_path, capsys) -> None:
    url = site.primary.url("sru")
    rc, out = _status(site, url, capsys)
    assert rc == 0, out
    assert "restorable:      yes" in out and "(full)" in out and f"standby:         {STANDBY_NAME} streaming (sync)" in out
    rc, out = _status(site, url, capsys, "--format", "json")
    status = json.loads(out)
    assert status["restorable"] and len(status["backups"]) == 1
    assert status["archiver"]["pending_segments"] is not None and not status["archiver"]["failing"]
    assert [(r["name"], r["sync_state"]) for r in status["replicas"]] == [(STANDBY_NAME, "sync")]

    # The exporter as deployed: its own process, a login in pg_monitor and nothing else.
    with psycopg.connect(site.primary.url(), autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{MONITOR_LOGIN}" LOGIN IN ROLE pg_monitor')
    monitor_url = site.primary.url("sru", MONITOR_LOGIN)
    with psycopg.connect(monitor_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT count(*) FROM usage_metrics")
    port = free_port()
    proc = start_logged([*_sru_argv(), "backup-exporter", "--database-url", monitor_url, "--pgbackrest-config",
                         str(site.repo.config_path), f"--web.listen-address=127.0.0.1:{port}"], tmp_path / "exp.log")
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_for(lambda: requests.get(metrics_url, timeout=5).ok, 30, "sru backup-exporter", process=proc,
                 log=tmp_path / "exp.log")
        m = _scrape(metrics_url)
        assert m[("sru_backup_exporter_up", ())] == 1 and m[("sru_backup_restorable", ())] == 1
        backed_up = m[("sru_backup_last_completed_timestamp_seconds", (("type", "full"),))]
        assert backed_up == datetime.fromisoformat(status["backups"][0]["stopped"]).timestamp()
        assert m[("sru_replication_synchronous", (("standby", STANDBY_NAME),))] == 1
        assert ("sru_replication_lag_bytes", (("standby", STANDBY_NAME),)) in m
        assert ("sru_wal_archive_pending_segments", ()) in m  # pg_monitor may list the archive status

        # Archiving breaks: the server keeps the segment and retries; status and metrics say so.
        with psycopg.connect(site.primary.url(), autocommit=True) as conn:
            failed_before = _archiver(conn)[0]
            conn.execute("ALTER SYSTEM SET archive_command = '/bin/false'")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("CREATE TABLE IF NOT EXISTS wal_filler (x int); INSERT INTO wal_filler VALUES (1)")
            conn.execute("SELECT pg_switch_wal()")
            wait_for(lambda: _archiver(conn)[0] > failed_before, 30, "archiving to fail", interval=0.2)
            rc, out = _status(site, url, capsys)
            assert rc == 1 and "problem:         WAL archiving is failing" in out, out
            m = _scrape(metrics_url)
            assert m[("sru_wal_archive_last_failed_timestamp_seconds", ())] > \
                m[("sru_wal_archive_last_archived_timestamp_seconds", ())]
            assert m[("sru_wal_archive_pending_segments", ())] >= 1
            conn.execute("ALTER SYSTEM RESET archive_command")
            conn.execute("SELECT pg_reload_conf()")

            def recovered() -> bool:
                _, archived, failed = _archiver(conn)
                return archived is not None and failed is not None and archived > failed

            wait_for(recovered, 90, "archiving to recover", interval=0.2)
        rc, out = _status(site, url, capsys)
        assert rc == 0, out
    finally:
        stop_process(proc)

    # Compose's exporter reads the info JSON the backup service writes: fresh, it is the same chain;
    # stale (the writer stopped), it is a failure, not old news.
    from backup.pgbackrest import InfoFile

    info_file = tmp_path / "info.json"
    info_file.write_text(json.dumps([site.pgbr.info()]))
    with psycopg.connect(monitor_url, autocommit=True) as conn:
        assert evaluate(read_snapshot(conn, InfoFile(str(info_file)).info)).restorable
        old = time.time() - 3600
        os.utime(info_file, (old, old))
        stale = evaluate(read_snapshot(conn, InfoFile(str(info_file)).info))
    assert not stale.restorable and "was written 3600s ago (over 600s)" in stale.problems[0]


def _sru_argv() -> list[str]:
    import sys

    return [sys.executable, "-m", "sru.cli"]


def test_standby_serves_the_console_during_a_write_load(site: Site, adapter_factory, tmp_path) -> None:
    from tests.web.conftest import PASSWORDS, WEB_LOGIN, logged_in, run_web, web_login_url

    primary_db, standby_db = site.db(), site.db(cluster=site.standby)
    web_login_url(primary_db)  # the role is created on the primary and replicated
    adapter = adapter_factory(primary_db.role_url("data_collector"))
    stream = Stream(adapter, site.primary.url("sru"), "live-01").start((int(time.time()) - 7200) * 1000)
    try:
        with run_web(standby_db, tmp_path, database_url=site.standby.url("sru", WEB_LOGIN)) as (url, log):
            session = logged_in(url)
            with primary_db.connect() as conn:
                demo_host = scalar(conn, "SELECT min(hostname) FROM systems")
            pages = ["/", "/alerts", "/recommendations", f"/hosts/{demo_host}", "/reports"]
            served = 0
            started = len(stream.acked)
            while len(stream.acked) < started + 20 or served < 2 * len(pages):
                for page in pages:
                    r = session.get(url + page, timeout=30)
                    assert r.status_code == 200, (page, r.status_code, r.text[:500])
                    served += 1
            # What the primary acknowledged reaches the console through the standby.
            wait_for(lambda: session.get(url + "/hosts/live-01", timeout=30).status_code == 200, 30,
                     "the live host on the standby's console")
            assert stream.failed == 0
            # An action needs the primary: a clear 503, never a 500.
            with primary_db.connect() as conn:
                alert_id = scalar(conn, "SELECT min(id) FROM alert_logs")
            r = requests.post(f"{url}/api/v1/alerts/{alert_id}/ack", json={"note": "on the standby"},
                              auth=("alice", PASSWORDS["alice"]), timeout=30)
            assert r.status_code == 503 and "read-only" in r.text, (r.status_code, r.text)
    finally:
        stream.stop()
    with standby_db.connect() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("DELETE FROM alert_logs")
    # Grafana's login on the standby: every dashboard answers as on the primary once it has replayed.
    with psycopg.connect(site.primary.url(), autocommit=True) as conn:
        written = scalar(conn, "SELECT pg_current_wal_lsn()")
    with psycopg.connect(site.standby.url(), autocommit=True) as conn:
        wait_for(lambda: scalar(conn, "SELECT pg_last_wal_replay_lsn() >= %s", (written,)), 30,
                 "the standby to replay the write load", interval=0.1)
    span = (site.history_end - timedelta(days=16), site.history_end + timedelta(days=1))
    on_primary_answers = _dashboard_answers(primary_db.cluster.url("sru", ROLE_USERS["dashboard_readonly"]), *span)
    assert on_primary_answers == _dashboard_answers(site.standby.url("sru", ROLE_USERS["dashboard_readonly"]), *span)
    # Replication lag, from both ends (what the exporter exports).
    with standby_db.connect(autocommit=True) as conn:
        on_standby = read_snapshot(conn, None)
    with primary_db.connect(autocommit=True) as conn:
        on_primary = read_snapshot(conn, None)
    assert on_standby.in_recovery and on_standby.standby_lag_seconds is not None
    assert [(r.name, r.state, r.sync_state) for r in on_primary.replicas] == [(STANDBY_NAME, "streaming", "sync")]
    assert evaluate(on_standby).problems == ["pgbackrest info failed: no pgBackRest configured"]


def test_point_in_time_restore_returns_exactly_the_first_batch(site: Site, adapter_factory, capsys) -> None:
    db = site.db("stream")
    adapter = adapter_factory(db.role_url("data_collector"))
    first_ms = (int(time.time()) - 3600) * 1000
    first = [first_ms + i * 1000 for i in range(5)]
    second = [first_ms + 60_000 + i * 1000 for i in range(5)]
    labels = {"__name__": "sru:cpu_percent", "hostname": "pitr-01", "instance": "pitr-01:9847", "job": "sru"}
    assert adapter.write([(labels, [(t, 1.0) for t in first])]).status_code == 204
    with psycopg.connect(site.primary.url(), autocommit=True) as conn:
        time.sleep(0.05)
        between = scalar(conn, "SELECT clock_timestamp()")
        time.sleep(0.05)
    assert adapter.write([(labels, [(t, 2.0) for t in second])]).status_code == 204
    assert stored_stamps(db, "pitr-01") == set(first) | set(second)
    with psycopg.connect(site.primary.url(), autocommit=True) as conn:
        conn.execute("SELECT pg_switch_wal()")  # the second batch reaches the archive now

    target = site.base / "pitr"
    rc, out = _sru(capsys, "db", "restore", "--pgbackrest-config", str(site.repo.config_path), "--pg-data",
                   str(target), "--time", between.isoformat(), "--archive-mode", "off")
    assert rc == 0, out
    restored = site.start_restored(target)
    try:
        assert stored_stamps(site.db("stream", restored), "pitr-01") == set(first)
    finally:
        restored.stop("immediate")
        shutil.rmtree(target, ignore_errors=True)


# What reads the clock itself: now() in the query, or sru_host_status ('up' while the last sample is under
# 15 minutes old). Their answers move with the clock, so they are left out of the comparisons.
CLOCK_BOUND = ("now()", "sru_host_status")


def _dashboard_answers(db_url: str, time_from: datetime, time_to: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """Every SQL query of every dashboard that does not read the clock, as Grafana would run it over a
    fixed range."""
    from tests.support.grafana.dashboards import load_dashboards, queries
    from tests.support.grafana.render import panel_context, resolve_variables, run_sql

    answers = {}
    with psycopg.connect(db_url) as conn:
        for name, dashboard in load_dashboards().items():
            variables = resolve_variables(dashboard, conn, time_from, time_to)
            for q in queries(name, dashboard):
                if q.kind == "sql" and not any(word in q.text for word in CLOCK_BOUND):
                    answers[q.label] = run_sql(conn, q, panel_context(q, variables, time_from, time_to)).rows
    return answers


def test_losing_the_data_directory_under_a_live_stream(site: Site, adapter_factory, capsys) -> None:
    """Base backup, more writes, the data directory destroyed mid-stream. The promoted synchronous
    standby holds every acknowledged sample; the restore from the repository holds every sample
    acknowledged before the end of the last archived segment; the full tier works after it."""
    sru_db = site.db()
    time_from, time_to = site.history_end - timedelta(days=16), site.history_end
    reader = sru_db.cluster.url("sru", ROLE_USERS["dashboard_readonly"])
    before = _dashboard_answers(reader, time_from, time_to)
    assert len(before) >= 10 and sum(1 for rows in before.values() if rows) >= 10

    stream_db = site.db("stream")
    adapter = adapter_factory(stream_db.role_url("data_collector"), "--db.pool-timeout=1")
    stream = Stream(adapter, site.primary.url("stream"), "stream-01").start((int(time.time()) - 7200) * 1000)
    try:
        stream.wait_for_acks(10)
        # The scheduled command: a full backup is recent, so a differential.
        rc, out = _sru(capsys, "db", "backup", "--pgbackrest-config", str(site.repo.config_path))
        assert rc == 0 and out.strip() == "diff backup done", out
        after_backup = len(stream.acked)
        assert after_backup > 10, "the stream stalled during the backup"
        stream.wait_for_acks(10)
        # Without any switch of ours: archive_timeout closes and archives the segment holding them.
        position = stream.acked[after_backup + 5][1]
        with psycopg.connect(site.primary.url(), autocommit=True) as conn:
            wait_for(lambda: segment_end(scalar(conn, "SELECT last_archived_wal FROM pg_stat_archiver")
                                         or "0" * 24) >= position,
                     30, "archive_timeout to archive the batches after the backup", interval=0.2)
        stream.wait_for_acks(5)
        site.primary.stop("immediate")  # the disk is gone: no checkpoint, no last archive
        shutil.rmtree(site.primary.datadir)
    finally:
        stream.stop()
    acked = dict(stream.acked)
    assert len(acked) > 25

    # Synchronous replication: the standby, promoted, has every acknowledged sample.
    site.standby._pg_ctl("-w", "promote")
    assert set(acked) <= stored_stamps(site.db("stream", site.standby), "stream-01")

    # The archive: restored to its end, every sample acknowledged inside the last archived segment.
    archive_end = segment_end(site.pgbr.info()["archive"][0]["max"])
    covered = {t for t, lsn in stream.acked if lsn <= archive_end}
    assert {t for t, _ in stream.acked[after_backup:after_backup + 6]} <= covered  # replayed, not in the backup
    rc, out = _sru(capsys, "db", "restore", "--pgbackrest-config", str(site.repo.config_path), "--pg-data",
                   str(site.primary.datadir))
    assert rc == 0, out
    restored = site.start_restored(site.primary.datadir)
    site.primary = restored
    with psycopg.connect(restored.url(), autocommit=True) as conn:
        # Its synchronous standby was promoted away: without this, every commit would wait for it.
        conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
        conn.execute("SELECT pg_reload_conf()")
    restored_stamps = stored_stamps(site.db("stream", restored), "stream-01")
    assert covered <= restored_stamps, sorted(covered - restored_stamps)[:5]

    # The full tier after the restore: the dashboards answer as before, then the policies' jobs and the
    # optimizer pass run.
    reader = restored.url("sru", ROLE_USERS["dashboard_readonly"])
    assert _dashboard_answers(reader, time_from, time_to) == before
    db = site.db("sru", restored)
    with db.connect(autocommit=True) as conn:
        def compressed() -> bool:
            return scalar(conn, "SELECT is_compressed FROM timescaledb_information.chunks "
                                "WHERE format('%%I.%%I', chunk_schema, chunk_name) = %s",
                                (site.decompressed_chunk,))

        assert not compressed()
        assert run_jobs(conn, "policy_compression")
        assert compressed()
        # New history reaches the continuous aggregate's materialization only through its refresh job.
        hour = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
        sid = scalar(conn, "INSERT INTO systems (hostname) VALUES ('after-restore') RETURNING id")
        conn.execute("INSERT INTO usage_metrics (system_id, timestamp, cpu_percent) VALUES (%s, %s, 50)", (sid, hour))
        mat = scalar(conn, "SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) "
                           "FROM timescaledb_information.continuous_aggregates "
                           "WHERE view_name = 'hourly_performance_stats'")
        assert scalar(conn, f"SELECT count(*) FROM {mat} WHERE system_id = %s", (sid,)) == 0
        assert run_jobs(conn, "policy_refresh_continuous_aggregate")
        assert scalar(conn, f"SELECT count(*) FROM {mat} WHERE system_id = %s", (sid,)) == 1
        failed = scalar(conn, "SELECT count(*) FROM timescaledb_information.job_stats "
                              "WHERE last_run_status <> 'Success'")
        assert failed == 0
    from optimizer.run import run_once

    with db.connect("analyst") as conn:
        run_once(conn)
