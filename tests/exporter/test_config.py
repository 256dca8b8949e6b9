"""Flags, config file and their errors: every bad value is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import COLLECTORS, Settings, resolve
from sru.cli import build_parser
from sru.errors import ConfigError
from tests.support import proc


def settings(*argv: str) -> Settings:
    return resolve(build_parser().parse_args(["exporter", *argv]))


def test_defaults() -> None:
    s = settings()
    assert (s.listen_host, s.listen_port, s.telemetry_path) == ("0.0.0.0", 9847, "/metrics")
    assert s.collectors == COLLECTORS and s.processes_top == 10 and s.gpu_retry_interval == 60.0
    assert (s.users_top, s.users_group_system, s.users_uid_min) == (20, True, None)  # None: login.defs
    assert s.network_device_exclude.search("lo") and not s.network_device_exclude.search("eth0")


def test_flags_override_the_file_which_overrides_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "exporter.yml"
    cfg.write_text("collector.processes.top: 20\ncollector.gpu: false\nweb.telemetry-path: /m\n"
                   "collector.gpu.retry-interval: 2m\ncollector.network.device-exclude: ''\n")
    s = settings("--config.file", str(cfg), "--collector.processes.top", "3", "--no-collector.sessions")
    assert s.processes_top == 3 and s.telemetry_path == "/m" and s.gpu_retry_interval == 120.0
    assert "gpu" not in s.collectors and "sessions" not in s.collectors and "cpu" in s.collectors
    assert not s.network_device_exclude.search("lo")  # empty pattern: exclude nothing
    s = settings("--config.file", str(cfg), "--collector.gpu")
    assert "gpu" in s.collectors
    cfg.write_text("collector.users.top: 5\ncollector.users.group-system: false\ncollector.users.uid-min: 500\n")
    s = settings("--config.file", str(cfg), "--collector.users.uid-min", "auto")
    assert (s.users_top, s.users_group_system, s.users_uid_min) == (5, False, None)


@pytest.mark.parametrize("argv, message", [
    (["--web.listen-address", "localhost"], "--web.listen-address: 'localhost' is not HOST:PORT"),
    (["--web.listen-address", ":99999"], "--web.listen-address: port 99999 is out of range"),
    (["--web.telemetry-path", "metrics"], "--web.telemetry-path: 'metrics' must be a path"),
    (["--collector.processes.top", "0"], "--collector.processes.top: 0 is out of range 1-1000"),
    (["--collector.processes.top", "ten"], "--collector.processes.top: 'ten' is not an integer"),
    (["--collector.gpu.retry-interval", "soon"], "--collector.gpu.retry-interval: 'soon' is not a duration"),
    (["--collector.gpu.retry-interval", "0s"], "--collector.gpu.retry-interval: '0s' must be positive"),
    (["--collector.disk.device-exclude", "(sd"], "--collector.disk.device-exclude: invalid regular expression"),
    (["--collector.users.top", "0"], "--collector.users.top: 0 is out of range 1-1000"),
    (["--collector.users.uid-min", "people"], "--collector.users.uid-min: 'people' is not an integer"),
    (["--collector.users.uid-min", "-1"], "--collector.users.uid-min: -1 is out of range"),
])
def test_bad_flags_are_named(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        settings(*argv)
    assert message in str(exc.value)


@pytest.mark.parametrize("content, message", [
    ("collector.procesess.top: 3\n", "--config.file: collector.procesess.top: unknown setting"),
    ("--collector.gpu: false\n", "write keys without the leading '--'"),
    ("collector.gpu: 'no'\n", "--config.file: collector.gpu: must be true or false"),
    ("collector.processes.top: 2.5\n", "--config.file: collector.processes.top: 2.5 is not an integer"),
    ("collector.users.group-system: 'no'\n", "--config.file: collector.users.group-system: must be true or false"),
    ("collector.users.uid-min: [1]\n", "--config.file: collector.users.uid-min: [1] is not an integer"),
    ("collector.filesystem.fs-types-exclude: '[a'\n", "--config.file: collector.filesystem.fs-types-exclude: invalid"),
    ("- a\n", "must hold a mapping"),
    ("a: [\n", "is not valid YAML"),
])
def test_bad_config_file_values_are_named(tmp_path: Path, content: str, message: str) -> None:
    cfg = tmp_path / "exporter.yml"
    cfg.write_text(content)
    with pytest.raises(ConfigError) as exc:
        settings("--config.file", str(cfg))
    assert message in str(exc.value)


def test_cli_exits_1_with_the_option_named(tmp_path: Path) -> None:
    bad_web = tmp_path / "web.yml"
    bad_web.write_text("basic_auth_users:\n  prom: plaintext\n")
    for argv, message in ((["--collector.processes.top", "-1"], "--collector.processes.top"),
                          (["--web.config.file", str(bad_web)], "--web.config.file: basic_auth_users.prom")):
        r = proc.sru("exporter", *argv)
        assert r.returncode == 1, r.stderr
        assert message in r.stderr and "Traceback" not in r.stderr


def test_help_lists_node_exporter_style_flags() -> None:
    r = proc.sru("exporter", "--help")
    for flag in ("--web.listen-address", "--web.telemetry-path", "--web.config.file", "--config.file",
                 "--collector.processes.top", "--no-collector.gpu", "--collector.filesystem.fs-types-exclude"):
        assert flag in r.stdout
