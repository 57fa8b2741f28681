"""The typed public surface: a program using every public name passes ``mypy --strict`` with
no ``Any`` in what it reveals, runs, and ``__all__`` is static and complete."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import cmdscope
from conftest import PYTHON, ROOT

PROGRAM = ROOT / "tests" / "typing" / "public_api.py"


def test_mypy_strict_and_no_any_revealed() -> None:
    out = subprocess.run([PYTHON, "-m", "mypy", "--strict", "--no-incremental", str(PROGRAM)], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    revealed = [line for line in out.stdout.splitlines() if "Revealed type" in line]
    assert len(revealed) >= 15
    assert not [line for line in revealed if "Any" in line], revealed


def test_the_program_runs(tmp_path: Path) -> None:
    proc = subprocess.run([PYTHON, str(PROGRAM), str(tmp_path / "ledger.jsonl")], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Runtime type is" in proc.stderr  # typing.reveal_type ran


def test_all_is_static_and_every_name_resolves() -> None:
    tree = ast.parse((ROOT / "src" / "cmdscope" / "__init__.py").read_text())
    (static,) = [ast.literal_eval(node.value) for node in tree.body
                 if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets)]
    assert static == cmdscope.__all__
    for name in static:
        assert getattr(cmdscope, name) is not None
    for name in ("run", "command", "context", "configure", "instrument", "CommandDenied", "redact", "Result",
                 "Decision"):
        assert name in static


PUBLIC_MODULES = {"__init__.py", "__main__.py", "redact.py", "instrumentation", "py.typed"}


def test_internal_modules_say_so_by_their_name() -> None:
    """Every top-level module or package that is not public starts with an underscore, and the
    public ones import (so the allow-list cannot go stale)."""
    src = ROOT / "src" / "cmdscope"
    names = {p.name for p in src.iterdir() if p.name != "__pycache__"}
    assert not sorted(n for n in names - PUBLIC_MODULES if not n.startswith("_")), \
        "internal modules must be underscored (or listed in docs/architecture.md as public)"
    assert PUBLIC_MODULES <= names
    import cmdscope.instrumentation
    import cmdscope.redact

    assert callable(cmdscope.redact.redact) and cmdscope.instrumentation.CmdscopeInstrumentor
