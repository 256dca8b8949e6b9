"""A real `sru web` (gunicorn, as deployed) on a free loopback port, connected as a login in the
web_console role, over a database with demo data, one optimizer pass and a few alerts, next to a real
Alertmanager."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import bcrypt
import psycopg
import pytest
import requests
import yaml

from sru import clock
from tests.fixtures.net import free_port, wait_for
from tests.fixtures.postgres import Database, filled_from_template
from tests.support.proc import start_logged, stop_process

SRU = str(Path(sys.executable).parent / "sru")
PASSWORDS = {"alice": "alice-pw-1", "victor": "victor-pw-1"}
TOKEN = "test-token-of-alice"
WEB_LOGIN = "sru_t_web"


@dataclass
class Console:
    url: str
    db: Database
    alertmanager_url: str
    log: Path
    alert_ids: list[int] = field(default_factory=list)

    def api(self, method: str, path: str, *, user: str = "alice", **kw: Any) -> requests.Response:
        auth = (user, PASSWORDS[user]) if user else None
        return requests.request(method, self.url + path, auth=auth, timeout=30, **kw)

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        with self.db.connect() as conn:
            return conn.execute(sql, params).fetchall()


def logged_in(url: str, user: str = "alice", **kw: Any) -> requests.Session:
    """A requests session logged in through the form (with the CSRF token of the log-in page)."""
    s = requests.Session()
    page = s.get(url + "/login", timeout=10, **kw)
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = s.post(url + "/login", data={"name": user, "password": PASSWORDS[user], "csrf_token": csrf},
               allow_redirects=False, timeout=10, **kw)
    assert r.status_code == 302, r.text
    return s


def web_login_url(db: Database) -> str:
    """A login user in the web_console group role (roles are cluster-wide: created once)."""
    with psycopg.connect(db.cluster.url(), autocommit=True) as conn:
        conn.execute(f"""DO $$BEGIN CREATE ROLE {WEB_LOGIN} LOGIN IN ROLE web_console;
                         EXCEPTION WHEN duplicate_object THEN NULL; END$$""")
    return db.cluster.url(db.name, WEB_LOGIN)


def load_fleet(db: Database) -> list[int]:
    """6 demo hosts × 16 days at 1 h ending now, one optimizer pass, three firing alerts."""
    from alertmanager.payload import parse_webhook
    from alertmanager.store import store_events
    from optimizer.demo import generate
    from optimizer.run import run_once
    from tests.support.alerts import make_alert, notification

    with db.connect() as conn:
        generate(conn, hosts=6, days=16, interval=timedelta(hours=1), seed=5)
        run_once(conn, full=True)
        hosts = [r[0] for r in conn.execute("SELECT hostname FROM systems ORDER BY hostname")]
        now = clock.now().replace(microsecond=0)
        alerts = [make_alert("SruMemoryHigh", fingerprint="a000000000000001", instance=f"{hosts[0]}:9847",
                             starts=now - timedelta(minutes=30)),
                  make_alert("SruCpuSaturated", fingerprint="a000000000000002", instance=f"{hosts[1]}:9847",
                             severity="critical", starts=now - timedelta(minutes=20)),
                  make_alert("SruDiskIoWait", fingerprint="a000000000000003", instance=f"{hosts[2]}:9847",
                             starts=now - timedelta(minutes=10))]
        import json

        store_events(conn, parse_webhook(json.dumps(notification(*alerts)).encode()))
        conn.commit()
        return [r[0] for r in conn.execute("SELECT id FROM alert_logs WHERE fingerprint LIKE 'a0000%' ORDER BY triggered_at")]


def accounts_file(tmp_path: Path) -> Path:
    import hashlib

    path = tmp_path / "accounts.yml"
    path.write_text(yaml.safe_dump({"accounts": {
        "alice": {"password_hash": bcrypt.hashpw(PASSWORDS["alice"].encode(), bcrypt.gensalt(4)).decode(),
                  "role": "operator", "token_sha256": hashlib.sha256(TOKEN.encode()).hexdigest()},
        "victor": {"password_hash": bcrypt.hashpw(PASSWORDS["victor"].encode(), bcrypt.gensalt(4)).decode(),
                   "role": "viewer"},
    }}))
    return path


@contextmanager
def run_web(db: Database, tmp_path: Path, *extra: str, scheme: str = "http",
            verify: Any = True, database_url: str | None = None) -> Iterator[tuple[str, Path]]:
    """A started `sru web` process: (base URL, log path). ``database_url``: another server to read
    (a standby) instead of the web_console login on ``db``'s."""
    port = free_port()
    log = tmp_path / "web.log"
    proc = start_logged([SRU, "web", f"--web.listen-address=127.0.0.1:{port}",
                         "--database-url", database_url or web_login_url(db),
                         "--web.accounts-file", str(accounts_file(tmp_path)), *extra], log)
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        def up() -> bool:
            return requests.get(url + "/healthz", timeout=2, verify=verify).status_code == 200

        wait_for(up, 30, f"sru web (log {log})", process=proc, log=log)
        yield url, log
    finally:
        stop_process(proc)


@contextmanager
def start_console(db: Database, alertmanager_factory: Any, tmp_path: Path) -> Iterator[Console]:
    from alertmanager.config import load_shipped, localize

    am = alertmanager_factory(localize(load_shipped(), webhook_url="http://127.0.0.1:9/unused", secrets_dir=tmp_path,
                                       drop_receivers=("email", "slack")))
    # The fleet ends at the hour now falls in (and its alerts began minutes before now): one filled
    # template per tier and hour, copied for each test (tests/fixtures/postgres.py).
    hour = clock.now().replace(minute=0, second=0, microsecond=0)
    alert_ids = filled_from_template(db, ("web-fleet", hour), load_fleet)
    with run_web(db, tmp_path, "--alertmanager.url", am.url,
                 "--grafana.url", "http://grafana.example:3000") as (url, log):
        yield Console(url, db, am.url, log, alert_ids)


@pytest.fixture
def console(database: Database, alertmanager_factory: Any, tmp_path: Path) -> Iterator[Console]:
    """The console over each tier (plain, apache, full: on full, hourly stats are a continuous
    aggregate), for the tests of what it reads and writes."""
    with start_console(database, alertmanager_factory, tmp_path) as c:
        yield c


@pytest.fixture
def console_one_tier(tsdb_database: Database, alertmanager_factory: Any, tmp_path: Path) -> Iterator[Console]:
    """The console over the apache tier only, for what does not depend on the tier (the browser
    journeys, the log-in limit)."""
    with start_console(tsdb_database, alertmanager_factory, tmp_path) as c:
        yield c
