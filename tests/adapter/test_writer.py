"""The Writer's steady-state shortcuts (systems facts written only when they change, vanished-session
checks only where sessions are open) against real PostgreSQL/TimescaleDB, as data_collector."""

from __future__ import annotations

from typing import Any

import pytest

from remote_write_adapter import writer
from remote_write_adapter.mapping import load_mapping
from remote_write_adapter.pivot import Pivoter
from remote_write_adapter.writer import Writer, prepare_connection
from sru.columns import SCALAR_COLUMNS
from tests.adapter.test_pivot import series

T0 = 1_700_000_000_000
MIN = 60_000


def request(t: int, location: str | None = None, session: str | None = None, cpu: float = 10.0) -> bytes:
    labels = {"__name__": "sru:cpu_percent", "hostname": "lab1"}
    if location:
        labels["location"] = location
    raw = series(labels, [(t, cpu)])
    if session:
        raw += series({"__name__": "sru:session_login_time_seconds", "hostname": "lab1", "user": session},
                      [(t, T0 / 1000 - 60)])
    return raw


@pytest.fixture
def conn(database):
    with database.connect("data_collector") as c:
        prepare_connection(c)
        yield c


def fetch(database, sql: str) -> list[tuple[Any, ...]]:
    with database.connect() as c:
        return c.execute(sql).fetchall()


def test_facts_follow_label_changes_and_only_committed_ones_are_remembered(database, conn):
    w, p = Writer(), Pivoter(load_mapping())
    w.write(conn, p.pivot(request(T0, location="A")))
    w.write(conn, p.pivot(request(T0 + MIN, location="A")))
    assert fetch(database, "SELECT location FROM systems") == [("A",)]
    # A batch that fails after the systems update rolls it back: "B" must not count as written.
    bad = p.pivot(request(T0 + 2 * MIN, location="B"))
    bad.usage[("lab1", T0 + 2 * MIN)][SCALAR_COLUMNS.index("cpu_percent")] = 500.0  # CHECK violation
    # The database refuses it: the host's part is refused (counted, a 400), never raised as a 5xx.
    assert w.write(conn, bad).usage_rows == 0
    assert bad.dropped["refused_by_database"] == 1 and "cpu_percent_check" in bad.refused[0]
    assert fetch(database, "SELECT location FROM systems") == [("A",)]
    w.write(conn, p.pivot(request(T0 + 3 * MIN, location="B")))
    assert fetch(database, "SELECT location FROM systems") == [("B",)]
    w.write(conn, p.pivot(request(T0 + 4 * MIN, location="A")))
    assert fetch(database, "SELECT location FROM systems") == [("A",)]


def test_session_opened_elsewhere_is_closed_once_seen(database, conn, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("remote_write_adapter.writer.time.monotonic", lambda: clock[0])
    here, elsewhere, p = Writer(), Writer(), Pivoter(load_mapping())
    here.write(conn, p.pivot(request(T0)))             # learns: no host has an open session
    elsewhere.write(conn, p.pivot(request(T0, session="bob")))  # another worker opens one
    assert fetch(database, "SELECT is_active FROM user_sessions") == [(True,)]
    clock[0] += writer.ACTIVE_SESSIONS_REFRESH + 1
    here.write(conn, p.pivot(request(T0 + 20 * MIN)))  # bob's series is gone for 20 minutes
    assert fetch(database, f"SELECT is_active, logout_time = to_timestamp({T0:d} / 1000.0) FROM user_sessions") == [(False, True)]


def test_vanished_check_at_most_once_a_minute_of_sample_time(database, conn):
    w, p = Writer(), Pivoter(load_mapping())
    w.write(conn, p.pivot(request(T0, session="bob")))
    w.write(conn, p.pivot(request(T0 + 14 * MIN + 45_000)))  # checked: not 15 minutes yet
    w.write(conn, p.pivot(request(T0 + 15 * MIN + 15_000)))  # stale, but checked 30 s ago
    assert fetch(database, "SELECT is_active FROM user_sessions") == [(True,)]
    w.write(conn, p.pivot(request(T0 + 15 * MIN + 45_000)))
    assert fetch(database, f"SELECT is_active, logout_time = to_timestamp({T0:d} / 1000.0) FROM user_sessions") == [(False, True)]


def test_concurrent_rule_ordered_requests_complete_every_row(database, adapter_factory):
    """Prometheus sends recording-rule output rule by rule, so concurrent requests (shards, a
    backlog after an outage) complete the same rows, and the first ones create the same chunk:
    every request must still succeed and every row end up whole."""
    from concurrent.futures import ThreadPoolExecutor

    import requests as http

    from tests.fixtures.adapter import WRITE_HEADERS, snappy

    a = adapter_factory(database.role_url("data_collector"), workers=2)
    hosts, evaluations = 40, 3
    columns = ["cpu_percent", "ram_percent", "swap_percent", "load_1m", "net_sent_mb_s"]
    encoded = [series({"__name__": f"sru:{c}", "hostname": f"lab{h}"}, [(T0 + e * MIN, float(h % 50 + i))])
               for e in range(evaluations) for i, c in enumerate(columns) for h in range(hosts)]
    bodies = [snappy(b"".join(encoded[i:i + 30])) for i in range(0, len(encoded), 30)]

    def post(body: bytes) -> int:
        return http.post(a.url + "/api/v1/write", data=body, headers=WRITE_HEADERS, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(post, bodies))
    assert codes == [204] * len(bodies)
    assert fetch(database, "SELECT count(*), count(cpu_percent), count(ram_percent), count(swap_percent), "
                           "count(load_1m), count(net_sent_mb_s) FROM usage_metrics") == [
        (hosts * evaluations,) * 6]
