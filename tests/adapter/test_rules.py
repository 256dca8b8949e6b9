"""The recording rules pass promtool's checks and unit tests, also when rendered with another interval."""

from __future__ import annotations

from pathlib import Path

import pytest

from remote_write_adapter.rules import FILES, render_rules
from tests.fixtures.prometheus import PROMTOOL_BIN
from tests.support.proc import run

RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.mark.parametrize("variant", sorted(FILES))
def test_promtool_unit_tests(variant):
    test_file = RULES / "tests" / FILES[variant].replace(".yml", "_test.yml")
    r = run([PROMTOOL_BIN, "test", "rules", str(test_file)], check=False)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("variant", sorted(FILES))
def test_rendered_interval(variant, tmp_path):
    out = tmp_path / "rules.yml"
    out.write_text(render_rules(variant, "30s"))
    r = run([PROMTOOL_BIN, "check", "rules", str(out)], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    text = out.read_text()
    assert "interval: 30s" in text and "[30s]" in text and "5m" not in text.split("groups:")[1]
