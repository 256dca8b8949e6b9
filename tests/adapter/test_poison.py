"""Issue #13's poison pills for the adapter, replayed against a real `sru adapter` and a real
database: each must be answered 4xx or stored partly (the storable rest committed, the rest dropped
and counted by reason in /metrics), never 5xx while the database is up."""

from __future__ import annotations

import random
import time

import psutil
import pytest

from tests.adapter.test_write import T0, rows, usage
from tests.fixtures.adapter import Series

NOW = int(time.time() * 1000)


def good() -> list[Series]:
    """The valid sample of another host that every poisoned request also carries."""
    return usage("good", T0, cpu_percent=12.5)


def stored_good(database) -> None:
    assert rows(database, "SELECT s.hostname, m.cpu_percent FROM usage_metrics m JOIN systems s ON s.id = m.system_id "
                          "WHERE s.hostname = 'good'") == [("good", 12.5)]


@pytest.mark.parametrize("ts", [253402300800000, 2**63 - 1, -62135596800001, -(2**63), NOW + 2 * 3_600_000])
def test_timestamp_out_of_range_is_400_and_the_rest_is_stored(database, adapter, ts):
    r = adapter.write(good() + usage("bad", ts, cpu_percent=1.0))
    assert r.status_code == 400, r.text
    assert "stored 1 samples; refused 1" in r.text and "timestamp" in r.text
    stored_good(database)
    assert rows(database, "SELECT count(*) FROM usage_metrics") == [(1,)]
    assert adapter.metric("sru_adapter_samples_dropped_total", reason="invalid_timestamp") == 1
    # Every other kind of series: the same answer, never a 500.
    h = {"hostname": "bad2", "instance": "bad2:9847"}
    others = [({**h, "__name__": "sru:system_cpu_cores"}, [(ts, 4.0)]),
              ({**h, "__name__": "sru:session_login_time_seconds", "user": "u", "terminal": "t"}, [(ts, 1.0)]),
              ({**h, "__name__": "sru:process_cpu_percent", "pid": "1", "name": "init"}, [(ts, 1.0)]),
              ({**h, "__name__": "sru:cpu_per_core", "cpu": "0"}, [(ts, 1.0), (T0, 2.0)])]
    r = adapter.write(others)
    assert r.status_code == 400 and "stored 1 samples; refused 4" in r.text, r.text


def test_session_login_in_milliseconds_is_dropped_and_counted(database, adapter):
    sess = {"__name__": "sru:session_login_time_seconds", "hostname": "lab1", "user": "alice", "terminal": "pts/0"}
    r = adapter.write(good() + [(sess, [(T0, 1e12)]), (sess, [(T0 + 1, T0 * 1.0)])])
    assert r.status_code == 204, r.text
    stored_good(database)
    assert rows(database, "SELECT count(*) FROM user_sessions") == [(0,)]
    assert adapter.metric("sru_adapter_samples_dropped_total", reason="invalid_value") == 2


@pytest.mark.parametrize("labels", [
    {"__name__": "sru:process_cpu_percent", "pid": "42", "name": "x", "user": "".join(
        chr(random.Random(1).randrange(0x10000, 0x10FFFF)) for _ in range(700))},
    {"__name__": "sru:session_login_time_seconds", "user": "alice", "terminal": "".join(
        chr(random.Random(2).randrange(0x4E00, 0x9FFF)) for _ in range(1024))},
    {"__name__": "sru:cpu_percent", "location": "é" * 600},
    {"__name__": "sru:cpu_per_core", "cpu": "ü" * 33},
])
def test_labels_over_the_byte_limits_are_400_and_the_rest_is_stored(database, adapter, labels):
    # Under 1024 characters, over 1024 bytes: before, a btree "index row size" error became a 503.
    r = adapter.write(good() + [({**labels, "hostname": "bad"}, [(T0, 1.0 if "session" not in labels["__name__"]
                                                                   else T0 / 1000 - 60)])])
    assert r.status_code == 400, r.text
    assert "stored 1 samples; refused 1" in r.text
    stored_good(database)
    assert adapter.metric("sru_adapter_samples_dropped_total", reason="invalid_label") == 1


def test_labels_just_under_the_byte_limits_are_stored(database, adapter):
    user = "ü" * 128  # 256 bytes... within users.username's 256 characters
    term = "€" * 341   # 1023 bytes
    sess = {"__name__": "sru:session_login_time_seconds", "hostname": "lab1", "user": user, "terminal": term}
    proc = {"__name__": "sru:process_cpu_percent", "hostname": "lab1", "pid": "9", "name": "n" * 1024,
            "user": "ü" * 512}
    r = adapter.write([(sess, [(T0, T0 / 1000 - 60)]), (proc, [(T0, 3.0)])])
    assert r.status_code == 204, r.text
    assert rows(database, "SELECT octet_length(terminal) FROM user_sessions") == [(1023,)]
    assert rows(database, "SELECT octet_length(username) FROM process_snapshots") == [(1024,)]


@pytest.mark.parametrize("series, value", [
    ("sru:system_cpu_cores", 0.0),     # our exporter sends 0 where psutil cannot count
    ("sru:system_cpu_cores", 0.5),
    ("sru:system_cpu_cores", 3e9),     # over int4
    ("sru:system_gpus", 3e9),
    ("sru:system_gpus", -1.0),
    ("sru:system_ram_total_gb", float("inf")),
])
def test_systems_values_outside_their_columns_are_dropped_and_the_rest_is_stored(database, adapter, series, value):
    r = adapter.write(good() + [({"__name__": series, "hostname": "good"}, [(T0, value)]),
                                ({"__name__": "sru:system_cpu_cores", "hostname": "other"}, [(T0, 8.0)])])
    assert r.status_code == 204, r.text
    stored_good(database)
    assert rows(database, "SELECT hostname, cpu_cores, gpu_count, ram_total_gb FROM systems ORDER BY hostname") == [
        ("good", None, 0, None), ("other", 8, 0, None)]
    assert adapter.metric("sru_adapter_samples_dropped_total", reason="invalid_value") == 1


def test_temperatures_outside_physics_are_null(database, adapter):
    r = adapter.write(usage("lab1", T0, cpu_temp=1e308, gpu_temp=-300.0)
                      + usage("lab1", T0 + 1000, cpu_temp=-273.5, gpu_temp=1000.4)
                      + usage("lab1", T0 + 2000, cpu_temp=-40.0, gpu_temp=95.0))
    assert r.status_code == 204, r.text
    assert rows(database, "SELECT cpu_temp, gpu_temp FROM usage_metrics ORDER BY timestamp") == [
        (None, None), (-273.15, 1000.0), (-40.0, 95.0)]
    assert adapter.metric("sru_adapter_values_null_total") == 2


def _rss(proc: psutil.Process) -> int:
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


def test_label_cache_is_bounded_in_bytes(database, adapter_factory):
    """1,000 requests, each with a new 100 KB label, grew the adapter by ~97 MiB before (the cache
    counted entries); with an 8 MiB cache it must stay far below that."""
    a = adapter_factory(database.role_url("data_collector"), "--write.label-cache-size=8MiB")
    proc = psutil.Process(a.proc.pid)
    rnd = random.Random(13)
    blob = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(100_000))

    def burst(n: int, start: int) -> None:
        for i in range(start, start + n):
            r = a.write(usage("lab1", T0 + i, cpu_percent=1.0)
                        + [({"__name__": "sru:cpu_percent", "hostname": "lab1", "x": f"{i}{blob}"}, [(T0 + i, 1.0)])])
            assert r.status_code == 204, r.text

    burst(200, 0)  # warm-up: the cache fills
    before = _rss(proc)
    burst(800, 200)
    grown = _rss(proc) - before
    assert grown < 40 << 20, f"RSS grew by {grown >> 20} MiB"
    assert rows(database, "SELECT count(*) FROM usage_metrics") == [(1000,)]


def test_what_the_database_still_refuses_costs_only_its_host(database):
    """Defence in depth: a row the pivot's checks let through (forced here past them) that the
    database refuses, a CHECK or an index entry over btree's 2704 bytes (an OperationalError in
    psycopg, formerly a 503), loses only its host's part; the other hosts' rows are committed."""
    from remote_write_adapter.mapping import load_mapping
    from remote_write_adapter.pivot import Pivoter
    from remote_write_adapter.writer import Writer, prepare_connection
    from sru.columns import SCALAR_COLUMNS
    from tests.fixtures.adapter import write_request

    p, w = Pivoter(load_mapping()), Writer()
    raw = write_request(good() + usage("bad1", T0, cpu_percent=1.0) + [
        ({"__name__": "sru:process_cpu_percent", "hostname": "bad2", "pid": "1", "name": "x", "user": "u"},
         [(T0, 1.0)])])
    batch = p.pivot(raw)
    batch.usage[("bad1", T0)][SCALAR_COLUMNS.index("cpu_percent")] = 101.0
    key = ("bad2", T0, 1)
    batch.processes[key][1] = "".join(chr(0x10000 + i * 7919 % 0xFFFFF) for i in range(800))  # 3200 bytes
    with database.connect("data_collector") as conn:
        prepare_connection(conn)
        res = w.write(conn, batch)
    assert res.usage_rows == 1
    assert batch.dropped["refused_by_database"] == 2
    # The adapter counts them: its one telemetry call comes after the write.
    from prometheus_client import REGISTRY

    from remote_write_adapter import telemetry

    def dropped() -> float:
        return REGISTRY.get_sample_value("sru_adapter_samples_dropped_total", {"reason": "refused_by_database"}) or 0
    before = dropped()
    telemetry.record_write(batch, res, 0.01, p.cache_bytes)
    assert dropped() - before == 2
    assert any("index row size" in d for d in batch.refused), batch.refused
    assert rows(database, "SELECT hostname FROM systems ORDER BY hostname") == [("good",)]
    stored_good(database)
