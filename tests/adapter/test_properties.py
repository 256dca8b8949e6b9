"""Property-based tests (hypothesis) of the adapter's decode → pivot → write path against a real
database as data_collector: whatever a sender writes, the pivot either refuses the request as
malformed (ProtocolError, a 400) or yields a batch that the database stores whole — the database
never refuses what the pivot accepted (that would be a lost batch or a 5xx) — and writing it again
changes nothing."""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Mapping

import cramjam
import psycopg
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from remote_write_adapter.mapping import load_mapping
from remote_write_adapter.pivot import Pivoter
from remote_write_adapter.protocol import Limits, decode_write
from remote_write_adapter.wire import ProtocolError
from remote_write_adapter.writer import Writer, prepare_connection
from tests.fixtures.adapter import WRITE_HEADERS, Series, write_request

MAPPING = load_mapping()
NAMES = sorted(name for name in [*MAPPING.usage, MAPPING.info_series, *MAPPING.system_values, MAPPING.session_series,
                                 MAPPING.process_cpu, MAPPING.process_memory, "node_cpu_seconds_total", ""]
               if name is not None)
LABELS = ["hostname", "instance", "location", "cpu", "user", "terminal", "remote_host", "pid", "name",
          "cpu_model", "gpu_model"]
T_NOW = 1_764_000_000_000
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]

# Text that stresses the byte limits: ASCII, 2-, 3- and 4-byte characters, NUL, long runs.
text = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.sampled_from("aé€😀\x00:"), max_size=1200),
    # Random 4-byte characters: incompressible, so PostgreSQL cannot squeeze an index entry of them.
    st.text(alphabet=st.characters(min_codepoint=0x10000, max_codepoint=0x3FFFF), min_size=600, max_size=1024),
    st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=900, max_size=1024),
    st.sampled_from(["lab1", "lab2", "x" * 253, "x" * 254, "ü" * 128, "ü" * 129, "€" * 341, "€" * 342,
                     "😀" * 700, "€" * 1024,
                     "12", "-1", "2147483648", "lab1:9100", "[::1]:9100"]),
)
timestamps = st.one_of(
    st.integers(T_NOW - 10**9, T_NOW + 10**7),
    st.sampled_from([0, -1000, 253402300800000, -62135596800001, 2**63 - 1, -(2**63), T_NOW + 2 * 3_600_000]),
    st.integers(-(2**63), 2**63 - 1),
)
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 0.5, 1.0, 100.0, 100.5, 101.5, -0.5, 1e12, 3e9, 1e308, -1e308, STALE,
                     T_NOW / 1000, T_NOW / 1000 - 2e6, T_NOW * 1.0]),
)
BASE = {"hostname": "lab1", "pid": "42", "name": "py", "user": "alice", "terminal": "pts/0", "cpu": "0"}
series = st.tuples(
    # A series of every kind that is valid but for up to two hostile labels.
    st.builds(lambda name, hostile: {**BASE, "__name__": name, **hostile}, st.sampled_from(NAMES),
              st.dictionaries(st.sampled_from(LABELS),
                              st.one_of(text, st.integers(-5, 2**32).map(str)), max_size=2)),
    st.lists(st.tuples(timestamps, values), min_size=1, max_size=3),
)
requests_ = st.lists(series, min_size=1, max_size=12)

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _labels_ok(labels: Mapping[str, str]) -> bool:
    return all(not (0xD800 <= ord(c) <= 0xDFFF) for v in labels.values() for c in v)


def _write_twice(conn: psycopg.Connection, writer: Writer, pivoter: Pivoter, raw: bytes) -> None:
    batch = pivoter.pivot(raw, now_ms=T_NOW)
    res = writer.write(conn, batch)
    assert batch.dropped["refused_by_database"] == 0, batch.refused
    n = conn.execute("SELECT (SELECT count(*) FROM usage_metrics), (SELECT count(*) FROM process_snapshots), "
                     "(SELECT count(*) FROM user_sessions), (SELECT count(*) FROM systems)").fetchone()
    conn.commit()
    # Every row the batch holds is stored.
    for host, ts in batch.usage:
        assert conn.execute("SELECT 1 FROM usage_metrics m JOIN systems s ON s.id = m.system_id "
                            "WHERE s.hostname = %s AND m.timestamp = to_timestamp(%s / 1000.0)",
                            (host, ts)).fetchone(), (host, ts)
    assert res.usage_rows == len(batch.usage)
    # A retried request changes nothing.
    again = pivoter.pivot(raw, now_ms=T_NOW)
    writer.write(conn, again)
    assert conn.execute("SELECT (SELECT count(*) FROM usage_metrics), (SELECT count(*) FROM process_snapshots), "
                        "(SELECT count(*) FROM user_sessions), (SELECT count(*) FROM systems)").fetchone() == n
    conn.commit()


@pytest.fixture
def conn(database):
    with database.connect("data_collector") as c:
        prepare_connection(c)
        yield c


def test_whatever_is_accepted_is_stored_whole_and_idempotently(conn):
    writer, pivoter = Writer(), Pivoter(MAPPING)

    rnd = random.Random(13)
    four_byte = "".join(chr(rnd.randrange(0x10000, 0x10FFFF)) for _ in range(700))
    cjk = "".join(chr(rnd.randrange(0x4E00, 0x9FFF)) for _ in range(1024))

    @SETTINGS
    @given(requests_)
    @example([({**BASE, "__name__": MAPPING.process_cpu, "user": four_byte}, [(T_NOW, 1.0)])])
    @example([({**BASE, "__name__": MAPPING.session_series, "terminal": cjk}, [(T_NOW, T_NOW / 1000)])])
    @example([({**BASE, "__name__": "sru:system_cpu_cores"}, [(T_NOW, 0.0)]),
              ({**BASE, "__name__": "sru:cpu_percent", "hostname": "lab2"}, [(T_NOW, 1.0)])])
    def check(req: list[Series]) -> None:
        assume(all(_labels_ok(labels) for labels, _ in req))  # protobuf cannot encode them
        _write_twice(conn, writer, pivoter, write_request(req))

    check()


def test_mutated_requests_are_refused_or_stored(conn):
    """Bytes flipped, cut or inserted in a valid request (snappy-compressed, as sent): a 400-class
    ProtocolError, or a batch the database stores whole."""
    writer, pivoter = Writer(), Pivoter(MAPPING)
    base = write_request([
        ({"__name__": "sru:cpu_percent", "hostname": "lab1"}, [(T_NOW, 10.0)]),
        ({"__name__": "sru:session_login_time_seconds", "hostname": "lab1", "user": "alice", "terminal": "pts/0"},
         [(T_NOW, T_NOW / 1000 - 60)]),
        ({"__name__": "sru:process_cpu_percent", "hostname": "lab2", "pid": "42", "name": "py", "user": "bob"},
         [(T_NOW, 5.0)]),
        ({"__name__": "sru:system_cpu_cores", "hostname": "lab2"}, [(T_NOW, 8.0)]),
        ({"__name__": "sru:cpu_per_core", "hostname": "lab2", "cpu": "0"}, [(T_NOW, 50.0)]),
    ])

    @SETTINGS
    @given(st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255), st.sampled_from("xid")),
                    min_size=1, max_size=6), st.booleans())
    def check(edits: list[tuple[int, int, str]], compressed: bool) -> None:
        raw = bytearray(base)
        for pos, byte, op in edits:
            pos = min(pos, len(raw) - 1)
            if op == "x":
                raw[pos] = byte
            elif op == "i":
                raw.insert(pos, byte)
            elif len(raw) > 1:
                del raw[pos]
        body = bytes(cramjam.snappy.compress_raw(bytes(raw))) if compressed else bytes(raw)
        try:
            decoded = decode_write(body, {k.lower(): v for k, v in WRITE_HEADERS.items()}, Limits())
            _write_twice(conn, writer, pivoter, decoded)
        except ProtocolError as exc:
            assert 400 <= exc.status < 500

    check()


def test_values_reaching_checked_columns_are_in_range(conn, database):
    """After everything above ran in this database, nothing in it violates what the readers assume
    (the CHECKs hold by construction; temperatures and times are the adapter's own limits)."""
    writer, pivoter = Writer(), Pivoter(MAPPING)

    @SETTINGS
    @given(requests_)
    def check(req: list[Series]) -> None:
        assume(all(_labels_ok(labels) for labels, _ in req))
        writer.write(conn, pivoter.pivot(write_request(req), now_ms=T_NOW))

    check()
    bad = conn.execute("""
        SELECT count(*) FROM usage_metrics
         WHERE NOT (cpu_temp BETWEEN -273.15 AND 1000) OR NOT (gpu_temp BETWEEN -273.15 AND 1000)
            OR "timestamp" > to_timestamp(%s / 1000.0) + interval '1 hour'""", (T_NOW,)).fetchone()[0]
    assert bad == 0
    assert all(math.isfinite(x) for (x,) in conn.execute(
        "SELECT ram_total_gb FROM systems WHERE ram_total_gb IS NOT NULL"))
