"""Command coverage: does every command an agent says it executed have a ledger record?

Each agent keeps its own account of a session (Claude Code's transcript, Codex's rollout files,
OpenCode's session storage); a reader per agent turns it into :class:`ToolCall` objects, read
only, never written. :func:`match` pairs them with the ledger's records of the same session,
by tool-call id where both carry one, else by command text and time, and sorts every call into:

- ``covered``: it ran and has a ``command`` record;
- ``denied_cmdscope``: cmdscope's guard blocked it (a ``denial`` record);
- ``denied_agent``: the agent's own permission system refused it (it never ran);
- ``never_ran``: no result at all (interrupted, or the session ended first);
- ``missed``: it ran and cmdscope has no record of it: a coverage gap.

Coverage is covered / (covered + missed): the commands that ran, and how many cmdscope saw.
Records of the session with no matching tool call are listed too (``unmatched_records``).
"""

from __future__ import annotations

from cmdscope._coverage.model import SessionCoverage, ToolCall, match

__all__ = ["SessionCoverage", "ToolCall", "match"]
