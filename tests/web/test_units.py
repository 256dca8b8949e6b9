"""Parsing and drawing helpers of the console (pure functions; the rest is tested against real servers)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import bcrypt
import pytest

from sru.errors import ConfigError
from tests.support.svg import coords, text
from web.accounts import parse_accounts
from web.charts import bridge, forecast_chart, full_in, history_chart, summary, time_ticks
from web.ratelimit import LoginLimiter
from web.sparkline import points, sparkline

NS = "{http://www.w3.org/2000/svg}"
HASH = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()


def test_points_break_at_gaps_and_clamp() -> None:
    assert points([0, 100, None, 50], 30, 10) == ["0.0,10.0 10.0,0.0", "30.0,5.0"]
    assert points([150, -5], 10, 10) == ["0.0,0.0 10.0,10.0"]
    assert points([], 10, 10) == []


def test_sparkline_is_svg_with_escaped_label() -> None:
    svg = sparkline([1, 2, 3], label='<x">')
    assert svg.startswith("<svg") and "&lt;x&#34;&gt;" in svg and "<x" not in svg.replace("<svg", "")


def test_accounts_verify_and_errors_name_the_key() -> None:
    accounts = parse_accounts({"accounts": {"alice": {"password_hash": HASH, "role": "operator"}}})
    alice = accounts.verify("alice", b"pw")
    assert alice is not None and alice.can_act
    assert accounts.verify("alice", b"px") is None and accounts.verify("bob", b"pw") is None
    assert accounts.verify("alice", b"pw" + b"x" * 80) is None  # over bcrypt's 72 bytes: refused
    for doc, where in (({"accounts": {"a": {"password_hash": "plain", "role": "viewer"}}}, "accounts.a.password_hash"),
                       ({"accounts": {"a": {"password_hash": HASH, "role": "admin"}}}, "accounts.a.role"),
                       ({"accounts": {"a b": {"password_hash": HASH, "role": "viewer"}}}, "accounts.a b"),
                       ({"accounts": {"a": {"password_hash": HASH, "role": "viewer", "x": 1}}}, "accounts.a.x"),
                       ({"accounts": {"a": {"password_hash": HASH, "role": "viewer", "token_sha256": "ab"}}},
                        "accounts.a.token_sha256"),
                       ({"users": {}}, "one key")):
        with pytest.raises(ConfigError) as e:
            parse_accounts(doc)
        assert where in str(e.value) and "--web.accounts-file" in str(e.value)


def test_login_limiter() -> None:
    lim = LoginLimiter(max_failures=2, window_s=60)
    assert lim.retry_after("ip:a") == 0
    lim.failed("ip:a", "name:x")
    lim.failed("ip:a", "name:y")
    assert lim.retry_after("ip:a") > 0 and lim.retry_after("name:x") == 0 and lim.retry_after("ip:b") == 0


def _labels(t0: datetime, t1: datetime) -> list[str]:
    return [label for _, label in time_ticks(t0, t1)]


def test_time_ticks_fit_each_range() -> None:
    now = datetime(2025, 3, 5, 14, 20, tzinfo=UTC)  # a Wednesday
    assert _labels(now - timedelta(hours=24), now) == ["15:00", "18:00", "21:00", "Wed 5", "03:00", "06:00",
                                                       "09:00", "12:00"]
    assert _labels(now - timedelta(days=7), now) == ["Thu 27", "Fri 28", "Sat 1", "Sun 2", "Mon 3", "Tue 4", "Wed 5"]
    assert _labels(now - timedelta(days=30), now) == ["Feb 10", "Feb 17", "Feb 24", "Mar 3"]  # Mondays
    assert _labels(now - timedelta(days=90), now) == ["Dec 15", "Jan 1", "Jan 15", "Feb 1", "Feb 15", "Mar 1"]
    assert _labels(now - timedelta(days=365), now) == ["Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
                                                       "Jan 2025", "Feb", "Mar"]


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def test_history_chart_axes_gaps_and_title() -> None:
    since = datetime(2025, 3, 4, 14, 0, tzinfo=UTC)
    hourly = [None if i % 12 else 50.0 for i in range(288)]  # hourly samples in 5-minute slots
    hourly[100:150] = [None] * 50                            # and a 4-hour outage
    svg = _svg(history_chart({"cpu": hourly, "ram": [None] * 288}, {"cpu": "#111"}, since=since,
                             step=timedelta(minutes=5), title='lab<1> & "x"'))
    assert text(svg.find(f"{NS}title")) == 'lab<1> & "x"'
    lines = [coords(p) for p in svg.iter(f"{NS}polyline")]
    assert [len(p) for p in lines] == [9, 11]  # one line per side of the outage, none for RAM
    texts = [(t.get("class"), t.text) for t in svg.iter(f"{NS}text")]
    assert [t for c, t in texts if c == "ylab"] == ["0 %", "25 %", "50 %", "75 %", "100 %"]
    assert [t for c, t in texts if c == "xlab"] == ["15:00", "18:00", "21:00", "Wed 5", "03:00", "06:00", "09:00",
                                                    "12:00"]
    empty = _svg(history_chart({"cpu": [None] * 10}, {}, since=since, step=timedelta(hours=1), title="t"))
    assert "no data in this range" in [t.text for t in empty.iter(f"{NS}text")]
    assert bridge([1, None, None, 2, None, None, 3]) == 6 and bridge([1, 2]) == 2 and bridge([None, 1]) == 1
    assert summary([None, 2, 4]) == {"min": 2, "avg": 3, "max": 4} and summary([None]) is None


def test_forecast_chart_band_limit_and_crossing() -> None:
    now = datetime(2025, 3, 5, 14, 0, tzinfo=UTC)
    history = [(date(2025, 2, 1) + timedelta(days=i), 50.0 + i) for i in range(32)]  # up to 81 % on Mar 4
    line = [((date(2025, 3, 5) + timedelta(days=i)).isoformat(), 82.0 + 2 * i, 78.0 + 2 * i, 86.0 + 2 * i)
            for i in range(30)]
    fc = {"metric": "ram_percent", "status": "crossing", "limit": 90.0, "crossing_date": "2025-03-09",
          "full_in_days": 4, "line": line}
    svg = _svg(forecast_chart(fc, history, "#d62728", now=now))
    assert svg.get("id") == "forecast-ram_percent"
    assert text(svg.find(f"{NS}title")) == ("ram %: daily means of the last 32 days and the 30-day forecast with its "
                                           "95 % band; limit 90 %; full in 4 days (2025-03-09)")
    forecast = coords(svg.find(f"{NS}polyline[@class='forecast']"))
    assert len(forecast) == 1 + 10  # from the last day of history to the first day at 100 %
    assert len(coords(svg.find(f"{NS}polygon[@class='band']"))) == 2 * 10
    texts = [t.text for t in svg.iter(f"{NS}text")]
    assert "limit 90 %" in texts and "full in 4 days" in texts and "today" in texts
    assert svg.find(f"{NS}circle[@class='cross']") is not None
    later = _svg(forecast_chart(fc | {"crossing_date": "2025-06-01", "full_in_days": 88,
                                      "line": [(d, m / 2, lo / 2, up / 2) for d, m, lo, up in line]},
                                history, "#d62728", now=now))
    assert "full in 88 days (Jun 1) →" in [t.text for t in later.iter(f"{NS}text")]
    assert later.find(f"{NS}circle") is None
    flat = _svg(forecast_chart({"metric": "swap_percent", "status": "no_trend", "limit": 50.0}, history, "#000",
                               now=now))
    assert flat.find(f"{NS}polygon") is None and "today" not in [t.text for t in flat.iter(f"{NS}text")]
    assert full_in(0) == "full today" and full_in(1) == "full in 1 day"
