"""What the console changes, only through SECURITY DEFINER functions (sql/050, sql/032): an
acknowledgement with its note and Alertmanager silence, and the recommendation workflow steps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg.rows import dict_row

from sru.http.errors import HTTPError

TRANSITIONS = {"approve": "approved", "reject": "rejected", "implement": "implemented"}
MAX_NOTE = 2000


def clean_note(note: Any, *, required: bool, what: str) -> str | None:
    if note is not None and not isinstance(note, str):
        raise HTTPError(400, f"{what} must be text")
    note = (note or "").strip()
    if "\0" in note:
        raise HTTPError(400, f"{what} must not contain NUL characters")
    if len(note) > MAX_NOTE:
        raise HTTPError(400, f"{what} is longer than {MAX_NOTE} characters")
    if required and not note:
        raise HTTPError(400, f"{what} is required")
    return note or None


def acknowledge(conn: psycopg.Connection, alert_id: int, by: str, note: str | None, silence: timedelta | None,
                alertmanager_url: str | None) -> dict[str, Any]:
    """Silence first (so a refused silence changes nothing), then the row and the note in one
    transaction; if that fails, the silence is expired again."""
    from alertmanager.silences import SilenceError, create_silence

    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute("SELECT id, labels FROM alert_logs WHERE id = %s ORDER BY triggered_at DESC LIMIT 1",
                      (alert_id,)).fetchone()
    conn.rollback()
    if row is None:
        raise HTTPError(404, f"no alert {alert_id}")
    silence_id = until = None
    if silence is not None:
        if not alertmanager_url:
            raise HTTPError(400, "silences need the console to run with --alertmanager.url")
        try:
            silence_id = create_silence(alertmanager_url, row["labels"], silence, created_by=by,
                                        comment=f"sru alert {alert_id} acknowledged by {by}"
                                                + (f": {note}" if note else ""))
        except SilenceError as exc:
            raise HTTPError(502, str(exc)) from None
        until = datetime.now(timezone.utc) + silence
    try:
        with conn.transaction():
            result = cur.execute("SELECT * FROM sru_acknowledge_alert(%s, %s, %s, %s, %s)",
                                 (alert_id, by, note, silence_id, until)).fetchone()
    except BaseException:
        if silence_id:
            _expire_silence(alertmanager_url or "", silence_id)
        raise
    return {**(result or {}), "silence_id": silence_id, "silenced_until": until}


def _expire_silence(alertmanager_url: str, silence_id: str) -> None:
    import requests

    try:
        requests.delete(f"{alertmanager_url.rstrip('/')}/api/v2/silence/{silence_id}", timeout=5)
    except requests.RequestException:
        pass  # it ends by itself at its end time


def transition(conn: psycopg.Connection, report_id: str, action: str, by: str, note: str | None) -> dict[str, Any]:
    status = TRANSITIONS[action]
    if status == "rejected" and not note:
        raise HTTPError(400, "a rejection needs a reason")
    try:
        with conn.transaction():
            row = conn.cursor(row_factory=dict_row).execute(
                "SELECT id, status, status_changed_by, status_changed_at FROM "
                "transition_optimization_report(%s, %s, %s, %s)", (report_id, status, by, note)).fetchone()
    except psycopg.errors.NoDataFound:
        raise HTTPError(404, f"no recommendation {report_id}") from None
    except psycopg.errors.CheckViolation as exc:
        # The workflow trigger refuses e.g. pending → implemented: the person's mistake, not a retry case.
        raise HTTPError(409, exc.diag.message_primary or str(exc)) from None
    return row or {}
