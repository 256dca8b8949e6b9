"""`sru adapter`: the Prometheus remote-write adapter; `sru adapter rules`: print recording rules
with another evaluation interval. Only the standard library is imported here."""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_PORT = 9848
THREADS = 4


def _bytes(text: str) -> int:
    import re

    m = re.fullmatch(r"\s*([0-9]+)\s*(|B|KiB|MiB|GiB)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 16MiB")
    return int(m.group(1)) << {"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30}[m.group(2)]


def register(sub: argparse._SubParsersAction) -> None:
    from sru.options import add_database_url, add_listen_address

    p = sub.add_parser("adapter", help="run the Prometheus remote-write adapter (TimescaleDB store)",
                       description="Receives Prometheus remote write 1.0 and serves remote read.")
    add_listen_address(p, f":{DEFAULT_PORT}")
    add_database_url(p)
    p.add_argument("--web.workers", dest="workers", type=int, default=2,
                   help="gunicorn worker processes (default: 2)")
    p.add_argument("--web.threads", dest="threads", type=int, default=THREADS,
                   help=f"request threads per worker; more than one overlaps decoding with database "
                        f"work (default: {THREADS})")
    p.add_argument("--web.timeout", dest="timeout", type=int, default=30,
                   help="seconds before a stuck worker is restarted (default: 30)")
    p.add_argument("--web.config.file", dest="web_config", default=None,
                   help="exporter-toolkit web config: TLS and bcrypt basic-auth users")
    p.add_argument("--web.bearer-token-file", dest="bearer_token_file", default=None,
                   help="file holding a bearer token requests must present")
    p.add_argument("--db.pool-size", dest="pool_size", type=int, default=4,
                   help="database connections per worker (default: 4)")
    p.add_argument("--db.pool-timeout", dest="pool_timeout", type=float, default=5.0,
                   help="seconds a request waits for a connection before answering 503 (default: 5)")
    p.add_argument("--write.max-body-size", dest="max_body", type=_bytes, default="16MiB",
                   help="largest compressed request body (default: 16MiB)")
    p.add_argument("--write.max-decoded-size", dest="max_decoded", type=_bytes, default="64MiB",
                   help="largest request body after decompression (default: 64MiB)")
    p.add_argument("--sessions.stale-after", dest="stale_after", type=float, default=900.0,
                   help="seconds after which a session whose series vanished without a stale "
                        "marker is closed (default: 900)")
    p.add_argument("--config.mapping", dest="mapping", default=None,
                   help="YAML file overriding the shipped series-to-column mapping")
    p.set_defaults(func=run)
    rsub = p.add_subparsers(dest="adapter_command", metavar="SUBCOMMAND")
    r = rsub.add_parser("rules", help="print the recording rules with another interval")
    r.add_argument("--variant", choices=["sru", "node_exporter"], default="sru",
                   help="sru exporter (default) or node_exporter + dcgm-exporter")
    r.add_argument("--interval", default="5m", help="evaluation interval and rate window (default: 5m)")
    r.set_defaults(func=print_rules)


def print_rules(args: argparse.Namespace) -> int:
    from remote_write_adapter.rules import render_rules

    sys.stdout.write(render_rules(args.variant, args.interval))
    return 0


def run(args: argparse.Namespace) -> int:
    import datetime as dt
    import tempfile

    from sru.errors import ConfigError
    from sru.options import parse_listen_address, require_database_url

    url = require_database_url(args)
    host, port = parse_listen_address(args.web_listen_address)
    if args.workers < 1:
        raise ConfigError("--web.workers", "must be at least 1")
    if args.threads < 1:
        raise ConfigError("--web.threads", "must be at least 1")
    if args.pool_size < 1:
        raise ConfigError("--db.pool-size", "must be at least 1")
    if args.stale_after <= 0:
        raise ConfigError("--sessions.stale-after", "must be positive")
    token = None
    if args.bearer_token_file:
        try:
            with open(args.bearer_token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            raise ConfigError("--web.bearer-token-file", f"cannot read: {exc.strerror}") from None
        if not token:
            raise ConfigError("--web.bearer-token-file", "file is empty")
    web_config = basic = None
    if args.web_config:
        from sru.webconfig import load_web_config

        web_config = load_web_config(args.web_config)
        basic = web_config.basic_auth
    from remote_write_adapter.mapping import load_mapping

    mapping = load_mapping(args.mapping)
    # Metrics of all workers in one /metrics: must be set before prometheus_client metrics exist.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="sru-adapter-metrics-"))

    def factory():
        from remote_write_adapter.app import AdapterApp, Settings
        from remote_write_adapter.protocol import Limits
        from remote_write_adapter.writer import Writer

        return AdapterApp(Settings(
            database_url=url, mapping=mapping, limits=Limits(args.max_body, args.max_decoded),
            pool_size=args.pool_size, pool_timeout=args.pool_timeout, bearer_token=token,
            basic_auth=basic, writer=Writer(dt.timedelta(seconds=args.stale_after))))

    from sru.http.serve import bind_address, serve

    # TLS (minimum version and client certificates included) comes from the web config's own
    # SSLContext, the same for every service.
    serve(factory, bind=bind_address(host, port), name="sru-adapter", workers=args.workers,
          threads=args.threads, timeout=args.timeout, web_config=web_config)
    return 0
