"""gunicorn for every sru service, with TLS from the exporter-toolkit web config.

gunicorn needs the certificate and key file names to switch TLS on, but builds its context from
its own settings (no minimum version); the ``ssl_context`` hook hands it sru.webconfig's context
instead, so ``min_version`` and client verification are what the web config says, for every
service alike."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

from gunicorn.app.base import BaseApplication

if TYPE_CHECKING:
    from sru.webconfig import WebConfig


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def tls_options(web_config: "WebConfig | None") -> dict[str, Any]:
    tls = web_config.tls if web_config is not None else None
    if tls is None:
        return {}
    assert web_config is not None

    def ssl_context(config: Any, default_factory: Any) -> Any:
        return web_config.ssl_context()

    return {"certfile": tls.cert_file, "keyfile": tls.key_file, "do_handshake_on_connect": True,
            "ssl_context": ssl_context}


def _child_exit(server: Any, worker: Any) -> None:
    # Drop a dead worker's live gauges from multiprocess metrics (the adapter runs several workers).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


class _Server(BaseApplication):
    def __init__(self, app_factory: Callable[[], Any], options: dict[str, Any]) -> None:
        self._factory = app_factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._factory()


def serve(app_factory: Callable[[], Any], *, bind: str, name: str, workers: int = 1, threads: int = 4,
          timeout: int = 30, web_config: "WebConfig | None" = None, loglevel: str = "warning",
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
