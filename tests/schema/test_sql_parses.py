"""Every migration, the full-edition ones included, parses with PostgreSQL's own parser (libpg_query,
through pglast), and so does every PL/pgSQL body. The TimescaleDB community edition cannot run here
(Debian's build is Apache-only), so for the `-- tiers: full` files this is the check that runs;
the other files are also executed by every database fixture."""

from __future__ import annotations

from pathlib import Path

import pglast
import pytest
from pglast import ast, parser

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
FILES = sorted(SQL_DIR.glob("[0-9][0-9][0-9]_*.sql"))


def test_there_are_full_tier_files_to_check() -> None:
    assert any(f.read_text().startswith("-- tiers: full") for f in FILES)


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_migration_parses(path: Path) -> None:
    sql = path.read_text()
    statements = parser.parse_sql(sql)
    assert statements
    for raw in statements:
        stmt = raw.stmt
        if not isinstance(stmt, ast.CreateFunctionStmt):
            continue
        language = next((o.arg.sval for o in stmt.options or () if o.defname == "language"), "sql")
        if language.lower() == "plpgsql":
            # parse_plpgsql wants the CREATE FUNCTION statement alone.
            start = raw.stmt_location or 0
            end = start + raw.stmt_len if raw.stmt_len else len(sql)
            pglast.parse_plpgsql(sql[start:end])
