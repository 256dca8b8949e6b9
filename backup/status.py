"""What the backups, the WAL archive and the standbys look like now: read once (``read_snapshot``:
``pgbackrest info`` and the server's statistics views), judged once (``evaluate``), shown by
`sru db backup-status` and exported by `sru backup-exporter`.

A chain is *restorable* when pgBackRest reports the stanza healthy, holds at least one good backup,
and its WAL archive covers that backup from its start to its stop segment (without those segments
the backup cannot be made consistent) and reaches as far as the server says it has archived. The
last check catches an ``archive_command`` that reports success but writes elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from backup.pgbackrest import BackupError

if TYPE_CHECKING:
    import psycopg

WAL_NAME_LEN = 24  # timeline (8 hex) + segment (16 hex); .partial, .backup and .history add suffixes


@dataclass(frozen=True)
class Archiver:
    """pg_stat_archiver, plus the segments still waiting to be archived (``.ready`` files: needs
    pg_monitor; None without it)."""
    archived_count: int
    last_archived_wal: str | None
    last_archived_time: datetime | None
    failed_count: int
    last_failed_wal: str | None
    last_failed_time: datetime | None
    pending_segments: int | None

    @property
    def failing(self) -> bool:
        """The newest attempt failed: PostgreSQL retries the same segment and archives nothing newer."""
        return self.last_failed_time is not None and (
            self.last_archived_time is None or self.last_failed_time > self.last_archived_time)


@dataclass(frozen=True)
class Replica:
    """One row of the primary's pg_stat_replication."""
    name: str
    state: str
    sync_state: str
    lag_seconds: float  # replay_lag: how long ago the standby had replayed what it now has
    lag_bytes: int  # WAL written on the primary and not yet replayed on the standby


@dataclass(frozen=True)
class Snapshot:
    in_recovery: bool
    archiver: Archiver
    replicas: list[Replica]
    standby_lag_seconds: float | None  # on a standby: age of the newest replayed commit, 0 when caught up
    info: dict[str, Any] | None  # the stanza's `pgbackrest info --output=json` entry
    info_error: str | None


@dataclass(frozen=True)
class Backup:
    label: str
    type: str
    started: datetime
    stopped: datetime
    size_bytes: int  # of the database
    repo_size_bytes: int  # what it added to the repository (compressed, deduplicated)
    wal_start: str
    wal_stop: str


@dataclass
class BackupStatus:
    backups: list[Backup]
    archive_min: str | None
    archive_max: str | None
    restorable: bool
    archiver: Archiver
    in_recovery: bool
    replicas: list[Replica]
    standby_lag_seconds: float | None
    problems: list[str] = field(default_factory=list)

    @property
    def last(self) -> Backup | None:
        return self.backups[-1] if self.backups else None

    @property
    def last_full(self) -> Backup | None:
        full = [b for b in self.backups if b.type == "full"]
        return full[-1] if full else None


def _wal(name: str | None) -> str | None:
    return name[:WAL_NAME_LEN] if name and len(name) >= WAL_NAME_LEN else None


def _utc(epoch: Any) -> datetime:
    return datetime.fromtimestamp(float(epoch), UTC)


def parse_backups(info: dict[str, Any]) -> list[Backup]:
    """The good backups of pgBackRest's info entry, oldest first."""
    out = []
    for b in info.get("backup") or []:
        if b.get("error"):
            continue
        out.append(Backup(label=b["label"], type=b["type"], started=_utc(b["timestamp"]["start"]),
                          stopped=_utc(b["timestamp"]["stop"]), size_bytes=int(b["info"]["size"]),
                          repo_size_bytes=int(b["info"]["repository"]["delta"]),
                          wal_start=b["archive"]["start"], wal_stop=b["archive"]["stop"]))
    return sorted(out, key=lambda b: b.stopped)


def evaluate(snap: Snapshot, max_age_seconds: float | None = None, now: datetime | None = None) -> BackupStatus:
    """Judge a snapshot: restorable or not, and every problem in words. ``max_age_seconds``: a newest
    backup older than this at ``now`` is a problem (None: age not judged)."""
    info = snap.info or {}
    backups = parse_backups(info) if snap.info is not None else []
    current = _current_archive(info)
    status = BackupStatus(backups=backups, archive_min=current.get("min"), archive_max=current.get("max"),
                          restorable=False, archiver=snap.archiver, in_recovery=snap.in_recovery,
                          replicas=snap.replicas, standby_lag_seconds=snap.standby_lag_seconds)
    chain = status.problems  # what makes the chain unusable comes first; then what needs attention
    if snap.info is None:
        chain.append(f"pgbackrest info failed: {snap.info_error}")
    else:
        code = (info.get("status") or {}).get("code")
        if code != 0:
            chain.append(f"stanza status {code}: {(info.get('status') or {}).get('message')}")
        if not backups:
            chain.append("no backup in the repository")
    last = status.last
    if last is not None:
        low, high = status.archive_min, status.archive_max
        if not (low and high and low <= last.wal_start and last.wal_stop <= high):
            chain.append(f"the WAL archive ({low or '-'} .. {high or '-'}) does not cover backup "
                         f"{last.label} ({last.wal_start} .. {last.wal_stop})")
    archived = _wal(snap.archiver.last_archived_wal)
    high = status.archive_max
    if archived and high and not snap.in_recovery and archived[:8] == high[:8] and archived > high:
        chain.append(f"the server archived {archived} but the repository ends at {high}")
    status.restorable = not chain
    if last is not None and max_age_seconds is not None and now is not None and (now - last.stopped).total_seconds() > max_age_seconds:
        status.problems.append(f"newest backup {last.label} finished {_age(now, last.stopped)} ago "
                               f"(over {max_age_seconds:.0f}s)")
    if snap.archiver.failing:
        status.problems.append(f"WAL archiving is failing: {snap.archiver.last_failed_wal} failed at "
                               f"{snap.archiver.last_failed_time:%Y-%m-%d %H:%M:%S} UTC, "
                               f"{snap.archiver.failed_count} failures since statistics reset")
    return status


def _current_archive(info: dict[str, Any]) -> dict[str, Any]:
    """The archive range of the database the newest backup belongs to (a stanza-upgrade after a
    PostgreSQL major upgrade starts a new one)."""
    # pgBackRest's JSON, as json.loads gives it (typed Any): lists of objects.
    archives: list[dict[str, Any]] = info.get("archive") or []
    backups: list[dict[str, Any]] = info.get("backup") or []
    if not archives:
        return {}
    if backups:
        db_id = backups[-1]["database"]["id"]
        for a in archives:
            if a["database"]["id"] == db_id:
                return a
    return archives[-1]


def _age(now: datetime, then: datetime) -> str:
    seconds = int((now - then).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


ARCHIVER_SQL = """SELECT archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal,
                         last_failed_time FROM pg_stat_archiver"""
REPLICAS_SQL = """SELECT coalesce(application_name, ''), coalesce(state, ''), coalesce(sync_state, ''),
                         coalesce(extract(epoch FROM replay_lag), 0)::float8,
                         coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint
                    FROM pg_stat_replication ORDER BY 1"""
# Caught up (replayed all it received) counts as no lag: on a quiet primary the newest commit ages.
STANDBY_LAG_SQL = """SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
                            END::float8"""


def read_database(conn: psycopg.Connection) -> tuple[bool, Archiver, list[Replica], float | None]:
    """The server's side: recovery state, archiver statistics and replication."""
    import psycopg

    in_recovery = bool(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0])  # type: ignore[index]
    row = conn.execute(ARCHIVER_SQL).fetchone()
    assert row is not None
    pending: int | None
    try:
        with conn.transaction():
            pending = int(conn.execute(  # type: ignore[index]
                "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'").fetchone()[0])
    except psycopg.errors.InsufficientPrivilege:
        pending = None
    archiver = Archiver(int(row[0]), row[1], row[2], int(row[3]), row[4], row[5], pending)
    if in_recovery:
        lag = conn.execute(STANDBY_LAG_SQL).fetchone()
        return True, archiver, [], float(lag[0]) if lag else None
    replicas = [Replica(*r) for r in conn.execute(REPLICAS_SQL).fetchall()]
    return False, archiver, replicas, None


InfoSource = Callable[[], dict[str, Any]]  # PgBackRest.info or InfoFile.info


def read_snapshot(conn: psycopg.Connection, info_source: InfoSource | None) -> Snapshot:
    """Both sides, now. ``info_source`` None: a server without backups of its own (a standby whose
    primary is backed up), reported as such."""
    in_recovery, archiver, replicas, lag = read_database(conn)
    info: dict[str, Any] | None = None
    error: str | None = "no pgBackRest configured"
    if info_source is not None:
        try:
            info, error = info_source(), None
        except BackupError as exc:
            error = str(exc)
    return Snapshot(in_recovery, archiver, replicas, lag, info, error)


def snapshot_reader(connect: Callable[[], psycopg.Connection],
                    info_source: InfoSource | None) -> Callable[[], Snapshot]:
    """A fresh snapshot per call, on a fresh connection (the exporter's data source)."""
    def read() -> Snapshot:
        with connect() as conn:
            return read_snapshot(conn, info_source)
    return read


def render_text(status: BackupStatus, now: datetime) -> str:
    lines = []
    last, full = status.last, status.last_full
    lines.append(f"restorable:      {'yes' if status.restorable else 'NO'}")
    if last:
        lines.append(f"last backup:     {last.label} ({last.type}) finished {last.stopped:%Y-%m-%d %H:%M:%S} UTC, "
                     f"{_age(now, last.stopped)} ago; {last.size_bytes / 1e6:.1f} MB, "
                     f"{last.repo_size_bytes / 1e6:.1f} MB in the repository")
    else:
        lines.append("last backup:     none")
    if full and full is not last:
        lines.append(f"last full:       {full.label} finished {full.stopped:%Y-%m-%d %H:%M:%S} UTC, "
                     f"{_age(now, full.stopped)} ago")
    lines.append(f"backups:         {len(status.backups)}; WAL archive {status.archive_min or '-'} .. "
                 f"{status.archive_max or '-'}")
    a = status.archiver
    if status.in_recovery:
        lines.append("archiving:       this server is a standby (its primary archives)")
    else:
        since = f", {_age(now, a.last_archived_time)} ago" if a.last_archived_time else ""
        pending = "unknown (needs pg_monitor)" if a.pending_segments is None else str(a.pending_segments)
        lines.append(f"archive lag:     last archived {a.last_archived_wal or 'nothing'}{since}; "
                     f"segments waiting: {pending}; failures: {a.failed_count}")
    for r in status.replicas:
        lines.append(f"standby:         {r.name} {r.state} ({r.sync_state}), replay lag {r.lag_seconds:.1f}s, "
                     f"{r.lag_bytes} bytes")
    if status.standby_lag_seconds is not None:
        lines.append(f"replay lag:      {status.standby_lag_seconds:.1f}s behind the primary")
    for p in status.problems:
        lines.append(f"problem:         {p}")
    return "\n".join(lines) + "\n"


def to_json(status: BackupStatus) -> dict[str, Any]:
    def iso(t: datetime | None) -> str | None:
        return t.isoformat() if t else None

    a = status.archiver
    return {
        "restorable": status.restorable,
        "problems": status.problems,
        "backups": [{"label": b.label, "type": b.type, "started": iso(b.started), "stopped": iso(b.stopped),
                     "size_bytes": b.size_bytes, "repo_size_bytes": b.repo_size_bytes} for b in status.backups],
        "archive": {"min": status.archive_min, "max": status.archive_max},
        "archiver": {"archived_count": a.archived_count, "last_archived_wal": a.last_archived_wal,
                     "last_archived_time": iso(a.last_archived_time), "failed_count": a.failed_count,
                     "last_failed_wal": a.last_failed_wal, "last_failed_time": iso(a.last_failed_time),
                     "pending_segments": a.pending_segments, "failing": a.failing},
        "in_recovery": status.in_recovery,
        "standby_lag_seconds": status.standby_lag_seconds,
        "replicas": [{"name": r.name, "state": r.state, "sync_state": r.sync_state, "lag_seconds": r.lag_seconds,
                      "lag_bytes": r.lag_bytes} for r in status.replicas],
    }
