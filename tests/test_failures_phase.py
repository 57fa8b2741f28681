"""Phase inference from argv."""

from __future__ import annotations

import pytest

from cmdscope.failures import infer_phase
from cmdscope.failures.phase import unwrap


@pytest.mark.parametrize(("argv", "phase"), [
    (["pytest", "-x"], "test"), (["python3.11", "-m", "pytest"], "test"), (["uv", "run", "pytest"], "test"),
    (["ruff", "check", "."], "lint"), (["npx", "eslint", "src"], "lint"), (["cargo", "clippy"], "lint"),
    (["mypy", "src"], "typecheck"), (["npx", "tsc", "--noEmit"], "typecheck"),
    (["pip", "install", "x"], "dependencies"), (["npm", "ci"], "dependencies"), (["uv", "sync"], "dependencies"),
    (["git", "push", "origin", "main"], "publish"), (["git", "-C", "repo", "push"], "publish"),
    (["gcc", "a.c"], "build"), (["cargo", "build"], "build"), (["make"], "build"), (["make", "test"], "test"),
    (["npm", "run", "test:unit"], "test"), (["npm", "run", "lint"], "lint"), (["env", "CI=1", "timeout", "60", "pytest"], "test"),
    (["ls", "-la"], None), (["git", "status"], None), ([], None),
])
def test_infer_phase(argv: list[str], phase: str | None) -> None:
    """Each common tool maps to its phase; unknown commands have none."""
    assert infer_phase(argv) == phase


def test_unwrap_removes_launchers() -> None:
    """Launchers and `python -m` are removed so the real tool is seen."""
    assert unwrap(["/usr/bin/python3", "-m", "mypy", "src"]) == ["mypy", "src"]
    assert unwrap(["timeout", "-s", "KILL", "5", "cargo", "test"]) == ["cargo", "test"]
