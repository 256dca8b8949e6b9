"""What Prometheus sees of the digest: a node_exporter textfile (``--metrics.textfile``), written
atomically after every run from the ledger itself. The sender is a batch job (cron, or a step of
`sru optimize --every`) with no HTTP server to scrape; the textfile collector is Prometheus's own
answer for batch jobs on a machine, needs no Pushgateway, and since the numbers come from the
ledger rather than from the run's memory, a crash or restart never loses a failure."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from digest.ledger import RECENT

STATES = ("pending", "sending", "committing", "sent", "failed")


class LedgerCollector(Collector):
    """prometheus/client_python style: the data source is injected, families are made per collect()."""

    def __init__(self, source: Callable[[], list[tuple[str, str, str]]], last_run: Callable[[], datetime]) -> None:
        self.source = source
        self.last_run = last_run

    def collect(self) -> Iterator[Metric]:
        rows = self.source()
        by_state = GaugeMetricFamily("sru_digest_deliveries",
                                     f"Deliveries of the digests built in the last {RECENT.days} days, by state "
                                     "(failed: gave up after the configured attempts)", labels=["state"])
        for state in STATES:
            by_state.add_metric([state], sum(1 for _, _, s in rows if s == state))
        yield by_state
        failed = GaugeMetricFamily("sru_digest_delivery_failed",
                                   "1 for each digest and destination whose delivery failed for good",
                                   labels=["digest", "destination"])
        for key, dest, state in rows:
            if state == "failed":
                failed.add_metric([key, dest], 1)
        yield failed
        yield GaugeMetricFamily("sru_digest_last_run_timestamp_seconds",
                                "When `sru digest` last ran to the end", value=self.last_run().timestamp())


def write_textfile(path: str, rows: list[tuple[str, str, str]], now: datetime) -> None:
    from prometheus_client import write_to_textfile

    registry = CollectorRegistry()
    registry.register(LedgerCollector(lambda: rows, lambda: now))
    write_to_textfile(path, registry)   # a temporary file renamed into place: never read half-written
