"""What every collector shares: the protocol, and the wrapper that times each one, isolates its
failures and reports them as ``sru_exporter_collector_duration_seconds`` / ``_success``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger("sru.exporter")


class Collector(Protocol):
    """A source of metric families read at scrape time. ``name`` is the collector's flag name."""

    name: str

    def collect(self) -> Iterable[Metric]: ...


class ScrapeCollector:
    """The one collector registered with prometheus_client: runs each enabled collector in turn.

    A collector that raises contributes none of its families to that scrape (a half-written family
    would be worse than none) and reports success 0; the others are unaffected. Scrapes are
    serialised because collectors keep state between scrapes (the processes collector's CPU deltas).
    """

    def __init__(self, collectors: Sequence[Collector], clock: Callable[[], float] = time.perf_counter) -> None:
        self._collectors = list(collectors)
        self._clock = clock
        self._lock = threading.Lock()
        self._failing: set[str] = set()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._collectors]

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            duration = GaugeMetricFamily("sru_exporter_collector_duration_seconds",
                                         "How long each collector took in this scrape.", labels=["collector"])
            success = GaugeMetricFamily("sru_exporter_collector_success",
                                        "1 if the collector succeeded in this scrape, 0 if it failed.",
                                        labels=["collector"])
            for collector in self._collectors:
                start = self._clock()
                try:
                    families = list(collector.collect())
                except Exception as exc:  # a broken source must not take the other collectors down
                    families = []
                    ok = False
                    self._log_failure(collector.name, exc)
                else:
                    ok = True
                    if collector.name in self._failing:
                        self._failing.discard(collector.name)
                        log.info("collector %s recovered", collector.name)
                duration.add_metric([collector.name], self._clock() - start)
                success.add_metric([collector.name], 1.0 if ok else 0.0)
                yield from families
            yield duration
            yield success

    def _log_failure(self, name: str, exc: Exception) -> None:
        # Warn on the first failure of a run of failures, then only at debug: no log spam per scrape.
        if name in self._failing:
            log.debug("collector %s failed: %r", name, exc)
        else:
            self._failing.add(name)
            log.warning("collector %s failed: %r (further failures logged at debug level)", name, exc,
                        exc_info=log.isEnabledFor(logging.DEBUG))
