#!/usr/bin/env python3
"""`make up`: a local sru stack on 127.0.0.1, in the foreground, until Ctrl-C.

PostgreSQL (+TimescaleDB) lives in <var>/pg and is reused by the next run; it is started with pg_ctl
before the other services (they need a migrated schema) and stopped after them. The other services
run under honcho from a generated Procfile. Ports can be moved with SRU_<NAME>_PORT variables.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))  # scripts/pgcluster.py ships with the repository, not with the package

from scripts.pgcluster import TIMESCALEDB, ClusterError, PgCluster, open_cluster  # noqa: E402

if TYPE_CHECKING:
    from backup.config import Repository

PORTS = {
    "postgres": 55432,
    "exporter": 9847,
    "adapter": 9848,
    "receiver": 9849,
    "prometheus": 9090,
    "alertmanager": 9093,
    "web": 9850,
    "backup": 9851,
}
# Login users of the local cluster, one per service, each in the narrowest group role that works.
LOGINS = {
    "sru_adapter": "data_collector",
    "sru_receiver": "data_collector",
    "sru_optimizer": "analyst",
    "sru_grafana": "dashboard_readonly",
    "sru_web": "web_console",
    # The backup exporter reads the server's statistics views and nothing of sru's tables.
    "sru_backup": "pg_monitor",
}
# WAL is switched and archived at least once a minute: at most that much is lost with the disk
# (docs/operations.md).
ARCHIVE_TIMEOUT_S = 60


def port(name: str) -> int:
    return int(os.environ.get(f"SRU_{name.upper()}_PORT", PORTS[name]))


def port_is_free(number: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", number))
        except OSError:
            return False
    return True


def log(msg: str) -> None:
    try:
        print(f"[sru up] {msg}", flush=True)
    except BrokenPipeError:
        _detach_stdout()


def _detach_stdout() -> None:
    """Whoever read our output (`make up | tee up.log`: tee dies first on Ctrl-C) is gone: write the
    rest nowhere rather than fail in the middle of stopping the stack."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def relay(source: IO[bytes]) -> None:
    """Copy honcho's output to ours until honcho exits. Honcho never writes to our stdout itself:
    when that is a pipe whose reader died, honcho's SIGINT handler failed on its first print
    ("SIGINT received") before it stopped a single service, and the stack stayed up."""
    out: IO[bytes] | None = sys.stdout.buffer
    for line in iter(source.readline, b""):
        if out is None:
            continue  # keep draining, or honcho blocks on a full pipe
        try:
            out.write(line)
            out.flush()
        except BrokenPipeError:
            _detach_stdout()
            out = None


def wait_stopping_on_interrupt(proc: subprocess.Popen[bytes]) -> int:
    """Wait for honcho; on Ctrl-C (or SIGTERM/SIGHUP, turned into KeyboardInterrupt by main) pass
    SIGINT on once more each time and keep waiting: honcho stops the services (SIGTERM, then
    SIGKILL after 5 s) and exits."""
    interrupted = False
    while True:
        try:
            rc = proc.wait()
        except KeyboardInterrupt:
            interrupted = True
            proc.send_signal(signal.SIGINT)
            continue
        return 0 if interrupted else rc


def ensure_cluster(var: Path) -> PgCluster:
    data = var / "pg"
    if not (data / "PG_VERSION").exists():
        log(f"creating PostgreSQL cluster in {data}")
    try:
        return open_cluster(data, TIMESCALEDB, port("postgres"))
    except ClusterError as exc:
        sys.exit(str(exc))


def backup_repository(var: Path, cluster: PgCluster) -> Repository:
    """pgBackRest's configuration for this cluster, the repository in $SRU_BACKUP_REPO (another disk,
    ideally) or <var>/backup, keeping $SRU_BACKUP_RETENTION_FULL full backups (default 2)."""
    from backup.config import Repository

    raw = os.environ.get("SRU_BACKUP_RETENTION_FULL", "2")
    if not raw.isdigit() or int(raw) < 1:
        sys.exit(f"SRU_BACKUP_RETENTION_FULL: {raw!r} is not a whole number of at least 1")
    repo = Repository(repo_path=Path(os.environ.get("SRU_BACKUP_REPO") or var / "backup").resolve(),
                      data_dir=cluster.datadir, port=cluster.port, socket_dir=cluster.datadir,
                      work_dir=var / "pgbackrest", retention_full=int(raw))
    repo.write()
    return repo


def enable_archiving(cluster: PgCluster, repo: Repository) -> None:
    """Archive into ``repo`` (ALTER SYSTEM, so a cluster made by an older `make up` gets it too);
    restart when archive_mode had to change."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        changed = restart = False
        for name, value in repo.archive_settings(ARCHIVE_TIMEOUT_S).items():
            want = value.strip("'")
            current, context = conn.execute("SELECT setting, context FROM pg_settings WHERE name = %s",
                                            (name,)).fetchone() or ("", "")
            if current != want:
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(want)))
                changed = True
                # archive_mode takes a restart. Asking pg_settings.pending_restart right after
                # pg_reload_conf() races the reload (it is a signal) and once read false here.
                restart = restart or context == "postmaster"
        if not changed:
            return
        conn.execute("SELECT pg_reload_conf()")
    if restart:
        log("restarting PostgreSQL to turn WAL archiving on")
        cluster.stop("fast")
        cluster.start()


def wait_for_recovery(cluster: PgCluster) -> None:
    """After `make restore`, the server first replays the WAL archive (read-only meanwhile)."""
    import time

    import psycopg

    announced = False
    while True:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:  # type: ignore[index]
                return
        if not announced:
            log("replaying the WAL archive after a restore; the stack starts when it is done")
            announced = True
        time.sleep(1)


def db_url(user: str = "postgres") -> str:
    return f"postgresql://{user}@127.0.0.1:{port('postgres')}/sru"


def console_url() -> str:
    """The web console as this stack serves it (for the links of notifications and dashboards)."""
    return f"http://127.0.0.1:{port('web')}"


def prepare_database() -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port('postgres')}/postgres",
                         autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'sru'").fetchone():
            conn.execute("CREATE DATABASE sru")
    subprocess.run([str(VENV_BIN / "sru"), "db", "migrate", "--database-url", db_url()], check=True)
    with psycopg.connect(db_url(), autocommit=True) as conn:
        for user, group in LOGINS.items():
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone():
                conn.execute(f'CREATE ROLE "{user}" LOGIN IN ROLE "{group}"')
        # The Grafana dashboards read the console's base URL from this setting of their login (their
        # hidden console_url variable; grafana/README.md), as compose's create-logins.sql sets it.
        conn.execute(sql.SQL("ALTER ROLE sru_grafana IN DATABASE sru SET sru.console_url = {}")
                     .format(sql.Literal(console_url())))


def prometheus_config(var: Path) -> Path:
    """prometheus.yml for the local stack: scrape the exporter, evaluate sru's rules, remote-write
    what the adapter stores."""
    import yaml

    from remote_write_adapter.rules import render_rules
    from remote_write_adapter.sample_config import remote_write

    # The recording rules at the stack's 10 s evaluation interval (shipped at 5m), plus every other
    # rule file; the node_exporter variant is for fleets without sru exporter.
    recording = var / "prometheus" / "sru-recording.yml"
    recording.parent.mkdir(parents=True, exist_ok=True)
    recording.write_text(render_rules("sru", "10s"))
    rule_files = [str(recording)] + sorted(str(p) for p in (ROOT / "rules").glob("*.yml")
                                           if not p.name.startswith("recording"))
    cfg: dict[str, Any] = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "10s",
                   "external_labels": {"sru_stack": "local"}},
        "rule_files": rule_files,
        "scrape_configs": [
            {"job_name": "sru", "static_configs": [
                {"targets": [f"127.0.0.1:{port('exporter')}"], "labels": {"location": "local"}}]},
        ],
        # The sample config's relabelling: only the sru:* series the adapter stores.
        "remote_write": [remote_write(f"http://127.0.0.1:{port('adapter')}/api/v1/write")],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{port('alertmanager')}"]}]}]},
    }
    # Backups, archiving and replication (rules/alerts-backup.yml).
    cfg["scrape_configs"].append({"job_name": "backup", "static_configs": [
        {"targets": [f"127.0.0.1:{port('backup')}"]}]})
    # Prometheus scrapes itself: the remote-write alerts read its prometheus_remote_storage_* series.
    cfg["scrape_configs"].append({"job_name": "prometheus", "static_configs": [
        {"targets": [f"127.0.0.1:{port('prometheus')}"]}]})
    path = var / "prometheus" / "prometheus.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def prepare_alerting(var: Path) -> Path:
    """alertmanager.yml for the local stack (the shipped route tree, everything delivered to the local
    receiver; Slack and email receivers kept but empty, having no secrets here), and the alert_rules
    catalog synced from the rule files."""
    import yaml

    from alertmanager.config import load_shipped, localize

    cfg = localize(load_shipped(), webhook_url=f"http://127.0.0.1:{port('receiver')}/api/v1/alerts",
                   secrets_dir=var / "alertmanager" / "secrets", drop_receivers=("email", "slack"))
    path = var / "alertmanager" / "alertmanager.yml"
    # The notification links' base URLs, as a site template (the shipped config loads site/*.tmpl
    # last): the console on the port this stack gives it.
    site = var / "alertmanager" / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "urls.tmpl").write_text(
        f'{{{{ define "sru.console.url" }}}}{console_url()}{{{{ end }}}}\n')
    cfg["templates"] = [t for t in cfg["templates"] if not t.endswith("site/*.tmpl")] + [str(site / "*.tmpl")]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    subprocess.run([str(VENV_BIN / "sru"), "rules", "sync", "--database-url", db_url()], check=True)
    return path


def prepare_web(var: Path) -> tuple[Path, Path, str]:
    """The console's accounts file (one operator, "admin", with a random password kept in
    var/web/admin-password) and session key, made once and reused by later runs."""
    import secrets

    import bcrypt
    import yaml

    web = var / "web"
    web.mkdir(parents=True, exist_ok=True)
    web.chmod(0o700)
    accounts, key, password_file = web / "accounts.yml", web / "secret_key", web / "admin-password"
    if not accounts.exists():
        password = secrets.token_urlsafe(12)
        password_file.write_text(password + "\n")
        accounts.write_text(yaml.safe_dump({"accounts": {"admin": {
            "password_hash": bcrypt.hashpw(password.encode(), bcrypt.gensalt(12)).decode(), "role": "operator"}}}))
    if not key.exists():
        key.write_text(secrets.token_hex(32) + "\n")
    for f in (accounts, key, password_file):
        if f.exists():
            f.chmod(0o600)
    note = f"log in as admin, password in {password_file}" if password_file.exists() else "accounts in " + str(accounts)
    return accounts, key, note


def procfile(var: Path, repo: Repository) -> list[tuple[str, str, str]]:
    """(name, command, where it listens) for every service honcho runs."""
    sru = VENV_BIN / "sru"
    every = os.environ.get("SRU_BACKUP_EVERY", "24h")
    prom_cfg = prometheus_config(var)
    am_cfg = prepare_alerting(var)
    accounts, key, web_note = prepare_web(var)
    return [
        ("exporter", f"{sru} exporter --web.listen-address 127.0.0.1:{port('exporter')}",
         f"http://127.0.0.1:{port('exporter')}/metrics"),
        ("adapter", f"{sru} adapter --web.listen-address 127.0.0.1:{port('adapter')} "
                    f"--database-url {db_url('sru_adapter')}",
         f"http://127.0.0.1:{port('adapter')}/api/v1/write"),
        ("prometheus", f"prometheus --config.file={prom_cfg} --storage.tsdb.path={var}/prometheus/data "
                       f"--web.listen-address=127.0.0.1:{port('prometheus')} --web.enable-lifecycle",
         f"http://127.0.0.1:{port('prometheus')}/"),
        ("alertmanager", f"prometheus-alertmanager --config.file={am_cfg} "
                         f"--storage.path={var}/alertmanager/data --cluster.listen-address= "
                         f"--web.listen-address=127.0.0.1:{port('alertmanager')}",
         f"http://127.0.0.1:{port('alertmanager')}/"),
        ("receiver", f"{sru} alert-receiver --web.listen-address 127.0.0.1:{port('receiver')} "
                     f"--database-url {db_url('sru_receiver')} "
                     f"--alertmanager.url http://127.0.0.1:{port('alertmanager')}",
         f"http://127.0.0.1:{port('receiver')}/api/v1/alerts"),
        ("web", f"{sru} web --web.listen-address 127.0.0.1:{port('web')} --database-url {db_url('sru_web')} "
                f"--web.accounts-file {accounts} --web.secret-key-file {key} "
                f"--alertmanager.url http://127.0.0.1:{port('alertmanager')}",
         f"http://127.0.0.1:{port('web')}/ ({web_note})"),
        # Summaries, anomalies and recommendations every 5 minutes, as the analyst role.
        ("optimizer", f"{sru} optimize --every 5m --no-progress --database-url {db_url('sru_optimizer')}",
         "`sru report --format html` for its findings"),
        # A backup now (full the first time and weekly, else differential) and every $SRU_BACKUP_EVERY.
        ("backup", f"{sru} db backup --every {every} --pgbackrest-config {repo.config_path}",
         f"repository {repo.repo_path}, every {every} (`sru db backup-status --database-url {db_url()} "
         f"--pgbackrest-config {repo.config_path}`)"),
        ("backup-exporter", f"{sru} backup-exporter --database-url {db_url('sru_backup')} "
                            f"--pgbackrest-config {repo.config_path} "
                            f"--web.listen-address 127.0.0.1:{port('backup')}",
         f"http://127.0.0.1:{port('backup')}/metrics"),
    ]


def main() -> int:
    # A closed terminal or `kill` stops the stack the way Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.default_int_handler)
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--var", default=os.environ.get("SRU_VAR", "var"), help="data directory (default ./var)")
    ap.add_argument("--demo-data", action="store_true", default=bool(os.environ.get("SRU_DEMO_DATA")),
                    help="load demo history first (sru demo-data --hosts 50 --days 90 --interval 5m)")
    args = ap.parse_args()
    var = Path(args.var).resolve()
    var.mkdir(parents=True, exist_ok=True)
    var.chmod(0o755)
    busy = [name for name in PORTS if not port_is_free(port(name))]
    if busy:
        for name in busy:
            log(f"port {port(name)} for {name} is in use: set SRU_{name.upper()}_PORT to another port")
        return 1
    cluster = ensure_cluster(var)
    try:
        wait_for_recovery(cluster)
        repo = backup_repository(var, cluster)
        enable_archiving(cluster, repo)
        prepare_database()
        if args.demo_data:
            subprocess.run([str(VENV_BIN / "sru"), "demo-data", "--database-url", db_url(), "--hosts", "50",
                            "--days", "90", "--interval", "5m"], check=True)
        services = procfile(var, repo)
        (var / "Procfile").write_text("".join(f"{n}: {c}\n" for n, c, _ in services))
        log(f"postgres     postgresql://127.0.0.1:{port('postgres')}/sru (data in {cluster.datadir})")
        for name, _, where in services:
            log(f"{name:<12} {where}")
        log("Ctrl-C stops everything")
        # Its own session: the terminal's Ctrl-C reaches honcho only through us, exactly once.
        proc = subprocess.Popen([str(VENV_BIN / "honcho"), "-f", str(var / "Procfile"), "-d", str(ROOT),
                                 "start"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        relaying = threading.Thread(target=relay, args=(proc.stdout,), name="honcho-output", daemon=True)
        relaying.start()
        rc = wait_stopping_on_interrupt(proc)
        relaying.join(5)
        return rc
    finally:
        cluster.stop("fast")
        log("stopped")


if __name__ == "__main__":
    sys.exit(main())
