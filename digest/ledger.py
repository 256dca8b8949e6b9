"""The delivery ledger (digest_deliveries): claim, then send, then mark, one autocommitted statement
each, so every state change is durable before the next step.

A sender holds a session-level advisory lock on a random 62-bit token for as long as its database
session lives and writes the token into the rows it claims. A row in sending/committing whose
token no session holds any more belongs to a sender that died (kill -9, crash, lost connection:
PostgreSQL ends the backend and its locks with the connection), and is recovered at once:

* sending → pending: the end of the message never left, the receiver discarded it; send again.
* committing → pending, ``ambiguous`` + 1: the end of the message may have gone out and been
  acted on before the sender could mark the row sent. Sent again with the same Message-ID /
  Idempotency-Key, so the receiver can recognise the copy (see digest/README.md for the window)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

ERROR_LEN = 1000


@dataclass
class Claimed:
    id: int
    digest_id: int
    destination: str
    channel: str
    attempts: int
    message_id: str


def take_token(conn: psycopg.Connection) -> int:
    """A fresh token, locked for the life of ``conn``'s session (autocommit)."""
    token = secrets.randbits(62)
    conn.execute("SELECT pg_advisory_lock(%s)", (token,))
    return token


def recover(conn: psycopg.Connection) -> int:
    """Give orphaned claims back; the number of rows recovered."""
    cur = conn.execute("""
        UPDATE digest_deliveries d
           SET state = 'pending', ambiguous = ambiguous + (state = 'committing')::int,
               claim_token = NULL, claimed_at = NULL
         WHERE state IN ('sending', 'committing')
           AND NOT EXISTS (SELECT 1 FROM pg_locks l
                            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                              AND ((l.classid::bigint << 32) | l.objid::bigint) = d.claim_token)""")
    return cur.rowcount


def store_digest(conn: psycopg.Connection, *, key: str, period_start: datetime, period_end: datetime, zone: str,
                 built_at: datetime, subject: str, data: dict[str, Any], slack: dict[str, Any], html: str, text: str,
                 chart_png: bytes | None) -> tuple[int, bool]:
    """(id, created): the digest of this period and key, stored once; a second builder keeps the first's."""
    row = conn.execute("""
        INSERT INTO digests (digest_key, period_start, period_end, time_zone, built_at, subject, data, slack,
                             html, text_body, chart_png)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (period_start, digest_key) DO NOTHING RETURNING id""",
                       (key, period_start, period_end, zone, built_at, subject, Jsonb(data), Jsonb(slack), html, text,
                        chart_png)).fetchone()
    if row:
        return row[0], True
    found = conn.execute("SELECT id FROM digests WHERE period_start = %s AND digest_key = %s",
                         (period_start, key)).fetchone()
    if found is None:
        raise LookupError(f"digest {key} of {period_start} vanished")
    return found[0], False


def find_digest(conn: psycopg.Connection, key: str, period_start: datetime) -> int | None:
    row = conn.execute("SELECT id FROM digests WHERE period_start = %s AND digest_key = %s",
                       (period_start, key)).fetchone()
    return row[0] if row else None


def plan(conn: psycopg.Connection, digest_id: int, destinations: list[tuple[str, str]], domain: str,
         now: datetime) -> int:
    """A pending row per (digest, destination) not planned yet; the number added."""
    added = 0
    for name, channel in destinations:
        cur = conn.execute("""
            INSERT INTO digest_deliveries (digest_id, destination, channel, message_id, next_attempt_at)
            VALUES (%s, %s, %s, %s, %s) ON CONFLICT (digest_id, destination) DO NOTHING""",
                           (digest_id, name, channel, f"<sru-digest-{digest_id}.{name}@{domain}>", now))
        added += cur.rowcount
    return added


def claim(conn: psycopg.Connection, token: int, now: datetime) -> Claimed | None:
    row = conn.cursor(row_factory=dict_row).execute("""
        UPDATE digest_deliveries SET state = 'sending', claim_token = %(token)s, claimed_at = %(now)s,
                                     attempts = attempts + 1
         WHERE id = (SELECT id FROM digest_deliveries WHERE state = 'pending' AND next_attempt_at <= %(now)s
                      ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING id, digest_id, destination, channel, attempts, message_id""",
                                                    {"token": token, "now": now}).fetchone()
    return Claimed(**row) if row else None


def _move(conn: psycopg.Connection, row_id: int, token: int, sql: Any, params: tuple[Any, ...] = ()) -> None:
    cur = conn.execute(sql, (*params, row_id, token))
    if cur.rowcount != 1:   # only a recover() while we held the lock could do this: a bug
        raise RuntimeError(f"delivery {row_id} is no longer claimed by this sender")


def committing(conn: psycopg.Connection, row_id: int, token: int) -> None:
    _move(conn, row_id, token, "UPDATE digest_deliveries SET state = 'committing' "
                               "WHERE id = %s AND claim_token = %s AND state = 'sending'")


def prepare_sent(conn: psycopg.Connection, row_id: int, token: int, now: datetime) -> None:
    """Open a transaction that marks the row sent, and leave it open: the mark's round trip to the
    database then happens before the end of the message leaves, and :func:`confirm_sent` only has to
    write COMMIT to the socket once the receiver accepts. A transaction left open by a sender that
    dies is rolled back by the server: the row stays committing (an ambiguous resend, never a skip).
    synchronous_commit is off for this transaction only: a sender's crash cannot lose a COMMIT the
    server has read; a database crash in the next ~200 ms can, with the same outcome."""
    # one round trip: BEGIN, SET LOCAL and the UPDATE as one simple query (no parameters: literals,
    # all of them numbers and a timestamp we made); the explicit BEGIN keeps the transaction open
    query = sql.SQL("BEGIN; SET LOCAL synchronous_commit TO off; UPDATE digest_deliveries SET state = 'sent', "
                    "sent_at = {}, claim_token = NULL, last_error = NULL "
                    "WHERE id = {} AND claim_token = {} AND state = 'committing'"
                    ).format(sql.Literal(now), sql.Literal(row_id), sql.Literal(token))
    cur = conn.execute(query)
    while cur.nextset():   # the UPDATE's result comes last
        pass
    if cur.rowcount != 1:
        conn.execute("ROLLBACK")
        raise RuntimeError(f"delivery {row_id} is no longer claimed by this sender")


def confirm_sent(conn: psycopg.Connection) -> None:
    conn.execute("COMMIT")


def abandon_sent(conn: psycopg.Connection) -> None:
    """The receiver did not accept: the prepared mark goes (a no-op when none is open)."""
    from psycopg.pq import TransactionStatus

    if conn.info.transaction_status != TransactionStatus.IDLE:
        conn.execute("ROLLBACK")


def failed(conn: psycopg.Connection, row: Claimed, token: int, error: str, *, permanent: bool, attempts: int,
           backoff: timedelta, max_backoff: timedelta, now: datetime, maybe_delivered: bool = False) -> str:
    """Back to pending after an exponential backoff, or failed for good; the new state.
    ``maybe_delivered``: the connection broke after the end of the message left, so the next
    attempt may be a copy (counted in ``ambiguous``, as after a crash)."""
    final = permanent or row.attempts >= attempts
    wait = min(max_backoff, backoff * (2 ** (row.attempts - 1)))
    state = "failed" if final else "pending"
    _move(conn, row.id, token, "UPDATE digest_deliveries SET state = %s, claim_token = NULL, claimed_at = NULL, "
                               "last_error = %s, next_attempt_at = %s, ambiguous = ambiguous + %s "
                               "WHERE id = %s AND claim_token = %s",
          (state, error[:ERROR_LEN], now + wait, int(maybe_delivered)))
    return state


def next_retry(conn: psycopg.Connection, digest_ids: list[int]) -> datetime | None:
    row = conn.execute("SELECT min(next_attempt_at) FROM digest_deliveries WHERE state = 'pending' "
                       "AND digest_id = ANY(%s)", (digest_ids,)).fetchone()
    return row[0] if row else None


def retry_failed(conn: psycopg.Connection, now: datetime) -> int:
    """An operator's `sru digest --retry-failed`: failed rows of the last RECENT days back to pending."""
    return conn.execute("UPDATE digest_deliveries d SET state = 'pending', attempts = 0, next_attempt_at = %s "
                        "FROM digests g WHERE g.id = d.digest_id AND d.state = 'failed' AND g.built_at >= %s",
                        (now, now - RECENT)).rowcount


RECENT = timedelta(days=8)


def states(conn: psycopg.Connection, now: datetime) -> list[tuple[str, str, str]]:
    """(digest key, destination, state) of the digests built in the last RECENT days: what the
    metrics report (a failure stays visible for a weekly cycle, or until retried)."""
    return [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT g.digest_key, d.destination, d.state FROM digest_deliveries d JOIN digests g ON g.id = d.digest_id "
        "WHERE g.built_at >= %s", (now - RECENT,))]
