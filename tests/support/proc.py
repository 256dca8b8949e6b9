"""Processes for the tests, bench/ and `make up` (standard library only, so scripts/up.py can import
it from the repository): run a command to completion with its output in the error, run one as the
``postgres`` user, run the `sru` command, start a server with its output in a log file, stop it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

LOG_TAIL_CHARS = 4000


class CommandFailed(subprocess.CalledProcessError):
    """A command exited non-zero; ``str()`` carries what it printed, not just its status."""

    def __str__(self) -> str:
        printed = "".join(part for part in (self.stdout, self.stderr) if part).strip()
        return f"{super().__str__()}\n{printed[-LOG_TAIL_CHARS:]}" if printed else super().__str__()


def run(cmd: Sequence[str], *, as_postgres: bool = False, input: str | None = None,
        env: Mapping[str, str] | None = None, cwd: Path | str | None = None,
        timeout: float | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` to completion, output captured as text. ``as_postgres``: as the postgres user when
    running as root (PostgreSQL refuses to run as root)."""
    argv = list(cmd)
    if as_postgres and os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    done = subprocess.run(argv, input=input, capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=dict(env) if env is not None else None)
    if check and done.returncode != 0:
        raise CommandFailed(done.returncode, argv, done.stdout, done.stderr)
    return done


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


def log_tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else f"(no log at {path})"


def stop_process(proc: subprocess.Popen | None, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
