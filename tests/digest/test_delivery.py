"""`sru digest` against real sinks on every tier: an SMTP server that demands STARTTLS and AUTH, and
an HTTP server standing in for Slack and a generic webhook. One run sends each digest once to each
destination; a second run sends nothing; the message is a proper e-mail; the ledger role writes only
the ledger."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import psycopg
import pytest

from digest import config as dconfig
from digest import render
from digest.run import run
from tests.digest.conftest import write_config
from tests.digest.fleet import load_fleet
from tests.digest.sinks import HttpSink, SmtpSink

NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")


def numbers(text: str) -> list[str]:
    """The numbers a reader sees; links (the console's URLs, in href attributes in the HTML) left out."""
    return sorted(NUMBER.findall(re.sub(r"https?://\S+", " ", text)))


def html_text(html: str) -> str:
    import html as h

    body = re.sub(r"(?s)<head>.*?</head>", " ", html)
    return h.unescape(re.sub(r"<[^>]+>", " ", body))


def test_one_run_sends_each_digest_once(database, smtp_sink: SmtpSink, http_sink: HttpSink, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    load_fleet(database, now)
    smtp_sink.mails.clear()
    http_sink.posts.clear()
    cfg = dconfig.load(str(write_config(tmp_path, smtp_sink, http_sink, routes={
        "fleet": ["mail-0", "slack-0", "hook-0"], "departments": {"physics": ["hook-0"]}})))
    with database.connect("digest_sender", autocommit=True) as conn:
        summary = run(conn, cfg, now, metrics_textfile=str(tmp_path / "digest.prom"))
        assert (summary.built, summary.sent, summary.failed) == (["fleet", "department:physics"], 4, 0), \
            summary.describe()
        again = run(conn, cfg, now)
        assert (again.built, again.sent) == ([], 0)
        states = conn.execute("SELECT destination, state, attempts FROM digest_deliveries ORDER BY 1, digest_id"
                              ).fetchall()
        assert states == [("hook-0", "sent", 1)] * 2 + [("mail-0", "sent", 1), ("slack-0", "sent", 1)]
        data, html, text = conn.execute("SELECT data, html, text_body FROM digests WHERE digest_key = 'fleet'"
                                        ).fetchone()
        dept = conn.execute("SELECT data FROM digests WHERE digest_key = 'department:physics'").fetchone()[0]
        # the ledger role writes the ledger only
        for sql in ("DELETE FROM digest_deliveries", "DELETE FROM digests", "UPDATE digests SET subject = 'x'",
                    "UPDATE systems SET location = 'x'", "INSERT INTO users (username) VALUES ('x')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)

    # e-mail: one message to both addresses, text + HTML + the chart as a CID image, ≤ 150 KB
    assert len(smtp_sink.mails) == 1
    mail = smtp_sink.mails[0]
    assert sorted(mail.rcpt) == ["deputy0@lab.example", "head0@lab.example"]
    assert mail.size <= render.MAX_MESSAGE_BYTES
    msg: EmailMessage = mail.message
    assert msg["Message-ID"].startswith("<sru-digest-") and msg["Subject"].startswith("sru fleet digest")
    plain, html_part = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and html_part is not None
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    png = images[0].get_payload(decode=True)
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG")
    cid = images[0]["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html_part.get_content()
    # the plain-text part says the same things: the same numbers, as many times
    said, shown = numbers(plain.get_content()), numbers(html_text(html_part.get_content()))
    assert said == shown, (Counter(said) - Counter(shown), Counter(shown) - Counter(said))
    assert plain.get_content().replace("\r\n", "\n") == text

    # every section whose source exists, with its facts
    keys = [s["key"] for s in data["sections"]]
    assert keys == ["overview", "usage", "top_users", "waste", "plan", "decisions", "forecasts", "alerts"]
    alerts = {f["key"]: f["value"] for f in next(s for s in data["sections"] if s["key"] == "alerts")["facts"]}
    assert (alerts["alerts"], alerts["alerts_critical"], alerts["alerts_open"]) == (3, 1, 1)
    assert alerts["mttr_minutes"] == pytest.approx((45 + 130) / 2)

    # Slack: within its limits; the webhook: JSON with the numbers, idempotency key and token
    slack = next(p for p in http_sink.posts if p.path == "/slack/0")
    assert len(slack.body["blocks"]) <= render.SLACK_MAX_BLOCKS
    for b in slack.body["blocks"]:
        for t in [b.get("text", {}).get("text", "")] + [e.get("text", "") for e in b.get("elements", [])]:
            assert len(t) <= (render.SLACK_MAX_HEADER if b["type"] == "header" else render.SLACK_MAX_TEXT)
    # the department's digest: its own usage and users only
    usage = {s["key"]: s for s in dept["sections"]}
    assert [r[0] for r in usage["usage"]["table"]["rows"]] == ["physics"]
    assert {r[1] for r in usage["top_users"]["table"]["rows"]} == {"physics"}
    assert usage["waste"]["summary"].startswith("Fleet-wide. ") and not usage["usage"]["summary"].startswith("Fleet")
    hook = next(p for p in http_sink.posts if p.path == "/hook/0" and p.body["digest"] == "fleet")
    assert hook.headers["Authorization"] == "Bearer hook-token-0"
    assert hook.headers["Idempotency-Key"] == hook.body["idempotency_key"]
    assert hook.body["sections"] == data["sections"]
    # the metrics textfile, from the ledger
    prom = (tmp_path / "digest.prom").read_text()
    assert 'sru_digest_deliveries{state="sent"} 4.0' in prom and 'sru_digest_deliveries{state="failed"} 0.0' in prom


def test_failures_are_retried_then_given_up_and_counted(tsdb_database, smtp_sink: SmtpSink, http_sink: HttpSink,
                                                        tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with tsdb_database.connect() as conn:   # an empty fleet still makes a digest
        conn.execute("INSERT INTO systems (hostname) VALUES ('lab-01')")
    http_sink.posts.clear()
    http_sink.fail.update({"/hook/0": 2, "/slack/0": 99})
    cfg = dconfig.load(str(write_config(tmp_path, smtp_sink, http_sink, emails=0, attempts=3)))
    prom = tmp_path / "digest.prom"
    try:
        with tsdb_database.connect("digest_sender", autocommit=True) as conn:
            summary = run(conn, cfg, now, metrics_textfile=str(prom))
            rows = conn.execute("SELECT destination, state, attempts, last_error FROM digest_deliveries "
                                "ORDER BY 1").fetchall()
    finally:
        http_sink.fail.clear()
    assert (summary.sent, summary.failed) == (1, 1)
    assert rows[0][:3] == ("hook-0", "sent", 3)
    assert rows[1][:3] == ("slack-0", "failed", 3) and "500" in rows[1][3]
    assert [p.path for p in http_sink.posts] == ["/hook/0"]
    text = prom.read_text()
    assert 'sru_digest_delivery_failed{destination="slack-0",digest="fleet"} 1.0' in text
