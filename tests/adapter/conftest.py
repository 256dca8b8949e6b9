"""Fixtures of the adapter tests."""

from __future__ import annotations

import subprocess

import pytest

from tests.fixtures.net import wait_for_port
from tests.support.proc import start_logged, stop_process


@pytest.fixture
def process_factory(tmp_path):
    procs: list[subprocess.Popen[bytes]] = []

    def start(cmd: list[str], port: int) -> subprocess.Popen[bytes]:
        log = tmp_path / f"{port}.log"
        p = start_logged(cmd, log)
        procs.append(p)
        wait_for_port("127.0.0.1", port, process=p, log=log)
        return p

    yield start
    for p in procs:
        stop_process(p, timeout=10)
