"""What every agent integration does with a tool call, whatever the agent's wire format.

An agent hook sees a command twice, in two separate processes (or two messages to the OpenCode
bridge): *before* it runs (decide, and remember when it started) and *after* (close the record
with the outcome the agent reports). This module holds that logic once:

- :func:`before` asks the guard through the recorder (``pipeline.RECORDER``). A deny becomes a
  ``denial`` record written by the recorder (the command never runs); an
  allow or warn opens a *pending* record, kept by :class:`cmdscope._integrations.pending.FileStore`
  (a state file per tool call, or memory in the long-lived bridge).
- :func:`after` closes the pending record: duration, outcome, and the exit code only when the
  agent reported one; otherwise ``cmdscope.exit_code.known: false`` and no ``process.exit.code``.
- :func:`integration_error` records input the hook could not understand.

Every record of one agent session shares one trace id derived from the session id, so a
session is one trace in the backend even though each hook call is its own process.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # not `from typing import`: typing costs ~4 ms to import

from cmdscope import _pipeline as pipeline, _runner as runner, _settings as settings
from cmdscope._digest import sha256_hex
from cmdscope.redact import redact
from cmdscope._propagation import format_traceparent, new_span_id, parse_traceparent
from cmdscope._sinks.otel import SpanHandle

FAIL_ENV = "CMDSCOPE_GUARD_FAIL"  # "closed": input the hook cannot read denies instead of allowing


if TYPE_CHECKING:  # typing and dataclasses cost ~15 ms of import on a per-tool-call path
    from collections.abc import Mapping
    from typing import Any, Protocol

    class Store(Protocol):
        def put(self, agent: str, call_id: str, record: dict[str, Any]) -> None: ...
        def take(self, agent: str, call_id: str) -> dict[str, Any] | None: ...
        def take_session(self, agent: str, session: str) -> list[dict[str, Any]]: ...


class ToolCall:
    """One command an agent is about to run (or ran), in agent-neutral terms."""

    __slots__ = ("agent", "call_id", "command", "cwd", "environ", "session", "tool")

    def __init__(self, agent: str, session: str | None, call_id: str | None, command: str,
                 cwd: str | None = None, tool: str | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.agent = agent          # cmdscope.actor: claude-code, codex, opencode
        self.session = session
        self.call_id = call_id      # gen_ai.tool.call.id
        self.command = command      # the shell command line, as the agent gave it
        self.cwd = cwd
        self.tool = tool
        # The environment of the hook process that saw the call (None: this process's): the
        # hook daemon answers for many clients and hands each its own, never via os.environ.
        self.environ = environ

    def settings(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ


class Verdict:
    """The decision an integration turns into the agent's answer format."""

    __slots__ = ("action", "message", "notices", "playbook", "record", "rule_id", "span_id", "trace_id")

    def __init__(self, action: str, rule_id: str | None = None, message: str = "", playbook: str | None = None,
                 record: dict[str, Any] | None = None, span_id: str | None = None,
                 trace_id: str | None = None, notices: list[str] | None = None) -> None:
        self.action = action        # allow | warn | deny
        self.rule_id = rule_id
        self.message = message
        self.playbook = playbook
        self.record = record
        self.span_id = span_id
        self.trace_id = trace_id
        self.notices = notices or []  # the guard's warnings for the agent's context (Decision.notices)

    @property
    def reason(self) -> str:
        """``<rule id>: <message> (playbook: <link>)``, the text the agent and its model see."""
        text = f"{self.rule_id}: {self.message}" if self.rule_id else self.message
        if self.playbook and self.playbook not in text:  # once per message
            text += f" (playbook: {self.playbook})"
        return text


class Result:
    """What the agent reported after the command ran."""

    __slots__ = ("duration_ms", "exit_code", "outcome", "stderr_tail", "stdout_tail")

    def __init__(self, outcome: str, exit_code: int | None = None, duration_ms: float | None = None,
                 stderr_tail: str | None = None, stdout_tail: str | None = None) -> None:
        self.outcome = outcome          # success | failure | interrupted | timeout | error
        self.exit_code = exit_code      # None: the agent did not say
        self.duration_ms = duration_ms
        self.stderr_tail = stderr_tail
        self.stdout_tail = stdout_tail


def session_trace_id(agent: str, session: str | None) -> str | None:
    """One trace per agent session: the same id from every hook process of that session."""
    if not session:
        return None
    return sha256_hex(f"cmdscope:{agent}:{session}".encode())[:32]


def session_env(agent: str, session: str | None, span_id: str | None = None,
                environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables that make commands the agent runs join its session, trace and packet."""
    found = settings.of(environ)
    env = {"CMDSCOPE_ACTOR": agent}
    if session:
        env["CMDSCOPE_SESSION"] = session
        trace = session_trace_id(agent, session)
        assert trace is not None
        root = sha256_hex(f"cmdscope-root:{agent}:{session}".encode())[:16]
        env["TRACEPARENT"] = format_traceparent(trace, span_id or root)
        env["BAGGAGE"] = f"cmdscope.actor={agent},cmdscope.session={_baggage_value(session)}"
    for name in ("CMDSCOPE_PACKET", "CMDSCOPE_PHASE"):
        value = found[name]
        if value:
            env[name] = value
    return env


def _baggage_value(text: str) -> str:
    from cmdscope._propagation import quote

    return quote(text)


def _spec(call: ToolCall) -> pipeline.CommandSpec:
    ledger = None
    if call.environ is not None:  # the client's ledger, not the daemon's
        from cmdscope._paths import ledger_path_in

        ledger = ledger_path_in(call.environ)
    return pipeline.CommandSpec(
        command=call.command or "",
        shell=True,
        cwd=call.cwd if call.cwd and os.path.isdir(call.cwd) else None,
        context={"actor": call.agent, "session": call.session},
        ledger_path=ledger,
        origin_env=call.environ,
        once=bool(call.call_id),
    )


def _span(call: ToolCall) -> SpanHandle:
    """The command's span ids: in the agent session's trace, else under ``TRACEPARENT``."""
    env_parent = parse_traceparent(call.settings().get("TRACEPARENT"))
    trace = session_trace_id(call.agent, call.session)
    if env_parent and not trace:
        return SpanHandle(env_parent[0], new_span_id(), env_parent[1], env_parent[2])
    return SpanHandle(trace or os.urandom(16).hex(), new_span_id(), None, "01")


def record_id_of(call: ToolCall, what: str = "command") -> str:
    """The record id of ``call``'s record: derived from the agent, session and tool-call id, so
    an event answered twice (the hook daemon killed after writing, before answering, and the
    client answering it again) writes one record (``CommandSpec.once``)."""
    from cmdscope._digest import sha256_hex

    key = "\0".join((call.agent, call.session or "", call.call_id or "", what))
    return sha256_hex(key.encode("utf-8", "surrogatepass"))[:32]


def _open(call: ToolCall, recorder: pipeline.Recorder, what: str = "command") -> pipeline.Run:
    fields = None
    if call.call_id:
        fields = {"record_id": record_id_of(call, what), "gen_ai.tool.call.id": pipeline.clean_text(call.call_id)}
    return recorder.begin(_spec(call), span=_span(call), fields=fields)


# After the fact (the agent ran it, or refused it itself): context and description, no guard.
_UNGUARDED = pipeline.Recorder(before=[pipeline.resolve_context])
# A command the session ended without an *after*: nothing to classify, the record is closed as is.
_CLOSING = pipeline.Recorder(after=[pipeline.redact_fields])


def before(call: ToolCall, store: Store) -> Verdict:
    """Decide on ``call``; record a denial, or open the pending record for :func:`after`."""
    try:
        run = _open(call, pipeline.RECORDER)
    except pipeline.Denied as denied:
        decision, rec = denied.decision, denied.record
        return Verdict("deny", decision.rule_id, decision.message or "denied by policy",
                       getattr(decision, "playbook", None), rec, rec["span_id"], rec["trace_id"],
                       _notices(decision))
    decision = run.decision
    rec = run.record
    assert run.clock is not None
    rec["start_ns"] = run.clock.start_ns
    if call.call_id:
        pipeline.redact_record(rec)  # nothing unredacted rests on disk between the two hook calls
        store.put(call.agent, call.call_id, rec)
    action = getattr(decision, "action", "allow") if decision is not None else "allow"
    if action == "warn":
        return Verdict("warn", decision.rule_id, decision.message, getattr(decision, "playbook", None), rec,
                       rec["span_id"], rec["trace_id"], _notices(decision))
    return Verdict("allow", record=rec, span_id=rec["span_id"], trace_id=rec["trace_id"], notices=_notices(decision))


def _notices(decision: Any) -> list[str]:
    notices = getattr(decision, "notices", None)
    return notices() if notices is not None else []


def after(call: ToolCall, result: Result, store: Store) -> dict[str, Any]:
    """Close the record ``before`` opened (or a fresh one when it never did) and emit it."""
    end_ns = time.time_ns()
    pending = store.take(call.agent, call.call_id) if call.call_id else None
    if pending is not None:
        run = pipeline.RECORDER.resume(_spec(call), pending)
        start_ns = int(pending.get("start_ns") or end_ns)
    else:
        run = _open(call, _UNGUARDED)
        run.clock = None
        start_ns = end_ns
    if result.duration_ms is not None and result.duration_ms >= 0:
        start_ns = end_ns - int(result.duration_ms * 1_000_000)  # the agent timed the tool itself
    run.record["cmdscope.exit_code.known"] = result.exit_code is not None
    return pipeline.RECORDER.finish(run, runner.Execution(
        None if result.exit_code is None else int(result.exit_code), result.outcome, start_ns, end_ns,
        stderr_tail=(result.stderr_tail or "").encode("utf-8", "replace")[-runner.TAIL_BYTES:],
        stdout_tail=(result.stdout_tail or "").encode("utf-8", "replace")[-runner.STDOUT_TAIL_BYTES:] or None))


def user_denial(call: ToolCall, rule_id: str, source: str, message: str) -> dict[str, Any]:
    """A command the agent's own permission system (or its user) refused: a denial record."""
    run = _open(call, _UNGUARDED, "permission")
    return pipeline.RECORDER.deny(run, _AgentDecision(rule_id, source, message))


def end_session(agent: str, session: str | None, store: Store, environ: Mapping[str, str] | None = None) -> int:
    """Close every command of the session that never got an *after* event, as interrupted."""
    if not session:
        return 0
    closed = 0
    spec = _spec(ToolCall(agent, session, None, "", environ=environ))
    for rec in store.take_session(agent, session):
        end_ns = time.time_ns()
        run = _CLOSING.resume(spec, rec)
        rec["error.type"] = "interrupted"
        rec["cmdscope.exit_code.known"] = False
        _CLOSING.finish(run, runner.Execution(None, "interrupted", int(rec.get("start_ns") or end_ns), end_ns))
        closed += 1
    return closed


def integration_error(agent: str, problem: str, session: str | None = None,
                      environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Record hook input that could not be understood (never its raw text: it may hold secrets).
    ``environ``: the hook process's, when it is not this one (its ledger is the one written)."""
    now = time.time_ns()
    rec = pipeline.new_record("integration_error", f"{agent} hook")
    span = SpanHandle(session_trace_id(agent, session) or os.urandom(16).hex(), new_span_id(), None, "01")
    rec.update(trace_id=span.trace_id, span_id=span.span_id, parent_span_id=None,
               start_ns=now, end_ns=now, duration_s=0.0, time=pipeline.iso_time(now))
    rec["cmdscope.actor"] = agent
    if session:
        rec["session.id"] = session
    rec["cmdscope.outcome"] = "error"
    rec["error.type"] = "integration_error"
    rec["cmdscope.error.excerpt"] = pipeline.clean_text(redact(problem))[:500]  # redact, then cut
    rec["host.name"] = pipeline.HOST
    ledger = None
    if environ is not None:
        from cmdscope._paths import ledger_path_in

        ledger = ledger_path_in(environ)
    return pipeline.RECORDER.write(rec, span, ledger, pipeline.count_command)


def fail_closed(environ: Mapping[str, str] | None = None) -> bool:
    """``CMDSCOPE_GUARD_FAIL=closed``, or a setting that decides safety did not parse (never guess)."""
    found = settings.of(environ)
    return found[FAIL_ENV] == "closed" or found.refusal is not None


class _AgentDecision:
    """A denial made by the agent's own permission system rather than by cmdscope's policy."""

    action = "deny"
    mode = "enforce"
    denied = True
    severity = None
    playbook = None
    matches: tuple[Any, ...] = ()

    def __init__(self, rule_id: str, source: str, message: str) -> None:
        self.rule_id = rule_id
        self.policy_source = source
        self.message = message

    def attributes(self) -> dict[str, Any]:
        return {"cmdscope.policy.rule": self.rule_id, "cmdscope.policy.source": self.policy_source,
                "cmdscope.policy.action": "deny", "cmdscope.policy.mode": "enforce"}
