"""The console's Flask application: pages for people (session cookie, CSRF on every form post) and
the same reads and actions as JSON under /api/v1/ (basic auth or bearer token)."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterator
from urllib.parse import quote

from flask import Flask, Response, g, redirect, render_template, request, session, url_for
from markupsafe import Markup

from sru.http.errors import HTTPError
from sru.http.flaskapp import create_app, json_error
from sru.http.status import reason
from web import actions, queries, security
from web.accounts import Accounts
from web.ratelimit import LoginLimiter
from web.charts import forecast_chart, full_in, history_chart, summary
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


def timestamp(t: datetime | None) -> Markup | str:
    """A time as <time> (style.css keeps it on one line: a table cell would break it at the hyphens);
    only the datetime's own digits go into the markup."""
    if t is None:
        return "—"
    return Markup(f'<time datetime="{t.isoformat()}">{t:%Y-%m-%d %H:%M} UTC</time>')


def duration(d: timedelta | None) -> str:
    """A time to resolve as a person says it: '45 min', '3 h 20 min', '2 d 4 h'."""
    if d is None:
        return "—"
    minutes = round(d.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}\u00a0d\u00a0{hours}\u00a0h" if hours else f"{days}\u00a0d"
    if hours:
        return f"{hours}\u00a0h\u00a0{mins}\u00a0min" if mins else f"{hours}\u00a0h"
    return f"{mins}\u00a0min"


def _json(doc: Any, status: int = 200) -> Response:
    return Response(json.dumps(doc, default=_default), status, mimetype="application/json")


def _default(o: Any) -> Any:
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if isinstance(o, timedelta):
        return o.total_seconds()
    return str(o)


def _choice(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if value in (None, ""):
        return None
    if value not in allowed:
        raise HTTPError(400, f"{name} must be one of {', '.join(allowed)}")
    return value


def _text_arg(value: str | None, name: str, limit: int = 253) -> str | None:
    if value in (None, ""):
        return None
    if len(value) > limit or "\0" in value:
        raise HTTPError(400, f"{name} is too long or not text")
    return value


def _report_id(value: str) -> str:
    if not _UUID_RE.match(value):
        raise HTTPError(404, f"no recommendation {value[:40]!r}")
    return value


def _silence(value: Any) -> timedelta | None:
    if value in (None, "", "none"):
        return None
    from sru.silences import parse_duration

    try:
        return parse_duration(str(value))
    except ValueError as exc:
        raise HTTPError(400, f"silence: {exc}") from None


def create_web_app(pool: "ConnectionPool", settings: WebSettings) -> Flask:
    def render_error(err: HTTPError) -> Response:
        if request.path.startswith("/api/") or request.path == "/healthz":
            return json_error(err)
        if err.status == 401 and request.method == "GET":
            return redirect(url_for("login_page", next=request.full_path))  # type: ignore[return-value]
        html = render_template("error.html", status=err.status, reason=reason(err.status), message=err.message)
        return Response(html, err.status, mimetype="text/html")

    app = create_app("web", max_body_bytes=MAX_BODY, render_error=render_error)
    app.config.update(
        SECRET_KEY=settings.secret_key, SRU_ACCOUNTS=settings.accounts,
        SESSION_COOKIE_NAME="sru_session", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
    )
    limiter = LoginLimiter(settings.login_failures, settings.login_window_s)
    accounts = settings.accounts
    app.jinja_env.globals.update(csrf_token=security.csrf_token, grafana_url=settings.grafana_url,
                                 quote=quote, COLORS=COLORS, SERIES_NAMES=SERIES_NAMES)
    app.jinja_env.filters["ts"] = timestamp
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["full_in"] = full_in
    app.jinja_env.filters["num"] = lambda v, d=0: "—" if v is None else f"{v:.{d}f}"

    from contextlib import contextmanager

    @contextmanager
    def db() -> Iterator[Any]:
        with pool.connection() as conn:
            yield conn

    @app.before_request
    def _who() -> Any:
        if request.path == "/healthz" or request.endpoint in ("login_page", "login", "static"):
            return None
        if request.path.startswith("/api/"):
            g.account = security.api_account(accounts, limiter)
            return None
        account = security.session_account(accounts)
        if account is None:
            if request.method == "GET":
                return redirect(url_for("login_page", next=request.full_path))
            raise HTTPError(401, "log in first")
        g.account = account
        if request.method == "POST":
            security.check_csrf()
        return None

    @app.after_request
    def _headers(resp: Response) -> Response:
        # No script of ours runs inline or from elsewhere; nothing a user typed can run as script.
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                "frame-ancestors 'none'; form-action 'self'")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if request.path != "/healthz" and not request.path.startswith("/static/"):
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    def page(name: str, **kw: Any) -> str:
        return render_template(name, account=g.get("account"), **kw)

    # -- log-in -----------------------------------------------------------------------------------
    @app.get("/login", endpoint="login_page")
    def login_page() -> str:
        return render_template("login.html", account=None, next=request.args.get("next", "/"), error=None)

    @app.post("/login", endpoint="login")
    def login() -> Any:
        security.check_csrf()
        name = request.form.get("name", "")[:64]
        nxt = request.form.get("next", "/")
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"  # only our own pages: no open redirect
        try:
            security.login(accounts, limiter, name, request.form.get("password", "")[:1024])
        except HTTPError as err:
            if err.status == 429:
                raise
            return Response(render_template("login.html", account=None, next=nxt, error=err.message), err.status,
                            mimetype="text/html")
        return redirect(nxt)

    @app.post("/logout")
    def logout() -> Any:
        session.clear()
        return redirect(url_for("login_page"))

    @app.get("/healthz")
    def healthz() -> Response:
        with db() as conn:
            conn.execute("SELECT 1")
        return Response("ok\n", 200, mimetype="text/plain")

    # -- reads (pages and API) ----------------------------------------------------------------------
    spark_cache: dict[str, Any] = {"at": -SPARK_TTL_S, "lines": {}, "svg": {}}
    spark_lock = threading.Lock()

    def sparks(conn: Any) -> tuple[dict[Any, Any], dict[Any, Any]]:
        """(arrays, drawn SVG) per host, rebuilt at most every SPARK_TTL_S: hourly stats change only
        when the rollup runs, and drawing 150 sparklines per request was a third of the fleet page."""
        with spark_lock:
            if time.monotonic() - spark_cache["at"] >= SPARK_TTL_S:
                lines = queries.sparklines(conn, queries.utcnow())
                spark_cache["svg"] = {sid: {k: sparkline(v, color=COLORS[k], label=k.upper()) for k, v in ls.items()}
                                      for sid, ls in lines.items()}
                spark_cache["lines"], spark_cache["at"] = lines, time.monotonic()
            return spark_cache["lines"], spark_cache["svg"]

    def fleet_rows() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        f: dict[str, Any] = {"location": _text_arg(request.args.get("location"), "location"),
                             "status": _choice(request.args.get("status"), STATUSES, "status")}
        sort = request.args.get("sort", "hostname")
        with db() as conn:
            rows = queries.fleet(conn, queries.utcnow(), **f)
            f["locations"] = queries.locations(conn)
            lines, svg = sparks(conn)
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

    @app.get("/")
    def fleet() -> str:
        rows, f = fleet_rows()
        return page("fleet.html", rows=rows, f=f, statuses=STATUSES)

    @app.get("/api/v1/hosts")
    def api_hosts() -> Response:
        rows, _ = fleet_rows()
        return _json({"status": "success", "hosts": [{k: v for k, v in r.items() if k != "spark_svg"} for r in rows]})

    def host_data(hostname: str) -> dict[str, Any]:
        range_ = request.args.get("range", "24h")
        if range_ not in queries.RANGES:
            raise HTTPError(400, f"range must be one of {', '.join(queries.RANGES)}")
        with db() as conn:
            try:
                return queries.host(conn, _text_arg(hostname, "host") or "", queries.utcnow(), range_)
            except queries.NotFound as exc:
                raise HTTPError(404, str(exc)) from None

    @app.get("/hosts/<hostname>")
    def host(hostname: str) -> str:
        d = host_data(hostname)
        source, span, step = queries.RANGES[d["range"]]
        title = (f"{d['host']['hostname']}: CPU, RAM, GPU and I/O wait in % over the last {RANGE_WORDS[d['range']]} "
                 f"({SOURCE_WORDS[source]}), {d['since']:%Y-%m-%d %H:%M} to {d['now']:%Y-%m-%d %H:%M} UTC")
        forecast_svg = {f["metric"]: forecast_chart(f, d["forecast_history"][f["metric"]],
                                                    FORECAST_COLORS.get(f["metric"], "#333"), now=d["now"])
                        for f in d["forecasts"] if any(v is not None for _, v in d["forecast_history"][f["metric"]])}
        return page("host.html", d=d, ranges=list(queries.RANGES), source_words=SOURCE_WORDS,
                    stats={k: summary(v) for k, v in d["chart"].items()}, forecast_svg=forecast_svg,
                    chart_svg=history_chart(d["chart"], COLORS, since=d["since"], step=step, title=title))

    @app.get("/api/v1/hosts/<hostname>")
    def api_host(hostname: str) -> Response:
        return _json({"status": "success", **host_data(hostname)})

    def alert_rows() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        f: dict[str, Any] = {
            "state": _choice(request.args.get("state"), ("firing", "resolved", "all"), "state") or "firing",
            "severity": _choice(request.args.get("severity"), SEVERITIES, "severity"),
            "host": _text_arg(request.args.get("host"), "host"),
            "rule": _text_arg(request.args.get("rule"), "rule")}
        with db() as conn:
            return queries.alerts(conn, **f), f

    @app.get("/alerts")
    def alerts() -> str:
        rows, f = alert_rows()
        with db() as conn:
            mttr = queries.mttr(conn, queries.utcnow())
        return page("alerts.html", rows=rows, f=f, mttr=mttr, severities=SEVERITIES,
                    can_silence=bool(settings.alertmanager_url))

    @app.get("/alerts/<int:alert_id>")
    def alert(alert_id: int) -> str:
        with db() as conn:
            try:
                a = queries.alert(conn, alert_id)
            except queries.NotFound as exc:
                raise HTTPError(404, str(exc)) from None
        return page("alert.html", a=a, can_silence=bool(settings.alertmanager_url))

    @app.get("/api/v1/alerts")
    def api_alerts() -> Response:
        rows, _ = alert_rows()
        return _json({"status": "success", "alerts": rows})

    @app.get("/recommendations")
    def recommendations() -> str:
        status = _choice(request.args.get("status"), REC_STATUSES, "status") or "pending"
        with db() as conn:
            rows = queries.recommendations(conn, status)
        return page("recommendations.html", rows=rows, status=status, statuses=REC_STATUSES)

    @app.get("/api/v1/recommendations")
    def api_recommendations() -> Response:
        status = _choice(request.args.get("status"), REC_STATUSES, "status") or "pending"
        with db() as conn:
            return _json({"status": "success", "recommendations": queries.recommendations(conn, status)})

    def recommendation_data(report_id: str) -> dict[str, Any]:
        with db() as conn:
            try:
                return queries.recommendation(conn, _report_id(report_id))
            except queries.NotFound as exc:
                raise HTTPError(404, str(exc)) from None

    @app.get("/recommendations/<report_id>")
    def recommendation(report_id: str) -> str:
        return page("recommendation.html", r=recommendation_data(report_id))

    @app.get("/api/v1/recommendations/<report_id>")
    def api_recommendation(report_id: str) -> Response:
        return _json({"status": "success", "recommendation": recommendation_data(report_id)})

    @app.get("/reports")
    def reports() -> str:
        return page("reports.html", formats=list(REPORT_FORMATS))

    @app.get("/reports/fleet.<fmt>")
    @app.get("/api/v1/reports/fleet.<fmt>")
    def report_download(fmt: str) -> Response:
        if fmt not in REPORT_FORMATS:
            raise HTTPError(404, f"no report format {fmt[:10]!r}: {', '.join(REPORT_FORMATS)}")
        text = report_text(fmt)
        resp = Response(text, 200, mimetype=REPORT_FORMATS[fmt])
        if request.args.get("download"):
            resp.headers["Content-Disposition"] = f'attachment; filename="sru-fleet-report.{fmt}"'
        if fmt == "html":  # the report's own inline styles and SVG, and nothing else
            resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
        return resp

    report_cache: dict[str, tuple[float, str]] = {}

    def report_text(fmt: str) -> str:
        """The fleet report changes when the optimizer runs (hourly): it is built at most once per
        REPORT_TTL_S and format, not per request (building it at 50 hosts takes seconds)."""
        from optimizer.report import build_report, render

        hit = report_cache.get(fmt)
        if hit and time.monotonic() - hit[0] < REPORT_TTL_S:
            return hit[1]
        with db() as conn:
            text = render(build_report(conn), fmt)
        report_cache[fmt] = (time.monotonic(), text)
        return text

    # -- actions (operators only) -------------------------------------------------------------------
    def do_ack(alert_id: int, note: Any, silence: Any) -> dict[str, Any]:
        account = security.require_operator()
        note = actions.clean_note(note, required=False, what="the note")
        with db() as conn:
            return actions.acknowledge(conn, alert_id, account.name, note, _silence(silence),
                                       settings.alertmanager_url)

    @app.post("/alerts/<int:alert_id>/ack")
    def ack(alert_id: int) -> Any:
        do_ack(alert_id, request.form.get("note"), request.form.get("silence"))
        back = request.form.get("back") or ""
        return redirect(back if back.startswith("/alerts") else url_for("alerts"))

    @app.post("/api/v1/alerts/<int:alert_id>/ack")
    def api_ack(alert_id: int) -> Response:
        doc = _json_body()
        return _json({"status": "success", "acknowledgement": do_ack(alert_id, doc.get("note"), doc.get("silence"))})

    def do_transition(report_id: str, action: str, note: Any) -> dict[str, Any]:
        if action not in actions.TRANSITIONS:
            raise HTTPError(404, f"no action {action[:20]!r}: {', '.join(actions.TRANSITIONS)}")
        account = security.require_operator()
        note = actions.clean_note(note, required=action == "reject", what="the reason" if action == "reject"
                                  else "the note")
        with db() as conn:
            return actions.transition(conn, _report_id(report_id), action, account.name, note)

    @app.post("/recommendations/<report_id>/<action>")
    def transition(report_id: str, action: str) -> Any:
        do_transition(report_id, action, request.form.get("note"))
        return redirect(url_for("recommendation", report_id=report_id))

    @app.post("/api/v1/recommendations/<report_id>/<action>")
    def api_transition(report_id: str, action: str) -> Response:
        return _json({"status": "success", "recommendation": do_transition(report_id, action, _json_body().get("note"))})

    return app


def _json_body() -> dict[str, Any]:
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


def new_secret_key() -> bytes:
    return secrets.token_bytes(32)
