"""The adapter's per-user path on every tier, as data_collector: the sru:user_* series become
user_usage_metrics rows and users rows; a row split across requests is completed, a retried request
changes nothing (no new row version); bad values and labels follow usage_metrics' rules."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest

from remote_write_adapter.mapping import load_mapping
from remote_write_adapter.pivot import Pivoter
from remote_write_adapter.wire import STALE_BYTES
from remote_write_adapter.writer import Writer, prepare_connection
from tests.adapter.test_pivot import series

T0 = 1_700_000_000_000
SERIES = {"sru:user_cpu_cores": 1.5, "sru:user_ram_gb": 2.25, "sru:user_gpu_memory_gb": 3.0,
          "sru:user_gpu_utilization": 150.0, "sru:user_gpus_held": 2.0, "sru:user_gpus_idle_held": 1.0,
          "sru:user_processes": 31.0}


def req(names, user="alice", t=T0, value=None, host="lab1") -> bytes:
    return b"".join(series({"__name__": n, "hostname": host, "user": user},
                           [(t, SERIES[n] if value is None else value)]) for n in names)


@pytest.fixture
def conn(database):
    with database.connect("data_collector") as c:
        prepare_connection(c)
        yield c


def rows(database) -> list[tuple[Any, ...]]:
    with database.connect() as c:
        return c.execute("SELECT s.hostname, u.username, m.cpu_cores, m.ram_gb, m.gpu_memory_gb, m.gpu_utilization, "
                         "m.gpus_held, m.gpus_idle_held, m.processes, m.xmin::text FROM user_usage_metrics m "
                         "JOIN systems s ON s.id = m.system_id JOIN users u ON u.id = m.user_id "
                         "ORDER BY 2, m.\"timestamp\"").fetchall()


def test_rows_completed_idempotent_and_users_upserted(database, conn) -> None:
    w, p = Writer(), Pivoter(load_mapping())
    names = list(SERIES)
    first, second = p.pivot(req(names[:3])), p.pivot(req(names[3:]))
    assert w.write(conn, first).user_usage_rows == 1 and w.write(conn, second).user_usage_rows == 1
    w.write(conn, p.pivot(req(names, user="system")))
    (alice, system) = rows(database)
    assert alice[:9] == ("lab1", "alice", 1.5, 2.25, 3.0, 150.0, 2.0, 1.0, 31)
    assert system[1] == "system"
    w.write(conn, p.pivot(req(names)))          # the same request again: nothing rewritten
    assert rows(database)[0] == alice
    w2 = Writer()                                # another adapter process, no cache
    w2.write(conn, p.pivot(req(names, t=T0 + 60_000)))
    assert len(rows(database)) == 3
    with database.connect() as c:
        assert sorted(r[0] for r in c.execute("SELECT username FROM users")) == ["alice", "system"]


def test_bad_values_and_labels(database, conn) -> None:
    w, p = Writer(), Pivoter(load_mapping())
    b = p.pivot(req(["sru:user_cpu_cores"], value=math.nan) + req(["sru:user_ram_gb"], value=-0.5)
                + req(["sru:user_gpu_memory_gb"], value=-7.0) + req(["sru:user_processes"], value=3e12)
                + req(["sru:user_gpus_held"], value=math.inf))
    assert b.nulls == 4 and not b.refused
    w.write(conn, b)
    assert rows(database)[0][2:9] == (None, 0.0, None, None, None, None, None)
    refused = p.pivot(req(["sru:user_cpu_cores"], user="x" * 300) + req(["sru:user_cpu_cores"], user="")
                      + req(["sru:user_cpu_cores"], user="bad\x00name")
                      + req(["sru:user_cpu_cores"], t=T0 * 3))                # far in the future
    assert refused.dropped["invalid_label"] == 3 and refused.dropped["invalid_timestamp"] == 1
    assert not refused.user_usage
    stale_nan = struct.unpack("<d", STALE_BYTES)[0]
    stale = p.pivot(series({"__name__": "sru:user_cpu_cores", "hostname": "lab1", "user": "alice"},
                           [(T0 + 1, stale_nan)]))
    assert stale.dropped["stale_marker"] == 1 and not stale.user_usage
