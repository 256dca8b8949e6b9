"""The digest's pure parts: periods and due times in a time zone (DST weeks, the Monday before and
after 07:00, a due time in a DST gap), the config's errors (each names its option), Slack's limits,
the PNG."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from digest import config as dconfig
from digest import png, render
from digest.model import Digest, Fact, Section, Table, fmt
from digest.schedule import Schedule, parse_schedule
from sru.errors import ConfigError

BERLIN = Schedule(zone=ZoneInfo("Europe/Berlin"))
UTC = UTC


def test_weekly_period_is_the_local_week_before_the_due_monday() -> None:
    # Monday 2026-12-07 06:59 Berlin (05:59 UTC): the digest of the week before last is the latest due
    p, due = BERLIN.latest_due(datetime(2026, 12, 7, 5, 59, tzinfo=UTC))
    assert (p.first_day, p.last_day) == (date(2026, 11, 23), date(2026, 11, 29))
    assert due == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    p, due = BERLIN.latest_due(datetime(2026, 12, 7, 6, 0, tzinfo=UTC))
    assert (p.first_day, p.last_day) == (date(2026, 11, 30), date(2026, 12, 6))
    assert p.start == datetime(2026, 11, 29, 23, 0, tzinfo=UTC) and p.hours == 168
    assert BERLIN.next_due(datetime(2026, 12, 7, 6, 0, tzinfo=UTC)) == datetime(2026, 12, 14, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("monday, hours, due_utc", [
    (date(2026, 3, 30), 167, datetime(2026, 3, 30, 5, 0, tzinfo=UTC)),    # the week of the spring change
    (date(2026, 10, 26), 169, datetime(2026, 10, 26, 6, 0, tzinfo=UTC)),  # the autumn change
    (date(2025, 1, 6), 168, datetime(2025, 1, 6, 6, 0, tzinfo=UTC)),      # across the year end
])
def test_dst_weeks_have_their_own_length(monday: date, hours: int, due_utc: datetime) -> None:
    p = BERLIN.period_ending(monday)
    assert p.hours == hours
    assert BERLIN.due_time(monday) == due_utc
    assert BERLIN.latest_due(due_utc)[0] == p and BERLIN.latest_due(due_utc - timedelta(seconds=1))[0] != p


def test_previous_period_is_the_local_week_before() -> None:
    p = BERLIN.period_ending(date(2026, 11, 2))        # Oct 26 - Nov 1: after the autumn change
    prev = p.previous()
    assert prev == BERLIN.period_ending(date(2026, 10, 26)) and prev.hours == 169 and prev.end == p.start


def test_daily_and_a_due_time_in_a_dst_gap() -> None:
    s = Schedule(every="daily", at=time(2, 30), zone=ZoneInfo("Europe/Berlin"))
    # 2026-03-29 02:30 does not exist in Berlin: read with the offset before the gap (+01:00)
    assert s.due_time(date(2026, 3, 29)) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    p, _ = s.latest_due(datetime(2026, 3, 1, 0, 0, tzinfo=UTC))    # leap-free February's last day
    assert (p.first_day, p.last_day) == (date(2026, 2, 27), date(2026, 2, 27))
    p, _ = s.latest_due(datetime(2028, 3, 1, 12, 0, tzinfo=UTC))
    assert p.first_day == date(2028, 2, 29) and p.hours == 24


@pytest.mark.parametrize("doc, option", [
    ({"every": "hourly"}, "schedule.every"), ({"weekday": "mon"}, "schedule.weekday"),
    ({"time": "7 am"}, "schedule.time"), ({"timezone": "Mars/Olympus"}, "schedule.timezone"),
    ({"tz": "UTC"}, "schedule.tz")])
def test_schedule_errors_name_the_option(doc: dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigError, match=option.replace(".", r"\.")):
        parse_schedule(doc, "schedule")


def _base(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "pw").write_text("secret")
    (tmp_path / "slack").write_text("https://hooks.slack.com/services/T/B/X")
    return {"smtp": {"host": "mail", "username": "u", "password_file": str(tmp_path / "pw"), "from": "sru@lab.example"},
            "destinations": {"heads": {"email": ["a@lab.example"]}, "chat": {"slack_url_file": str(tmp_path / "slack")},
                             "hook": {"webhook_url": "https://hook.example/x"}},
            "routes": {"fleet": ["heads", "chat"], "departments": {"physics": ["hook"]}}}


@pytest.mark.parametrize("change, option", [
    (lambda d: d["routes"]["fleet"].append("nobody"), r"routes\.fleet\[2\]"),
    (lambda d: d["routes"]["departments"].update(chem=[]), r"routes\.departments\.chem"),
    (lambda d: d["destinations"]["heads"].update(email=["not-an-address"]), r"destinations\.heads\.email\[0\]"),
    (lambda d: d["destinations"]["chat"].update(slack_url_file="/nonexistent"), r"destinations\.chat\.slack_url_file"),
    (lambda d: d["destinations"]["hook"].update(webhook_url="ftp://x"), r"destinations\.hook\.webhook_url"),
    (lambda d: d["destinations"].update(both={"email": ["a@b.c"], "webhook_url": "https://x"}), r"destinations\.both"),
    (lambda d: d["smtp"].update(port=70000), r"smtp\.port"),
    (lambda d: d["smtp"].update(password_file="/nonexistent"), r"smtp\.password_file"),
    (lambda d: d["smtp"].update(ssl=True, starttls=True), r"smtp\.ssl"),
    (lambda d: d.update(retry={"attempts": 0}), r"retry\.attempts"),
    (lambda d: d.update(retry={"backoff": "soon"}), r"retry\.backoff"),
    (lambda d: d.update(console_url="console"), r"console_url"),
    (lambda d: d.update(colour="blue"), r"colour"),
])
def test_config_errors_name_the_option(tmp_path: Path, change, option: str) -> None:
    doc = _base(tmp_path)
    assert dconfig.parse(doc, "d.yml").routes() == {"fleet": ("heads", "chat"), "department:physics": ("hook",)}
    change(doc)
    with pytest.raises(ConfigError, match=f"d.yml: {option}"):
        dconfig.parse(doc, "d.yml")


def _big_digest() -> Digest:
    p = Schedule().period_ending(date(2026, 12, 7))
    long = "x" * 5000
    sections = [Section(f"s{i}", f"Section {i} " + long, long, [Fact(f"f{j}", long[:200], j) for j in range(40)],
                        Table(["Host", "Value"], [[long, 1.5]] * 200, [0, 1]), "http://c/" + long[:100])
                for i in range(40)]
    return Digest("fleet", "Fleet digest " + long, p, datetime(2026, 12, 7, 7, tzinfo=UTC), "http://c", sections, [])


def test_slack_payload_stays_within_slacks_limits() -> None:
    payload = render.slack(_big_digest())
    assert len(payload["blocks"]) <= 50
    for b in payload["blocks"]:
        texts = [b.get("text", {}).get("text", "")] + [e.get("text", "") for e in b.get("elements", [])]
        assert all(len(t) <= (150 if b["type"] == "header" else 3000) for t in texts)


def test_slack_text_is_escaped() -> None:
    d = _big_digest()
    d.sections = [Section("x", "RAM <90 % & swap", "", [Fact("f", "host <a|b>", 1)], None, "http://c/x")]
    text = render.slack(d)["blocks"][3]["text"]["text"]
    assert text == "*<http://c/x|RAM &lt;90 % &amp; swap>*\nhost &lt;a|b&gt;: *1*"


def test_png_is_a_valid_image() -> None:
    data = png.bar_chart([[10.0, 50.0, None], [100.0, 0.0, 120.0]], [(1, 2, 3), (4, 5, 6), (7, 8, 9)],
                         width=40, height=20)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, colour) == (40, 20, 8, 2)
    idat = data.index(b"IDAT")
    raw = zlib.decompress(data[idat + 4: idat + 4 + struct.unpack(">I", data[idat - 4:idat])[0]])
    assert len(raw) == 20 * (1 + 40 * 3)
    assert bytes((4, 5, 6)) in raw and bytes((7, 8, 9)) in raw   # the bar over the top is clipped, not dropped


def test_numbers_are_written_one_way() -> None:
    assert (fmt(None), fmt(3), fmt(12.345, 1, "%"), fmt(1234.5, 1, "d"), fmt("n/a")) == \
        ("—", "3", "12.3%", "1,234.5 d", "n/a")


def test_now_flag_names_itself() -> None:
    from digest.cli import parse_now

    assert parse_now("2026-12-07T08:00") == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    with pytest.raises(ConfigError, match="^--now: 'yesterday' is not an ISO 8601 time"):
        parse_now("yesterday")
