"""Remote write into real PostgreSQL/TimescaleDB through a real `sru adapter` (gunicorn)."""

from __future__ import annotations

import math
import struct

import pytest

from tests.fixtures.adapter import Series

T0 = 1_700_000_000_000  # ms
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def usage(host: str, t: int, **values: float) -> list[Series]:
    return [({"__name__": f"sru:{col}", "hostname": host, "instance": f"{host}:9847", "job": "sru"},
             [(t, v)]) for col, v in values.items()]


def rows(db, sql: str, *params):
    with db.connect() as conn:
        return conn.execute(sql, params).fetchall()


def test_row_from_one_request(database, adapter):
    r = adapter.write(usage("lab1", T0, cpu_percent=12.5, ram_percent=40.0, load_1m=0.25)
                      + [({"__name__": "sru:cpu_per_core", "hostname": "lab1", "cpu": "0"}, [(T0, 10.0)]),
                         ({"__name__": "sru:cpu_per_core", "hostname": "lab1", "cpu": "1"}, [(T0, 15.0)])])
    assert r.status_code == 204, r.text
    got = rows(database, "SELECT s.hostname, m.timestamp, m.cpu_percent, m.ram_percent, m.load_1m, "
                         "m.cpu_per_core, s.last_seen = m.timestamp FROM usage_metrics m "
                         "JOIN systems s ON s.id = m.system_id")
    assert len(got) == 1
    host, ts, cpu, ram, load, per_core, seen = got[0]
    assert (host, ts.timestamp() * 1000, cpu, ram, load) == ("lab1", T0, 12.5, 40.0, 0.25)
    assert per_core == {"0": 10.0, "1": 15.0}
    assert seen, "last_seen must follow the newest stored row on every tier"


def test_split_and_duplicate_requests(database, adapter):
    first = usage("lab1", T0, cpu_percent=50.0) + [
        ({"__name__": "sru:cpu_per_core", "hostname": "lab1", "cpu": "0"}, [(T0, 40.0)])]
    second = usage("lab1", T0, ram_percent=60.0, net_sent_mb_s=1.5) + [
        ({"__name__": "sru:cpu_per_core", "hostname": "lab1", "cpu": "1"}, [(T0, 60.0)])]
    for part in (first, second, second, first):  # retries of both halves change nothing
        assert adapter.write(part).status_code == 204
    got = rows(database, "SELECT cpu_percent, ram_percent, net_sent_mb_s, cpu_per_core FROM usage_metrics")
    assert got == [(50.0, 60.0, 1.5, {"0": 40.0, "1": 60.0})]
    assert rows(database, "SELECT count(*) FROM systems") == [(1,)]


def test_special_values(database, adapter):
    series = usage("lab1", T0, cpu_percent=math.nan, ram_percent=100.4, swap_percent=250.0,
                   disk_read_mb_s=-0.2, load_1m=math.inf)
    series += usage("lab1", T0 + 1000, cpu_percent=STALE, ram_percent=30.0)
    series += [({"__name__": "node_cpu_seconds_total", "instance": "x:1"}, [(T0, 1.0)])]
    assert adapter.write(series).status_code == 204
    got = rows(database, "SELECT cpu_percent, ram_percent, swap_percent, disk_read_mb_s, load_1m "
                         "FROM usage_metrics ORDER BY timestamp")
    # NaN/Inf → NULL; 100.4 is rate jitter → clamped; 250 % is wrong → NULL; stale marker not a value.
    assert got == [(None, 100.0, None, 0.0, None), (None, 30.0, None, None, None)]
    assert adapter.metric("sru_adapter_samples_dropped_total", reason="unknown_series") == 1
    assert adapter.metric("sru_adapter_samples_dropped_total", reason="stale_marker") == 1
    assert adapter.metric("sru_adapter_values_null_total") == 3


@pytest.mark.parametrize("hostname", [
    "lab'1\"; DROP TABLE systems; --",
    "λ-wörkstation-💻",
    "x" * 253,
    "a\\b$1{{}}%s",
])
def test_hostile_labels_stored_verbatim(database, adapter, hostname):
    loc = "room'); DELETE FROM usage_metrics; --"
    r = adapter.write([({"__name__": "sru:cpu_percent", "hostname": hostname, "location": loc}, [(T0, 5.0)]),
                       ({"__name__": "sru:system_info", "hostname": hostname, "cpu_model": "Robert'); --",
                         "gpu_model": ""}, [(T0, 1.0)])])
    assert r.status_code == 204, r.text
    assert rows(database, "SELECT hostname, location, cpu_model, gpu_model FROM systems") == [
        (hostname, loc, "Robert'); --", None)]
    assert rows(database, "SELECT count(*) FROM usage_metrics") == [(1,)]


@pytest.mark.parametrize("hostname", ["x" * 254, "nul\x00byte"])
def test_unstorable_labels_refused(database, adapter, hostname):
    r = adapter.write(usage("good", T0, cpu_percent=1.0)
                      + [({"__name__": "sru:cpu_percent", "hostname": hostname}, [(T0, 5.0)])])
    assert r.status_code == 400
    assert "refused 1" in r.text
    # The storable part was committed first: nothing is lost when Prometheus drops the batch.
    assert rows(database, "SELECT hostname FROM systems") == [("good",)]


def test_host_from_instance_and_systems_facts(database, adapter):
    r = adapter.write([
        ({"__name__": "sru:load_1m", "instance": "lab7.example.org:9100", "location": "B-204"}, [(T0, 1.0)]),
        ({"__name__": "sru:load_1m", "instance": "[2001:db8::7]:9100"}, [(T0, 1.0)]),
        ({"__name__": "sru:system_info", "hostname": "lab8", "cpu_model": "Xeon", "gpu_model": "A100, T4"},
         [(T0, 1.0)]),
        ({"__name__": "sru:system_cpu_cores", "hostname": "lab8"}, [(T0, 16.0)]),
        ({"__name__": "sru:system_ram_total_gb", "hostname": "lab8"}, [(T0, 62.5)]),
        ({"__name__": "sru:system_gpus", "hostname": "lab8"}, [(T0, 2.0)]),
    ])
    assert r.status_code == 204, r.text
    got = rows(database, "SELECT hostname, location, cpu_model, gpu_model, cpu_cores, ram_total_gb, gpu_count, "
                         "last_seen IS NOT NULL FROM systems ORDER BY hostname")
    assert got == [("2001:db8::7", None, None, None, None, None, 0, True),
                   ("lab7.example.org", "B-204", None, None, None, None, 0, True),
                   ("lab8", None, "Xeon", "A100, T4", 16, 62.5, 2, False)]


def test_processes_and_sessions(database, adapter):
    h = {"hostname": "lab1", "instance": "lab1:9847", "job": "sru"}
    sess = {**h, "__name__": "sru:session_login_time_seconds", "user": "alice", "terminal": "pts/0",
            "remote_host": "10.0.0.5"}
    login = T0 / 1000 - 600
    step = 60_000
    batch = []
    for i, (cpu, ram) in enumerate([(20.0, 30.0), (95.0, 35.0), (40.0, 80.0)]):
        t = T0 + i * step
        batch += usage("lab1", t, cpu_percent=cpu, ram_percent=ram)
        batch += [(sess, [(t, login)]),
                  ({**h, "__name__": "sru:process_cpu_percent", "pid": "42", "name": "python3", "user": "alice"},
                   [(t, 150.0 + i)]),
                  ({**h, "__name__": "sru:process_memory_mb", "pid": "42", "name": "python3", "user": "alice"},
                   [(t, 300.0)]),
                  ({**h, "__name__": "sru:process_cpu_percent", "pid": "7", "name": "sshd", "user": "root"},
                   [(t, 0.5)])]
    assert adapter.write(batch).status_code == 204
    assert rows(database, "SELECT u.username, s.terminal, s.remote_host, s.is_active, s.logout_time "
                          "FROM user_sessions s JOIN users u ON u.id = s.user_id") == [
        ("alice", "pts/0", "10.0.0.5", True, None)]
    assert rows(database, "SELECT count(*), max(cpu_percent) FROM process_snapshots WHERE username = 'alice'") \
        == [(3, 152.0)]
    # Logout: the stale marker closes the session and fills what it did from what is stored.
    t_out = T0 + 3 * step
    for _ in range(2):  # a retried request changes nothing
        assert adapter.write([(sess, [(t_out, STALE)])]).status_code == 204
    got = rows(database, "SELECT is_active, logout_time, session_duration_minutes, peak_cpu_usage, "
                         "peak_ram_usage, active_processes FROM user_sessions")
    active, logout, minutes, peak_cpu, peak_ram, procs = got[0]
    assert (active, logout.timestamp() * 1000, minutes, peak_cpu, peak_ram) == (False, t_out, 13.0, 95.0, 80.0)
    assert procs == [{"name": "python3", "max_cpu_percent": 152.0, "max_memory_mb": 300.0}]


def test_vanished_session_closed(database, adapter):
    sess = {"__name__": "sru:session_login_time_seconds", "hostname": "lab1", "user": "bob", "terminal": ""}
    assert adapter.write([(sess, [(T0, T0 / 1000 - 60)])] + usage("lab1", T0, cpu_percent=10.0)).status_code == 204
    # 10 minutes later the session is still gone from fresh rows: not yet (default 15 minutes) ...
    assert adapter.write(usage("lab1", T0 + 600_000, cpu_percent=10.0)).status_code == 204
    assert rows(database, "SELECT is_active FROM user_sessions") == [(True,)]
    # ... 20 minutes later it is closed at the last time it was seen.
    assert adapter.write(usage("lab1", T0 + 1_200_000, cpu_percent=10.0)).status_code == 204
    (active, logout), = rows(database, "SELECT is_active, logout_time FROM user_sessions")
    assert not active and logout.timestamp() * 1000 == T0


def test_retried_request_writes_no_new_row_version(database, adapter):
    """The merge copies only the columns a request brings and leaves a row it would not change alone:
    Prometheus retries whole requests, and each needless update is a new tuple version with its index
    entries and WAL (bench/README.md, "Soak"). A changed value still wins."""
    first = usage("lab1", T0, cpu_percent=50.0) + [
        ({"__name__": "sru:cpu_per_core", "hostname": "lab1", "cpu": "0"}, [(T0, 40.0)])]
    second = usage("lab1", T0, ram_percent=60.0)
    for part in (first, second):
        assert adapter.write(part).status_code == 204
    version = "SELECT xmin::text, ctid::text FROM usage_metrics"
    before = rows(database, version)
    for part in (first, second, first):
        assert adapter.write(part).status_code == 204
    assert rows(database, version) == before
    assert adapter.write(usage("lab1", T0, ram_percent=61.0)).status_code == 204
    assert rows(database, version) != before
    assert rows(database, "SELECT cpu_percent, ram_percent, cpu_per_core FROM usage_metrics") == [
        (50.0, 61.0, {"0": 40.0})]
