"""PostgreSQL (+TimescaleDB) clusters run with pg_ctl as the ``postgres`` user (PostgreSQL refuses to
run as root): the one implementation behind the test fixtures (tests/fixtures/postgres.py), bench/
and `make up` (scripts/up.py). Standard library and psycopg only.

The TimescaleDB license is a *server* setting, so one community-edition build runs as two servers:
``timescaledb.license = 'apache'`` (tiers plain and apache) and the build's default ``'timescale'``
(tier full). Throwaway clusters (:func:`start_cluster`) trade durability for speed; a kept one
(:func:`open_cluster`) lives in a directory of the caller's and survives the run.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from pathlib import Path

from scripts.proc import CommandFailed, log_tail, run

# Durability is not under test or bench; speed is.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "shared_buffers": "256MB"}


class ClusterError(RuntimeError):
    """PostgreSQL is not installed, or a cluster would not start."""


def pg_bindir() -> Path:
    """The newest installed server's bin directory, or ``$SRU_PG_BINDIR``."""
    explicit = os.environ.get("SRU_PG_BINDIR")
    if explicit:
        return Path(explicit)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise ClusterError("PostgreSQL server binaries not found under /usr/lib/postgresql: "
                           "install them (`make deps`)")
    return Path(candidates[-1]).parent


def timescaledb_installed(bindir: Path) -> bool:
    return Path(f"/usr/share/postgresql/{bindir.parent.name}/extension/timescaledb.control").exists()


def community_edition_missing(bindir: Path | None = None) -> str | None:
    """Why tier ``full`` cannot run here, or None when the community edition is installed."""
    bindir = bindir or pg_bindir()
    version = bindir.parent.name
    if not timescaledb_installed(bindir):
        return f"TimescaleDB is not installed for PostgreSQL {version}"
    if not glob.glob(f"/usr/lib/postgresql/{version}/lib/timescaledb-tsl-*.so"):
        return ("only the Apache edition of TimescaleDB is installed (no timescaledb-tsl library): "
                "run `make test` with SRU_TIMESCALEDB_SOURCE set to a timescaledb-X.Y.Z.tar.gz")
    return None


# TimescaleDB loaded, the license and the job scheduler left to the build (as in production).
TIMESCALEDB = {"shared_preload_libraries": "'timescaledb'", "timescaledb.telemetry_level": "off"}


def timescaledb_settings(license: str | None) -> dict[str, str]:
    """postgresql.conf lines of a test or bench server for ``license`` ('apache', 'timescale' or
    None: no TimescaleDB)."""
    if license is None:
        return {}
    settings = dict(TIMESCALEDB)
    if license == "timescale":
        # Left at the build's default ('timescale'), as in the compose image: a fresh database then
        # shows no license at all until TimescaleDB is loaded, which tier detection must see through.
        # No job scheduler: tests run policies themselves with CALL run_job(), so nothing changes
        # under a test's feet.
        settings["timescaledb.max_background_workers"] = "0"
    else:
        settings["timescaledb.license"] = f"'{license}'"
    return settings


@dataclass
class PgCluster:
    bindir: Path
    datadir: Path
    port: int
    host: str = "127.0.0.1"
    timescaledb: bool = False
    log_path: InitVar[Path | None] = None  # default: postgres.log beside the data directory
    log: Path = field(init=False)

    def __post_init__(self, log_path: Path | None) -> None:
        self.log = log_path or self.datadir.parent / "postgres.log"

    def url(self, dbname: str = "postgres", user: str = "postgres", port: int | None = None) -> str:
        """``port``: another port that leads to this server (a proxy's)."""
        return f"postgresql://{user}@{self.host}:{port or self.port}/{dbname}"

    def _pg_ctl(self, *args: str) -> None:
        run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args], as_postgres=True)

    def start(self) -> None:
        """Start and wait until it accepts connections; a server that exits fails at once, with its log."""
        try:
            self._pg_ctl("-l", str(self.log), "-o", f"-p {self.port}", "-w", "-t", "60", "start")
        except CommandFailed as exc:
            raise ClusterError(f"PostgreSQL in {self.datadir} did not start: {exc}\n"
                               f"--- {self.log}:\n{log_tail(self.log)}") from exc

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        return run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "status"],
                   as_postgres=True, check=False).returncode == 0


def init_cluster(datadir: Path, settings: Mapping[str, str], bindir: Path | None = None) -> None:
    """initdb ``datadir`` (owned by postgres, trust auth on loopback) and append ``settings``."""
    bindir = bindir or pg_bindir()
    datadir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    datadir.chmod(0o700)
    run([str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
         "--locale=C.UTF-8"], as_postgres=True)
    base = {"listen_addresses": "'127.0.0.1'", "unix_socket_directories": f"'{datadir}'", "timezone": "'UTC'"}
    conf = "".join(f"{k} = {v}\n" for k, v in {**base, **settings}.items())
    run(["sh", "-c", f"cat >> {datadir}/postgresql.conf"], as_postgres=True, input=conf)


def start_cluster(license: str | None = "apache") -> PgCluster:
    """A new throwaway cluster on a free port; ``license`` is the server's ``timescaledb.license``
    ('apache' or 'timescale'), or None for plain PostgreSQL without TimescaleDB preloaded. Remove it
    with :func:`shutdown_cluster`."""
    bindir = pg_bindir()
    base = Path(tempfile.mkdtemp(prefix="sru-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")  # the server writes its log here
    datadir = base / "data"
    tsdb = timescaledb_installed(bindir) and license is not None
    port = _free_port()
    init_cluster(datadir, {"max_connections": "300", **FAST, "port": str(port),
                           **timescaledb_settings(license if tsdb else None)}, bindir)
    cluster = PgCluster(bindir=bindir, datadir=datadir, port=port, timescaledb=tsdb)
    cluster.start()
    return cluster


def open_cluster(datadir: Path, settings: Mapping[str, str], port: int | None = None, *,
                 log: Path | None = None) -> PgCluster:
    """A cluster kept in ``datadir`` across runs: created on the first call, started if stopped.
    ``settings``: postgresql.conf lines written when it is created. ``port``: given at each start, so
    it may change between runs; None: a free port chosen when the cluster is created and kept in its
    postgresql.conf (so a later run finds a running cluster)."""
    bindir = pg_bindir()
    datadir = datadir.resolve()
    if not (datadir / "PG_VERSION").exists():
        kept_port = {} if port is not None else {"port": str(_free_port())}
        init_cluster(datadir, {**settings, **kept_port}, bindir)
    if port is None:
        port = _configured_port(datadir)
    cluster = PgCluster(bindir=bindir, datadir=datadir, port=port,
                        timescaledb="timescaledb" in settings.get("shared_preload_libraries", ""),
                        log_path=log or datadir / "postgres.log")
    if not cluster.is_running():
        cluster.start()
    return cluster


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _configured_port(datadir: Path) -> int:
    lines = (datadir / "postgresql.conf").read_text().splitlines()
    ports = [line.split("=", 1)[1].split("#")[0].strip() for line in lines if line.startswith("port = ")]
    if not ports:
        raise ClusterError(f"{datadir}/postgresql.conf sets no port")
    return int(ports[-1])


def shutdown_cluster(cluster: PgCluster) -> None:
    """Stop a throwaway cluster at once and remove it."""
    if cluster.is_running():
        cluster.stop("immediate")
    shutil.rmtree(cluster.datadir.parent, ignore_errors=True)


def migrate_template(cluster: PgCluster, name: str, timescaledb: str) -> str:
    """(Re)create database ``name``, migrate it (``timescaledb``: migrate's flag) and make it a
    template nobody is connected to; returns the tier."""
    import psycopg

    from sru.migrate import migrate

    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(cluster.url(name), autocommit=True) as conn:
        tier = migrate(conn, timescaledb=timescaledb).tier
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        # No connections: TimescaleDB's scheduler stays out, so CREATE DATABASE … TEMPLATE works.
        conn.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
    return tier
