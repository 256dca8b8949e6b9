"""Golden exposition files: a collector's output compared byte for byte with golden/<name>.prom.

Regenerate after an intended change with ``SRU_UPDATE_GOLDEN=1 pytest tests/exporter`` and review
the diff like code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

GOLDEN = Path(__file__).parent / "golden"


def render(*collectors: Any) -> str:
    registry = CollectorRegistry()
    for c in collectors:
        registry.register(c)
    return generate_latest(registry).decode()


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.prom"
    if os.environ.get("SRU_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with SRU_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"exposition differs from {path}"
