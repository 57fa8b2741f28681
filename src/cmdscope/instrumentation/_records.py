"""One record per instrumented child: opened when the child is created, finished when reaped.

The record is built with the pipeline's own pieces (same keys and processors as
``pipeline.run_command``, see docs/telemetry.md); only the execute step differs: the host's
own ``Popen``/``os.system``/asyncio call runs the child, untouched, and we observe it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from cmdscope import pipeline, runner
from cmdscope.environ import copy as copy_environ
from cmdscope.context import Context
from cmdscope.instrumentation._suppress import _suppressed
from cmdscope.propagation import child_env, parse_traceparent
from cmdscope.sinks import otel


@dataclass
class Settings:
    """What ``CmdscopeInstrumentor.instrument(...)`` was given."""

    tracer: Any = None  # an OTel tracer from the ``tracer_provider`` keyword, else the global SDK's
    enforce: bool = True  # a guard ``deny`` stops the child (raises CommandDenied)


settings = Settings()


@dataclass
class Pending:
    """A child that was started and is not reaped yet."""

    run: pipeline.Run
    start_ns: int
    timed_out: bool = False  # a wait/communicate timed out on it (subprocess.run(timeout=))
    # TRACEPARENT, BAGGAGE (merged with the incoming one) and CMDSCOPE_*: what the child gains.
    additions: dict[str, str] = field(default_factory=dict)
    clock: pipeline.Stopwatch = field(default_factory=pipeline.Stopwatch)


def active() -> bool:
    """Record this child? Not inside cmdscope's own spawns, OTel suppression, or when disabled."""
    if _suppressed.get() or os.environ.get("CMDSCOPE_DISABLED") == "1":
        return False
    return is_instrumentation_enabled()


def text(value: Any) -> str:
    """A path-like, bytes or str argument as text (undecodable bytes kept as escapes)."""
    return os.fsdecode(value) if isinstance(value, (bytes, os.PathLike)) else str(value)


def str_env(env: Mapping[Any, Any] | None) -> Mapping[str, str] | None:
    """``Popen`` accepts bytes keys and values; the propagation code works on text."""
    if env is None or all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        return env
    return {os.fsdecode(k): os.fsdecode(v) for k, v in env.items()}


def child_environ(env: Mapping[Any, Any] | None, additions: Mapping[str, str]) -> dict[Any, Any]:
    """The child's environment: ``env`` (``None``: ours) plus ``additions``, nothing else.

    For ``None`` the copy is taken from ``os.environ``'s encoded store: no decode and re-encode
    of every variable (that cost more than everything else the instrumentation does).
    """
    if env is None:
        out: dict[Any, Any] = copy_environ()
        for key, value in additions.items():
            out[os.fsencode(key)] = os.fsencode(value)
        return out
    merged: dict[Any, Any] = dict(str_env(env) or {})
    merged.update(additions)
    return merged


def begin(spec: pipeline.CommandSpec) -> Pending:
    """Open the record and span; run context and guard; compute what the child's environment gains.

    Raises ``cmdscope.api.CommandDenied`` (after recording the denial) when the guard denies
    and ``settings.enforce`` is on.
    """
    token = _suppressed.set(True)
    try:
        name = pipeline.executable_name(spec)
        rec = pipeline.new_record("command", pipeline.clean_text(name))
        rec["process.executable.name"] = rec["name"]
        run = pipeline.Run(spec, rec)
        environ = os.environ if spec.env is None else spec.env
        clock = pipeline.Stopwatch()
        start_ns = clock.start_ns
        run.span = start_span(rec["name"], start_ns, environ)
        pipeline._ids(rec, run.span)
        for processor in pipeline.BEFORE:
            try:
                pipeline._process(processor, run)  # a broken processor never breaks the host
            except pipeline.Denied as denied:
                if settings.enforce:
                    from cmdscope.api import CommandDenied

                    pipeline._finish_denied(run, denied.decision, clock)
                    raise CommandDenied(denied.decision, rec) from None
        if not settings.enforce and "cmdscope.policy.mode" in rec:
            rec["cmdscope.policy.mode"] = "observe"  # the decision is recorded, never applied
        for processor in pipeline.WHILE_RUNNING:  # the host spawns the child itself: do it now
            pipeline._process(processor, run)
        run.described = frozenset(rec)
        span = run.span
        baggage = environ.get("BAGGAGE")
        additions = child_env({"BAGGAGE": baggage} if baggage else {}, run.ctx or Context(),
                              span.trace_id, span.span_id, span.flags)
        return Pending(run, start_ns, additions=additions, clock=clock)
    finally:
        _suppressed.reset(token)


def start_span(name: str, start_ns: int, environ: Mapping[str, str]) -> otel.SpanHandle:
    """The command span: from the ``tracer_provider`` given to ``instrument()``, else as the
    pipeline does (the global SDK provider, or ids only)."""
    tracer = settings.tracer
    if tracer is None:
        return otel.start_span(name, start_ns, environ)
    from opentelemetry import trace

    env_parent = otel._current_ids.get() or parse_traceparent(environ.get("TRACEPARENT"))
    current = trace.get_current_span().get_span_context()
    parent_ctx = None
    parent_id: str | None = None
    if current.is_valid:
        parent_id = format(current.span_id, "016x")
    elif env_parent:
        parent_ctx = otel.remote_parent(env_parent)[1]
        parent_id = env_parent[1]
    span = tracer.start_span(name, context=parent_ctx, kind=trace.SpanKind.CLIENT, start_time=start_ns)
    sc = span.get_span_context()
    if not sc.is_valid:  # a no-op provider: keep ids of our own so the ledger still links up
        return otel.start_span(name, start_ns, environ)
    return otel.SpanHandle(format(sc.trace_id, "032x"), format(sc.span_id, "016x"), parent_id, format(sc.trace_flags, "02x"), span)


def finish(pending: Pending, returncode: int | None, *, pid: int | None = None, start_error: OSError | None = None) -> None:
    """Close the record of a reaped child (or of one that could not start) and emit it."""
    run = pending.run
    rec = run.record
    pending.clock.stamp(rec)  # monotonic duration: a clock step never makes it negative
    end_ns = rec["end_ns"]
    message: str | None = None
    sig: int | None = None
    if start_error is not None:
        argv0 = run.spec.argv()[0] if not run.spec.shell else str(run.spec.shell_path)
        code, message = runner._start_error(start_error, argv0)
        outcome = runner.ERROR
    else:
        rc = 0 if returncode is None else returncode
        sig = -rc if rc < 0 else None
        code = 128 + sig if sig else rc
        if pending.timed_out and sig:
            outcome = runner.TIMEOUT
        elif sig in runner._INTERRUPTS:
            outcome = runner.INTERRUPTED
        else:
            outcome = runner.SUCCESS if code == 0 else runner.FAILURE
    run.execution = runner.Execution(code, outcome, pending.start_ns, end_ns, pid=pid, signal=sig, start_error=message)
    rec["process.exit.code"] = code
    if pid is not None:
        rec["process.pid"] = pid
    if sig:
        rec["cmdscope.signal"] = sig
    rec["cmdscope.outcome"] = outcome
    if message:
        rec["error.type"] = "command_not_found" if code == 127 else "permission_denied"
    token = _suppressed.set(True)
    try:
        for processor in pipeline.AFTER:
            pipeline._process(processor, run)
        pipeline.emit(run)
    finally:
        _suppressed.reset(token)


_warned = False


def internal_error(where: str, exc: BaseException) -> None:
    """Observability never breaks the host: say it once on stderr; re-raise under tests."""
    global _warned
    otel.count_dropped("instrumentation", type(exc).__name__)
    if os.environ.get("CMDSCOPE_RAISE_INTERNAL") == "1":
        raise exc
    if not _warned:
        _warned = True
        try:
            sys.stderr.write(f"cmdscope: instrumentation of {where} failed: {type(exc).__name__}: {exc}\n")
        except Exception:  # noqa: BLE001, S110 - stderr itself may be gone
            pass
