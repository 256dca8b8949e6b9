"""What the console's pages (web/pages.py) and API (web/api.py) share: the pool its cli.py opened, the
settings, the caches, and each read and action once, which the pages render and the API returns as
JSON; plus the checks of request arguments. One Console per app, in ``app.extensions``."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import Response, current_app, request

from sru.http.errors import HTTPError
from web import actions, digests, queries, security
from web.accounts import Accounts
from web.ratelimit import LoginLimiter
from web.sparkline import sparkline

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SEVERITIES = ("critical", "warning", "info")
STATUSES = ("active", "maintenance", "retired", "offline")
REC_STATUSES = ("pending", "approved", "implemented", "rejected", "all")
REPORT_FORMATS = {"html": "text/html", "csv": "text/csv", "json": "application/json", "md": "text/markdown"}
COLORS = {"cpu": "#1f77b4", "ram": "#d62728", "gpu": "#2ca02c", "io_wait": "#9467bd"}
FORECAST_COLORS = {"ram_percent": COLORS["ram"], "gpu_memory_percent": COLORS["gpu"], "swap_percent": "#8c564b"}
SERIES_NAMES = {"cpu": "CPU", "ram": "RAM", "gpu": "GPU", "io_wait": "I/O wait"}
RANGE_WORDS = {"24h": "24 hours", "7d": "7 days", "30d": "30 days", "1y": "year"}
SOURCE_WORDS = {"raw": "raw samples, 5-minute means", "hourly": "hourly stats", "daily": "daily summaries"}
MAX_BODY = 64 << 10  # forms and API bodies are a note and a few fields
REPORT_TTL_S = 300
SPARK_TTL_S = 60



@dataclass
class WebSettings:
    accounts: Accounts
    secret_key: bytes
    alertmanager_url: str | None = None
    grafana_url: str | None = None
    secure_cookies: bool = False
    session_hours: int = 12
    login_failures: int = 5
    login_window_s: float = 300.0


class Console:
    def __init__(self, pool: ConnectionPool, settings: WebSettings) -> None:
        self.pool = pool
        self.settings = settings
        self.accounts = settings.accounts
        self.limiter = LoginLimiter(settings.login_failures, settings.login_window_s)
        self._report_cache: dict[str, tuple[float, str]] = {}
        self._spark_cache: dict[str, Any] = {"at": -SPARK_TTL_S, "lines": {}, "svg": {}}
        self._spark_lock = threading.Lock()

    @contextmanager
    def db(self) -> Iterator[Any]:
        with self.pool.connection() as conn:
            yield conn

    # -- reads ----------------------------------------------------------------------------------------
    def sparks(self, conn: Any) -> tuple[dict[Any, Any], dict[Any, Any]]:
        """(arrays, drawn SVG) per host, rebuilt at most every SPARK_TTL_S: hourly stats change only
        when the rollup runs, and drawing 150 sparklines per request was a third of the fleet page."""
        cache = self._spark_cache
        with self._spark_lock:
            if time.monotonic() - cache["at"] >= SPARK_TTL_S:
                lines = queries.sparklines(conn, queries.utcnow())
                cache["svg"] = {sid: {k: sparkline(v, color=COLORS[k], label=k.upper()) for k, v in ls.items()}
                                for sid, ls in lines.items()}
                cache["lines"], cache["at"] = lines, time.monotonic()
            return cache["lines"], cache["svg"]

    def fleet_rows(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        f: dict[str, Any] = {"location": text_arg(request.args.get("location"), "location"),
                             "status": choice(request.args.get("status"), STATUSES, "status")}
        sort = request.args.get("sort", "hostname")
        with self.db() as conn:
            rows = queries.fleet(conn, queries.utcnow(), **f)
            f["locations"] = queries.locations(conn)
            lines, svg = self.sparks(conn)
        empty: dict[str, list[Any]] = {k: [] for k in ("cpu", "ram", "gpu")}
        blank = {k: sparkline([], color=COLORS[k], label=k.upper()) for k in ("cpu", "ram", "gpu")}
        for r in rows:
            r["spark"] = lines.get(r["id"], empty)
            r["spark_svg"] = svg.get(r["id"], blank)
        keys: dict[str, Callable[[dict[str, Any]], Any]] = {
            "hostname": lambda r: r["hostname"], "last_seen": lambda r: r["last_seen"],
            "score": lambda r: -1 if r["utilization_score"] is None else r["utilization_score"],
            "alerts": lambda r: r["open_alerts"], "pending": lambda r: r["pending_recommendations"],
            "location": lambda r: r["location"] or ""}
        if sort.lstrip("-") in keys:
            rows.sort(key=lambda r: (keys[sort.lstrip("-")](r) is None, keys[sort.lstrip("-")](r)),
                      reverse=sort.startswith("-"))
        f["sort"] = sort
        return rows, f

    def host_data(self, hostname: str) -> queries.HostPage:
        range_ = request.args.get("range", "24h")
        if range_ not in queries.RANGES:
            raise HTTPError(400, f"range must be one of {', '.join(queries.RANGES)}")
        with self.db() as conn:
            try:
                at = digests.period_arg("at", required=False) or queries.utcnow()
                return queries.host(conn, text_arg(hostname, "host") or "", at, range_)
            except queries.NotFound as exc:
                raise HTTPError(404, str(exc)) from None

    def alert_rows(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        f: dict[str, Any] = {
            "state": choice(request.args.get("state"), ("firing", "resolved", "all"), "state") or "firing",
            "severity": choice(request.args.get("severity"), SEVERITIES, "severity"),
            "host": text_arg(request.args.get("host"), "host"),
            "rule": text_arg(request.args.get("rule"), "rule"),
            # [from, to) of triggered_at: the alerts of a digest's period
            "since": digests.period_arg("from", required=False), "until": digests.period_arg("to", required=False)}
        with self.db() as conn:
            return queries.alerts(conn, **f), f

    def recommendations(self) -> tuple[list[dict[str, Any]], str]:
        status = choice(request.args.get("status"), REC_STATUSES, "status") or "pending"
        with self.db() as conn:
            return queries.recommendations(conn, status), status

    def recommendation_data(self, report_id: str) -> dict[str, Any]:
        with self.db() as conn:
            try:
                return queries.recommendation(conn, report_id_arg(report_id))
            except queries.NotFound as exc:
                raise HTTPError(404, str(exc)) from None

    def report_download(self, fmt: str) -> Response:
        if fmt not in REPORT_FORMATS:
            raise HTTPError(404, f"no report format {fmt[:10]!r}: {', '.join(REPORT_FORMATS)}")
        text = self.report_text(fmt)
        resp = Response(text, 200, mimetype=REPORT_FORMATS[fmt])
        if request.args.get("download"):
            resp.headers["Content-Disposition"] = f'attachment; filename="sru-fleet-report.{fmt}"'
        if fmt == "html":  # the report's own inline styles and SVG, and nothing else
            resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
        return resp

    def report_text(self, fmt: str) -> str:
        """The fleet report changes when the optimizer runs (hourly): it is built at most once per
        REPORT_TTL_S and format, not per request (building it at 50 hosts takes seconds)."""
        from optimizer.report import build_report, render

        hit = self._report_cache.get(fmt)
        if hit and time.monotonic() - hit[0] < REPORT_TTL_S:
            return hit[1]
        with self.db() as conn:
            text = render(build_report(conn), fmt)
        self._report_cache[fmt] = (time.monotonic(), text)
        return text

    # -- actions (operators only) ---------------------------------------------------------------
    def ack(self, alert_id: int, note: Any, silence: Any) -> dict[str, Any]:
        account = security.require_operator()
        note = actions.clean_note(note, required=False, what="the note")
        with self.db() as conn:
            return actions.acknowledge(conn, alert_id, account.name, note, silence_arg(silence),
                                       self.settings.alertmanager_url)

    def transition(self, report_id: str, action: str, note: Any) -> dict[str, Any]:
        if action not in actions.TRANSITIONS:
            raise HTTPError(404, f"no action {action[:20]!r}: {', '.join(actions.TRANSITIONS)}")
        account = security.require_operator()
        note = actions.clean_note(note, required=action == "reject", what="the reason" if action == "reject"
                                  else "the note")
        with self.db() as conn:
            return actions.transition(conn, report_id_arg(report_id), action, account.name, note)


def console() -> Console:
    """The Console of the app serving this request."""
    c: Console = current_app.extensions["sru_web"]
    return c


def json_response(doc: Any, status: int = 200) -> Response:
    return Response(json.dumps(doc, default=_json_default), status, mimetype="application/json")


def _json_default(o: Any) -> Any:
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if isinstance(o, timedelta):
        return o.total_seconds()
    return str(o)


def choice(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if value in (None, ""):
        return None
    if value not in allowed:
        raise HTTPError(400, f"{name} must be one of {', '.join(allowed)}")
    return value


def text_arg(value: str | None, name: str, limit: int = 253) -> str | None:
    if value in (None, ""):
        return None
    if len(value) > limit or "\0" in value:
        raise HTTPError(400, f"{name} is too long or not text")
    return value


def report_id_arg(value: str) -> str:
    if not _UUID_RE.match(value):
        raise HTTPError(404, f"no recommendation {value[:40]!r}")
    return value


def silence_arg(value: Any) -> timedelta | None:
    if value in (None, "", "none"):
        return None
    from sru.silences import parse_duration

    try:
        return parse_duration(str(value))
    except ValueError as exc:
        raise HTTPError(400, f"silence: {exc}") from None


def json_body() -> dict[str, Any]:
    from sru.http.flaskapp import body

    raw = body()
    if not raw:
        return {}
    if (request.mimetype or "") != "application/json":
        raise HTTPError(415, "send application/json")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPError(400, f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise HTTPError(400, "body must be a JSON object")
    return doc
