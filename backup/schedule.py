"""Scheduled backups: one now (`sru db backup`) or one every interval (`--every`, for `make up` and
the compose sidecar; a systemd timer or cron is the better scheduler on a server)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from backup.pgbackrest import BackupError, PgBackRest
from backup.status import parse_backups

log = logging.getLogger("sru.backup")


def choose_type(info: dict[str, Any] | None, requested: str, full_every_seconds: float, now: datetime) -> str:
    """``requested`` unless it is 'auto': then full when there is no full backup or the newest is
    older than ``full_every_seconds``, else differential (only what changed since that full)."""
    if requested != "auto":
        return requested
    fulls = [b for b in parse_backups(info or {}) if b.type == "full"]
    if not fulls or (now - fulls[-1].stopped).total_seconds() >= full_every_seconds:
        return "full"
    return "diff"


def backup_once(pgbr: PgBackRest, requested: str, full_every_seconds: float, now: datetime) -> str:
    """Create the stanza if this repository has none yet, then take one backup; returns its type."""
    try:
        info: dict[str, Any] | None = pgbr.info()
        missing = (info or {}).get("status", {}).get("code") in (1, 3)  # no stanza path / no stanza data
    except BackupError:
        info, missing = None, True
    if missing:
        log.info("creating stanza %s", pgbr.stanza)
        pgbr.stanza_create()
        info = None
    kind = choose_type(info, requested, full_every_seconds, now)
    started = time.monotonic()
    pgbr.backup(kind)
    log.info("%s backup of stanza %s done in %.1fs", kind, pgbr.stanza, time.monotonic() - started)
    return kind


def backup_forever(pgbr: PgBackRest, requested: str, full_every_seconds: float, every_seconds: float) -> int:
    """One backup now and one every ``every_seconds``; a failed one is logged (and shows in
    `sru db backup-status` and the SruBackupStale alert), the schedule goes on."""
    while True:
        try:
            backup_once(pgbr, requested, full_every_seconds, datetime.now(UTC))
        except BackupError as exc:
            log.error("%s", exc)
        time.sleep(every_seconds)
