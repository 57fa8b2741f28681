"""Codex hooks (``hooks.json``): ``cmdscope hook codex``, same semantics as Claude Code.

What Codex sends (observed with Codex CLI 0.169 through ``codex exec``; ``tests/test_e2e_codex.py``
drives it): Claude-shaped events (``session_id``, ``turn_id``, ``cwd``, ``transcript_path``,
``tool_name`` = ``Bash`` for its ``exec_command`` tool, ``tool_input.command``, ``tool_use_id``)
with these differences, which this module accounts for:

- PreToolUse takes ``permissionDecision: "deny"`` with a reason (the model reads
  ``Command blocked by PreToolUse hook: <reason>``); ``"allow"`` without ``updatedInput`` is
  counted as a failed hook, so allow prints nothing and warn sends only ``additionalContext``
  (given to the model) and a ``systemMessage``.
- PostToolUse fires for every finished command, failed ones included; ``tool_response`` is the
  output text only. The exit code and duration are in the session's rollout file
  (``transcript_path``): Codex appends the command's ``item_completed`` event there before it
  runs PostToolUse, so we read it back by ``tool_use_id``. The rollout format is Codex's own
  (not a documented API): when the item is not found the record says
  ``cmdscope.exit_code.known: false`` and ``success`` means only "the tool call completed".
- SessionEnd (``reason``) closes commands that never got a PostToolUse, as interrupted.
  There is no failure or permission-denied event.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from cmdscope._integrations import agent, claude_code
from cmdscope._integrations.agent import Result

ACTOR = "codex"
EVENTS = ("PreToolUse", "PostToolUse", "SessionStart", "SessionEnd")
_HEADER = re.compile(r"^\s*Exit code:\s*(-?\d+)\b", re.MULTILINE)  # older Codex builds' output header
_ROLLOUT_READS = (1 << 16, 4 << 20)  # the item was appended just before the hook ran: near the end


def rollout_item(data: dict[str, Any]) -> dict[str, Any] | None:
    """The ``CommandExecution`` item Codex wrote to the rollout file for this tool call, if any.

    Reads the last 64 KiB, then (a long output, parallel calls) the last 4 MiB, never the whole
    file: rollouts grow to tens of MB over a long session, and this runs after every command."""
    path, call_id = data.get("transcript_path"), data.get("tool_use_id")
    if not isinstance(path, str) or not isinstance(call_id, str) or not call_id:
        return None
    needle = json.dumps(call_id).encode()
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            for limit in _ROLLOUT_READS:
                start = max(0, size - limit)
                fh.seek(start)
                item = _find_item(fh.read(size - start), needle, call_id)
                if item is not None or start == 0:
                    return item
    except OSError:
        return None
    return None


def _find_item(tail: bytes, needle: bytes, call_id: str) -> dict[str, Any] | None:
    end = len(tail)
    while (at := tail.rfind(needle, 0, end)) != -1:
        first = tail.rfind(b"\n", 0, at) + 1
        last = tail.find(b"\n", at)
        line = tail[first:last if last != -1 else None]
        end = first
        if b'"item_completed"' not in line:
            continue  # the function_call / function_call_output lines name the call id too
        try:
            item = (json.loads(line).get("payload") or {}).get("item")
        except (ValueError, AttributeError):
            continue  # a line cut by the tail's start, or one still being written
        if isinstance(item, dict) and item.get("id") == call_id and item.get("type") == "CommandExecution":
            return item
    return None


def _exit_code(item: dict[str, Any] | None, data: dict[str, Any]) -> int | None:
    if item is not None:
        code = item.get("exit_code")
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    code = claude_code.exit_code_from(data)
    if code is not None:
        return code
    response = data.get("tool_response")
    if isinstance(response, str):
        m = _HEADER.search(response[:512])
        if m:
            return int(m.group(1))
    return None


def _duration_ms(item: dict[str, Any] | None) -> float | None:
    duration = item.get("duration") if item is not None else None
    if isinstance(duration, dict):
        secs, nanos = duration.get("secs"), duration.get("nanos")
        if isinstance(secs, int) and isinstance(nanos, int):
            return secs * 1000 + nanos / 1e6
    return None


def exit_code_from(data: dict[str, Any]) -> int | None:
    """The exit code Codex reported for a PostToolUse event, if any; never a guess."""
    return _exit_code(rollout_item(data), data)


def handle(data: dict[str, Any], store: agent.Store, *, environ: Mapping[str, str] | None = None,
           cwd: str | None = None) -> dict[str, Any] | None:
    """The answer for one event; ``environ``/``cwd`` as for ``claude_code.handle``."""
    event = data["hook_event_name"]
    if event == "PreToolUse":
        call = claude_code.tool_call(data, ACTOR, environ=environ, cwd=cwd)
        if call is None:
            return None
        return claude_code.pre_tool_use_answer(agent.before(call, store))
    if event == "PostToolUse":
        call = claude_code.tool_call(data, ACTOR, environ=environ, cwd=cwd)
        if call is None:
            return None
        item = rollout_item(data)
        code = _exit_code(item, data)
        response = data.get("tool_response")
        outcome = "success" if code in (None, 0) else "failure"
        # The output the agent saw is what the failure is classified from: one combined text,
        # or stdout and stderr apart.
        err = response if isinstance(response, str) else claude_code._response_text(data, "stderr")
        out = None if isinstance(response, str) else claude_code._response_text(data, "stdout")
        failed = outcome != "success"
        agent.after(call, Result(outcome, code, _duration_ms(item), err[-65536:] if err and failed else None,
                                 out[-65536:] if out and failed else None), store)
        return None
    if event == "SessionStart":
        if hasattr(store, "sweep"):
            store.sweep()
        return None
    if event == "SessionEnd":
        session = data.get("session_id")
        agent.end_session(ACTOR, session if isinstance(session, str) else None, store, environ)
        return None
    return None
