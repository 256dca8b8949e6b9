"""What Grafana does to a panel's query text before the datasource runs it, re-implemented so the
tests can run every dashboard query against real PostgreSQL and real Prometheus.

Two stages, in Grafana's order:

1. Template variables (the frontend's ``templateSrv.replace``): ``$var``, ``${var}``,
   ``${var:format}``, ``[[var]]``, and the built-ins ``$__interval``, ``$__interval_ms``,
   ``$__range*``, ``$__rate_interval``, ``$__from``/``$__to``. Multi-value and "All" selections are
   formatted the way each datasource formats them: SQL quotes every value (``'a','b'``); Prometheus
   regex-escapes them and joins them with ``|``.
2. SQL macros (the PostgreSQL datasource's backend, ``macros.go``): ``$__time``, ``$__timeEpoch``,
   ``$__timeFilter``, ``$__timeFrom``, ``$__timeTo``, ``$__timeGroup``, ``$__timeGroupAlias``,
   ``$__unixEpochFilter``, ``$__unixEpochFrom``, ``$__unixEpochTo``, ``$__unixEpochGroup(Alias)``.
   Arguments are split the way Grafana splits them (no nested parentheses), so a query this module
   accepts is one Grafana accepts too; an unknown macro or a variable left over is an error here,
   where Grafana would send broken SQL to the server.

Values that depend on the browser (max data points, the panel's width) are parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


class MacroError(ValueError):
    """A query Grafana could not run as written."""


# ---------------------------------------------------------------------------------------------------
# Intervals

_DURATION = re.compile(r"^(?P<num>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h|d|w|M|y)$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
            "M": 2_592_000_000, "y": 31_536_000_000}


def parse_interval(text: str) -> timedelta:
    """Grafana's ``gtime.ParseInterval``: ``500ms``, ``30s``, ``5m``, ``1h``, ``7d``, ``1w``, ``1M``, ``1y``."""
    m = _DURATION.match(text.strip().strip("'"))
    if not m:
        raise MacroError(f"invalid interval {text!r}")
    return timedelta(milliseconds=float(m["num"]) * _UNIT_MS[m["unit"]])


# Grafana's rangeutil.roundInterval: (upper bound of the raw interval, rounded interval), in ms.
_ROUND_STEPS: Sequence[tuple[int, int]] = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000),
    (3_500, 2_000), (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000),
    (45_000, 30_000), (90_000, 60_000), (210_000, 120_000), (450_000, 300_000),
    (750_000, 600_000), (1_050_000, 900_000), (1_500_000, 1_200_000), (2_700_000, 1_800_000),
    (5_400_000, 3_600_000), (9_000_000, 7_200_000), (16_200_000, 10_800_000),
    (32_400_000, 21_600_000), (86_400_000, 43_200_000), (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
)


def round_interval_ms(ms: float) -> int:
    for bound, rounded in _ROUND_STEPS:
        if ms < bound:
            return rounded
    return 31_536_000_000


def interval_text(ms: int) -> str:
    """Grafana's ``secondsToHms``: the largest whole unit, e.g. ``5m``, ``1h``, ``7d``, ``500ms``."""
    for unit, size in (("y", 31_536_000_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000),
                       ("s", 1_000)):
        if ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def calculate_interval(time_from: datetime, time_to: datetime, max_data_points: int = 1000,
                       min_interval: str | None = None) -> timedelta:
    """``$__interval`` as Grafana computes it: range / max data points, rounded to a nice step, and
    never below the panel's (or datasource's) minimum interval."""
    raw_ms = (time_to - time_from).total_seconds() * 1000 / max_data_points
    ms = round_interval_ms(raw_ms)
    if min_interval:
        ms = max(ms, int(parse_interval(min_interval).total_seconds() * 1000))
    return timedelta(milliseconds=ms)


# ---------------------------------------------------------------------------------------------------
# Variables

@dataclass(frozen=True)
class Variable:
    """A dashboard variable's current selection. ``value`` is a list for multi-value selections and
    for "All" (then every option), unless the variable has a custom ``all_value``."""

    name: str
    value: str | Sequence[str]
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    selected_all: bool = False


@dataclass(frozen=True)
class QueryContext:
    time_from: datetime
    time_to: datetime
    interval: timedelta
    variables: Mapping[str, Variable] = field(default_factory=dict)
    timescaledb: bool = True
    # The Prometheus datasource's scrape interval setting, for $__rate_interval.
    scrape_interval: timedelta = timedelta(seconds=15)

    def __post_init__(self) -> None:
        for t in (self.time_from, self.time_to):
            if t.tzinfo is None:
                raise ValueError("time range must be timezone-aware")
        if self.time_to <= self.time_from:
            raise ValueError("empty time range")


# templateSrv's variable regex: $var, [[var]] / [[var:fmt]], ${var} / ${var.field} / ${var:fmt}
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")


def _sql_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _prom_regular_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\\\'")


def _prom_regex_escape(value: str) -> str:
    value = value.replace("\\", "\\\\\\\\")
    return re.sub(r"[$^*{}\[\]'+?.()|]", lambda m: "\\\\" + m.group(0), value)


def _format_sql(var: Variable, value: str | Sequence[str]) -> str:
    # The SQL datasources' interpolateVariable.
    if isinstance(value, str):
        if var.multi or var.include_all:
            return _sql_quote(value)
        return value.replace("'", "''")
    return ",".join(_sql_quote(v) for v in value)


def _format_prometheus(var: Variable, value: str | Sequence[str]) -> str:
    # The Prometheus datasource's interpolateQueryExpr.
    if not var.multi and not var.include_all:
        return _prom_regular_escape(value if isinstance(value, str) else ",".join(value))
    if isinstance(value, str):
        return _prom_regex_escape(value)
    escaped = [_prom_regex_escape(v) for v in value]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def _format_explicit(fmt: str, value: str | Sequence[str]) -> str:
    values = [value] if isinstance(value, str) else list(value)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "sqlstring":
        return ",".join(_sql_quote(v) for v in values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "raw":
        return ",".join(values)
    if fmt == "regex":
        escaped = [re.sub(r"[\\^$*+?.()|{}\[\]/]", lambda m: "\\" + m.group(0), v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    raise MacroError(f"unsupported variable format {fmt!r}")


def _builtins(ctx: QueryContext) -> dict[str, str]:
    interval_ms = int(ctx.interval.total_seconds() * 1000)
    range_ms = int((ctx.time_to - ctx.time_from).total_seconds() * 1000)
    # The Prometheus datasource writes these two in whole seconds.
    scrape_s = max(int(ctx.scrape_interval.total_seconds()), 1)
    rate_s = max(interval_ms // 1000 + scrape_s, 4 * scrape_s)
    return {
        "__interval": interval_text(interval_ms),
        "__interval_ms": str(interval_ms),
        "__range": f"{-(-range_ms // 1000)}s",
        "__range_s": str(range_ms // 1000),
        "__range_ms": str(range_ms),
        "__rate_interval": f"{rate_s}s",
        "__from": str(int(ctx.time_from.timestamp() * 1000)),
        "__to": str(int(ctx.time_to.timestamp() * 1000)),
    }


def interpolate_variables(text: str, ctx: QueryContext, flavour: str) -> str:
    """Stage 1. ``flavour`` is ``"sql"`` or ``"prometheus"``: how multi-value selections are formatted."""
    if flavour not in ("sql", "prometheus"):
        raise ValueError(flavour)
    builtins = _builtins(ctx)

    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if m.group(5):
            raise MacroError(f"variable fields (${{{name}.{m.group(5)}}}) are not used by sru")
        if name in builtins:
            return builtins[name]
        var = ctx.variables.get(name)
        if var is None:
            return m.group(0)  # Grafana leaves unknown names alone; macros are handled in stage 2
        if var.selected_all and var.all_value is not None:
            return var.all_value  # a custom "All" value is inserted as written
        if fmt:
            return _format_explicit(fmt, var.value)
        return (_format_sql if flavour == "sql" else _format_prometheus)(var, var.value)

    return _VARIABLE.sub(replace, text)


# ---------------------------------------------------------------------------------------------------
# SQL macros

_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")


def _rfc3339(t: datetime) -> str:
    # Go's RFC3339Nano drops trailing zeros of the fraction.
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += ("." + f"{t.microsecond:06d}").rstrip("0")
    return text + "Z"


def _seconds_text(td: timedelta) -> str:
    # Go's %v of a float64: 300 not 300.0, 0.5 stays 0.5.
    s = td.total_seconds()
    return str(int(s)) if s == int(s) else repr(s)


def _need(name: str, args: list[str], n: int) -> None:
    if len(args) < n or any(not a for a in args[:n]):
        raise MacroError(f"macro ${name} needs {n} argument(s), got {args!r}")


def _evaluate_macro(name: str, args: list[str], ctx: QueryContext) -> str:
    f, t = ctx.time_from, ctx.time_to
    if name == "__time":
        _need(name, args, 1)
        return f'{args[0]} AS "time"'
    if name == "__timeEpoch":
        _need(name, args, 1)
        return f'extract(epoch from {args[0]}) as "time"'
    if name == "__timeFilter":
        _need(name, args, 1)
        return f"{args[0]} BETWEEN '{_rfc3339(f)}' AND '{_rfc3339(t)}'"
    if name == "__timeFrom":
        return f"'{_rfc3339(f)}'"
    if name == "__timeTo":
        return f"'{_rfc3339(t)}'"
    if name in ("__timeGroup", "__timeGroupAlias"):
        if len(args) < 2:
            raise MacroError(f"macro ${name} needs time column and interval, got {args!r}")
        step = parse_interval(args[1])
        if len(args) == 3 and args[2] not in ("NULL", "previous") and not _is_number(args[2]):
            raise MacroError(f"${name}: invalid fill value {args[2]!r}")
        secs = _seconds_text(step)
        if ctx.timescaledb:
            out = f"time_bucket('{step.total_seconds():.0f}s',{args[0]})"
        else:
            out = f"floor(extract(epoch from {args[0]})/{secs})*{secs}"
        return out + (' AS "time"' if name == "__timeGroupAlias" else "")
    if name == "__unixEpochFilter":
        _need(name, args, 1)
        return f"{args[0]} >= {int(f.timestamp())} AND {args[0]} <= {int(t.timestamp())}"
    if name == "__unixEpochFrom":
        return str(int(f.timestamp()))
    if name == "__unixEpochTo":
        return str(int(t.timestamp()))
    if name in ("__unixEpochGroup", "__unixEpochGroupAlias"):
        if len(args) < 2:
            raise MacroError(f"macro ${name} needs time column and interval, got {args!r}")
        secs = _seconds_text(parse_interval(args[1]))
        out = f"floor(({args[0]})/{secs})*{secs}"
        return out + (' AS "time"' if name == "__unixEpochGroupAlias" else "")
    raise MacroError(f"unknown macro ${name}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def expand_sql_macros(sql: str, ctx: QueryContext) -> str:
    """Stage 2, as the PostgreSQL datasource's backend does it."""

    def replace(m: re.Match[str]) -> str:
        name = m.group(1)
        # Grafana's pre-5.3 compatibility: "$__timeGroup(...)," means $__timeGroupAlias.
        end = m.end()
        if name == "__timeGroup" and end < len(sql) and sql[end] == ",":
            name = "__timeGroupAlias"
        args = [a.strip(" ") for a in m.group(2).split(",")]
        return _evaluate_macro(name, args, ctx)

    return _MACRO.sub(replace, sql)


_LEFTOVER = re.compile(r"\$\{?\w+|\[\[\w+")


def _check_leftovers(text: str, what: str) -> str:
    # Dollar-quoted strings ($$ or $tag$) are legal SQL; a $name left over is an unset variable.
    for m in _LEFTOVER.finditer(text):
        token = m.group(0)
        if token.startswith("$") and text[m.end():m.end() + 1] == "$":
            continue
        raise MacroError(f"{what}: {token!r} is neither a variable of the dashboard nor a macro")
    return text


def render_sql(sql: str, ctx: QueryContext) -> str:
    """A SQL panel's query as the PostgreSQL server receives it."""
    return _check_leftovers(expand_sql_macros(interpolate_variables(sql, ctx, "sql"), ctx), "SQL")


def render_promql(expr: str, ctx: QueryContext) -> str:
    """A PromQL panel's expression as Prometheus receives it."""
    return _check_leftovers(interpolate_variables(expr, ctx, "prometheus"), "PromQL")
