"""``cmdscope pipeline run pipeline.yaml``: stages of commands and gates, then governance, then
the merge action.

Spans follow the OpenTelemetry CI/CD semantic conventions: one SERVER span ``RUN {name}`` for the
run (``cicd.pipeline.name``, ``cicd.pipeline.run.id``, ``cicd.pipeline.action.name``,
``cicd.pipeline.result``) with one INTERNAL span per stage (``cicd.pipeline.task.name``,
``cicd.pipeline.task.run.id``, ``cicd.pipeline.task.type``, ``cicd.pipeline.task.run.result``);
every command and gate of a stage is a child of the stage's span. Each span is a ``pipeline``
record (stage records carry ``cicd.pipeline.task.name``).

A failed step or a failed *required* gate stops the run (later stages are recorded as ``skip``);
a failed optional gate does not stop it but, under ``auto_merge.require: all_gates``, blocks the
merge. docs/sdlc.md has the file format.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from pydantic import BaseModel, ConfigDict, Field

from cmdscope._sdlc import emit
from cmdscope._sdlc.governance import Decision, decide, load_policy


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Step(_Strict):
    run: str | list[str] = Field(min_length=1)
    name: str | None = None
    gate: str | None = None
    required: bool = False
    timeout: float | None = Field(default=None, gt=0)
    phase: str | None = None
    continue_on_error: bool = False


class Stage(_Strict):
    name: str = Field(min_length=1)
    type: Literal["build", "test", "deploy"] | None = None
    steps: list[Step] = Field(min_length=1)


class Merge(_Strict):
    action: Literal["none", "ff", "command"] = "none"
    source: str | None = None
    target: str = "main"
    command: str | None = None


class PipelineFile(_Strict):
    name: str = Field(min_length=1)
    packet: str | None = None
    policy: str | None = None
    workdir: str | None = None
    stages: list[Stage] = Field(min_length=1)
    merge: Merge = Merge()


def load_pipeline(path: str | os.PathLike[str]) -> PipelineFile:
    from cmdscope._sdlc.yamlfile import ConfigError, load_model

    spec = load_model(path, PipelineFile)
    if spec.merge.action == "command" and not spec.merge.command:
        raise ConfigError(f"{os.fspath(path)}: merge.command: required when merge.action is 'command'")
    return spec


@dataclass
class PipelineResult:
    record: dict[str, Any]
    stages: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    decision: Decision | None = None

    @property
    def ok(self) -> bool:
        return self.record.get("cicd.pipeline.result") == "success"


def _say(out: TextIO | None, line: str) -> None:
    if out is not None:
        try:
            out.write(f"cmdscope pipeline: {line}\n")
            out.flush()
        except Exception:
            pass


def _run_step(step: Step, workdir: str, packet: str | None, ledger: str | None, base: dict[str, Any],
              stdout: Any, stderr: Any) -> tuple[bool, dict[str, Any] | None, str]:
    """(passed, gate record or None, what went wrong)."""
    from cmdscope import _pipeline as pipeline
    from cmdscope._sdlc.gates import run_gate

    shell = isinstance(step.run, str)
    if step.gate:
        rec = run_gate(step.gate, step.run, required=step.required, shell=shell, cwd=workdir, timeout=step.timeout,
                       packet=packet, phase=step.phase, ledger=ledger, extra=base, show_nudge=False,
                       stdout=stdout, stderr=stderr)
        return rec["cmdscope.gate.result"] == "pass", rec, rec.get("cmdscope.gate.reason", "")
    spec = pipeline.CommandSpec(
        command=step.run if shell else list(step.run), shell=shell, shell_path="/bin/sh" if shell else None,
        cwd=workdir, timeout=step.timeout, stdout=stdout, stderr=stderr,
        context={"packet": packet, "phase": step.phase}, ledger_path=ledger,
    )
    try:
        done = pipeline.run_command(spec)
    except pipeline.Denied as denied:
        return False, None, f"denied by {getattr(denied.decision, 'rule_id', 'policy')}"
    rec = done.record
    ok = rec.get("cmdscope.outcome") == "success"
    return ok, None, "" if ok else f"exit {rec.get('process.exit.code')} ({rec.get('error.type')})"


def _stage_record(stage: Stage, span: Any, start_ns: int, base: dict[str, Any], result: str, packet: str | None,
                  workdir: str, reason: str = "") -> dict[str, Any]:
    from cmdscope._context import resolve

    rec = emit.new("pipeline", stage.name, span, start_ns)
    rec.update(resolve(workdir, packet=packet).attributes())
    rec.update(base)
    rec["cicd.pipeline.task.name"] = stage.name
    rec["cicd.pipeline.task.run.id"] = span.span_id
    if stage.type:
        rec["cicd.pipeline.task.type"] = stage.type
    rec["cicd.pipeline.task.run.result"] = result
    rec["cmdscope.outcome"] = "success" if result in ("success", "skip") else "failure"
    if rec["cmdscope.outcome"] != "success":
        rec["error.type"] = f"stage_{result}"
    if reason:
        rec["cmdscope.pipeline.reason"] = reason
    return rec


def run_pipeline(path: str | os.PathLike[str], *, workdir: str | None = None, policy: str | None = None,
                 ledger: str | None = None, out: TextIO | None = None, stdout: Any = None,
                 stderr: Any = None) -> PipelineResult:
    """Run the pipeline file at ``path``; returns its records. Config errors raise ConfigError."""
    from cmdscope._context import resolve
    from cmdscope._paths import default_ledger_path
    from cmdscope._sinks.ledger import read_records

    spec = load_pipeline(path)
    base_dir = Path(path).resolve().parent
    where = os.path.abspath(workdir or (base_dir / spec.workdir if spec.workdir else os.getcwd()))
    policy_path = policy or (str(base_dir / spec.policy) if spec.policy else None)
    gov = load_policy(policy_path)
    packet = spec.packet or resolve(where).packet

    start = time.time_ns()
    run_span = emit.start_span(f"RUN {spec.name}", start, kind="SERVER")
    base = {"cicd.pipeline.name": spec.name, "cicd.pipeline.run.id": run_span.span_id}
    result = PipelineResult(record={})
    stopped = step_stopped = ""
    failed = False
    with run_span.activate():
        for stage in spec.stages:
            t0 = time.time_ns()
            span = emit.start_span(stage.name, t0)
            if stopped:
                result.stages.append(emit.write(_stage_record(stage, span, t0, base, "skip", packet, where, stopped), span, ledger))
                _say(out, f"stage {stage.name}: skipped ({stopped})")
                continue
            _say(out, f"stage {stage.name}")
            stage_result, why = "success", ""
            with span.activate():
                for step in stage.steps:
                    ok, gate_rec, what = _run_step(step, where, packet, ledger,
                                                   {**base, "cicd.pipeline.task.name": stage.name}, stdout, stderr)
                    label = f"gate {step.gate}" if step.gate else (step.name or (step.run if isinstance(step.run, str) else shlex.join(step.run)))
                    if gate_rec is not None:
                        result.gates.append(gate_rec)
                    _say(out, f"  {label}: {'ok' if ok else 'FAILED ' + what}")
                    if ok:
                        continue
                    stage_result, why = "failure", f"{label}: {what}"
                    if step.continue_on_error or (step.gate and not step.required):
                        continue
                    stopped = f"{label} failed in stage {stage.name}"
                    if not step.gate:  # a failed gate is its own merge reason
                        step_stopped = stopped
                    break
            failed = failed or stage_result != "success"
            result.stages.append(emit.write(_stage_record(stage, span, t0, base, stage_result, packet, where, why), span, ledger))

        records = None
        if packet:
            records = list(read_records(ledger or os.fspath(default_ledger_path()), since_ns=start - 30 * 86400 * 10**9))
        decision = decide(gov, result.gates, pipeline=spec.name, packet=packet, packet_records=records,
                          completed=not any(s.get("cicd.pipeline.task.run.result") == "skip" for s in result.stages),
                          stopped=step_stopped)
        merge_fields = _merge(spec, decision, where, packet, ledger, out, stdout, stderr)
    result.decision = decision
    rec = emit.new("pipeline", f"RUN {spec.name}", run_span, start)
    rec.update(resolve(where, packet=packet).attributes())
    rec.update(base)
    rec["cicd.pipeline.action.name"] = "RUN"
    rec["cicd.pipeline.result"] = "failure" if failed else "success"
    rec["cmdscope.pipeline.policy"] = f"{policy_path or 'builtin'}#{gov.name}@{gov.version}"
    rec["cmdscope.pipeline.stages"] = len(spec.stages)
    rec["cmdscope.pipeline.gates"] = len(result.gates)
    rec["cmdscope.pipeline.gates_passed"] = sum(g["cmdscope.gate.result"] == "pass" for g in result.gates)
    rec.update(merge_fields)
    rec["cmdscope.outcome"] = "success" if not failed else "failure"
    if failed:
        rec["error.type"] = "pipeline_failed"
    result.record = emit.write(rec, run_span, ledger)
    verdict = "auto-merge" if rec["cmdscope.merge.result"] == "auto" else "needs human review"
    _say(out, f"{spec.name}: {rec['cicd.pipeline.result']}, {verdict}"
              + ("" if rec["cmdscope.merge.result"] == "auto" else ": " + "; ".join(rec["cmdscope.merge.reasons"])))
    return result


def _merge(spec: PipelineFile, decision: Decision, workdir: str, packet: str | None, ledger: str | None,
           out: TextIO | None, stdout: Any, stderr: Any) -> dict[str, Any]:
    """Perform the merge action when the decision allows it; the merge fields of the run record."""
    m = spec.merge
    fields: dict[str, Any] = {"cmdscope.merge.action": m.action}
    reasons = list(decision.reasons)
    performed = False
    if decision.merge and m.action != "none":
        try:
            performed, problem, revision = _perform(m, workdir, packet, ledger, stdout, stderr)
        except Exception as exc:  # noqa: BLE001 - a broken merge is a review reason, not a crash
            performed, problem, revision = False, f"{type(exc).__name__}: {exc}", None
        if not performed:
            reasons.append(f"merge action failed: {problem}")
        elif revision:
            fields["cmdscope.merge.revision"] = revision
        _say(out, f"merge ({m.action}): {'done' if performed else 'FAILED ' + problem}")
    if m.action == "ff":
        fields["cmdscope.merge.target"] = m.target
    fields["cmdscope.merge.performed"] = performed
    fields["cmdscope.merge.result"] = "auto" if not reasons else "human_review"
    fields["cmdscope.merge.reasons"] = reasons
    return fields


def _perform(m: Merge, workdir: str, packet: str | None, ledger: str | None, stdout: Any,
             stderr: Any) -> tuple[bool, str, str | None]:
    from cmdscope import _pipeline as pipeline
    from cmdscope._sdlc.git import git, toplevel

    def run(argv: list[str] | str, cwd: str) -> tuple[bool, str]:
        shell = isinstance(argv, str)
        spec = pipeline.CommandSpec(command=argv, shell=shell, shell_path="/bin/sh" if shell else None, cwd=cwd,
                                    stdout=stdout, stderr=stderr, context={"packet": packet, "phase": "merge"},
                                    ledger_path=ledger)
        try:
            rec = pipeline.run_command(spec).record
        except pipeline.Denied as denied:
            return False, f"denied by {getattr(denied.decision, 'rule_id', 'policy')}"
        return rec.get("cmdscope.outcome") == "success", f"exit {rec.get('process.exit.code')}"

    if m.action == "command":
        assert m.command is not None
        repo_branch = git(["rev-parse", "--abbrev-ref", "HEAD"], workdir, check=False).strip()
        command = (m.command.replace("{source}", shlex.quote(m.source or repo_branch))
                   .replace("{target}", shlex.quote(m.target)).replace("{packet}", shlex.quote(packet or "")))
        ok, problem = run(command, workdir)
        return ok, problem, None
    # ff: fast-forward the target branch to the source, never a merge commit.
    repo = toplevel(workdir)
    source = m.source or git(["rev-parse", "--abbrev-ref", "HEAD"], repo).strip()
    sha = git(["rev-parse", "--verify", f"{source}^{{commit}}"], repo).strip()
    holder = _worktree_of(repo, m.target)
    if holder is not None:
        ok, problem = run(["git", "merge", "--ff-only", sha], holder)
    else:  # target not checked out anywhere: git fetch refuses anything but a fast-forward
        ok, problem = run(["git", "fetch", "--quiet", ".", f"{sha}:refs/heads/{m.target}"], repo)
    if not ok:
        return False, f"{m.target} cannot be fast-forwarded to {source} ({problem})", None
    return True, "", sha


def _worktree_of(repo: str, branch: str) -> str | None:
    from cmdscope._sdlc.git import git

    current = None
    for line in git(["worktree", "list", "--porcelain"], repo).splitlines():
        if line.startswith("worktree "):
            current = line[len("worktree "):]
        elif line == f"branch refs/heads/{branch}" and current and os.path.isdir(current):
            return current
    return None


def main_run(path: str, **kw: Any) -> PipelineResult:
    return run_pipeline(path, out=sys.stderr, **kw)
