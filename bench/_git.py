"""Code of another git revision loaded as a module, for benchmarks that run a baseline in the same run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def module_at(rev: str, path: str = "optimizer/anomaly_core.py") -> ModuleType | None:
    """The file ``path`` as of ``rev``, executed as a module of its own (None when git cannot show it)."""
    try:
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
                             check=True, capture_output=True, text=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    spec = importlib.util.spec_from_loader(f"{Path(path).stem}_at_{rev}", loader=None)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    exec(compile(src, f"{rev}:{path}", "exec"), mod.__dict__)
    return mod
