"""Pivot a WriteRequest into table rows: one usage_metrics row per (host, timestamp), process
snapshots, session events and systems facts.

This is the hot loop of ingest. Building protobuf objects for every series costs more than all the
rest together, so the WriteRequest is scanned at the wire level (wire.py): each TimeSeries's encoded label
block is the key of a per-process cache of what that series means (Prometheus sends the same
label sets every interval, so steady state is all hits); only a new label block is decoded with
the generated protobuf class, which also validates it. Samples are read with struct.

Prometheus encodes each TimeSeries as its labels followed by its one sample (value, then
timestamp), and every series of a host's evaluation carries the same timestamp bytes: ``pivot``
recognises that layout with a few byte comparisons and takes the timestamp from a per-request
cache; anything else (several samples, fields in another order, histograms, malformed data) goes
through the general field walker (wire.timeseries_fields), which gives the same result. The
TimeSeries framing and that layout check stay inlined in ``pivot``: a function call per series
would cost more than the check.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from remote_write_adapter.mapping import SYSTEM_VALUE_COLUMNS, SYSTEM_VALUE_RANGES, Mapping
from remote_write_adapter.prompb import types_pb2
from remote_write_adapter.wire import (
    STALE_BYTES,
    ProtocolError,
    prometheus_sample,
    sample,
    skip,
    timeseries_fields,
    unpack_double,
    varint,
)
from sru.columns import COLUMN_QUANTA, COLUMN_RANGES, SCALAR_COLUMNS, USER_USAGE_NAMES, USER_USAGE_QUANTA
from sru.hosts import host_of

COL_INDEX = {c: i for i, c in enumerate(SCALAR_COLUMNS)}
USER_COL_INDEX = {c: i for i, c in enumerate(USER_USAGE_NAMES)}
_USER_QUANTA = [USER_USAGE_QUANTA[c] for c in USER_USAGE_NAMES]
_PROCESSES = USER_COL_INDEX["processes"]
# Label values are limited in UTF-8 bytes, not characters: btree index entries (users.username,
# process_snapshots.username, the user_sessions identity with its terminal) fail above 2704 bytes,
# and 1024 random 4-byte characters are 4096 bytes. 1024 bytes leaves room for the other key columns.
MAX_TEXT = 1024           # longest label value (bytes) stored in a text column
MAX_HOSTNAME = 253        # systems.hostname CHECK (characters; also at most MAX_TEXT bytes)
MAX_USERNAME = 256        # users.username CHECK (characters; also at most MAX_TEXT bytes)
MAX_KEY = 64              # cpu_per_core key (bytes)
INT4_MAX = 2**31 - 1      # integer columns: pid, systems.cpu_cores, systems.gpu_count
# Sample timestamps the adapter stores: from year 1 (the start of Python's datetime) to
# MAX_FUTURE_MS past this process's clock (a future sample would pin systems.last_seen; the clocks
# of Prometheus and the adapter may differ a little). Anything else is refused (400) before it
# reaches datetime arithmetic or the database.
MIN_TS_MS = -62135596800000  # 0001-01-01T00:00:00Z
MAX_FUTURE_MS = 3_600_000
# A session's login time (the value of its series, in s) may be this far after the sample's time
# (clock skew between the host and Prometheus); later is a bad value, e.g. milliseconds sent as s.
LOGIN_SKEW_MS = 3_600_000
_MAX_DATETIME_MS = 253402300799999  # 9999-12-31T23:59:59.999Z: the end of Python's datetime
# Values this far outside a column's range are jitter of rate() arithmetic and are clamped; farther
# out they are wrong and become NULL (counted).
SLACK = 1.0
# The label-block cache per process, in estimated bytes. Measured: 540 bytes per entry for the
# recording rules' label sets (154-byte keys); estimated as the key plus 512 bytes (the dict slot,
# the bytes and Series objects and the label values the Series keeps). 256 MiB hold ~400,000 label
# sets, 36 per host: ~11,000 hosts per Prometheus fleet. A fleet with more series than fit is
# evicted oldest first and thrashes (every series decoded again each interval): size it up.
CACHE_MAX_BYTES = 256 << 20
_ENTRY_OVERHEAD = 512
_ROW_WIDTH = len(SCALAR_COLUMNS) + 1  # scalar usage columns, then cpu_per_core
# Storage grid per Series.index (sru.columns): the scalar usage columns, then at -1 cpu_per_core.
_QUANTA = [COLUMN_QUANTA[c] for c in SCALAR_COLUMNS] + [COLUMN_QUANTA["cpu_per_core"]]
_isfinite = math.isfinite


@dataclass
class HostFacts:
    location: str | None = None
    columns: dict[str, Any] = field(default_factory=dict)  # systems columns from info/gauges
    max_ts: int = 0  # newest usage sample, ms


@dataclass
class Batch:
    # (host, ts_ms) -> [values in SCALAR_COLUMNS order, cpu_per_core dict or None]
    usage: dict[tuple[str, int], list[Any]] = field(default_factory=dict)
    hosts: dict[str, HostFacts] = field(default_factory=dict)
    # (host, ts_ms, pid) -> [name, user, cpu_percent, memory_mb]
    processes: dict[tuple[str, int, int], list[Any]] = field(default_factory=dict)
    # (host, user, terminal, login_time_s) -> [remote_host, last sample ts_ms]
    sessions_open: dict[tuple[str, str, str, float], list[Any]] = field(default_factory=dict)
    # (host, user, terminal) -> ts_ms of the stale marker
    sessions_closed: dict[tuple[str, str, str], int] = field(default_factory=dict)
    # (host, user, ts_ms) -> [values in USER_USAGE_NAMES order]
    user_usage: dict[tuple[str, str, int], list[Any]] = field(default_factory=dict)
    samples: int = 0
    accepted: int = 0
    dropped: Counter[str] = field(default_factory=Counter)   # reason -> samples
    nulls: int = 0          # NaN/±Inf or out-of-range values stored as NULL
    refused: list[str] = field(default_factory=list)    # first few reasons for a 400
    refused_samples: int = 0                            # samples behind those reasons
    ts_limit: int = _MAX_DATETIME_MS                    # newest sample timestamp accepted (ms)

    def for_host(self, host: str) -> Batch:
        """The part of this batch about one host."""
        return Batch(usage={k: v for k, v in self.usage.items() if k[0] == host},
                     hosts={host: self.hosts[host]},
                     processes={k: v for k, v in self.processes.items() if k[0] == host},
                     sessions_open={k: v for k, v in self.sessions_open.items() if k[0] == host},
                     sessions_closed={k: v for k, v in self.sessions_closed.items() if k[0] == host},
                     user_usage={k: v for k, v in self.user_usage.items() if k[0] == host},
                     ts_limit=self.ts_limit)

    def rows(self) -> int:
        """Values and events this batch stores (for counting what the database refused)."""
        return (sum(sum(v is not None for v in row) for row in self.usage.values())
                + sum((r[2] is not None) + (r[3] is not None) for r in self.processes.values())
                + len(self.sessions_open) + len(self.sessions_closed)
                + sum(sum(v is not None for v in row) for row in self.user_usage.values()))

    def refuse(self, reason: str, n: int, detail: str) -> None:
        self.dropped[reason] += n
        self.refused_samples += n
        if len(self.refused) < 3 and detail not in self.refused:
            self.refused.append(detail)


def _discarded(b: Batch, info: Series, n: int) -> bool:
    """Count the ``n`` samples of a series that is dropped or refused; False for one to store."""
    if info.kind == "drop":
        b.dropped[info.reason] += n
        return True
    if info.kind == "refuse":
        b.refuse(info.reason, n, info.detail)
        return True
    return False


@dataclass(frozen=True, slots=True)
class Series:
    """What one label set means, resolved once and cached."""
    kind: str                        # usage, info, sysvalue, session, proc_cpu, proc_mem, user_usage, drop, refuse
    host: str = ""
    location: str | None = None
    column: str = ""                 # usage / sysvalue column
    index: int = -1                  # usage column index, -1 for the JSON column
    key: str | None = None           # cpu_per_core key
    lo: float | None = None          # usage column's range (sru.columns)
    hi: float | None = None
    info: tuple[tuple[str, str | None], ...] = ()  # ((column, value), …) for info series
    extra: tuple[Any, ...] = ()      # session (user, terminal, remote) / process (pid, name, user) / (user,)
    reason: str = ""                 # drop / refuse reason
    detail: str = ""


def _bad_text(value: str, limit: int = MAX_TEXT) -> bool:
    """Over ``limit`` UTF-8 bytes, or with a NUL (text and jsonb cannot hold it)."""
    n = len(value)
    return n > limit or (n * 4 > limit and len(value.encode()) > limit) or "\x00" in value


def _fit(column: str, v: float) -> float | None:
    lo, hi = COLUMN_RANGES[column]
    if lo is not None and v < lo:
        return lo if v >= lo - SLACK else None
    if hi is not None and v > hi:
        return hi if v <= hi + SLACK else None
    return v


def _refuse(reason: str, detail: str) -> Series:
    return Series("refuse", reason=reason, detail=detail)


def resolve(labels: dict[str, str], m: Mapping) -> Series:
    name = labels.get("__name__", "")
    target = m.usage.get(name)
    if target:
        kind = "usage"
    elif name == m.info_series:
        kind = "info"
    elif name in m.system_values:
        kind = "sysvalue"
    elif name == m.session_series:
        kind = "session"
    elif name == m.process_cpu:
        kind = "proc_cpu"
    elif name == m.process_memory:
        kind = "proc_mem"
    elif name in m.user_usage:
        kind = "user_usage"
    else:
        return Series("drop", reason="unknown_series")
    host = host_of(labels, m.host_labels, m.fallback_instance)
    if not host:
        return _refuse("no_host", f"series {name!r} has no host label")
    if len(host) > MAX_HOSTNAME or _bad_text(host):
        return _refuse("invalid_label", f"host name of {len(host)} characters or with NUL refused")
    location = labels.get(m.location_label) if m.location_label else None
    if location and _bad_text(location):
        return _refuse("invalid_label", "location label too long or with NUL refused")
    location = location or None
    if kind == "usage":
        column, key_label = m.usage[name]
        lo, hi = COLUMN_RANGES[column]
        if key_label:
            key = labels.get(key_label)
            if key is None or _bad_text(key, MAX_KEY):
                return _refuse("invalid_label", f"{column} series without a valid {key_label!r} label")
            return Series(kind, column=column, key=key, lo=lo, hi=hi, host=host, location=location)
        return Series(kind, column=column, index=COL_INDEX[column], lo=lo, hi=hi, host=host, location=location)
    if kind == "info":
        info = []
        for label, column in m.info_labels.items():
            value = labels.get(label)
            if value is None:
                continue
            if _bad_text(value):
                return _refuse("invalid_label", f"{label} label too long or with NUL refused")
            info.append((column, value or None))  # an empty gpu_model means "no GPU": NULL
        return Series(kind, info=tuple(info), host=host, location=location)
    if kind == "sysvalue":
        return Series(kind, column=m.system_values[name], host=host, location=location)
    if kind == "user_usage":
        user = labels.get(m.user_usage_label, "")
        if not user or len(user) > MAX_USERNAME or _bad_text(user):
            return _refuse("invalid_label", f"{name} series with an empty, too long or NUL "
                                            f"{m.user_usage_label!r} label refused")
        column = m.user_usage[name]
        return Series(kind, column=column, index=USER_COL_INDEX[column], extra=(user,), host=host,
                      location=location)
    if kind == "session":
        ul, tl, rl = m.session_labels
        user, terminal, remote = labels.get(ul, ""), labels.get(tl, ""), labels.get(rl, "")
        if not user or len(user) > MAX_USERNAME or _bad_text(user) or _bad_text(terminal) or _bad_text(remote):
            return _refuse("invalid_label", "session series with an empty, too long or NUL label refused")
        return Series(kind, extra=(user, terminal, remote or None), host=host, location=location)
    pl, nl, ul = m.process_labels
    try:
        pid = int(labels.get(pl, ""))
        if not 0 <= pid <= INT4_MAX:
            raise ValueError
    except ValueError:
        return _refuse("invalid_label", f"process series with invalid {pl!r} label")
    pname, puser = labels.get(nl, ""), labels.get(ul) or None
    if not pname or _bad_text(pname) or (puser is not None and _bad_text(puser)):
        return _refuse("invalid_label", "process series with an empty, too long or NUL label refused")
    return Series(kind, extra=(pid, pname, puser), host=host, location=location)


class Pivoter:
    """Turns encoded WriteRequests into Batches; holds the label-block cache of one process."""

    def __init__(self, mapping: Mapping, cache_max_bytes: int = CACHE_MAX_BYTES) -> None:
        self.mapping = mapping
        self.cache_max_bytes = cache_max_bytes
        self._cache: dict[bytes, Series] = {}
        self._cache_bytes = 0
        self._cache_lock = threading.Lock()  # misses only: hits read the dict without it

    @property
    def cache_bytes(self) -> int:
        return self._cache_bytes

    @staticmethod
    def _entry_bytes(block: bytes) -> int:
        return len(block) + _ENTRY_OVERHEAD

    def _series(self, block: bytes) -> Series:
        info = self._cache.get(block)
        if info is None:
            try:
                msg = types_pb2.TimeSeries.FromString(block)
            except DecodeError as exc:
                raise ProtocolError(400, f"invalid WriteRequest protobuf: {exc}") from None
            info = resolve({lab.name: lab.value for lab in msg.labels}, self.mapping)
            size = self._entry_bytes(block)
            if size > self.cache_max_bytes // 16:
                return info  # a giant label set: resolving it again is cheaper than evicting for it
            with self._cache_lock:
                cache = self._cache
                if block not in cache:
                    # Oldest first (dicts keep insertion order): Prometheus re-sends the live series
                    # every interval, so they come back; churned series age out.
                    while cache and self._cache_bytes + size > self.cache_max_bytes:
                        oldest = next(iter(cache))
                        del cache[oldest]
                        self._cache_bytes -= self._entry_bytes(oldest)
                    cache[block] = info
                    self._cache_bytes += size
        return info

    def pivot(self, raw: bytes, now_ms: int | None = None) -> Batch:
        b = Batch()
        if now_ms is None:
            now_ms = int(time.time() * 1000)
        b.ts_limit = max_ts = min(now_ms + MAX_FUTURE_MS, _MAX_DATETIME_MS)
        n = len(raw)
        pos = 0
        cache = self._cache
        times: dict[bytes, int] = {}  # encoded timestamp -> ms: a request holds few distinct ones
        k = 6                         # length of the last timestamp varint (6 bytes for ms since 2004)
        while pos < n:
            # Tags as literals (wire.TIMESERIES, SAMPLE, VALUE, TIMESTAMP): constants, not global lookups.
            if raw[pos] == 0x0A and pos + 2 < n and raw[pos + 1] & 0x80 and raw[pos + 2] < 0x80:
                end = pos + 3 + ((raw[pos + 1] & 0x7F) | raw[pos + 2] << 7)  # TimeSeries of 128 B-16 KiB
                pos += 3
            else:
                tag, pos = varint(raw, pos)
                if tag != 0x0A:  # metadata (3) and anything newer: not stored
                    pos = skip(raw, pos, tag & 7, n)
                    continue
                length, pos = varint(raw, pos)
                end = pos + length
            if end > n:
                raise ProtocolError(400, "invalid WriteRequest protobuf: truncated TimeSeries")
            # Steady state: the TimeSeries ends in a Sample {1: double, 2: timestamp} whose timestamp
            # bytes this request has seen, and what precedes it is a cached label block. Cache keys
            # are whole label fields and the times keys whole varints, so this split is the parse.
            s = end - k - 12
            if not (s >= pos and raw[s] == 0x12 and raw[s + 1] == k + 10 and raw[s + 2] == 0x09
                    and raw[s + 11] == 0x10 and (t := times.get(raw[s + 12:end])) is not None
                    and (info := cache.get(raw[pos:s])) is not None):
                found = self._one_sample(raw, pos, end, times, max_ts)
                if found is None:
                    self._timeseries(b, raw, pos, end)
                    pos = end
                    continue
                s, t, info = found
                k = end - s - 12
                if not MIN_TS_MS <= t <= max_ts:  # times holds only valid ones: checked once each
                    b.samples += 1
                    self._apply(b, info, [(t, 0.0, False)])
                    pos = end
                    continue
            v = unpack_double(raw, s + 3)[0]
            stale = v != v and raw[s + 3:s + 11] == STALE_BYTES
            b.samples += 1
            if info.kind == "usage":
                self._usage_sample(b, info, t, v, stale)
            else:
                self._apply(b, info, [(t, v, stale)])
            pos = end
        return b

    def _one_sample(self, raw: bytes, pos: int, end: int, times: dict[bytes, int],
                    max_ts: int) -> tuple[int, int, Series] | None:
        """(sample field start, timestamp, series) of a TimeSeries laid out as Prometheus writes it
        (wire.prometheus_sample), remembering a valid timestamp's bytes; None otherwise."""
        found = prometheus_sample(raw, pos, end)
        if found is None:
            return None
        p, t = found
        if MIN_TS_MS <= t <= max_ts:
            times[raw[p + 12:end]] = t
        return p, t, self._series(raw[pos:p])

    def _timeseries(self, b: Batch, raw: bytes, start: int, end: int) -> None:
        """The general walker: any field order, any number of samples, histograms."""
        block, samples, histograms = timeseries_fields(raw, start, end)
        if histograms:
            b.samples += histograms
            b.dropped["histogram"] += histograms
        if not samples:
            return
        b.samples += len(samples)
        info = self._series(block)
        if not _discarded(b, info, len(samples)):  # a dropped or refused series' samples are only counted
            self._apply(b, info, [sample(raw, s, e) for s, e in samples])

    def _apply(self, b: Batch, info: Series, parsed: list[tuple[int, float, bool]]) -> None:
        """Account one series' samples ((ts, value, stale) triples)."""
        if _discarded(b, info, len(parsed)):
            return
        kind = info.kind
        max_ts = b.ts_limit
        if any(not MIN_TS_MS <= t <= max_ts for t, _, _ in parsed):
            bad = [t for t, _, _ in parsed if not MIN_TS_MS <= t <= max_ts]
            b.refuse("invalid_timestamp", len(bad),
                     f"sample timestamp {bad[0]} ms is before year 1 or over {MAX_FUTURE_MS // 60_000} "
                     f"min ahead of the adapter's clock")
            parsed = [x for x in parsed if MIN_TS_MS <= x[0] <= max_ts]
            if not parsed:
                return  # nothing of this series is stored: not even its host's systems row
        if kind == "usage":
            for t, v, stale in parsed:
                self._usage_sample(b, info, t, v, stale)
            return
        facts = b.hosts.get(info.host)
        if facts is None:
            facts = b.hosts[info.host] = HostFacts()
        if info.location:
            facts.location = info.location
        if kind == "info":
            facts.columns.update(info.info)
            b.accepted += len(parsed)
        elif kind == "sysvalue":
            lo, hi = SYSTEM_VALUE_RANGES[info.column]
            for _, v, stale in parsed:
                # e.g. cpu_cores 0 (psutil could not count), 0.5 or 3e9 (int4): never to the database
                if not stale and math.isfinite(v) and lo <= (v := SYSTEM_VALUE_COLUMNS[info.column](v)) <= hi:
                    facts.columns[info.column] = v
                    b.accepted += 1
                else:
                    b.dropped["stale_marker" if stale else "invalid_value"] += 1
        elif kind == "session":
            self._session(b, info, parsed)
        elif kind == "user_usage":
            self._user_usage(b, info, parsed)
        else:
            self._process(b, info, parsed)

    @staticmethod
    def _usage_sample(b: Batch, info: Series, t: int, v: float, stale: bool) -> None:
        host = info.host
        facts = b.hosts.get(host)
        if facts is None:
            facts = b.hosts[host] = HostFacts()
        if info.location:
            facts.location = info.location
        if stale:
            b.dropped["stale_marker"] += 1
            return
        value: float | None = v
        if not _isfinite(v):
            value = None
            b.nulls += 1
        elif (info.lo is not None and v < info.lo) or (info.hi is not None and v > info.hi):
            value = _fit(info.column, v)
            if value is None:
                b.nulls += 1
        # Huge values are whole numbers on any grid already, and value * q could overflow to infinity.
        if value is not None and -1e12 < value < 1e12:
            q = _QUANTA[info.index]
            r = round(value * q) / q
            # A bound that is off the grid (absolute zero, -273.15) must not be crossed by rounding.
            if (info.lo is None or r >= info.lo) and (info.hi is None or r <= info.hi):
                value = r
        row = b.usage.get((host, t))
        if row is None:
            row = b.usage[(host, t)] = [None] * _ROW_WIDTH
        if info.key is None:
            row[info.index] = value
        else:
            per_core = row[-1]
            if per_core is None:
                per_core = row[-1] = {}
            per_core[info.key] = value
        if t > facts.max_ts:
            facts.max_ts = t
        b.accepted += 1

    @staticmethod
    def _session(b: Batch, info: Series, parsed: list[tuple[int, float, bool]]) -> None:
        user, terminal, remote = info.extra
        for t, v, stale in parsed:
            if stale:
                key3 = (info.host, user, terminal)
                b.sessions_closed[key3] = max(b.sessions_closed.get(key3, 0), t)
                b.accepted += 1
            elif 0 < v and v * 1000 <= t + LOGIN_SKEW_MS:  # not NaN, not after its own sample
                entry = b.sessions_open.get((info.host, user, terminal, v))
                if entry is None:
                    b.sessions_open[(info.host, user, terminal, v)] = [remote, t]
                elif t > entry[1]:
                    entry[1] = t
                b.accepted += 1
            else:
                b.dropped["invalid_value"] += 1

    @staticmethod
    def _user_usage(b: Batch, info: Series, parsed: list[tuple[int, float, bool]]) -> None:
        """Per-user figures: all >= 0 with no upper bound. As usage columns: NaN/±Inf become NULL,
        a little below 0 (rate jitter) is clamped, farther is NULL, both counted; values on the
        column's grid; processes a whole number that fits the integer column."""
        user = info.extra[0]
        i = info.index
        q = _USER_QUANTA[i]
        for t, v, stale in parsed:
            if stale:
                b.dropped["stale_marker"] += 1
                continue
            value: float | None = v
            if not _isfinite(v) or v < -SLACK or (i == _PROCESSES and v > INT4_MAX):
                value = None
                b.nulls += 1
            elif v < 0:
                value = 0.0
            elif v < 1e12:
                value = round(v * q) / q
            if i == _PROCESSES and value is not None:
                value = int(value)
            row = b.user_usage.get((info.host, user, t))
            if row is None:
                row = b.user_usage[(info.host, user, t)] = [None] * len(USER_USAGE_NAMES)
            row[i] = value
            b.accepted += 1

    @staticmethod
    def _process(b: Batch, info: Series, parsed: list[tuple[int, float, bool]]) -> None:
        pid, name, user = info.extra
        slot = 2 if info.kind == "proc_cpu" else 3
        for t, v, stale in parsed:
            if stale or not math.isfinite(v) or v < 0:
                b.dropped["stale_marker" if stale else "invalid_value"] += 1
                continue
            row = b.processes.get((info.host, t, pid))
            if row is None:
                row = b.processes[(info.host, t, pid)] = [name, user, None, None]
            row[slot] = v
            b.accepted += 1
