"""Processes for `make up` (scripts/up.py), the tests and bench/ (standard library only): run a
command to completion with its output in the error, as the ``postgres`` user if need be, and the
tail of a log."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

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


def log_tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else f"(no log at {path})"
