"""Processes for the tests and bench/: run the `sru` command, start a server with its output in a log
file, stop it; and (from scripts/proc.py, what `make up` needs too) run a command to completion with
its output in the error, as the ``postgres`` user if need be, and a log's tail."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeAlias

from scripts.proc import LOG_TAIL_CHARS, CommandFailed, log_tail, run

__all__ = ("LOG_TAIL_CHARS", "CommandFailed", "Process", "log_tail", "run", "sru", "start_logged", "stop_process")

# A started process, whether its pipes are bytes or text (stop_process and the waits take either).
Process: TypeAlias = subprocess.Popen[bytes] | subprocess.Popen[str]


def sru(*args: str, env: Mapping[str, str] | None = None, input: str | None = None, timeout: float = 60,
        check: bool = False) -> subprocess.CompletedProcess[str]:
    """`sru ARGS…` of this checkout (``python -m sru.cli``: the interpreter running the tests, with
    or without an installed entry point), output captured. ``check`` is off: most callers assert the
    exit status and the one-line error themselves."""
    return run([sys.executable, "-m", "sru.cli", *args], env=env, input=input, timeout=timeout, check=check)


def start_logged(cmd: Sequence[str], log_path: Path,
                 env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a server with stdout and stderr appended to ``log_path``."""
    with log_path.open("ab") as log:
        return subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT,
                                env=dict(env) if env is not None else None)


def stop_process(proc: Process | None, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
