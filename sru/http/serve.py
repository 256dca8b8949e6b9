"""gunicorn for every sru service, with TLS from the exporter-toolkit web config.

gunicorn needs the certificate and key file names to switch TLS on, but builds its context from
its own settings (no minimum version); the ``ssl_context`` hook hands it sru.webconfig's context
instead, so ``min_version`` and client verification are what the web config says, for every
service alike."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication

from sru.webconfig import WebConfig, server_ssl_context

if TYPE_CHECKING:
    import ssl

    from _typeshed.wsgi import WSGIApplication
    from gunicorn.arbiter import Arbiter
    from gunicorn.config import Config
    from gunicorn.workers.base import Worker


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def tls_options(web_config: WebConfig | None) -> dict[str, Any]:
    tls = web_config.tls if web_config is not None else None
    if tls is None:
        return {}

    def ssl_context(config: Config, default_factory: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        return server_ssl_context(tls)

    return {"certfile": tls.cert_file, "keyfile": tls.key_file, "do_handshake_on_connect": True,
            "ssl_context": ssl_context}


def _child_exit(server: Arbiter, worker: Worker) -> None:
    # Drop a dead worker's live gauges from multiprocess metrics (the adapter runs several workers).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


class _Server(BaseApplication):
    def __init__(self, app_factory: Callable[[], WSGIApplication], options: dict[str, Any]) -> None:
        self._factory = app_factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    # types-gunicorn wants an application taking any MutableMapping as environ; typeshed's (and
    # Flask's) WSGI applications take the dict that every WSGI server, gunicorn included, passes.
    def load(self) -> WSGIApplication:  # type: ignore[override]
        return self._factory()


def serve(app_factory: Callable[[], WSGIApplication], *, bind: str, name: str, workers: int = 1, threads: int = 4,
          timeout: int = 30, web_config: WebConfig | None = None, loglevel: str = "warning",
          **extra: Any) -> None:
    """Run ``app_factory()`` (called in each worker, after the fork: no pool crosses a fork)."""
    options: dict[str, Any] = {
        "bind": [bind], "workers": workers, "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync", "timeout": timeout,
        "graceful_timeout": min(timeout, 10), "keepalive": 5, "child_exit": _child_exit,
        "accesslog": None, "errorlog": "-", "loglevel": loglevel, "proc_name": name,
        "preload_app": False,
        # Header limits; body limits are the application's (sru.http.body).
        "limit_request_line": 8190, "limit_request_fields": 100,
        **tls_options(web_config), **extra,
    }
    _Server(app_factory, options).run()
