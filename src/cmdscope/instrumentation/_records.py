"""One record per instrumented child: opened when the child is created, finished when reaped.

The record's life is the recorder's (``pipeline.RECORDER``: the same keys and processors as
``cmdscope.run``, see docs/telemetry.md); only the execute step differs: the host's own
``Popen``/``os.system``/asyncio call runs the child, untouched, and we observe it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from cmdscope import _pipeline as pipeline, _runner as runner
from cmdscope import _settings as env_settings
from cmdscope.instrumentation._suppress import _suppressed
from cmdscope._sinks import otel


@dataclass
class Settings:
    """What ``CmdscopeInstrumentor.instrument(...)`` was given."""

    tracer: Any = None  # an OTel tracer from the ``tracer_provider`` keyword, else the global one
    enforce: bool = True  # a guard ``deny`` stops the child (raises CommandDenied)


settings = Settings()


def guard_observed(run: pipeline.Run) -> None:
    """The guard's decision recorded, never applied (``instrument(enforce=False)``)."""
    try:
        pipeline.guard(run)
    except pipeline.Denied:
        pass
    if "cmdscope.policy.mode" in run.record:
        run.record["cmdscope.policy.mode"] = "observe"


guard_observed.on_error = pipeline.fail_closed_if_asked  # type: ignore[attr-defined]
_OBSERVING = pipeline.Recorder(before=[pipeline.resolve_context, guard_observed])


@dataclass
class Pending:
    """A child that was started and is not reaped yet."""

    run: pipeline.Run
    timed_out: bool = False  # a wait/communicate timed out on it (subprocess.run(timeout=))
    # TRACEPARENT, TRACESTATE, BAGGAGE (merged with the incoming one) and CMDSCOPE_*: what the child gains.
    additions: dict[str, str] = field(default_factory=dict)


def active() -> bool:
    """Record this child? Not inside cmdscope's own spawns, OTel suppression, or when disabled."""
    if _suppressed.get() or env_settings.get("CMDSCOPE_DISABLED"):
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
    """The child's environment: ``env`` (``None``: ours) plus ``additions``, nothing else."""
    merged: dict[Any, Any] = dict(os.environ if env is None else (str_env(env) or {}))
    merged.update(additions)
    return merged


def begin(spec: pipeline.CommandSpec) -> Pending:
    """Open the record and span; run context and guard; compute what the child's environment gains.

    Raises ``cmdscope._api.CommandDenied`` (after recording the denial) when the guard denies
    and ``settings.enforce`` is on.
    """
    token = _suppressed.set(True)
    try:
        recorder = pipeline.RECORDER if settings.enforce else _OBSERVING
        try:
            run = recorder.begin(spec, tracer=settings.tracer)
        except pipeline.Denied as denied:
            from cmdscope._api import CommandDenied

            raise CommandDenied(denied.decision, denied.record) from None
        for problem in getattr(run.decision, "problems", None) or ():
            # a broken guard layer is said once per process, never silently skipped
            pipeline._warn_once(f"guard:{problem}", f"cmdscope: guard configuration error: {problem}; "
                                                     "the layers that load still apply")
        return Pending(run, additions=recorder.child_env(run))
    finally:
        _suppressed.reset(token)


def finish(pending: Pending, returncode: int | None, *, pid: int | None = None, start_error: OSError | None = None) -> None:
    """Close the record of a reaped child (or of one that could not start) and emit it."""
    run = pending.run
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
    token = _suppressed.set(True)
    try:
        pipeline.RECORDER.finish(run, runner.Execution(code, outcome, 0, 0, pid=pid, signal=sig, start_error=message))
    finally:
        _suppressed.reset(token)


_warned = False


def internal_error(where: str, exc: BaseException) -> None:
    """Observability never breaks the host: say it once on stderr; re-raise under tests."""
    global _warned
    otel.count_dropped("instrumentation", type(exc).__name__)
    if env_settings.get("CMDSCOPE_RAISE_INTERNAL"):
        raise exc
    if not _warned:
        _warned = True
        try:
            sys.stderr.write(f"cmdscope: instrumentation of {where} failed: {type(exc).__name__}: {exc}\n")
        except Exception:  # noqa: BLE001, S110 - stderr itself may be gone
            pass
