"""`sru alert-receiver` under gunicorn: one worker process with threads (the receiver's metrics live
in that process, and a webhook is small work), a psycopg pool opened in the worker after fork."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alertmanager.app import ReceiverApp
    from sru.webconfig import WebConfig

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


def build_app(settings: ReceiverSettings, web_config: WebConfig | None = None) -> ReceiverApp:
    from alertmanager.app import ReceiverApp
    from sru.db import open_pool

    pool = open_pool(settings.database_url, name="sru-alert-receiver", max_size=settings.threads,
                     timeout=settings.pool_timeout)
    return ReceiverApp(pool, max_request_bytes=settings.max_request_bytes,
                       basic_auth=web_config.basic_auth if web_config else None,
                       bearer_token=settings.bearer_token, alertmanager_url=settings.alertmanager_url)


def run(settings: ReceiverSettings, web_config: WebConfig | None = None) -> None:
    """Serve under gunicorn: one worker process (the receiver's metrics live in it) with threads."""
    from sru.http.serve import bind_address, serve

    serve(lambda: build_app(settings, web_config), bind=bind_address(settings.host, settings.port),
          name="sru-alert-receiver", workers=1, threads=settings.threads, timeout=60, web_config=web_config,
          loglevel=logging.getLevelName(log.getEffectiveLevel()).lower())
