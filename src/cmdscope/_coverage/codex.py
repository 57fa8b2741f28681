"""Codex's session rollout files as tool calls.

Where: ``$CODEX_HOME`` (default ``~/.codex``) ``/sessions/YYYY/MM/DD/rollout-*.jsonl``. Lines
used: ``{"type": "session_meta", "payload": {"id"}}`` names the session;
``{"type": "response_item", "payload": {"type": "function_call", "name": "exec_command" |
"shell" | "local_shell", "arguments": "<JSON with cmd or command>", "call_id"}}`` is a call and
``{"type": "response_item", "payload": {"type": "function_call_output", "call_id", "output"}}``
its result. ``{"type": "event_msg", "payload": {"type": "item_completed", "item": {"type":
"CommandExecution", "id": <call_id>, "status": "completed" | "failed", "exit_code"}}}`` says the
command ran (and how it ended; a command still running when the turn ends is ``failed`` with
exit code -1). Codex's own exec policy (``rules/*.rules``, ``decision="forbidden"``) answers
``exec_command failed: CreateProcess { message: "Rejected(... rejected: policy forbids ...)" }``
with no ``item_completed``: it never ran. A hook's deny is ``Command blocked by PreToolUse
hook: <reason>``. Seen with Codex 0.169. Read only.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cmdscope._coverage.model import ToolCall, iso_ns

SHELL_TOOLS = ("exec_command", "shell", "local_shell", "container.exec", "shell_command")
_HOOK_BLOCKED = "Command blocked by PreToolUse hook"
_AGENT_DENIALS = ("rejected by user", "denied by the sandbox policy", "approval was denied", "not approved",
                  "rejected(", "policy forbids")


def home() -> Path:
    return Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")


def _command(args: object) -> str | None:
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return None
    if not isinstance(args, dict):
        return None
    cmd = args.get("cmd", args.get("command"))
    if isinstance(cmd, list) and all(isinstance(c, str) for c in cmd):
        if len(cmd) >= 3 and cmd[0] in ("bash", "sh", "zsh", "/bin/bash", "/bin/sh") and cmd[1] in ("-c", "-lc"):
            return cmd[2]
        return shlex.join(cmd)
    return cmd if isinstance(cmd, str) else None




def sessions(since_s: float | None = None, root: Path | None = None) -> Iterator[tuple[str, list[ToolCall]]]:
    base = (root or home()) / "sessions"
    if not base.is_dir():
        return
    for path in sorted(base.rglob("rollout-*.jsonl")):
        try:
            if since_s is not None and path.stat().st_mtime < since_s:
                continue
            fh = open(path, encoding="utf-8", errors="replace")
        except OSError:
            continue
        session = path.stem.rsplit("-", 5)[-5:]  # fallback: the uuid at the end of the name
        session_id = "-".join(session)
        calls: dict[str, ToolCall] = {}
        with fh:
            for number, line in enumerate(fh, 1):
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(entry, dict):
                    continue
                raw_payload = entry.get("payload")
                payload: dict[str, Any] = raw_payload if isinstance(raw_payload, dict) else {}
                if entry.get("type") == "session_meta" and isinstance(payload.get("id"), str):
                    session_id = payload["id"]
                    continue
                kind = payload.get("type")
                if kind == "function_call" and payload.get("name") in SHELL_TOOLS:
                    command = _command(payload.get("arguments"))
                    call_id = payload.get("call_id")
                    if command is not None and isinstance(call_id, str):
                        calls[call_id] = ToolCall("codex", session_id, call_id, command, iso_ns(entry.get("timestamp")),
                                                  None, f"{path}:{number}")
                elif kind == "function_call_output" and payload.get("call_id") in calls:
                    output = payload.get("output")
                    text = output if isinstance(output, str) else json.dumps(output)
                    call = calls[payload["call_id"]]
                    if text.startswith(_HOOK_BLOCKED):
                        call.result = "blocked"  # a PreToolUse hook (cmdscope's deny) stopped it
                    elif any(m in text.lower() for m in _AGENT_DENIALS):
                        call.result = "denied_agent"
                    elif call.result is None:
                        call.result = "ok"
                elif kind == "item_completed" and isinstance(payload.get("item"), dict):
                    item = payload["item"]
                    if item.get("type") == "CommandExecution" and item.get("id") in calls:
                        calls[item["id"]].result = "ok" if item.get("exit_code") == 0 else "error"
        for call in calls.values():
            call.session = session_id
        if calls:
            yield session_id, list(calls.values())
