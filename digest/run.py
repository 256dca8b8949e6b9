"""One digest run: the period just ended (or the one a late run missed: the latest due period is
built if it was not, so a run after an outage catches it up once), each routed digest built and
stored once, each delivery claimed, sent and marked; failed sends are retried with exponential
backoff (waiting inside the run for `sru digest`, at the next pass for `sru optimize --every`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from digest import ledger, render
from digest.build import build_digest, department_of, subject
from digest.config import Config
from digest.schedule import Period
from digest.send import SendError, post_json, send_email

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("sru.digest")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunSummary:
    period: Period
    built: list[str] = field(default_factory=list)
    sent: int = 0
    retried: int = 0
    failed: int = 0
    recovered: int = 0
    skipped: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (f"digest {self.period.label()}: built {', '.join(self.built) or 'nothing new'}; sent {self.sent}, "
                f"retries pending {self.retried}, failed {self.failed}, recovered {self.recovered}"
                + (f"; not built: {'; '.join(self.skipped)}" if self.skipped else ""))


def departments_supported(conn: psycopg.Connection) -> bool:
    """Department digests need a section that knows departments (the usage ledger of issue 19)."""
    from digest.sections import SECTIONS

    return any(getattr(m, "DEPARTMENT", False) and m.available(conn) for m in SECTIONS)


def build_and_store(conn: psycopg.Connection, cfg: Config, period: Period, key: str, now: datetime) -> int:
    """The stored digest of (period, key), built now if it is not there yet."""
    found = ledger.find_digest(conn, key, period.start)
    if found is not None:
        return found
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")   # one snapshot for every section
        d = build_digest(conn, period, key, now=now, console_url=cfg.console_url)
    html, text = render.html(d), render.text(d)
    digest_id, _ = ledger.store_digest(conn, key=key, period_start=period.start, period_end=period.end,
                                       zone=period.zone, built_at=now, subject=subject(d), data=d.data(), slack=render.slack(d),
                                       html=html, text=text, chart_png=d.charts.get("overview"))
    return digest_id


def run(conn: psycopg.Connection, cfg: Config, now: datetime, *, wait: bool = True,
        clock: Callable[[], datetime] = utcnow, sleep: Callable[[float], None] = time.sleep,
        metrics_textfile: str | None = None) -> RunSummary:
    """``conn`` must be in autocommit mode (every ledger step is durable on its own) and in
    digest_sender (or admin)."""
    period, _due = cfg.schedule.latest_due(now)
    summary = RunSummary(period)
    token = ledger.take_token(conn)
    try:
        summary.recovered = ledger.recover(conn)
        routes = cfg.routes()
        if any(department_of(k) for k in routes) and not departments_supported(conn):
            summary.skipped.append("department digests (they need the usage source of issue 19)")
            routes = {k: v for k, v in routes.items() if department_of(k) is None}
        domain = (cfg.smtp.sender.rsplit("@", 1)[1] if cfg.smtp else "sru.invalid")
        ids: list[int] = []
        for key, names in routes.items():
            existed = ledger.find_digest(conn, key, period.start) is not None
            digest_id = build_and_store(conn, cfg, period, key, now)
            if not existed:
                summary.built.append(key)
            ids.append(digest_id)
            ledger.plan(conn, digest_id, [(n, cfg.destinations[n].channel) for n in names], domain, now)
        _send_all(conn, cfg, token, ids, summary, wait=wait, clock=clock, sleep=sleep)
    finally:
        if metrics_textfile:
            from digest.metrics import write_textfile

            write_textfile(metrics_textfile, ledger.states(conn, clock()), clock())
        conn.execute("SELECT pg_advisory_unlock(%s)", (token,))
    log.info("%s", summary.describe())
    return summary


def _send_all(conn: psycopg.Connection, cfg: Config, token: int, ids: list[int], summary: RunSummary, *,
              wait: bool, clock: Callable[[], datetime], sleep: Callable[[float], None]) -> None:
    cache: dict[int, tuple[Any, ...]] = {}  # digest id -> its row (data, slack, html, text, chart, subject, built_at)
    while True:
        row = ledger.claim(conn, token, clock())
        if row is None:
            nxt = ledger.next_retry(conn, ids) if wait else None
            if nxt is None:
                pending = conn.execute("SELECT count(*) FROM digest_deliveries WHERE state = 'pending' "
                                       "AND digest_id = ANY(%s)", (ids,)).fetchone()
                summary.retried = pending[0] if pending else 0
                return
            sleep(max(0.0, (nxt - clock()).total_seconds()) + 0.01)
            continue
        try:
            _send_one(conn, cfg, token, row, cache, clock)
        except SendError as exc:
            ledger.abandon_sent(conn)
            state = ledger.failed(conn, row, token, str(exc), permanent=exc.permanent, attempts=cfg.attempts,
                                  backoff=cfg.backoff, max_backoff=cfg.max_backoff, now=clock(),
                                  maybe_delivered=exc.maybe_delivered)
            log.warning("digest delivery %s to %s, attempt %d: %s (%s)", row.digest_id, row.destination,
                        row.attempts, exc, "gave up" if state == "failed" else "will retry")
            summary.failed += state == "failed"
            continue
        summary.sent += 1


def _send_one(conn: psycopg.Connection, cfg: Config, token: int, row: ledger.Claimed, cache: dict[int, tuple[Any, ...]],
              clock: Callable[[], datetime]) -> None:
    """Send one claimed delivery; it is marked sent the moment the receiver accepts it (a send that
    fails after that — QUIT, reading the answer's body — changes nothing)."""
    if row.digest_id not in cache:
        got = conn.execute("SELECT data, slack, html, text_body, chart_png, subject, built_at FROM digests WHERE id = %s",
                           (row.digest_id,)).fetchone()
        if got is None:
            raise SendError(f"digest {row.digest_id} is gone", permanent=True)
        cache[row.digest_id] = got
    data, slack, html, text, chart, subj, built_at = cache[row.digest_id]
    dest = cfg.destinations.get(row.destination)
    if dest is None:
        raise SendError(f"destination {row.destination!r} is no longer in {cfg.source}", permanent=True)

    def on_commit() -> None:
        ledger.committing(conn, row.id, token)
        ledger.prepare_sent(conn, row.id, token, clock())

    def on_accepted() -> None:
        ledger.confirm_sent(conn)

    if dest.channel == "email":
        if cfg.smtp is None:
            raise SendError("no smtp: section", permanent=True)
        message = render.email(subj, built_at, sender=cfg.smtp.sender, to=list(dest.to),
                                           message_id=row.message_id, html_body=html, text_body=text,
                                           charts={"overview": bytes(chart)} if chart else {})
        send_email(cfg.smtp, dest, message, on_commit, on_accepted)
        return
    headers = {"Idempotency-Key": row.message_id.strip("<>")}
    if dest.channel == "slack":
        body = render.json_bytes(slack)
    else:
        body = render.json_bytes({"idempotency_key": row.message_id.strip("<>"), "subject": subj, **data})
        if dest.token:
            headers["Authorization"] = f"Bearer {dest.token}"
    post_json(dest.url or "", body, headers, cfg.http_timeout, on_commit, on_accepted)


def scheduled(connect: Callable[[], psycopg.Connection], cfg: Config, *, metrics_textfile: str | None = None,
              clock: Callable[[], datetime] = utcnow) -> Callable[[], None]:
    """The step `sru optimize --every` runs after each pass: a no-op but for the claim query once the
    latest due period's digests are out; retries wait for the next pass instead of blocking it."""
    def step() -> None:
        with connect() as conn:
            run(conn, cfg, clock(), wait=False, clock=clock, metrics_textfile=metrics_textfile)
    return step
