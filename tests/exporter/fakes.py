"""Fake data sources for the collectors: a psutil-like object, a procfs tree, an NVML module."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path
from typing import Any

scputimes = namedtuple("scputimes", "user nice system idle iowait irq softirq steal guest guest_nice")
scpufreq = namedtuple("scpufreq", "current min max")
shwtemp = namedtuple("shwtemp", "label current high critical")
svmem = namedtuple("svmem", "total available percent used free")
sswap = namedtuple("sswap", "total used free percent sin sout")
sdiskpart = namedtuple("sdiskpart", "device mountpoint fstype opts")
sdiskusage = namedtuple("sdiskusage", "total used free percent")
snetio = namedtuple("snetio", "bytes_sent bytes_recv packets_sent packets_recv errin errout dropin dropout")
suser = namedtuple("suser", "name terminal host started pid")


class FakePsutil:
    """The slice of psutil's API the collectors use, with fixed readings."""

    def __init__(self) -> None:
        self.cpus = [scputimes(100.5, 1.0, 50.25, 1000.0, 3.5, 0.0, 0.75, 0.0, 0.0, 0.0),
                     scputimes(200.0, 0.0, 60.0, 900.0, 1.0, 0.5, 0.25, 0.125, 0.0, 0.0)]
        self.temps = {"coretemp": [shwtemp("Package id 0", 55.0, 80.0, 100.0), shwtemp("Core 0", 52.0, 80.0, 100.0),
                                   shwtemp("", 50.0, None, None)],
                      "nvme": [shwtemp("Composite", 40.0, 80.0, 90.0)]}
        self.partitions = [sdiskpart("/dev/sda1", "/", "ext4", "rw"), sdiskpart("proc", "/proc", "proc", "rw"),
                           sdiskpart("tmpfs", "/run", "tmpfs", "rw"), sdiskpart("/dev/sdb1", "/data", "xfs", "rw"),
                           sdiskpart("cgroup2", "/sys/fs/cgroup", "cgroup2", "rw"),
                           sdiskpart("overlay", "/var/lib/docker/overlay2/x/merged", "overlay", "rw"),
                           sdiskpart("nfs:/gone", "/mnt/gone", "nfs", "rw")]
        self.users_list = [suser("alice", "pts/0", "10.0.0.5", 1_700_000_000.0, 100),
                           suser("bob", "tty1", "", 1_700_000_100.0, 101),
                           suser("alice", "pts/0", "10.0.0.5", 1_699_999_000.0, 99),
                           suser("carol", None, None, 1_700_000_200.0, 102)]
        self.freqs: list[scpufreq] | None = [scpufreq(2400.0, 800.0, 3600.0), scpufreq(3100.5, 800.0, 3600.0)]
        self.fail_on: set[str] = set()

    def _maybe_fail(self, what: str) -> None:
        if what in self.fail_on:
            raise OSError(f"{what} is broken")

    def cpu_times(self, percpu: bool = False) -> list[scputimes]:
        self._maybe_fail("cpu_times")
        return self.cpus

    def cpu_freq(self, percpu: bool = False) -> list[scpufreq] | None:
        return self.freqs

    def getloadavg(self) -> tuple[float, float, float]:
        return (0.5, 0.25, 0.125)

    def sensors_temperatures(self) -> dict[str, list[shwtemp]]:
        return self.temps

    def virtual_memory(self) -> svmem:
        return svmem(16 * 2**30, 10 * 2**30, 37.5, 5 * 2**30, 2 * 2**30)

    def swap_memory(self) -> sswap:
        return sswap(4 * 2**30, 2**30, 3 * 2**30, 25.0, 4096 * 10, 4096 * 20)

    def disk_partitions(self, all: bool = False) -> list[sdiskpart]:
        return self.partitions

    def disk_usage(self, path: str) -> sdiskusage:
        if path == "/mnt/gone":
            raise OSError(116, "Stale file handle")
        sizes = {"/": (100 * 2**30, 40 * 2**30), "/run": (2**30, 2**29), "/data": (2**40, 2**39)}
        total, free = sizes[path]
        return sdiskusage(total, total - free, free, 50.0)

    def net_io_counters(self, pernic: bool = False) -> dict[str, snetio]:
        return {"lo": snetio(1, 1, 1, 1, 0, 0, 0, 0),
                "eth0": snetio(1000, 2000, 10, 20, 1, 2, 3, 4),
                "veth1234": snetio(5, 5, 5, 5, 0, 0, 0, 0),
                "wlan0": snetio(300, 400, 3, 4, 0, 0, 0, 0)}

    def users(self) -> list[suser]:
        return self.users_list

    def boot_time(self) -> float:
        return 1_699_990_000.0

    def cpu_count(self, logical: bool = True) -> int | None:
        return 2 if logical else 1


def write_proc(root: Path, processes: list[dict[str, Any]], diskstats: str = "", cpuinfo: str = "") -> Path:
    """A fake procfs: ``processes`` are dicts with pid, comm, utime, stime, start, rss (pages), uid
    (ignored: files are owned by the test user; tests inject the user-name lookup)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "diskstats").write_text(diskstats)
    (root / "cpuinfo").write_text(cpuinfo)
    (root / "self").mkdir(exist_ok=True)  # non-numeric entries are ignored
    for p in processes:
        d = root / str(p["pid"])
        d.mkdir(exist_ok=True)
        # Fields 3.. of stat(5): state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        # utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss …
        rest = ["S", "1", "1", "1", "0", "-1", "0", "0", "0", "0", "0", str(p["utime"]), str(p["stime"]),
                "0", "0", "20", "0", "1", "0", str(p["start"]), "1000", str(p["rss"])] + ["0"] * 28
        (d / "stat").write_text(f"{p['pid']} ({p['comm']}) {' '.join(rest)}\n")
    return root


def set_cpu(root: Path, pid: int, utime: int) -> None:
    stat = root / str(pid) / "stat"
    head, _, tail = stat.read_text().rpartition(")")
    fields = tail.split()
    fields[11] = str(utime)
    stat.write_text(f"{head}) {' '.join(fields)}\n")


# --- NVML ------------------------------------------------------------------------------------------

class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        self.value = value
        super().__init__({1: "Uninitialized", 3: "Not Supported", 4: "Insufficient Permissions",
                          6: "Not Found", 9: "Driver Not Loaded", 12: "NVML Shared Library Not Found",
                          15: "GPU is lost"}.get(value, f"error {value}"))


Util = namedtuple("Util", "gpu memory")
MemInfo = namedtuple("MemInfo", "total free used")
ProcInfo = namedtuple("ProcInfo", "pid usedGpuMemory")
ProcUtil = namedtuple("ProcUtil", "pid timeStamp smUtil memUtil encUtil decUtil")


class FakeGpu:
    def __init__(self, name: str, uuid: str, util: int = 50, used: int = 2**30, total: int = 16 * 2**30,
                 temp: int = 60, power_mw: int = 150_000, limit_mw: int = 300_000, energy_mj: int | None = 5_000_000,
                 processes: list[tuple[int, int | None]] | None = None, mig: list[tuple[str, str, int, int] | None] | None = None,
                 mig_capable: bool = False, samples: list[tuple[int, int, int]] | None = None,
                 graphics: list[tuple[int, int | None]] | None = None) -> None:
        self.name, self.uuid, self.util, self.used, self.total = name, uuid, util, used, total
        self.temp, self.power_mw, self.limit_mw, self.energy_mj = temp, power_mw, limit_mw, energy_mj
        self.processes = processes or []
        self.mig = mig  # None: MIG off; list of (name, uuid, used, total) or None for an empty slot
        self.mig_capable = mig_capable or mig is not None
        self.lost = False
        # Per-process utilisation samples (pid, timestamp µs, SM %); None: the device has none
        # (NOT_SUPPORTED). ``graphics``: graphics processes, replacing the default (below).
        self.samples = samples
        self.graphics = graphics


class FakeNvml:
    """A module-like stand-in for pynvml. ``init_error`` makes nvmlInit fail with that code."""

    NVMLError = NVMLError
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_NO_PERMISSION = 4
    NVML_ERROR_NOT_FOUND = 6

    def __init__(self, gpus: list[FakeGpu] | None = None, init_error: int | None = None) -> None:
        self.gpus = gpus or []
        self.init_error = init_error
        self.init_calls = 0
        self.shutdown_calls = 0
        self.fail_count_with: int | None = None

    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error is not None:
            raise NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shutdown_calls += 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlDeviceGetCount(self) -> int:
        if self.fail_count_with is not None:
            raise NVMLError(self.fail_count_with)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> FakeGpu:
        return self.gpus[i]

    def _check(self, h: Any) -> None:
        if getattr(h, "lost", False):
            raise NVMLError(15)

    def nvmlDeviceGetName(self, h: Any) -> Any:
        self._check(h)
        return h.name.encode() if isinstance(h, FakeGpu) and h.name.startswith("Tesla") else h.name  # old pynvml: bytes

    def nvmlDeviceGetUUID(self, h: Any) -> str:
        self._check(h)
        uuid: str = h.uuid  # a FakeGpu's, or (the handle is Any to the Protocol) whatever the test made
        return uuid

    def nvmlDeviceGetUtilizationRates(self, h: FakeGpu) -> Util:
        if h.mig:
            raise NVMLError(3)
        return Util(h.util, 10)

    def nvmlDeviceGetMemoryInfo(self, h: Any) -> MemInfo:
        return MemInfo(h.total, h.total - h.used, h.used)

    def nvmlDeviceGetTemperature(self, h: FakeGpu, sensor: int) -> int:
        assert sensor == 0
        return h.temp

    def nvmlDeviceGetPowerUsage(self, h: FakeGpu) -> int:
        return h.power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, h: FakeGpu) -> int:
        return h.limit_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, h: FakeGpu) -> int:
        if h.energy_mj is None:
            raise NVMLError(3)  # pre-Volta
        return h.energy_mj

    def nvmlDeviceGetComputeRunningProcesses(self, h: FakeGpu) -> list[ProcInfo]:
        return [ProcInfo(pid, mem) for pid, mem in h.processes]

    def nvmlDeviceGetGraphicsRunningProcesses(self, h: FakeGpu) -> list[ProcInfo]:
        if h.graphics is not None:
            return [ProcInfo(pid, mem) for pid, mem in h.graphics]
        return [ProcInfo(pid, 2**20) for pid, _ in h.processes[:1]]  # also drawing: counted together

    def nvmlDeviceGetProcessUtilization(self, h: FakeGpu, last_seen: int) -> list[ProcUtil]:
        if h.samples is None:
            raise NVMLError(3)
        newer = [ProcUtil(pid, ts, sm, 0, 0, 0) for pid, ts, sm in h.samples if ts > last_seen]
        if not newer:
            raise NVMLError(6)  # what the driver answers when there is no newer sample
        return newer

    def nvmlDeviceGetMigMode(self, h: FakeGpu) -> tuple[int, int]:
        if not h.mig_capable:
            raise NVMLError(3)
        return (1, 1) if h.mig else (0, 0)

    def nvmlDeviceGetMaxMigDeviceCount(self, h: FakeGpu) -> int:
        return len(h.mig or [])

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h: FakeGpu, i: int) -> Any:
        slot = (h.mig or [])[i]
        if slot is None:
            raise NVMLError(6)
        name, uuid, used, total = slot
        return FakeGpu(name, uuid, used=used, total=total)
