"""`sru usage` (table, JSON, CSV, showback, the refusal for a role that may not read people) and
`sru users import` (YAML and CSV, idempotent, errors naming the bad line), through the real CLI."""

from __future__ import annotations

import csv
import io
import json

import pytest

from sru.cli import main
from tests.usage.synthetic import END, T0, expected, load

FROM, TO = T0.isoformat(), END.isoformat()


@pytest.fixture
def loaded(database):
    with database.connect() as conn:
        load(conn)
    return database


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_usage_formats_and_rights(loaded, capsys) -> None:  # every tier: the ledger differs by tier
    url = loaded.role_url("analyst")
    code, out, _ = _run(capsys, "usage", "--by", "user", "--from", FROM, "--to", TO, "--format", "json",
                        "--database-url", url)
    assert code == 0
    rows = {r["user"]: r for r in json.loads(out)}
    alice = sum(v[0] for (h, u), v in expected(T0, END).items() if u == "alice")
    assert rows["alice"]["cpu_core_hours"] == pytest.approx(alice)
    assert set(rows["alice"]) >= {"user", "department", "cpu_core_hours", "ram_gb_hours", "gpu_hours",
                                  "gpu_idle_held_hours", "from", "to"}
    assert rows["alice"]["from"] == FROM and rows["alice"]["to"] == TO
    code, out, _ = _run(capsys, "usage", "--by", "department", "--from", FROM, "--to", TO, "--format", "csv",
                        "--price-core-hour", "0.05", "--price-gb-hour", "0.01", "--price-gpu-hour", "1.5",
                        "--database-url", url)
    assert code == 0
    table = {r["department"]: r for r in csv.DictReader(io.StringIO(out))}
    phys = table["physics"]
    assert float(phys["cost"]) == pytest.approx(
        float(phys["cpu_core_hours"]) * 0.05 + float(phys["ram_gb_hours"]) * 0.01
        + (float(phys["gpu_hours"]) + float(phys["gpu_idle_held_hours"])) * 1.5, abs=0.01)
    code, out, _ = _run(capsys, "usage", "--by", "host", "--from", FROM, "--to", TO,
                        "--database-url", loaded.role_url("dashboard_readonly"))
    assert code == 0 and "h1" in out and "idle_cpu_core_h" in out
    code, _, err = _run(capsys, "usage", "--by", "user", "--since", "30d",
                        "--database-url", loaded.role_url("dashboard_readonly"))
    assert code == 1 and "may not read per-user figures" in err
    code, _, err = _run(capsys, "usage", "--since", "soon", "--database-url", url)
    assert code == 1 and "--since" in err


def test_users_import(plain_database, capsys, tmp_path) -> None:
    database = plain_database  # departments are plain SQL: one tier suffices
    url = database.role_url("admin")
    with database.connect() as conn:
        conn.execute("INSERT INTO users (username, department) VALUES ('zed', 'old'), ('amy', NULL)")
        conn.commit()
    yml = tmp_path / "depts.yml"
    yml.write_text("amy: physics\nbo: chemistry\n")
    code, out, _ = _run(capsys, "users", "import", str(yml), "--database-url", url)
    assert code == 0 and "set 2 departments, 1 users to unassigned, 1 new users" in out, out
    code, out, _ = _run(capsys, "users", "import", str(yml), "--database-url", url)
    assert "set 0 departments, 0 users to unassigned, 0 new users; 3 unchanged" in out, out
    with database.connect() as conn:
        assert dict(conn.execute("SELECT username, department FROM users").fetchall()) == {
            "amy": "physics", "bo": "chemistry", "zed": None}
    csv_file = tmp_path / "depts.csv"
    csv_file.write_text("user,department\namy,biology\nbo\n")
    code, _, err = _run(capsys, "users", "import", str(csv_file), "--database-url", url)
    assert code == 1 and f"{csv_file}:3: expected 2 fields" in err
    csv_file.write_text("user,department\namy,biology\nbo,physics\n")
    assert _run(capsys, "users", "import", str(csv_file), "--database-url", url)[0] == 0
    yml.write_text("amy: physics\nbo:\n  - x\n")
    code, _, err = _run(capsys, "users", "import", str(yml), "--database-url", url)
    assert code == 1 and f"{yml}:2: each entry must be user: department" in err
    yml.write_text("amy: physics\namy: chemistry\n")
    code, _, err = _run(capsys, "users", "import", str(yml), "--database-url", url)
    assert code == 1 and f"{yml}:2: user 'amy' is listed twice" in err
    with database.connect() as conn:
        assert dict(conn.execute("SELECT username, department FROM users").fetchall())["bo"] == "physics"


def test_report_has_department_usage_in_every_format(loaded) -> None:
    from optimizer.report import FORMATS, build_report, render

    with loaded.connect("dashboard_readonly") as conn:   # the console's rights suffice; no user named
        report = build_report(conn, now=END)
    physics = next(u for u in report["usage"] if u["department"] == "physics")
    alice = sum(v[0] for (h, u), v in expected(T0, END).items() if u == "alice")
    assert physics["cpu_core_hours"] == pytest.approx(alice)
    for fmt in FORMATS:
        text = render(report, fmt)
        assert "physics" in text and "chemistry" in text, fmt
        assert "alice" not in text, fmt
