#!/usr/bin/env python3
"""On a host with an NVIDIA GPU: the users collector's per-user GPU figures against nvidia-smi.

Not run on a GPU yet (no GPU was lent to the session that wrote it; only dry-run with the tests'
fake NVML and a faked nvidia-smi); a session with the `device` tool runs it as root from the
repository root, in about a minute:

    .venv/bin/python bench/exporter_gpu_check.py          # exit 0 when everything agrees

1. If PyTorch or CuPy is importable (by this interpreter or /usr/bin/python3), starts three workloads as three Linux users it creates
   (removed at the end): `idle` allocates 1 GiB and sleeps, `brief` computes for 5 s and then holds
   its memory, `busy` computes all along. Without either library it checks whatever GPU processes
   run on the host already (`--no-workloads` forces that).
2. Reads the collector (real NVML, real /proc, system accounts not grouped) twice, 10 s apart,
   and nvidia-smi's `--query-compute-apps=gpu_uuid,pid,used_memory` at the second read.
3. Per (GPU, user): the collector's GPU memory must equal nvidia-smi's within 2 MiB (nvidia-smi
   rounds to MiB; graphics processes, which nvidia-smi's query leaves out, are left out on both
   sides by looking only at the pids nvidia-smi lists). With the workloads: `busy` must read above
   0.3 of a GPU, `idle` and `brief` (10 s after it stopped) below 0.05, where the driver gives
   per-process samples; where it does not (`NOT_SUPPORTED`), the utilisation series must be absent.
Prints every figure and each verdict.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exporter.nvml import Nvml  # noqa: E402
from exporter.users import Procfs, UsersCollector  # noqa: E402

WORKLOAD = """
import sys, time
kind = sys.argv[1]
try:
    import torch
    x = torch.empty(2**28, dtype=torch.float32, device="cuda")   # 1 GiB
    def compute(): torch.mm(x[:2**24].view(4096, 4096), x[:2**24].view(4096, 4096)); torch.cuda.synchronize()
except ImportError:
    import cupy
    x = cupy.empty(2**28, dtype=cupy.float32)
    def compute(): cupy.matmul(x[:2**24].reshape(4096, 4096), x[:2**24].reshape(4096, 4096)); cupy.cuda.Device().synchronize()
print("ready", flush=True)
start = time.monotonic()
while True:
    if kind == "busy" or (kind == "brief" and time.monotonic() - start < 5):
        compute()
    else:
        time.sleep(0.5)
"""
KINDS = ("idle", "brief", "busy")


def cuda_python() -> str | None:
    """An interpreter that imports PyTorch or CuPy (this venv's, or the system's), or None."""
    for python in dict.fromkeys(filter(None, (sys.executable, "/usr/bin/python3", shutil.which("python3")))):
        for module in ("torch", "cupy"):
            if subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0:
                return python
    return None


def smi_memory(names: dict[int, str]) -> dict[tuple[str, str], float]:
    out = subprocess.run(["nvidia-smi", "--query-compute-apps=gpu_uuid,pid,used_memory",
                          "--format=csv,noheader,nounits"], capture_output=True, text=True, check=True).stdout
    used: dict[tuple[str, str], float] = defaultdict(float)
    for line in out.strip().splitlines():
        uuid, pid, mib = (f.strip() for f in line.split(","))
        user = names.get(int(pid))
        if user is not None and mib.isdigit():
            used[(uuid, user)] += float(mib)
    return dict(used)


def collector_series(text: str, family: str) -> dict[tuple[str, str], float]:
    return {(m[3], m[2]): float(m[4]) for m in re.finditer(
        rf'^{family}{{index="(\d+)",user="([^"]*)",uuid="([^"]*)"}} (\S+)$', text, re.M)}


def render(collector: UsersCollector) -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def owner_names() -> dict[int, str]:
    names = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
            except FileNotFoundError:
                continue
            try:
                names[int(entry)] = pwd.getpwuid(uid).pw_name
            except KeyError:
                names[int(entry)] = str(uid)
    return names


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-workloads", action="store_true")
    opts = ap.parse_args()
    if not shutil.which("nvidia-smi"):
        print("no nvidia-smi: not a GPU host")
        return 2
    print(subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout)
    python = None if opts.no_workloads or os.geteuid() != 0 else cuda_python()
    users: dict[str, str] = {}
    procs: list[subprocess.Popen[bytes]] = []
    failures = []
    try:
        if python:
            for kind in KINDS:
                name = f"sru-gpu-{kind}"
                subprocess.run(["userdel", name], capture_output=True)  # left over by an interrupted run
                subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
                users[kind] = name
                pw = pwd.getpwnam(name)
                p = subprocess.Popen([python, "-c", WORKLOAD, kind], user=pw.pw_uid, group=pw.pw_gid,
                                     extra_groups=[], stdout=subprocess.PIPE, cwd="/")
                procs.append(p)
                assert p.stdout is not None and p.stdout.readline().strip() == b"ready", f"{kind} did not start"
        else:
            print("no workloads started: checking the GPU processes already running")
        collector = UsersCollector(Procfs(), Nvml(), group_system=False)
        render(collector)
        time.sleep(10)
        text = render(collector)
        smi = smi_memory(owner_names())
        memory = collector_series(text, "sru_user_gpu_memory_bytes")
        util = collector_series(text, "sru_user_gpu_utilization_ratio")
        print("per (GPU, user): collector MiB / nvidia-smi MiB / collector utilisation")
        for key in sorted(set(smi) | set(memory)):
            ours = memory.get(key, 0.0) / 2**20
            print(f"  {key[0]} {key[1]:>16}: {ours:10.1f} / {smi.get(key, 0.0):10.1f} / {util.get(key, 'absent')}")
            if key in smi and abs(ours - smi[key]) > 2:
                failures.append(f"memory of {key}: {ours:.1f} MiB, nvidia-smi {smi[key]:.1f} MiB")
        if not smi:
            failures.append("nvidia-smi lists no compute process: nothing was compared")
        for kind, name in users.items():
            mine = {k: v for k, v in util.items() if k[1] == name}
            held = {k for k in memory if k[1] == name}
            if not held:
                failures.append(f"{kind}: no GPU memory series for {name}")
            elif not mine:
                print(f"  {kind}: no utilisation series (the driver gives no per-process samples here)")
            elif kind == "busy" and max(mine.values()) <= 0.3:
                failures.append(f"busy: utilisation {mine}, expected > 0.3")
            elif kind != "busy" and max(mine.values()) >= 0.05:
                failures.append(f"{kind}: utilisation {mine}, expected < 0.05")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for name in users.values():
            subprocess.run(["userdel", name], check=False)
    print("\n".join(["FAILED:"] + failures) if failures else "OK: the collector agrees with nvidia-smi")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
