"""The GPU collector through a fake NVML: no library, no driver, zero GPUs, several GPUs, MIG, and a
driver that appears later."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from exporter.gpu import GpuCollector
from exporter.nvml import Nvml, NvmlModule
from tests.exporter.fakes import FakeGpu, FakeNvml, write_proc
from tests.exporter.golden import assert_golden, render


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def no_library() -> NoReturn:
    raise ImportError("No module named 'pynvml'")


@pytest.fixture
def proc(tmp_path: Path) -> str:
    return str(write_proc(tmp_path, [{"pid": 4242, "comm": "python", "utime": 1, "stime": 1, "start": 5, "rss": 1},
                                     {"pid": 4343, "comm": "blender", "utime": 1, "stime": 1, "start": 6, "rss": 1}]))


@pytest.mark.parametrize("loader", [no_library, lambda: FakeNvml(init_error=12), lambda: FakeNvml(init_error=9),
                                    lambda: FakeNvml([])],
                         ids=["no-package", "no-library", "no-driver", "zero-gpus"])
def test_no_gpu_means_no_series_and_one_log_line(loader: Callable[[], NvmlModule], proc: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sru.exporter.nvml")
    clock = Clock()
    collector = GpuCollector(Nvml(loader=loader, retry_interval=60, clock=clock), proc=proc)
    for _ in range(5):
        assert render(collector) == ""  # not even HELP/TYPE lines
        clock.now += 61
    assert len([r for r in caplog.records if r.levelno >= logging.INFO]) <= 1


def test_init_is_retried_at_most_every_interval_and_a_late_driver_is_picked_up(proc: str) -> None:
    nv = FakeNvml([FakeGpu("NVIDIA L4", "GPU-late")], init_error=9)
    clock = Clock()
    collector = GpuCollector(Nvml(loader=lambda: nv, retry_interval=60, clock=clock), proc=proc)
    render(collector)
    clock.now += 30
    render(collector)
    assert nv.init_calls == 1  # within the interval: no retry
    nv.init_error = None  # the driver gets loaded
    clock.now += 31
    assert 'sru_gpu_utilization_ratio{index="0",model="NVIDIA L4",uuid="GPU-late"} 0.5' in render(collector)
    assert nv.init_calls == 2
    render(collector)
    assert nv.init_calls == 2  # initialised once, then reused


def test_driver_unloaded_while_running_is_noticed_and_recovered(proc: str) -> None:
    nv = FakeNvml([FakeGpu("NVIDIA L4", "GPU-x")])
    clock = Clock()
    collector = GpuCollector(Nvml(loader=lambda: nv, retry_interval=60, clock=clock), proc=proc)
    assert "sru_gpu_temperature_celsius" in render(collector)
    nv.fail_count_with = 9  # driver unloaded
    assert render(collector) == ""
    assert nv.shutdown_calls == 1
    nv.fail_count_with = None
    assert render(collector) == ""  # not before the retry interval
    clock.now += 61
    assert "sru_gpu_temperature_celsius" in render(collector)


def test_several_gpus(proc: str) -> None:
    nv = FakeNvml([
        FakeGpu("NVIDIA GeForce RTX 4090", "GPU-1111", util=97, used=20 * 2**30, total=24 * 2**30, temp=71,
                power_mw=412_345, limit_mw=450_000, processes=[(4242, 19 * 2**30), (4343, 2**30), (9999, None)]),
        FakeGpu("Tesla P100-PCIE-16GB", "GPU-2222", util=0, used=0, energy_mj=None),  # pre-Volta, bytes names
        FakeGpu("NVIDIA RTX A4000", "GPU-3333", util=12, processes=[(p, 2**20 * p) for p in range(1, 9)]),
    ])
    text = render(GpuCollector(Nvml(loader=lambda: nv), processes_top=3, proc=proc, user_name=lambda uid: "bob"))
    assert_golden("gpu_several", text)
    assert 'sru_gpu_energy_joules_total{index="1"' not in text  # unsupported there: left out, not zero
    assert text.count('sru_gpu_process_memory_bytes{index="2"') == 3  # bounded per GPU
    # pid 4242 runs compute and graphics on GPU 0: one series, summed.
    assert ('sru_gpu_process_memory_bytes{index="0",name="python",pid="4242",user="bob",uuid="GPU-1111"} '
            '2.0402143232e+10') in text
    assert 'model="Tesla P100-PCIE-16GB"' in text  # old pynvml's bytes decoded


def test_mig(proc: str) -> None:
    nv = FakeNvml([
        FakeGpu("NVIDIA A100-SXM4-40GB", "GPU-a100", used=0, total=40 * 2**30, mig=[
            ("NVIDIA A100-SXM4-40GB MIG 3g.20gb", "MIG-aaaa", 5 * 2**30, 20 * 2**30),
            None,  # an empty slot
            ("NVIDIA A100-SXM4-40GB MIG 1g.5gb", "MIG-bbbb", 2**30, 5 * 2**30),
        ]),
        FakeGpu("NVIDIA A100-SXM4-40GB", "GPU-a100b", mig_capable=True),  # MIG capable, off
    ])
    text = render(GpuCollector(Nvml(loader=lambda: nv), proc=proc))
    assert_golden("gpu_mig", text)
    assert 'sru_gpu_mig_enabled{index="0",model="NVIDIA A100-SXM4-40GB",uuid="GPU-a100"} 1.0' in text
    assert 'sru_gpu_mig_enabled{index="1",model="NVIDIA A100-SXM4-40GB",uuid="GPU-a100b"} 0.0' in text
    assert 'sru_gpu_utilization_ratio{index="0"' not in text  # NVML does not report it under MIG
    assert text.count("sru_gpu_mig_memory_total_bytes{") == 2


def test_a_lost_gpu_is_skipped_and_the_others_reported(proc: str) -> None:
    lost = FakeGpu("NVIDIA L4", "GPU-lost")
    lost.lost = True
    nv = FakeNvml([lost, FakeGpu("NVIDIA L4", "GPU-ok")])
    text = render(GpuCollector(Nvml(loader=lambda: nv), proc=proc))
    assert "GPU-lost" not in text and 'uuid="GPU-ok"' in text
