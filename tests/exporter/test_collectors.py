"""Each host collector against a fake source, checked against its golden exposition file."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from exporter import config
from exporter.collectors import ScrapeCollector
from exporter.cpu import CpuCollector
from exporter.disk import DEFAULT_DEVICE_EXCLUDE as DISK_DEFAULT
from exporter.disk import DiskCollector
from exporter.filesystem import DEFAULT_FS_TYPES_EXCLUDE, DEFAULT_MOUNT_POINTS_EXCLUDE, FilesystemCollector
from exporter.memory import MemoryCollector
from exporter.network import DEFAULT_DEVICE_EXCLUDE as NET_DEFAULT
from exporter.network import NetworkCollector
from exporter.nvml import Nvml
from exporter.processes import ProcessesCollector
from exporter.sessions import SessionsCollector
from exporter.system import SystemCollector
from tests.exporter.fakes import FakeGpu, FakeNvml, FakePsutil, set_cpu, write_proc
from tests.exporter.golden import GOLDEN, assert_golden, render
from tests.support import proc

DISKSTATS = """\
   7       0 loop0 10 0 80 1 0 0 0 0 0 1 1 0 0 0 0
 254       0 vda 78196 26437 3248330 34710 20935 25709 2981632 10417 0 23452 50332 10143 40 653280 5116 5248 86
 254       1 vda1 70000 0 3000000 30000 20000 0 2900000 10000 0 20000 40000
 259       0 nvme0n1 5 0 40 0 7 0 56 0 1 2500 3000
 259       1 nvme0n1p1 5 0 40 0 7 0 56 0 0 2500 3000
 253       0 dm-0 1 0 8 0 1 0 8 0 0 1 1
   8      16 sdb 1 2 3 4 5 6 7 8 9 10 11
 251       0 zram0 0 0 0 0 0 0 0 0 0 0 0
"""


def test_cpu() -> None:
    assert_golden("cpu", render(CpuCollector(FakePsutil())))


def test_cpu_without_sensors_or_frequency() -> None:
    ps = FakePsutil()
    ps.temps = {}
    ps.freqs = None  # psutil's answer where it cannot read frequencies
    text = render(CpuCollector(ps))
    assert "sru_cpu_temperature_celsius{" not in text and "sru_cpu_frequency_hertz{" not in text
    assert 'sru_cpu_seconds_total{cpu="1",mode="steal"} 0.125' in text


def test_memory() -> None:
    assert_golden("memory", render(MemoryCollector(FakePsutil())))


def test_disk(tmp_path: Path) -> None:
    proc = write_proc(tmp_path, [], diskstats=DISKSTATS)
    text = render(DiskCollector(str(proc)))
    assert_golden("disk", text)
    assert set(re.findall(r'device="([^"]+)"', text)) == {"vda", "nvme0n1", "sdb"}


def test_disk_exclude_pattern_is_configurable(tmp_path: Path) -> None:
    proc = write_proc(tmp_path, [], diskstats=DISKSTATS)
    text = render(DiskCollector(str(proc), re.compile("^vda$")))
    assert 'device="vda"' not in text and 'device="vda1"' in text and 'device="loop0"' in text


def test_filesystem() -> None:
    text = render(FilesystemCollector(FakePsutil()))
    assert_golden("filesystem", text)
    # Pseudo filesystems and docker's mounts are left out; a stale NFS mount is skipped, not fatal.
    assert set(re.findall(r'mountpoint="([^"]+)"', text)) == {"/", "/run", "/data"}


def test_network() -> None:
    text = render(NetworkCollector(FakePsutil()))
    assert_golden("network", text)
    assert set(re.findall(r'device="([^"]+)"', text)) == {"eth0", "wlan0"}


def test_sessions() -> None:
    text = render(SessionsCollector(FakePsutil()))
    assert_golden("sessions", text)
    # The duplicate alice pts/0 session keeps the earlier login time.
    assert 'sru_session_login_time_seconds{remote_host="10.0.0.5",terminal="pts/0",user="alice"} 1.699999e+09' in text


def _system(tmp_path: Path, nvml: Nvml | None) -> SystemCollector:
    proc = write_proc(tmp_path / "proc", [], cpuinfo="processor\t: 0\nvendor_id\t: GenuineIntel\n"
                                                     "model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\n")
    (tmp_path / "os-release").write_text('NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    uname = type("uname", (), {"release": "6.1.0-18-amd64", "machine": "x86_64"})
    return SystemCollector(FakePsutil(), nvml, str(proc), os_release=[str(tmp_path / "missing"), str(tmp_path / "os-release")],
                           hostname=lambda: "lab-ws-07", uname=uname)


def test_system_without_gpus(tmp_path: Path) -> None:
    assert_golden("system", render(_system(tmp_path, Nvml(loader=lambda: FakeNvml(init_error=12)))))


def test_system_with_gpus(tmp_path: Path) -> None:
    nv = FakeNvml([FakeGpu("NVIDIA A100-SXM4-40GB", "GPU-a"), FakeGpu("NVIDIA A100-SXM4-40GB", "GPU-b"),
                   FakeGpu("NVIDIA GeForce RTX 4090", "GPU-c")])
    text = render(_system(tmp_path, Nvml(loader=lambda: nv)))
    assert 'gpu_model="NVIDIA A100-SXM4-40GB, NVIDIA GeForce RTX 4090"' in text
    assert "sru_system_gpus 3.0" in text


def _procs() -> list[dict[str, int | str]]:
    # rss in 4 KiB pages, cpu in ticks of 100 Hz.
    procs: list[dict[str, int | str]] = [{"pid": 1, "comm": "systemd", "utime": 500, "stime": 500, "start": 1, "rss": 3000},
             {"pid": 42, "comm": "python3 (worker)", "utime": 10, "stime": 0, "start": 900, "rss": 500_000},
             {"pid": 77, "comm": "idle-daemon", "utime": 0, "stime": 0, "start": 950, "rss": 10}]
    procs += [{"pid": 1000 + i, "comm": f"job{i}", "utime": 100 * i, "stime": 0, "start": 1000 + i, "rss": 1000 + i}
              for i in range(6)]
    return procs


def test_processes_top_n(tmp_path: Path) -> None:
    proc = write_proc(tmp_path, _procs())
    collector = ProcessesCollector(str(proc), top=3, user_name=lambda uid: "alice", clock_ticks=100, page_size=4096)
    first = render(collector)
    assert_golden("processes", first)
    # First scrape ranks by lifetime CPU: systemd (1000 ticks), job5, job4; by memory: python3, job5, systemd.
    assert set(re.findall(r'pid="(\d+)"', first)) == {"1", "1005", "1004", "42"}
    # Then job0 becomes the busiest since the previous scrape and enters the set, job4 leaves it.
    set_cpu(proc, 1000, 5000)
    second = render(collector)
    assert set(re.findall(r'pid="(\d+)"', second)) == {"1000", "1005", "1", "42"}
    assert 'sru_process_cpu_seconds_total{name="job0",pid="1000",user="alice"} 50.0' in second


def test_processes_label_set_stays_bounded(tmp_path: Path) -> None:
    procs = [{"pid": 10 + i, "comm": f"p{i}", "utime": i, "stime": 0, "start": i, "rss": i} for i in range(300)]
    proc = write_proc(tmp_path, procs)
    text = render(ProcessesCollector(str(proc), top=10, user_name=str, clock_ticks=100, page_size=4096))
    assert len(set(re.findall(r'pid="(\d+)"', text))) <= 20
    assert "sru_processes 300.0" in text


def test_a_failing_collector_reports_success_zero_and_others_still_work() -> None:
    ps = FakePsutil()
    ps.fail_on.add("cpu_times")
    ticks = iter(range(100))
    text = render(ScrapeCollector([CpuCollector(ps), MemoryCollector(ps)], clock=lambda: next(ticks) / 4))
    assert 'sru_exporter_collector_success{collector="cpu"} 0.0' in text
    assert 'sru_exporter_collector_success{collector="memory"} 1.0' in text
    assert 'sru_exporter_collector_duration_seconds{collector="memory"} 0.25' in text
    assert "sru_cpu_" not in text  # nothing half-written from the failed collector
    assert "sru_memory_total_bytes 1.7179869184e+10" in text


def test_config_defaults_match_the_collectors() -> None:
    assert config.DISK_DEVICE_EXCLUDE == DISK_DEFAULT
    assert config.NETWORK_DEVICE_EXCLUDE == NET_DEFAULT
    assert config.FS_TYPES_EXCLUDE == DEFAULT_FS_TYPES_EXCLUDE
    assert config.MOUNT_POINTS_EXCLUDE == DEFAULT_MOUNT_POINTS_EXCLUDE


def test_a_collector_failing_every_scrape_warns_once_and_says_when_it_recovers(
        caplog: pytest.LogCaptureFixture) -> None:
    ps = FakePsutil()
    ps.fail_on.add("cpu_times")
    scrape = ScrapeCollector([CpuCollector(ps)])
    caplog.set_level(logging.INFO, logger="sru.exporter")
    for _ in range(5):
        render(scrape)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    ps.fail_on.clear()
    assert 'sru_exporter_collector_success{collector="cpu"} 1.0' in render(scrape)
    assert caplog.records[-1].getMessage() == "collector cpu recovered"


def test_every_golden_file_passes_promtool() -> None:
    files = sorted(GOLDEN.glob("*.prom"))
    assert len(files) >= 10
    for path in files:
        r = proc.run(["promtool", "check", "metrics"], input=path.read_text(), timeout=60, check=False)
        assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), f"{path.name}: {r.stdout}{r.stderr}"
