#!/usr/bin/env python3
"""Dashboard query latency on the design's volume: every SQL query of every sru dashboard, rendered as
Grafana renders it, run as the dashboard_readonly role against a throwaway PostgreSQL + TimescaleDB
on each tier asked for (default: the apache tier, then the full tier of the community edition) filled
by the optimizer's demo data (default 50 hosts x 365 days at 5 minutes, about
5.26M rows) and summarised by one optimizer pass; on the full tier the compression policies then
run once, so chunks older than 7 days are compressed as in production.

Prints, per query and range, the median and p95 of --repeat runs. Baselines measured in the same run:
`SELECT 1` (round trip) and the fleet heat map computed straight from usage_metrics, which is what
sru_usage_series avoids for long ranges.

    .venv/bin/python bench/dashboards.py [--hosts 50] [--days 365] [--repeat 7] [--tiers apache,full]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from scripts.pgcluster import migrate_template, start_cluster  # noqa: E402
from sru.db import scalar  # noqa: E402
from tests.support.grafana.dashboards import load_dashboards, queries  # noqa: E402
from tests.support.grafana.macros import render_sql  # noqa: E402
from tests.support.grafana.render import default_range, panel_context, resolve_variables  # noqa: E402


def timed(conn: psycopg.Connection, sql: str, repeat: int) -> tuple[float, float, int]:
    times, rows = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        rows = len(conn.execute(sql).fetchall())
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, rows


LICENSES = {"apache": "apache", "full": "timescale"}


def bench_tier(tier: str, args: argparse.Namespace) -> dict[tuple[str, str], tuple[float, float, int]]:
    """Every query on one tier: {(label, range): (median ms, p95 ms, rows)}, printed as it goes."""
    from optimizer.demo import generate
    from optimizer.run import run_once

    out: dict[tuple[str, str], tuple[float, float, int]] = {}
    cluster = start_cluster(LICENSES[tier])
    try:
        migrate_template(cluster, "bench_tpl", tier)
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench TEMPLATE bench_tpl")
            conn.execute("CREATE ROLE bench_readonly LOGIN IN ROLE dashboard_readonly")
        url = cluster.url("bench")
        now = datetime.now(UTC)
        t = time.perf_counter()
        with psycopg.connect(url) as conn:
            demo = generate(conn, hosts=args.hosts, days=args.days, interval=timedelta(minutes=5), end=now)
            print(f"[{tier}] demo data: {demo.metric_rows:,} usage rows in {time.perf_counter() - t:.0f}s",
                  flush=True)
            t = time.perf_counter()
            run_once(conn, full=True)
        print(f"[{tier}] optimizer pass: {time.perf_counter() - t:.0f}s", flush=True)
        with psycopg.connect(url, autocommit=True) as conn:
            if tier == "full":
                # As in production: the compression policies have compressed what is older than 7 days.
                t = time.perf_counter()
                for (job,) in conn.execute("SELECT job_id FROM timescaledb_information.jobs "
                                           "WHERE proc_name = 'policy_compression'").fetchall():
                    conn.execute("CALL run_job(%s)", (job,))
                compressed = scalar(conn, "SELECT count(*) FROM timescaledb_information.chunks "
                                          "WHERE is_compressed")
                print(f"[{tier}] compression policies: {compressed} chunks compressed in "
                      f"{time.perf_counter() - t:.0f}s", flush=True)
            conn.execute("VACUUM ANALYZE")

        with psycopg.connect(cluster.url("bench", "bench_readonly"), autocommit=True) as ro:
            print(f"\n[{tier}] {'query':<70} {'range':>6} {'median ms':>10} {'p95 ms':>8} {'rows':>6}")
            out[("baseline: SELECT 1", "-")] = timed(ro, "SELECT 1", args.repeat * 3)
            hosts = [r[0] for r in ro.execute("SELECT hostname FROM systems ORDER BY 1")]
            host_list = ",".join(f"'{h}'" for h in hosts)
            for days in (30, 365):
                raw = (f"SELECT time_bucket('{'6 hours' if days == 30 else '1 day'}', u.\"timestamp\") t, "
                       f"s.hostname, avg(u.cpu_percent) FROM usage_metrics u JOIN systems s ON s.id = u.system_id "
                       f"WHERE s.hostname IN ({host_list}) AND u.\"timestamp\" > now() - interval '{days} days' "
                       f"GROUP BY 1, 2 ORDER BY 1, 2")
                out[("baseline: fleet CPU heat map from raw usage_metrics", f"{days}d")] = timed(
                    ro, raw, max(3, args.repeat // 2))
            for key in list(out):
                med, p95, rows = out[key]
                print(f"[{tier}] {key[0]:<70} {key[1]:>6} {med:>10.2f} {p95:>8.2f} {rows:>6}", flush=True)
            for name, d in load_dashboards().items():
                for q in queries(name, d):
                    if q.kind != "sql":
                        continue
                    spans = {"default": None, "30d": timedelta(days=30), "365d": timedelta(days=365)}
                    for label, span in spans.items():
                        t_from, t_to = default_range(d, now) if span is None else (now - span, now)
                        variables = resolve_variables(d, ro, t_from, t_to)
                        sql = render_sql(q.text, panel_context(q, variables, t_from, t_to))
                        med, p95, rows = out[(q.label[:70], label)] = timed(ro, sql, args.repeat)
                        print(f"[{tier}] {q.label[:70]:<70} {label:>6} {med:>10.2f} {p95:>8.2f} {rows:>6}",
                              flush=True)
    finally:
        cluster.stop("immediate")
        shutil.rmtree(cluster.datadir.parent, ignore_errors=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--days", type=float, default=365)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--tiers", default="apache,full",
                    help="comma-separated TimescaleDB tiers to run one after the other (default: apache,full)")
    args = ap.parse_args()
    tiers = [t for t in args.tiers.split(",") if t]
    unknown = set(tiers) - set(LICENSES)
    if unknown or not tiers:
        ap.error(f"--tiers: choose from {', '.join(LICENSES)} (got {args.tiers!r})")
    results = {tier: bench_tier(tier, args) for tier in tiers}

    print(f"\n{'query':<70} {'range':>6} " + " ".join(f"{t + ' med':>11} {t + ' p95':>11}" for t in tiers))
    for key in results[tiers[0]]:
        cells = " ".join(f"{results[t][key][0]:>11.2f} {results[t][key][1]:>11.2f}" if key in results[t]
                         else f"{'-':>11} {'-':>11}" for t in tiers)
        print(f"{key[0]:<70} {key[1]:>6} {cells}")
    for t in tiers:
        worst = max((v[1], k) for k, v in results[t].items() if not k[0].startswith("baseline"))
        print(f"worst p95 on {t}: {worst[0]:.1f} ms ({worst[1][0]}, {worst[1][1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
