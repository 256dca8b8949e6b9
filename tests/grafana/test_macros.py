"""The macro expander against hand-written expectations taken from Grafana's own behaviour
(pkg/tsdb/grafana-postgresql-datasource/macros.go, public/app/features/templating, the Prometheus
datasource's interpolateQueryExpr)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.support.grafana.macros import (
    MacroError,
    QueryContext,
    Variable,
    calculate_interval,
    interval_text,
    parse_interval,
    render_promql,
    render_sql,
)

FROM = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
TO = datetime(2024, 3, 2, 12, 0, 0, 500000, tzinfo=UTC)


def ctx(**kw) -> QueryContext:
    base: dict[str, Any] = dict(time_from=FROM, time_to=TO, interval=timedelta(minutes=5))
    base.update(kw)
    return QueryContext(**base)


def test_time_filter_and_bounds_are_rfc3339_utc():
    assert render_sql("WHERE $__timeFilter(\"timestamp\")", ctx()) == \
        "WHERE \"timestamp\" BETWEEN '2024-03-01T12:00:00Z' AND '2024-03-02T12:00:00.5Z'"
    assert render_sql("$__timeFrom() $__timeTo()", ctx()) == \
        "'2024-03-01T12:00:00Z' '2024-03-02T12:00:00.5Z'"
    other_zone = FROM.astimezone(timezone(timedelta(hours=2)))
    assert render_sql("$__timeFrom()", ctx(time_from=other_zone)) == "'2024-03-01T12:00:00Z'"


def test_time_group_with_and_without_timescaledb():
    q = "SELECT $__timeGroupAlias(ts, $__interval), avg(x)"
    assert render_sql(q, ctx()) == "SELECT time_bucket('300s',ts) AS \"time\", avg(x)"
    assert render_sql(q, ctx(timescaledb=False)) == \
        "SELECT floor(extract(epoch from ts)/300)*300 AS \"time\", avg(x)"
    # Grafana's compatibility rule: $__timeGroup directly followed by a comma gets the alias.
    assert render_sql("SELECT $__timeGroup(ts, '1h'), 1", ctx()) == \
        "SELECT time_bucket('3600s',ts) AS \"time\", 1"
    assert render_sql("ORDER BY $__timeGroup(ts, 1h)", ctx()) == "ORDER BY time_bucket('3600s',ts)"
    assert render_sql("$__timeGroupAlias(ts, 5m, NULL)", ctx()) == "time_bucket('300s',ts) AS \"time\""


def test_unix_epoch_macros():
    assert render_sql("$__unixEpochFilter(t)", ctx()) == f"t >= {int(FROM.timestamp())} AND t <= {int(TO.timestamp())}"
    assert render_sql("$__unixEpochGroupAlias(t, 1m)", ctx()) == 'floor((t)/60)*60 AS "time"'
    assert render_sql("$__time(t) $__timeEpoch(t)", ctx()) == 't AS "time" extract(epoch from t) as "time"'


def test_builtin_interval_variables():
    c = ctx(interval=timedelta(hours=1))
    assert render_sql("$__interval $__interval_ms ${__interval}", c) == "1h 3600000 1h"
    assert render_sql("$__range_s", c) == "86400"
    # The Prometheus datasource: max(interval + scrape interval, 4 * scrape interval), in seconds.
    assert render_promql("rate(x[$__rate_interval])", ctx(interval=timedelta(seconds=15))) == "rate(x[60s])"
    assert render_promql("rate(x[$__rate_interval])", ctx(interval=timedelta(minutes=5))) == "rate(x[315s])"
    assert render_promql("x[$__range]", c) == "x[86401s]"  # 24 h 0.5 s, rounded up


def test_sql_variable_formatting():
    host = Variable("host", "lab-01")
    hosts = Variable("hosts", ["lab-01", "o'brien"], multi=True, include_all=True)
    c = ctx(variables={"host": host, "hosts": hosts})
    assert render_sql("WHERE hostname = '$host'", c) == "WHERE hostname = 'lab-01'"
    assert render_sql("WHERE hostname IN ($hosts)", c) == "WHERE hostname IN ('lab-01','o''brien')"
    assert render_sql("WHERE hostname IN (${hosts:sqlstring})", c) == "WHERE hostname IN ('lab-01','o''brien')"
    assert render_sql("[[host]] ${host:csv}", c) == "lab-01 lab-01"
    single_in_multi = Variable("hosts", "lab-01", multi=True)
    assert render_sql("IN ($hosts)", ctx(variables={"hosts": single_in_multi})) == "IN ('lab-01')"
    # A quote in a single-value variable is doubled, not quoted: the query supplies the quotes.
    assert render_sql("'$host'", ctx(variables={"host": Variable("host", "a'b")})) == "'a''b'"


def test_custom_all_value_is_inserted_raw():
    v = Variable("dept", ["x"], multi=True, include_all=True, all_value="__all", selected_all=True)
    assert render_sql("'__all' IN ($dept)", ctx(variables={"dept": v})) == "'__all' IN (__all)"


def test_prometheus_variable_formatting():
    hosts = Variable("host", ["lab-01", "a.b"], multi=True, include_all=True)
    assert render_promql('up{host=~"$host"}', ctx(variables={"host": hosts})) == 'up{host=~"(lab-01|a\\\\.b)"}'
    one = Variable("host", ["a.b"], multi=True)
    assert render_promql('up{host=~"$host"}', ctx(variables={"host": one})) == 'up{host=~"a\\\\.b"}'
    single = Variable("host", "a.b")
    assert render_promql('up{host="$host"}', ctx(variables={"host": single})) == 'up{host="a.b"}'


def test_interval_arithmetic():
    assert parse_interval("5m") == timedelta(minutes=5)
    assert parse_interval("'1h'") == timedelta(hours=1)
    assert parse_interval("1w") == timedelta(days=7)
    assert parse_interval("500ms") == timedelta(milliseconds=500)
    with pytest.raises(MacroError):
        parse_interval("5 minutes")
    assert interval_text(300_000) == "5m"
    assert interval_text(604_800_000) == "7d"
    assert interval_text(1_500) == "1s"
    assert interval_text(500) == "500ms"
    day = timedelta(days=1)
    assert calculate_interval(FROM, FROM + day, 1000) == timedelta(minutes=1)  # 86.4 s rounds to 1m
    assert calculate_interval(FROM, FROM + 30 * day, 1000) == timedelta(minutes=30)  # 43.2 min
    assert calculate_interval(FROM, FROM + 365 * day, 1000) == timedelta(hours=6)  # 8.76 h
    assert calculate_interval(FROM, FROM + timedelta(hours=1), 1000, "5m") == timedelta(minutes=5)


def test_errors_are_caught_not_sent():
    with pytest.raises(MacroError, match="unknown macro"):
        render_sql("$__timeFIlter(ts)", ctx())
    with pytest.raises(MacroError, match="needs"):
        render_sql("$__timeFilter()", ctx())
    with pytest.raises(MacroError, match="invalid interval"):
        render_sql("$__timeGroup(ts, soon)", ctx())
    with pytest.raises(MacroError, match="neither a variable"):
        render_sql("WHERE hostname = '$hots'", ctx())
    with pytest.raises(MacroError, match="neither a variable"):
        render_promql('up{host="$host"}', ctx())
    # Dollar-quoted bodies are SQL, not variables.
    assert render_sql("SELECT $q$x$q$, $$y$$", ctx()) == "SELECT $q$x$q$, $$y$$"
    with pytest.raises(ValueError):
        QueryContext(time_from=TO, time_to=FROM, interval=timedelta(minutes=1))
