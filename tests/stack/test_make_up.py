"""`make up` as a new user runs it: the whole local stack comes up, rows for this host reach
usage_metrics within a minute, Ctrl-C stops everything, and a second run reuses the data."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import requests

from tests.fixtures.net import free_port, wait_for
from tests.support.proc import run, sru

ROOT = Path(__file__).resolve().parents[2]
# Its waits add up to more than the suite's 300 s per test (90 s for rows, 120 s for a backup, a
# minute for each stop and for the second start): a longer limit, so that a slow run fails on its
# own wait with its message, and the stop in `finally` is never cut short by the timeout.
pytestmark = pytest.mark.timeout(600)
SERVICES = ("postgres", "exporter", "adapter", "receiver", "prometheus", "alertmanager", "web", "backup")


def _start(var: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "up.py"), "--var", str(var)],
                            cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(60)


def _stopped(proc: subprocess.Popen[bytes], data: Path, ports: dict[str, int]) -> int:
    """Ctrl-C, as a person stops the stack; where that does not finish (it hangs, or the test's
    timeout interrupts the wait), whatever the run left is killed before the error goes on, so no
    stack outlives the test: up.py's process group, every process listening on the run's ports
    (honcho's services run in a session of their own), and its PostgreSQL."""
    try:
        return _stop(proc)
    except BaseException:
        _kill_leftovers(proc, data, ports)
        raise


def _kill_leftovers(proc: subprocess.Popen[bytes], data: Path, ports: dict[str, int]) -> None:
    # Every process in the sessions of the run's process tree: the run's own (it was started in a
    # session of its own) and honcho's (up.py starts it in another), services included.
    table: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            table[int(entry.name)] = (int(fields[1]), int(fields[3]))   # ppid, session
    tree, grew = {proc.pid}, True
    while grew:
        more = {pid for pid, (ppid, _) in table.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    sessions = {table[pid][1] for pid in tree if pid in table} | {proc.pid}
    for pid, (_, session) in table.items():
        if session in sessions and pid != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for name, number in ports.items():   # anything that left those sessions but kept a port
        if name != "postgres":
            for pid in {int(p) for p in re.findall(r"pid=(\d+)", run(["ss", "-Hltnp", f"sport = :{number}"],
                                                                      check=False).stdout)}:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    if (data / "pg" / "postmaster.pid").exists():   # pg_ctl starts PostgreSQL in a session of its own
        from scripts.pgcluster import pg_bindir

        run([str(pg_bindir() / "pg_ctl"), "-D", str(data / "pg"), "-m", "immediate", "stop"],
            as_postgres=True, check=False)


def test_make_up_fills_usage_metrics_and_stops_cleanly() -> None:
    var = Path(tempfile.mkdtemp(prefix="sru-up-"))
    var.chmod(0o755)  # the postgres user must reach var/pg
    ports = {name: free_port() for name in SERVICES}
    env = {**os.environ, **{f"SRU_{n.upper()}_PORT": str(p) for n, p in ports.items()}}
    log = var / "up.log"
    url = f"postgresql://postgres@127.0.0.1:{ports['postgres']}/sru"
    proc = _start(var / "data", env, log)
    try:
        started = time.monotonic()

        def rows_for_this_host() -> bool:
            with psycopg.connect(url, connect_timeout=2) as conn:
                row = conn.execute(
                    "SELECT count(*), min(m.cpu_percent), max(m.cpu_percent), max(m.ram_percent) "
                    "FROM usage_metrics m JOIN systems s ON s.id = m.system_id "
                    "WHERE s.hostname = %s", (os.uname().nodename,)).fetchone()
            assert row is not None  # aggregates: one row
            return row[0] >= 2 and 0 <= row[1] <= row[2] <= 100 and 0 < row[3] < 100

        wait_for(rows_for_this_host, 90, f"usage_metrics rows (log: {log})", interval=2)
        assert time.monotonic() - started < 90
        # The console is up, and its generated operator account sees this host.
        password = (var / "data" / "web" / "admin-password").read_text().strip()
        web = f"http://127.0.0.1:{ports['web']}"
        r = requests.get(web + "/api/v1/hosts", auth=("admin", password), timeout=10)
        assert r.status_code == 200 and os.uname().nodename in [h["hostname"] for h in r.json()["hosts"]]
        # The dashboards' console links (grafana/README.md) lead to this console: the hidden variable's
        # query as Grafana's login.
        from tests.support.grafana.dashboards import load_dashboards

        (query,) = {v["query"] for d in load_dashboards().values() for v in d["templating"]["list"]
                    if v["name"] == "console_url"}
        with psycopg.connect(url.replace("postgres@", "sru_grafana@"), connect_timeout=2) as conn:
            assert conn.execute(query).fetchone() == (web,)
        # WAL is archived and the backup taken at start makes a restorable chain, which the backup
        # exporter reports to Prometheus (docs/operations.md).
        conf = str(var / "data" / "pgbackrest" / "pgbackrest.conf")
        wait_for(lambda: sru("db", "backup-status", "--database-url", url, "--pgbackrest-config", conf).returncode == 0,
                 120, f"a restorable backup (log: {log})", interval=2)
        metrics = requests.get(f"http://127.0.0.1:{ports['backup']}/metrics", timeout=30).text
        assert "sru_backup_restorable 1.0" in metrics and 'sru_backup_last_completed_timestamp_seconds{type="full"}' in metrics
    finally:
        rc = _stopped(proc, var / "data", ports)
    text = log.read_text(errors="replace")
    assert rc == 0, text[-3000:]
    for name in ("exporter", "adapter", "prometheus", "alertmanager", "receiver", "web", "backup"):
        assert f"[sru up] {name}" in text, f"{name} missing from the printed addresses"
    assert "[sru up] stopped" in text
    # Nothing keeps listening after Ctrl-C.
    for name, number in ports.items():
        ss = run(["ss", "-Hltn", f"sport = :{number}"], check=False)
        assert ss.stdout.strip() == "", f"{name} still listens on {number}"

    # A second run reuses the cluster and the data.
    log.write_text("")
    proc = _start(var / "data", env, log)
    try:
        wait_for(lambda: "Ctrl-C stops everything" in log.read_text(errors="replace"), 60,
                 f"second start (log: {log})", interval=1)
    finally:
        rc = _stopped(proc, var / "data", ports)
    text = log.read_text(errors="replace")
    assert rc == 0, text[-3000:]
    assert "creating PostgreSQL cluster" not in text and "nothing applied" in text
    shutil.rmtree(var, ignore_errors=True)


def test_make_up_piped_to_tee_stops_on_ctrl_c() -> None:
    """`make up | tee up.log`: Ctrl-C reaches every process of the terminal's process group, tee
    dies at once, and the stack must still stop (it used to stay up: honcho died writing to the
    broken pipe before stopping anything)."""
    var = Path(tempfile.mkdtemp(prefix="sru-up-tee-"))
    var.chmod(0o755)
    ports = {name: free_port() for name in SERVICES}
    env = {**os.environ, **{f"SRU_{n.upper()}_PORT": str(p) for n, p in ports.items()}}
    log = var / "up.log"
    # A shell pipeline in a process group of its own, as an interactive shell runs a job.
    proc = subprocess.Popen(["sh", "-c", f'"{sys.executable}" scripts/up.py --var "{var}/data" 2>&1 | tee "{log}"'],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True)

    def listening(number: int) -> bool:
        r = run(["ss", "-Hltn", f"sport = :{number}"], check=False)
        return r.stdout.strip() != ""

    try:
        wait_for(lambda: all(listening(p) for p in ports.values()), 120,
                 f"every service listening (log: {log})", interval=1)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        try:
            proc.wait(90)
        except BaseException:
            _kill_leftovers(proc, var / "data", ports)
            raise
    # tee is gone, so the log ends at the interrupt; what counts is that nothing is left running.
    still = [f"{name} on {number}" for name, number in ports.items() if listening(number)]
    assert not still, f"still listening after Ctrl-C: {still} (log: {log.read_text(errors='replace')[-3000:]})"
    shutil.rmtree(var, ignore_errors=True)
