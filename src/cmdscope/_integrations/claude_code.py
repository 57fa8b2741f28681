"""Claude Code hooks: one ``cmdscope hook claude-code`` process per hook event.

Claude Code writes the event as JSON on stdin and reads our answer from stdout (exit 0). What
each event carries (observed with Claude Code 2.1 and its hooks reference):

- ``PreToolUse``: ``session_id``, ``cwd``, ``tool_name``, ``tool_input.command``, ``tool_use_id``.
  We answer deny with ``hookSpecificOutput.permissionDecision = "deny"`` and the reason
  ``<rule id>: <message> (playbook: <link>)`` (Claude shows it to the model); warn with
  ``additionalContext`` and no permission decision, so Claude's own permission rules still
  apply; allow with no output at all.
- ``PostToolUse``: ``tool_response`` (Bash: ``stdout``, ``stderr``, ``interrupted``) and
  ``duration_ms``. No exit code: Claude reports a command as succeeded, so the record says
  ``success`` with ``cmdscope.exit_code.known: false``.
- ``PostToolUseFailure``: ``error`` (``"Exit code 3"`` for a failed Bash command, the one place
  the real exit code appears) and ``is_interrupt``.
- ``PermissionDenied``: Claude's own permission system refused the call: a denial record with
  rule ``claude-code.permission``.
- ``SessionStart``: we append the session's ``CMDSCOPE_*``/``TRACEPARENT`` exports to
  ``CLAUDE_ENV_FILE`` so commands Claude runs (and ``cmdscope run`` inside them) join the session.
- ``SessionEnd``: commands that never got a Post event are closed as ``interrupted``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from cmdscope._integrations import agent
from cmdscope._integrations.agent import Result, ToolCall

ACTOR = "claude-code"
EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionDenied", "SessionStart", "SessionEnd")
_EXIT_CODE = re.compile(r"\bexit(?:ed with)?(?: status)?(?: code)?[: ]+(-?\d+)\b", re.IGNORECASE)


class BadInput(ValueError):
    """The hook input is not what Claude Code documents; the message names the field."""


MAX_DEPTH = 64  # hook events nest a few levels; 3.11's parser stops near 1,000, 3.12's much deeper


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def parse(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8", "replace") or "null")
    except ValueError as exc:
        raise BadInput(f"stdin is not JSON ({exc.__class__.__name__}: {exc})") from None
    except RecursionError:
        raise BadInput("stdin is JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise BadInput(f"stdin is a JSON {type(data).__name__}, expected an object")
    if _deeper_than(data, MAX_DEPTH):  # the same answer on every Python, whatever its parser's limit
        raise BadInput("stdin is JSON nested too deeply")
    event = data.get("hook_event_name")
    if not isinstance(event, str):
        raise BadInput("field 'hook_event_name' is missing or not a string")
    return data


def command_of(data: dict[str, Any]) -> str | None:
    """The shell command of a tool call: Bash's ``command``, or any tool input with one."""
    tool_input = data.get("tool_input")
    if not isinstance(tool_input, dict):
        return None
    command = tool_input.get("command")
    if isinstance(command, list) and all(isinstance(p, str) for p in command):
        import shlex

        return shlex.join(command)
    return command if isinstance(command, str) else None


def tool_call(data: dict[str, Any], actor: str = ACTOR, *, environ: Mapping[str, str] | None = None,
              cwd: str | None = None) -> ToolCall | None:
    """The call an event describes; ``environ`` and ``cwd``: the hook process's, when it is not
    this one (the daemon), ``cwd`` used when the event names none."""
    command = command_of(data)
    if command is None:
        return None
    session = data.get("session_id")
    call_id = data.get("tool_use_id")
    where = data.get("cwd")
    return ToolCall(actor, session if isinstance(session, str) else None,
                    call_id if isinstance(call_id, str) else None, command,
                    where if isinstance(where, str) else cwd, str(data.get("tool_name") or ""), environ)


def exit_code_from(data: dict[str, Any]) -> int | None:
    """The exit code the agent reported, if any; never a guess."""
    response = data.get("tool_response")
    if isinstance(response, dict):
        for key in ("exit_code", "exitCode", "returncode", "exit"):
            value = response.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    error = data.get("error")
    if isinstance(error, str):
        m = _EXIT_CODE.search(error)
        if m:
            return int(m.group(1))
    return None


def _duration(data: dict[str, Any]) -> float | None:
    value = data.get("duration_ms")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _response_text(data: dict[str, Any], key: str) -> str | None:
    response = data.get("tool_response")
    if isinstance(response, dict) and isinstance(response.get(key), str):
        return response[key]
    return None


def pre_tool_use_answer(verdict: Any) -> dict[str, Any] | None:
    """The PreToolUse answer for a verdict, in the format Claude Code and Codex share: deny with
    the reason; a warning (a warn rule, a deny in warn/observe mode, a broken policy layer, an
    ignored project rule) as ``systemMessage`` for the user and ``additionalContext`` for the
    model, with no allow, so the user's own rules still apply; nothing for a plain allow."""
    notices = list(getattr(verdict, "notices", None) or ())
    if verdict.action == "warn" and not notices:
        notices = [f"warning: {verdict.reason}"]
    if verdict.action == "deny":
        answer: dict[str, Any] = {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                                         "permissionDecisionReason": verdict.reason}}
        if notices:
            answer["systemMessage"] = "cmdscope: " + "; ".join(notices)
        return answer
    if notices:
        text = "; ".join(notices)
        return {"systemMessage": f"cmdscope: {text}",
                "hookSpecificOutput": {"hookEventName": "PreToolUse", "additionalContext": f"cmdscope policy: {text}"}}
    return None


def handle(data: dict[str, Any], store: agent.Store, actor: str = ACTOR, *,
           environ: Mapping[str, str] | None = None, cwd: str | None = None) -> dict[str, Any] | None:
    """The answer for one event (None: print nothing, which Claude reads as 'no opinion').
    ``environ``/``cwd``: the hook process's when the caller is the daemon (default: this one's)."""
    event = data["hook_event_name"]
    if event == "PreToolUse":
        call = tool_call(data, actor, environ=environ, cwd=cwd)
        if call is None:
            return None  # a tool that runs no command: nothing to decide
        return pre_tool_use_answer(agent.before(call, store))
    if event in ("PostToolUse", "PostToolUseFailure"):
        call = tool_call(data, actor, environ=environ, cwd=cwd)
        if call is None:
            return None
        if event == "PostToolUse":
            interrupted = bool((data.get("tool_response") or {}).get("interrupted")) if isinstance(
                data.get("tool_response"), dict) else False
            code = exit_code_from(data)
            outcome = "interrupted" if interrupted else ("success" if code in (None, 0) else "failure")
            result = Result(outcome, code, _duration(data), _response_text(data, "stderr"),
                            _response_text(data, "stdout"))
        else:
            code = exit_code_from(data)
            error = data.get("error") if isinstance(data.get("error"), str) else None
            # Claude Code kills a command at the Bash tool's timeout: "Exit code 143\nCommand timed out after 2s"
            timed_out = error is not None and "Command timed out" in error
            outcome = "interrupted" if data.get("is_interrupt") else ("timeout" if timed_out else "failure")
            result = Result(outcome, code, _duration(data), error)
        agent.after(call, result, store)
        return None
    if event == "PermissionDenied":
        call = tool_call(data, actor, environ=environ, cwd=cwd)
        if call is not None:
            reason = data["reason"] if isinstance(data.get("reason"), str) else "denied by the agent's permissions"
            agent.user_denial(call, f"{actor}.permission", f"{actor} permissions", reason)
        return None
    if event == "SessionStart":
        _export_session_env(data, actor, environ)
        if hasattr(store, "sweep"):
            store.sweep()
        return None
    if event == "SessionEnd":
        session = data.get("session_id")
        agent.end_session(actor, session if isinstance(session, str) else None, store, environ)
        return None
    return None  # an event we do not handle: stay out of the way


def _export_session_env(data: dict[str, Any], actor: str, environ: Mapping[str, str] | None = None) -> None:
    """Append the session's propagation variables to ``CLAUDE_ENV_FILE`` (a sourced shell file)."""
    path = (os.environ if environ is None else environ).get("CLAUDE_ENV_FILE")
    session = data.get("session_id")
    if not path or not isinstance(session, str):
        return
    import shlex

    lines = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in agent.session_env(actor, session, environ=environ).items())
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(lines)


def malformed_answer(problem: str, environ: Mapping[str, str] | None = None) -> tuple[dict[str, Any] | None, str, int]:
    """(stdout JSON, stderr text, exit code) for input we could not read.

    Fails open (allow plus a warning the user sees) unless ``CMDSCOPE_GUARD_FAIL=closed``; then
    exit code 2, which Claude Code (and Codex) treat as "block, and show stderr as the reason".
    """
    if agent.fail_closed(environ):
        return None, (f"cmdscope.hook-input: could not read the hook input ({problem}); "
                      f"blocked because {agent.FAIL_ENV}=closed\n"), 2
    return {"systemMessage": f"cmdscope: could not read the hook input ({problem}); the tool call was allowed"}, "", 0
