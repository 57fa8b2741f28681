"""Tool calls as an agent records them, and their matching with ledger records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

STATES = ("covered", "denied_cmdscope", "denied_agent", "never_ran", "missed")
NS = 1_000_000_000
TIME_SLACK_NS = 120 * NS  # matching by text: the record must end within this of the call


@dataclass
class ToolCall:
    """One shell command an agent asked for, and what the agent says happened to it."""

    agent: str
    session: str
    call_id: str | None
    command: str
    start_ns: int | None = None       # when the agent asked for it
    result: str | None = None         # "ok", "error", "denied_agent", "blocked" (by a hook), None (no result)
    source: str = ""                  # transcript file and line, for the report
    subagent: bool = False


@dataclass
class SessionCoverage:
    agent: str
    session: str
    calls: list[tuple[ToolCall, str, str | None]] = field(default_factory=list)  # (call, state, record id)
    unmatched_records: list[dict[str, Any]] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for _, s, _ in self.calls if s == state)

    @property
    def executed(self) -> int:
        return self.count("covered") + self.count("missed")

    @property
    def coverage(self) -> float | None:
        return self.count("covered") / self.executed if self.executed else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent, "session": self.session, "executed": self.executed,
            **{state: self.count(state) for state in STATES},
            "coverage": self.coverage,
            "missed_commands": [{"call_id": c.call_id, "command": c.command, "source": c.source}
                                for c, s, _ in self.calls if s == "missed"],
            "never_ran_commands": [{"call_id": c.call_id, "command": c.command, "source": c.source}
                                   for c, s, _ in self.calls if s == "never_ran"],
            "denied_agent_commands": [{"call_id": c.call_id, "command": c.command}
                                      for c, s, _ in self.calls if s == "denied_agent"],
            "unmatched_records": [{"record_id": r.get("record_id"), "command": r.get("process.command_line"),
                                   "call_id": r.get("gen_ai.tool.call.id")} for r in self.unmatched_records],
        }


def iso_ns(stamp: object) -> int | None:
    """An agent's ISO timestamp (``2026-01-01T00:00:00.000Z``) in ns since the epoch."""
    if not isinstance(stamp, str):
        return None
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1e9)
    except ValueError:
        return None


def _norm(text: str) -> str:
    return " ".join(text.split())


def match(calls: Iterable[ToolCall], records: Iterable[Mapping[str, Any]], *, agent: str, session: str,
          redact: Any = None) -> SessionCoverage:
    """Pair the session's tool calls with its ``command``/``denial`` records.

    ``redact``: the redactor the ledger's command lines went through, so that a call whose
    command held a secret still matches its (redacted) record by text.
    """
    out = SessionCoverage(agent, session)
    recs = [dict(r) for r in records if r.get("kind") in ("command", "denial")]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        cid = r.get("gen_ai.tool.call.id")
        if isinstance(cid, str) and cid:
            by_id.setdefault(cid, []).append(r)
    used: set[int] = set()
    pending_text: list[ToolCall] = []
    for call in calls:
        found = [r for r in by_id.get(call.call_id or "", []) if id(r) not in used]
        if found:
            _settle(out, call, found, used)
        else:
            pending_text.append(call)
    for call in pending_text:  # no id on one side: the same command text, close in time
        text = _norm(redact(call.command) if redact else call.command)
        found = [r for r in recs if id(r) not in used and not (r.get("gen_ai.tool.call.id") and call.call_id)
                 and _norm(str(r.get("process.command_line", ""))) == text and _near(call, r)]
        if found:
            _settle(out, call, found[:1], used)
        elif call.result == "denied_agent":
            out.calls.append((call, "denied_agent", None))
        elif call.result in (None, "blocked"):  # no result, or a hook stopped it: it did not run
            out.calls.append((call, "never_ran", None))
        else:
            out.calls.append((call, "missed", None))
    out.unmatched_records = [r for r in recs if id(r) not in used]
    if redact is not None:  # what the report prints of the agent's own record is redacted too
        for call, _, _ in out.calls:
            call.command = redact(call.command)
    return out


def _near(call: ToolCall, rec: Mapping[str, Any]) -> bool:
    end = rec.get("end_ns")
    if call.start_ns is None or not isinstance(end, int):
        return True
    return call.start_ns - TIME_SLACK_NS <= end <= call.start_ns + 24 * 3600 * NS


def _settle(out: SessionCoverage, call: ToolCall, found: list[dict[str, Any]], used: set[int]) -> None:
    for r in found:
        used.add(id(r))
    kinds = {r.get("kind") for r in found}
    if kinds == {"denial"} and not all(str(r.get("cmdscope.policy.rule", "")).startswith(f"{call.agent}.")
                                       for r in found):
        state = "denied_cmdscope"  # cmdscope's guard (the agent then reports an error of its own)
    elif call.result == "denied_agent" or kinds == {"denial"}:
        state = "denied_agent"  # the hook saw it asked for; the agent's own permissions refused it
    elif call.result is None and all(r.get("cmdscope.outcome") == "interrupted" for r in found):
        state = "never_ran"
    else:
        state = "covered"
    out.calls.append((call, state, str(found[-1].get("record_id"))))
