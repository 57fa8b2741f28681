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
    """Codex treats permissionDecision 'allow' without updatedInput as invalid: allow must print nothing."""
    done = hook(event("PreToolUse", "ls"))
    assert done.returncode == 0 and done.stdout == b""


def test_post_tool_use_output_text_has_no_exit_code(ledger_path: Path) -> None:
    """Codex's Bash tool_response is output text: the record says the exit code is unknown."""
    hook(event("PreToolUse", "ls", call_id="c2"))
    hook(event("PostToolUse", "ls", call_id="c2", tool_response="a\nb\n"))
    (rec,) = read_ledger(ledger_path)
    assert rec["kind"] == "command" and rec["gen_ai.tool.call.id"] == "c2"
    assert rec["cmdscope.exit_code.known"] is False and "process.exit.code" not in rec


def test_exit_code_header_is_read_when_present(ledger_path: Path) -> None:
    """An 'Exit code: N' header in Codex's output is the exit code the agent reported."""
    hook(event("PreToolUse", "make", call_id="c3"))
    hook(event("PostToolUse", "make", call_id="c3", tool_response="Exit code: 2\nWall time: 0.1 seconds\nOutput:\nboom"))
    (rec,) = read_ledger(ledger_path)
    assert rec["process.exit.code"] == 2 and rec["cmdscope.outcome"] == "failure"
