"""Codex hooks (``.codex/hooks.json``): ``cmdscope hook codex``, same semantics as Claude Code.

Codex sends Claude-shaped events (``session_id``, ``cwd``, ``tool_name`` = ``Bash``,
``tool_input.command``, ``tool_use_id``; Codex's ``hooks`` schema in openai/codex
``codex-rs/hooks/schema``) with these differences, which this module accounts for:

- PreToolUse accepts ``permissionDecision: "deny"`` with a reason, but rejects ``"allow"``
  without ``updatedInput`` as invalid output; so allow prints nothing and warn sends only
  ``additionalContext`` and a ``systemMessage``.
- PostToolUse fires for every finished command; ``tool_response`` for Bash is the output text,
  with no exit code. The record says ``cmdscope.exit_code.known: false``; its outcome is taken
  from an ``Exit code: N`` header when Codex's output carries one, else recorded as ``success``
  meaning only "the tool call completed" (documented in docs/integrations.md).
- There is no PostToolUseFailure, PermissionDenied or SessionEnd event.
"""

from __future__ import annotations

import re
from typing import Any

from cmdscope.integrations import agent, claude_code
from cmdscope.integrations.agent import Result

ACTOR = "codex"
EVENTS = ("PreToolUse", "PostToolUse", "SessionStart")
_HEADER = re.compile(r"^\s*Exit code:\s*(-?\d+)\b", re.MULTILINE)


def exit_code_from(data: dict[str, Any]) -> int | None:
    code = claude_code.exit_code_from(data)
    if code is not None:
        return code
    response = data.get("tool_response")
    if isinstance(response, str):
        m = _HEADER.search(response[:512])
        if m:
            return int(m.group(1))
    return None


def handle(data: dict[str, Any], store: agent.Store) -> dict[str, Any] | None:
    event = data["hook_event_name"]
    if event == "PreToolUse":
        call = claude_code.tool_call(data, ACTOR)
        if call is None:
            return None
        return claude_code.pre_tool_use_answer(agent.before(call, store))
    if event == "PostToolUse":
        call = claude_code.tool_call(data, ACTOR)
        if call is None:
            return None
        code = exit_code_from(data)
        response = data.get("tool_response")
        outcome = "success" if code in (None, 0) else "failure"
        # The output the agent saw is what the failure is classified from: one combined text,
        # or stdout and stderr apart.
        err = response if isinstance(response, str) else claude_code._response_text(data, "stderr")
        out = None if isinstance(response, str) else claude_code._response_text(data, "stdout")
        failed = outcome != "success"
        agent.after(call, Result(outcome, code, None, err[-65536:] if err and failed else None,
                                 out[-65536:] if out and failed else None), store)
        return None
    if event == "SessionStart":
        if hasattr(store, "sweep"):
            store.sweep()
        return None
    return None
