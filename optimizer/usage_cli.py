"""`sru usage` (the ledger for scripts) and `sru users import` (departments). Standard library only
at import time; the work is imported inside each command."""

from __future__ import annotations

import argparse
import math
import sys
from datetime import UTC, datetime

from sru.errors import ConfigError
from sru.options import Subparsers, add_database_url, add_format, parse_duration, require_database_url, show_help


def register(sub: Subparsers) -> None:
    use = sub.add_parser("usage", help="CPU core-hours, RAM GB-hours and GPU-hours by user, department or host")
    add_database_url(use)
    use.add_argument("--by", choices=("user", "department", "host", "user_host"), default="department",
                     help="group by (default: department; user and user_host need a role that may read "
                          "per-user data)")
    use.add_argument("--since", default="7d", help="period up to now, a duration (default: 7d)")
    use.add_argument("--from", dest="start", metavar="TIME", help="period start, ISO 8601 (instead of --since)")
    use.add_argument("--to", dest="end", metavar="TIME", help="period end, ISO 8601 (default: now)")
    add_format(use, ("table", "json", "csv"))
    use.add_argument("--price-core-hour", type=float, metavar="AMOUNT", help="showback: price of a CPU core-hour")
    use.add_argument("--price-gb-hour", type=float, metavar="AMOUNT", help="showback: price of a GB-hour of RAM")
    use.add_argument("--price-gpu-hour", type=float, metavar="AMOUNT",
                     help="showback: price of a GPU-hour (used or held idle)")
    use.add_argument("--currency", default="", help="shown after costs (e.g. EUR)")
    use.set_defaults(func=_usage)

    users = sub.add_parser("users", help="the users table: departments")
    usub = users.add_subparsers(dest="users_command", metavar="ACTION")
    imp = usub.add_parser("import", help="set departments from a YAML or CSV file of user -> department "
                                         "(users not in the file become unassigned)")
    add_database_url(imp)
    imp.add_argument("file", help="YAML mapping {user: department} or CSV with columns user,department")
    imp.add_argument("--dry-run", action="store_true", help="check the file and say what would change")
    imp.set_defaults(func=_users_import)
    users.set_defaults(func=show_help(users))


def _time(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(option, f"{text!r} is not an ISO 8601 time like 2026-01-31T00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _price(value: float | None, option: str) -> float:
    if value is None:
        return 0.0
    if not math.isfinite(value) or value < 0:
        raise ConfigError(option, f"{value} must be a finite amount >= 0")
    return value


def period(args: argparse.Namespace, now: datetime) -> tuple[datetime, datetime]:
    end = _time(args.end, "--to") if args.end else now
    start = _time(args.start, "--from") if args.start else end - parse_duration(args.since, "--since")
    if end <= start:
        raise ConfigError("--from" if args.start else "--since", "the period must end after it starts")
    return start, end


def _usage(args: argparse.Namespace) -> int:
    import psycopg

    from optimizer.usage import Prices, ledger
    from optimizer.usage_output import render
    from sru import clock
    from sru.db import connect

    start, end = period(args, clock.now())
    prices = None
    if any(p is not None for p in (args.price_core_hour, args.price_gb_hour, args.price_gpu_hour)):
        prices = Prices(_price(args.price_core_hour, "--price-core-hour"), _price(args.price_gb_hour, "--price-gb-hour"),
                        _price(args.price_gpu_hour, "--price-gpu-hour"), args.currency)
    with connect(require_database_url(args), application_name="sru-usage") as conn:
        try:
            result = ledger(conn, args.by, start, end, prices)
        except psycopg.errors.InsufficientPrivilege:
            raise ConfigError("--database-url", f"this role may not read per-user figures (--by {args.by}): "
                              "use --by department or host, or a role in personal_usage_reader") from None
    sys.stdout.write(render(result, args.format))
    return 0


def _users_import(args: argparse.Namespace) -> int:
    from optimizer.departments import apply_departments, read_departments
    from sru.db import connect

    mapping = read_departments(args.file)
    with connect(require_database_url(args), application_name="sru-users") as conn:
        changes = apply_departments(conn, mapping, dry_run=args.dry_run)
    verb = "would set" if args.dry_run else "set"
    print(f"{len(mapping)} users in {args.file}: {verb} {changes.assigned} departments, "
          f"{changes.unassigned} users to unassigned, {changes.created} new users; "
          f"{changes.unchanged} unchanged")
    return 0
