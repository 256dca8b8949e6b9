"""`sru optimize --every` (the stack's optimizer) outlives a database outage: each pass opens its own
connection, a failed pass is logged and retried at the next tick, and the first pass after the
server is back does the work."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.fixtures.net import wait_for
from tests.optimizer.conftest import load_demo
from tests.support.proc import start_logged, stop_process


def test_optimize_every_retries_through_an_outage(tsdb_database, tcp_proxy, tmp_path: Path) -> None:
    load_demo(tsdb_database, hosts=2, days=3)
    proxy = tcp_proxy(tsdb_database.cluster.host, tsdb_database.cluster.port)
    proxy.cut()                                    # down before the first pass
    url = tsdb_database.role_url("analyst", port=proxy.port)
    log = tmp_path / "optimize.log"
    proc = start_logged([sys.executable, "-m", "sru.cli", "optimize", "--every", "1s", "--no-progress",
                         "--database-url", url], log)
    try:
        def text() -> str:
            return log.read_text(errors="replace")

        wait_for(lambda: text().count("optimizer pass failed: cannot connect to the database") >= 2, 60,
                 "two failed passes", process=proc, log=log)
        assert "Traceback" not in text()
        proxy.restore()
        wait_for(lambda: "full pass over" in text(), 120, "a pass after the outage", process=proc, log=log)
        assert proc.poll() is None, text()
    finally:
        stop_process(proc)
    with tsdb_database.connect() as conn:
        assert conn.execute("SELECT count(*) FROM performance_summaries WHERE period_type = 'daily'").fetchone()[0] > 0
