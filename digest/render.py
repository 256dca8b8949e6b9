"""The digest as HTML (e-mail-safe: tables and inline styles, at most 600 px wide), plain text, Slack
blocks (within Slack's limits) and the generic webhook's JSON. All walk the same sections and write
every number with digest.model.fmt."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Any

import jinja2

from digest.build import subject
from digest.model import Digest, Section

# Slack: 50 blocks per message, 3000 characters per section text, 150 per header text.
SLACK_MAX_BLOCKS = 50
SLACK_MAX_TEXT = 3000
SLACK_MAX_HEADER = 150
MAX_MESSAGE_BYTES = 150 * 1024
CHART_CID = "{key}-chart@sru"

_env = jinja2.Environment(loader=jinja2.PackageLoader("digest", "templates"),
                          autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def html(d: Digest, chart_src: Callable[[str], str] | None = None) -> str:
    src = chart_src or (lambda key: "cid:" + CHART_CID.format(key=key))
    return _env.get_template("digest.html").render(d=d, subject=subject(d), chart_src=src)


def _table_text(s: Section) -> list[str]:
    t = s.table
    if t is None:
        return []
    cells = [t.columns] + [[t.cell(r, i) for i in range(len(r))] for r in t.rows]
    widths = [min(40, max(len(c[i]) for c in cells)) for i in range(len(t.columns))]
    out = ["  " + "  ".join(c[i][:40].ljust(widths[i]) for i in range(len(c))).rstrip() for c in cells]
    if t.more:
        out.append(f"  and {t.more} more in the console")
    return out


def text(d: Digest) -> str:
    lines = [d.title, f"{d.period.label()} ({d.period.zone}), built {d.built_at:%Y-%m-%d %H:%M} UTC",
             f"Console: {d.console_url}", ""]
    for s in d.sections:
        lines += [s.title, "-" * len(s.title), textwrap.fill(s.summary, 78)]
        width = max(len(f.label) for f in s.facts) if s.facts else 0
        lines += [f"  {f.label.ljust(width)}  {f.text()}" for f in s.facts]
        if s.table:
            lines.append("")
            lines += _table_text(s)
        if s.link:
            lines.append(f"  Details: {s.link}")
        lines.append("")
    if d.left_out:
        lines.append(f"Not in this digest yet (no source in this installation): {', '.join(d.left_out)}.")
    return "\n".join(lines).rstrip() + "\n"


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[:n - 1] + "…"


def _esc(s: str) -> str:
    """Slack's mrkdwn control characters in our text (host names, titles) as the entities it wants."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(d: Digest) -> dict[str, Any]:
    """An incoming-webhook payload: header, period, one section block per digest section (facts,
    then the first table rows as a code block, clipped to 3000 characters), a link to the console."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(d.title, SLACK_MAX_HEADER)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(
            f"{d.period.label()} ({d.period.zone}) · <{d.console_url}|console>", SLACK_MAX_TEXT)}]}]
    for s in d.sections:
        title = f"*<{s.link}|{_esc(s.title)}>*" if s.link else f"*{_esc(s.title)}*"
        facts = "\n".join(f"{_esc(f.label)}: *{_esc(f.text())}*" for f in s.facts)
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"{title}\n{facts}", SLACK_MAX_TEXT)}})
        if s.table and s.table.rows:
            body = _esc("\n".join(_table_text(s)))
            blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                        "text": _clip("```" + _clip(body, SLACK_MAX_TEXT - 7) + "```",
                                                                      SLACK_MAX_TEXT)}})
    if d.left_out:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(
            "Not in this digest yet: " + ", ".join(d.left_out), SLACK_MAX_TEXT)}]})
    if len(blocks) > SLACK_MAX_BLOCKS:
        blocks = blocks[:SLACK_MAX_BLOCKS - 1] + [{"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"More in the <{d.console_url}|console>."}]}]
    return {"text": _clip(subject(d), SLACK_MAX_TEXT), "blocks": blocks}


def email(subject_line: str, built_at: datetime, *, sender: str, to: list[str], message_id: str, html_body: str, text_body: str,
          charts: dict[str, bytes]) -> bytes:
    """multipart/alternative (text, then HTML with the charts as multipart/related CID images).
    ``message_id`` is the delivery's own, the same on every attempt: a receiving system that
    deduplicates by Message-ID sees a resend as the same message."""
    msg = EmailMessage()
    msg["Subject"] = subject_line
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(built_at)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text_body)
    msg.add_alternative(html_body, subtype="html")
    html_part = msg.get_body(("html",))
    assert isinstance(html_part, EmailMessage)   # the part add_alternative() just made
    for key, data in charts.items():
        html_part.add_related(data, "image", "png", cid=f"<{CHART_CID.format(key=key)}>",
                              filename=f"{key}.png", disposition="inline")
    return msg.as_bytes(policy=SMTP_POLICY)


def json_bytes(doc: Any) -> bytes:
    return json.dumps(doc, default=str, separators=(",", ":")).encode()

