"""A small, exactly known per-user history for the ledger tests: two hosts, one-minute samples,
users that come and go. Every figure the ledger should give follows from the constants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from sru.db import scalar

STEP = timedelta(minutes=1)
# A period that crosses midnight of 29 Feb (a leap day) and a month end, with partial hours at both ends.
T0 = datetime(2028, 2, 28, 22, 17, 30, tzinfo=UTC)
N = 50 * 60 + 13          # samples per host: 50 h 13 min
END = T0 + N * STEP
HOSTS = {"h1": (4, 16.0, 2), "h2": (2, 8.0, 0)}   # cores, RAM GB, GPUs
DEPARTMENTS = {"alice": "physics", "bob": "chemistry"}  # carol stays unassigned


@dataclass(frozen=True)
class Use:
    host: str
    user: str
    cpu: float
    ram: float
    gpu_util: float = 0.0      # % of one GPU, summed
    held: float = 0.0
    idle_held: float = 0.0
    first: int = 0             # sample index range [first, last)
    last: int = N


USES = (
    Use("h1", "alice", 1.0, 2.0, gpu_util=90.0, held=1),
    Use("h1", "bob", 0.5, 1.0, held=1, idle_held=1, last=N // 2),
    Use("h1", "system", 0.25, 1.5),
    Use("h2", "alice", 1.5, 4.0),
    Use("h2", "carol", 0.125, 0.5, first=100, last=400),
    Use("h2", "other", 0.0625, 0.25),
    Use("h2", "system", 0.125, 1.0),
)


def load(conn: psycopg.Connection, t0: datetime = T0, n: int = N) -> None:
    """Writes the history (as the schema owner) from ``t0``, ``n`` samples per host at most, and commits."""
    ids = {}
    for host, (cores, ram, gpus) in HOSTS.items():
        ids[host] = scalar(conn, "INSERT INTO systems (hostname, cpu_cores, ram_total_gb, gpu_count) "
                                 "VALUES (%s, %s, %s, %s) RETURNING id", (host, cores, ram, gpus))
    users = {}
    for name in sorted({u.user for u in USES}):
        users[name] = scalar(conn, "INSERT INTO users (username, department) VALUES (%s, %s) RETURNING id",
                                   (name, DEPARTMENTS.get(name)))
    with conn.cursor() as cur, cur.copy(
            'COPY user_usage_metrics (system_id, "timestamp", user_id, cpu_cores, ram_gb, gpu_memory_gb, '
            'gpu_utilization, gpus_held, gpus_idle_held, processes) FROM STDIN') as copy:
        for u in USES:
            for k in range(u.first, min(u.last, n)):
                copy.write_row((ids[u.host], t0 + k * STEP, users[u.user], u.cpu, u.ram, u.held * 3.0,
                                u.gpu_util, u.held, u.idle_held, 3))
    conn.commit()


def samples_in(u: Use, start: datetime, end: datetime) -> int:
    return sum(1 for k in range(u.first, u.last) if start <= T0 + k * STEP < end)


def host_samples(host: str, start: datetime, end: datetime) -> int:
    """Distinct sample times of a host in [start, end) (its system user is there at every one)."""
    return next(samples_in(u, start, end) for u in USES if u.host == host and u.user == "system")


def expected(start: datetime, end: datetime) -> dict[tuple[str, str], tuple[float, float, float, float]]:
    """(host, user) -> (core-hours, GB-hours, GPU-hours, idle-held GPU-hours) over [start, end)."""
    h = STEP.total_seconds() / 3600
    out = {}
    for u in USES:
        n = samples_in(u, start, end) * h
        if n:
            out[(u.host, u.user)] = (u.cpu * n, u.ram * n, u.gpu_util / 100 * n, u.idle_held * n)
    return out
