"""`sru exporter`: the per-host exporter. Only the standard library is imported at module level."""

from __future__ import annotations

import argparse

from exporter.config import add_arguments
from sru.options import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser("exporter", help="run the per-host Prometheus exporter",
                       description="Expose this host's CPU, memory, disks, filesystems, network, NVIDIA GPUs, "
                                   "login sessions and top processes for Prometheus.")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from exporter.app import build_registry
    from exporter.config import resolve
    from exporter.server import ExporterServer
    from sru.webconfig import WebConfig, load_web_config

    settings = resolve(args)
    web = load_web_config(settings.web_config_file) if settings.web_config_file else WebConfig()
    server = ExporterServer((settings.listen_host, settings.listen_port), build_registry(settings),
                            settings.telemetry_path, web)
    log = logging.getLogger("sru.exporter")
    log.info("listening on %s (collectors: %s)", server.url, ", ".join(settings.collectors))
    server.serve_until_terminated()
    return 0
