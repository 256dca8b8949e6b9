"""Lazy, self-healing access to NVIDIA's NVML (package ``nvidia-ml-py``, module ``pynvml``).

On a host without the library, without a driver or with the driver unloaded, ``handle()`` returns
None and the reason is logged once at INFO (then at DEBUG). Initialisation is retried at most every
``retry_interval`` seconds, on scrape, so a driver installed or loaded later is picked up without a
restart and without a timer thread."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

log = logging.getLogger("sru.exporter.nvml")

# NVML return codes (nvml.h) that mean "NVML as a whole is gone", as opposed to one reading failing.
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
FATAL_CODES = frozenset({NVML_ERROR_UNINITIALIZED, NVML_ERROR_DRIVER_NOT_LOADED, NVML_ERROR_LIBRARY_NOT_FOUND})


def _import_pynvml() -> Any:
    import pynvml

    return pynvml


class Nvml:
    def __init__(self, loader: Callable[[], Any] = _import_pynvml, retry_interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._loader = loader
        self._retry = retry_interval
        self._clock = clock
        self._nv: Any = None
        self._next_try = float("-inf")
        self._last_reason: str | None = None
        self._lock = threading.Lock()

    def handle(self) -> Any | None:
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


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        return None


def _text(value: Any) -> str:
    """pynvml returns str in current releases and bytes in old ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
