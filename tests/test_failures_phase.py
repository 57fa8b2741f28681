"""Phase inference from argv."""

from __future__ import annotations

import pytest

from cmdscope._failures import infer_phase
from cmdscope._failures.phase import unwrap


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


def test_a_shell_running_one_simple_command_is_unwrapped() -> None:
    """`bash -c 'pytest -q'` is pytest; a pipeline or list stays the shell (its exit code is the
    last command's), so do assignments first and scripts shlex cannot split."""
    assert unwrap(["bash", "-c", "pytest -q"]) == ["pytest", "-q"]
    assert unwrap(["/bin/sh", "-c", "npx tsc --noEmit"]) == ["tsc", "--noEmit"]
    assert infer_phase(["bash", "-lc", "npm run build"]) == "build"
    for script in ("make test | tee log", "cd src && make", "grep x f > out", "FOO=1 make", "echo \"open",
                   "echo $(date)"):
        assert unwrap(["bash", "-c", script])[0] == "bash", script
    from cmdscope._failures import classify

    c = classify(exit_code=1, signal=None, executable="sh", argv=["sh", "-c", '[ -n "$NOPE" ]'], phase=None,
                 outcome="failure", stderr_tail=b"")
    assert c.error_type == "negative_answer"
    piped = classify(exit_code=1, signal=None, executable="sh", argv=["sh", "-c", "grep x f | sort"], phase=None,
                     outcome="failure", stderr_tail=b"")
    assert piped.error_type == "unknown"
