"""Lazy, self-healing access to NVIDIA's NVML (package ``nvidia-ml-py``, module ``pynvml``).

On a host without the library, without a driver or with the driver unloaded, ``handle()`` returns
None and the reason is logged once at INFO (then at DEBUG). Initialisation is retried at most every
``retry_interval`` seconds, on scrape, so a driver installed or loaded later is picked up without a
restart and without a timer thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeAlias, TypeVar

log = logging.getLogger("sru.exporter.nvml")

# NVML return codes (nvml.h) that mean "NVML as a whole is gone", as opposed to one reading failing.
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
FATAL_CODES = frozenset({NVML_ERROR_UNINITIALIZED, NVML_ERROR_DRIVER_NOT_LOADED, NVML_ERROR_LIBRARY_NOT_FOUND})

T = TypeVar("T")


# An nvmlDevice_t, of a GPU or of a MIG device: opaque, only handed back to NVML.
DeviceHandle: TypeAlias = Any


class Utilization(Protocol):
    @property
    def gpu(self) -> int: ...                        # percent of the last sample period


class MemoryInfo(Protocol):
    @property
    def used(self) -> int: ...                       # bytes

    @property
    def total(self) -> int: ...


class ProcessInfo(Protocol):
    @property
    def pid(self) -> int: ...

    @property
    def usedGpuMemory(self) -> int | None: ...      # None without permission to see the figure


class ProcessUtilizationSample(Protocol):
    """One per-process sample (``nvmlProcessUtilizationSample_t``): the driver keeps recent samples
    of the processes that had non-zero utilisation in a sample period (1/6 s to 1 s by product)."""

    @property
    def pid(self) -> int: ...

    @property
    def timeStamp(self) -> int: ...                  # CPU timestamp of the sample, in microseconds

    @property
    def smUtil(self) -> int: ...                     # percent of the sample period a kernel of it ran


class NvmlModule(Protocol):
    """The part of ``pynvml`` the exporter uses (nvidia-ml-py ships no types): what the loader
    returns, and what a test's fake provides. Strings are bytes in old releases of pynvml."""

    @property
    def NVMLError(self) -> type[Exception]: ...     # its ``value`` is one of the NVML_ERROR_ codes

    @property
    def NVML_ERROR_NOT_SUPPORTED(self) -> int: ...

    @property
    def NVML_ERROR_NO_PERMISSION(self) -> int: ...

    @property
    def NVML_ERROR_NOT_FOUND(self) -> int: ...

    def nvmlInit(self) -> None: ...

    def nvmlShutdown(self) -> None: ...

    def nvmlSystemGetDriverVersion(self) -> str | bytes: ...

    def nvmlDeviceGetCount(self) -> int: ...

    def nvmlDeviceGetHandleByIndex(self, index: int, /) -> DeviceHandle: ...

    def nvmlDeviceGetName(self, handle: DeviceHandle, /) -> str | bytes: ...

    def nvmlDeviceGetUUID(self, handle: DeviceHandle, /) -> str | bytes: ...

    def nvmlDeviceGetUtilizationRates(self, handle: DeviceHandle, /) -> Utilization: ...

    def nvmlDeviceGetMemoryInfo(self, handle: DeviceHandle, /) -> MemoryInfo: ...

    def nvmlDeviceGetTemperature(self, handle: DeviceHandle, sensor: int, /) -> int: ...   # °C

    def nvmlDeviceGetPowerUsage(self, handle: DeviceHandle, /) -> int: ...               # mW

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: DeviceHandle, /) -> int: ...       # mW

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: DeviceHandle, /) -> int: ...   # mJ

    def nvmlDeviceGetComputeRunningProcesses(self, handle: DeviceHandle, /) -> Sequence[ProcessInfo]: ...

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: DeviceHandle, /) -> Sequence[ProcessInfo]: ...

    # Samples newer than the timestamp (µs). NOT_SUPPORTED on some products and under MIG; NOT_FOUND
    # (or, through pynvml, an NVMLError of value 0) when there is no newer sample.
    def nvmlDeviceGetProcessUtilization(self, handle: DeviceHandle, last_seen: int, /) -> Sequence[ProcessUtilizationSample]: ...

    def nvmlDeviceGetMigMode(self, handle: DeviceHandle, /) -> Sequence[int]: ...        # (current, pending)

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: DeviceHandle, /) -> int: ...

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: DeviceHandle, index: int, /) -> DeviceHandle: ...


def _import_pynvml() -> NvmlModule:
    import pynvml

    # pynvml is untyped (Any to mypy): checked against NvmlModule only through the tests' fake.
    module: NvmlModule = pynvml
    return module


class Nvml:
    def __init__(self, loader: Callable[[], NvmlModule] = _import_pynvml, retry_interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._loader = loader
        self._retry = retry_interval
        self._clock = clock
        self._nv: NvmlModule | None = None
        self._next_try = float("-inf")
        self._last_reason: str | None = None
        self._lock = threading.Lock()

    def handle(self) -> NvmlModule | None:
        """The initialised pynvml module, or None while NVML is unavailable."""
        with self._lock:
            if self._nv is not None:
                return self._nv
            now = self._clock()
            if now < self._next_try:
                return None
            self._next_try = now + self._retry
            try:
                nv = self._loader()
                nv.nvmlInit()
            except ImportError as exc:
                self._unavailable(f"the nvidia-ml-py package is not installed ({exc})")
                return None
            except Exception as exc:  # NVMLError: no libnvidia-ml, no driver, insufficient permissions …
                self._unavailable(str(exc) or type(exc).__name__)
                return None
            self._nv = nv
            self._last_reason = None
            log.info("NVML initialised (driver %s)", _text(_safe(nv.nvmlSystemGetDriverVersion)) or "unknown")
            return nv

    def lost(self, exc: BaseException) -> bool:
        """Call with an exception raised by an NVML call. Returns True (and forgets the session, so
        the next scrape re-initialises after the retry interval) when NVML as a whole is gone."""
        if getattr(exc, "value", None) not in FATAL_CODES:
            return False
        with self._lock:
            nv, self._nv = self._nv, None
            self._next_try = self._clock() + self._retry
        if nv is not None:
            _safe(nv.nvmlShutdown)
        self._unavailable(f"NVML lost: {exc}")
        return True

    def _unavailable(self, reason: str) -> None:
        if reason != self._last_reason:
            log.info("no NVIDIA GPU metrics: %s; retrying every %gs", reason, self._retry)
            self._last_reason = reason
        else:
            log.debug("no NVIDIA GPU metrics: %s", reason)


def optional(nv: NvmlModule, fn: Callable[[], T]) -> T | None:
    """One NVML reading, or None where the device does not support it or we may not see it; any
    other NVML error propagates (the caller tells a lost GPU or a lost NVML from the rest)."""
    try:
        return fn()
    except nv.NVMLError as exc:
        if getattr(exc, "value", None) in (nv.NVML_ERROR_NOT_SUPPORTED, nv.NVML_ERROR_NO_PERMISSION):
            return None
        raise


def _safe(fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except Exception:
        return None


def _text(value: str | bytes | None) -> str:
    """pynvml returns str in current releases and bytes in old ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
