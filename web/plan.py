"""The console's Plan page and its API (issue 20): the newest stored consolidation plan with each
report's workflow status and, once implemented, the realised p95/p99 of the receiving hosts beside
the prediction; and a what-if form (headroom, quantile, pins, window, location) that plans afresh
from the stored history without storing anything (the console's role may not write).

    GET /plan                      page: stored plan, what-if form (GET: whatif=1&headroom=70&pin=…)
    GET /api/v1/plan[?id=PREFIX]   the stored plan as JSON (404 when none)
    GET /api/v1/plan/what-if?headroom=70&quantile=99&pin=a&pin=b&window=28d&location=L&same_location=1
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, g, render_template, request

from sru.http.errors import HTTPError
from sru.output import json_default

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

WINDOWS = {"7d": timedelta(days=7), "14d": timedelta(days=14), "28d": timedelta(days=28), "56d": timedelta(days=56)}
MAX_PINS = 500
WHAT_IF_BUDGET_S = 2.0   # the aligned search's time per what-if: a page must answer in seconds


def _json(doc: Any) -> Response:
    return Response(json.dumps({"status": "success", **doc}, default=json_default), 200, mimetype="application/json")


def what_if_args(args: Any) -> dict[str, Any]:
    """The what-if fields of a query string, checked (400 with the field's name otherwise)."""
    from optimizer.consolidate import Options

    def number(name: str, default: float, lo: float, hi: float) -> float:
        raw = (args.get(name) or "").strip().rstrip("%")
        if raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise HTTPError(400, f"{name} must be a number, not {raw[:20]!r}") from None
        if not lo <= value <= hi:
            raise HTTPError(400, f"{name} must be between {lo:g} and {hi:g}")
        return value

    headroom = number("headroom", 80, 5, 100)
    quantile = number("quantile", 99, 50, 100)
    pins = [p.strip() for p in args.getlist("pin") if p.strip()]
    if len(pins) > MAX_PINS or any(len(p) > 253 or "\0" in p for p in pins):
        raise HTTPError(400, f"pin: at most {MAX_PINS} host names of at most 253 characters")
    window = args.get("window") or "28d"
    if window not in WINDOWS:
        raise HTTPError(400, f"window must be one of {', '.join(WINDOWS)}")
    location = (args.get("location") or "").strip() or None
    if location is not None and (len(location) > 253 or "\0" in location):
        raise HTTPError(400, "location is too long or not text")
    same = args.get("same_location") in ("1", "on", "true")
    return {"options": Options(headroom=headroom / 100, quantile=quantile, pins=frozenset(pins), same_location=same,
                               time_budget_s=WHAT_IF_BUDGET_S),
            "window": window, "location": location, "form": {"headroom": headroom, "quantile": quantile,
                                                             "pins": pins, "window": window, "location": location,
                                                             "same_location": same}}


def create_blueprint(pool: ConnectionPool) -> Blueprint:
    from optimizer import plan_store
    from optimizer.consolidate import PlanError

    bp = Blueprint("plan", __name__)

    def utcnow() -> Any:
        from web.queries import utcnow

        return utcnow()

    def stored(plan_id: str | None = None) -> dict[str, Any] | None:
        if plan_id is not None and (len(plan_id) > 36 or any(c not in "0123456789abcdef-" for c in plan_id.lower())):
            raise HTTPError(400, "id must be a plan id or a prefix of one (hex digits)")
        with pool.connection() as conn:
            try:
                return plan_store.stored_plan(conn, utcnow(), plan_id)
            except plan_store.PlanNotFound:
                return None

    def what_if(args: dict[str, Any]) -> dict[str, Any]:
        with pool.connection() as conn:
            try:
                made = plan_store.make(conn, utcnow(), args["options"], WINDOWS[args["window"]], args["location"])
            except PlanError as exc:
                raise HTTPError(400, str(exc)) from None
            finally:
                conn.rollback()
        return plan_store.summary(made)

    def hosts_and_locations() -> tuple[list[str], list[str]]:
        with pool.connection() as conn:
            rows = conn.execute("SELECT hostname, location FROM systems WHERE status = 'active' "
                                "ORDER BY hostname").fetchall()
        return [r[0] for r in rows], sorted({r[1] for r in rows if r[1]})

    @bp.get("/plan", endpoint="plan_page")
    def plan_page() -> str:
        args = what_if_args(request.args)
        result = what_if(args) if request.args.get("whatif") else None
        hosts, locations = hosts_and_locations()
        return render_template("plan.html", account=g.get("account"), stored=stored(), result=result,
                               form=args["form"], windows=list(WINDOWS), hosts=hosts, locations=locations)

    @bp.get("/api/v1/plan")
    def api_plan() -> Response:
        doc = stored(request.args.get("id") or None)
        if doc is None:
            raise HTTPError(404, "no consolidation plan stored yet (`sru plan --store`, or the optimizer's weekly step)")
        return _json({"plan": doc})

    @bp.get("/api/v1/plan/what-if")
    def api_what_if() -> Response:
        return _json({"plan": what_if(what_if_args(request.args))})

    return bp
