"""Prometheus collector of `sru backup-exporter`: the backup chain, the WAL archiver and replication,
read fresh at each scrape (the data source is injected; fresh families per collect(), as in
prometheus/client_python's own collectors).

Timestamps rather than ages are exported, so that the alert rules compare them with ``time()`` and a
stale exporter cannot report a young backup."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import psycopg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from backup.status import Snapshot, evaluate, parse_backups
from sru.errors import SruError

log = logging.getLogger("sru.backup.collector")


class BackupCollector(Collector):
    def __init__(self, read: Callable[[], Snapshot]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        up = GaugeMetricFamily("sru_backup_exporter_up", "1 when the database could be read this scrape")
        try:
            snap = self._read()
        except (SruError, psycopg.Error) as exc:  # an outage is a metric, not a failed scrape
            log.warning("cannot read the database: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _backup_families(snap)
        yield from _archiver_families(snap)
        yield from _replication_families(snap)


def _backup_families(snap: Snapshot) -> Iterator[GaugeMetricFamily]:
    ok = GaugeMetricFamily("sru_backup_info_success", "1 when `pgbackrest info` answered this scrape")
    ok.add_metric([], 0 if snap.info is None else 1)
    yield ok
    if snap.info is None:
        return
    # Age is not judged here: the alert rules do that against time().
    status = evaluate(snap)
    restorable = GaugeMetricFamily("sru_backup_restorable",
                                   "1 when the newest backup and the WAL archive after it can be restored")
    restorable.add_metric([], 1 if status.restorable else 0)
    yield restorable
    last = GaugeMetricFamily("sru_backup_last_completed_timestamp_seconds",
                             "When the newest good backup of each type finished", labels=["type"])
    size = GaugeMetricFamily("sru_backup_last_size_bytes", "Database size in the newest backup of each type",
                             labels=["type"])
    repo = GaugeMetricFamily("sru_backup_last_repository_bytes",
                             "What the newest backup of each type added to the repository", labels=["type"])
    newest = {b.type: b for b in parse_backups(snap.info)}
    for kind, b in sorted(newest.items()):
        last.add_metric([kind], b.stopped.timestamp())
        size.add_metric([kind], b.size_bytes)
        repo.add_metric([kind], b.repo_size_bytes)
    count = GaugeMetricFamily("sru_backup_count", "Good backups in the repository")
    count.add_metric([], len(status.backups))
    yield from (last, size, repo, count)


def _archiver_families(snap: Snapshot) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    a = snap.archiver
    archived = CounterMetricFamily("sru_wal_archive_archived", "WAL files archived since statistics reset")
    archived.add_metric([], a.archived_count)
    failed = CounterMetricFamily("sru_wal_archive_failed", "Failed attempts to archive WAL since statistics reset")
    failed.add_metric([], a.failed_count)
    yield from (archived, failed)
    standby = GaugeMetricFamily("sru_database_in_recovery", "1 on a standby (it archives nothing itself)")
    standby.add_metric([], 1 if snap.in_recovery else 0)
    yield standby
    # Absent rather than 0 when never: an alert on 0 would fire on a fresh server.
    for name, value, text in (
            ("sru_wal_archive_last_archived_timestamp_seconds", a.last_archived_time, "Last WAL file archived"),
            ("sru_wal_archive_last_failed_timestamp_seconds", a.last_failed_time, "Last failed archive attempt")):
        if value is not None:
            fam = GaugeMetricFamily(name, text)
            fam.add_metric([], value.timestamp())
            yield fam
    if a.pending_segments is not None:
        pending = GaugeMetricFamily("sru_wal_archive_pending_segments",
                                    "WAL segments complete and waiting to be archived (.ready files)")
        pending.add_metric([], a.pending_segments)
        yield pending


def _replication_families(snap: Snapshot) -> Iterator[GaugeMetricFamily]:
    lag_s = GaugeMetricFamily("sru_replication_lag_seconds",
                              "Replay lag of each standby, as its primary measures it", labels=["standby"])
    lag_b = GaugeMetricFamily("sru_replication_lag_bytes",
                              "WAL the primary has written and the standby not yet replayed", labels=["standby"])
    sync = GaugeMetricFamily("sru_replication_synchronous",
                             "1 when the standby is the synchronous one (commits wait for it)", labels=["standby"])
    for r in snap.replicas:
        lag_s.add_metric([r.name], r.lag_seconds)
        lag_b.add_metric([r.name], r.lag_bytes)
        sync.add_metric([r.name], 1 if r.sync_state == "sync" else 0)
    standbys = GaugeMetricFamily("sru_replication_standbys", "Standbys streaming from this primary")
    standbys.add_metric([], len([r for r in snap.replicas if r.state == "streaming"]))
    yield from (lag_s, lag_b, sync, standbys)
    if snap.standby_lag_seconds is not None:
        replay = GaugeMetricFamily("sru_standby_replay_lag_seconds",
                                   "On a standby: age of the newest replayed commit (0 when caught up)")
        replay.add_metric([], snap.standby_lag_seconds)
        yield replay
