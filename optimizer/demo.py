"""Synthetic but realistic fleet history for demos, tests and benchmarks.

Every host follows one archetype (idle, CPU-bound, RAM pressure with swapping, slow memory leak, GPU
saturated in working hours, disk-IO bound, healthy) on top of a daily and weekly working-hours
pattern, a random level per day and per-sample noise. Samples are generated with numpy and sent with
a binary ``COPY`` built directly from numpy record arrays (no per-row Python work), so a year of
5-minute samples for 50 hosts (≈5.26M rows) loads in well under a minute.

Stable API (used by other components' tests): :func:`generate`, :class:`DemoResult`,
:data:`ARCHETYPES`. Hostnames are ``demo-<archetype>-<NN>``; re-running replaces the ``demo-*`` hosts.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from sru import clock
from sru.columns import COLUMN_QUANTA, SCALAR_COLUMNS, USER_USAGE_NAMES
from sru.db import scalar, schema_tier

if TYPE_CHECKING:
    import psycopg

ARCHETYPES = ("healthy", "idle", "cpu_bound", "ram_swap", "memory_leak", "gpu_saturated", "disk_io")

# Hardware per archetype: cpu_model, cores, RAM GiB, gpu_model, gpu_count.
_HARDWARE = {
    "healthy": ("AMD Ryzen 9 5950X", 16, 64.0, "NVIDIA GeForce RTX 3090", 1),
    "idle": ("Intel Xeon W-2245", 16, 64.0, "NVIDIA GeForce RTX 3090", 1),
    "cpu_bound": ("Intel Core i7-9700", 8, 32.0, None, 0),
    "ram_swap": ("Intel Xeon E-2236", 12, 16.0, None, 0),
    "memory_leak": ("Intel Core i7-10700", 8, 32.0, None, 0),
    "gpu_saturated": ("AMD EPYC 7313", 32, 128.0, "NVIDIA A100 80GB PCIe", 2),
    "disk_io": ("Intel Xeon Silver 4210", 20, 64.0, None, 0),
}
_USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
          "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara")
_DEPARTMENTS = ("physics", "computer-science", "biology", "chemistry")

# usage_metrics columns written by the demo, in COPY order: every scalar column of sru.columns, each
# from its _signals() entry (cpu_per_core stays NULL).
METRIC_COLUMNS = SCALAR_COLUMNS
_PG_EPOCH = 946684800  # 2000-01-01T00:00:00Z, the origin of binary timestamptz
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
# Archetypes whose hosts have sessions on weekends too (batch jobs are started every day).
EVERY_DAY_SESSIONS = frozenset({"cpu_bound", "gpu_saturated"})
PROCESS_DAYS = 14  # process snapshots cover the recent window the process analysis looks at


@dataclass(frozen=True)
class DemoHost:
    hostname: str
    archetype: str
    system_id: uuid.UUID
    gpu_count: int


@dataclass
class DemoResult:
    hosts: list[DemoHost]
    start: datetime          # first sample
    end: datetime            # last sample
    interval: timedelta
    metric_rows: int = 0
    session_rows: int = 0
    process_rows: int = 0
    user_usage_rows: int = 0
    by_archetype: dict[str, list[str]] = field(default_factory=dict)


def archetype_for(index: int) -> str:
    """Hosts cycle through the archetypes, so any 7 consecutive hosts cover all of them."""
    return ARCHETYPES[index % len(ARCHETYPES)]


def _working_hours(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(activity 0..1, hour of day, is_weekday) for epoch seconds; the lab works 08-19 UTC."""
    hour = (ts % 86400) / 3600.0
    weekday = ((ts // 86400) + 3) % 7 < 5  # 1970-01-01 was a Thursday
    bump = np.where((hour >= 8) & (hour <= 19), np.sin(np.pi * (hour - 8) / 11) ** 2, 0.0)
    return np.where(weekday, bump, 0.15 * bump), hour, weekday


def _signals(arch: str, ts: np.ndarray, rng: np.random.Generator, cores: int, has_gpu: bool,
             days: float) -> dict[str, np.ndarray | None]:
    n = len(ts)
    work, hour, weekday = _working_hours(ts)
    day = (ts - ts[0]) // 86400
    daily = rng.normal(0, 1, int(day[-1]) + 1)[day]  # a random level per day: some days are busier

    def noise(sd: float) -> np.ndarray:
        return rng.normal(0, sd, n)

    cpu = 20 + 45 * work + 4 * daily + noise(5)
    ram = 45 + 15 * work + 2 * daily + noise(2.5)
    swap = 0.5 + np.abs(noise(0.3))
    gpu = 10 + 50 * work + 5 * daily + noise(6) if has_gpu else None
    gpu_mem = 15 + 40 * work + noise(3) if has_gpu else None
    io_wait = 1.5 + 2 * work + np.abs(noise(0.8))
    read = 5 + 20 * work + np.abs(noise(3))
    write = 3 + 12 * work + np.abs(noise(2))
    net_out = 0.5 + 8 * work + np.abs(noise(1))
    net_in = 1 + 15 * work + np.abs(noise(2))

    if arch == "idle":
        cpu = 1.5 + 3 * work + np.abs(noise(1))
        ram = 10 + 2 * work + noise(0.5)
        gpu = 0.3 + 1.5 * work + np.abs(noise(0.3)) if has_gpu else None
        gpu_mem = 1 + 2 * work + np.abs(noise(0.3)) if has_gpu else None
        io_wait = 0.2 + np.abs(noise(0.2))
        read, write = 0.2 + np.abs(noise(0.1)), 0.1 + np.abs(noise(0.1))
        net_out, net_in = 0.02 + np.abs(noise(0.02)), 0.05 + np.abs(noise(0.03))
    elif arch == "cpu_bound":
        cpu = 72 + 35 * work + 3 * daily + noise(4)
    elif arch == "ram_swap":
        ram = 86 + 12 * work + noise(1.5)
        swap = 18 + 45 * work + 5 * daily + noise(4)
        io_wait = 6 + 14 * work + np.abs(noise(2))
        cpu = 25 + 25 * work + noise(4)
    elif arch == "memory_leak":
        leak_window = min(days, 90.0) * 86400
        progress = np.clip((ts - (ts[-1] - leak_window)) / leak_window, 0, 1)
        ram = 30 + 5 * work + 58 * progress + noise(1.2)
        cpu = 20 + 25 * work + noise(4)
    elif arch == "gpu_saturated":
        busy = weekday & (hour >= 9) & (hour < 18)
        gpu = np.where(busy, 98.5 + noise(1.2), 3 + np.abs(noise(2)))
        gpu_mem = np.where(busy, 93 + noise(1.5), 4 + np.abs(noise(1)))
        cpu = 30 + 30 * work + noise(4)
        ram = 50 + 20 * work + noise(2)
    elif arch == "disk_io":
        io_wait = 22 + 30 * work + 3 * daily + noise(4)
        read = 120 + 150 * work + np.abs(noise(15))
        write = 60 + 80 * work + np.abs(noise(10))
        cpu = 18 + 15 * work + noise(3)

    cpu = np.clip(cpu, 0.1, 100)
    out: dict[str, np.ndarray | None] = {
        "cpu_percent": cpu,
        "cpu_temp": 38 + 0.42 * cpu + noise(1.5),
        "ram_percent": np.clip(ram, 1, 99.8),
        "swap_percent": np.clip(swap, 0, 100),
        "gpu_utilization": None if gpu is None else np.clip(gpu, 0, 100),
        "gpu_temp": None,
        "gpu_memory_percent": None if gpu_mem is None else np.clip(gpu_mem, 0, 100),
        "disk_read_mb_s": np.maximum(read, 0),
        "disk_write_mb_s": np.maximum(write, 0),
        "disk_io_wait_percent": np.clip(io_wait, 0, 100),
        "net_sent_mb_s": np.maximum(net_out, 0),
        "net_recv_mb_s": np.maximum(net_in, 0),
        "load_1m": np.maximum(cores * cpu / 100 * (1 + noise(0.05)), 0),
    }
    if out["gpu_utilization"] is not None:
        out["gpu_temp"] = 32 + 0.5 * out["gpu_utilization"] + noise(1.5)
    return out


def _copy_buffer(system_id: uuid.UUID, ts: np.ndarray, cols: dict[str, np.ndarray | None]) -> bytes:
    """Binary COPY tuples for one host, built as a numpy record array: NULL columns are a length of
    -1 and no data, so each host gets its own fixed-width record layout."""
    fields: list[tuple[str, str] | tuple[str, str, tuple[int]]] = [
        ("nf", ">i2"), ("l_id", ">i4"), ("id", "V16"), ("l_ts", ">i4"), ("ts", ">i8")]
    for name in METRIC_COLUMNS:
        fields.append((f"l_{name}", ">i4"))
        if cols[name] is not None:
            fields.append((name, ">f8"))
    rec = np.empty(len(ts), dtype=np.dtype(fields))
    rec["nf"] = 2 + len(METRIC_COLUMNS)
    rec["l_id"] = 16
    rec["id"] = np.frombuffer(system_id.bytes, dtype="V16")[0]
    rec["l_ts"] = 8
    rec["ts"] = (ts - _PG_EPOCH) * 1_000_000
    for name in METRIC_COLUMNS:
        values = cols[name]
        if values is None:
            rec[f"l_{name}"] = -1
        else:
            rec[f"l_{name}"] = 8
            q = COLUMN_QUANTA[name]   # stored on the grid real samples are (sru.columns)
            rec[name] = np.round(values * q) / q
    return rec.tobytes()


def generate(conn: psycopg.Connection, hosts: int = 50, days: float = 365,
             interval: timedelta | float = timedelta(minutes=5), seed: int = 42, *,
             end: datetime | None = None, progress: bool = False) -> DemoResult:
    """Write ``hosts`` demo hosts with ``days`` of history at ``interval`` (timedelta or seconds),
    ending at ``end`` (default: now, floored to the interval), plus users, sessions and the last
    14 days of process snapshots. Replaces earlier ``demo-*`` hosts. Deterministic for a given seed
    and ``end``. Needs a role that may delete hosts (admin or the schema owner). Commits."""
    step = int(interval.total_seconds() if isinstance(interval, timedelta) else interval)
    if hosts < 1 or days <= 0 or step < 1:
        raise ValueError("hosts, days and interval must be positive")
    end_s = int((end or clock.now()).timestamp()) // step * step
    n = int(days * 86400 // step)
    if n < 2:
        raise ValueError("days must cover at least two intervals")
    ts = end_s - step * np.arange(n - 1, -1, -1, dtype=np.int64)
    return _generate(conn, hosts, days, step, seed, ts, progress)


def _progress(total: int, enabled: bool, desc: str) -> Any:  # a tqdm bar (tqdm ships no types)
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="rows", unit_scale=True)


def _generate(conn: psycopg.Connection, hosts: int, days: float, step: int, seed: int,
              ts: np.ndarray, progress: bool) -> DemoResult:
    tier = schema_tier(conn)
    start = datetime.fromtimestamp(int(ts[0]), UTC)
    end = datetime.fromtimestamp(int(ts[-1]), UTC)
    result = DemoResult(hosts=[], start=start, end=end, interval=timedelta(seconds=step))
    with conn.transaction():
        # The old demo hosts' reports go with them: ON DELETE SET NULL would turn each pending one
        # into a fleet-wide report, and two of one type and kind collide in the one-pending index.
        conn.execute("DELETE FROM optimization_reports WHERE system_id IN"
                     " (SELECT id FROM systems WHERE hostname LIKE 'demo-%')")
        conn.execute("DELETE FROM systems WHERE hostname LIKE 'demo-%'")
        user_ids = _users(conn)
        for i in range(hosts):
            arch = archetype_for(i)
            cpu_model, cores, ram_gb, gpu_model, gpu_count = _HARDWARE[arch]
            if arch == "idle" and (i // len(ARCHETYPES)) % 2:
                gpu_model, gpu_count = None, 0  # half the idle boxes are plain workstations
            hostname = f"demo-{arch.replace('_', '-')}-{i // len(ARCHETYPES) + 1:02d}"
            system_id = scalar(
                conn, "INSERT INTO systems (hostname, cpu_model, cpu_cores, ram_total_gb, gpu_model, gpu_count,"
                " location, status) VALUES (%s, %s, %s, %s, %s, %s, %s, 'active') RETURNING id",
                (hostname, cpu_model, cores, ram_gb, gpu_model, gpu_count, f"lab-{'ab'[i % 2]}"))
            result.hosts.append(DemoHost(hostname, arch, system_id, gpu_count))
            result.by_archetype.setdefault(arch, []).append(hostname)

        columns = ", ".join(("system_id", '"timestamp"') + METRIC_COLUMNS)
        signals: dict[uuid.UUID, dict[str, np.ndarray | None]] = {}
        with _progress(len(ts) * hosts, progress, "usage_metrics") as bar, conn.cursor() as cur:
            with cur.copy(f"COPY usage_metrics ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(_COPY_HEADER)
                for i, host in enumerate(result.hosts):
                    rng = np.random.default_rng([seed, i])
                    cores = _HARDWARE[host.archetype][1]
                    cols = _signals(host.archetype, ts, rng, cores, host.gpu_count > 0, days)
                    copy.write(_copy_buffer(host.system_id, ts, cols))
                    signals[host.system_id] = cols
                    bar.update(len(ts))
                copy.write(_COPY_TRAILER)
        result.metric_rows = len(ts) * hosts
        if tier != "plain":
            # On TimescaleDB tiers no trigger keeps last_seen; every writer of usage_metrics does.
            conn.execute("UPDATE systems SET last_seen = %s WHERE hostname LIKE 'demo-%%'", (end,))
        result.session_rows = _sessions(conn, result.hosts, user_ids, ts, signals)
        result.process_rows = _processes(conn, result.hosts, ts, step, signals, seed, progress)
        result.user_usage_rows = _user_usage(conn, result.hosts, user_ids, ts, step, signals, progress)
        _mark_stale(conn, start)
        if tier != "full":  # the ledger's rollup tables hold the replaced hosts' hours no more
            conn.execute("UPDATE user_usage_rollup_state SET rolled_through = least(rolled_through, %s)", (start,))
    conn.commit()
    return result


def _users(conn: psycopg.Connection) -> list[int]:
    ids = []
    for k, name in enumerate(_USERS):
        ids.append(scalar(
            conn, "INSERT INTO users (username, full_name, email, department) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (username) DO UPDATE SET department = EXCLUDED.department RETURNING id",
            (name, name.title(), f"{name}@lab.example", _DEPARTMENTS[k % len(_DEPARTMENTS)])))
    return ids


def _day_starts(ts: np.ndarray) -> np.ndarray:
    return np.unique(ts // 86400 * 86400)


def _every_host(cols: dict[str, np.ndarray | None], name: str) -> np.ndarray:
    """A signal every host has (CPU, RAM; a host without GPUs has None for the GPU ones)."""
    values = cols[name]
    if values is None:
        raise KeyError(f"{name}: every host has this signal")
    return values


def _sessions(conn: psycopg.Connection, hosts: list[DemoHost], user_ids: list[int], ts: np.ndarray,
              signals: dict[uuid.UUID, dict[str, np.ndarray | None]]) -> int:
    """One or two sessions per host and working day; idle hosts see an occasional login. Compute
    hosts (CPU-bound, GPU-saturated) see users every day, weekends included, as real labs do: any 24
    hours of their history hold a session, whatever the day and hour the history ends."""
    rows = []
    end = int(ts[-1])
    for i, host in enumerate(hosts):
        rng = np.random.default_rng([7, i])
        cols = signals[host.system_id]
        day_index = (ts - ts[0]) // 86400
        peak_cpu = np.zeros(int(day_index[-1]) + 1)
        peak_ram = np.zeros_like(peak_cpu)
        np.maximum.at(peak_cpu, day_index, _every_host(cols, "cpu_percent"))
        np.maximum.at(peak_ram, day_index, _every_host(cols, "ram_percent"))
        for d, day in enumerate(_day_starts(ts)):
            if ((day // 86400) + 3) % 7 >= 5 and host.archetype not in EVERY_DAY_SESSIONS:
                continue
            if host.archetype == "idle" and rng.random() > 0.05:
                continue
            for s in range(1 + int(rng.random() < 0.4)):
                user = user_ids[(i + 3 * s) % len(user_ids)]
                login = int(day + 3600 * (8 + rng.uniform(0, 2.5)) + s * 3600 * 4)
                logout = int(login + 3600 * rng.uniform(2, 8))
                if login > end:
                    continue
                active = logout > end
                k = min(d, len(peak_cpu) - 1)
                rows.append((user, host.system_id, f"pts/{s}", f"10.0.{i % 250}.{10 + s}",
                             datetime.fromtimestamp(login, UTC),
                             None if active else datetime.fromtimestamp(logout, UTC),
                             active, round(float(peak_cpu[k]), 2), round(float(peak_ram[k]), 2)))
    with conn.cursor() as cur, cur.copy(
            "COPY user_sessions (user_id, system_id, terminal, remote_host, login_time, logout_time, "
            "is_active, peak_cpu_usage, peak_ram_usage) FROM STDIN") as copy:
        for r in rows:
            copy.write_row(r)
    return len(rows)


# (name, user index offset or None for root, cpu share of the host, memory MiB, gpu memory share)
_PROCESSES: dict[str, list[tuple[str, str, int | None, float, float, float]]] = {
    "healthy": [("python3", "python3 analysis.py --input /data/run42", 0, 0.5, 6000, 0.6)],
    "idle": [],
    "cpu_bound": [("simulate", "./simulate --threads 8 --steps 1e9", 0, 0.95, 2500, 0),
                  ("cc1plus", "cc1plus -O2 solver.cpp", 1, 0.05, 400, 0)],
    "ram_swap": [("R", "/usr/lib/R/bin/exec/R --no-save -f assemble.R", 0, 0.6, 13500, 0)],
    "memory_leak": [("java", "java -Xmx28g -jar labserver.jar", None, 0.6, -1, 0)],
    "gpu_saturated": [("python3", "python3 train.py --model vit-h --epochs 300", 0, 0.45, 24000, 0.5),
                      ("python3", "python3 finetune.py --model llama-13b", 1, 0.15, 16000, 0.5)],
    "disk_io": [("rsync", "rsync -a /archive/raw/ /scratch/raw/", 0, 0.3, 300, 0),
                ("postgres", "postgres: checkpointer", None, 0.2, 2000, 0)],
}


def _processes(conn: psycopg.Connection, hosts: list[DemoHost], ts: np.ndarray, step: int,
               signals: dict[uuid.UUID, dict[str, np.ndarray | None]], seed: int, progress: bool) -> int:
    """Hourly snapshots of each host's notable processes over the last 14 days."""
    hourly = np.nonzero((ts % 3600 < step) & (ts > ts[-1] - PROCESS_DAYS * 86400))[0]
    count = 0
    with _progress(len(hosts), progress, "process_snapshots") as bar, conn.cursor() as cur, cur.copy(
            "COPY process_snapshots (system_id, \"timestamp\", pid, name, username, cpu_percent, "
            "memory_mb, gpu_memory_mb, cmdline) FROM STDIN") as copy:
        for i, host in enumerate(hosts):
            cpu_model, cores, ram_gb, _, gpu_count = _HARDWARE[host.archetype]
            cols = signals[host.system_id]
            procs: list[tuple[str, str, int | None, float, float, float]] = [("sshd", "sshd: /usr/sbin/sshd -D [listener]", None, 0.001, 8.0, 0.0)]
            procs += _PROCESSES[host.archetype]
            for j in hourly:
                when = datetime.fromtimestamp(int(ts[j]), UTC)
                busy = _every_host(cols, "cpu_percent")[j] / 100.0
                for k, (name, cmd, user_off, cpu_share, mem, gpu_share) in enumerate(procs):
                    user = None if user_off is None else _USERS[(i + user_off) % len(_USERS)]
                    if host.archetype == "memory_leak" and name == "java":
                        mem = _every_host(cols, "ram_percent")[j] / 100 * ram_gb * 1024 * 0.85
                    gpu_mb = None
                    if gpu_share and cols["gpu_memory_percent"] is not None:
                        gpu_mb = round(float(cols["gpu_memory_percent"][j]) / 100 * 81920 * gpu_count
                                       * gpu_share, 1)
                    copy.write_row((host.system_id, when, 1000 + 97 * k + i, name, user or "root",
                                    round(float(busy * cores * 100 * cpu_share), 2), round(float(mem), 1),
                                    gpu_mb, cmd))
                    count += 1
            bar.update(1)
    return count


# Per-user usage (issue 19): who of the host's users used what. The host's own figures are split, so
# users + system + idle = capacity holds against usage_metrics too: system accounts take a share,
# the primary user (the host's first process owner above) most of the rest, a second user the
# remainder. GPU hosts' users hold a GPU each; a GPU at under 5 % of its user's share is held idle
# (the gpu_saturated hosts at night), and the idle archetype's GPU boxes have a second user who keeps
# a GPU's memory all working day without computing. One row per host and user every USER_STEP
# (means of the host's samples), at least two per hour: the ledger measures its step within hours.
USER_STEP = 1800
_USER_COLUMNS = USER_USAGE_NAMES[:-1]   # the doubles; processes (int4) is written after them
GPU_MEMORY_GB = 80.0


def _user_shares(arch: str, gpu_count: int) -> list[tuple[int, float, float]]:
    """(user offset, CPU/RAM share of the users' part, share of the GPUs) per user of the host."""
    if arch == "idle":
        return [(0, 1.0, 1.0)] if not gpu_count else [(0, 1.0, 0.0), (5, 0.0, 1.0)]
    if arch == "gpu_saturated":
        return [(0, 0.6, 0.5), (1, 0.4, 0.5)]
    return [(0, 0.75, 1.0), (1, 0.25, 0.0)]


def _user_usage(conn: psycopg.Connection, hosts: list[DemoHost], user_ids: list[int], ts: np.ndarray,
                step: int, signals: dict[uuid.UUID, dict[str, np.ndarray | None]], progress: bool) -> int:
    every = max(1, -(-USER_STEP // step))          # host samples per user sample
    blocks = len(ts) // every
    if blocks < 1:
        return 0
    cut = ts[len(ts) - blocks * every:]
    when = cut.reshape(blocks, every)[:, 0]
    system_id = scalar(conn, "INSERT INTO users (username) VALUES ('system') ON CONFLICT (username) "
                             "DO UPDATE SET username = EXCLUDED.username RETURNING id")
    fields = [("nf", ">i2"), ("l_id", ">i4"), ("id", "V16"), ("l_ts", ">i4"), ("ts", ">i8"), ("l_user", ">i4"),
              ("user", ">i8")]
    for name in _USER_COLUMNS:
        fields += [(f"l_{name}", ">i4"), (name, ">f8")]
    fields += [("l_processes", ">i4"), ("processes", ">i4")]
    dtype = np.dtype(fields)
    count = 0
    columns = ", ".join(("system_id", '"timestamp"', "user_id") + _USER_COLUMNS + ("processes",))
    with _progress(len(hosts), progress, "user_usage_metrics") as bar, conn.cursor() as cur, \
            cur.copy(f"COPY user_usage_metrics ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(_COPY_HEADER)
        for i, host in enumerate(hosts):
            _, cores, ram_gb, _, gpu_count = _HARDWARE[host.archetype]
            gpu_count = host.gpu_count
            cols = signals[host.system_id]

            def mean(name: str) -> np.ndarray:
                values = cols[name]  # noqa: B023 (called within this iteration only)
                if values is None:
                    return np.zeros(blocks)
                means: np.ndarray = np.asarray(values[len(ts) - blocks * every:]).reshape(blocks, every).mean(axis=1)
                return means  # numpy types mean(axis=) as Any

            cpu = mean("cpu_percent") / 100 * cores
            ram = mean("ram_percent") / 100 * ram_gb
            gpu = mean("gpu_utilization") * gpu_count          # % of one GPU, summed over the GPUs
            gmem = mean("gpu_memory_percent") / 100 * GPU_MEMORY_GB * gpu_count
            work, _, _ = _working_hours(when)
            per_user: list[tuple[int, dict[str, np.ndarray], int]] = [
                (system_id, {"cpu_cores": 0.05 * cpu, "ram_gb": 0.12 * ram, "gpu_memory_gb": np.zeros(blocks),
                             "gpu_utilization": np.zeros(blocks), "gpus_held": np.zeros(blocks),
                             "gpus_idle_held": np.zeros(blocks)}, 140)]
            for k, (offset, share, gpu_share) in enumerate(_user_shares(host.archetype, gpu_count)):
                held = np.full(blocks, float(max(1, round(gpu_count * gpu_share)))) if gpu_count and gpu_share else \
                    np.zeros(blocks)
                util = gpu * gpu_share
                memory = gmem * gpu_share
                if host.archetype == "idle" and gpu_count and k == 1:
                    # holds one GPU's memory on working days without computing: idle-held
                    held = (work > 0.05).astype(float)
                    util = np.where(held > 0, 0.4, 0.0)
                    memory = held * 18.0
                idle_held = np.where((held > 0) & (util < 5.0 * held), held, 0.0)
                per_user.append((user_ids[(i + offset) % len(user_ids)],
                                 {"cpu_cores": 0.95 * cpu * share, "ram_gb": 0.88 * ram * share,
                                  "gpu_memory_gb": memory, "gpu_utilization": util, "gpus_held": held,
                                  "gpus_idle_held": idle_held}, 3 + 4 * k))
            for user, values, procs in per_user:
                rec = np.empty(blocks, dtype=dtype)
                rec["nf"] = 3 + len(_USER_COLUMNS) + 1
                rec["l_id"], rec["l_ts"], rec["l_user"] = 16, 8, 8
                rec["id"] = np.frombuffer(host.system_id.bytes, dtype="V16")[0]
                rec["ts"] = (when - _PG_EPOCH) * 1_000_000
                rec["user"] = user
                for name in _USER_COLUMNS:
                    rec[f"l_{name}"] = 8
                    rec[name] = np.round(np.maximum(values[name], 0.0) * 1024) / 1024
                rec["l_processes"], rec["processes"] = 4, procs
                copy.write(rec.tobytes())
                count += blocks
            bar.update(1)
        copy.write(_COPY_TRAILER)
    return count


def _mark_stale(conn: psycopg.Connection, since: datetime) -> None:
    """Tell the optimizer that summaries from ``since`` on must be recomputed (no-op before its
    migrations are applied)."""
    exists = conn.execute("SELECT to_regprocedure('mark_summaries_stale(timestamptz)') IS NOT NULL").fetchone()
    if exists and exists[0]:
        conn.execute("SELECT mark_summaries_stale(%s)", (since,))


def hosts_by_archetype(result: DemoResult) -> dict[str, list[DemoHost]]:
    out: dict[str, list[DemoHost]] = {}
    for h in result.hosts:
        out.setdefault(h.archetype, []).append(h)
    return out


__all__ = ("ARCHETYPES", "DemoHost", "DemoResult", "generate", "archetype_for",
                          "hosts_by_archetype")
