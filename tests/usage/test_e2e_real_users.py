"""The proof of issue 19 with real parts: four Linux users created for the test run known loads on
this machine — A one busy core, B half a core, C a process holding 1 GiB resident, D 30 small
processes (never in any top 10) — and `sru exporter` → Debian's Prometheus (the shipped recording
rules at 3 s) → remote write → `sru adapter` → PostgreSQL/TimescaleDB → `sru usage`. Each user's
core-hours and GB-hours must be within 5 % of what the kernel says their processes used over the
same minute, and per host users + system + idle = capacity within 0.5 %. Needs root (useradd, and
processes started as other users); the tests run as root."""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from remote_write_adapter.rules import render_rules
from remote_write_adapter.sample_config import remote_write
from sru.cli import main
from tests.exporter.test_users_e2e import priority
from tests.fixtures.net import free_port, wait_for
from tests.support.proc import run, stop_process

INTERVAL_S = 3
WINDOW_S = 60
OFF = ("disk", "filesystem", "network", "gpu", "sessions", "processes")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PYTHON = "/usr/bin/python3"   # the loads run as the test users, who cannot reach this virtualenv

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates Linux users: the suite runs as root")

LOADS = {
    "a": [["/bin/sh", "-c", "while :; do :; done"]],
    # half a core: 50 ms busy, 50 ms asleep
    "b": [[PYTHON, "-c", "import time\nwhile True:\n t = time.monotonic()\n"
                                 " while time.monotonic() - t < 0.05: pass\n time.sleep(0.05)"]],
    # 1 GiB written (so resident), then nothing
    "c": [[PYTHON, "-c", "import time\nb = b'\\x01' * (1 << 30)\ntime.sleep(3600)"]],
    "d": [["/bin/sleep", "3600"]] * 30,
}


@pytest.fixture
def users() -> Iterator[dict[str, pwd.struct_passwd]]:
    names = {k: f"sru-e{os.getpid() % 100000}{k}" for k in LOADS}
    made = []
    try:
        for name in names.values():
            run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
            made.append(name)
        yield {k: pwd.getpwnam(n) for k, n in names.items()}
    finally:
        for name in made:
            run(["userdel", name], check=False)


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])        # utime + stime
    return total / CLK_TCK


def _rss_gib(pids: list[int]) -> float:
    return sum(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) for pid in pids) * PAGE / 2**30


def _usage(capsys: Any, url: str, by: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["usage", "--by", by, "--from", start.isoformat(), "--to", end.isoformat(), "--format", "json",
                 "--database-url", url]) == 0
    return json.loads(capsys.readouterr().out)


def test_real_users_through_exporter_prometheus_adapter(users, tsdb_database, adapter_factory, prometheus_factory,
                                                        tmp_path: Path, capsys) -> None:
    db = tsdb_database
    adapter = adapter_factory(db.role_url("data_collector"))
    port, log = free_port(), tmp_path / "exporter.log"
    rules = tmp_path / "recording.yml"
    rules.write_text(render_rules("sru", f"{INTERVAL_S}s"))
    with ExitStack() as stack, log.open("ab") as out:
        exporter = subprocess.Popen([sys.executable, "-m", "sru.cli", "exporter", f"--web.listen-address=127.0.0.1:{port}",
                                     *(f"--no-collector.{c}" for c in OFF)], stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        stack.callback(stop_process, exporter)
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).ok, 30, "sru exporter",
                 process=exporter, log=log)
        prom = prometheus_factory({
            "global": {"scrape_interval": "1s", "evaluation_interval": f"{INTERVAL_S}s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": "sru", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
            "remote_write": [remote_write(adapter.url + "/api/v1/write", batch_send_deadline="1s",
                                          min_backoff="100ms", max_backoff="1s")]})
        # The exporter and Prometheus ahead of this shared machine's other work, the loads ahead of
        # everything: the test measures sru, not the machine's load (tests/exporter/test_users_e2e.py).
        stack.enter_context(priority(exporter.pid, -10))
        stack.enter_context(priority(prom.proc.pid, -10))
        procs: dict[str, list[subprocess.Popen[bytes]]] = {}
        for key, cmds in LOADS.items():
            u = users[key]
            procs[key] = []
            for cmd in cmds:
                p = subprocess.Popen(cmd, user=u.pw_uid, group=u.pw_gid, extra_groups=[], start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                stack.callback(stop_process, p, 5)
                procs[key].append(p)
            if key in ("a", "b"):
                stack.enter_context(priority(procs[key][0].pid, -20))
        pids = {k: [p.pid for p in ps] for k, ps in procs.items()}
        names = {k: u.pw_name for k, u in users.items()}

        def stored(sql: str, *args: Any) -> Any:
            with db.connect() as conn:
                return conn.execute(sql, args).fetchone()[0]

        def all_users_in() -> bool:
            return stored("SELECT count(DISTINCT u.username) FROM user_usage_metrics m JOIN users u "
                          "ON u.id = m.user_id WHERE u.username = ANY(%s) AND m.ram_gb IS NOT NULL "
                          "AND m.processes IS NOT NULL", list(names.values())) == 4 and _rss_gib(pids["c"]) > 0.99

        wait_for(all_users_in, 90, "every test user in user_usage_metrics", interval=1)
        time.sleep(3 * INTERVAL_S)               # every rate window now lies inside the loads
        t1 = datetime.now(UTC).replace(microsecond=0)
        cpu1 = {k: _cpu_seconds(pids[k]) for k in ("a", "b")}
        rss: dict[str, list[float]] = {"c": [], "d": []}
        while datetime.now(UTC) < t1 + timedelta(seconds=WINDOW_S):
            for k in rss:
                rss[k].append(_rss_gib(pids[k]))
            time.sleep(1)
        t2 = t1 + timedelta(seconds=WINDOW_S)
        cpu2 = {k: _cpu_seconds(pids[k]) for k in ("a", "b")}
        host = socket.gethostname()
        wait_for(lambda: stored('SELECT max(m."timestamp") FROM user_usage_metrics m JOIN systems s '
                                'ON s.id = m.system_id WHERE s.hostname = %s', host) >= t2 + timedelta(seconds=INTERVAL_S),
                 30, "the samples of the whole window", interval=0.5)
        d_processes = stored('SELECT min(m.processes) FROM user_usage_metrics m JOIN users u ON u.id = m.user_id '
                             'WHERE u.username = %s AND m."timestamp" >= %s AND m."timestamp" < %s',
                             names["d"], t1, t2)

    hours = WINDOW_S / 3600
    by_user = {r["user"]: r for r in _usage(capsys, db.role_url("analyst"), "user", t1, t2)}
    truth = {"a": ("cpu_core_hours", (cpu2["a"] - cpu1["a"]) / 3600),
             "b": ("cpu_core_hours", (cpu2["b"] - cpu1["b"]) / 3600),
             "c": ("ram_gb_hours", sum(rss["c"]) / len(rss["c"]) * hours),
             "d": ("ram_gb_hours", sum(rss["d"]) / len(rss["d"]) * hours)}
    report = {k: (by_user[names[k]][fig], want) for k, (fig, want) in truth.items()}
    with capsys.disabled():
        print("\nledger vs kernel (hours):", report, "cores a/b:",
              {k: (cpu2[k] - cpu1[k]) / WINDOW_S for k in ("a", "b")})
    for k, (got, want) in report.items():
        assert got == pytest.approx(want, rel=0.05), (k, report)
    assert 0.9 < (cpu2["a"] - cpu1["a"]) / WINDOW_S < 1.1 and 0.3 < (cpu2["b"] - cpu1["b"]) / WINDOW_S < 0.7
    assert d_processes == 30
    assert by_user[names["a"]]["department"] == "unassigned" and "system" in by_user

    (h,) = [r for r in _usage(capsys, db.role_url("analyst"), "host", t1, t2) if r["host"] == host]
    assert h["hours"] == pytest.approx(hours, rel=0.1)
    assert h["cpu_core_hours"] + h["idle_cpu_core_hours"] == pytest.approx(h["capacity_cpu_core_hours"], rel=0.005)
    assert h["ram_gb_hours"] + h["idle_ram_gb_hours"] == pytest.approx(h["capacity_ram_gb_hours"], rel=0.005)
    # The host's own CPU measurement over the window (usage_metrics), next to the users' sum.
    measured = stored("SELECT avg(cpu_percent) FROM usage_metrics m JOIN systems s ON s.id = m.system_id "
                      'WHERE s.hostname = %s AND m."timestamp" >= %s AND m."timestamp" < %s', host, t1, t2)
    with capsys.disabled():
        print(f"host: users+system {h['cpu_core_hours'] / h['hours']:.3f} cores, usage_metrics "
              f"{measured / 100 * h['capacity_cpu_core_hours'] / h['hours']:.3f} cores")
