"""`sru adapter`: the Prometheus remote-write adapter; `sru adapter rules`: print recording rules
with another evaluation interval. Only the standard library is imported here."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from sru.options import Subparsers

if TYPE_CHECKING:
    from remote_write_adapter.app import AdapterApp

DEFAULT_PORT = 9848
THREADS = 4


def register(sub: Subparsers) -> None:
    from sru.options import add_database_url, add_listen_address

    p = sub.add_parser("adapter", help="run the Prometheus remote-write adapter (TimescaleDB store)",
                       description="Receives Prometheus remote write 1.0 and serves remote read.")
    add_listen_address(p, f":{DEFAULT_PORT}")
    add_database_url(p)
    # One worker: each worker keeps its own label cache and learns the fleet from the requests that
    # happen to land on it, so with two the memory doubled and took ~5 evaluations instead of one
    # to level off (bench/soak); one worker's GIL carries ~1 core of adapter work, ~90,000 hosts at 60 s.
    p.add_argument("--web.workers", dest="workers", type=int, default=1,
                   help="gunicorn worker processes; each holds its own label cache (default: 1)")
    p.add_argument("--web.threads", dest="threads", type=int, default=THREADS,
                   help=f"request threads per worker; more than one overlaps decoding with database "
                        f"work (default: {THREADS})")
    p.add_argument("--web.timeout", dest="timeout", default="30s", metavar="DURATION",
                   help="how long a stuck worker may take before it is restarted (default: 30s)")
    p.add_argument("--web.config.file", dest="web_config", default=None,
                   help="exporter-toolkit web config: TLS and bcrypt basic-auth users")
    p.add_argument("--web.bearer-token-file", dest="bearer_token_file", default=None,
                   help="file holding a bearer token requests must present")
    p.add_argument("--db.pool-size", dest="pool_size", type=int, default=4,
                   help="database connections per worker (default: 4)")
    p.add_argument("--db.pool-timeout", dest="pool_timeout", default="5s", metavar="DURATION",
                   help="how long a request waits for a connection before answering 503 (default: 5s)")
    p.add_argument("--web.max-body-size", "--write.max-body-size", dest="max_body", default="16MiB",
                   metavar="SIZE", help="largest compressed request body (default: 16MiB; "
                                        "--write.max-body-size is a deprecated alias)")
    p.add_argument("--write.max-decoded-size", dest="max_decoded", default="64MiB", metavar="SIZE",
                   help="largest remote-write body after decompression (default: 64MiB)")
    p.add_argument("--write.label-cache-size", dest="label_cache", default="256MiB", metavar="SIZE",
                   help="memory per worker for the cache of label sets, estimated: ~550 bytes per series "
                        "of the fleet (default: 256MiB, ~400,000 series)")
    p.add_argument("--ha.cluster-label", dest="ha_cluster", default="cluster",
                   help="external label naming a Prometheus HA pair (default: cluster)")
    p.add_argument("--ha.replica-label", dest="ha_replica", default="__replica__",
                   help="external label naming the replica within the pair; empty: store every replica "
                        "(default: __replica__)")
    p.add_argument("--ha.lease-timeout", dest="ha_timeout", default="30s", metavar="DURATION",
                   help="time without the elected replica's requests before another takes over (default: 30s)")
    p.add_argument("--sessions.stale-after", dest="stale_after", default="15m", metavar="DURATION",
                   help="close a session whose series vanished without a stale marker once the "
                        "host's rows are this much newer (default: 15m)")
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
    import tempfile

    from sru.errors import ConfigError
    from sru.options import parse_duration, parse_listen_address, parse_size, read_secret_file, require_database_url

    url = require_database_url(args)
    host, port = parse_listen_address(args.web_listen_address)
    if args.workers < 1:
        raise ConfigError("--web.workers", "must be at least 1")
    if args.threads < 1:
        raise ConfigError("--web.threads", "must be at least 1")
    if args.pool_size < 1:
        raise ConfigError("--db.pool-size", "must be at least 1")
    # Bare seconds were these flags' spelling before they took durations.
    stale_after = parse_duration(args.stale_after, "--sessions.stale-after", legacy_seconds=True)
    pool_timeout = parse_duration(args.pool_timeout, "--db.pool-timeout", legacy_seconds=True).total_seconds()
    # gunicorn counts whole seconds.
    worker_timeout = max(1, round(parse_duration(args.timeout, "--web.timeout", legacy_seconds=True).total_seconds()))
    max_body = parse_size(args.max_body, "--web.max-body-size")
    max_decoded = parse_size(args.max_decoded, "--write.max-decoded-size")
    label_cache = parse_size(args.label_cache, "--write.label-cache-size")
    token = (read_secret_file(args.bearer_token_file, "--web.bearer-token-file")
             if args.bearer_token_file else None)
    import re

    from remote_write_adapter.ha import HAConfig

    for option, name in (("--ha.cluster-label", args.ha_cluster), ("--ha.replica-label", args.ha_replica)):
        if name and not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name):
            raise ConfigError(option, f"{name!r} is not a Prometheus label name")
    ha_timeout = parse_duration(args.ha_timeout, "--ha.lease-timeout").total_seconds()
    if not 0 < ha_timeout <= 86400:
        raise ConfigError("--ha.lease-timeout", "must be more than 0 and at most 24h")
    ha = HAConfig(args.ha_cluster, args.ha_replica, ha_timeout) if args.ha_cluster and args.ha_replica \
        else None
    web_config = basic = None
    if args.web_config:
        from sru.webconfig import load_web_config

        web_config = load_web_config(args.web_config)
        basic = web_config.basic_auth
    from remote_write_adapter.mapping import load_mapping

    mapping = load_mapping(args.mapping)
    # Metrics of all workers in one /metrics: must be set before prometheus_client metrics exist.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="sru-adapter-metrics-"))

    def factory() -> AdapterApp:
        from remote_write_adapter.app import AdapterApp, Settings
        from remote_write_adapter.protocol import Limits
        from remote_write_adapter.writer import Writer, prepare_connection
        from sru.db import open_pool

        pool = open_pool(url, name="sru-adapter", max_size=args.pool_size, check=False,
                         configure=prepare_connection)
        return AdapterApp(Settings(
            mapping=mapping, limits=Limits(max_body, max_decoded), label_cache_bytes=label_cache, ha=ha,
            pool_timeout=pool_timeout, bearer_token=token, basic_auth=basic, writer=Writer(stale_after)),
            pool)

    from sru.http.serve import bind_address, serve

    # TLS (minimum version and client certificates included) comes from the web config's own
    # SSLContext, the same for every service.
    serve(factory, bind=bind_address(host, port), name="sru-adapter", workers=args.workers,
          threads=args.threads, timeout=worker_timeout, web_config=web_config)
    return 0
