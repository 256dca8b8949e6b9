"""What the console changes, only through SECURITY DEFINER functions (sql/050, sql/032): an
acknowledgement with its note and Alertmanager silence, and the recommendation workflow steps."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
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
    """sru.acknowledge's one acknowledgement (silence first, then the row and the note in one
    transaction, the silence expired again if that fails), its errors as HTTP answers."""
    from sru.acknowledge import AlertNotFound
    from sru.acknowledge import acknowledge as acknowledge_alert
    from sru.silences import SilenceError

    if silence is not None and not alertmanager_url:
        raise HTTPError(400, "silences need the console to run with --alertmanager.url")
    try:
        return asdict(acknowledge_alert(conn, alert_id, by, note=note, silence=silence,
                                        alertmanager_url=alertmanager_url))
    except AlertNotFound:
        raise HTTPError(404, f"no alert {alert_id}") from None
    except SilenceError as exc:
        raise HTTPError(502, str(exc)) from None


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
