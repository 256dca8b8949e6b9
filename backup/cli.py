"""`sru db backup`, `sru db backup-status`, `sru db restore` and `sru backup-exporter` (standard library
only at import time; the work is imported inside each command)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sru.db_cli import db_subcommands
from sru.errors import ConfigError
from sru.options import (
    Subparsers,
    add_database_url,
    add_format,
    add_listen_address,
    parse_duration,
    require_database_url,
)

if TYPE_CHECKING:
    from backup.pgbackrest import PgBackRest

PGBACKREST_CONFIG_ENV = "SRU_PGBACKREST_CONFIG"
# Daily backups, judged a day and two hours after the last: the schedule's slack (rules/alerts-backup.yml
# uses the same 26 h).
DEFAULT_MAX_AGE = "26h"


def _add_pgbackrest(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stanza", default=os.environ.get("SRU_PGBACKREST_STANZA", "sru"),
                   help="pgBackRest stanza (default: $SRU_PGBACKREST_STANZA or sru)")
    p.add_argument("--pgbackrest-config", default=os.environ.get(PGBACKREST_CONFIG_ENV),
                   help=f"pgBackRest configuration file (default: ${PGBACKREST_CONFIG_ENV}, else "
                        "pgBackRest's /etc/pgbackrest/pgbackrest.conf)")
    p.add_argument("--pgbackrest-user", default="postgres",
                   help="operating-system user pgBackRest runs as when sru runs as root (default: postgres)")


def register(sub: Subparsers) -> None:
    db = db_subcommands(sub)
    st = db.add_parser("backup-status", help="last backup, WAL archive lag, standbys, and whether the chain "
                                             "is restorable (exit 1 when something needs attention)")
    add_database_url(st)
    _add_pgbackrest(st)
    st.add_argument("--max-age", default=DEFAULT_MAX_AGE,
                    help=f"a newest backup older than this is a problem (default: {DEFAULT_MAX_AGE})")
    add_format(st, ("text", "json"), default="text")
    st.set_defaults(func=_status)

    bk = db.add_parser("backup", help="take a pgBackRest backup (creates the stanza the first time)")
    _add_pgbackrest(bk)
    bk.add_argument("--type", choices=("full", "diff", "incr", "auto"), default="auto",
                    help="backup type; auto: full when the newest full is older than --full-every, "
                         "else differential (default: auto)")
    bk.add_argument("--full-every", default="7d", help="age of the newest full backup that makes auto take "
                                                       "a new full one (default: 7d)")
    bk.add_argument("--every", metavar="DURATION",
                    help="run forever, one backup every DURATION (for `make up` and compose; prefer a timer)")
    bk.set_defaults(func=_backup)

    rs = db.add_parser("restore", help="restore the data directory from the newest backup and the WAL "
                                       "archive: to the end of the archive, or to --time (PITR)")
    _add_pgbackrest(rs)
    rs.add_argument("--pg-data", required=True, help="data directory to restore into (the server must be "
                                                     "stopped; an existing one needs --delta)")
    rs.add_argument("--time", metavar="TIMESTAMP",
                    help="recover to this moment (ISO 8601 with a time zone, e.g. 2026-03-01T12:00:00Z); "
                         "default: everything archived")
    rs.add_argument("--delta", action="store_true",
                    help="restore over an existing data directory, rewriting only what differs")
    rs.add_argument("--archive-mode", choices=("preserve", "off"), default="preserve",
                    help="off: the restored server archives nothing (a trial restore beside the live one)")
    rs.set_defaults(func=_restore)

    ex = sub.add_parser("backup-exporter", help="/metrics of the backups, the WAL archiver and replication "
                                                "(run it on the database host, as a pg_monitor login)")
    add_database_url(ex)
    _add_pgbackrest(ex)
    ex.add_argument("--no-pgbackrest", action="store_true",
                    help="export the server's side only (a standby, whose primary is backed up)")
    ex.add_argument("--pgbackrest-info-file", metavar="FILE",
                    help="read `pgbackrest info --output=json` from FILE (written by another container, "
                         "which has pgBackRest) instead of running pgBackRest")
    add_listen_address(ex, "127.0.0.1:9851")
    ex.add_argument("--web.config.file", dest="web_config_file",
                    help="exporter-toolkit web config file enabling TLS and/or basic auth")
    ex.set_defaults(func=_exporter)


def _pgbackrest(args: argparse.Namespace) -> PgBackRest:
    from backup.pgbackrest import PgBackRest

    if args.pgbackrest_config and not os.path.isfile(args.pgbackrest_config):
        raise ConfigError("--pgbackrest-config", f"{args.pgbackrest_config} is not a file")
    return PgBackRest(stanza=args.stanza, config=args.pgbackrest_config, run_as=args.pgbackrest_user)


def _status(args: argparse.Namespace) -> int:
    import json

    from backup.status import evaluate, read_snapshot, render_text, to_json
    from sru.db import connect

    max_age = parse_duration(args.max_age, "--max-age").total_seconds()
    with connect(require_database_url(args), autocommit=True, application_name="sru-backup-status") as conn:
        snap = read_snapshot(conn, _pgbackrest(args).info)
    now = datetime.now(UTC)
    status = evaluate(snap, max_age, now)
    if args.format == "json":
        sys.stdout.write(json.dumps(to_json(status), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(status, now))
    return 0 if status.restorable and not status.problems else 1


def _backup(args: argparse.Namespace) -> int:
    from backup.schedule import backup_forever, backup_once

    pgbr = _pgbackrest(args)
    full_every = parse_duration(args.full_every, "--full-every").total_seconds()
    if args.every:
        return backup_forever(pgbr, args.type, full_every, parse_duration(args.every, "--every").total_seconds())
    kind = backup_once(pgbr, args.type, full_every, datetime.now(UTC))
    print(f"{kind} backup done")
    return 0


def _restore(args: argparse.Namespace) -> int:
    target = None
    if args.time:
        try:
            target = datetime.fromisoformat(args.time.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError("--time", f"{args.time!r} is not an ISO 8601 timestamp") from None
        if target.tzinfo is None:
            raise ConfigError("--time", "needs a time zone (Z or +HH:MM)")
    _pgbackrest(args).restore(args.pg_data, target_time=target, delta=args.delta, archive_mode=args.archive_mode)
    where = f"to {target.isoformat()}" if target else "to the end of the WAL archive"
    print(f"restored {args.pg_data}; start the server: it replays the archive {where}, then promotes itself")
    return 0


def _exporter(args: argparse.Namespace) -> int:
    import logging

    from prometheus_client import CollectorRegistry

    from backup.collector import BackupCollector
    from backup.status import snapshot_reader
    from exporter.server import ExporterServer
    from sru.db import connect
    from sru.options import parse_listen_address
    from sru.webconfig import WebConfig, load_web_config

    url = require_database_url(args)
    from backup.pgbackrest import InfoFile

    if args.no_pgbackrest:
        source = None
    elif args.pgbackrest_info_file:
        source = InfoFile(args.pgbackrest_info_file, args.stanza).info
    else:
        source = _pgbackrest(args).info
    registry = CollectorRegistry()
    registry.register(BackupCollector(snapshot_reader(
        lambda: connect(url, autocommit=True, application_name="sru-backup-exporter"), source)))
    web = load_web_config(args.web_config_file) if args.web_config_file else WebConfig()
    server = ExporterServer(parse_listen_address(args.web_listen_address), registry, "/metrics", web)
    logging.getLogger("sru.backup").info("listening on %s", server.url)
    server.serve_until_terminated()
    return 0

