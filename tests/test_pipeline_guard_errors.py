"""A broken guard never breaks the command by accident, and can be told to fail closed; the
shipped examples run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import PYTHON, ROOT, cmdscope_cli, read_ledger


@pytest.fixture
def bad_registry(tmp_path: Path) -> dict[str, str]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yaml").write_text("version: 1.0.0\nrules:\n  - id: my.rule\n    severity: apocalyptic\n")
    return {"CMDSCOPE_REGISTRY_PATH": str(rules)}


def test_invalid_registry_fails_open_with_one_warning(bad_registry: dict[str, str], ledger_path: Path) -> None:
    """By default the command runs with its own exit code; stderr names the broken file once."""
    out = cmdscope_cli("run", "--", "sh", "-c", "exit 3", env=bad_registry, capture_output=True, text=True)
    assert out.returncode == 3
    assert "broken.yaml" in out.stderr and out.stderr.count("\n") == 1
    (rec,) = read_ledger(ledger_path)
    assert rec["process.exit.code"] == 3


def test_invalid_registry_fails_closed_on_request(bad_registry: dict[str, str], ledger_path: Path) -> None:
    """CMDSCOPE_GUARD_FAIL=closed: the command never starts; a denial names cmdscope.guard-error."""
    marker = ledger_path.parent / "ran"
    out = cmdscope_cli("run", "--", "touch", str(marker), env={**bad_registry, "CMDSCOPE_GUARD_FAIL": "closed"},
                       capture_output=True, text=True)
    assert out.returncode == 126 and not marker.exists()
    assert "cmdscope.guard-error" in out.stderr
    (rec,) = read_ledger(ledger_path)
    assert rec["kind"] == "denial" and rec["cmdscope.policy.rule"] == "cmdscope.guard-error"


def test_agent_loop_example_runs(ledger_path: Path) -> None:
    """examples/agent/agent_loop.py runs as documented and records its tool calls."""
    out = subprocess.run([PYTHON, str(ROOT / "examples" / "agent" / "agent_loop.py")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "denied before it ran" in out.stdout and "retry=1" in out.stdout
    kinds = [r["kind"] for r in read_ledger(ledger_path)]
    assert kinds.count("denial") == 1 and kinds.count("function") == 1 and kinds.count("command") == 4
