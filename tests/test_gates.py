"""Gates: pass = exit 0, the command is a child of the gate span, nudge after a pass over changes."""

from __future__ import annotations

from pathlib import Path

from conftest import read_ledger
from test_packets import cli, make_repo


def test_gate_pass_fail_and_parenting(tmp_path: Path, ledger_path: Path) -> None:
    """A passing gate exits 0; a failing one returns the command's exit code; each gate record
    parents its command record and validates against schema v1."""
    from cmdscope._records import validate_record

    repo = make_repo(tmp_path / "r")
    assert cli(repo, "gate", "run", "tests", "--required", "--", "true").returncode == 0
    failed = cli(repo, "gate", "run", "lint", "--", "sh", "-c", "exit 3")
    assert failed.returncode == 3 and "gate 'lint' failed" in failed.stderr
    cmd1, gate1, cmd2, gate2 = read_ledger(ledger_path)
    assert cmd1["parent_span_id"] == gate1["span_id"] and cmd2["parent_span_id"] == gate2["span_id"]
    assert gate1["cmdscope.gate.result"] == "pass" and gate1["cmdscope.gate.required"] is True
    assert gate2["cmdscope.gate.result"] == "fail" and gate2["process.exit.code"] == 3
    assert gate2["error.type"] and gate2["cmdscope.gate.command_record"] == cmd2["record_id"]
    for rec in (gate1, gate2):
        validate_record(rec)


def test_nudge_after_pass_with_changes(tmp_path: Path, ledger_path: Path) -> None:
    """The commit nudge is one line, only after a pass over uncommitted changes, and CMDSCOPE_NUDGE=0
    silences it; two passes over the same changes share one worktree state."""
    repo = make_repo(tmp_path / "r")
    clean = cli(repo, "gate", "run", "t", "--", "true")
    assert "commit this slice" not in clean.stderr
    (repo / "app.py").write_text("x = 2\n")
    dirty = cli(repo, "gate", "run", "t", "--", "true")
    assert dirty.stderr.count("commit this slice") == 1
    quiet = cli(repo, "gate", "run", "t", "--", "true", env={"CMDSCOPE_NUDGE": "0"})
    assert "commit this slice" not in quiet.stderr
    gates = [r for r in read_ledger(ledger_path) if r["kind"] == "gate"]
    assert gates[0]["cmdscope.gate.dirty"] is False and "cmdscope.gate.worktree_state" not in gates[0]
    assert gates[1]["cmdscope.gate.worktree_state"] == gates[2]["cmdscope.gate.worktree_state"]


def test_python_gate_and_metrics(tmp_path: Path, ledger_path: Path, monkeypatch) -> None:
    """cmdscope.gate() records a caller-evaluated gate; the gate counter is labelled by name and result."""
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    import cmdscope
    from test_packets import metric_points

    reader = InMemoryMetricReader()
    monkeypatch.setattr(metrics._internal, "_METER_PROVIDER", MeterProvider(metric_readers=[reader]))
    repo = make_repo(tmp_path / "r")
    rec = cmdscope.gate("review", False, reason="two comments open", cwd=repo, packet="PKT-9")
    assert rec["cmdscope.gate.result"] == "fail" and rec["cmdscope.packet"] == "PKT-9"
    assert read_ledger(ledger_path)[0]["cmdscope.gate.reason"] == "two comments open"
    (point,) = metric_points(reader)["cmdscope.gate.results"]
    assert dict(point.attributes) == {"cmdscope.gate.name": "review", "cmdscope.gate.result": "fail"}


def test_missing_command_is_a_usage_error(tmp_path: Path) -> None:
    """`gate run NAME` without `-- CMD` is exit 2 with one line."""
    repo = make_repo(tmp_path / "r")
    bad = cli(repo, "gate", "run", "x")
    assert bad.returncode == 2 and "no command given" in bad.stderr and "Traceback" not in bad.stderr
