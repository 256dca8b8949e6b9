"""Runs the adapter under gunicorn: pre-fork worker processes (ingest is CPU-bound Python, so
processes give parallelism), each with a few threads (gthread) so that one request's decoding and
pivoting overlaps another's wait on PostgreSQL. Each worker builds its own connection pool after
the fork."""

from __future__ import annotations

import os
from typing import Any

from gunicorn.app.base import BaseApplication


class AdapterServer(BaseApplication):
    def __init__(self, app_factory: Any, options: dict[str, Any]) -> None:
        self._factory = app_factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._factory()


def _child_exit(server: Any, worker: Any) -> None:
    # Drop a dead worker's live gauges from the multiprocess metrics.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def serve(app_factory: Any, bind: str, workers: int, threads: int, timeout: int, certfile: str | None = None,
          keyfile: str | None = None, ca_certs: str | None = None, cert_reqs: int | None = None) -> None:
    options: dict[str, Any] = {
        "bind": bind, "workers": workers, "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync", "timeout": timeout,
        "graceful_timeout": timeout, "child_exit": _child_exit, "accesslog": None, "errorlog": "-",
        "loglevel": "warning", "proc_name": "sru-adapter",
        # The WSGI app is built in each worker (after fork): no pool crosses a fork.
        "preload_app": False,
    }
    if certfile:
        options.update(certfile=certfile, keyfile=keyfile)
        if ca_certs:
            options.update(ca_certs=ca_certs, cert_reqs=cert_reqs)
    AdapterServer(app_factory, options).run()
