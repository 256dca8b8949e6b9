"""Flags every component shares, parsed the way Prometheus's own programs parse them."""

from __future__ import annotations

import argparse
import os

from sru.errors import ConfigError

DATABASE_URL_ENV = "SRU_DATABASE_URL"


def add_database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get(DATABASE_URL_ENV),
        help=f"PostgreSQL connection URL (default: ${DATABASE_URL_ENV})",
    )


def require_database_url(args: argparse.Namespace) -> str:
    url = getattr(args, "database_url", None)
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
