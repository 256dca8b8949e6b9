"""The adapter's own metrics. Under gunicorn with several workers prometheus_client runs in its
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by the CLI before workers start), so /metrics
answers for all workers, whichever one serves it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

if TYPE_CHECKING:
    from remote_write_adapter.pivot import Batch
    from remote_write_adapter.writer import WriteResult

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


def record_write(batch: Batch, result: WriteResult | None, seconds: float, cache_bytes: int) -> None:
    """Count one write request once its batch is written, or its write failed (``result`` None while
    the batch had hosts): what arrived and what was dropped always (the writer's
    ``refused_by_database`` included), rows, duration and stored samples only when it was written."""
    LABEL_CACHE.set(cache_bytes)
    SAMPLES_RECEIVED.inc(batch.samples)
    for reason, n in batch.dropped.items():
        SAMPLES_DROPPED.labels(reason).inc(n)
    if result is None and batch.hosts:
        return
    if result is not None:
        BATCH_SECONDS.observe(seconds)
        ROWS.labels("usage_metrics").inc(result.usage_rows)
        ROWS.labels("process_snapshots").inc(result.process_rows)
        ROWS.labels("user_usage_metrics").inc(result.user_usage_rows)
        ROWS.labels("systems").inc(result.systems_touched)
        ROWS.labels("user_sessions").inc(result.sessions_opened + result.sessions_closed)
    SAMPLES_WRITTEN.inc(batch.accepted)
    VALUES_NULL.inc(batch.nulls)


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)
