"""`sru web`: the console; `sru web hash-password` and `sru web new-token` for the accounts file.
Only the standard library is imported here."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from sru.options import Subparsers

if TYPE_CHECKING:
    from flask import Flask

DEFAULT_PORT = 9850


def register(sub: Subparsers) -> None:
    from sru.options import add_database_url, add_listen_address

    p = sub.add_parser("web", help="run the web console (fleet, hosts, alerts, recommendations, reports)",
                       description="The console where people acknowledge alerts and decide on recommendations.")
    add_listen_address(p, f":{DEFAULT_PORT}")
    add_database_url(p)
    p.add_argument("--web.config.file", dest="web_config", default=None,
                   help="exporter-toolkit web config: TLS (basic_auth_users is refused: accounts are in "
                        "--web.accounts-file)")
    p.add_argument("--web.accounts-file", dest="accounts_file", default=None,
                   help="YAML file of console accounts (bcrypt hashes and roles); required")
    p.add_argument("--web.secret-key-file", dest="secret_key_file", default=None,
                   help="file holding the key that signs session cookies (default: a random key per start, "
                        "which logs everyone out on restart)")
    p.add_argument("--web.threads", dest="threads", type=int, default=8, help="request threads (default: 8)")
    p.add_argument("--alertmanager.url", dest="alertmanager_url", default=None,
                   help="Alertmanager base URL, for silences created with acknowledgements")
    p.add_argument("--grafana.url", dest="grafana_url", default=None,
                   help="Grafana base URL, for links to the dashboards (e.g. http://grafana:3000)")
    p.set_defaults(func=run)
    wsub = p.add_subparsers(dest="web_command", metavar="SUBCOMMAND")
    h = wsub.add_parser("hash-password", help="print the bcrypt hash of a password read from stdin")
    h.add_argument("--cost", type=int, default=12, help="bcrypt cost (default: 12)")
    h.set_defaults(func=hash_password)
    t = wsub.add_parser("new-token", help="print a new API token and the token_sha256 line for the accounts file")
    t.set_defaults(func=new_token)


def hash_password(args: argparse.Namespace) -> int:
    import bcrypt

    from sru.errors import ConfigError

    password = sys.stdin.readline().rstrip("\n").encode()
    if not password or len(password) > 72:
        raise ConfigError("stdin", "the password must be 1 to 72 bytes")
    if not 4 <= args.cost <= 16:
        raise ConfigError("--cost", "must be from 4 to 16")
    print(bcrypt.hashpw(password, bcrypt.gensalt(args.cost)).decode())
    return 0


def new_token(args: argparse.Namespace) -> int:
    import hashlib
    import secrets

    token = secrets.token_urlsafe(32)
    print(f"token:        {token}")
    print(f"token_sha256: {hashlib.sha256(token.encode()).hexdigest()}")
    return 0


def _read_key(path: str) -> bytes:
    from sru.errors import ConfigError

    try:
        with open(path, "rb") as f:
            key = f.read().strip()
    except OSError as exc:
        raise ConfigError("--web.secret-key-file", f"cannot read {path}: {exc.strerror}") from None
    if len(key) < 32:
        raise ConfigError("--web.secret-key-file", "the key must be at least 32 bytes")
    return key


def run(args: argparse.Namespace) -> int:
    from sru.errors import ConfigError
    from sru.options import parse_listen_address, require_database_url

    url = require_database_url(args)
    host, port = parse_listen_address(args.web_listen_address)
    if not args.accounts_file:
        raise ConfigError("--web.accounts-file", "required: the console has no anonymous access")
    if not 1 <= args.threads <= 256:
        raise ConfigError("--web.threads", "must be from 1 to 256")
    for option, value in (("--alertmanager.url", args.alertmanager_url), ("--grafana.url", args.grafana_url)):
        if value and not value.startswith(("http://", "https://")):
            raise ConfigError(option, f"{value!r} is not an http(s) URL")
    from web.accounts import load_accounts

    accounts = load_accounts(args.accounts_file)
    web_config = None
    if args.web_config:
        from sru.webconfig import load_web_config

        web_config = load_web_config(args.web_config)
        if web_config.basic_auth is not None:
            raise ConfigError("--web.config.file", "basic_auth_users: not used by the console; put people in "
                                                   "--web.accounts-file")
    from web.app import WebSettings, new_secret_key

    settings = WebSettings(
        accounts=accounts, secret_key=_read_key(args.secret_key_file) if args.secret_key_file else new_secret_key(),
        alertmanager_url=args.alertmanager_url.rstrip("/") if args.alertmanager_url else None,
        grafana_url=args.grafana_url.rstrip("/") if args.grafana_url else None,
        secure_cookies=bool(web_config and web_config.tls))

    def factory() -> Flask:
        from sru.db import open_pool
        from web.app import create_web_app

        pool = open_pool(url, name="sru-web", max_size=args.threads, timeout=5.0)
        return create_web_app(pool, settings)

    from sru.http.serve import bind_address, serve

    serve(factory, bind=bind_address(host, port), name="sru-web", workers=1, threads=args.threads, timeout=60,
          web_config=web_config)
    return 0
