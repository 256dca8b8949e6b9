"""pgBackRest, run as the operating-system user that owns the data directory.

pgBackRest reads the data directory and writes the repository, its log and its lock files with the
permissions of whoever runs it; the server's own ``archive_command`` runs it as the server's user.
Run as root (``make up``, a root cron), the same user is taken on with ``runuser``, so the
repository never holds files the archiver cannot overwrite. Everything else is pgBackRest's own
command line: its configuration file (``--config``) names the repository, the retention and the
stanza's data directory."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sru.errors import SruError

DEFAULT_STANZA = "sru"
BACKUP_TYPES = ("full", "diff", "incr")


class BackupError(SruError):
    """pgBackRest is missing or one of its commands failed (the message carries its own)."""


def stanza_entry(text: str, stanza: str, source: str) -> dict[str, Any]:
    """``stanza``'s entry of `pgbackrest info --output=json` output."""
    try:
        stanzas = json.loads(text)
    except ValueError as exc:
        raise BackupError(f"{source} holds no JSON: {text[:200]!r}") from exc
    for entry in stanzas if isinstance(stanzas, list) else []:
        if isinstance(entry, dict) and entry.get("name") == stanza:
            return entry
    raise BackupError(f"{source} knows no stanza {stanza!r}")


@dataclass(frozen=True)
class InfoFile:
    """`pgbackrest info --output=json` as another container wrote it (compose: the backup sidecar,
    which has pgBackRest, refreshes it every minute; the exporter's image has none). A file older
    than ``max_age_seconds`` is an error, not old news: its writer has stopped."""
    path: str
    stanza: str = DEFAULT_STANZA
    max_age_seconds: float = 600

    def info(self) -> dict[str, Any]:
        import time

        try:
            with open(self.path, encoding="utf-8") as fh:
                age = time.time() - os.fstat(fh.fileno()).st_mtime
                text = fh.read()
        except OSError as exc:
            raise BackupError(f"cannot read {self.path}: {exc.strerror}") from exc
        if age > self.max_age_seconds:
            raise BackupError(f"{self.path} was written {age:.0f}s ago (over {self.max_age_seconds:.0f}s): "
                              "is the backup sidecar running?")
        return stanza_entry(text, self.stanza, self.path)


@dataclass(frozen=True)
class PgBackRest:
    stanza: str = DEFAULT_STANZA
    config: str | None = None  # None: pgBackRest's default, /etc/pgbackrest/pgbackrest.conf
    executable: str = "pgbackrest"
    run_as: str = "postgres"  # taken on only when running as root

    def argv(self, command: str, *options: str) -> list[str]:
        argv = [self.executable]
        if self.config:
            argv.append(f"--config={self.config}")
        argv += [f"--stanza={self.stanza}", *options, command]
        if os.geteuid() == 0 and self.run_as != "root":
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        return argv

    def run(self, command: str, *options: str, timeout: float | None = None) -> str:
        """Run one pgBackRest command; its stdout, or BackupError with what it printed."""
        argv = self.argv(command, *options)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError as exc:
            raise BackupError(f"{argv[0]} not found: install pgbackrest (scripts/install-deps.sh)") from exc
        except subprocess.TimeoutExpired as exc:
            raise BackupError(f"pgbackrest {command} did not finish within {timeout:.0f}s") from exc
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise BackupError(f"pgbackrest {command} failed (exit {done.returncode}): "
                              + (" / ".join(said[-3:]) if said else "no output"))
        return done.stdout

    def info(self, timeout: float = 60) -> dict[str, Any]:
        """The stanza's entry of ``pgbackrest info --output=json``."""
        return stanza_entry(self.run("info", "--output=json", timeout=timeout), self.stanza, "pgbackrest info")

    def stanza_create(self) -> None:
        self.run("stanza-create", timeout=300)

    def check(self) -> None:
        """pgBackRest's own end-to-end check: the server archives a fresh WAL segment into the
        repository within archive-timeout."""
        self.run("check", timeout=300)

    def backup(self, type: str = "full", timeout: float | None = None) -> None:
        if type not in BACKUP_TYPES:
            raise BackupError(f"unknown backup type {type!r} (one of {', '.join(BACKUP_TYPES)})")
        self.run("backup", f"--type={type}", timeout=timeout)

    def restore(self, data_dir: str, *, target_time: datetime | None = None, delta: bool = False,
                archive_mode: str = "preserve", extra: Sequence[str] = (), timeout: float | None = None) -> None:
        """Restore the newest backup into ``data_dir`` and set the server up to replay the archive,
        to its end (``target_time`` None) or to ``target_time``; either way the server is promoted
        once it gets there. ``archive_mode`` 'off' keeps a trial restore from archiving into the
        repository it came from."""
        options = [f"--pg1-path={data_dir}", "--target-action=promote", f"--archive-mode={archive_mode}"]
        if target_time is not None:
            if target_time.tzinfo is None:
                raise BackupError("a restore target time needs a time zone")
            # The newest backup that ended before the target (pgBackRest picks it with --type=time).
            options += ["--type=time", f"--target={target_time.isoformat(sep=' ')}"]
        else:
            options = [o for o in options if not o.startswith("--target-action")]
        if delta:
            options.append("--delta")
        self.run("restore", *options, *extra, timeout=timeout)
