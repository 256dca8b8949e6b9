"""Anomaly episodes in the database: one row per episode, opened, extended and closed by
incremental passes without a second row; the migration that folds the old hourly rows; the
store function's input checks and privileges."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from sru.db import scalar
from sru.migrate import load_migrations, migrate
from tests.optimizer.conftest import END, NOW, load_demo, optimize

INCIDENT = (END - timedelta(hours=40), END - timedelta(hours=20))   # Saturday 07:00 .. Sunday 03:00


def _episodes(conn, host_id):
    return conn.execute(
        "SELECT id, kind, metric, started_at, ended_at, flagged_hours, peak_value FROM anomaly_episodes "
        "WHERE system_id = %s ORDER BY kind, started_at", (host_id,)).fetchall()


def test_incremental_passes_extend_then_close_one_episode(database):
    demo = load_demo(database, hosts=1, days=42)
    host = demo.hosts[0].system_id
    cuts = (END - timedelta(hours=34), END - timedelta(hours=25), END)
    with database.connect() as conn:
        conn.execute("UPDATE usage_metrics SET cpu_percent = 90 WHERE system_id = %s "
                     "AND \"timestamp\" >= %s AND \"timestamp\" < %s", (host, *INCIDENT))
        conn.execute("CREATE TABLE held AS SELECT * FROM usage_metrics WHERE \"timestamp\" > %s", (cuts[0],))
        conn.execute("DELETE FROM usage_metrics WHERE \"timestamp\" > %s", (cuts[0],))
        conn.commit()
    seen = []
    for i, cut in enumerate(cuts):
        if i:
            with database.connect() as conn:
                conn.execute("INSERT INTO usage_metrics SELECT * FROM held WHERE \"timestamp\" > %s "
                             "AND \"timestamp\" <= %s", (cuts[i - 1], cut))
                conn.commit()
        optimize(database, "analyst", now=cut + timedelta(hours=1))
        with database.connect() as conn:
            seen.append([r for r in _episodes(conn, host) if r[2] == "cpu_percent"])
    first, middle, last = ({r[1]: r for r in s} for s in seen)
    z0, z1, z2 = first["zscore"], middle["zscore"], last["zscore"]
    # Opened at the third flagged hour, started at the first, and open while it lasts.
    flagged = [int((min(c, INCIDENT[1] - timedelta(hours=1)) - INCIDENT[0]) / timedelta(hours=1)) + 1 for c in cuts]
    assert z0[3] == INCIDENT[0] and z0[4] is None and z0[5] == flagged[0] == 7
    # The next pass extends the same row: same id and start, more hours, still open.
    assert (z1[0], z1[3], z1[4]) == (z0[0], z0[3], None) and z1[5] == flagged[1] == 16
    # Once the host is back to normal for 3 hours, it is closed at the end of the incident.
    assert (z2[0], z2[3], z2[4]) == (z0[0], INCIDENT[0], INCIDENT[1]) and z2[5] == flagged[2] == 20
    assert z2[6] == pytest.approx(90)
    assert "level_shift" in last and last["level_shift"][4] is not None
    # One row per host, metric, kind and episode: no hourly rows, no second copy.
    assert len(seen[2]) == len({r[1] for r in seen[2]})

    # Passes with nothing new, and a full pass re-judging the week, change nothing.
    assert optimize(database, "analyst", now=NOW).anomalies == 0
    assert optimize(database, "analyst", now=NOW, full=True).anomalies == 0
    with database.connect() as conn:
        assert [r for r in _episodes(conn, host) if r[2] == "cpu_percent"] == seen[2]
        alerts = conn.execute("SELECT alert_name, triggered_at, resolved_at FROM alert_logs "
                              "WHERE system_id = %s AND metric_name = 'cpu_percent' ORDER BY 1", (host,)).fetchall()
    assert ("SruAnomalyZscore", INCIDENT[0], INCIDENT[1]) in alerts


def test_recommendation_evidence_names_episodes(tsdb_database):
    demo = load_demo(tsdb_database, hosts=7, days=42)
    disk = next(h for h in demo.hosts if h.archetype == "disk_io")
    with tsdb_database.connect() as conn:
        conn.execute("UPDATE usage_metrics SET disk_io_wait_percent = 95 WHERE system_id = %s "
                     "AND \"timestamp\" >= %s AND \"timestamp\" < %s", (disk.system_id, *INCIDENT))
        conn.commit()
    optimize(tsdb_database, "analyst", now=NOW)
    with tsdb_database.connect() as conn:
        ev = conn.execute("SELECT recommendations FROM optimization_reports WHERE system_id = %s "
                          "AND recommendations ->> 'kind' = 'disk'", (disk.system_id,)).fetchone()[0]
    eps = ev["anomaly_episodes"]
    assert any(e["metric"] == "disk_io_wait_percent" and e["started_at"].startswith(INCIDENT[0].date().isoformat())
               for e in eps), eps
    # The report counts and lists the same episodes.
    from optimizer.report import build_report, render

    with tsdb_database.connect("analyst") as conn:
        report = build_report(conn, now=NOW)
    host = next(h for h in report["hosts"] if h["hostname"] == disk.hostname)
    assert host["anomaly_episodes"] == eps and host["anomalies"] >= len(eps)
    assert report["fleet"]["anomalies"] == sum(h["anomalies"] for h in report["hosts"])
    assert "disk_io_wait_percent zscore from" in render(report, "html")


@pytest.fixture()
def empty_db(pg_cluster):
    from tests.fixtures.postgres import empty_database

    yield from empty_database(pg_cluster, "t_anom")


@pytest.mark.parametrize("timescaledb", ["off", "require"])
def test_migration_folds_hourly_rows_into_episodes(empty_db, timescaledb):
    migrations = load_migrations()
    before = [m for m in migrations if m.filename < "039"]
    with psycopg.connect(empty_db, autocommit=True) as conn:
        migrate(conn, timescaledb=timescaledb, migrations=before)
        sid = scalar(conn, "INSERT INTO systems (hostname) VALUES ('lab01') RETURNING id")
        t0 = END - timedelta(days=3)
        hours = [t0 + timedelta(hours=h) for h in (0, 1, 2, 4, 10)]       # 0-4: one episode, 10: another
        rows = [{"system_id": str(sid), "kind": "seasonal_zscore", "metric": "cpu_percent",
                 "triggered_at": h.isoformat(), "value": 50 + i, "threshold": 10, "score": 4 + i,
                 "severity": "warning", "baseline": {"median": 10}} for i, h in enumerate(hours)]
        rows.append({"system_id": str(sid), "kind": "spike", "metric": "cpu_percent",
                     "triggered_at": hours[1].isoformat(), "value": 99, "threshold": 60, "score": 39,
                     "severity": "info", "baseline": {"p99_5": 60}})
        assert scalar(conn, "SELECT record_anomalies(%s)", (Jsonb(rows),)) == 6
        conn.execute("UPDATE alert_logs SET is_acknowledged = true, acknowledged_by = 'carol', "
                     "acknowledged_at = now() WHERE triggered_at = %s AND alert_name = 'SruAnomalySeasonalZscore'",
                     (hours[2],))
        migrate(conn, timescaledb=timescaledb, migrations=migrations)
        got = conn.execute("SELECT kind, started_at, ended_at, flagged_hours, peak_value, score, is_acknowledged, "
                           "evidence FROM anomaly_episodes ORDER BY kind, started_at").fetchall()
        assert scalar(conn, "SELECT count(*) FROM alert_logs") == 3
        assert conn.execute("SELECT 1 FROM pg_proc WHERE proname = 'record_anomalies'").fetchone() is None
    assert got == [
        ("seasonal_zscore", hours[0], hours[3] + timedelta(hours=1), 4, 53.0, 7.0, True, {"median": 10}),
        ("seasonal_zscore", hours[4], hours[4] + timedelta(hours=1), 1, 54.0, 8.0, False, {"median": 10}),
        ("spike", hours[1], hours[1] + timedelta(hours=1), 1, 99.0, 39.0, False, {"p99_5": 60}),
    ]


def test_record_episodes_checks_input_and_roles(database):
    load_demo(database, hosts=1, days=2)
    with database.connect() as conn:
        sid = str(conn.execute("SELECT id FROM systems").fetchone()[0])
    good = {"system_id": sid, "kind": "level_shift", "metric": "ram_percent", "started_at": END.isoformat(),
            "ended_at": None, "value": 80, "threshold": 40, "score": 9, "severity": "warning", "hours": 4}
    bad = [({**good, "kind": "bogus"}, "known kind"), ({**good, "metric": "load"}, "known kind"),
           ({**good, "severity": "fatal"}, "known kind"),
           ({**good, "ended_at": (END - timedelta(hours=1)).isoformat()}, "before it starts"),
           ({**good, "evidence": {"x": "y" * 30000}}, "too large")]
    with database.connect(role="analyst") as conn:
        for row, message in bad:
            with pytest.raises(psycopg.Error, match=message):
                conn.execute("SELECT record_anomaly_episodes(%s)", (Jsonb([row]),))
            conn.rollback()
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="JSON array"):
            conn.execute("SELECT record_anomaly_episodes(%s)", (Jsonb({"a": 1}),))
        conn.rollback()
        assert conn.execute("SELECT record_anomaly_episodes(%s)", (Jsonb([good]),)).fetchone()[0] == 1
        # The same episode again, and then extended and closed: one row, updated.
        assert conn.execute("SELECT record_anomaly_episodes(%s)", (Jsonb([good]),)).fetchone()[0] == 0
        closed = {**good, "ended_at": (END + timedelta(hours=6)).isoformat(), "hours": 6}
        assert conn.execute("SELECT record_anomaly_episodes(%s)", (Jsonb([closed]),)).fetchone()[0] == 1
        assert conn.execute("SELECT count(*), min(ended_at) FROM anomaly_episodes").fetchone() == (
            1, END + timedelta(hours=6))
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM alert_logs")
        conn.rollback()
    with database.connect(role="dashboard_readonly") as conn:
        assert conn.execute("SELECT count(*) FROM anomaly_episodes").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT record_anomaly_episodes('[]')")


def test_a_second_anomaly_inside_an_open_episode_is_a_new_alert(database):
    """Issue #22: CPU leaves its normal for a middling level (an episode opens), then, while that
    episode is still open, jumps far higher (a second, different incident). The next pass closes the
    first episode where the second began and opens a second alert_logs row: an open alert of its own
    (the console's alert list and the dashboards show it as new), naming the episode it broke out of."""
    demo = load_demo(database, hosts=1, days=42)
    host = demo.hosts[0].system_id
    t0 = END - timedelta(hours=27)                                  # Saturday 20:00: the night after
    first_cut, second_cut = t0 + timedelta(hours=6), t0 + timedelta(hours=14)
    with database.connect() as conn:
        # Varied values (a constant would also be a stuck series): about 60 %, then about 95 %.
        conn.execute("UPDATE usage_metrics SET cpu_percent = 58 + extract(epoch FROM \"timestamp\")::bigint %% 7 "
                     "WHERE system_id = %s AND \"timestamp\" >= %s AND \"timestamp\" < %s",
                     (host, t0, t0 + timedelta(hours=12)))
        conn.execute("UPDATE usage_metrics SET cpu_percent = 95 + (extract(epoch FROM \"timestamp\")::bigint / 3600) %% 4 "
                     "WHERE system_id = %s AND \"timestamp\" >= %s AND \"timestamp\" < %s",
                     (host, t0 + timedelta(hours=6), t0 + timedelta(hours=12)))
        conn.execute("CREATE TABLE held AS SELECT * FROM usage_metrics WHERE \"timestamp\" >= %s", (first_cut,))
        conn.execute("DELETE FROM usage_metrics WHERE \"timestamp\" >= %s", (first_cut,))
        conn.commit()
    optimize(database, "analyst", now=first_cut + timedelta(hours=1))
    with database.connect() as conn:
        before = [r for r in _episodes(conn, host) if r[2] == "cpu_percent" and r[1] == "zscore"]
        assert [(r[3], r[4]) for r in before] == [(t0, None)]          # the first incident: open
        conn.execute("INSERT INTO usage_metrics SELECT * FROM held WHERE \"timestamp\" < %s", (second_cut,))
        conn.commit()
    optimize(database, "analyst", now=second_cut)
    with database.connect() as conn:
        rows = conn.execute(
            "SELECT id, triggered_at, resolved_at, alert_name, severity, annotations -> 'evidence' "
            "FROM alert_logs WHERE system_id = %s AND metric_name = 'cpu_percent' AND labels ->> 'kind' = 'zscore' "
            "ORDER BY triggered_at", (host,)).fetchall()
    assert len(rows) == 2, rows
    (id1, s1, e1, *_), (id2, s2, e2, name2, sev2, ev2) = rows
    assert id1 == before[0][0] and s1 == t0                        # the first row kept (acks stay on it) ...
    assert e1 == s2 == t0 + timedelta(hours=6)                      # ... closed where the second began
    assert e2 is None and name2 == "SruAnomalyZscore"               # the second: an open alert of its own
    assert ev2["escalates_episode_started_at"] == t0.isoformat()
    # Passes with nothing new keep both rows as they are.
    assert optimize(database, "analyst", now=second_cut).anomalies == 0
