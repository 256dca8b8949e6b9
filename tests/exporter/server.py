"""Run the real `sru exporter` command as a subprocess on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.fixtures.net import ServerExited, free_port, wait_for_port


@contextmanager
def running_exporter(*argv: str) -> Iterator[str]:
    """Yields 'HOST:PORT'; the process is stopped (SIGTERM) afterwards."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sru.cli", "exporter", "--web.listen-address",
                             f"127.0.0.1:{port}", *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        try:
            wait_for_port("127.0.0.1", port, timeout=30, process=proc)
        except (TimeoutError, ServerExited):
            proc.kill()
            raise AssertionError(f"exporter did not start: {proc.communicate()[0]}") from None
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            assert proc.wait(timeout=10) == 0, "exporter did not exit cleanly on SIGTERM"
        finally:
            proc.kill()
