"""The `sru` command. Each component registers its own subcommands from a module that imports only
the standard library at import time, so `sru --help` works on a host with only `sru[exporter]`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from sru import __version__
from sru.errors import SruError

# Modules providing ``register(subparsers)``. Each registered subparser sets ``func`` to a callable
# taking the parsed namespace and returning an exit code.
COMMAND_MODULES = (
    "sru.db_cli",
    "exporter.cli",
    "remote_write_adapter.cli",
    "alertmanager.cli",
    "optimizer.cli",
    "web.cli",
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


if __name__ == "__main__":
    sys.exit(main())
