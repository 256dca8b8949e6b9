"""A small fleet for the digest's tests: 6 demo hosts × 16 days at 1 h ending at ``now``, one
optimizer pass, and alerts in the last complete week (resolved, open, critical)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta  # noqa: F401

from digest.schedule import Schedule
from tests.fixtures.postgres import Database


def load_fleet(db: Database, now: datetime) -> None:
    from alertmanager.payload import parse_webhook
    from alertmanager.store import store_events
    from optimizer.demo import generate
    from optimizer.run import run_once
    from tests.support.alerts import make_alert, notification

    period, _ = Schedule().latest_due(now)
    with db.connect() as conn:
        generate(conn, hosts=6, days=16, interval=timedelta(hours=1), seed=5, end=now)
        run_once(conn, full=True, now=now)
        hosts = [r[0] for r in conn.execute("SELECT hostname FROM systems ORDER BY hostname")]
        t0 = period.start + timedelta(days=1, hours=3)
        firing = [make_alert("SruMemoryHigh", fingerprint="d000000000000001", instance=f"{hosts[0]}:9847", starts=t0),
                  make_alert("SruCpuSaturated", fingerprint="d000000000000002", instance=f"{hosts[1]}:9847",
                             severity="critical", starts=t0 + timedelta(hours=5)),
                  make_alert("SruMemoryHigh", fingerprint="d000000000000003", instance=f"{hosts[2]}:9847",
                             starts=t0 + timedelta(days=2)),
                  make_alert("SruDiskIoWait", fingerprint="d000000000000004", instance=f"{hosts[3]}:9847",
                             starts=period.start - timedelta(hours=2))]   # before the period: not counted
        store_events(conn, parse_webhook(json.dumps(notification(*firing)).encode()))
        resolved = [make_alert(a["labels"]["alertname"], status="resolved", fingerprint=fp, instance=a["labels"]["instance"],
                               severity=a["labels"]["severity"], starts=s, ends=s + timedelta(minutes=m))
                    for a, fp, s, m in zip(firing[:2], ("d000000000000001", "d000000000000002"),
                                           (t0, t0 + timedelta(hours=5)), (45, 130), strict=True)]
        store_events(conn, parse_webhook(json.dumps(notification(*resolved)).encode()))
        conn.commit()
