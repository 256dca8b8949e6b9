"""The console's digest pages (`/digests`): the last digests `sru digest` built, each one's
deliveries and states, the digest as it was sent; and the period-bounded reads that let anyone
check a digest's numbers against the console (`/api/v1/digests`, `/api/v1/summaries`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, g, render_template, request

from sru.http.errors import HTTPError
from web.queries import _rows

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

LIMIT = 50
CHART_CID = "cid:overview-chart@sru"


def period_arg(name: str, required: bool = True) -> datetime | None:
    """An ISO 8601 time from the query string (UTC when it names no zone); 400 otherwise."""
    text = request.args.get(name)
    if not text:
        if required:
            raise HTTPError(400, f"{name} is required (ISO 8601, e.g. 2026-11-30T00:00Z)")
        return None
    if len(text) > 40:
        raise HTTPError(400, f"{name} is too long")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise HTTPError(400, f"{name} is not an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _json(doc: Any) -> Response:
    return Response(json.dumps(doc, default=lambda o: o.isoformat() if hasattr(o, "isoformat") else str(o)),
                    200, mimetype="application/json")


def make_blueprint(pool: ConnectionPool) -> Blueprint:
    bp = Blueprint("digests", __name__)

    def listing() -> list[dict[str, Any]]:
        with pool.connection() as conn:
            return _rows(conn, """
                SELECT g.id, g.digest_key, g.period_start, g.period_end, g.time_zone, g.built_at, g.subject,
                       count(d.id) AS destinations, count(d.id) FILTER (WHERE d.state = 'sent') AS sent,
                       count(d.id) FILTER (WHERE d.state = 'failed') AS failed,
                       count(d.id) FILTER (WHERE d.state NOT IN ('sent', 'failed')) AS waiting
                  FROM digests g LEFT JOIN digest_deliveries d ON d.digest_id = g.id
                 GROUP BY g.id ORDER BY g.built_at DESC, g.id DESC LIMIT %s""", (LIMIT,))

    def one(digest_id: int, with_body: bool = False) -> dict[str, Any]:
        cols = ", html" if with_body else ""
        with pool.connection() as conn:
            found = _rows(conn, f"""SELECT id, digest_key, period_start, period_end, time_zone, built_at, subject,
                                           data{cols} FROM digests WHERE id = %s""", (digest_id,))
            if not found:
                raise HTTPError(404, f"no digest {digest_id}")
            found[0]["deliveries"] = _rows(conn, """
                SELECT destination, channel, state, attempts, ambiguous, sent_at, next_attempt_at, last_error
                  FROM digest_deliveries WHERE digest_id = %s ORDER BY destination""", (digest_id,))
        return found[0]

    @bp.get("/digests")
    def digests() -> str:
        return render_template("digests.html", account=g.get("account"), rows=listing())

    @bp.get("/digests/<int:digest_id>")
    def digest(digest_id: int) -> str:
        return render_template("digest.html", account=g.get("account"), d=one(digest_id))

    @bp.get("/digests/<int:digest_id>/view")
    def view(digest_id: int) -> Response:
        """The HTML as it was sent, with the chart from the console instead of the CID attachment."""
        html = one(digest_id, with_body=True)["html"].replace(CHART_CID, f"/digests/{digest_id}/chart.png")
        resp = Response(html, 200, mimetype="text/html")
        resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"
        return resp

    @bp.get("/digests/<int:digest_id>/chart.png")
    def chart(digest_id: int) -> Response:
        with pool.connection() as conn:
            row = conn.execute("SELECT chart_png FROM digests WHERE id = %s", (digest_id,)).fetchone()
        if not row or row[0] is None:
            raise HTTPError(404, f"digest {digest_id} has no chart")
        return Response(bytes(row[0]), 200, mimetype="image/png")

    @bp.get("/api/v1/digests")
    def api_digests() -> Response:
        return _json({"status": "success", "digests": listing()})

    @bp.get("/api/v1/digests/<int:digest_id>")
    def api_digest(digest_id: int) -> Response:
        return _json({"status": "success", "digest": one(digest_id)})

    @bp.get("/api/v1/summaries")
    def api_summaries() -> Response:
        """Daily summaries whose day starts in [from, to): the rows behind a digest's waste section."""
        start, end = period_arg("from"), period_arg("to")
        assert start is not None and end is not None
        if not start < end or (end - start).days > 400:
            raise HTTPError(400, "from must be before to, at most 400 days apart")
        with pool.connection() as conn:
            rows = _rows(conn, """
                SELECT s.hostname, p.period_start, p.is_underutilized, p.utilization_score, p.avg_cpu_percent,
                       p.avg_ram_percent, p.avg_gpu_utilization, s.gpu_count
                  FROM performance_summaries p JOIN systems s ON s.id = p.system_id
                 WHERE p.period_type = 'daily' AND p.period_start >= %s AND p.period_start < %s
                 ORDER BY s.hostname, p.period_start LIMIT 20000""", (start, end))
        return _json({"status": "success", "summaries": rows})

    return bp
