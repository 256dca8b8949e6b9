from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.digest.sinks import SMTP_PASSWORD, SMTP_USER, HttpSink, SmtpSink, start_http, start_smtp


@pytest.fixture(scope="module")
def smtp_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    from tests.fixtures.certs import make_pki

    pki = make_pki(tmp_path_factory.mktemp("digest-pki"))
    sink, ctl = start_smtp(pki.server_cert, pki.server_key)
    sink.ca = pki.ca  # type: ignore[attr-defined]
    yield sink
    ctl.stop()


@pytest.fixture(scope="module")
def http_sink() -> Iterator[HttpSink]:
    sink, server = start_http()
    yield sink
    server.shutdown()


def write_config(tmp: Path, smtp: SmtpSink, http: HttpSink, *, emails: int = 1, slacks: int = 1, hooks: int = 1,
                 attempts: int = 5, backoff: str = "50ms", **extra: object) -> Path:
    (tmp / "smtp_password").write_text(SMTP_PASSWORD + "\n")
    dests: dict[str, dict[str, Any]] = {}
    for i in range(emails):
        dests[f"mail-{i}"] = {"email": [f"head{i}@lab.example", f"deputy{i}@lab.example"]}
    for i in range(slacks):
        (tmp / f"slack-{i}").write_text(http.url(f"/slack/{i}"))
        dests[f"slack-{i}"] = {"slack_url_file": str(tmp / f"slack-{i}")}
    for i in range(hooks):
        (tmp / f"token-{i}").write_text(f"hook-token-{i}")
        dests[f"hook-{i}"] = {"webhook_url": http.url(f"/hook/{i}"), "token_file": str(tmp / f"token-{i}")}
    doc = {"console_url": "http://console.example:9850",
           "schedule": {"weekday": "monday", "time": "07:00", "timezone": "UTC"},
           "smtp": {"host": "127.0.0.1", "port": smtp.port, "starttls": True, "username": SMTP_USER,
                    "password_file": str(tmp / "smtp_password"), "from": "sru@lab.example",
                    "ca_file": str(smtp.ca), "timeout": "10s"},  # type: ignore[attr-defined]
           "retry": {"attempts": attempts, "backoff": backoff, "max_backoff": "1s"},
           "destinations": dests, "routes": {"fleet": list(dests)}, **extra}
    path = tmp / "digest.yml"
    path.write_text(yaml.safe_dump(doc))
    return path
