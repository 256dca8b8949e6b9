"""The pgBackRest configuration and the server settings that archive into it, for a cluster sru runs
itself (`make up`, the tests); compose and hand-made servers write the same lines
(docs/operations.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Repository:
    """One pgBackRest repository (a path: a second disk, an NFS mount) and the cluster it backs up."""
    repo_path: Path
    data_dir: Path
    port: int
    socket_dir: Path
    work_dir: Path  # pgBackRest's log and lock files
    stanza: str = "sru"
    retention_full: int = 2  # full backups kept (with the differentials and WAL they need)
    compress_type: str = "lz4"  # fast, about 3x on this schema; zst packs tighter for more CPU

    @property
    def config_path(self) -> Path:
        return self.work_dir / "pgbackrest.conf"

    def config_text(self) -> str:
        return (
            "[global]\n"
            f"repo1-path={self.repo_path}\n"
            f"repo1-retention-full={self.retention_full}\n"
            f"log-path={self.work_dir / 'log'}\n"
            f"lock-path={self.work_dir / 'lock'}\n"
            # A backup starts with an immediate checkpoint rather than waiting for the next one.
            "start-fast=y\n"
            # Compression and checksums on two processes: a backup is CPU-bound before it is disk-bound.
            "process-max=2\n"
            f"compress-type={self.compress_type}\n"
            "log-level-console=warn\n"
            "log-level-file=info\n"
            f"\n[{self.stanza}]\n"
            f"pg1-path={self.data_dir}\n"
            f"pg1-port={self.port}\n"
            f"pg1-socket-path={self.socket_dir}\n"
        )

    def archive_settings(self, archive_timeout_s: int = 60) -> dict[str, str]:
        """postgresql.conf lines that archive every WAL segment into this repository.

        ``archive_timeout`` bounds the data at risk: a segment is switched and archived at the
        latest that many seconds after its first write, so everything committed more than
        ``archive_timeout`` (plus the push's own time) before a loss is in the archive. Commits
        after that are only as safe as the data directory, unless a synchronous standby holds them
        (docs/operations.md)."""
        return {
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": f"'pgbackrest --config={self.config_path} --stanza={self.stanza} archive-push %p'",
            "archive_timeout": str(archive_timeout_s),
            "max_wal_senders": "10",
        }

    def write(self, owner: str | None = "postgres") -> Path:
        """Write the configuration file and make the directories pgBackRest writes, owned by
        ``owner`` (the server's user, which runs archive-push)."""
        import os
        import shutil

        if os.geteuid() != 0:
            owner = None  # only root can give files away; the caller then is the server's user
        for d in (self.repo_path, self.work_dir, self.work_dir / "log", self.work_dir / "lock"):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o750)
            if owner:
                shutil.chown(d, owner, owner)
        self.config_path.write_text(self.config_text())
        self.config_path.chmod(0o640)
        if owner:
            shutil.chown(self.config_path, owner, owner)
        return self.config_path
