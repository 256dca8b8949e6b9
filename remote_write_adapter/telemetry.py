"""The adapter's own metrics. Under gunicorn with several workers prometheus_client runs in its
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by the CLI before workers start), so /metrics
answers for all workers, whichever one serves it."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

REQUESTS = Counter("sru_adapter_requests", "HTTP requests by handler and status code.", ["handler", "code"])
SAMPLES_RECEIVED = Counter("sru_adapter_samples_received", "Samples received in write requests.")
SAMPLES_WRITTEN = Counter("sru_adapter_samples_written",
                          "Samples stored (committed) in a table column or row.")
SAMPLES_DROPPED = Counter("sru_adapter_samples_dropped", "Samples not stored, by reason.", ["reason"])
VALUES_NULL = Counter("sru_adapter_values_null",
                      "NaN, ±Inf or out-of-range values stored as NULL.")
ROWS = Counter("sru_adapter_rows_upserted", "Rows inserted or updated, by table.", ["table"])
BATCH_SECONDS = Histogram("sru_adapter_batch_duration_seconds",
                          "Time to write one request's batch to the database, commit included.",
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
DB_ERRORS = Counter("sru_adapter_database_errors", "Batches refused with 503 because the database failed.",
                    ["kind"])
HA_REQUESTS = Counter("sru_adapter_ha_requests",
                      "Write requests of Prometheus HA pairs: stored (elected replica) or dropped.", ["result"])
LABEL_CACHE = Gauge("sru_adapter_label_cache_bytes",
                    "Estimated bytes of the label-block caches (--write.label-cache-size), all workers.",
                    multiprocess_mode="livesum")
POOL = Gauge("sru_adapter_pool_connections", "Database connections of the pools, by state.", ["state"],
             multiprocess_mode="livesum")


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)
