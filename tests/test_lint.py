"""The package stays typed (mypy clean) and free of unused names and syntax errors (ruff F, E9)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_mypy_clean() -> None:
    """`mypy src/cmdscope` reports no issue (py.typed promises types to users)."""
    out = subprocess.run([sys.executable, "-m", "mypy", "src/cmdscope"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]


def test_ruff_pyflakes_clean() -> None:
    """No unused imports or variables, undefined names or syntax errors anywhere in the tree."""
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9", "src", "tests", "bench",
                          "dashboards"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]
