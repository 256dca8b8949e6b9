"""The users collector against a fake process table and a fake NVML: processes exiting between
scrapes, uid → account, the system group, the bound with ``other`` adding up, and per-user GPU
memory and utilisation (idle-held, brief-then-idle, active). The real thing on this machine, under a
real Linux user and scraped by a real Prometheus with the recording rules: tests/exporter/test_users_e2e.py."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from exporter.nvml import Nvml
from exporter.procfs import ProcessTable, ProcStat
from exporter.users import OTHER, SYSTEM, Procfs, UsersCollector, read_uid_min
from tests.exporter.fakes import FakeGpu, FakeNvml, write_proc
from tests.exporter.golden import assert_golden, render

HZ = 100
PAGE = 4096
NAMES = {0: "root", 33: "www-data", 1000: "alice", 1001: "bob", 1002: "carol", 65534: "nobody"}


def name_of(uid: int) -> str:
    return NAMES.get(uid, str(uid))


class FakeProcesses:
    """The process table as the collector reads it: ProcStat rows the test edits between scrapes."""

    def __init__(self, memory_total: int = 64 * 2**30) -> None:
        self.table: dict[int, ProcStat] = {}
        self.memory_total = memory_total

    def add(self, pid: int, uid: int, cpu: int = 0, rss: int = 0, start: int | None = None) -> None:
        self.table[pid] = ProcStat(pid, f"p{pid}", uid, cpu, pid if start is None else start, rss)

    def set_cpu(self, pid: int, cpu: int) -> None:
        p = self.table[pid]
        self.table[pid] = ProcStat(p.pid, p.name, p.uid, cpu, p.start_ticks, p.rss_pages)

    def exit(self, pid: int) -> None:
        del self.table[pid]

    def processes(self) -> list[ProcStat]:
        return list(self.table.values())

    def memory_total_bytes(self) -> int:
        return self.memory_total


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def collector(procs: FakeProcesses, clock: Clock, nvml: Nvml | None = None, **kw: object) -> UsersCollector:
    return UsersCollector(procs, nvml, user_name=name_of, clock=clock, clock_ticks=HZ, page_size=PAGE, cpus=8,
                          **kw)  # type: ignore[arg-type]


def values(text: str, family: str) -> dict[str, float]:
    """{user: value} of a family without GPU labels."""
    return {m[0]: float(m[1]) for m in re.findall(rf'^{family}{{user="([^"]*)"}} (\S+)$', text, re.M)}


def gpu_values(text: str, family: str) -> dict[tuple[str, str], float]:
    """{(gpu index, user): value}."""
    return {(m[0], m[1]): float(m[3])
            for m in re.findall(rf'^{family}{{index="(\d+)",user="([^"]*)",uuid="([^"]*)"}} (\S+)$', text, re.M)}


def test_the_cpu_counter_keeps_what_exited_processes_used_and_never_goes_down() -> None:
    procs, clock = FakeProcesses(), Clock()
    procs.add(100, 1000, cpu=100)
    procs.add(101, 1000, cpu=50)
    procs.add(200, 1001, cpu=30)
    c = collector(procs, clock)
    assert values(render(c), "sru_user_cpu_seconds_total") == {"alice": 1.5, "bob": 0.3}
    clock.now += 15
    procs.exit(101)                     # its 0.5 s stay in alice's total
    procs.set_cpu(100, 300)             # +2 s
    procs.add(102, 1000, cpu=40)        # born since the last scrape: all of its 0.4 s is new
    text = render(c)
    assert values(text, "sru_user_cpu_seconds_total") == {"alice": 1.5 + 2 + 0.4, "bob": 0.3}
    assert values(text, "sru_user_processes") == {"alice": 2, "bob": 1}
    clock.now += 15
    procs.exit(100)
    procs.exit(102)
    procs.add(100, 1000, cpu=10, start=5000)  # pid 100 reused by a new process: +0.1 s, not -2.9 s
    assert values(render(c), "sru_user_cpu_seconds_total")["alice"] == pytest.approx(3.9 + 0.1)
    clock.now += 15
    procs.exit(100)                     # alice has no process left: her series goes ...
    assert "alice" not in values(render(c), "sru_user_cpu_seconds_total")
    clock.now += 15
    procs.add(103, 1000, cpu=20)        # ... and comes back where it stopped, plus the new process
    assert values(render(c), "sru_user_cpu_seconds_total")["alice"] == pytest.approx(4.0 + 0.2)


def test_a_process_changing_uid_moves_only_its_new_cpu() -> None:
    procs, clock = FakeProcesses(), Clock()
    procs.add(100, 0, cpu=100)          # e.g. sshd's session process before it drops privileges
    c = collector(procs, clock)
    render(c)
    clock.now += 15
    procs.table[100] = ProcStat(100, "bash", 1000, 150, 100, 10)
    text = render(c)
    assert values(text, "sru_user_cpu_seconds_total") == {"alice": 0.5}
    assert "system" not in values(text, "sru_user_processes")


def test_accounts_names_system_group_and_unknown_uids() -> None:
    procs, clock = FakeProcesses(), Clock()
    for pid, uid in ((1, 0), (2, 33), (3, 999), (4, 65534), (5, 1000), (6, 4242), (7, 1001)):
        procs.add(pid, uid, cpu=10, rss=100)
    text = render(collector(procs, clock))
    # Below UID_MIN (1000) and nobody: one account; a uid without a passwd entry: its number.
    assert values(text, "sru_user_processes") == {"system": 4, "alice": 1, "4242": 1, "bob": 1}
    assert values(text, "sru_user_resident_memory_bytes")["system"] == 4 * 100 * PAGE
    text = render(collector(procs, clock, group_system=False))
    assert set(values(text, "sru_user_processes")) == {"root", "www-data", "999", "nobody", "alice", "4242", "bob"}
    text = render(collector(procs, clock, uid_min=1001))  # a host whose people start at 1001
    assert values(text, "sru_user_processes") == {"system": 5, "4242": 1, "bob": 1}


def test_uid_min_comes_from_login_defs(tmp_path: Path) -> None:
    defs = tmp_path / "login.defs"
    defs.write_text("# UID_MIN 5\nMAIL_DIR /var/mail\nUID_MIN\t\t\t 2000\nUID_MAX 60000\n")
    assert read_uid_min(str(defs)) == 2000
    defs.write_text("UID_MIN 0x3e8\n")  # shadow reads C integers
    assert read_uid_min(str(defs)) == 1000
    defs.write_text("UID_MIN lots\n")
    assert read_uid_min(str(defs)) == 1000
    assert read_uid_min(str(tmp_path / "missing")) == 1000


def test_the_bound_names_the_most_active_and_other_adds_up() -> None:
    procs, clock = FakeProcesses(), Clock()
    procs.add(1, 0, cpu=1000, rss=5000)
    for i in range(30):                 # 30 users, 2 processes each, memory growing with the uid
        procs.add(10 + 2 * i, 2000 + i, cpu=0, rss=1000 * (i + 1))
        procs.add(11 + 2 * i, 2000 + i, cpu=0, rss=10)
    c = collector(procs, clock, top=5)
    total_cpu = 10.0                    # what every process used, in seconds: the first scrape counts all
    for scrape in range(12):
        text = render(c)
        counters = values(text, "sru_user_cpu_seconds_total")
        rss = values(text, "sru_user_resident_memory_bytes")
        nproc = values(text, "sru_user_processes")
        assert len(rss) == 5 + 2 and {SYSTEM, OTHER} <= rss.keys()
        assert sum(nproc.values()) == len(procs.table)
        assert sum(rss.values()) == sum(p.rss_pages for p in procs.table.values()) * PAGE
        # The counters of all labels together hold exactly the CPU every process used, whoever was
        # named when: a user moving in or out of `other` takes nothing along.
        assert sum(counters.values()) == pytest.approx(total_cpu)
        if scrape == 0:
            # No recent CPU yet: memory decides; the five largest are uids 2025-2029.
            assert set(rss) - {SYSTEM, OTHER} == {str(2000 + i) for i in range(25, 30)}
        # From the second scrape on, uid 2000 (the smallest) burns 4 cores: it gets named.
        clock.now += 15
        procs.set_cpu(10, procs.table[10].cpu_ticks + 4 * 15 * HZ)
        total_cpu += 4 * 15
    assert counters["2000"] == pytest.approx(11 * 4 * 15)  # named from its first busy scrape on


def test_the_named_set_does_not_flap_between_scrapes() -> None:
    procs, clock = FakeProcesses(), Clock()
    procs.add(10, 2000, rss=100)
    procs.add(11, 2001, rss=100)
    procs.add(12, 2002, rss=800_000)    # 3 GiB of 64 GiB: a share of 0.048, all the time
    c = collector(procs, clock, top=2)
    named = []
    for scrape in range(40):            # uids 2000 and 2001 take turns burning one of the 8 cores
        clock.now += 15
        busy = 10 + scrape % 2
        procs.set_cpu(busy, procs.table[busy].cpu_ticks + 15 * HZ)
        named.append(frozenset(values(render(c), "sru_user_processes")) - {OTHER})
    # Scrape by scrape the idle one of the pair is below 2002 (0 < 0.048); smoothed over two
    # minutes each of them uses 1/16 of the host, more than 2002, and both stay named.
    assert named[0] == {"2000", "2002"}
    assert set(named[20:]) == {frozenset({"2000", "2001"})}


def _gpu_host() -> tuple[FakeProcesses, FakeGpu, FakeGpu, FakeNvml]:
    """carol holds GPU 0 idle; bob runs briefly on GPU 0 and then sits idle; alice computes on
    GPU 1. GPU 2 gives no per-process samples (NOT_SUPPORTED): memory only."""
    procs = FakeProcesses()
    procs.add(300, 1002, rss=10)        # carol
    procs.add(200, 1001, rss=10)        # bob
    procs.add(100, 1000, rss=10)        # alice
    procs.add(101, 1000, rss=10)        # alice's second process
    procs.add(1, 0, rss=10)             # Xorg, root
    g0 = FakeGpu("NVIDIA A100", "GPU-0", total=40 * 2**30,
                 processes=[(300, 10 * 2**30), (200, 5 * 2**30)], graphics=[(1, 2**28)],
                 samples=[(200, 1_000_000, 90), (200, 1_100_000, 70)])
    g1 = FakeGpu("NVIDIA A100", "GPU-1", total=40 * 2**30,
                 processes=[(100, 20 * 2**30), (101, 2**30), (999_999, 2**20)], graphics=[],
                 samples=[(100, 1_050_000, 80), (101, 1_050_000, 30)])
    g2 = FakeGpu("Tesla T4", "GPU-2", total=16 * 2**30, processes=[(100, 2**30)], graphics=[(100, None)])
    return procs, g0, g1, FakeNvml([g0, g1, g2])


def test_gpu_memory_and_utilisation_per_user() -> None:
    procs, g0, g1, nv = _gpu_host()
    clock = Clock()
    c = collector(procs, clock, Nvml(loader=lambda: nv))
    first = render(c)
    assert_golden("users_gpu", first)
    mem = gpu_values(first, "sru_user_gpu_memory_bytes")
    util = gpu_values(first, "sru_user_gpu_utilization_ratio")
    assert mem == {("0", "carol"): 10 * 2**30, ("0", "bob"): 5 * 2**30, ("0", "system"): 2**28,
                   ("1", "alice"): 21 * 2**30, ("1", "other"): 2**20,  # a pid not in /proc: other
                   ("2", "alice"): 2**30}       # graphics without a visible figure adds nothing
    # carol: memory, no sample: 0. bob: the mean of his two samples. alice: her two processes, summed.
    assert util == {("0", "carol"): 0.0, ("0", "bob"): 0.8, ("0", "system"): 0.0,
                    ("1", "alice"): 1.0, ("1", "other"): 0.0}  # capped at one GPU (80 + 30 %)
    # GPU 2 has no per-process samples: no utilisation series, not a made-up 0.

    clock.now += 15                     # bob's job went idle: no newer sample; alice still computes
    g1.samples = [(100, 2_000_000, 60)]
    second = gpu_values(render(c), "sru_user_gpu_utilization_ratio")
    assert second[("0", "bob")] == 0.0 and second[("0", "carol")] == 0.0
    assert second[("1", "alice")] == 0.6
    clock.now += 15                     # nothing newer anywhere: the driver answers NOT_FOUND
    third = gpu_values(render(c), "sru_user_gpu_utilization_ratio")
    assert set(third.values()) == {0.0}


def test_gpus_count_in_the_activity_that_picks_the_named_users() -> None:
    procs, _, _, nv = _gpu_host()
    for i in range(10):                 # ten users with more RAM than carol has, and no GPU
        procs.add(1000 + i, 3000 + i, rss=2**19)  # 2 GiB each
    text = render(collector(procs, Clock(), Nvml(loader=lambda: nv), top=3))
    # alice holds 22 GiB of 96 GiB of GPU memory, carol 10, bob 5; the others 2 GiB of 64 GiB RAM.
    assert set(values(text, "sru_user_processes")) == {"alice", "carol", "bob", SYSTEM, OTHER}


def test_without_nvml_there_are_no_gpu_families() -> None:
    procs = FakeProcesses()
    procs.add(1, 1000, cpu=1)
    text = render(collector(procs, Clock(), Nvml(loader=lambda: FakeNvml(init_error=9))))
    assert "sru_user_gpu" not in text and 'sru_user_processes{user="alice"} 1.0' in text


def test_nvml_lost_mid_scrape_drops_the_gpu_figures_only() -> None:
    procs, _, _, nv = _gpu_host()
    c = collector(procs, Clock(), Nvml(loader=lambda: nv))
    nv.fail_count_with = 9
    text = render(c)
    assert "sru_user_gpu" not in text and "sru_user_cpu_seconds_total" in text


def test_one_read_of_the_process_table_serves_one_scrape(tmp_path: Path) -> None:
    proc = write_proc(tmp_path, [{"pid": 7, "comm": "a", "utime": 1, "stime": 0, "start": 1, "rss": 1}])
    clock = Clock()
    table = ProcessTable(str(proc), max_age=0.5, clock=clock)
    assert [p.pid for p in table()] == [7]
    write_proc(proc, [{"pid": 8, "comm": "b", "utime": 1, "stime": 0, "start": 2, "rss": 1}])
    clock.now += 0.2                    # the next collector of the same scrape
    assert [p.pid for p in table()] == [7]
    clock.now += 15                     # the next scrape
    assert sorted(p.pid for p in table()) == [7, 8]


def test_procfs_reads_this_machine() -> None:
    source = Procfs()
    me = next(p for p in source.processes() if p.pid == os.getpid())
    assert me.uid == os.getuid() and me.rss_pages > 0
    assert source.memory_total_bytes() > 2**28
