"""Claude Code's session transcripts as tool calls.

Where: ``$CLAUDE_CONFIG_DIR`` (default ``~/.claude``) ``/projects/<project slug>/<session id>.jsonl``,
the file every hook receives as ``transcript_path``; a subagent (Task tool) writes its own
transcript under ``<session id>/subagents/*.jsonl`` beside it (older versions wrote its lines
into the main file with ``isSidechain: true``). Seen with Claude Code 2.1.197.

Lines used: ``assistant`` messages whose content holds ``{"type": "tool_use", "name": "Bash",
"id", "input": {"command"}}``, and ``user`` messages holding the matching
``{"type": "tool_result", "tool_use_id", "is_error", "content"}``. A result that says the
permission to use the tool was refused (the agent's own permission rules) means the command
never ran. Claude Code 2.1.197 runs the ``PreToolUse`` hook before its own ``permissions.deny``
check and then no hook at all for that call, so the ledger holds it as ``interrupted``; the
transcript says why, and the report counts it as denied by the agent.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from cmdscope._coverage.model import ToolCall, iso_ns

SHELL_TOOLS = ("Bash",)
# What Claude Code answers when its own permission system refuses a tool call: a ``deny`` rule
# ("Permission to use Bash with command ... has been denied."), or an ``ask`` that ``-p`` cannot
# put to anyone ("... haven't granted it yet", "... Approve only if you trust it."). A command
# that ran and failed says "Exit code N" first, whatever its output says about permissions.
_AGENT_DENIAL = re.compile(r"permission|approv|haven't granted|was blocked\. for security", re.IGNORECASE)
_RAN = re.compile(r"\s*exit code -?\d+", re.IGNORECASE)


def config_dir() -> Path:
    return Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude")


def transcripts(since_s: float | None = None, root: Path | None = None) -> Iterator[tuple[str, list[Path]]]:
    """(session id, its transcript files) for sessions written to since ``since_s`` (epoch s)."""
    base = (root or config_dir()) / "projects"
    if not base.is_dir():
        return
    for main in sorted(base.glob("*/*.jsonl")):
        try:
            mtime = main.stat().st_mtime
        except OSError:
            continue
        if since_s is not None and mtime < since_s:
            continue
        session = main.stem
        files = [main, *sorted((main.parent / session).glob("subagents/*.jsonl"))]
        yield session, files




def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return ""


def read(files: list[Path], session: str) -> list[ToolCall]:
    """The Bash tool calls of one session (main transcript first, then subagents)."""
    calls: dict[str, ToolCall] = {}
    for path in files:
        try:
            fh = open(path, encoding="utf-8", errors="replace")
        except OSError:
            continue
        with fh:
            for number, line in enumerate(fh, 1):
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line being written
                if not isinstance(entry, dict):
                    continue
                message = entry.get("message")
                content = message.get("content") if isinstance(message, dict) else None
                if not isinstance(content, list):
                    continue
                for item in content:
                    if not isinstance(item, dict):
                        continue
                    if item.get("type") == "tool_use" and item.get("name") in SHELL_TOOLS:
                        command = (item.get("input") or {}).get("command")
                        if isinstance(command, str) and isinstance(item.get("id"), str):
                            calls[item["id"]] = ToolCall(
                                "claude-code", session, item["id"], command, iso_ns(entry.get("timestamp")),
                                None, f"{path}:{number}",
                                subagent=path != files[0] or bool(entry.get("isSidechain")))
                    elif item.get("type") == "tool_result" and item.get("tool_use_id") in calls:
                        call = calls[item["tool_use_id"]]
                        text = _text(item.get("content"))
                        if item.get("is_error") and not _RAN.match(text) and _AGENT_DENIAL.search(text):
                            call.result = "denied_agent"
                        else:
                            call.result = "error" if item.get("is_error") else "ok"
    return list(calls.values())
