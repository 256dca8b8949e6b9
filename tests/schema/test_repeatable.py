"""Repeatable migrations (``sql/R__*.sql``) hold the definition in force of every function redefined
by a later numbered file: a database migrated before they existed and then upgraded ends with the
same function and view bodies as a fresh one, on every tier; moving a body into its R__ file changed
nothing; no function is (re)defined in two numbered files without an R__ file, and no numbered file
redefines a function that an R__ file holds."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from importlib import resources

import psycopg
import pytest

from scripts.pgcluster import PgCluster
from sru.migrate import Migration, load_migrations, migrate

# Bodies moved verbatim from their last numbered file: the numbered files alone must give the same.
# (R__sru_summary_source.sql and R__sru_usage_series.sql changed their bodies when they were introduced;
# R__sru_apply_retention.sql changed later, for user_usage_metrics and its rollups, 060-063.)
MOVED_VERBATIM = ("get_top_resource_consumers", "sru_rollup_hourly_stats",
                  "sru_optimization_report_workflow", "transition_optimization_report")

# The numbered files that defined an object before its R__ file held it: history, never re-run. A
# numbered file added later must not define such an object again: migrate applies R__ files after the
# numbered ones, so the R__ body would silently win over it. Change the R__ file instead.
SUPERSEDED = {
    "sru_summary_source": {"031_summary_source_cagg.sql", "031_summary_source_raw.sql", "037_summaries_sliced.sql"},
    "sru_rollup_hourly_stats": {"033_hourly_rollup_cagg.sql", "033_hourly_rollup_table.sql",
                                "037_summaries_sliced.sql"},
    "sru_apply_retention": {"035_maintenance.sql", "036_maintenance_plain_tier.sql"},
    "get_top_resource_consumers": {"032_optimizer_functions.sql", "038_top_consumers_per_host.sql"},
    "generate_hardware_recommendations": {"034_recommendations.sql"},
    "sru_usage_series": {"040_grafana_dashboard_views.sql"},
    "sru_optimization_report_workflow": {"030_optimizer_schema.sql", "051_workflow_same_actor.sql"},
    "transition_optimization_report": {"032_optimizer_functions.sql", "051_workflow_same_actor.sql"},
    "detect_bottleneck": {"032_optimizer_functions.sql"},
    "sru_refresh_summaries": {"032_optimizer_functions.sql"},
    "record_anomaly_episodes": {"039_anomaly_episodes.sql"},
}

_CREATE = re.compile(r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE|VIEW)\s+([a-z_][a-z0-9_]*)",
                     re.IGNORECASE | re.MULTILINE)

# Everything sru defines in schema public, not TimescaleDB's own objects.
_FUNCTIONS = """
SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       pg_get_functiondef(p.oid), coalesce(p.proacl::text, '')
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                               AND d.deptype = 'e')
"""
_VIEWS = """
SELECT c.relname, pg_get_viewdef(c.oid), coalesce(c.relacl::text, '')
  FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')
"""


def _definitions(url: str) -> dict[str, tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(_FUNCTIONS).fetchall() + conn.execute(_VIEWS).fetchall()
    return {name: (body, acl) for name, body, acl in rows}


@pytest.fixture
def new_database(request: pytest.FixtureRequest) -> Iterator[Callable[[PgCluster], str]]:
    """``new_database(cluster)`` → URL of an empty database, dropped at the end."""
    made: list[tuple[PgCluster, str]] = []

    def make(cluster: PgCluster) -> str:
        name = f"t_rep_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append((cluster, name))
        return cluster.url(name)

    yield make
    for cluster, name in made:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrated(url: str, timescaledb: str, migrations: list[Migration] | None = None) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        return migrate(conn, timescaledb=timescaledb, migrations=migrations).tier


@pytest.mark.parametrize("tier", ["plain", "apache", "full"])
def test_upgraded_database_has_the_bodies_of_a_fresh_one(tier, request, new_database) -> None:
    cluster = request.getfixturevalue("pg_cluster_full" if tier == "full" else "pg_cluster")
    flag = "off" if tier == "plain" else "require"
    numbered = [m for m in load_migrations() if not m.repeatable]
    assert numbered and len(numbered) < len(load_migrations())

    fresh = new_database(cluster)
    assert _migrated(fresh, flag) == tier
    history_only = new_database(cluster)
    assert _migrated(history_only, flag, numbered) == tier
    upgraded = new_database(cluster)
    _migrated(upgraded, flag, numbered)
    assert _migrated(upgraded, flag) == tier

    want = _definitions(fresh)
    got = _definitions(upgraded)
    assert sorted(got) == sorted(want)
    differing = [name for name in want if got[name] != want[name]]
    assert not differing, f"bodies differ after the upgrade: {differing}"

    before = _definitions(history_only)
    moved = [name for name in want if name.split("(")[0] in MOVED_VERBATIM]
    assert len(moved) == len(MOVED_VERBATIM)
    changed = [name for name in moved if before.get(name) != want[name]]
    assert not changed, f"moving into R__ files changed: {changed}"


def test_an_object_defined_by_two_numbered_files_has_a_repeatable_file() -> None:
    numbered: dict[str, set[str]] = defaultdict(set)
    repeatable: dict[str, set[str]] = defaultdict(set)
    for entry in resources.files("sru.sql").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        for name in _CREATE.findall(entry.read_text()):
            (repeatable if entry.name.startswith("R__") else numbered)[name.lower()].add(entry.name)
    redefined = {name for name, files in numbered.items() if len(files) > 1}
    assert redefined, "the scan found no redefinition: is the pattern still right?"
    missing = sorted(redefined - set(repeatable))
    assert not missing, f"defined in several numbered files, without an R__ file: {missing}"
    for name, files in repeatable.items():
        assert all(f.startswith(f"R__{name}") for f in files), (name, files)
        later = sorted(numbered.get(name, set()) - SUPERSEDED.get(name, set()))
        assert not later, f"{later} redefine {name}, which {sorted(files)} holds: edit that file instead"
