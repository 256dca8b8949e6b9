"""The `sru` command. Each component registers its own subcommands from a module that imports only
the standard library at import time, so `sru --help` works on a host with only `sru[exporter]`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from sru import __version__
from sru.errors import NotMigratedError, SruError

# Modules providing ``register(subparsers)``. Each registered subparser sets ``func`` to a callable
# taking the parsed namespace and returning an exit code.
COMMAND_MODULES = (
    "sru.db_cli",
    "exporter.cli",
    "remote_write_adapter.cli",
    "alertmanager.cli",
    "optimizer.cli",
    "optimizer.usage_cli",
    "web.cli",
    "digest.cli",
    "backup.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sru", description="Smart Resource Utilization for lab fleets")
    parser.add_argument("--version", action="version", version=f"sru {__version__}")
    parser.add_argument("--log.level", dest="log_level", default="info",
                        choices=["debug", "info", "warn", "error"], help="log level (default: info)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # A component not present in this install (or not written yet) simply has no commands.
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {"warn": "WARNING"}.get(args.log_level, args.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SruError as exc:
        print(f"sru {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        # An exporter-only install (`pip install 'sru[exporter]'`) lacks the server libraries.
        print(f"sru {args.command}: error: this command needs the Python package {exc.name!r}: "
              "install sru[server]", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        missing = _missing_schema(exc)
        if missing is None:
            raise
        print(f"sru {args.command}: error: {missing}", file=sys.stderr)
        return 1


def _missing_schema(exc: BaseException) -> NotMigratedError | None:
    """A table or function of sru's schema is missing: the database was never migrated, or is older
    than this sru. Every command meets it at its first query, so it is told here, in one line."""
    errors = sys.modules.get("psycopg.errors")   # not imported by an exporter-only install
    if errors is None or not isinstance(exc, (errors.UndefinedTable, errors.UndefinedFunction)):
        return None
    return NotMigratedError((exc.diag.message_primary or str(exc)).splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
