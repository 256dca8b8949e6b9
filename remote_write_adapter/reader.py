"""Remote read (SAMPLES response type): the stored usage columns back as series named as the
recording rules name them, labelled with hostname (and location, and cpu for per-core values)."""

from __future__ import annotations

import re
from collections.abc import Callable

import psycopg

from remote_write_adapter.mapping import Mapping
from remote_write_adapter.prompb import remote_pb2, types_pb2
from remote_write_adapter.wire import ProtocolError

MAX_SAMPLES = 5_000_000  # per request; more is refused rather than held in memory
_Matcher = Callable[[str], bool]


def _compile(m: types_pb2.LabelMatcher) -> _Matcher:
    want: str = m.value
    if m.type == types_pb2.LabelMatcher.EQ:
        return lambda v: v == want
    if m.type == types_pb2.LabelMatcher.NEQ:
        return lambda v: v != want
    try:
        rx = re.compile(m.value)
    except re.error as exc:
        raise ProtocolError(400, f"bad regular expression {m.value!r}: {exc}") from None
    if m.type == types_pb2.LabelMatcher.RE:
        return lambda v: rx.fullmatch(v) is not None
    return lambda v: rx.fullmatch(v) is None


def read(conn: psycopg.Connection, req: remote_pb2.ReadRequest, mapping: Mapping) -> remote_pb2.ReadResponse:
    resp = remote_pb2.ReadResponse()
    total = 0
    for q in req.queries:
        matchers = [(m.name, _compile(m)) for m in q.matchers]
        result = resp.results.add()
        for column, (series, key_label) in sorted(mapping.series_for_column().items()):
            if not all(match(series) for name, match in matchers if name == "__name__"):
                continue
            total += _query_column(conn, result, column, series, key_label, q, matchers)
            if total > MAX_SAMPLES:
                raise ProtocolError(400, f"query selects more than {MAX_SAMPLES} samples")
    return resp


def _query_column(conn: psycopg.Connection, result: remote_pb2.QueryResult, column: str, series: str,
                  key_label: str | None, q: remote_pb2.Query, matchers: list[tuple[str, _Matcher]]) -> int:
    # column comes from the validated mapping (a fixed set of names), never from the request.
    if key_label:
        sql = (f'SELECT s.hostname, s.location, kv.key, (extract(epoch FROM m."timestamp") * 1000)::bigint,'
               f' (kv.value #>> \'{{}}\')::float8'
               f' FROM usage_metrics m JOIN systems s ON s.id = m.system_id'
               f' CROSS JOIN LATERAL jsonb_each(m.{column}) kv'
               f' WHERE m."timestamp" BETWEEN to_timestamp(%s / 1000.0) AND to_timestamp(%s / 1000.0)'
               f' AND jsonb_typeof(kv.value) = \'number\''
               f' ORDER BY 1, 3, 4')
    else:
        sql = (f'SELECT s.hostname, s.location, NULL, (extract(epoch FROM m."timestamp") * 1000)::bigint,'
               f' m.{column} FROM usage_metrics m JOIN systems s ON s.id = m.system_id'
               f' WHERE m."timestamp" BETWEEN to_timestamp(%s / 1000.0) AND to_timestamp(%s / 1000.0)'
               f' AND m.{column} IS NOT NULL ORDER BY 1, 4')
    count = 0
    current_key = None
    ts_msg: types_pb2.TimeSeries | None = None  # None while the current series is filtered out
    for hostname, location, key, t_ms, value in conn.execute(sql, (q.start_timestamp_ms, q.end_timestamp_ms)):
        if (hostname, key) != current_key:
            current_key = (hostname, key)
            labels = {"__name__": series, "hostname": hostname}
            if location:
                labels["location"] = location
            if key_label:
                labels[key_label] = key
            ts_msg = None
            if all(match(labels.get(name, "")) for name, match in matchers):
                ts_msg = result.timeseries.add()
                for name in sorted(labels):
                    ts_msg.labels.add(name=name, value=labels[name])
        if ts_msg is not None:
            ts_msg.samples.add(value=value, timestamp=t_ms)
            count += 1
    return count
