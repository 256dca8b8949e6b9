"""sru.columns, the one declaration of usage_metrics' value columns, against a migrated database."""

from __future__ import annotations

import re

import pytest
from psycopg import errors

from sru.columns import BY_NAME, JSON_COLUMNS, SCALAR_COLUMNS, USAGE_COLUMNS, USER_USAGE_COLUMNS

# pg_get_constraintdef of a range CHECK: "CHECK (((c >= (0)::double precision) AND (c <= (100)::…)))"
_BOUND = re.compile(r"\(?(\w+) (>=|<=) \(?(-?[0-9.]+)\)?(?:::double precision)?\)?")


def _checks(conn, table: str = "usage_metrics") -> dict[str, tuple[float | None, float | None]]:
    """column -> (lo, hi) of the CHECK constraints of ``table``, one column per constraint."""
    found: dict[str, tuple[float | None, float | None]] = {}
    for (definition,) in conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'c' ORDER BY conname", (table,)):
        bounds = _BOUND.findall(definition)
        assert bounds, f"a CHECK of usage_metrics that is not a range: {definition}"
        (column,) = {c for c, _, _ in bounds}
        assert column not in found, f"two CHECKs on {column}"
        lo = next((float(v) for _, op, v in bounds if op == ">="), None)
        hi = next((float(v) for _, op, v in bounds if op == "<="), None)
        found[column] = (lo, hi)
    return found


def test_declaration_is_the_table(database) -> None:
    """Names, order, types and CHECK ranges of sru.columns are those of the migrated table: a column
    added by a migration but not declared (or the reverse), or a range that differs, fails here."""
    with database.connect() as conn:
        table = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'usage_metrics' ORDER BY ordinal_position").fetchall()
        assert table[:2] == [("system_id", "uuid"), ("timestamp", "timestamp with time zone")]
        assert table[2:] == [(c.name, c.sql_type) for c in USAGE_COLUMNS]
        checks = _checks(conn)
        assert checks == {c.name: (c.lo, c.hi) for c in USAGE_COLUMNS if c.checked}

        # And the database means them: each bound is accepted, one step past it refused.
        sid = conn.execute("INSERT INTO systems (hostname) VALUES ('columns') RETURNING id").fetchone()[0]
        for n, (column, (lo, hi)) in enumerate(checks.items()):
            for value, ok in ((lo, True), (hi, True), (None if lo is None else lo - 1, False),
                              (None if hi is None else hi + 1, False)):
                if value is None:
                    continue
                insert = (f"INSERT INTO usage_metrics (system_id, timestamp, {column}) "
                          f"VALUES (%s, '2026-01-05T12:00:00Z'::timestamptz + %s * interval '1 s', %s)")
                if ok:
                    conn.execute(insert, (sid, n * 10 + int(value == hi), value))
                else:
                    with pytest.raises(errors.CheckViolation), conn.transaction():
                        conn.execute(insert, (sid, n * 10 + 5, value))


def test_user_usage_declaration_is_the_table(database) -> None:
    """The same for user_usage_metrics (issue 19): sru.columns.USER_USAGE_COLUMNS are its value
    columns, in order, with its types and its CHECKs (all >= 0)."""
    with database.connect() as conn:
        table = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = 'user_usage_metrics' ORDER BY ordinal_position").fetchall()
        assert table[:3] == [("system_id", "uuid"), ("timestamp", "timestamp with time zone"), ("user_id", "bigint")]
        assert table[3:] == [(c.name, c.sql_type) for c in USER_USAGE_COLUMNS]
        assert _checks(conn, "user_usage_metrics") == {c.name: (c.lo, c.hi) for c in USER_USAGE_COLUMNS}


def test_derived_lookups() -> None:
    """The adapter's row layout is the scalar columns then its one JSON column; every grid is a power
    of two (exact doubles: the Gorilla compression the quanta exist for)."""
    assert SCALAR_COLUMNS + JSON_COLUMNS == tuple(sorted(BY_NAME, key=lambda n: (
        BY_NAME[n].sql_type == "jsonb", [c.name for c in USAGE_COLUMNS].index(n))))
    assert JSON_COLUMNS == ("cpu_per_core",)
    for c in USAGE_COLUMNS:
        assert c.quantum > 0 and c.quantum & (c.quantum - 1) == 0, c
        assert c.lo is None or c.hi is None or c.lo < c.hi, c
        assert c.sql_type in ("double precision", "jsonb"), c
