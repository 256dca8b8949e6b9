"""`sru db maintain`: retention beyond a year on both tiers (drop_chunks / DELETE), rollups, ANALYZE,
as admin; the analyst role may not run it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.optimizer.conftest import load_demo


def test_maintain_retention_rollups_analyze(database, capsys):
    from sru.cli import main

    end = (datetime.now(UTC) - timedelta(days=362)).replace(minute=0, second=0, microsecond=0)
    load_demo(database, hosts=2, days=6, end=end)     # the first ~3 days are older than a year
    cutoff = datetime.now(UTC) - timedelta(days=365)
    with database.connect() as conn:
        newer = conn.execute('SELECT count(*) FROM usage_metrics WHERE "timestamp" >= %s', (cutoff,)).fetchone()[0]
    assert main(["db", "maintain", "--database-url", database.role_url("admin")]) == 0
    out = capsys.readouterr().out
    assert "analyzed" in out and "pass over" in out
    if database.tier == "full":
        _full_tier_report(database, out, capsys)
        return
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


def _full_tier_report(database, out: str, capsys) -> None:
    """The full tier's policies do the work (their jobs are run in tests/adapter/
    test_full_tier_lifecycle.py); maintain says what each is and how it last ran."""
    lines = out.splitlines()
    assert "retention usage_metrics: (TimescaleDB policy)" in lines
    for relation, policy in (("usage_metrics", "retention (drops after 1 year"),
                             ("usage_metrics", "compression (after 7 days"),
                             ("process_snapshots", "retention (drops after 1 year"),
                             ("hourly_performance_stats", "retention (drops after 3 years"),
                             ("hourly_performance_stats", "refresh")):
        assert any(line.startswith(f"policy {relation}: {policy}") for line in lines), (relation, policy, out)
    assert "compression usage_metrics: none of" in out
    with database.connect(autocommit=True) as conn:
        job = conn.execute("SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression' "
                           "AND hypertable_name = 'usage_metrics'").fetchone()[0]
        conn.execute("CALL run_job(%s)", (job,))
    from sru.cli import main

    assert main(["db", "maintain", "--no-rollups", "--database-url", database.role_url("admin")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("compression usage_metrics: "))
    assert " chunks compressed, " in line and "% saved)" in line, line
