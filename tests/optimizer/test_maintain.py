"""`sru db maintain`: retention beyond a year on both tiers (drop_chunks / DELETE), rollups, ANALYZE,
as admin; the analyst role may not run it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from tests.optimizer.conftest import load_demo


def test_maintain_retention_rollups_analyze(database, capsys):
    from sru.cli import main

    end = (datetime.now(timezone.utc) - timedelta(days=362)).replace(minute=0, second=0, microsecond=0)
    load_demo(database, hosts=2, days=6, end=end)     # the first ~3 days are older than a year
    cutoff = datetime.now(timezone.utc) - timedelta(days=365)
    with database.connect() as conn:
        newer = conn.execute('SELECT count(*) FROM usage_metrics WHERE "timestamp" >= %s', (cutoff,)).fetchone()[0]
    assert main(["db", "maintain", "--database-url", database.role_url("admin")]) == 0
    out = capsys.readouterr().out
    unit = "rows deleted" if database.tier == "plain" else "chunks dropped"
    assert [line for line in out.splitlines() if line.startswith("retention usage_metrics: ")
            and line.endswith(unit) and line.split(": ")[1].split()[0] != "0"]
    assert "analyzed" in out and "pass over" in out
    with database.connect() as conn:
        # drop_chunks drops whole (1-day) chunks: nothing a day past the cutoff survives, nothing newer goes.
        assert conn.execute('SELECT count(*) FROM usage_metrics WHERE "timestamp" < %s',
                            (cutoff - timedelta(days=1),)).fetchone()[0] == 0
        assert conn.execute('SELECT count(*) FROM usage_metrics WHERE "timestamp" >= %s',
                            (cutoff,)).fetchone()[0] == newer > 0
        assert conn.execute("SELECT count(*) FROM hourly_performance_stats").fetchone()[0] > 0
        assert conn.execute("SELECT last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL FROM pg_stat_user_tables "
                            "WHERE relname = 'performance_summaries'").fetchone()[0]
    with database.connect(role="analyst") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT sru_analyze()")
