"""Pivot a WriteRequest into table rows: one usage_metrics row per (host, timestamp), process
snapshots, session events and systems facts. Pure Python, no database: unit-testable and the hot
loop of ingest, so it works on the protobuf objects directly.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from remote_write_adapter.mapping import (COLUMN_RANGES, SYSTEM_VALUE_COLUMNS, USAGE_COLUMNS, Mapping)
from remote_write_adapter.protocol import is_stale_marker

COL_INDEX = {c: i for i, c in enumerate(USAGE_COLUMNS)}
MAX_TEXT = 1024           # longest label value stored in a text column
MAX_HOSTNAME = 253        # systems.hostname CHECK
MAX_USERNAME = 256        # users.username CHECK
# Values this far outside a column's range are jitter of rate() arithmetic and are clamped; farther
# out they are wrong and become NULL (counted).
SLACK = 1.0


@dataclass
class HostFacts:
    location: str | None = None
    columns: dict[str, Any] = field(default_factory=dict)  # systems columns from info/gauges
    max_ts: int = 0  # newest usage sample, ms


@dataclass
class Batch:
    # (host, ts_ms) -> [values in USAGE_COLUMNS order, cpu_per_core dict or None]
    usage: dict[tuple[str, int], list] = field(default_factory=dict)
    hosts: dict[str, HostFacts] = field(default_factory=dict)
    # (host, ts_ms, pid) -> [name, user, cpu_percent, memory_mb]
    processes: dict[tuple[str, int, int], list] = field(default_factory=dict)
    # (host, user, terminal, login_time_s) -> [remote_host, last sample ts_ms]
    sessions_open: dict[tuple[str, str, str, float], list] = field(default_factory=dict)
    # (host, user, terminal) -> ts_ms of the stale marker
    sessions_closed: dict[tuple[str, str, str], int] = field(default_factory=dict)
    samples: int = 0
    accepted: int = 0
    dropped: Counter = field(default_factory=Counter)   # reason -> samples
    nulls: int = 0          # NaN/±Inf or out-of-range values stored as NULL
    refused: list[str] = field(default_factory=list)    # first few reasons for a 400

    def refuse(self, reason: str, n: int, detail: str) -> None:
        self.dropped[reason] += n
        if len(self.refused) < 3:
            self.refused.append(detail)


def _bad_text(value: str, limit: int = MAX_TEXT) -> bool:
    return len(value) > limit or "\x00" in value


def _fit(column: str, v: float) -> float | None:
    lo, hi = COLUMN_RANGES[column]
    if lo is not None and v < lo:
        return lo if v >= lo - SLACK else None
    if hi is not None and v > hi:
        return hi if v <= hi + SLACK else None
    return v


def pivot(req: Any, mapping: Mapping) -> Batch:
    b = Batch()
    usage_map = mapping.usage
    host_labels = mapping.host_labels
    loc_label = mapping.location_label
    for ts in req.timeseries:
        n = len(ts.samples)
        b.samples += n
        if not n:
            continue
        labels = {lab.name: lab.value for lab in ts.labels}
        name = labels.get("__name__", "")
        target = usage_map.get(name)
        kind = "usage" if target else _kind(name, mapping)
        if kind is None:
            b.dropped["unknown_series"] += n
            continue
        host = None
        for lab in host_labels:
            host = labels.get(lab)
            if host:
                break
        if not host and mapping.fallback_instance:
            host = instance_host(labels.get("instance", ""))
        if not host:
            b.refuse("no_host", n, f"series {name!r} has no host label")
            continue
        if _bad_text(host, MAX_HOSTNAME):
            b.refuse("invalid_label", n, f"host name of {len(host)} characters or with NUL refused")
            continue
        facts = b.hosts.get(host)
        if facts is None:
            facts = b.hosts[host] = HostFacts()
        if loc_label:
            loc = labels.get(loc_label)
            if loc:
                if _bad_text(loc):
                    b.refuse("invalid_label", n, "location label too long or with NUL refused")
                    continue
                facts.location = loc
        if kind == "usage":
            _usage(b, facts, host, target, labels, ts.samples)
        elif kind == "info":
            _info(b, facts, labels, ts.samples, mapping)
        elif kind == "sysvalue":
            _sysvalue(b, facts, mapping.system_values[name], ts.samples)
        elif kind == "session":
            _session(b, host, labels, ts.samples, mapping)
        else:
            _process(b, host, kind, labels, ts.samples, mapping)
    return b


def instance_host(instance: str) -> str:
    """'lab1:9100' -> 'lab1', '[::1]:9100' -> '::1'; an instance without a port is kept whole."""
    if instance.startswith("[") and "]" in instance:
        return instance[1:instance.index("]")]
    if instance.count(":") == 1:
        return instance.split(":", 1)[0]
    return instance


def _kind(name: str, m: Mapping) -> str | None:
    if name == m.info_series:
        return "info"
    if name in m.system_values:
        return "sysvalue"
    if name == m.session_series:
        return "session"
    if name == m.process_cpu:
        return "proc_cpu"
    if name == m.process_memory:
        return "proc_mem"
    return None


def _usage(b: Batch, facts: HostFacts, host: str, target: tuple[str, str | None], labels: dict,
           samples: Any) -> None:
    column, key_label = target
    key = None
    if key_label:
        key = labels.get(key_label)
        if key is None or _bad_text(key, 64):
            b.refuse("invalid_label", len(samples), f"{column} series without a valid {key_label!r} label")
            return
    idx = COL_INDEX.get(column)
    usage = b.usage
    for s in samples:
        v = s.value
        if not math.isfinite(v):
            if is_stale_marker(v):
                b.dropped["stale_marker"] += 1
                continue
            v = None
            b.nulls += 1
        else:
            fitted = _fit(column, v)
            if fitted is None:
                b.nulls += 1
            v = fitted
        t = s.timestamp
        row = usage.get((host, t))
        if row is None:
            row = usage[(host, t)] = [None] * (len(USAGE_COLUMNS) + 1)
        if key is None:
            row[idx] = v
        else:
            per_core = row[-1]
            if per_core is None:
                per_core = row[-1] = {}
            per_core[key] = v
        if t > facts.max_ts:
            facts.max_ts = t
        b.accepted += 1


def _info(b: Batch, facts: HostFacts, labels: dict, samples: Any, m: Mapping) -> None:
    for label, column in m.info_labels.items():
        value = labels.get(label)
        if value is None:
            continue
        if _bad_text(value):
            b.refuse("invalid_label", len(samples), f"{label} label too long or with NUL refused")
            return
        # An empty gpu_model means "no GPU": store NULL rather than ''.
        facts.columns[column] = value or None
    b.accepted += len(samples)


def _sysvalue(b: Batch, facts: HostFacts, column: str, samples: Any) -> None:
    for s in samples:
        if math.isfinite(s.value) and s.value >= 0:
            facts.columns[column] = SYSTEM_VALUE_COLUMNS[column](s.value)
            b.accepted += 1
        else:
            b.dropped["stale_marker" if is_stale_marker(s.value) else "invalid_value"] += 1


def _session(b: Batch, host: str, labels: dict, samples: Any, m: Mapping) -> None:
    ul, tl, rl = m.session_labels
    user, terminal, remote = labels.get(ul, ""), labels.get(tl, ""), labels.get(rl, "")
    if not user or _bad_text(user, MAX_USERNAME) or _bad_text(terminal) or _bad_text(remote):
        b.refuse("invalid_label", len(samples), "session series with an empty, too long or NUL label refused")
        return
    for s in samples:
        v = s.value
        if is_stale_marker(v):
            key3 = (host, user, terminal)
            b.sessions_closed[key3] = max(b.sessions_closed.get(key3, 0), s.timestamp)
            b.accepted += 1
        elif math.isfinite(v) and v > 0:
            entry = b.sessions_open.get((host, user, terminal, v))
            if entry is None:
                b.sessions_open[(host, user, terminal, v)] = [remote or None, s.timestamp]
            elif s.timestamp > entry[1]:
                entry[1] = s.timestamp
            b.accepted += 1
        else:
            b.dropped["invalid_value"] += 1


def _process(b: Batch, host: str, kind: str, labels: dict, samples: Any, m: Mapping) -> None:
    pl, nl, ul = m.process_labels
    try:
        pid = int(labels.get(pl, ""))
        if not 0 <= pid <= 2**31 - 1:
            raise ValueError
    except ValueError:
        b.refuse("invalid_label", len(samples), f"process series with invalid {pl!r} label")
        return
    name, user = labels.get(nl, ""), labels.get(ul) or None
    if not name or _bad_text(name) or (user is not None and _bad_text(user)):
        b.refuse("invalid_label", len(samples), "process series with an empty, too long or NUL label refused")
        return
    slot = 2 if kind == "proc_cpu" else 3
    for s in samples:
        v = s.value
        if not math.isfinite(v) or v < 0:
            b.dropped["stale_marker" if is_stale_marker(v) else "invalid_value"] += 1
            continue
        row = b.processes.get((host, s.timestamp, pid))
        if row is None:
            row = b.processes[(host, s.timestamp, pid)] = [name, user, None, None]
        row[slot] = v
        b.accepted += 1
