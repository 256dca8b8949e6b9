"""The console's JSON API Blueprint (/api/v1/, basic auth or a bearer token): the reads and actions of
the pages (web/console.py), as JSON."""

from __future__ import annotations

from flask import Blueprint, Response

from web.console import console, json_body, json_response

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/hosts")
def hosts() -> Response:
    rows, _ = console().fleet_rows()
    return json_response({"status": "success",
                          "hosts": [{k: v for k, v in r.items() if k != "spark_svg"} for r in rows]})


@bp.get("/hosts/<hostname>")
def host(hostname: str) -> Response:
    return json_response({"status": "success", **console().host_data(hostname)})


@bp.get("/alerts")
def alerts() -> Response:
    rows, _ = console().alert_rows()
    return json_response({"status": "success", "alerts": rows})


@bp.get("/recommendations")
def recommendations() -> Response:
    rows, _ = console().recommendations()
    return json_response({"status": "success", "recommendations": rows})


@bp.get("/recommendations/<report_id>")
def recommendation(report_id: str) -> Response:
    return json_response({"status": "success", "recommendation": console().recommendation_data(report_id)})


@bp.get("/reports/fleet.<fmt>")
def report_download(fmt: str) -> Response:
    return console().report_download(fmt)


@bp.post("/alerts/<int:alert_id>/ack")
def ack(alert_id: int) -> Response:
    doc = json_body()
    return json_response({"status": "success",
                          "acknowledgement": console().ack(alert_id, doc.get("note"), doc.get("silence"))})


@bp.post("/recommendations/<report_id>/<action>")
def transition(report_id: str, action: str) -> Response:
    return json_response({"status": "success",
                          "recommendation": console().transition(report_id, action, json_body().get("note"))})
