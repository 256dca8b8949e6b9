"""sru.clock: one moved "now" in this process and in the processes it starts."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from sru import clock


@pytest.fixture
def restore_clock():
    saved = clock.offset()
    yield
    if saved:
        clock.move_to(datetime.now(UTC) + saved)
    else:
        clock.reset()


def test_moved_clock_runs_on_and_reaches_child_processes(restore_clock):
    leap = datetime(2028, 2, 29, 23, 59, tzinfo=UTC)
    clock.move_to(leap)
    assert timedelta(0) <= clock.now() - leap < timedelta(seconds=5)
    child = subprocess.run([sys.executable, "-c", "from sru import clock; print(clock.now().isoformat())"],
                           capture_output=True, text=True, check=True).stdout
    assert timedelta(0) <= datetime.fromisoformat(child.strip()) - leap < timedelta(seconds=30)
    clock.reset()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)
    with pytest.raises(ValueError, match="time zone"):
        clock.move_to(datetime(2028, 2, 29))


def test_bad_offset_is_named(monkeypatch):
    monkeypatch.setenv(clock.ENV, "tomorrow")
    with pytest.raises(ValueError, match=clock.ENV):
        clock._from_env()
