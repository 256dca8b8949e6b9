"""`sru alert-receiver`, `sru alerts list|ack`, `sru rules sync` (stdlib-only at import time)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from sru.errors import ConfigError, SruError
from sru.options import (
    Subparsers,
    add_database_url,
    add_format,
    add_listen_address,
    parse_listen_address,
    parse_size,
    read_secret_file,
    require_database_url,
    show_help,
)

if TYPE_CHECKING:
    import psycopg

DEFAULT_PORT = 9849
ALERTMANAGER_URL_ENV = "SRU_ALERTMANAGER_URL"


def register(sub: Subparsers) -> None:
    rec = sub.add_parser("alert-receiver", help="run the Alertmanager webhook receiver (alert_logs)")
    add_database_url(rec)
    add_listen_address(rec, f":{DEFAULT_PORT}")
    rec.add_argument("--web.config.file", dest="web_config_file", metavar="FILE",
                     help="exporter-toolkit web config: TLS and basic-auth users")
    rec.add_argument("--web.bearer-token-file", dest="bearer_token_file", metavar="FILE",
                     help="accept 'Authorization: Bearer <contents of FILE>' (besides basic auth)")
    rec.add_argument("--web.max-body-size", "--web.max-request-bytes", dest="max_request_bytes",
                     default="1MiB", metavar="SIZE",
                     help="largest request body accepted (default: 1MiB; --web.max-request-bytes is a "
                          "deprecated alias)")
    rec.add_argument("--web.threads", dest="threads", type=int, default=8,
                     help="request threads, also the database pool size (default: 8)")
    _add_alertmanager_url(rec, "Alertmanager for silences requested with an ack (optional)")
    rec.set_defaults(func=_run_receiver)

    alerts = sub.add_parser("alerts", help="list and acknowledge logged alerts")
    asub = alerts.add_subparsers(dest="alerts_command", metavar="ALERTS_COMMAND")
    ls = asub.add_parser("list", help="recent alerts, newest first")
    add_database_url(ls)
    ls.add_argument("--active", action="store_true", help="only alerts not resolved yet")
    ls.add_argument("--host", help="only alerts of this host")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    add_format(ls, ("table", "json"))
    # Before --format: kept as a hidden alias.
    ls.add_argument("--json", dest="format", action="store_const", const="json", help=argparse.SUPPRESS)
    ls.set_defaults(func=_list)
    ack = asub.add_parser("ack", help="acknowledge an alert (and optionally silence it)")
    add_database_url(ack)
    ack.add_argument("id", type=int, help="alert_logs id (see `sru alerts list`)")
    ack.add_argument("--by", required=True, help="who acknowledges")
    ack.add_argument("--silence", metavar="DURATION",
                     help="also silence the alert in Alertmanager for DURATION (e.g. 2h)")
    _add_alertmanager_url(ack, "Alertmanager that receives the silence")
    ack.set_defaults(func=_ack)
    alerts.set_defaults(func=show_help(alerts))

    rules = sub.add_parser("rules", help="the alert_rules catalog")
    rsub = rules.add_subparsers(dest="rules_command", metavar="RULES_COMMAND")
    sync = rsub.add_parser("sync", help="upsert alert_rules from rule files; disable rules no longer there "
                                        "(run as a member of admin)")
    add_database_url(sync)
    sync.add_argument("files", nargs="*", metavar="FILE",
                      help="Prometheus rule files (default: the alerts*.yml shipped with sru)")
    sync.set_defaults(func=_sync)
    rules.set_defaults(func=show_help(rules))


def _add_alertmanager_url(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--alertmanager.url", dest="alertmanager_url",
                        default=os.environ.get(ALERTMANAGER_URL_ENV),
                        help=f"{help_text} (default: ${ALERTMANAGER_URL_ENV})")


def _run_receiver(args: argparse.Namespace) -> int:
    from alertmanager.server import ReceiverSettings, run

    url = require_database_url(args)
    host, port = parse_listen_address(args.web_listen_address)
    max_body = parse_size(args.max_request_bytes, "--web.max-body-size")
    if max_body < 1024:
        raise ConfigError("--web.max-body-size", "must be at least 1KiB")
    if not 1 <= args.threads <= 256:
        raise ConfigError("--web.threads", "must be from 1 to 256")
    web_config = None
    if args.web_config_file:
        from sru.webconfig import load_web_config

        web_config = load_web_config(args.web_config_file)
    bearer = (read_secret_file(args.bearer_token_file, "--web.bearer-token-file")
              if args.bearer_token_file else None)
    settings = ReceiverSettings(database_url=url, host=host, port=port, threads=args.threads,
                                max_request_bytes=max_body, bearer_token=bearer,
                                alertmanager_url=args.alertmanager_url)
    run(settings, web_config)
    return 0


def _connect(args: argparse.Namespace, name: str) -> psycopg.Connection:
    from sru.db import connect

    return connect(require_database_url(args), application_name=name)


def _list(args: argparse.Namespace) -> int:
    import json

    from alertmanager.store import list_alerts

    if args.limit < 1:
        raise ConfigError("--limit", "must be at least 1")
    with _connect(args, "sru-alerts") as conn:
        rows = list_alerts(conn, active=args.active, host=args.host, limit=args.limit)
    if args.format == "json":
        for r in rows:
            print(json.dumps(r.as_json()))
        return 0
    print(f"{'ID':>8}  {'STATE':<8}  {'SEVERITY':<8}  {'ALERT':<28}  {'HOST':<24}  {'TRIGGERED (UTC)':<19}  "
          f"{'VALUE':>10}  ACK")
    for r in rows:
        state = "firing" if r.resolved_at is None else "resolved"
        value = "" if r.actual_value is None else f"{r.actual_value:.4g}"
        print(f"{r.id:>8}  {state:<8}  {r.severity:<8}  {r.alert_name[:28]:<28}  {(r.host or '-')[:24]:<24}  "
              f"{r.triggered_at:%Y-%m-%d %H:%M:%S}  {value:>10}  {r.acknowledged_by or ''}")
    return 0


def _ack(args: argparse.Namespace) -> int:
    from alertmanager.store import get_alert
    from sru.acknowledge import MAX_BY, AlertNotFound, acknowledge
    from sru.silences import SilenceError, parse_duration

    by = args.by.strip()
    if not by or len(by) > MAX_BY:
        raise ConfigError("--by", f"must name who acknowledges (1 to {MAX_BY} characters)")
    duration = None
    if args.silence:
        try:
            duration = parse_duration(args.silence)
        except ValueError as exc:
            raise ConfigError("--silence", str(exc)) from None
        if not args.alertmanager_url:
            raise ConfigError("--alertmanager.url", f"needed by --silence (or set ${ALERTMANAGER_URL_ENV})")
    with _connect(args, "sru-alerts") as conn:
        try:
            ack = acknowledge(conn, args.id, by, silence=duration, alertmanager_url=args.alertmanager_url)
        except AlertNotFound:
            raise SruError(f"no alert with id {args.id}") from None
        except SilenceError as exc:
            raise SruError(str(exc)) from None
        row = get_alert(conn, args.id)
    if ack.changed:
        print(f"alert {row.id} ({row.alert_name} on {row.host or '?'}) acknowledged by {row.acknowledged_by}")
    else:
        print(f"alert {row.id} was already acknowledged by {row.acknowledged_by} at {row.acknowledged_at}")
    if ack.silence_id:
        print(f"silenced in Alertmanager for {args.silence}: silence {ack.silence_id}")
    return 0


def _sync(args: argparse.Namespace) -> int:
    from pathlib import Path

    import psycopg

    from alertmanager.rules_sync import read_rules, shipped_rule_files, sync_rules

    files = [Path(f) for f in args.files] or shipped_rule_files()
    rows = read_rules(files)
    with _connect(args, "sru-rules-sync") as conn:
        try:
            result = sync_rules(conn, rows)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise SruError(f"{exc.diag.message_primary}: `sru rules sync` changes the catalog and must "
                           "connect as a member of the admin role") from None
    print(f"{len(rows)} alerting rule(s) in {len(files)} file(s): {len(result.added)} added, "
          f"{len(result.updated)} updated, {result.unchanged} unchanged, {len(result.disabled)} disabled")
    for name in result.disabled:
        print(f"disabled: {name}", file=sys.stderr)
    return 0
