"""Pipelines: stages, CI/CD semconv spans, governance decisions, fast-forward auto-merge."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import read_ledger
from test_packets import cli, make_repo


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


PIPELINE = """
name: ci
stages:
  - name: build
    type: build
    steps:
      - run: python3 -m py_compile app.py
  - name: test
    type: test
    steps:
      - gate: tests
        run: python3 -c "import app; assert app.x == {want}"
        required: true
  - name: package
    steps:
      - run: ["true"]
merge:
  action: ff
  target: main
"""


def setup(tmp_path: Path, want: int) -> tuple[Path, Path, Path]:
    """main checked out in the main worktree, the packet branch in a linked worktree."""
    main = make_repo(tmp_path / "main")
    wt = tmp_path / "wt"
    git(main, "worktree", "add", "-q", "-b", "pkt-1", str(wt))
    (wt / "app.py").write_text("x = 2\n")
    git(wt, "commit", "-qam", "x is 2")
    f = tmp_path / "pipeline.yaml"
    f.write_text(PIPELINE.format(want=want))
    return main, wt, f


def test_passing_pipeline_fast_forwards_main(tmp_path: Path, ledger_path: Path) -> None:
    """Every gate passes: `git merge --ff-only` runs in main's worktree and main moves to the packet
    branch; records carry cicd.pipeline.* and nest run > stage > gate > command."""
    main, wt, f = setup(tmp_path, 2)
    done = cli(wt, "pipeline", "run", str(f), "--json")
    assert done.returncode == 0, done.stderr
    assert git(main, "rev-parse", "main") == git(wt, "rev-parse", "HEAD")
    records = read_ledger(ledger_path)
    run = json.loads(done.stdout)
    assert run["cicd.pipeline.result"] == "success" and run["cmdscope.merge.result"] == "auto"
    assert run["cmdscope.merge.performed"] is True
    stages = [r for r in records if r["kind"] == "pipeline" and "cicd.pipeline.task.name" in r]
    assert [s["cicd.pipeline.task.name"] for s in stages] == ["build", "test", "package"]
    assert all(s["parent_span_id"] == run["span_id"] and s["cicd.pipeline.run.id"] == run["cicd.pipeline.run.id"] for s in stages)
    (gate,) = [r for r in records if r["kind"] == "gate"]
    assert gate["parent_span_id"] == stages[1]["span_id"]
    merge_cmd = [r for r in records if r.get("process.command_line", "").startswith("git merge --ff-only")]
    assert merge_cmd and merge_cmd[0]["process.working_directory"] == str(main)


def test_failed_required_gate_stops_and_needs_review(tmp_path: Path, ledger_path: Path) -> None:
    """A failed required gate stops the run, later stages are 'skip', main does not move."""
    main, wt, f = setup(tmp_path, 3)
    before = git(main, "rev-parse", "main")
    done = cli(wt, "pipeline", "run", str(f), "--json")
    assert done.returncode == 1
    run = json.loads(done.stdout)
    assert run["cmdscope.merge.result"] == "human_review" and run["cmdscope.merge.performed"] is False
    assert "required gate 'tests' failed" in run["cmdscope.merge.reasons"]
    assert git(main, "rev-parse", "main") == before
    stages = {r["cicd.pipeline.task.name"]: r for r in read_ledger(ledger_path) if "cicd.pipeline.task.name" in r
              and r["kind"] == "pipeline"}
    assert stages["test"]["cicd.pipeline.task.run.result"] == "failure"
    assert stages["package"]["cicd.pipeline.task.run.result"] == "skip"


def test_failed_plain_step_in_the_last_stage_is_never_auto_merged(tmp_path: Path, ledger_path: Path) -> None:
    """A failing step that is not a gate, in the last stage (nothing is skipped after it), still
    blocks the merge: a failed pipeline is never an auto-merge."""
    main, wt, f = setup(tmp_path, 2)
    f.write_text(PIPELINE.format(want=2).replace('run: ["true"]', 'run: ["false"]'))
    before = git(main, "rev-parse", "main")
    done = cli(wt, "pipeline", "run", str(f), "--json")
    run = json.loads(done.stdout)
    assert run["cicd.pipeline.result"] == "failure"
    assert run["cmdscope.merge.result"] == "human_review" and run["cmdscope.merge.performed"] is False
    assert any(r.startswith("pipeline stopped: ") and "package" in r for r in run["cmdscope.merge.reasons"])
    assert git(main, "rev-parse", "main") == before


def test_diverged_target_is_human_review(tmp_path: Path) -> None:
    """When main cannot be fast-forwarded the merge fails and the run needs human review (exit 3)."""
    main, wt, f = setup(tmp_path, 2)
    (main / "other.txt").write_text("diverge\n")
    git(main, "add", ".")
    git(main, "commit", "-qm", "diverge")
    done = cli(wt, "pipeline", "run", str(f), "--json")
    assert done.returncode == 3
    assert any("cannot be fast-forwarded" in r for r in json.loads(done.stdout)["cmdscope.merge.reasons"])


def test_semconv_spans_through_the_sdk(tmp_path: Path, otel) -> None:  # noqa: F811
    """In process, the run is a SERVER span 'RUN ci' and each stage an INTERNAL child span."""
    from opentelemetry.trace import SpanKind

    from cmdscope._sdlc.pipelines import run_pipeline

    _, wt, f = setup(tmp_path, 2)
    result = run_pipeline(str(f), workdir=str(wt), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert result.ok
    spans = {s.name: s for s in otel[0].get_finished_spans()}
    run = spans["RUN ci"]
    assert run.kind == SpanKind.SERVER and run.attributes["cicd.pipeline.result"] == "success"
    assert spans["test"].parent.span_id == run.context.span_id
    assert spans["test"].attributes["cicd.pipeline.task.type"] == "test"


def test_governance_thresholds() -> None:
    """decide(): a critical dangerous hit and an unresolved denial block the merge; a later pass of
    a resolving gate resolves the denial."""
    from cmdscope._sdlc.governance import Policy, decide

    policy = Policy(denials_resolved_by=["security-review"])
    gates = [{"cmdscope.gate.name": "tests", "cmdscope.gate.result": "pass", "cmdscope.gate.required": True}]
    recs = [
        {"kind": "command", "cmdscope.packet": "P", "end_ns": 1, "cmdscope.outcome": "success",
         "cmdscope.danger.rule": ["fs.rm"], "cmdscope.danger.severity": "critical"},
        {"kind": "denial", "cmdscope.packet": "P", "end_ns": 2},
    ]
    d = decide(policy, gates, packet="P", packet_records=recs)
    assert not d.merge and any("critical" in r for r in d.reasons) and any("unresolved denial" in r for r in d.reasons)
    recs[0]["cmdscope.danger.severity"] = "high"
    recs.append({"kind": "gate", "cmdscope.packet": "P", "end_ns": 3, "cmdscope.gate.name": "security-review",
                 "cmdscope.gate.result": "pass"})
    assert decide(policy, gates, packet="P", packet_records=recs).merge
    assert not decide(Policy(required_gates=["review"]), gates).merge


def test_bad_pipeline_file_names_file_line_field(tmp_path: Path) -> None:
    """A wrong field is one line naming the file, the line and the field; exit 2."""
    f = tmp_path / "p.yaml"
    f.write_text("name: ci\nstages:\n  - name: a\n    steps:\n      - run: echo\n        requird: true\n")
    repo = make_repo(tmp_path / "r")
    bad = cli(repo, "pipeline", "run", str(f))
    assert bad.returncode == 2 and f"{f}:6: stages.0.steps.0.requird" in bad.stderr and "Traceback" not in bad.stderr
