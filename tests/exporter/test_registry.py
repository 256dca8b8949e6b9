"""The collector registry: a collector is one module that declares its name, flags and defaults;
nothing else lists it, and building the CLI imports no metrics library."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from exporter.config import COLLECTORS, OPTIONS
from exporter.registry import collectors
from tests.support import proc


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return proc.run([sys.executable, "-c", textwrap.dedent(code)], timeout=60, check=False)


def test_every_shipped_collector_declares_itself() -> None:
    names = [spec.name for spec in collectors()]
    assert names == sorted(names) == list(COLLECTORS)
    assert set(names) == {"cpu", "memory", "disk", "filesystem", "network", "gpu", "sessions", "processes", "system",
                          "users"}
    keys = [opt.key for opt in OPTIONS]
    assert len(keys) == len(set(keys))
    # Each option sits under its collector's name, as node_exporter's flags do.
    for spec in collectors():
        assert all(opt.key.startswith(f"collector.{spec.name}.") for opt in spec.options)


def test_a_new_collector_is_one_file(tmp_path: Path) -> None:
    (tmp_path / "answer.py").write_text(textwrap.dedent('''
        from exporter.registry import CollectorSpec, Option, count, register


        class AnswerCollector:
            name = "answer"

            def __init__(self, value: int) -> None:
                self.value = value

            def collect(self):
                from prometheus_client.core import GaugeMetricFamily

                yield GaugeMetricFamily("sru_answer", "The answer.", value=self.value)


        register(CollectorSpec("answer", "a test collector", enabled_by_default=False, options=(
            Option("collector.answer.value", "answer_value", 41, count(0, 100), "what to answer", "N"),),
            build=lambda settings, host: AnswerCollector(settings.answer_value)))
    '''))
    r = run_python(f"""
        import exporter
        exporter.__path__.append({str(tmp_path)!r})  # as if answer.py were shipped in exporter/

        from prometheus_client import generate_latest
        from exporter.app import build_registry
        from exporter.config import resolve
        from sru.cli import build_parser

        off = resolve(build_parser().parse_args(["exporter"]))
        assert "answer" not in off.collectors, off.collectors
        args = build_parser().parse_args(["exporter", "--collector.answer", "--collector.answer.value", "42",
                                          "--no-collector.gpu", "--no-collector.system"])
        print(generate_latest(build_registry(resolve(args))).decode())
    """)
    assert r.returncode == 0, r.stderr
    assert "sru_answer 42.0" in r.stdout
    assert 'sru_exporter_collector_success{collector="answer"} 1.0' in r.stdout


def test_building_the_cli_imports_no_metrics_library() -> None:
    r = run_python("""
        import sys
        from sru.cli import build_parser

        build_parser().parse_args(["exporter", "--collector.processes.top", "3"])
        loaded = sorted(m for m in ("prometheus_client", "psutil", "pynvml", "yaml") if m in sys.modules)
        assert not loaded, loaded
    """)
    assert r.returncode == 0, r.stderr
