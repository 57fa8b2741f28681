"""The agents' own records as the coverage readers see them, in the shapes the real CLIs wrote
in tests/test_e2e_coverage.py (Claude Code 2.1.197 transcripts, Codex 0.169 rollouts): what
decides "ran", "denied by the agent" and "blocked by a hook"."""

from __future__ import annotations

import json
from pathlib import Path

from cmdscope._coverage import claude_code, codex
from cmdscope._coverage.model import match


def _claude_lines(results: list[tuple[str, str, bool]]) -> list[str]:
    lines = []
    for call_id, text, is_error in results:
        lines.append(json.dumps({"type": "assistant", "timestamp": "2026-12-03T09:25:50.000Z", "message": {
            "role": "assistant", "content": [{"type": "tool_use", "id": call_id, "name": "Bash",
                                              "input": {"command": f"cmd-{call_id}"}}]}}))
        lines.append(json.dumps({"type": "user", "timestamp": "2026-12-03T09:25:51.000Z", "message": {
            "role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "is_error": is_error,
                                         "content": text}]}, "toolUseResult": f"Error: {text}"}))
    return lines


def test_claude_code_refusals_are_told_from_failures(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(_claude_lines([
        ("deny", "Permission to use Bash with command curl http://x has been denied.", True),
        ("ask", ("This command uses the `&` background operator, which defers execution past approval-time "
                 "safety checks. Approve only if you trust it."), True),
        ("ran", "Exit code 1\ncat: /root/secret: Permission denied", True),
        ("timeout", "Exit code 143\nCommand timed out after 2s", True),
        ("ok", "hello", False),
    ])) + "\n{\"partial")  # a line still being written is skipped
    calls = {c.call_id: c.result for c in claude_code.read([path], "s")}
    assert calls == {"deny": "denied_agent", "ask": "denied_agent", "ran": "error", "timeout": "error", "ok": "ok"}


def test_codex_rollout_states(tmp_path: Path) -> None:
    day = tmp_path / "sessions" / "2026" / "12" / "03"
    day.mkdir(parents=True)
    entries = [{"type": "session_meta", "payload": {"id": "thread-1"}}]
    outputs = {"ran": "Chunk ID: 1\nProcess exited with code 0\nOutput:\nok\n",
               "forbidden": "exec_command failed: CreateProcess { message: \"Rejected(\\\"`/bin/bash -lc 'curl x'` "
                            "rejected: policy forbids commands starting with `curl`\\\")\" }",
               "blocked": "Command blocked by PreToolUse hook: default.deny-critical: ... Command: rm -rf ~",
               "failed": "Chunk ID: 2\nProcess running with session ID 7\nOutput:\n"}
    for call_id, output in outputs.items():
        entries.append({"type": "response_item", "timestamp": "2026-12-03T09:29:16.000Z", "payload": {
            "type": "function_call", "name": "exec_command", "call_id": call_id,
            "arguments": json.dumps({"cmd": f"cmd-{call_id}"})}})
        entries.append({"type": "response_item", "payload": {"type": "function_call_output", "call_id": call_id,
                                                              "output": output}})
    for call_id, code in (("ran", 0), ("failed", -1)):
        entries.append({"type": "event_msg", "payload": {"type": "item_completed", "item": {
            "type": "CommandExecution", "id": call_id, "status": "completed" if code == 0 else "failed",
            "exit_code": code}}})
    entries.append({"type": "response_item", "payload": {"type": "function_call", "name": "exec_command",
                                                         "call_id": "unanswered", "arguments": "{\"cmd\": \"x\"}"}})
    (day / "rollout-2026-12-03T09-29-16-thread-1.jsonl").write_text("\n".join(json.dumps(e) for e in entries))
    ((session, calls),) = list(codex.sessions(root=tmp_path))
    assert session == "thread-1"
    assert {c.call_id: c.result for c in calls} == {"ran": "ok", "forbidden": "denied_agent", "blocked": "blocked",
                                                    "failed": "error", "unanswered": None}
    cov = match(calls, [{"kind": "command", "gen_ai.tool.call.id": "ran", "record_id": "r1"}], agent="codex",
                session=session)
    states = {c.call_id: state for c, state, _ in cov.calls}
    assert states == {"ran": "covered", "forbidden": "denied_agent", "blocked": "never_ran", "failed": "missed",
                      "unanswered": "never_ran"}
    assert cov.coverage == 0.5
