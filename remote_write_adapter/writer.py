"""Write a pivoted Batch into PostgreSQL in one transaction, idempotently.

usage_metrics rows go through COPY into a per-connection temporary staging table and are merged
with INSERT … ON CONFLICT that keeps every column already stored unless the new row has a value for
it: a row split across two requests is completed, a retried request changes nothing (and writes no
new row version). Only the columns the batch has values for are copied and merged. The merge
takes its rows in key order, so concurrent requests completing the same rows (Prometheus sends
recording-rule output rule by rule: every request brings a few columns of many rows) lock them
in the same order instead of deadlocking. The other tables are small per batch and are written
from arrays with unnest().

Steady state sends little besides the rows: systems facts (location, models, sizes) are written
when they differ from what this process last committed (and re-asserted every FACTS_REFRESH), and
the search for sessions whose series vanished runs only for hosts with an open session (as of at
most ACTIVE_SESSIONS_REFRESH ago, or opened by this process), per host at most once per
VANISHED_CHECK_EVERY of sample time. This bookkeeping changes only after a commit.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from remote_write_adapter.pivot import Batch
from sru.columns import BY_NAME, JSON_COLUMNS, SCALAR_COLUMNS, USER_USAGE_NAMES
from sru.db import schema_tier

log = logging.getLogger(__name__)

ATTEMPTS = 5                    # tries of a batch that deadlocks
FACTS_REFRESH = 600.0           # s: unchanged systems facts are written again at most this often
VANISHED_CHECK_EVERY = 60_000   # ms of sample time between two vanished-session checks of a host
ACTIVE_SESSIONS_REFRESH = 30.0  # s: age of this process's list of hosts with an open session

STAGE = "sru_stage_usage"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_CREATE_STAGE = f"""
CREATE TEMP TABLE IF NOT EXISTS {STAGE} (
  system_id uuid NOT NULL, "timestamp" timestamptz NOT NULL,
  {", ".join(f"{c} {BY_NAME[c].sql_type}" for c in (*SCALAR_COLUMNS, *JSON_COLUMNS))}
) ON COMMIT DELETE ROWS"""

_ROW_COLUMNS = (*SCALAR_COLUMNS, *JSON_COLUMNS)  # a Batch.usage row, in this order


@functools.lru_cache(maxsize=512)
def usage_statements(present: tuple[int, ...]) -> tuple[str, str, tuple[str, ...]]:
    """COPY, merge and COPY types for a batch whose rows hold values only in the columns at
    ``present`` (indices into a Batch.usage row). Prometheus sends recording-rule output rule by
    rule, so a request mostly brings one or two columns of many rows: copying and merging only
    those costs less on both sides than all 14 (bench/README.md, "Soak"). A row that would not
    change (a retried request) is left alone instead of being rewritten as a new tuple version."""
    cols = [_ROW_COLUMNS[i] for i in present]
    names = "".join(f", {c}" for c in cols)
    copy = f'COPY {STAGE} (system_id, "timestamp"{names}) FROM STDIN (FORMAT BINARY)'
    types = ("uuid", "timestamptz", *("jsonb" if c == "cpu_per_core" else "float8" for c in cols))
    merge = (f'INSERT INTO usage_metrics AS u (system_id, "timestamp"{names})\n'
             f'SELECT system_id, "timestamp"{names} FROM {STAGE} ORDER BY system_id, "timestamp"\n'
             'ON CONFLICT (system_id, "timestamp") ')
    if not cols:
        return copy, merge + "DO NOTHING", types
    sets, changes = [], []
    for c in cols:
        if c == "cpu_per_core":
            sets.append("cpu_per_core = CASE WHEN EXCLUDED.cpu_per_core IS NULL THEN u.cpu_per_core\n"
                        "    ELSE COALESCE(u.cpu_per_core, '{}'::jsonb) || EXCLUDED.cpu_per_core END")
            changes.append("EXCLUDED.cpu_per_core IS NOT NULL"
                           " AND (u.cpu_per_core IS NULL OR NOT u.cpu_per_core @> EXCLUDED.cpu_per_core)")
        else:
            sets.append(f"{c} = COALESCE(EXCLUDED.{c}, u.{c})")
            changes.append(f"EXCLUDED.{c} IS NOT NULL AND EXCLUDED.{c} IS DISTINCT FROM u.{c}")
    return copy, merge + "DO UPDATE SET\n  " + ",\n  ".join(sets) + "\nWHERE " + "\n   OR ".join(changes), types

# New hosts appear on their first sample; facts only overwrite what they carry.
_INSERT_SYSTEMS = """
INSERT INTO systems (hostname) SELECT h FROM unnest(%s::text[]) AS h ORDER BY h
ON CONFLICT (hostname) DO NOTHING"""

_UPDATE_SYSTEMS = """
UPDATE systems s SET
  location     = COALESCE(n.location, s.location),
  cpu_model    = COALESCE(n.cpu_model, s.cpu_model),
  gpu_model    = COALESCE(n.gpu_model, s.gpu_model),
  cpu_cores    = COALESCE(n.cpu_cores, s.cpu_cores),
  ram_total_gb = COALESCE(n.ram_total_gb, s.ram_total_gb),
  gpu_count    = COALESCE(n.gpu_count, s.gpu_count),
  last_seen    = CASE WHEN %(touch)s THEN GREATEST(s.last_seen, n.last_seen) ELSE s.last_seen END
FROM unnest(%(h)s::text[], %(loc)s::text[], %(cpu)s::text[], %(gpu)s::text[], %(cores)s::int[],
            %(ram)s::float8[], %(gpus)s::int[], %(seen)s::timestamptz[])
     AS n(hostname, location, cpu_model, gpu_model, cpu_cores, ram_total_gb, gpu_count, last_seen)
WHERE s.hostname = n.hostname
  AND (  n.location IS NOT NULL AND n.location IS DISTINCT FROM s.location
      OR n.cpu_model IS NOT NULL AND n.cpu_model IS DISTINCT FROM s.cpu_model
      OR n.gpu_model IS NOT NULL AND n.gpu_model IS DISTINCT FROM s.gpu_model
      OR n.cpu_cores IS NOT NULL AND n.cpu_cores IS DISTINCT FROM s.cpu_cores
      OR n.ram_total_gb IS NOT NULL AND n.ram_total_gb IS DISTINCT FROM s.ram_total_gb
      OR n.gpu_count IS NOT NULL AND n.gpu_count IS DISTINCT FROM s.gpu_count
      OR %(touch)s AND n.last_seen IS NOT NULL AND (s.last_seen IS NULL OR n.last_seen > s.last_seen))"""

_PROCESSES = """
INSERT INTO process_snapshots AS p (system_id, "timestamp", pid, name, username, cpu_percent, memory_mb)
SELECT * FROM unnest(%s::uuid[], %s::timestamptz[], %s::int[], %s::text[], %s::text[], %s::float8[],
                     %s::float8[])
ON CONFLICT (system_id, "timestamp", pid) DO UPDATE SET
  name = EXCLUDED.name, username = EXCLUDED.username,
  cpu_percent = COALESCE(EXCLUDED.cpu_percent, p.cpu_percent),
  memory_mb = COALESCE(EXCLUDED.memory_mb, p.memory_mb)"""

# Per-user rows (user_usage_metrics): few per host and evaluation, written from arrays. As the
# usage_metrics merge: a row split across requests (one recording rule per request) is completed, a
# retried request changes nothing and rewrites nothing; key order against deadlocks.
_USER_USAGE = ("""
INSERT INTO user_usage_metrics AS u (system_id, "timestamp", user_id, """ + ", ".join(USER_USAGE_NAMES) + """)
SELECT * FROM unnest(%s::uuid[], %s::timestamptz[], %s::bigint[], """
               + ", ".join("%s::int[]" if c == "processes" else "%s::float8[]" for c in USER_USAGE_NAMES) + """)
 ORDER BY 1, 2, 3
ON CONFLICT (system_id, "timestamp", user_id) DO UPDATE SET
  """ + ",\n  ".join(f"{c} = COALESCE(EXCLUDED.{c}, u.{c})" for c in USER_USAGE_NAMES) + """
WHERE """ + "\n   OR ".join(f"EXCLUDED.{c} IS NOT NULL AND EXCLUDED.{c} IS DISTINCT FROM u.{c}"
                           for c in USER_USAGE_NAMES))

_OPEN_SESSIONS = """
INSERT INTO user_sessions AS us (system_id, user_id, terminal, remote_host, login_time, last_sample_at)
SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])
ON CONFLICT ON CONSTRAINT user_sessions_identity DO UPDATE SET
  last_sample_at = GREATEST(us.last_sample_at, EXCLUDED.last_sample_at),
  -- A sample newer than the recorded logout means the session never ended (e.g. it was closed for
  -- disappearing while Prometheus was down): reopen it.
  is_active   = us.is_active OR EXCLUDED.last_sample_at > us.logout_time,
  logout_time = CASE WHEN EXCLUDED.last_sample_at > us.logout_time THEN NULL ELSE us.logout_time END
WHERE us.last_sample_at IS NULL OR EXCLUDED.last_sample_at > us.last_sample_at"""

# What a closed session did, from what is stored: peaks and the user's major processes.
_SESSION_FACTS = """
  is_active = false,
  logout_time = {logout},
  peak_cpu_usage = (SELECT max(m.cpu_percent) FROM usage_metrics m
                     WHERE m.system_id = us.system_id AND m."timestamp" BETWEEN us.login_time AND {logout}),
  peak_ram_usage = (SELECT max(m.ram_percent) FROM usage_metrics m
                     WHERE m.system_id = us.system_id AND m."timestamp" BETWEEN us.login_time AND {logout}),
  active_processes = COALESCE((
    SELECT jsonb_agg(jsonb_build_object('name', x.name, 'max_cpu_percent', x.cpu, 'max_memory_mb', x.mem)
                     ORDER BY x.cpu DESC NULLS LAST)
      FROM (SELECT p.name, max(p.cpu_percent) AS cpu, max(p.memory_mb) AS mem
              FROM process_snapshots p JOIN users uu ON uu.id = us.user_id
             WHERE p.system_id = us.system_id AND p.username = uu.username
               AND p."timestamp" BETWEEN us.login_time AND {logout}
             GROUP BY p.name ORDER BY max(p.cpu_percent) DESC NULLS LAST LIMIT 10) x), '[]'::jsonb)"""

_CLOSE_SESSIONS = """
UPDATE user_sessions us SET""" + _SESSION_FACTS.format(logout="GREATEST(c.ts, us.login_time)") + """
FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::timestamptz[]) AS c(system_id, user_id, terminal, ts)
WHERE us.system_id = c.system_id AND us.user_id = c.user_id
  AND us.terminal IS NOT DISTINCT FROM c.terminal AND us.is_active AND us.login_time <= c.ts"""

_CLOSE_VANISHED = """
UPDATE user_sessions us SET""" + _SESSION_FACTS.format(
    logout="GREATEST(COALESCE(us.last_sample_at, us.login_time), us.login_time)") + """
FROM unnest(%s::uuid[], %s::timestamptz[]) AS h(system_id, ts)
WHERE us.system_id = h.system_id AND us.is_active AND us.last_sample_at < h.ts - %s::interval"""


# What the database may still refuse in data the pivot accepted: never storable, unlike a database
# that is down. ProgramLimitExceeded (e.g. "index row size exceeds btree maximum") is an
# OperationalError in psycopg's hierarchy, so it is named here lest it become a 503.
UNSTORABLE = (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.ProgramLimitExceeded)


# The chunks that exist (TimescaleDB): a batch with a timestamp outside them creates one. Creating a
# chunk adds its foreign key to systems, which takes SHARE ROW EXCLUSIVE on systems while holding the
# hypertable's chunk-creation lock; two such batches that had already written systems (ROW
# EXCLUSIVE) deadlocked, and PostgreSQL broke it only after deadlock_timeout (1 s) at every chunk
# boundary. A batch that may create a chunk therefore takes that lock on systems first, before it
# holds anything: it waits for the batches in flight, then runs alone; every other batch takes ROW
# EXCLUSIVE on systems first too, so no batch holds row locks while queued behind a creator.
_CHUNKS = """
SELECT hypertable_name, (extract(epoch FROM range_start) * 1000)::bigint,
       (extract(epoch FROM range_end) * 1000)::bigint
  FROM timescaledb_information.chunks
 WHERE hypertable_schema = 'public'
   AND hypertable_name IN ('usage_metrics', 'process_snapshots', 'user_usage_metrics')"""
_LOCK_FOR_NEW_CHUNK = "LOCK TABLE systems IN SHARE ROW EXCLUSIVE MODE"
_LOCK_SYSTEMS = "LOCK TABLE systems IN ROW EXCLUSIVE MODE"  # conflicts only with the one above


class ChunkRanges:
    """Time ranges (ms) of the chunks of one hypertable, as last read. Replaced whole, in one
    assignment, so the worker's other threads always see a consistent pair of lists."""

    def __init__(self) -> None:
        self._ranges: tuple[list[int], list[int]] = ([], [])

    def set(self, ranges: list[tuple[int, int]]) -> None:
        ranges.sort()
        self._ranges = ([a for a, _ in ranges], [b for _, b in ranges])

    def covers(self, ts: int) -> bool:
        starts, ends = self._ranges
        i = bisect.bisect_right(starts, ts) - 1
        return i >= 0 and ts < ends[i]


def ms_to_datetime(ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ms)


def prepare_connection(conn: psycopg.Connection) -> None:
    """Create the staging table once per connection (pool ``configure`` hook)."""
    conn.execute(_CREATE_STAGE)
    conn.commit()


@dataclass
class WriteResult:
    usage_rows: int = 0
    process_rows: int = 0
    systems_touched: int = 0
    sessions_opened: int = 0
    sessions_closed: int = 0
    user_usage_rows: int = 0
    # What the Writer remembers once the transaction has committed.
    system_ids: dict[str, Any] = field(default_factory=dict, repr=False)
    facts_written: dict[str, tuple[Any, ...]] = field(default_factory=dict, repr=False)
    vanished_checked: dict[str, int] = field(default_factory=dict, repr=False)
    session_systems: set[UUID] = field(default_factory=set, repr=False)  # where sessions were (re)opened
    user_ids: dict[str, int] = field(default_factory=dict, repr=False)


class Writer:
    """Writes batches; keeps a hostname → system id cache per process (systems rows are rarely
    deleted; a deleted one shows up as a foreign-key error and empties the cache). Shared by a
    worker's request threads: each batch works on its own maps and merges into these after commit."""

    def __init__(self, session_stale_after: dt.timedelta = dt.timedelta(minutes=15)) -> None:
        self.session_stale_after = session_stale_after
        self._ids: dict[str, Any] = {}
        self._touch: bool | None = None
        self._facts: dict[str, tuple[tuple[Any, ...], float]] = {}  # host -> (facts, monotonic time to rewrite)
        self._vanished_checked: dict[str, int] = {}       # host -> newest sample ts at the last check
        self._with_sessions: set[UUID] = set()            # system ids with an open session
        self._with_sessions_until = 0.0
        self._hypertables: bool | None = None
        self._chunks = {"usage_metrics": ChunkRanges(), "process_snapshots": ChunkRanges(),
                        "user_usage_metrics": ChunkRanges()}
        self._user_ids_cache: dict[str, int] = {}  # username -> users.id, as committed

    def write(self, conn: psycopg.Connection, batch: Batch) -> WriteResult:
        """Write and commit the batch. Should the database refuse something the pivot's checks let
        through, each host is written in a transaction of its own, so the other hosts' rows are
        still committed; the refused host's rows are counted in ``batch`` (reason
        ``refused_by_database``, answered 400), never a 5xx that Prometheus would retry forever."""
        try:
            return self._write_retrying(conn, batch)
        except UNSTORABLE as exc:
            if isinstance(exc, psycopg.errors.ForeignKeyViolation):
                raise
            first = exc
        log.warning("batch refused by the database (%s); writing host by host",
                    first.diag.message_primary or first)
        total = WriteResult()
        for host in sorted(batch.hosts):
            part = batch.for_host(host)
            try:
                res = self._write_retrying(conn, part)
            except UNSTORABLE as exc:
                if isinstance(exc, psycopg.errors.ForeignKeyViolation):
                    raise
                rows = part.rows()
                batch.accepted -= rows
                batch.refuse("refused_by_database", rows,
                             f"host {host[:64]!r}: refused by the database: {exc.diag.message_primary or exc}")
                continue
            for name in ("usage_rows", "process_rows", "systems_touched", "sessions_opened", "sessions_closed",
                         "user_usage_rows"):
                setattr(total, name, getattr(total, name) + getattr(res, name))
        return total

    def _write_retrying(self, conn: psycopg.Connection, batch: Batch) -> WriteResult:
        """Write and commit. Retries a deadlock (concurrent requests creating the same TimescaleDB
        chunk take their locks in no fixed order) after a short random pause, and a stale system
        id (a systems row deleted under the cache) with the cache emptied."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with conn.transaction():
                    res = self._write(conn, batch)
                self._ids.update(res.system_ids)
                refresh = time.monotonic() + FACTS_REFRESH
                for host, facts in res.facts_written.items():
                    self._facts[host] = (facts, refresh)
                self._vanished_checked.update(res.vanished_checked)
                self._with_sessions.update(res.session_systems)
                self._user_ids_cache.update(res.user_ids)
                return res
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt == ATTEMPTS:
                    raise
                time.sleep(random.uniform(0, 0.02 * attempt))
            except psycopg.errors.ForeignKeyViolation:
                if attempt == ATTEMPTS:
                    raise
                self._ids.clear()
        raise AssertionError("unreachable")

    def _touch_last_seen(self, conn: psycopg.Connection) -> bool:
        """Whether this adapter must move systems.last_seen: migration 004 records who does it (a
        statement trigger where the server allows transition tables on usage_metrics)."""
        if self._touch is None:
            row = conn.execute("SELECT value FROM sru_meta WHERE key = 'last_seen_maintained_by'").fetchone()
            self._touch = row[0] == "adapter" if row else schema_tier(conn) != "plain"
        return self._touch

    def _new_chunk_times(self, batch: Batch) -> bool:
        usage, procs = self._chunks["usage_metrics"], self._chunks["process_snapshots"]
        per_user = self._chunks["user_usage_metrics"]
        return (any(not usage.covers(t) for t in {t for _, t in batch.usage})
                or any(not procs.covers(t) for t in {t for _, t, _ in batch.processes})
                or any(not per_user.covers(t) for t in {t for _, _, t in batch.user_usage}))

    def _may_create_chunk(self, conn: psycopg.Connection, batch: Batch) -> bool:
        """Whether the batch has a timestamp outside the chunks this process knows of (re-read
        from the database once when it has)."""
        if self._hypertables is None:
            self._hypertables = schema_tier(conn) != "plain"
        if not self._hypertables or not self._new_chunk_times(batch):
            return False
        ranges: dict[str, list[tuple[int, int]]] = {t: [] for t in self._chunks}
        for table, start, end in conn.execute(_CHUNKS):
            ranges[table].append((start, end))
        for table, found in ranges.items():
            self._chunks[table].set(found)
        return self._new_chunk_times(batch)

    def _write(self, conn: psycopg.Connection, batch: Batch) -> WriteResult:
        res = WriteResult()
        if not batch.hosts:
            return res
        if self._may_create_chunk(conn, batch):
            conn.execute(_LOCK_FOR_NEW_CHUNK)
        elif self._hypertables:
            # Every batch takes its lock on systems before any row lock (the merge and the
            # last_seen trigger would take it later anyway): otherwise a batch holding usage rows
            # can queue behind a chunk creator's lock while another batch waits for its rows.
            conn.execute(_LOCK_SYSTEMS)
        ids = self._systems(conn, batch, res)
        if batch.usage:
            res.usage_rows = self._usage(conn, batch, ids)
        if batch.processes:
            res.process_rows = self._processes(conn, batch, ids)
        if batch.user_usage:
            res.user_usage_rows = self._user_usage(conn, batch, ids, res)
        if batch.sessions_open or batch.sessions_closed or batch.usage:
            self._sessions(conn, batch, ids, res)
        return res

    def _systems(self, conn: psycopg.Connection, batch: Batch, res: WriteResult) -> dict[str, Any]:
        """System ids of the batch's hosts (creating new hosts' rows). The batch uses its own map:
        another thread may empty the shared cache meanwhile, and an id read here reaches the cache
        only once this transaction has committed it."""
        hosts = sorted(batch.hosts)
        ids = {h: self._ids.get(h) for h in hosts}
        missing = [h for h, sid in ids.items() if sid is None]
        if missing:
            conn.execute(_INSERT_SYSTEMS, (missing,))
            for sid, name in conn.execute("SELECT id, hostname FROM systems WHERE hostname = ANY(%s)",
                                          (missing,)):
                ids[name] = res.system_ids[name] = sid
        # A statement trigger on usage_metrics keeps last_seen where the server allows its transition
        # table (plain PostgreSQL, TimescaleDB >= 2.18); elsewhere it is updated here, once per batch.
        touch = self._touch_last_seen(conn)
        now = time.monotonic()
        send = []
        for h in hosts:
            f = batch.hosts[h]
            known = f.location is None and not f.columns
            if not known:
                stated = (f.location, tuple(sorted(f.columns.items())))
                written, refresh = self._facts.get(h, (None, 0.0))
                known = written == stated and now < refresh
                if not known:
                    res.facts_written[h] = stated
            if not known or touch and f.max_ts:
                send.append(h)
        if not send:
            return ids
        facts = [batch.hosts[h] for h in send]
        cur = conn.execute(_UPDATE_SYSTEMS, {
            "touch": touch, "h": send,
            "loc": [f.location for f in facts],
            "cpu": [f.columns.get("cpu_model") for f in facts],
            "gpu": [f.columns.get("gpu_model") for f in facts],
            "cores": [f.columns.get("cpu_cores") for f in facts],
            "ram": [f.columns.get("ram_total_gb") for f in facts],
            "gpus": [f.columns.get("gpu_count") for f in facts],
            "seen": [ms_to_datetime(f.max_ts) if f.max_ts else None for f in facts],
        })
        res.systems_touched = cur.rowcount
        return ids

    def _usage(self, conn: psycopg.Connection, batch: Batch, ids: dict[str, Any]) -> int:
        rows = batch.usage
        # One tuple per column (C speed): which columns hold a value anywhere in the batch.
        columns = list(zip(*rows.values(), strict=True))
        present = tuple(i for i, col in enumerate(columns) if col.count(None) != len(rows))
        copy_sql, merge_sql, types = usage_statements(present)
        if present and present[-1] == len(SCALAR_COLUMNS):  # cpu_per_core: dicts become jsonb
            columns[-1] = tuple(Jsonb(v) if v is not None else None for v in columns[-1])
        times = {ts: ms_to_datetime(ts) for ts in {ts for _, ts in rows}}
        with conn.cursor() as cur:
            with cur.copy(copy_sql) as copy:
                copy.set_types(types)
                write_row = copy.write_row
                for (host, ts), *values in zip(rows, *(columns[i] for i in present), strict=True):
                    write_row((ids[host], times[ts], *values))
            cur.execute(merge_sql)
        # Every row of the batch is now stored: inserted, updated, or already holding these values
        # (the merge's rowcount leaves out the rows it did not need to rewrite).
        return len(rows)

    def _processes(self, conn: psycopg.Connection, batch: Batch, ids: dict[str, Any]) -> int:
        cols: list[list[Any]] = [[], [], [], [], [], [], []]
        for (host, ts, pid), (name, user, cpu, mem) in batch.processes.items():
            for col, v in zip(cols, (ids[host], ms_to_datetime(ts), pid, name, user, cpu, mem), strict=True):
                col.append(v)
        return conn.execute(_PROCESSES, cols).rowcount

    def _user_usage(self, conn: psycopg.Connection, batch: Batch, ids: dict[str, Any], res: WriteResult) -> int:
        """Per-user rows; their users are upserted into ``users`` (a name this process has
        committed before is not asked for again)."""
        rows = batch.user_usage
        names = {user for _, user, _ in rows}
        users = {n: self._user_ids_cache[n] for n in names if n in self._user_ids_cache}
        missing = names - users.keys()
        if missing:
            found = self._user_ids(conn, missing)
            users.update(found)
            res.user_ids.update(found)
        cols: list[list[Any]] = [[] for _ in range(3 + len(USER_USAGE_NAMES))]
        for (host, user, ts), values in rows.items():
            for col, v in zip(cols, (ids[host], ms_to_datetime(ts), users[user], *values), strict=True):
                col.append(v)
        conn.execute(_USER_USAGE, cols)
        return len(rows)

    def _user_ids(self, conn: psycopg.Connection, names: set[str]) -> dict[str, int]:
        if not names:
            return {}
        ordered = sorted(names)
        conn.execute("INSERT INTO users (username) SELECT unnest(%s::text[]) ON CONFLICT (username) DO NOTHING",
                     (ordered,))
        return {n: i for i, n in conn.execute("SELECT id, username FROM users WHERE username = ANY(%s)",
                                               (ordered,))}

    def _sessions(self, conn: psycopg.Connection, batch: Batch, ids: dict[str, Any],
                  res: WriteResult) -> None:
        users = self._user_ids(conn, {k[1] for k in batch.sessions_open} | {k[1] for k in batch.sessions_closed})
        if batch.sessions_open:
            cols: list[list[Any]] = [[], [], [], [], [], []]
            for (host, user, terminal, login), (remote, last) in sorted(batch.sessions_open.items()):
                vals = (ids[host], users[user], terminal or None, remote,
                        _EPOCH + dt.timedelta(seconds=login), ms_to_datetime(last))
                for col, v in zip(cols, vals, strict=True):
                    col.append(v)
            res.sessions_opened = conn.execute(_OPEN_SESSIONS, cols).rowcount
            res.session_systems = set(cols[0])
        if batch.sessions_closed:
            cols = [[], [], [], []]
            for (host, user, terminal), ts in sorted(batch.sessions_closed.items()):
                for col, v in zip(cols, (ids[host], users[user], terminal or None, ms_to_datetime(ts)), strict=True):
                    col.append(v)
            res.sessions_closed += conn.execute(_CLOSE_SESSIONS, cols).rowcount
        now = time.monotonic()
        if now >= self._with_sessions_until:
            self._with_sessions = {r[0] for r in conn.execute(
                "SELECT DISTINCT system_id FROM user_sessions WHERE is_active")}
            self._with_sessions_until = now + ACTIVE_SESSIONS_REFRESH
        due = {h: f.max_ts for h, f in batch.hosts.items()
               if f.max_ts and ids[h] in self._with_sessions
               and f.max_ts >= self._vanished_checked.get(h, 0) + VANISHED_CHECK_EVERY}
        if due:
            res.sessions_closed += conn.execute(
                _CLOSE_VANISHED, ([ids[h] for h in due], [ms_to_datetime(t) for t in due.values()],
                                  self.session_stale_after)).rowcount
            res.vanished_checked = due
