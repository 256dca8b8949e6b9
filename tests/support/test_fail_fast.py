"""A server that exits while a fixture waits for it fails the fixture at once, with its log, instead of
after the full timeout."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from scripts.pgcluster import ClusterError, PgCluster, init_cluster, pg_bindir
from tests.fixtures.net import ServerExited, free_port, wait_for_port
from tests.fixtures.prometheus import PrometheusServer
from tests.support.proc import CommandFailed, run, start_logged


def test_wait_for_port_stops_when_the_process_exits(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    proc = start_logged([sys.executable, "-c", "import sys; print('bad flag --x'); sys.exit(3)"], log)
    t0 = time.monotonic()
    with pytest.raises(ServerExited, match=r"(?s)status 3.*bad flag --x"):
        wait_for_port("127.0.0.1", free_port(), timeout=30, process=proc, log=log)
    assert time.monotonic() - t0 < 5


def test_adapter_that_exits_fails_its_fixture_at_once(adapter_factory) -> None:
    t0 = time.monotonic()
    with pytest.raises(ServerExited, match="no-such-flag"):
        adapter_factory("postgresql://127.0.0.1:1/x", "--no-such-flag")
    assert time.monotonic() - t0 < 20  # the CLI's start-up, not the 30 s wait


def test_prometheus_with_a_broken_config_fails_at_once(tmp_path: Path) -> None:
    server = PrometheusServer(port=free_port(), workdir=tmp_path)
    server.write_config({"scrape_configs": [{"job_name": "x", "no_such_key": 1}]})
    t0 = time.monotonic()
    with pytest.raises(ServerExited, match="no_such_key"):
        server.start()
    assert time.monotonic() - t0 < 20


def test_postgres_that_exits_fails_with_its_log() -> None:
    base = Path(tempfile.mkdtemp(prefix="sru-pg-bad-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")  # the server writes its log here
        port = free_port()
        init_cluster(base / "data", {"port": str(port), "shared_buffers": "'plenty'"})
        cluster = PgCluster(bindir=pg_bindir(), datadir=base / "data", port=port)
        t0 = time.monotonic()
        with pytest.raises(ClusterError, match=r"(?s)did not start.*shared_buffers"):
            cluster.start()
        assert time.monotonic() - t0 < 20  # pg_ctl notices the exit, not its 60 s wait
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_run_names_what_the_command_printed() -> None:
    with pytest.raises(CommandFailed, match="went wrong"):
        run([sys.executable, "-c", "import sys; sys.exit('went wrong')"])
