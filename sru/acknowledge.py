"""Acknowledging an alert, the one way the receiver's API, `sru alerts ack` and the console do it.

The order: the alert's labels are read, the silence (when asked for) is created in Alertmanager, and
only then is the acknowledgement recorded, in one transaction through ``sru_acknowledge_alert``
(sql/050: alert_logs' first acknowledgement, and every acknowledgement with its note and silence in
alert_acknowledgements). If recording fails, the silence is expired again.

Why silence first: no database transaction (and no lock on the alert_logs row, which the webhook's
upserts of that alert would wait behind) is held across a call to Alertmanager that may take its
whole timeout; a silence Alertmanager refuses or cannot take changes nothing, so a retry is safe;
and the silence's id and end are recorded with the acknowledgement in the same transaction. What
remains is a silence without an acknowledgement when the database fails after Alertmanager agreed
and Alertmanager cannot be reached to expire it: that silence ends by itself at its end time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sru.silences import create_silence, expire_silence

if TYPE_CHECKING:
    import psycopg

MAX_BY = 200     # alert_acknowledgements.acknowledged_by CHECK
MAX_NOTE = 2000  # alert_acknowledgements.note CHECK


class AlertNotFound(LookupError):
    """No alert with that id."""


@dataclass(frozen=True)
class Acknowledgement:
    alert_id: int
    acknowledged_by: str     # who acknowledged first (a later acknowledgement keeps that name)
    acknowledged_at: datetime
    changed: bool            # whether this call was the first acknowledgement
    silence_id: str | None
    silenced_until: datetime | None


def acknowledge(conn: psycopg.Connection, alert_id: int, by: str, *, note: str | None = None,
                silence: timedelta | None = None, alertmanager_url: str | None = None,
                now: datetime | None = None) -> Acknowledgement:
    """Acknowledge alert ``alert_id`` as ``by`` (checked by the caller: 1 to MAX_BY characters), with
    ``note``, silencing it in the Alertmanager at ``alertmanager_url`` for ``silence`` from ``now``.
    Commits. Raises AlertNotFound, sru.silences.SilenceError (nothing was changed), or the database's
    error (the silence was expired again)."""
    row = conn.execute("SELECT labels FROM alert_logs WHERE id = %s ORDER BY triggered_at DESC LIMIT 1",
                       (alert_id,)).fetchone()
    conn.rollback()
    if row is None:
        raise AlertNotFound(alert_id)
    silence_id = until = None
    if silence is not None:
        if not alertmanager_url:
            raise ValueError("a silence needs an Alertmanager URL")
        starts = now or datetime.now(UTC)
        until = starts + silence
        silence_id = create_silence(alertmanager_url, row[0], starts, until, created_by=by,
                                    comment=f"sru alert {alert_id} acknowledged by {by}"
                                            + (f": {note}" if note else ""))
    try:
        with conn.transaction():
            result = conn.execute("SELECT alert_id, acknowledged_by, acknowledged_at, changed "
                                  "FROM sru_acknowledge_alert(%s, %s, %s, %s, %s)",
                                  (alert_id, by, note, silence_id, until)).fetchone()
    except BaseException as exc:
        if silence_id and alertmanager_url:
            expire_silence(alertmanager_url, silence_id)
        from psycopg import errors

        if isinstance(exc, errors.NoDataFound):  # deleted since it was read
            raise AlertNotFound(alert_id) from None
        raise
    assert result is not None  # the function returns one row or raises
    return Acknowledgement(int(result[0]), result[1], result[2], bool(result[3]), silence_id, until)
