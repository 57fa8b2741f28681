"""`cmdscope hook codex`: Codex's hooks.json events through the real CLI in a child process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import cmdscope_cli, read_ledger


def event(name: str, command: str, call_id: str = "call_1", **extra) -> dict:
    return {"session_id": "thread-1", "turn_id": "t1", "transcript_path": None, "cwd": "/tmp",
            "hook_event_name": name, "model": "gpt-test", "permission_mode": "default", "tool_name": "Bash",
            "tool_input": {"command": command}, "tool_use_id": call_id, **extra}


def hook(data: dict) -> subprocess.CompletedProcess:
    return cmdscope_cli("hook", "codex", input=json.dumps(data).encode(), capture_output=True, timeout=60)


def test_deny_uses_the_claude_shaped_answer_codex_accepts(ledger_path: Path) -> None:
    """A denied command gets permissionDecision deny with a non-empty reason, and a denial record (actor codex)."""
    done = hook(event("PreToolUse", "git push --force origin main"))
    out = json.loads(done.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and out["permissionDecisionReason"].strip()
    (rec,) = read_ledger(ledger_path)
    assert rec["kind"] == "denial" and rec["cmdscope.actor"] == "codex" and rec["session.id"] == "thread-1"
    assert out["permissionDecisionReason"].startswith(rec["cmdscope.policy.rule"])


def test_allow_prints_nothing_because_codex_rejects_bare_allow(ledger_path: Path) -> None:
    """Codex 0.169 counts permissionDecision 'allow' without updatedInput as a failed hook: allow prints nothing."""
    done = hook(event("PreToolUse", "ls"))
    assert done.returncode == 0 and done.stdout == b""


def rollout(path: Path, call_id: str, exit_code: int, filler: int = 0) -> Path:
    """A rollout file as Codex 0.169 writes it: the command's item_completed event, then others."""
    item = {"type": "CommandExecution", "id": call_id, "command": ["/bin/bash", "-lc", "make"],
            "status": "completed", "aggregated_output": "boom\n", "exit_code": exit_code,
            "duration": {"secs": 1, "nanos": 500_000_000}}
    lines = [{"type": "session_meta", "payload": {"id": "thread-1", "cli_version": "0.169.0"}},
             {"type": "event_msg", "payload": {"type": "item_completed", "thread_id": "thread-1", "item": item}}]
    lines += [{"type": "event_msg", "payload": {"type": "token_count", "n": i, "pad": "x" * 1000}} for i in range(filler)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_post_tool_use_reads_the_exit_code_from_the_rollout(ledger_path: Path, tmp_path: Path) -> None:
    """The exit code and duration come from the rollout's item_completed event for this call id."""
    path = rollout(tmp_path / "rollout.jsonl", "c4", 3, filler=100)  # ~100 KB after it: past the first 64 KiB read
    hook(event("PreToolUse", "make", call_id="c4"))
    hook(event("PostToolUse", "make", call_id="c4", tool_response="boom\n", transcript_path=str(path)))
    (rec,) = read_ledger(ledger_path)
    assert rec["process.exit.code"] == 3 and rec["cmdscope.outcome"] == "failure"
    assert abs(rec["duration_s"] - 1.5) < 0.01


def test_rollout_without_the_call_or_unreadable_leaves_the_exit_code_unknown(ledger_path: Path, tmp_path: Path) -> None:
    """Another call's item, a truncated last line, or a missing file: unknown, never a guess."""
    path = rollout(tmp_path / "rollout.jsonl", "other", 3)
    with path.open("a") as fh:
        fh.write('{"type": "event_msg", "payload": {"type": "item_completed", "item": {"id": "c5", "exit_co')
    hook(event("PostToolUse", "make", call_id="c5", tool_response="x", transcript_path=str(path)))
    hook(event("PostToolUse", "make", call_id="c6", tool_response="x", transcript_path=str(tmp_path / "gone.jsonl")))
    recs = read_ledger(ledger_path)
    assert [r["cmdscope.exit_code.known"] for r in recs] == [False, False]
    assert all("process.exit.code" not in r and r["cmdscope.outcome"] == "success" for r in recs)


def test_session_end_closes_commands_left_open(ledger_path: Path) -> None:
    """A command with a PreToolUse but no PostToolUse is closed as interrupted at SessionEnd."""
    hook(event("PreToolUse", "sleep 100", call_id="c7"))
    assert read_ledger(ledger_path) == []
    hook({"session_id": "thread-1", "transcript_path": None, "cwd": "/tmp", "hook_event_name": "SessionEnd",
          "reason": "other"})
    (rec,) = read_ledger(ledger_path)
    assert rec["cmdscope.outcome"] == "interrupted" and rec["gen_ai.tool.call.id"] == "c7"


def test_post_tool_use_output_text_has_no_exit_code(ledger_path: Path) -> None:
    """Without a rollout, Codex's Bash tool_response is output text: the exit code is unknown."""
    hook(event("PreToolUse", "ls", call_id="c2"))
    hook(event("PostToolUse", "ls", call_id="c2", tool_response="a\nb\n"))
    (rec,) = read_ledger(ledger_path)
    assert rec["kind"] == "command" and rec["gen_ai.tool.call.id"] == "c2"
    assert rec["cmdscope.exit_code.known"] is False and "process.exit.code" not in rec


def test_exit_code_header_is_read_when_present(ledger_path: Path) -> None:
    """An 'Exit code: N' header (older Codex builds' output) is the exit code the agent reported."""
    hook(event("PreToolUse", "make", call_id="c3"))
    hook(event("PostToolUse", "make", call_id="c3", tool_response="Exit code: 2\nWall time: 0.1 seconds\nOutput:\nboom"))
    (rec,) = read_ledger(ledger_path)
    assert rec["process.exit.code"] == 2 and rec["cmdscope.outcome"] == "failure"
