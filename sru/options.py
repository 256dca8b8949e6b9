"""Flags every component shares, parsed the way Prometheus's own programs parse them: one
vocabulary of durations ("15m"), sizes ("16MiB"), secret files and ``--format`` for every command.
Standard library only: ``sru --help`` works on an exporter-only install."""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TypeAlias

from sru.errors import ConfigError

log = logging.getLogger("sru.options")

DATABASE_URL_ENV = "SRU_DATABASE_URL"

# What ``add_subparsers()`` returns, which every component's ``register()`` receives. argparse names
# the class privately (typeshed types it as generic, the runtime class is not subscriptable: a string).
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def show_help(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The ``func`` of a command group run without its subcommand: the group's help, exit code 2."""
    def run(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2
    return run


def add_database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get(DATABASE_URL_ENV),
        help=f"PostgreSQL connection URL (default: ${DATABASE_URL_ENV})",
    )


def require_database_url(args: argparse.Namespace) -> str:
    url: str | None = getattr(args, "database_url", None)
    if not url:
        raise ConfigError("--database-url", f"not given and ${DATABASE_URL_ENV} is not set")
    return url


def add_listen_address(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--web.listen-address",
        dest="web_listen_address",
        default=default,
        metavar="HOST:PORT",
        help=f"address to listen on (default: {default})",
    )


def parse_listen_address(value: str, option: str = "--web.listen-address") -> tuple[str, int]:
    """Split HOST:PORT ('[::1]:9100', ':9100' for all addresses) into host and port."""
    host, sep, port_text = value.rpartition(":")
    if not sep:
        raise ConfigError(option, f"{value!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(option, f"port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(option, f"port {port} is out of range 0-65535")
    return host or "0.0.0.0", port


# --- durations -------------------------------------------------------------------------------------

# Prometheus's model.ParseDuration: integer amounts of units in falling order, "1h30m", "500ms", "7d".
_DURATION_UNITS = (("y", 365 * 86400.0), ("w", 7 * 86400.0), ("d", 86400.0), ("h", 3600.0),
                   ("m", 60.0), ("s", 1.0), ("ms", 0.001))
_DURATION = re.compile("^" + "".join(rf"(?:(\d+){unit})?" for unit, _ in _DURATION_UNITS) + "$")
DURATION_EXAMPLES = "30s, 5m, 1h30m or 7d"
_SECONDS = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")


def duration_seconds(text: object) -> float:
    """Seconds in a Prometheus duration string; ValueError (naming the text) when it is not one.
    Zero ('0s') is a duration: callers that need a positive one say so."""
    m = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not m or not any(m.groups()):
        raise ValueError(f"{text!r} is not a duration such as {DURATION_EXAMPLES}")
    return sum(int(amount) * mult for amount, (_, mult) in zip(m.groups(), _DURATION_UNITS, strict=True) if amount)


def parse_duration(value: str | float, option: str, *, legacy_seconds: bool = False) -> timedelta:
    """A positive Prometheus duration; ConfigError naming ``option`` otherwise.

    ``legacy_seconds`` accepts a bare number of seconds (what some flags took before they were
    written as durations) with a deprecation warning."""
    if legacy_seconds and _is_number(value):
        seconds = float(value)
        log.warning("%s: a bare number of seconds (%s) is deprecated: write a duration such as %s",
                    option, value, format_duration(seconds) if seconds > 0 else DURATION_EXAMPLES)
    else:
        try:
            seconds = duration_seconds(value)
        except ValueError as exc:
            raise ConfigError(option, str(exc)) from None
    if seconds <= 0:
        raise ConfigError(option, f"{value!r} must be positive")
    return timedelta(seconds=seconds)


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    return isinstance(value, str) and _SECONDS.match(value) is not None


def format_duration(seconds: float) -> str:
    """The shortest Prometheus spelling of a whole number of milliseconds ('15m', '1h30m')."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    parts = []
    for unit, mult in _DURATION_UNITS:
        amount, ms = divmod(ms, round(mult * 1000))
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


# --- sizes -----------------------------------------------------------------------------------------

# IEC units, and the KB/MB/GB spelling Prometheus's own size flags use for the same powers of 1024.
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?\s*$")
_SIZE_SHIFT = {None: 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40,
               "KB": 10, "MB": 20, "GB": 30, "TB": 40}


def parse_size(value: object, option: str) -> int:
    """Bytes in '16MiB', '512KB' (powers of 1024, as Prometheus's size flags) or a bare number of
    bytes; ConfigError naming ``option`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = _SIZE.match(value) if isinstance(value, str) else None
    if not m:
        raise ConfigError(option, f"{value!r} is not a size such as 1MiB, 16MiB or 512KB")
    return int(m.group(1)) << _SIZE_SHIFT[m.group(2)]


# --- secrets and output ----------------------------------------------------------------------------

def read_secret_file(path: str, option: str) -> str:
    """The contents of a secret file (a token, a password), surrounding whitespace removed; an
    unreadable or empty file is a ConfigError naming ``option`` and the path, never the contents."""
    try:
        with open(path, encoding="utf-8") as f:
            value = f.read().strip()
    except OSError as exc:
        raise ConfigError(option, f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(option, f"{path} is not UTF-8 text") from None
    if not value:
        raise ConfigError(option, f"{path} is empty")
    return value


def add_format(parser: argparse.ArgumentParser, choices: Sequence[str], default: str = "table") -> None:
    """``--format`` for every command that prints results (never ``--json``)."""
    parser.add_argument("--format", choices=tuple(choices), default=default,
                        help=f"output format: {', '.join(choices)} (default: {default})")
