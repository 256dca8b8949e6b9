"""The pass stores the forecasts the readers show, and a forecast must not move because a day has just begun (issue 18: a leaking host read "full
today" at 00:10). The optimizer writes a day's summary from the day's first hours when it runs; once
midnight passes, that partial mean must not count as a whole day until a pass has summarised the
day to its end."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from optimizer import forecast
from optimizer.demo import generate
from optimizer.run import run_once
from sru import clock

pytestmark = pytest.mark.dated


def _ram_forecast(conn, now: datetime) -> forecast.Forecast:
    sid = conn.execute("SELECT id FROM systems WHERE hostname = 'demo-memory-leak-01'").fetchone()[0]
    return forecast.host_forecasts(conn, now, ("ram_percent",), [sid])[sid]["ram_percent"]


def test_forecast_holds_across_midnight_until_the_day_is_whole(database):
    # The next midnight after "now" (scripts/clock-sweep moves it: a year end, a leap day...).
    midnight = (clock.now() + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    before, after = midnight - timedelta(minutes=5), midnight + timedelta(minutes=10)
    pass_at = midnight - timedelta(hours=21)   # a daily pass at 03:00: the day's summary has 3 h of it
    with database.connect() as conn:
        assert forecast.stored(conn).last_fitted_at is None   # no pass yet: nothing stored, nothing to show
        generate(conn, hosts=5, days=16, interval=timedelta(hours=1), seed=5, end=midnight)
        conn.execute('CREATE TEMP TABLE later AS SELECT * FROM usage_metrics WHERE "timestamp" > %s', (pass_at,))
        conn.execute('DELETE FROM usage_metrics WHERE "timestamp" > %s', (pass_at,))
        run_once(conn, full=True, now=pass_at)
        conn.execute('INSERT INTO usage_metrics SELECT * FROM later')   # the rest of the day arrives
        conn.commit()
        partial = conn.execute(
            "SELECT sample_count FROM performance_summaries s JOIN systems h ON h.id = s.system_id "
            "WHERE h.hostname = 'demo-memory-leak-01' AND period_type = 'daily' AND period_start = %s",
            (midnight - timedelta(days=1),)).fetchone()
        assert partial == (4,)   # 00:00..03:00: the summary the old code took for a whole day

        at_2355, at_0010 = _ram_forecast(conn, before), _ram_forecast(conn, after)
        assert at_2355.status == "crossing", at_2355
        assert at_0010 == at_2355          # nothing new is known: the same fit, the same dates
        # ... and what the readers show until the next pass is what the pass stored: that same fit.
        assert _stored(conn) == at_2355

        # The next pass summarises the whole day: one more day in the fit, and the leak's date moves
        # by a day at most.
        run_once(conn, now=after)
        whole = _ram_forecast(conn, after)
        assert whole.days_used == at_2355.days_used + 1, (whole, at_2355)
        assert whole.status == "crossing" and whole.crossing_date and at_2355.crossing_date
        assert abs((datetime.fromisoformat(whole.crossing_date) -
                    datetime.fromisoformat(at_2355.crossing_date)).days) <= 1, (whole, at_2355)
        assert _stored(conn) == whole

        # The pass stored every host's forecasts (host_forecasts, sql/059): the figures it fitted, with
        # how and over what. Storing again changes nothing; a host the next pass fits nothing for loses
        # its forecast instead of keeping a stale one.
        fitted, got = forecast.host_forecasts(conn, after), forecast.stored(conn)
        assert got.forecasts == fitted and len(fitted) == 5 and got.last_fitted_at == after
        assert set(got.fitting.values()) == {forecast.Fitting("ols_daily_mean", 365, *forecast.window(conn, after),
                                                              after)}
        rows = conn.execute("SELECT * FROM host_forecasts ORDER BY system_id, metric").fetchall()
        assert len(rows) == sum(len(per) for per in fitted.values())
        forecast.refresh(conn, after)
        assert conn.execute("SELECT * FROM host_forecasts ORDER BY system_id, metric").fetchall() == rows
        gone = next(iter(fitted))
        conn.execute("DELETE FROM performance_summaries WHERE system_id = %s", (gone,))
        forecast.refresh(conn, after + timedelta(hours=1))
        got = forecast.stored(conn)
        assert set(got.forecasts) == set(fitted) - {gone} and got.last_fitted_at == after + timedelta(hours=1)


def _stored(conn) -> forecast.Forecast:
    sid = conn.execute("SELECT id FROM systems WHERE hostname = 'demo-memory-leak-01'").fetchone()[0]
    return forecast.stored(conn, system_ids=[sid]).forecasts[sid]["ram_percent"]

