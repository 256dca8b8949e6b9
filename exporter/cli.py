"""`sru exporter` (walking-skeleton version: the exporter issue replaces it)."""

from __future__ import annotations

import argparse

from sru.options import add_listen_address, parse_listen_address

DEFAULT_PORT = 9847


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("exporter", help="run the per-host Prometheus exporter")
    add_listen_address(p, f":{DEFAULT_PORT}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    import psutil
    from prometheus_client import CollectorRegistry, start_http_server

    from exporter.collectors import CpuCollector, MemoryCollector

    host, port = parse_listen_address(args.web_listen_address)
    registry = CollectorRegistry()
    registry.register(CpuCollector(psutil))
    registry.register(MemoryCollector(psutil))
    start_http_server(port, addr=host, registry=registry)
    while True:
        time.sleep(3600)
