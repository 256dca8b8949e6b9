"""Deduplication of Prometheus HA pairs: per cluster, only the elected replica's requests are stored.

Two Prometheus replicas with the same ``cluster`` external label and different ``__replica__``
labels (the label names of Promscale and Mimir, configurable) send the same series at interleaved
evaluation times; storing both doubles the rows. The election is a lease in PostgreSQL
(``sru_ha_leases``, migration 011), so every adapter process agrees: the leader's requests renew
it, and once it has not been renewed for ``timeout`` another replica's request takes it over.
The other replicas' requests are answered 2xx (Prometheus must not retry them) and counted.

Each process remembers the lease it last saw (as a local monotonic deadline computed from the
database's clock), so a cluster costs one lease statement per ``refresh`` interval, not one per
request: a leader's request renews the lease when its remaining time falls below
``timeout - refresh``; a follower's request is refused from memory until the lease it saw ends,
then tries to take it over. A leader that stops sending therefore loses the lease between
``timeout - refresh`` and ``timeout`` after its last request.

Like Mimir, the cluster and replica of a request are those of its first series: one Prometheus
sends its external labels on every series.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError

from remote_write_adapter.prompb import types_pb2
from remote_write_adapter.wire import TIMESERIES, ProtocolError, skip, varint

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

MAX_LABEL_BYTES = 256

# Renew our own lease, or take over one that has expired; RETURNING says who leads and for how long
# (as seconds from the database's now(), so the adapters' clocks do not matter).
_CLAIM = """
INSERT INTO sru_ha_leases AS l (cluster, leader, lease_until, updated_at)
VALUES (%(cluster)s, %(replica)s, now() + %(timeout)s * interval '1 second', now())
ON CONFLICT (cluster) DO UPDATE SET
  leader = EXCLUDED.leader, lease_until = EXCLUDED.lease_until, updated_at = now(),
  leader_since = CASE WHEN l.leader = EXCLUDED.leader THEN l.leader_since ELSE now() END
WHERE l.leader = EXCLUDED.leader OR l.lease_until < now()
RETURNING leader, extract(epoch FROM lease_until - now())"""

_CURRENT = "SELECT leader, extract(epoch FROM lease_until - now()) FROM sru_ha_leases WHERE cluster = %s"


@dataclass(frozen=True)
class HAConfig:
    cluster_label: str = "cluster"
    replica_label: str = "__replica__"
    timeout: float = 30.0          # s without the leader's requests before another replica takes over

    @property
    def refresh(self) -> float:
        """How often (s) a leader renews its lease: a tenth of the timeout, at most 5 s."""
        return min(self.timeout / 10, 5.0)


def _first_series(raw: bytes) -> bytes | None:
    """The encoded first TimeSeries (field 1) of a WriteRequest, skipping other fields. Malformed
    fields before it are refused here (400), as the pivot would refuse them."""
    pos, n = 0, len(raw)
    while pos < n:
        tag, pos = varint(raw, pos)
        if tag == TIMESERIES:
            length, pos = varint(raw, pos)
            return raw[pos:pos + length] if pos + length <= n else None
        pos = skip(raw, pos, tag & 7, n)
    return None


def replica_of(raw: bytes, cfg: HAConfig) -> tuple[str, str] | None:
    """(cluster, replica) of a decoded WriteRequest, or None when its first series lacks either."""
    block = _first_series(raw)
    if block is None:
        return None
    try:
        ts = types_pb2.TimeSeries.FromString(block)
    except DecodeError as exc:
        raise ProtocolError(400, f"invalid WriteRequest protobuf: {exc}") from None
    cluster = replica = ""
    for lab in ts.labels:
        if lab.name == cfg.cluster_label:
            cluster = lab.value
        elif lab.name == cfg.replica_label:
            replica = lab.value
    if not cluster or not replica:
        return None
    for name, value in ((cfg.cluster_label, cluster), (cfg.replica_label, replica)):
        if len(value.encode()) > MAX_LABEL_BYTES or "\x00" in value:
            raise ProtocolError(400, f"label {name!r} over {MAX_LABEL_BYTES} bytes or with NUL")
    return cluster, replica


class Elector:
    """This process's view of the leases; shared by a worker's request threads."""

    def __init__(self, cfg: HAConfig) -> None:
        self.cfg = cfg
        self._seen: dict[str, tuple[str, float]] = {}  # cluster -> (leader, local monotonic lease end)
        self._lock = threading.Lock()

    def accept(self, connect: Callable[[], AbstractContextManager[psycopg.Connection]], cluster: str,
               replica: str) -> bool:
        """Whether ``replica``'s request for ``cluster`` is to be stored. ``connect()`` gives a
        context manager yielding a connection (the pool's); database errors propagate (a 503)."""
        now = time.monotonic()
        with self._lock:
            leader, until = self._seen.get(cluster, ("", 0.0))
        if leader == replica and until - now > self.cfg.timeout - self.cfg.refresh:
            return True
        if leader and leader != replica and now < until:
            return False
        with connect() as conn:
            row = conn.execute(_CLAIM, {"cluster": cluster, "replica": replica,
                                        "timeout": self.cfg.timeout}).fetchone()
            if row is None:
                row = conn.execute(_CURRENT, (cluster,)).fetchone()
            conn.commit()
        if row is None:  # the row vanished between the two statements: try again next request
            return False
        holder: str = row[0]  # sru_ha_leases.leader, text NOT NULL (psycopg's rows are tuples of Any)
        remaining = float(row[1])
        with self._lock:
            self._seen[cluster] = (holder, time.monotonic() + remaining)
        return holder == replica


def connect_from(pool: ConnectionPool, timeout: float) -> Callable[[], AbstractContextManager[psycopg.Connection]]:
    """``connect`` for Elector.accept from a psycopg_pool ConnectionPool."""
    return lambda: pool.connection(timeout=timeout)
