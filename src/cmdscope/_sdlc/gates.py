"""Gates: a named check that passes or fails (``cmdscope gate run NAME -- CMD``: pass = exit 0).

A gate record says which gate, pass or fail, whether it was required, and the state of the
worktree's uncommitted changes when it passed: a pass over changes is a *validated slice*, the
unit the commit cadence is measured in (docs/sdlc.md). After such a pass, one line on stderr
suggests committing the slice (``CMDSCOPE_NUDGE=0`` turns it off).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Mapping, Sequence

from cmdscope import _settings as settings
from cmdscope._context import resolve
from cmdscope._sdlc import emit
from cmdscope._sdlc.git import GitError, worktree_state

RESULTS = ("pass", "fail")


def _worktree_state(cwd: str | None) -> str | None:
    try:
        return worktree_state(cwd or os.getcwd())
    except GitError:
        return None  # not a git worktree: no slice to speak of


def nudge(name: str, state: str | None, *, stream: Any = None) -> bool:
    """Print one line suggesting a commit after a pass over uncommitted changes."""
    if state is None or not settings.get("CMDSCOPE_NUDGE"):
        return False
    out = stream or sys.stderr
    try:
        out.write(f"cmdscope: gate '{name}' passed with uncommitted changes: commit this slice now "
                  "(git commit); CMDSCOPE_NUDGE=0 silences this\n")
    except Exception:
        pass
    return True


def _record(name: str, passed: bool, span: Any, start_ns: int, *, required: bool, cwd: str | None,
            packet: str | None, actor: str | None, reason: str | None, state: str | None,
            extra: Mapping[str, Any] | None) -> dict[str, Any]:
    rec = emit.new("gate", "gate", span, start_ns)
    rec.update(resolve(cwd, packet=packet, actor=actor).attributes())
    rec["cmdscope.gate.name"] = name
    rec["cmdscope.gate.result"] = "pass" if passed else "fail"
    rec["cmdscope.gate.required"] = required
    rec["cmdscope.gate.dirty"] = state is not None
    if state is not None:
        rec["cmdscope.gate.worktree_state"] = state
    if reason:
        rec["cmdscope.gate.reason"] = reason
    rec["cmdscope.outcome"] = "success" if passed else "failure"
    if extra:
        rec.update(extra)
    if not passed:
        rec.setdefault("error.type", "gate_failed")
    return rec


def gate(name: str, passed: bool, *, required: bool = False, reason: str | None = None,
         cwd: str | os.PathLike[str] | None = None, packet: str | None = None, actor: str | None = None,
         ledger: str | os.PathLike[str] | None = None, show_nudge: bool = True) -> dict[str, Any]:
    """Record a gate evaluated by the caller (``cmdscope.gate("review", passed=True)``); returns the record."""
    if not name:
        raise ValueError("cmdscope.gate() needs a gate name")
    now = time.time_ns()
    where = os.fspath(cwd) if cwd is not None else None
    span = emit.start_span("gate", now)
    state = _worktree_state(where) if passed else None
    rec = _record(name, passed, span, now, required=required, cwd=where, packet=packet, actor=actor,
                  reason=reason, state=state, extra=None)
    emit.write(rec, span, os.fspath(ledger) if ledger is not None else None)
    if passed and show_nudge:
        nudge(name, state)
    return rec


def run_gate(name: str, command: Sequence[str] | str, *, required: bool = False, shell: bool = False,
             cwd: str | None = None, timeout: float | None = None, packet: str | None = None,
             actor: str | None = None, phase: str | None = None, ledger: str | None = None,
             extra: Mapping[str, Any] | None = None, show_nudge: bool = True,
             stdout: Any = None, stderr: Any = None) -> dict[str, Any]:
    """Run ``command`` as gate ``name`` (its command record is a child of the gate's span)."""
    from cmdscope import _pipeline as pipeline, _runner as runner

    now = time.time_ns()
    span = emit.start_span("gate", now)
    spec = pipeline.CommandSpec(
        command=command if shell else list(command),
        shell=shell,
        shell_path=runner.default_interactive_shell() if shell else None,
        cwd=cwd, timeout=timeout, forward_signals=True, stdout=stdout, stderr=stderr,
        context={"packet": packet, "actor": actor, "phase": phase},
        ledger_path=ledger,
    )
    reason = None
    with span.activate():
        try:
            done = pipeline.run_command(spec)
            cmd_rec = done.record
        except pipeline.Denied as denied:
            cmd_rec = getattr(denied, "record", {}) or {}
            reason = f"denied by {getattr(denied.decision, 'rule_id', 'policy')}"
    passed = cmd_rec.get("cmdscope.outcome") == "success"
    fields: dict[str, Any] = dict(extra or {})
    fields["cmdscope.gate.command"] = cmd_rec.get("process.command_line", "")
    fields["cmdscope.gate.command_record"] = cmd_rec.get("record_id", "")
    if "process.exit.code" in cmd_rec:
        fields["process.exit.code"] = cmd_rec["process.exit.code"]
    if not passed:
        fields["error.type"] = cmd_rec.get("error.type") or "gate_failed"
        reason = reason or f"exit {cmd_rec.get('process.exit.code')} ({fields['error.type']})"
    state = _worktree_state(cwd) if passed else None
    rec = _record(name, passed, span, now, required=required, cwd=cwd, packet=packet, actor=actor,
                  reason=reason, state=state, extra=fields)
    emit.write(rec, span, ledger)
    if passed and show_nudge:
        nudge(name, state)
    return rec
