"""`sru db …`: schema migrations (`sru db maintain` is the optimizer's: see optimizer/cli.py)."""

from __future__ import annotations

import argparse
import weakref

from sru.options import Subparsers, add_database_url, require_database_url, show_help

# The `sru db` subcommand group of each top-level parser (keyed by its subparsers action), for the
# components that add their own: argparse has no public way back from a parser to its subparsers.
_DB_GROUPS: weakref.WeakKeyDictionary[Subparsers, Subparsers] = weakref.WeakKeyDictionary()


def register(sub: Subparsers) -> None:
    db = sub.add_parser("db", help="database schema and maintenance")
    dbsub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND")
    _DB_GROUPS[sub] = dbsub
    mig = dbsub.add_parser("migrate", help="apply the schema migrations (safe to run twice)")
    add_database_url(mig)
    mig.add_argument("--timescaledb", choices=["auto", "off", "require", "full"], default="auto",
                     help="use TimescaleDB when the server offers it (auto), never (off), fail "
                          "without it (require), or fail unless it is the community edition with "
                          "compression and continuous aggregates (full)")
    mig.set_defaults(func=_migrate)
    db.set_defaults(func=show_help(db))


def _migrate(args: argparse.Namespace) -> int:
    from sru.db import connect
    from sru.migrate import migrate

    with connect(require_database_url(args), autocommit=True, application_name="sru-migrate") as conn:
        result = migrate(conn, timescaledb=args.timescaledb)
    print(f"TimescaleDB tier: {result.tier}")
    for note in result.notes:
        print(f"note: {note}")
    if result.applied:
        print(f"applied {len(result.applied)} migration(s): {', '.join(result.applied)}")
    else:
        print("schema is up to date; nothing applied")
    return 0


def db_subcommands(sub: Subparsers) -> Subparsers:
    """The `sru db` subcommand group, for a component that adds its own (the optimizer's `maintain`);
    registered before the components (sru.cli.COMMAND_MODULES lists this module first)."""
    return _DB_GROUPS[sub]
