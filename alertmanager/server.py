"""`sru alert-receiver` under gunicorn: one worker process with threads (the receiver's metrics live
in that process, and a webhook is small work), a psycopg pool opened in the worker after fork."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication

log = logging.getLogger("sru.alert_receiver")


@dataclass
class ReceiverSettings:
    database_url: str
    host: str
    port: int
    threads: int = 8
    max_request_bytes: int = 1 << 20
    bearer_token: str | None = None
    alertmanager_url: str | None = None
    pool_timeout: float = 5.0


def build_app(settings: ReceiverSettings, web_config: Any = None) -> Any:
    from psycopg_pool import ConnectionPool

    from alertmanager.app import ReceiverApp

    pool = ConnectionPool(
        settings.database_url, min_size=1, max_size=settings.threads, open=False,
        timeout=settings.pool_timeout, name="sru-alert-receiver",
        # A connection broken by a database restart is replaced before use, not failed on.
        check=ConnectionPool.check_connection,
        kwargs={"application_name": "sru-alert-receiver"},
    )
    # Do not wait for the database: the receiver starts (and answers 503) while it is down.
    pool.open(wait=False)
    return ReceiverApp(pool, max_request_bytes=settings.max_request_bytes,
                       basic_auth=web_config.basic_auth if web_config else None,
                       bearer_token=settings.bearer_token, alertmanager_url=settings.alertmanager_url)


class ReceiverServer(BaseApplication):
    def __init__(self, settings: ReceiverSettings, web_config: Any = None) -> None:
        self.settings = settings
        self.web_config = web_config
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        bind = f"[{s.host}]:{s.port}" if ":" in s.host else f"{s.host}:{s.port}"
        options: dict[str, Any] = {
            "bind": [bind], "workers": 1, "worker_class": "gthread", "threads": s.threads,
            "timeout": 60, "graceful_timeout": 10, "keepalive": 5,
            "accesslog": None, "errorlog": "-", "loglevel": logging.getLevelName(log.getEffectiveLevel()).lower(),
            "proc_name": "sru-alert-receiver",
            # Header limits: the body limit is the application's.
            "limit_request_line": 8190, "limit_request_fields": 100,
        }
        tls = self.web_config.tls if self.web_config else None
        if tls is not None:
            web_config = self.web_config
            # gunicorn needs the file names to switch TLS on; the context itself is sru.webconfig's
            # (minimum version, client verification), the same as the exporter's.
            options.update(certfile=tls.cert_file, keyfile=tls.key_file, do_handshake_on_connect=True,
                           ssl_context=lambda config, default_factory: web_config.ssl_context())
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return build_app(self.settings, self.web_config)
