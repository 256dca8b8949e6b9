"""The docker-compose deployment, checked without a Docker engine: Debian's docker-compose 1.29
validates and resolves the file; the resolved services are checked for what the deployment promises
(pinned images, health checks, restart policies, start order, the exporter's host access, secrets
from the env file); every sru command line parses with the real CLI; Prometheus's config passes
promtool with the repository's rules; the login script runs against a real migrated database."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.support.proc import run

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
LONG_RUNNING = {"timescaledb", "adapter", "alert-receiver", "web", "optimizer", "exporter", "prometheus",
                "alertmanager", "grafana", "backup", "backup-exporter", "timescaledb-standby"}
ONE_SHOT = {"migrate", "db-logins", "rules-sync"}


def mounts(svc: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """target -> (source, read-only) from compose v1's resolved short syntax ``src:target[:mode]``."""
    out = {}
    for vol in svc.get("volumes", []):
        if isinstance(vol, dict):
            out[vol["target"]] = (vol.get("source", ""), bool(vol.get("read_only")))
            continue
        source, target, *mode = vol.split(":")
        out[target] = (source, "ro" in ",".join(mode).split(","))
    return out


def compose_config(env_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRU_", "POSTGRES_", "GRAFANA_"))}
    return run([COMPOSE, "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"),
                "--env-file", str(env_file), "config", *extra], env=env, cwd=ROOT, check=False)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    r = compose_config(ROOT / ".env.example")
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


def test_services(config):
    assert set(config["services"]) == LONG_RUNNING | ONE_SHOT


def test_images_pinned_and_timescaledb_full_edition(config):
    for name, svc in config["services"].items():
        image = svc["image"]
        if "build" in svc:
            assert image.startswith("sru"), name  # built from this repository's Dockerfile
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and re.match(r"v?\d+\.\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"
    # The database image is the pinned TimescaleDB image plus pgBackRest; "-oss" images are the Apache
    # edition: no compression, continuous aggregates or policies.
    (base,) = re.findall(r"^FROM (\S+)$", (ROOT / "deploy/postgres/Dockerfile").read_text(), re.M)
    assert base.startswith("timescale/timescaledb:") and "oss" not in base and "-pg" in base
    assert re.match(r"timescale/timescaledb:\d+\.\d+\.\d+-pg\d+$", base)
    assert config["services"]["timescaledb"]["image"] == "sru-timescaledb:" + base.split(":")[1]


def test_health_checks_restart_policies_and_start_order(config):
    services = config["services"]
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped", name
    for name in LONG_RUNNING - {"optimizer"}:
        assert services[name]["healthcheck"]["test"], name
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no", name
    assert services["migrate"]["depends_on"] == {"timescaledb": {"condition": "service_healthy"}}
    assert services["db-logins"]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    for name in ("adapter", "alert-receiver", "web", "optimizer", "grafana"):
        deps = services[name]["depends_on"]
        assert deps["timescaledb"] == {"condition": "service_healthy"}, name
        assert deps["db-logins"] == {"condition": "service_completed_successfully"}, name


def test_exporter_sees_the_host(config):
    exporter = config["services"]["exporter"]
    assert exporter["pid"] == "host" and exporter["network_mode"] == "host"
    m = mounts(exporter)
    assert m["/host/proc"] == ("/proc", True) and m["/sys"] == ("/sys", True)
    assert "--path.procfs" in exporter["command"]
    devices = exporter["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu", "utility"]}]


def _login(url: str) -> str:
    m = re.match(r"postgresql://([^:]+):", url)
    assert m, url
    return m[1]


def test_services_connect_as_their_own_login(config):
    services = config["services"]
    users = {name: _login(services[name]["environment"]["SRU_DATABASE_URL"])
             for name in ("migrate", "rules-sync", "adapter", "alert-receiver", "web", "optimizer", "backup-exporter")}
    assert users == {"migrate": "postgres", "rules-sync": "postgres", "adapter": "sru_adapter", "alert-receiver": "sru_receiver",
                     "web": "sru_web", "optimizer": "sru_optimizer", "backup-exporter": "sru_backup"}
    assert services["grafana"]["environment"]["SRU_GRAFANA_DB_USER"] == "sru_grafana"


def test_secrets_only_from_env_file(tmp_path):
    # Without the passwords, compose refuses and names the missing variable.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    r = compose_config(empty)
    assert r.returncode != 0 and "POSTGRES_PASSWORD" in r.stderr
    # The values come through from the env file.
    env = tmp_path / "real.env"
    env.write_text((ROOT / ".env.example").read_text().replace("change-me-grafana\n", "s3cret-graf\n"))
    r = compose_config(env)
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    assert cfg["services"]["grafana"]["environment"]["SRU_GRAFANA_DB_PASSWORD"] == "s3cret-graf"
    # No password is written into the repository's files.
    compose_text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in compose_text
    ignored = run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, ".env must be git-ignored"
    ignored = run(["git", "check-ignore", "-q", "deploy/secrets/receiver_token"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, "deploy/secrets/* must be git-ignored"


def test_bind_mounts_exist_in_the_repository(config):
    for name, svc in config["services"].items():
        for _target, (source, read_only) in mounts(svc).items():
            if source.startswith(str(ROOT)):
                assert Path(source).exists(), f"{name}: {source} is missing"
                assert read_only, f"{name}: {source} should be mounted read-only"


def test_grafana_gets_every_variable_its_provisioning_reads(config):
    env = config["services"]["grafana"]["environment"]
    text = (ROOT / "grafana/provisioning/datasources/sru.yml").read_text()
    wanted = set(re.findall(r"\$\{(\w+)\}", text))
    assert wanted and wanted <= set(env), wanted - set(env)
    assert env["SRU_GRAFANA_DB_HOST"] == "timescaledb:5432"


def test_sru_command_lines_parse_with_the_real_cli(config):
    from sru.cli import build_parser

    parser = build_parser()
    checked = 0
    for name, svc in config["services"].items():
        if svc.get("build", {}).get("context") != str(ROOT):
            continue  # not the sru image (the database image is built from deploy/postgres)
        args = parser.parse_args(svc["command"])
        assert getattr(args, "func", None), f"{name}: {svc['command']} selects no command"
        checked += 1
    assert checked == 8  # migrate, rules-sync, adapter, alert-receiver, web, optimizer, exporter, backup-exporter


def test_prometheus_config_passes_promtool_with_the_rules(tmp_path):
    # promtool resolves rule files on this machine: point the container paths at the checkout.
    cfg = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    cfg["rule_files"] = [str(ROOT / "rules" / Path(p).name) for p in cfg["rule_files"]]
    for sc in cfg["scrape_configs"]:
        for sd in sc.get("file_sd_configs", []):
            sd["files"] = [str(ROOT / "deploy/prometheus/targets" / Path(f).name) for f in sd["files"]]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg))
    r = run([PROMTOOL, "check", "config", str(path)], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr
    # Alert rules treat job names starting with "sru" as hosts; only exporter jobs may use them.
    assert [sc["job_name"] for sc in cfg["scrape_configs"] if sc["job_name"].startswith("sru")] == ["sru"]
    targets = yaml.safe_load((ROOT / "deploy/prometheus/targets/docker-host.yml").read_text())
    assert targets[0]["targets"] == ["host.docker.internal:9847"]


def test_dockerignore_keeps_every_package_and_the_dockerfile_installs_the_extras():
    pyproject = (ROOT / "pyproject.toml").read_text()
    ignore = (ROOT / ".dockerignore").read_text().split()
    top_dirs = {"sru", "sql", "rules", "exporter", "remote_write_adapter", "alertmanager", "optimizer", "web", "backup"}
    for d in top_dirs:
        assert f"!{d}/" in ignore, d
    assert "README.md" in pyproject and "!README.md" in ignore
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "'.[server,exporter]'" in dockerfile and "USER 10001" in dockerfile
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim", dockerfile, re.M)


def test_login_script_creates_least_privilege_users(tsdb_database):
    """deploy/postgres/create-logins.sql through the real psql against a migrated database, twice."""
    cluster = tsdb_database.cluster
    psql = cluster.bindir / "psql"
    if not psql.exists():
        psql = Path(shutil.which("psql") or "/usr/bin/psql")
    for password in ("first", "second"):
        r = run(
            [str(psql), "--no-psqlrc", f"--host={cluster.host}", f"--port={cluster.port}", "--username=postgres",
             f"--dbname={tsdb_database.name}", *(f"--set={k}_password={password}-{k}" for k in
                                                ("adapter", "receiver", "optimizer", "grafana", "web", "backup",
                                                 "replication")),
             f"--file={ROOT / 'deploy/postgres/create-logins.sql'}"], check=False)
        assert r.returncode == 0, r.stdout + r.stderr
    with psycopg.connect(tsdb_database.url) as conn:
        members: dict[str, list[str]] = dict(conn.execute("""
            SELECT u.rolname, array_agg(g.rolname ORDER BY g.rolname)
              FROM pg_roles u JOIN pg_auth_members m ON m.member = u.oid JOIN pg_roles g ON g.oid = m.roleid
             WHERE u.rolname IN ('sru_adapter', 'sru_receiver', 'sru_optimizer', 'sru_grafana', 'sru_web',
                                 'sru_backup', 'sru_replicator')
             GROUP BY u.rolname""").fetchall())
        assert members == {"sru_adapter": ["data_collector"], "sru_receiver": ["data_collector"],
                           "sru_optimizer": ["analyst"], "sru_grafana": ["dashboard_readonly"],
                           "sru_web": ["web_console"], "sru_backup": ["pg_monitor"]}
        # The standby's login may stream WAL and nothing else.
        assert conn.execute("SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = 'sru_replicator'"
                            ).fetchone() == (True, False)
        assert conn.execute("SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles "
                            "WHERE rolname = 'sru_grafana'").fetchone() == (False,)
    grafana_url = cluster.url(tsdb_database.name, "sru_grafana")
    with psycopg.connect(grafana_url, autocommit=True) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        conn.execute("SELECT count(*) FROM usage_metrics, sru_host_status")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TEMP TABLE t (x int)")
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO systems (hostname) VALUES ('x')")


def test_wal_is_archived_and_backed_up_with_one_pgbackrest(config):
    """The server archives with pgBackRest into the repository the backup service writes, which reads
    the data volume read-only over the server's socket, with one configuration file whose stanza
    points at the mounted data directory; the exporter reads the status file the backup service
    writes; the standby is optional (a profile)."""
    services = config["services"]
    db, backup, exporter = services["timescaledb"], services["backup"], services["backup-exporter"]
    command = " ".join(db["command"])
    assert "archive_mode=on" in command and "archive_command=pgbackrest --stanza=sru archive-push %p" in command
    assert "archive_timeout=60" in command
    db_mounts, backup_mounts = mounts(db), mounts(backup)
    assert db_mounts["/var/lib/pgbackrest"] == backup_mounts["/var/lib/pgbackrest"] == ("backups", False)
    assert backup_mounts["/var/lib/postgresql/data"] == (db_mounts["/var/lib/postgresql/data"][0], True)
    assert db_mounts["/var/run/postgresql"] == backup_mounts["/var/run/postgresql"]
    assert backup["image"] == db["image"] and backup["user"] == "postgres"
    conf = (ROOT / "deploy/postgres/pgbackrest.conf").read_text()
    assert "pg1-path=/var/lib/postgresql/data" in conf and "repo1-path=/var/lib/pgbackrest" in conf
    assert db_mounts["/etc/pgbackrest/pgbackrest.conf"][1] and backup_mounts["/etc/pgbackrest/pgbackrest.conf"][1]
    assert mounts(exporter)["/var/lib/sru-backup"] == (backup_mounts["/var/lib/sru-backup"][0], True)
    assert "/var/lib/sru-backup/info.json" in exporter["command"]
    assert services["timescaledb-standby"]["profiles"] == ["standby"]
    for script in ("backup-loop.sh", "standby-entrypoint.sh", "replication-hba.sh"):
        r = run(["sh", "-n", str(ROOT / "deploy/postgres" / script)], check=False)
        assert r.returncode == 0, r.stderr
    # A host directory on another disk instead of the named volume.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRU_", "POSTGRES_", "GRAFANA_"))}
    r = run([COMPOSE, "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"), "--env-file",
             str(ROOT / ".env.example"), "config"], env={**env, "SRU_BACKUP_REPO": "/mnt/backup/sru"}, cwd=ROOT,
            check=False)
    assert r.returncode == 0, r.stderr
    moved = yaml.safe_load(r.stdout)["services"]
    assert mounts(moved["timescaledb"])["/var/lib/pgbackrest"] == ("/mnt/backup/sru", False)
    assert mounts(moved["backup"])["/var/lib/pgbackrest"] == ("/mnt/backup/sru", False)
