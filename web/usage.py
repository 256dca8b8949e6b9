"""The console's Usage page and ``/api/v1/usage`` (issue 19): the usage ledger by department, the
users of a department, the hosts of a user; 7 days, 30 days or a quarter (90 days); CSV download.

Per-user rows are personal data: viewers see department and host totals only, and the database
enforces it: the console's role reads per-user rows only after ``SET LOCAL ROLE
personal_usage_reader``, which this module runs for operators' requests alone (sql/README.md, "Per-user
usage: who sees what")."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, g, request

from optimizer.usage import BY_CHOICES, Ledger, by_user, ledger, totals
from optimizer.usage_output import render
from sru import clock
from sru.http.errors import HTTPError

RANGES = {"7d": ("7 days", timedelta(days=7)), "30d": ("30 days", timedelta(days=30)),
          "quarter": ("quarter (90 days)", timedelta(days=90))}
MAX_PERIOD = timedelta(days=3 * 366)   # the rollups' retention
MAX_NAME = 256


def _now() -> datetime:
    return clock.now()


def _time(value: str, name: str) -> datetime:
    if len(value) > 64:
        raise HTTPError(400, f"{name}: too long")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPError(400, f"{name}: {value[:40]!r} is not an ISO 8601 time like 2026-01-31T00:00:00Z") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _name(value: str | None, what: str) -> str | None:
    if value is not None and (len(value) > MAX_NAME or "\x00" in value):
        raise HTTPError(400, f"{what}: longer than {MAX_NAME} characters or with NUL")
    return value or None


def create_blueprint(db: Callable[[], AbstractContextManager[Any]], page: Callable[..., str]) -> Blueprint:
    """``db``: the console's connection context; ``page``: its template renderer."""
    bp = Blueprint("usage", __name__)

    def may_see_people() -> bool:
        return bool(g.account.can_act)

    def read(by: str, start: datetime, end: datetime) -> Ledger:
        personal = by in ("user", "user_host")
        if personal and not may_see_people():
            raise HTTPError(403, f"{g.account.name} is a viewer: per-user figures are for operators only")
        with db() as conn, conn.transaction():
            if personal:
                conn.execute("SET LOCAL ROLE personal_usage_reader")
            return ledger(conn, by, start, end)   # type: ignore[arg-type]

    def period_from_range() -> tuple[str, datetime, datetime]:
        range_ = request.args.get("range", "7d")
        if range_ not in RANGES:
            raise HTTPError(400, f"range must be one of {', '.join(RANGES)}")
        end = _now().replace(microsecond=0)
        return range_, end - RANGES[range_][1], end

    @bp.get("/usage")
    def usage_page() -> str:
        range_, start, end = period_from_range()
        department = _name(request.args.get("department"), "department")
        user = _name(request.args.get("user"), "user")
        with db() as conn:   # departments and hosts: one read of the ledger
            depts_ledger, hosts_ledger = totals(conn, start, end)
        depts, hosts = depts_ledger.rows, hosts_ledger.rows
        users: list[Any] = []
        user_hosts: list[Any] = []
        people = may_see_people()
        if people and (department or user):
            detail = read("user_host", start, end)   # a department's users are summed from it
            if department:
                users = [r for r in by_user(detail).rows if r.department == department]
            if user:
                user_hosts = [r for r in detail.rows if r.user == user]
        return page("usage.html", ranges=RANGES, range_=range_, start=start, end=end, depts=depts, hosts=hosts,
                    department=department, user=user, users=users, user_hosts=user_hosts, people=people)

    @bp.get("/usage.csv")
    def usage_csv() -> Response:
        range_, start, end = period_from_range()
        by = request.args.get("by", "department")
        if by not in BY_CHOICES:
            raise HTTPError(400, f"by must be one of {', '.join(BY_CHOICES)}")
        resp = Response(render(read(by, start, end), "csv"), 200, mimetype="text/csv")
        resp.headers["Content-Disposition"] = f'attachment; filename="sru-usage-{by}-{range_}.csv"'
        return resp

    @bp.get("/api/v1/usage")
    def api_usage() -> Response:
        import json

        by = request.args.get("by", "department")
        if by not in BY_CHOICES:
            raise HTTPError(400, f"by must be one of {', '.join(BY_CHOICES)}")
        end = _time(request.args["to"], "to") if request.args.get("to") else _now()
        start = _time(request.args["from"], "from") if request.args.get("from") else end - timedelta(days=7)
        if end <= start:
            raise HTTPError(400, "from must be before to")
        if end - start > MAX_PERIOD:
            raise HTTPError(400, f"the period may span at most {MAX_PERIOD.days} days")
        result = read(by, start, end)
        doc = {"status": "success", "by": by, "from": start.isoformat(), "to": end.isoformat(),
               "rows": result.as_dicts()}
        return Response(json.dumps(doc), 200, mimetype="application/json")

    return bp
