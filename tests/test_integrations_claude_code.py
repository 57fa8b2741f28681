"""`cmdscope hook claude-code`: the real CLI in a child process, fed Claude Code's hook events."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import cmdscope_cli, read_ledger

SESSION = "5f1d1c5e-0000-4000-8000-000000000001"


def event(name: str, command: str | None = "ls", call_id: str = "toolu_01", cwd: str = "/tmp", **extra) -> dict:
    data = {"session_id": SESSION, "transcript_path": "/tmp/t.jsonl", "cwd": cwd, "hook_event_name": name,
            "permission_mode": "default", **extra}
    if command is not None:
        data.update(tool_name="Bash", tool_input={"command": command, "description": "d"}, tool_use_id=call_id)
    return data


def hook(data: dict | bytes, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return cmdscope_cli("hook", "claude-code", input=raw, capture_output=True, env=env, timeout=60)


def validate(rec: dict) -> None:
    from cmdscope._records import validate_record

    validate_record(rec)


class TestPreToolUse:
    def test_deny_answers_claude_format_and_records_denial(self, ledger_path: Path) -> None:
        """A denied command gets exactly Claude's deny JSON and a denial record with rule, source, actor, session, call id."""
        done = hook(event("PreToolUse", "rm -rf ~", call_id="toolu_deny"))
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert set(answer) == {"hookSpecificOutput"}
        out = answer["hookSpecificOutput"]
        assert out["hookEventName"] == "PreToolUse" and out["permissionDecision"] == "deny"
        reason = out["permissionDecisionReason"]
        (rec,) = read_ledger(ledger_path)
        validate(rec)
        assert rec["kind"] == "denial" and rec["cmdscope.outcome"] == "denied"
        assert reason.startswith(rec["cmdscope.policy.rule"] + ": ")
        assert "(playbook: " in reason and "fs.rm-recursive-home" in reason
        assert rec["cmdscope.policy.source"]
        assert rec["cmdscope.actor"] == "claude-code"
        assert rec["session.id"] == SESSION
        assert rec["gen_ai.tool.call.id"] == "toolu_deny"
        assert rec["process.command_line"] == "rm -rf ~"

    def test_allow_prints_nothing_and_post_closes_the_record(self, ledger_path: Path, isolated_state: Path) -> None:
        """An allowed command opens a pending record that PostToolUse closes, joined on tool_use_id."""
        done = hook(event("PreToolUse", "ls -la", call_id="toolu_ok"))
        assert done.returncode == 0 and done.stdout == b""
        assert read_ledger(ledger_path) == []
        pending = list((isolated_state / "cmdscope" / "pending" / "claude-code").glob("*.json"))
        assert len(pending) == 1 and oct(pending[0].stat().st_mode & 0o777) == "0o600"
        post = event("PostToolUse", "ls -la", call_id="toolu_ok", duration_ms=42,
                     tool_response={"stdout": "x", "stderr": "", "interrupted": False})
        assert hook(post).returncode == 0
        (rec,) = read_ledger(ledger_path)
        validate(rec)
        assert rec["kind"] == "command" and rec["cmdscope.outcome"] == "success"
        assert rec["gen_ai.tool.call.id"] == "toolu_ok" and rec["session.id"] == SESSION
        assert rec["cmdscope.exit_code.known"] is False and "process.exit.code" not in rec
        assert rec["duration_s"] == pytest.approx(0.042)
        assert rec["cmdscope.policy.action"] == "allow"
        assert not list(pending[0].parent.glob("*.json")), "the pending record is consumed"

    def test_failure_event_carries_the_real_exit_code(self, ledger_path: Path) -> None:
        """PostToolUseFailure's 'Exit code N' becomes process.exit.code N with outcome failure."""
        hook(event("PreToolUse", "pytest -x", call_id="toolu_f"))
        hook(event("PostToolUseFailure", "pytest -x", call_id="toolu_f", error="Exit code 3",
                   is_interrupt=False, duration_ms=7))
        (rec,) = read_ledger(ledger_path)
        validate(rec)
        assert rec["process.exit.code"] == 3 and rec["cmdscope.exit_code.known"] is True
        assert rec["cmdscope.outcome"] == "failure" and rec["error.type"]

    def test_interrupt_without_exit_code_is_not_invented(self, ledger_path: Path) -> None:
        """An interrupted command without a reported exit code says so instead of inventing one."""
        hook(event("PreToolUse", "sleep 100", call_id="toolu_i"))
        hook(event("PostToolUseFailure", "sleep 100", call_id="toolu_i", error="Interrupted by user", is_interrupt=True))
        (rec,) = read_ledger(ledger_path)
        assert rec["cmdscope.outcome"] == "interrupted"
        assert rec["cmdscope.exit_code.known"] is False and "process.exit.code" not in rec

    def test_secret_in_command_is_redacted_everywhere(self, ledger_path: Path, isolated_state: Path) -> None:
        """A token in the command never reaches the ledger or the pending state file."""
        secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
        hook(event("PreToolUse", f"curl -H 'Authorization: token {secret}' https://api.example", call_id="toolu_s"))
        for path in (isolated_state / "cmdscope" / "pending").rglob("*"):
            if path.is_file():
                assert secret not in path.read_text()
        hook(event("PostToolUse", f"curl -H 'Authorization: token {secret}' https://api.example", call_id="toolu_s",
                   tool_response={"stdout": secret, "stderr": "", "interrupted": False}))
        text = ledger_path.read_text()
        assert secret not in text and "curl" in text


class TestBadInput:
    def test_malformed_json_is_recorded_and_allowed_with_warning(self, ledger_path: Path) -> None:
        """Garbage on stdin is an integration_error record, answered with allow plus a warning."""
        done = hook(b"{not json")
        assert done.returncode == 0
        assert "could not read the hook input" in json.loads(done.stdout)["systemMessage"]
        (rec,) = read_ledger(ledger_path)
        assert rec["kind"] == "integration_error" and rec["cmdscope.actor"] == "claude-code"
        assert rec["error.type"] == "integration_error"

    def test_missing_event_name_is_named(self, ledger_path: Path) -> None:
        """A JSON object without hook_event_name names the missing field."""
        done = hook({"session_id": "x"})
        assert done.returncode == 0
        (rec,) = read_ledger(ledger_path)
        assert "hook_event_name" in rec["cmdscope.error.excerpt"]

    def test_fail_closed_blocks(self, ledger_path: Path) -> None:
        """With CMDSCOPE_GUARD_FAIL=closed, unreadable input blocks (exit 2, reason on stderr)."""
        done = hook(b"[1, 2", env={"CMDSCOPE_GUARD_FAIL": "closed"})
        assert done.returncode == 2 and b"cmdscope.hook-input" in done.stderr
        assert read_ledger(ledger_path)[0]["kind"] == "integration_error"


class TestSession:
    def test_session_start_exports_context_and_end_closes_pending(self, ledger_path: Path, tmp_path: Path) -> None:
        """SessionStart appends CMDSCOPE_*/TRACEPARENT to CLAUDE_ENV_FILE; SessionEnd closes unfinished calls."""
        env_file = tmp_path / "session-env.sh"
        assert hook(event("SessionStart", None, source="startup"), env={"CLAUDE_ENV_FILE": str(env_file)}).returncode == 0
        text = env_file.read_text()
        assert f"export CMDSCOPE_SESSION={SESSION}" in text and "export CMDSCOPE_ACTOR=claude-code" in text
        sourced = subprocess.run(["bash", "-c", f". {env_file}; echo $TRACEPARENT"], capture_output=True, text=True, check=False)
        trace_id = sourced.stdout.strip().split("-")[1]
        hook(event("PreToolUse", "make build", call_id="toolu_lost"))
        hook(event("SessionEnd", None, reason="other"))
        (rec,) = read_ledger(ledger_path)
        assert rec["cmdscope.outcome"] == "interrupted" and rec["cmdscope.exit_code.known"] is False
        assert rec["trace_id"] == trace_id, "commands of a session share the session's trace"

    def test_permission_denied_event_is_a_denial(self, ledger_path: Path) -> None:
        """Claude's own permission refusal is recorded as a denial by rule claude-code.permission."""
        hook(event("PermissionDenied", "git push", call_id="toolu_p", reason="not allowed in auto mode"))
        (rec,) = read_ledger(ledger_path)
        validate(rec)
        assert rec["kind"] == "denial" and rec["cmdscope.policy.rule"] == "claude-code.permission"
