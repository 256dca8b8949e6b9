"""The pivot's fast path (Prometheus's layout, timestamps and label blocks seen before) and its
general field walker must read every encoding of the same WriteRequest the same way."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest

from remote_write_adapter.mapping import load_mapping
from remote_write_adapter.pivot import Batch, Pivoter
from remote_write_adapter.wire import ProtocolError
from sru.columns import SCALAR_COLUMNS

T0 = 1_700_000_000_000
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
CPU, RAM = SCALAR_COLUMNS.index("cpu_percent"), SCALAR_COLUMNS.index("ram_percent")


def varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    return bytes(out) + bytes([v])


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def label(name: str, value: str) -> bytes:
    return field(1, field(1, name.encode()) + field(2, value.encode()))


def sample(t: int, v: float) -> bytes:
    return field(2, b"\x09" + struct.pack("<d", v) + b"\x10" + varint(t))


def series(labels: dict[str, str], samples: list[tuple[int, float]], order: str = "prometheus") -> bytes:
    ls = [label(k, labels[k]) for k in sorted(labels)]
    ss = [sample(t, v) for t, v in samples]
    if order == "samples_first":
        parts = ss + ls
    elif order == "interleaved":
        parts = ls[:1] + ss + ls[1:]
    else:
        parts = ls + ss
    return field(1, b"".join(parts))


def summary(b: Batch) -> tuple[Any, ...]:
    return (b.usage, {h: (f.location, f.columns, f.max_ts) for h, f in b.hosts.items()}, b.samples,
            b.accepted, dict(b.dropped), b.nulls)


def host(name: str, column: str, **extra: str) -> dict[str, str]:
    return {"__name__": f"sru:{column}", "hostname": name, "instance": f"{name}:9847", "job": "sru", **extra}


REQUEST = [
    (host("lab1", "cpu_percent", location="room 1"), [(T0, 12.5)]),
    (host("lab1", "ram_percent"), [(T0, 40.0)]),
    (host("lab1", "cpu_per_core", cpu="0"), [(T0, 10.0)]),
    (host("lab2", "cpu_percent"), [(T0 + 1000, math.nan)]),
    (host("lab2", "ram_percent"), [(T0 + 1000, STALE)]),
    (host("lab2", "cpu_percent"), [(T0 - 2000, 100.5)]),  # rate jitter, clamped
    ({"__name__": "node_load1", "instance": "x:1"}, [(T0, 1.0)]),
]


def test_fast_path_result():
    p = Pivoter(load_mapping())
    raw = b"".join(series(*s) for s in REQUEST)
    for _ in range(2):  # a cold cache, then the steady state on every series
        b = p.pivot(raw)
        assert b.usage[("lab1", T0)][CPU] == 12.5 and b.usage[("lab1", T0)][RAM] == 40.0
        assert b.usage[("lab1", T0)][-1] == {"0": 10.0}
        assert b.usage[("lab2", T0 + 1000)][CPU] is None and ("lab2", T0 + 1000) in b.usage
        assert b.usage[("lab2", T0 + 1000)][RAM] is None
        assert b.usage[("lab2", T0 - 2000)][CPU] == 100.0
        assert b.hosts["lab1"].location == "room 1" and b.hosts["lab2"].max_ts == T0 + 1000
        assert (b.samples, b.accepted, b.nulls) == (7, 5, 1)
        assert dict(b.dropped) == {"stale_marker": 1, "unknown_series": 1}


@pytest.mark.parametrize("order", ["samples_first", "interleaved"])
def test_other_field_orders_read_alike(order):
    m = load_mapping()
    canonical = Pivoter(m).pivot(b"".join(series(*s) for s in REQUEST))
    warm = Pivoter(m)
    warm.pivot(b"".join(series(*s) for s in REQUEST))
    for p in (Pivoter(m), warm):
        assert summary(p.pivot(b"".join(series(*s, order=order) for s in REQUEST))) == summary(canonical)


def test_several_samples_long_labels_and_small_timestamps():
    long_loc = "L" * 300  # two-byte label lengths leave the fast path
    req = [(host("lab1", "cpu_percent", location=long_loc), [(T0, 1.0), (T0 + 1, 2.0)]),
           (host("lab1", "ram_percent"), [(5, 3.0)]),       # one-byte timestamp varint
           (host("lab1", "load_1m"), [(0, 0.0)]),           # proto3 omits both sample fields
           (host("lab1", "load_1m"), [(-1000, 4.0)])]       # negative timestamp: 10-byte varint
    p = Pivoter(load_mapping())
    for _ in range(2):
        b = p.pivot(b"".join(series(*s) for s in req))
        assert b.usage[("lab1", T0)][CPU] == 1.0 and b.usage[("lab1", T0 + 1)][CPU] == 2.0
        assert b.usage[("lab1", 5)][RAM] == 3.0
        assert b.usage[("lab1", 0)][SCALAR_COLUMNS.index("load_1m")] == 0.0
        assert b.usage[("lab1", -1000)][SCALAR_COLUMNS.index("load_1m")] == 4.0
        assert b.hosts["lab1"].location == long_loc and b.accepted == 5


def test_label_value_that_looks_like_a_sample_tail():
    # A label value ending in the bytes of an encoded sample whose timestamp the request has seen
    # must stay a label (value 2.0 at t=5 encodes as ASCII, so it is a valid label value).
    tail = sample(5, 2.0)
    first = series(host("lab1", "cpu_percent"), [(5, 1.0)])
    tricky = field(1, label("__name__", "sru:ram_percent") + label("hostname", "lab1")
                   + label("zz", "x" + tail.decode("ascii")))
    assert tricky.endswith(tail)
    p = Pivoter(load_mapping())
    for _ in range(2):
        b = p.pivot(first + tricky)
        # The second TimeSeries has no sample: only the first one contributes a value.
        assert b.usage == {("lab1", 5): [*(1.0 if i == CPU else None for i in range(len(SCALAR_COLUMNS))), None]}
        assert b.samples == 1


def test_truncated_series_is_a_protocol_error():
    raw = series(host("lab1", "cpu_percent"), [(T0, 1.0)])
    p = Pivoter(load_mapping())
    p.pivot(raw)
    with pytest.raises(ProtocolError) as exc:
        p.pivot(raw[:-3])
    assert exc.value.status == 400


def test_values_are_stored_on_their_column_grid():
    """Full-precision rate() output lands on a dyadic grid (sru.columns): exact in few
    mantissa bits, so compressed chunks stay small (bench/storage)."""
    from sru.columns import COLUMN_QUANTA

    raw = b"".join([
        series({"__name__": "sru:cpu_percent", "hostname": "lab1"}, [(T0, 12.345678901)]),
        series({"__name__": "sru:net_recv_mb_s", "hostname": "lab1"}, [(T0, 0.0123456)]),
        series({"__name__": "sru:load_1m", "hostname": "lab1"}, [(T0, 0.37)]),
        series({"__name__": "sru:cpu_per_core", "hostname": "lab1", "cpu": "3"}, [(T0, 99.99)]),
    ])
    row = Pivoter(load_mapping()).pivot(raw).usage[("lab1", T0)]
    assert row[CPU] == 790 / 64 == 12.34375
    assert row[SCALAR_COLUMNS.index("net_recv_mb_s")] == 13 / 1024
    assert row[SCALAR_COLUMNS.index("load_1m")] == 47 / 128
    assert row[-1] == {"3": 6399 / 64}
    for col, q in COLUMN_QUANTA.items():
        assert q & (q - 1) == 0, f"{col}: {q} is not a power of two"


def test_grid_rounding_survives_huge_values():
    """Found by the property tests: 1.7e305 MB/s times the grid's 1024 overflowed to infinity."""
    raw = series({"__name__": "sru:disk_read_mb_s", "hostname": "lab1"}, [(T0, 1.7555597020139804e+305)])
    row = Pivoter(load_mapping()).pivot(raw).usage[("lab1", T0)]
    assert row[SCALAR_COLUMNS.index("disk_read_mb_s")] == 1.7555597020139804e+305
