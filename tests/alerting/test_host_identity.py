"""One rule for a host's identity (sru/hosts.py): the same label sets through the adapter, the alert
receiver and the SQL function the views read, and a host's alerts on the systems row its metrics made."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from alertmanager.payload import AlertEvent
from alertmanager.store import store_events
from remote_write_adapter.mapping import load_mapping
from remote_write_adapter.pivot import Pivoter, resolve
from remote_write_adapter.writer import Writer, prepare_connection
from sru.hosts import host_of, instance_host
from tests.fixtures.adapter import write_request

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

# label set -> the host it is about (None: no host).
CASES: list[tuple[dict[str, str], str | None]] = [
    ({"hostname": "lab01", "host": "other", "instance": "10.0.0.1:9847"}, "lab01"),
    ({"hostname": "", "host": "lab02", "instance": "10.0.0.2:9847"}, "lab02"),
    ({"host": "lab03", "instance": "10.0.0.3:9847"}, "lab03"),
    ({"instance": "lab04:9847"}, "lab04"),
    ({"instance": "lab05.example.org:9100"}, "lab05.example.org"),
    ({"instance": "[2001:db8::6]:9847"}, "2001:db8::6"),
    ({"instance": "[2001:db8::7]"}, "2001:db8::7"),
    ({"instance": "2001:db8::8"}, "2001:db8::8"),
    ({"instance": "lab09"}, "lab09"),
    ({"instance": "lab10:metrics"}, "lab10:metrics"),
    ({"hostname": "", "host": "", "instance": ":9847"}, None),
    ({"job": "sru"}, None),
]


def test_adapter_follows_the_rule() -> None:
    mapping = load_mapping()
    for labels, host in CASES:
        assert host_of(labels) == host, labels
        series = resolve({"__name__": "sru:cpu_percent", **labels}, mapping)
        if host is None:
            assert (series.kind, series.reason) == ("refuse", "no_host"), labels
        else:
            assert (series.kind, series.host) == ("usage", host), labels


def test_receiver_files_alerts_on_the_adapters_rows(database) -> None:
    """The label sets written as metrics by the adapter's pivot and writer, then as alerts by the
    receiver's store: each alert's system_id is the row its metrics created, and sru_alert_host reads
    the stored labels the same way."""
    t_ms = int(T0.timestamp() * 1000)
    batch = Pivoter(load_mapping()).pivot(write_request(
        [({"__name__": "sru:cpu_percent", **labels}, [(t_ms, 1.0)]) for labels, _ in CASES]))
    with database.connect("data_collector") as conn:
        prepare_connection(conn)
        Writer().write(conn, batch)
        events = [AlertEvent(fingerprint=f"f{i:02d}", alert_name="SruCpuHigh", status="firing", starts_at=T0,
                             ends_at=None, severity="warning", labels=labels, annotations={}, metric_name=None,
                             actual_value=None, threshold_value=None) for i, (labels, _) in enumerate(CASES)]
        store_events(conn, events)
        conn.commit()
    with database.connect() as conn:
        made = {h for (h,) in conn.execute("SELECT hostname FROM systems")}
        assert made == {h for _, h in CASES if h is not None}
        filed = dict(conn.execute("SELECT a.fingerprint, s.hostname FROM alert_logs a "
                                  "LEFT JOIN systems s ON s.id = a.system_id"))
        assert filed == {f"f{i:02d}": host for i, (_, host) in enumerate(CASES)}
        for labels, host in CASES:
            assert conn.execute("SELECT sru_alert_host(%s)", (Jsonb(labels),)).fetchone() == (host,), labels


_INSTANCE = st.text(alphabet="[]:0129ab.\n", max_size=12)


def test_instance_rule_is_the_sql_functions(plain_database) -> None:
    """instance_host and sru_alert_host agree on arbitrary instances (brackets, colons, digits,
    newlines: where Python's and PostgreSQL's regular expressions differ)."""
    with plain_database.connect() as conn:
        @settings(max_examples=300, deadline=None, database=None)
        @given(_INSTANCE)
        def agree(instance: str) -> None:
            sql = conn.execute("SELECT sru_alert_host(jsonb_build_object('instance', %s::text))",
                               (instance,)).fetchone()[0]
            assert host_of({"instance": instance}) == sql, repr(instance)
            assert sql is None or instance_host(instance) == sql

        agree()
