"""Fixtures of the adapter tests."""

from __future__ import annotations

import subprocess

import pytest

from tests.fixtures.net import wait_for_port


@pytest.fixture
def process_factory(tmp_path):
    procs: list[subprocess.Popen] = []

    def start(cmd: list[str], port: int) -> subprocess.Popen:
        p = subprocess.Popen(cmd, stdout=(tmp_path / f"{port}.log").open("ab"), stderr=subprocess.STDOUT)
        procs.append(p)
        wait_for_port("127.0.0.1", port)
        return p

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)
