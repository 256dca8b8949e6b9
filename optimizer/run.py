"""One optimizer pass (`sru optimize`): summaries and rollups for the periods with new, late or
stale data, anomalies, forecasts and recommendations. All writes go through the SECURITY DEFINER
functions of sql/03x, so the pass runs as the ``analyst`` role; it commits once at the end."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sru import clock
from sru.db import scalar
from sru.errors import ConfigError, SruError

if TYPE_CHECKING:
    import psycopg

    from optimizer.forecast import Forecast

log = logging.getLogger("sru.optimizer")

HOURLY_SUMMARY_DAYS = 35   # hourly summaries (p95 per hour) are kept for the recent past only
ANOMALY_DAYS = 7           # a full pass judges the last week for anomalies; later passes what is new
PERIODS = ("daily", "weekly", "monthly")
PLAN_EVERY = timedelta(days=7)   # the weekly consolidation plan (sru plan --store)
PLAN_ACTOR = "sru optimize"


@dataclass
class RunResult:
    mode: str
    data_from: datetime | None
    data_to: datetime | None
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    anomalies: int = 0      # episode rows inserted or changed
    reports_created: int = 0
    reports_refreshed: int = 0
    reports_unchanged: int = 0
    not_enough_data: list[str] = field(default_factory=list)
    forecasts: int = 0
    plan: str | None = None   # the consolidation plan filed by this pass, in words

    def describe(self) -> str:
        if self.data_from is None:
            return "no usage data yet: nothing to do"
        steps = ", ".join(f"{k} {self.rows.get(k, '')} rows {v:.2f}s".replace("  ", " ")
                          for k, v in self.seconds.items())
        lines = [f"{self.mode} pass over {self.data_from:%Y-%m-%d %H:%M} .. {self.data_to:%Y-%m-%d %H:%M} UTC "
                 f"in {sum(self.seconds.values()):.2f}s",
                 f"  steps: {steps}",
                 f"  anomaly episodes stored or extended: {self.anomalies}; forecasts: {self.forecasts}",
                 f"  recommendations: {self.reports_created} new, {self.reports_refreshed} refreshed, "
                 f"{self.reports_unchanged} already approved or recently rejected"]
        if self.plan:
            lines.append(f"  consolidation plan: {self.plan}")
        if self.not_enough_data:
            lines.append(f"  not enough data yet: {', '.join(self.not_enough_data)}")
        return "\n".join(lines)


def parse_since(text: str, option: str = "--since") -> datetime:
    """An ISO 8601 time from a flag (UTC when it names no zone); ConfigError naming ``option``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(option, f"{text!r} is not an ISO 8601 time like 2025-01-31T00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def run_once(conn: psycopg.Connection, *, full: bool = False, since: datetime | None = None,
             late_window: timedelta = timedelta(days=2), window: timedelta = timedelta(days=30),
             now: datetime | None = None, progress: bool = False,
             plan_every: timedelta | None = PLAN_EVERY) -> RunResult:
    """One pass on ``conn`` (the ``analyst`` role suffices); commits at the end. ``plan_every``: file
    a consolidation plan when the last one this step filed is that old (None: never)."""
    return _run(conn, full, since, late_window, window, now, progress, plan_every)


def _timed(result: RunResult, name: str, fn: Callable[..., Any], *args: Any) -> Any:
    t0 = time.perf_counter()
    value = fn(*args)
    result.seconds[name] = result.seconds.get(name, 0.0) + time.perf_counter() - t0
    if isinstance(value, int):
        result.rows[name] = result.rows.get(name, 0) + value
    return value


def _run(conn: psycopg.Connection, full: bool, since: datetime | None, late_window: timedelta,
         window: timedelta, now: datetime | None, progress: bool, plan_every: timedelta | None) -> RunResult:
    from tqdm import tqdm

    from optimizer import anomalies, forecast, thresholds
    from optimizer.hourly_stats import refresh_hourly_aggregate, refresh_user_usage_aggregates

    lo: datetime | None = scalar(conn, 'SELECT min("timestamp") FROM usage_metrics')
    hi: datetime = scalar(conn, 'SELECT max("timestamp") FROM usage_metrics')
    state: dict[str, datetime | None] = dict(conn.execute("SELECT key, value FROM sru_optimizer_state").fetchall())
    through, stale = state.get("summaries_through"), state.get("summaries_stale_from")
    mode = "full" if full or through is None else "incremental"
    result = RunResult(mode, None, None)
    if lo is None:
        conn.commit()
        return result
    now = now or clock.now()
    if full or through is None:
        start = lo
    else:
        start = min(t for t in (through - late_window, stale, since) if t is not None)
        start = max(start, lo)
    end = hi + timedelta(microseconds=1)
    result.data_from, result.data_to = start, hi
    _timed(result, "rollup", refresh_hourly_aggregate, conn, start, end)
    # The usage ledger's rollups over the same hours, up to the newest per-user sample.
    user_lo, user_hi = conn.execute('SELECT min("timestamp"), max("timestamp") FROM user_usage_metrics').fetchone() \
        or (None, None)
    user_end = max(end, user_hi + timedelta(microseconds=1)) if user_hi else end
    user_start = min(start, user_lo) if user_lo and mode == "full" else start
    _timed(result, "user_rollup", refresh_user_usage_aggregates, conn, user_start, user_end)
    hourly_from = max(start, hi - timedelta(days=HOURLY_SUMMARY_DAYS))

    steps: list[tuple[str, Callable[[], int]]] = [
        ("hourly", partial(scalar, conn, "SELECT sru_refresh_summaries('hourly', %s, %s)", (hourly_from, end))),
        ("rollup", partial(scalar, conn, "SELECT sru_rollup_hourly_stats(%s, %s)", (start, end))),
        ("user_rollup", partial(scalar, conn, "SELECT sru_rollup_user_usage(%s, %s)", (user_start, user_end)))]
    steps += [(p, partial(scalar, conn, "SELECT sru_refresh_summaries(%s, %s, %s)", (p, start, end)))
              for p in PERIODS]
    with tqdm(total=len(steps) + 4, disable=not progress, desc="optimize", unit="step") as bar:
        for name, fn in steps:
            bar.set_postfix_str(name)
            _timed(result, name, fn)
            bar.update(1)
        conn.execute("SELECT sru_finish_summary_refresh(%s, %s)", (start, hi))

        bar.set_postfix_str("anomalies")
        eval_from = max(start, hi - timedelta(days=ANOMALY_DAYS)).replace(minute=0, second=0, microsecond=0)
        # The thresholds, read once for the pass (the anomaly detector and the forecasts).
        limits = thresholds.load(conn)
        found = _timed(result, "anomalies", anomalies.detect, conn, eval_from, end, limits)
        result.anomalies = _timed(result, "anomalies", anomalies.store, conn, found)
        result.rows.pop("anomalies", None)
        bar.update(1)

        bar.set_postfix_str("forecasts")
        # Fitted once here and stored (host_forecasts): the report, the console and the digest read them.
        forecasts = _timed(result, "forecasts", forecast.refresh, conn, now, limits)
        result.forecasts = sum(1 for per in forecasts.values() for f in per.values() if f.status == "crossing")
        bar.update(1)

        bar.set_postfix_str("recommendations")
        _timed(result, "recommendations", _recommend, conn, result, forecasts, window, now)
        bar.update(1)

        if plan_every is not None:
            bar.set_postfix_str("plan")
            _timed(result, "plan", _plan, conn, result, now, plan_every)
        bar.update(1)
    conn.commit()
    return result


def _recommend(conn: psycopg.Connection, result: RunResult, forecasts: dict[Any, dict[str, Forecast]],
               window: timedelta,
               now: datetime) -> None:
    from psycopg.types.json import Jsonb

    from optimizer.anomalies import recent_episodes

    rows = conn.execute("SELECT system_id, hostname, report_type, kind, severity, priority_score, title, evidence "
                        "FROM generate_hardware_recommendations(%s, %s)", (window, now)).fetchall()
    # Findings that name a user (issue 19): GPUs held idle on a shared host, a big host's main user
    # using a fraction of it.
    rows += conn.execute("SELECT system_id, hostname, report_type, kind, severity, priority_score, title, evidence "
                         "FROM generate_user_recommendations(%s, %s)", (window, now)).fetchall()
    episodes = recent_episodes(conn, now - window)
    for sid, host, rtype, kind, severity, priority, title, evidence in rows:
        if rtype is None:
            result.not_enough_data.append(host)
            continue
        evidence = dict(evidence, kind=kind)
        per_host = forecasts.get(sid, {})
        metric = {"ram": "ram_percent", "memory_leak": "ram_percent", "gpu_memory": "gpu_memory_percent",
                  "swap": "swap_percent"}.get(kind)
        if metric and metric in per_host:
            evidence["forecast"] = per_host[metric].as_dict()
        # Anomaly episodes of the host in the window: what an admin may have been alerted about.
        evidence["anomaly_episodes"] = episodes.get(sid, [])
        stored = conn.execute(
            "SELECT * FROM create_optimization_report(%s, %s, %s, %s, %s, %s)",
            (sid, rtype, severity, priority, title, Jsonb(evidence))).fetchone()
        if stored is None:  # the function returns one row on every path
            raise LookupError("create_optimization_report() returned no row")
        _, created, status = stored
        if created:
            result.reports_created += 1
        elif status == "pending":
            result.reports_refreshed += 1
        else:
            result.reports_unchanged += 1


def _plan(conn: psycopg.Connection, result: RunResult, now: datetime, every: timedelta) -> None:
    """The weekly consolidation plan: filed when this step's last plan is ``every`` old, over the
    default window and options (what-ifs are `sru plan` and the console's Plan page)."""
    from optimizer import plan_store

    last = plan_store.latest_planned_at(conn, PLAN_ACTOR)
    if last is not None and now - last < every:
        return
    made = plan_store.make(conn, now)
    if len(made["fleet"].hosts) < 2:
        return
    plan_id = plan_store.store(conn, made, PLAN_ACTOR)
    p = made["plan"]
    result.plan = (f"{plan_id[:8]} retires {len(p.retire)} of {len(made['fleet'].hosts)} hosts"
                   + (f" ({', '.join(p.retire[:5])}{', …' if len(p.retire) > 5 else ''})" if p.retire else ""))


def run_forever(connect: Callable[[], psycopg.Connection], every: timedelta,
                after_pass: Callable[[], None] | None = None, **kw: Any) -> int:
    """`sru optimize --every`: a pass on a fresh connection from ``connect``, then sleep. A failed
    pass (database down, or gone in the middle) is logged and retried at the next tick instead of
    ending the loop; a new connection per pass is what lets it recover after an outage.
    ``after_pass`` (the digest's schedule) runs after each pass, on the fresh summaries."""
    import psycopg

    while True:
        started = time.monotonic()
        try:
            with connect() as conn:
                log.info("%s", run_once(conn, **kw).describe())
        except (psycopg.OperationalError, SruError) as exc:
            log.error("optimizer pass failed: %s", exc)
        if after_pass is not None:
            try:
                after_pass()
            except (psycopg.Error, SruError) as exc:
                log.error("digest step failed: %s", exc)
        time.sleep(max(1.0, every.total_seconds() - (time.monotonic() - started)))
