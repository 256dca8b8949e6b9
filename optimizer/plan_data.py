"""The consolidation planner's input, read from the database: each host's hardware (``systems``) and
its time-aligned hourly demand over the training window (``hourly_performance_stats``), as the
:class:`optimizer.consolidate.Fleet` the pure planner takes. Reads only.

Per host and hour: CPU cores in use = hourly mean CPU % × cores, RAM GB = hourly mean RAM % × RAM,
GPUs busy = whole GPUs from the hour's peak GPU use or memory (``consolidate.gpus_busy``). Hosts that
cannot be planned are listed in ``Fleet.left_out`` with the reason: in maintenance, retired or
offline; hardware unknown; saturated (CPU p99 ≥ 98 %, RAM p99 ≥ 95 %, swap p95 ≥ 10 %: the demand
above the limit is not measured; or disk-bound, I/O wait p95 ≥ 20 %: disk is not planned); fewer than half of the window's hours with data (hours in which no host
reported leave the window; a host's own gaps take its p95); in an approved
consolidation report that is not implemented yet (its move is under way).

Per-user moves (``by_user=True``, `sru plan --by-user`): each planned host's load is split into one
unit per user with a real share of it (p95 ≥ 0.05 cores or ≥ 0.25 GB), from issue 19's hourly
per-user rollups (``user_usage_hourly`` / ``user_usage_host_hourly``: hourly sums over the host's
evaluations), and the host's remainder (system processes, users below that share) as one more unit.
A retired host's users may then go to different hosts. Per-user rows are personal data: the role
must be a member of ``personal_usage_reader`` (analyst is; the console's role is not).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.consolidate import UNAVAILABLE, Fleet, Host, Unit, gpus_busy

if TYPE_CHECKING:
    import psycopg

MIN_COVERAGE = 0.5
MIN_HOURS = 150      # about a week: a plan needs each host's weekly pattern (recommendations need 7 days too)
# A host at its limit shows only what it got, not what it needs (CPU % and RAM % stop at 100, the
# rest queues or swaps): its load cannot be sized for another host, so it is not planned.
# Disk I/O is not part of the demand the planner packs: a disk-bound host (I/O wait p95 at the
# recommendations' 20 %) would take its disk queue to the receiver, so it is not planned either.
SATURATED = {"cpu_p99": 98.0, "ram_p99": 95.0, "swap_p95": 10.0, "io_wait_p95": 20.0}


def _saturated(cpu: np.ndarray, ram: np.ndarray, swap: np.ndarray, iowait: np.ndarray) -> str | None:
    def p(x: np.ndarray, q: float) -> float:
        x = x[~np.isnan(x)]
        return float(np.percentile(x, q)) if x.size else 0.0

    seen = {"cpu_p99": p(cpu, 99), "ram_p99": p(ram, 99), "swap_p95": p(swap, 95), "io_wait_p95": p(iowait, 95)}
    over = [f"{k.replace('_', ' ')} {v:.0f} %" for k, v in seen.items() if v >= SATURATED[k]]
    return f"saturated ({', '.join(over)}): its real demand is unknown" if over else None


def window_bounds(now: datetime, window: timedelta) -> tuple[datetime, datetime]:
    """[from, to) of whole UTC hours ending at the hour that contains ``now`` (excluded: not complete)."""
    to = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return to - timedelta(hours=int(window.total_seconds() // 3600)), to


USER_SQL = (
    "SELECT u.system_id, coalesce(us.username, u.user_id::text), u.bucket, u.cpu_cores / h.samples, "
    "u.ram_gb / h.samples, u.gpus_held / h.samples FROM user_usage_hourly u "
    "JOIN user_usage_host_hourly h ON h.system_id = u.system_id AND h.bucket = u.bucket "
    "LEFT JOIN users us ON us.id = u.user_id "
    "WHERE u.bucket >= %s AND u.bucket < %s AND u.system_id = ANY(%s) AND h.samples > 0")
MIN_USER_CORES = 0.05
MIN_USER_GB = 0.25


def _split_by_user(rows: list[tuple[Any, ...]], start: datetime, hours: int, seen: np.ndarray,
                   wholes: dict[object, tuple[Unit, int]]) -> list[Unit]:
    """One unit per user with a real share of a host's load, and the host's remainder."""
    per: dict[tuple[object, str], np.ndarray] = {}
    for sid, user, bucket, c, r, g in rows:
        t = int((bucket - start).total_seconds() // 3600)
        per.setdefault((sid, user), np.zeros((3, hours)))[:, t] = (c or 0.0, r or 0.0, g or 0.0)
    out: list[Unit] = []
    for sid, (whole, gpus) in wholes.items():
        rest = np.stack([whole.cpu, whole.ram, whole.gpus])
        for (s, user), a in sorted(per.items(), key=lambda kv: str(kv[0][1])):
            if s != sid:
                continue
            a = a[:, seen]
            if np.percentile(a[0], 95) < MIN_USER_CORES and np.percentile(a[1], 95) < MIN_USER_GB:
                continue
            g = np.clip(np.ceil(a[2] - 0.05), 0, gpus)
            out.append(Unit(whole.host, a[0], a[1], g, user=user))
            rest = rest - np.stack([a[0], a[1], g])
        rest = np.where(np.isnan(rest), np.nan, np.clip(rest, 0, None))
        out.append(Unit(whole.host, rest[0], rest[1], rest[2]))
    return out


def load_fleet(conn: psycopg.Connection, now: datetime, window: timedelta = timedelta(days=28), *,
               location: str | None = None, by_user: bool = False) -> tuple[Fleet, dict[str, object]]:
    """(fleet, {hostname: system id}) of the hosts (of ``location``, if given) over ``window``
    before ``now``. Reads in the caller's transaction and leaves it open."""
    start, end = window_bounds(now, window)
    hours = int((end - start).total_seconds() // 3600)
    if hours < 24:
        raise ValueError("the window must cover at least 24 hours")
    systems = conn.execute(
        "SELECT id, hostname, cpu_cores, ram_total_gb, gpu_count, gpu_model, location, status FROM systems "
        "WHERE (%(loc)s::text IS NULL OR location = %(loc)s) ORDER BY hostname", {"loc": location}).fetchall()
    busy = {sid for (sid,) in conn.execute(
        "SELECT system_id FROM optimization_reports WHERE report_type = 'reallocation' "
        "AND recommendations ->> 'kind' = 'consolidation' AND status = 'approved' AND system_id IS NOT NULL "
        "UNION SELECT s.id FROM optimization_reports r CROSS JOIN LATERAL "
        "jsonb_array_elements_text(coalesce(r.recommendations -> 'targets', '[]')) t(host) "
        "JOIN systems s ON s.hostname = t.host WHERE r.report_type = 'reallocation' "
        "AND r.recommendations ->> 'kind' = 'consolidation' AND r.status = 'approved'").fetchall()}
    ids = [s[0] for s in systems]
    rows = conn.execute(
        "SELECT system_id, bucket, avg_cpu_percent, avg_ram_percent, "
        "greatest(max_gpu_utilization, max_gpu_memory_percent), avg_swap_percent, avg_disk_io_wait_percent "
        "FROM hourly_performance_stats "
        "WHERE bucket >= %s AND bucket < %s AND system_id = ANY(%s)", (start, end, ids)).fetchall()
    index = {sid: i for i, sid in enumerate(ids)}
    cpu = np.full((len(ids), hours), np.nan)
    ram = np.full((len(ids), hours), np.nan)
    gpu = np.full((len(ids), hours), np.nan)
    swap = np.full((len(ids), hours), np.nan)
    iowait = np.full((len(ids), hours), np.nan)
    for sid, bucket, c, r, g, sw, io in rows:
        i, t = index[sid], int((bucket - start).total_seconds() // 3600)
        cpu[i, t] = np.nan if c is None else c
        ram[i, t] = np.nan if r is None else r
        gpu[i, t] = 0.0 if g is None else g
        swap[i, t] = np.nan if sw is None else sw
        iowait[i, t] = np.nan if io is None else io
    # Hours in which no host reported (before the fleet's history starts, an outage of the whole
    # pipeline) say nothing about anyone's load: they leave the window instead of being filled.
    seen = ~np.isnan(cpu).all(axis=0) if len(ids) else np.zeros(hours, dtype=bool)
    cpu, ram, gpu, swap, iowait = cpu[:, seen], ram[:, seen], gpu[:, seen], swap[:, seen], iowait[:, seen]
    hours = int(seen.sum())
    hosts: list[Host] = []
    units: list[Unit] = []
    left_out: dict[str, str] = {}
    for i, (sid, name, cores, ram_gb, gpus, model, loc, status) in enumerate(systems):
        have = int((~np.isnan(cpu[i]) & ~np.isnan(ram[i])).sum())
        if status in UNAVAILABLE:
            left_out[name] = UNAVAILABLE[status]
        elif not cores or not ram_gb:
            left_out[name] = "hardware unknown (cpu_cores or ram_total_gb missing)"
        elif sid in busy:
            left_out[name] = "in an approved consolidation move not implemented yet"
        elif have < max(MIN_HOURS, MIN_COVERAGE * hours):
            left_out[name] = f"not enough data ({have} of {hours} hours)"
        elif why := _saturated(cpu[i], ram[i], swap[i], iowait[i]):
            left_out[name] = why
        else:
            hosts.append(Host(name, float(cores), float(ram_gb), int(gpus or 0), model, loc, status))
            units.append(Unit(name, cpu[i] / 100.0 * cores, ram[i] / 100.0 * ram_gb,
                              gpus_busy(int(gpus or 0), gpu[i]) if gpus else np.zeros(hours)))
    ids_by_name = {s[1]: s[0] for s in systems}
    if by_user and units:
        planned = [ids_by_name[u.host] for u in units]
        rows = conn.execute(USER_SQL, (start, end, planned)).fetchall()
        gpu_count = {h.name: h.gpu_count for h in hosts}
        units = _split_by_user(rows, start, len(seen), seen,
                               {ids_by_name[u.host]: (u, gpu_count[u.host]) for u in units})
    return Fleet(hosts, units, hours, left_out), ids_by_name
