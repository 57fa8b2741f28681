"""`cmdscope report denials|danger` over a ledger written by real `cmdscope run` processes."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cmdscope_cli


def run(*argv: str, mode: str = "enforce") -> int:
    return cmdscope_cli("run", "--actor", "agent", "--", *argv, env={"CMDSCOPE_GUARD_MODE": mode},
                        capture_output=True).returncode


def test_denials_and_danger_reports(ledger_path: Path, tmp_path: Path) -> None:
    """Denials are counted by policy rule and source; danger hits by rule, severity and the
    effective action; uncategorized is zero and the exit code says so."""
    repo = tmp_path / "r"
    repo.mkdir()
    assert run("git", "-C", str(repo), "push", "--force", "origin", "main") == 126       # critical: denied
    assert run("git", "-C", str(repo), "push", "--force", "origin", "main", mode="observe") != 126  # ran
    assert run("rm", "-rf", str(tmp_path / "node_modules")) == 0                            # not dangerous
    out = cmdscope_cli("report", "denials", "--format", "json", capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["total"] == 1 and report["uncategorized"] == 0
    ((rule, n),) = report["by_policy_rule"].items()
    assert n == 1 and rule
    ((source, _),) = report["by_policy_source"].items()
    assert source.startswith("registry/policies/default.yaml#")
    danger = json.loads(cmdscope_cli("report", "danger", "--format", "json", capture_output=True, text=True).stdout)
    assert danger["total"] == 2 and danger["uncategorized"] == 0
    assert danger["by_action"] == {"deny": 1, "allow": 1}
    assert danger["by_severity"] == {"critical": 2}
    table = cmdscope_cli("report", "denials", "--since", "1h", capture_output=True, text=True).stdout
    assert table.startswith("denials: 1 record(s), uncategorized 0")


def test_uncategorized_denial_fails_the_report(ledger_path: Path) -> None:
    """A denial without a policy rule (written by hand: the product cannot) makes the report exit 1."""
    ledger_path.write_text(json.dumps({"kind": "denial", "start_ns": 0, "end_ns": 1, "duration_s": 0.0,
                                       "cmdscope.actor": "x"}) + "\n")
    out = cmdscope_cli("report", "denials", capture_output=True, text=True)
    assert out.returncode == 1 and "uncategorized 1" in out.stdout
