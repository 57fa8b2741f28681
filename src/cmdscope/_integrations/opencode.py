"""The OpenCode bridge: one long-lived ``cmdscope hook opencode-bridge`` per OpenCode process.

The plugin (``data/opencode/cmdscope.ts``) starts this helper once and sends it one JSON object
per line on stdin; each gets exactly one JSON line back on stdout, with the same ``id``:

    {"id": 1, "op": "before", "session": S, "call": C, "tool": "bash", "command": "...", "cwd": D}
        -> {"id": 1, "action": "allow"|"warn"|"deny", "reason": "<rule>: <message> (playbook: ...)"}
    {"id": 2, "op": "env", "session": S, "call": C}
        -> {"id": 2, "env": {"TRACEPARENT": ..., "BAGGAGE": ..., "CMDSCOPE_SESSION": ..., ...}}
    {"id": 3, "op": "after", "session": S, "call": C, "command": "...", "exit": 0, "output": "..."}
        -> {"id": 3, "ok": true}
    {"id": 4, "op": "permission", "session": S, "call": C, "command": "...", "response": "reject"}
        -> {"id": 4, "ok": true}

So a tool call costs a pipe round trip and the decision itself, not a Python start (~20-40 ms).
Pending records live in memory; at end of input (OpenCode exited) the ones never closed are
recorded as interrupted. A line that cannot be read is recorded as an integration error and
answered with allow plus a warning (or deny, with ``CMDSCOPE_GUARD_FAIL=closed``).
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

from cmdscope import _settings as settings
from cmdscope._integrations import agent
from cmdscope._integrations.agent import Result, ToolCall
from cmdscope._integrations.pending import MemoryStore

ACTOR = "opencode"
SHELL_TOOLS = frozenset({"bash", "shell"})
# What OpenCode 1.18's bash tool appends to the output of a command it killed at its timeout.
_TIMED_OUT = "shell tool terminated command after exceeding timeout"


class Bridge:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.sessions: set[str] = set()

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        op = msg.get("op")
        session = _str(msg.get("session"))
        if session:
            self.sessions.add(session)
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "before":
            call = self._call(msg)
            if call is None:
                return {"action": "allow"}
            verdict = agent.before(call, self.store)
            answer: dict[str, Any] = {"action": verdict.action}
            if verdict.action != "allow":
                answer["reason"] = verdict.reason
            return answer
        if op == "env":
            call_id = _str(msg.get("call"))
            pending = self.store.get(ACTOR, call_id) if call_id else None
            span = pending.get("span_id") if pending else None
            return {"env": agent.session_env(ACTOR, session, span)}
        if op == "after":
            call = self._call(msg)
            if call is None:
                return {"ok": True}
            code = msg.get("exit")
            exit_code = code if isinstance(code, int) and not isinstance(code, bool) else None
            outcome = "success" if exit_code in (None, 0) else "failure"
            if msg.get("interrupted") is True:
                outcome = "interrupted"
            output = _str(msg.get("output"))
            if exit_code is None and output and _TIMED_OUT in output:
                outcome = "timeout"  # OpenCode killed it at the bash tool's timeout: no exit code
            agent.after(call, Result(outcome, exit_code, None, output[-65536:] if output and outcome != "success" else None),
                        self.store)
            return {"ok": True}
        if op == "permission":
            call = self._call(msg)
            if call is not None and _str(msg.get("response")) in ("reject", "deny"):
                self.store.take(ACTOR, call.call_id or "")
                agent.user_denial(call, "opencode.permission", "opencode permissions",
                                  "the user rejected the permission request")
            return {"ok": True}
        raise ValueError(f"field 'op': unknown operation {op!r}")

    def close(self) -> int:
        closed = 0
        for session in sorted(self.sessions):
            closed += agent.end_session(ACTOR, session, self.store)
        return closed

    @staticmethod
    def _call(msg: dict[str, Any]) -> ToolCall | None:
        tool = _str(msg.get("tool")) or "bash"
        command = msg.get("command")
        if tool not in SHELL_TOOLS or not isinstance(command, str):
            return None
        return ToolCall(ACTOR, _str(msg.get("session")), _str(msg.get("call")), command, _str(msg.get("cwd")), tool)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """Answer requests until end of input; never exits on a bad request."""
    from cmdscope import _pipeline as pipeline

    bridge = Bridge()
    for line in stdin:
        if not line.strip():
            continue
        msg_id: Any = None
        try:
            msg = json.loads(line)
            if not isinstance(msg, dict):
                raise TypeError(f"request is a JSON {type(msg).__name__}, expected an object")
            msg_id = msg.get("id")
            answer = bridge.handle(msg)
        except Exception as exc:
            if settings.get("CMDSCOPE_RAISE_INTERNAL"):
                raise
            problem = f"{type(exc).__name__}: {exc}"
            try:
                agent.integration_error(ACTOR, problem)
            except Exception:  # noqa: BLE001, S110 - the answer matters more than the record
                pass
            action = "deny" if agent.fail_closed() else "allow"
            answer = {"action": action, "error": problem,
                      "reason": f"cmdscope.hook-input: could not read the request ({problem})"}
        answer["id"] = msg_id
        stdout.write(json.dumps(answer).encode() + b"\n")
        stdout.flush()
        pipeline.close_ledgers()  # durable after every request: OpenCode may be killed at any time
    bridge.close()
    pipeline.close_ledgers()
    return 0
