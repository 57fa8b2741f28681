"""OpenCode's session storage as tool calls.

Where: ``$XDG_DATA_HOME/opencode`` (default ``~/.local/share/opencode``). OpenCode 1.x keeps
sessions in the SQLite database ``opencode.db`` there: table ``part`` (``session_id``,
``time_created`` in ms, ``data`` JSON) holds one row per tool call,
``{"type": "tool", "tool": "bash", "callID", "state": {"status": "completed"|"error"|"running",
"input": {"command"}, "metadata": {"exit"}, "error", "time": {"start"}}}``. Seen with OpenCode
1.18.33. Opened read-only (``mode=ro``); never written.

A call whose state is ``error`` with a permission refusal (OpenCode's own ``permission`` rules)
never ran; one still ``pending``/``running`` has no result.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cmdscope._coverage.model import ToolCall

SHELL_TOOLS = ("bash",)
# OpenCode 1.18's answers when its own permission system refuses a call: a ``deny`` rule ("The user
# has specified a rule which prevents you from using this specific tool call...") or an ``ask``
# that ``opencode run`` auto-rejects ("The user rejected permission to use this specific tool call.").
_AGENT_DENIALS = ("rejected permission", "permission to use", "permission denied by", "not allowed by permission",
                  "rule which prevents you from using")


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "opencode"


def sessions(since_s: float | None = None, root: Path | None = None) -> Iterator[tuple[str, list[ToolCall]]]:
    db_path = (root or data_dir()) / "opencode.db"
    if not db_path.is_file():
        return
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return
    try:
        rows = db.execute(
            "SELECT session_id, id, time_created, data FROM part WHERE time_created >= ? ORDER BY time_created",
            (int((since_s or 0) * 1000),)).fetchall()
    except sqlite3.Error:
        rows = []
    finally:
        db.close()
    by_session: dict[str, list[ToolCall]] = {}
    for session, part_id, created, raw in rows:
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("type") != "tool" or data.get("tool") not in SHELL_TOOLS:
            continue
        raw_state = data.get("state")
        state: dict[str, Any] = raw_state if isinstance(raw_state, dict) else {}
        command = (state.get("input") or {}).get("command")
        if not isinstance(command, str):
            continue
        status = state.get("status")
        error = str(state.get("error") or "")
        if status == "completed":
            result: str | None = "ok"
        elif status == "error":
            result = "denied_agent" if any(m in error.lower() for m in _AGENT_DENIALS) else "error"
        else:
            result = None
        start = (state.get("time") or {}).get("start") if isinstance(state.get("time"), dict) else None
        by_session.setdefault(session, []).append(ToolCall(
            "opencode", session, data.get("callID") if isinstance(data.get("callID"), str) else None, command,
            int(start) * 1_000_000 if isinstance(start, int) else int(created) * 1_000_000, result,
            f"{db_path}#part/{part_id}"))
    yield from by_session.items()
