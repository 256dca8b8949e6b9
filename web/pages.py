"""The console's pages Blueprint (session cookie, CSRF on every form post): the reads of
web/console.py rendered, and the operators' form actions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for

from sru.http.errors import HTTPError
from web import queries
from web.charts import forecast_chart, history_chart, summary
from web.console import (
    COLORS,
    FORECAST_COLORS,
    RANGE_WORDS,
    REC_STATUSES,
    REPORT_FORMATS,
    SEVERITIES,
    SOURCE_WORDS,
    STATUSES,
    console,
)

bp = Blueprint("pages", __name__)


def page(name: str, **kw: Any) -> str:
    return render_template(name, account=g.get("account"), **kw)


@bp.get("/")
def fleet() -> str:
    rows, f = console().fleet_rows()
    return page("fleet.html", rows=rows, f=f, statuses=STATUSES)


@bp.get("/hosts/<hostname>")
def host(hostname: str) -> str:
    d = console().host_data(hostname)
    source, span, step = queries.RANGES[d["range"]]
    title = (f"{d['host']['hostname']}: CPU, RAM, GPU and I/O wait in % over the last {RANGE_WORDS[d['range']]} "
             f"({SOURCE_WORDS[source]}), {d['since']:%Y-%m-%d %H:%M} to {d['now']:%Y-%m-%d %H:%M} UTC")
    forecast_svg = {f["metric"]: forecast_chart(f, d["forecast_history"][f["metric"]],
                                                FORECAST_COLORS.get(f["metric"], "#333"), now=d["now"])
                    for f in d["forecasts"] if any(v is not None for _, v in d["forecast_history"][f["metric"]])}
    return page("host.html", d=d, ranges=list(queries.RANGES), source_words=SOURCE_WORDS,
                stats={k: summary(v) for k, v in d["chart"].items()}, forecast_svg=forecast_svg,
                chart_svg=history_chart(d["chart"], COLORS, since=d["since"], step=step, title=title))


@bp.get("/alerts")
def alerts() -> str:
    c = console()
    rows, f = c.alert_rows()
    with c.db() as conn:
        mttr = queries.mttr(conn, queries.utcnow())
    return page("alerts.html", rows=rows, f=f, mttr=mttr, severities=SEVERITIES,
                can_silence=bool(c.settings.alertmanager_url))


@bp.get("/alerts/<int:alert_id>")
def alert(alert_id: int) -> str:
    c = console()
    with c.db() as conn:
        try:
            a = queries.alert(conn, alert_id)
        except queries.NotFound as exc:
            raise HTTPError(404, str(exc)) from None
    return page("alert.html", a=a, can_silence=bool(c.settings.alertmanager_url))


@bp.get("/recommendations")
def recommendations() -> str:
    rows, status = console().recommendations()
    return page("recommendations.html", rows=rows, status=status, statuses=REC_STATUSES)


@bp.get("/recommendations/<report_id>")
def recommendation(report_id: str) -> str:
    return page("recommendation.html", r=console().recommendation_data(report_id))


@bp.get("/reports")
def reports() -> str:
    return page("reports.html", formats=list(REPORT_FORMATS))


@bp.get("/reports/fleet.<fmt>")
def report_download(fmt: str) -> Response:
    return console().report_download(fmt)


# -- actions (operators only) -------------------------------------------------------------------------
@bp.post("/alerts/<int:alert_id>/ack")
def ack(alert_id: int) -> Any:
    console().ack(alert_id, request.form.get("note"), request.form.get("silence"))
    back = request.form.get("back") or ""
    return redirect(back if back.startswith("/alerts") else url_for("pages.alerts"))


@bp.post("/recommendations/<report_id>/<action>")
def transition(report_id: str, action: str) -> Any:
    console().transition(report_id, action, request.form.get("note"))
    return redirect(url_for("pages.recommendation", report_id=report_id))
