"""Every command that needs the database says in one line which server it could not use — host and
port, never the password — and exits non-zero, instead of printing a traceback."""

from __future__ import annotations

import subprocess

import pytest

from tests.fixtures.net import free_port
from tests.support.proc import sru

PASSWORD = "pw-Never-Printed-7f3a"

# Each command as a user types it, without --database-url.
COMMANDS = [
    ("db", "migrate"),
    ("db", "maintain"),
    ("optimize",),
    ("report",),
    ("reports", "list"),
    ("reports", "show", "0a1b"),
    ("reports", "approve", "0a1b", "--by", "alice"),
    ("demo-data", "--hosts", "1", "--days", "1"),
    ("alerts", "list"),
    ("alerts", "ack", "1", "--by", "alice"),
    ("rules", "sync"),
]


def _one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert PASSWORD not in r.stderr + r.stdout
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_unreachable_database_is_one_line(command: tuple[str, ...]) -> None:
    port = free_port()  # bound and released: nothing listens there
    url = f"postgresql://sru_optimizer:{PASSWORD}@127.0.0.1:{port}/sru"
    line = _one_line_error(sru(*command, "--database-url", url))
    assert line.startswith(f"sru {command[0]}: error: cannot connect to the database at 127.0.0.1:{port} "
                           "(database sru, user sru_optimizer): "), line
    assert line.endswith("Connection refused"), line


def test_missing_database_on_a_real_server_is_one_line(pg_cluster) -> None:
    url = f"postgresql://postgres:{PASSWORD}@{pg_cluster.host}:{pg_cluster.port}/no_such_db"
    line = _one_line_error(sru("db", "migrate", "--database-url", url))
    assert line == (f"sru db: error: cannot connect to the database at {pg_cluster.host}:{pg_cluster.port} "
                    '(database no_such_db, user postgres): database "no_such_db" does not exist'), line


def test_url_that_does_not_parse_names_the_option_not_the_url() -> None:
    line = _one_line_error(sru("report", "--database-url", f"postgresql://u:{PASSWORD}@h:notaport/x?=bad"))
    assert line.startswith("sru report: error: --database-url: "), line


@pytest.fixture(scope="module")
def empty_database_url(pg_cluster):
    """A database on a real server that `sru db migrate` never saw."""
    import psycopg

    with psycopg.connect(pg_cluster.url(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS sru_never_migrated")
        conn.execute("CREATE DATABASE sru_never_migrated")
    return pg_cluster.url("sru_never_migrated")


# A few: the first query of each differs (a table, a function, sru_meta); the handler is shared.
@pytest.mark.parametrize("command", [("optimize",), ("reports", "list"), ("demo-data", "--hosts", "1", "--days", "1"),
                                     ("rules", "sync")], ids=lambda c: " ".join(c[:2]))
def test_unmigrated_database_says_to_migrate(command: tuple[str, ...], empty_database_url: str) -> None:
    """Not a traceback from the first query (issue 18): one line that says what to run."""
    line = _one_line_error(sru(*command, "--database-url", empty_database_url))
    assert line.startswith(f"sru {command[0]}: error: the database is not migrated ("), line
    assert line.endswith("run `sru db migrate` first"), line
