"""`sru reports list|show|approve|reject|implement`: the approval workflow. Transitions go through
transition_optimization_report(); the trigger on optimization_reports refuses invalid ones for every
client and records who and when."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sru.errors import SruError
from sru.output import json_default

if TYPE_CHECKING:
    import psycopg

_REPORT = ("SELECT r.id, s.hostname, r.report_type, r.severity, r.priority_score, r.status, r.title, "
           "r.recommendations, r.status_changed_by, r.status_changed_at, r.created_at, r.updated_at "
           "FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id ")


class WorkflowError(SruError):
    """A report that does not exist, an ambiguous id, or a transition the workflow refuses."""


def _rows(conn: psycopg.Connection, sql: str, params: Any) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    return conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()


def list_reports(conn: psycopg.Connection, status: str | None) -> list[dict[str, Any]]:
    """Reports with ``status`` (None: all), highest priority first."""
    return _rows(conn, _REPORT + "WHERE %(status)s::text IS NULL OR r.status = %(status)s "
                 "ORDER BY r.priority_score DESC, r.created_at, s.hostname", {"status": status})


def _resolve(conn: psycopg.Connection, ident: str) -> str:
    ident = ident.strip().lower()
    if not ident or len(ident) > 36 or any(c not in "0123456789abcdef-" for c in ident):
        raise WorkflowError(f"{ident!r} is not a report id (hex digits, a unique prefix is enough)")
    rows = conn.execute("SELECT id::text FROM optimization_reports WHERE id::text LIKE %s LIMIT 2",
                        (ident + "%",)).fetchall()
    if not rows:
        raise WorkflowError(f"no report with id {ident}")
    if len(rows) > 1:
        raise WorkflowError(f"report id prefix {ident} is ambiguous: give more digits")
    return str(rows[0][0])


def show_report(conn: psycopg.Connection, ident: str) -> dict[str, Any]:
    """One report (``ident``: its id or a unique prefix) with its history of transitions."""
    rid = _resolve(conn, ident)
    row = _rows(conn, _REPORT + "WHERE r.id = %s", (rid,))[0]
    row["history"] = _rows(conn, "SELECT from_status, to_status, actor, db_user, note, at "
                                 "FROM optimization_report_events WHERE report_id = %s ORDER BY at, id", (rid,))
    return row


def transition(conn: psycopg.Connection, ident: str, status: str, actor: str,
               note: str | None = None) -> dict[str, Any]:
    """Move a report to ``status`` as ``actor``; commits. Raises WorkflowError for a transition
    the workflow refuses."""
    import psycopg

    rid = _resolve(conn, ident)
    try:
        row = _rows(conn, "SELECT * FROM transition_optimization_report(%s, %s, %s, %s)",
                    (rid, status, actor, note))[0]
    except (psycopg.errors.CheckViolation, psycopg.errors.InvalidParameterValue,
            psycopg.errors.NoDataFound) as exc:
        conn.rollback()
        raise WorkflowError(exc.diag.message_primary or str(exc)) from None
    conn.commit()
    return row


def render_list(rows: list[dict[str, Any]], fmt: str = "table") -> str:
    if fmt == "json":
        return json.dumps(rows, default=json_default, indent=2) + "\n"
    if not rows:
        return "no reports\n"
    head = f"{'ID':<8}  {'PRI':>3}  {'SEVERITY':<8}  {'STATUS':<11}  {'TYPE':<16}  TITLE"
    lines = [head] + [f"{str(r['id'])[:8]}  {r['priority_score']:>3}  {r['severity']:<8}  {r['status']:<11}  "
                      f"{r['report_type']:<16}  {r['title']}" for r in rows]
    return "\n".join(lines) + "\n"


def render_one(row: dict[str, Any]) -> str:
    lines = [f"report {row['id']}", f"  host:      {row['hostname']}", f"  type:      {row['report_type']}",
             f"  severity:  {row['severity']} (priority {row['priority_score']})",
             f"  status:    {row['status']}" + (f" (by {row['status_changed_by']} at {row['status_changed_at']:%Y-%m-%d %H:%M:%S %Z})"
                                                 if row["status_changed_at"] else ""),
             f"  created:   {row['created_at']:%Y-%m-%d %H:%M:%S %Z}", f"  title:     {row['title']}",
             "  evidence:", *("    " + line for line in json.dumps(row["recommendations"], indent=2,
                                                                   default=json_default).splitlines())]
    if row.get("history"):
        lines.append("  history:")
        for h in row["history"]:
            lines.append(f"    {h['at']:%Y-%m-%d %H:%M:%S} {h['from_status']} → {h['to_status']} by {h['actor']}"
                         f" (db user {h['db_user']})" + (f": {h['note']}" if h["note"] else ""))
    return "\n".join(lines) + "\n"
