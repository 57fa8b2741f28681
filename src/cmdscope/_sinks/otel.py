"""Live OpenTelemetry sinks: the command span and the metrics.

Both go through the OpenTelemetry *API* only (the global providers, the global propagator):
whatever provider the host installed (or ``cmdscope.configure()`` did) gets them, and no SDK
object is read or changed. The check looks at ``sys.modules`` first, so a process that never
imported OpenTelemetry (the ``cmdscope run`` CLI) pays nothing; there, the ledger is the record
and ``cmdscope ship`` exports it later with the same ids and times.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
from contextlib import contextmanager
TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any, Iterator

from cmdscope._propagation import new_span_id, new_trace_id, parse_traceparent

# Bounded label values: executables outside this set are counted as "other".
COMMON_EXECUTABLES = frozenset(
    """
    git gh python python3 pip pip3 uv poetry pytest tox nox ruff mypy pyright black isort flake8
    pylint node npm npx pnpm yarn bun deno tsc eslint prettier jest vitest cargo rustc go make
    cmake ninja gcc g++ clang javac java mvn gradle docker podman kubectl helm terraform tofu
    aws gcloud az bash sh zsh curl wget ssh scp rsync ls cat head tail grep rg sed awk find xargs
    rm mv cp mkdir chmod chown tar zip unzip psql mysql sqlite3 redis-cli echo test true false
    sleep env sudo timeout
    """.split()
)
METRIC_ATTRS = ("cmdscope.actor", "cmdscope.phase", "cmdscope.outcome", "error.type")
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


def bounded_executable(name: str) -> str:
    return name if name in COMMON_EXECUTABLES else "other"


def _api(name: str) -> Any | None:
    """An OTel API module when this process imported it, else None: a process that never
    imported OpenTelemetry (the ``cmdscope run`` CLI) cannot have configured it, and pays nothing."""
    return sys.modules.get(name)


class SpanHandle:
    """The command's span: its ids (always, for the ledger) and the API span when there is one."""

    __slots__ = ("trace_id", "span_id", "parent_span_id", "flags", "span", "context")

    def __init__(self, trace_id: str, span_id: str, parent_span_id: str | None, flags: str, span: Any = None,
                 context: Any = None) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.flags = flags
        self.span = span  # an opentelemetry.trace.Span, or None (ids only)
        self.context = context  # the OTel Context that carries ``span`` (and the incoming baggage)

    @contextmanager
    def activate(self) -> Iterator[None]:
        """Make this span the parent of whatever starts inside the block."""
        token = _current_ids.set((self.trace_id, self.span_id, self.flags))
        try:
            if self.span is None:
                yield
            else:
                from opentelemetry import trace

                with trace.use_span(self.span, end_on_exit=False):
                    yield
        finally:
            _current_ids.reset(token)

    def child_vars(self, ctx_vars: dict[str, str], baggage_in: str | None) -> dict[str, str]:
        """``TRACEPARENT``/``TRACESTATE``/``BAGGAGE`` for a child of this span: injected by the
        API's global propagator when the span is an API span, else written per W3C by hand."""
        if self.context is None:
            from cmdscope._propagation import format_traceparent, merge_baggage

            out = {"TRACEPARENT": format_traceparent(self.trace_id, self.span_id, self.flags)}
            baggage = merge_baggage(baggage_in, ctx_vars)
            if baggage:
                out["BAGGAGE"] = baggage
            return out
        from opentelemetry import baggage as otel_baggage, propagate

        ctx = self.context
        for key, value in ctx_vars.items():
            ctx = otel_baggage.set_baggage(key, value, ctx)
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=ctx)
        return {key.upper(): value for key, value in carrier.items()}

    def finish(self, record: dict[str, Any]) -> None:
        """Set the record's attributes and status, and end the span at the command's end."""
        span = self.span
        if span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        span.set_attributes(span_attributes(record))
        if record.get("cmdscope.outcome") != "success":
            span.set_status(Status(StatusCode.ERROR, str(record.get("error.type") or record.get("cmdscope.outcome"))))
        span.end(end_time=record["end_ns"])


def span_attributes(record: dict[str, Any]) -> dict[str, Any]:
    """The dotted keys of a record, as OTel attribute values (no None, lists of str)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if "." not in key or value is None:
            continue
        if isinstance(value, (list, tuple)):
            out[key] = [str(v) for v in value]
        else:
            out[key] = value
    return out


# Parent ids for ids-only spans nested in this process (the API keeps its own current span).
_current_ids: contextvars.ContextVar[tuple[str, str, str] | None] = contextvars.ContextVar("cmdscope_span", default=None)
_UNREAD: Any = object()


def start_span(name: str, start_ns: int, environ: Any, packet_state: Any = _UNREAD, kind: str = "CLIENT",
               tracer: Any = None) -> SpanHandle:
    """Start the command's span through the OTel API (ids only when OpenTelemetry is not loaded).

    The parent is the current span when there is one, else the ``TRACEPARENT``/``TRACESTATE``/
    ``BAGGAGE`` this process was started with (extracted by the API's propagator: we are a command
    run by a command), else the span of the packet active in this worktree. ``tracer``: the one
    given to ``instrument(tracer_provider=...)``; default: the global provider's.
    """
    trace = _api("opentelemetry.trace")
    env_parent = _current_ids.get() or parse_traceparent(_env_get(environ, "TRACEPARENT")) \
        or _packet_parent(environ, packet_state)
    if trace is not None:
        handle = _api_span(trace, tracer, name, start_ns, environ, env_parent, kind)
        if handle is not None:
            return handle
    if env_parent:
        return SpanHandle(env_parent[0], new_span_id(), env_parent[1], env_parent[2])
    return SpanHandle(new_trace_id(), new_span_id(), None, "01")


def _api_span(trace: Any, tracer: Any, name: str, start_ns: int, environ: Any,
              env_parent: tuple[str, str, str] | None, kind: str) -> SpanHandle | None:
    from opentelemetry import context as otel_context, propagate

    parent_ctx = otel_context.get_current()
    current = trace.get_current_span(parent_ctx).get_span_context()
    if current.is_valid:
        parent_id: str | None = format(current.span_id, "016x")
    elif env_parent:
        carrier = {"traceparent": f"00-{env_parent[0]}-{env_parent[1]}-{env_parent[2]}"}
        for key in ("TRACESTATE", "BAGGAGE"):
            value = _env_get(environ, key)
            if value:
                carrier[key.lower()] = value
        parent_ctx = propagate.extract(carrier, context=parent_ctx)
        parent_id = env_parent[1]
    else:
        parent_id = None
    if tracer is None:
        tracer = _tracer(trace)
    span = tracer.start_span(name, context=parent_ctx, kind=getattr(trace.SpanKind, kind), start_time=start_ns)
    sc = span.get_span_context()
    span_id = format(sc.span_id, "016x")
    if not sc.is_valid or span_id == parent_id:  # a no-op tracer hands back its parent: ids of our own
        return None
    return SpanHandle(format(sc.trace_id, "032x"), span_id, parent_id, format(sc.trace_flags, "02x"), span,
                      trace.set_span_in_context(span, parent_ctx))


_tracers: tuple[Any, Any] = (None, None)  # (provider, cmdscope's tracer from it)


def _tracer(trace: Any) -> Any:
    global _tracers
    provider = trace.get_tracer_provider()
    if _tracers[0] is not provider:
        from cmdscope._version import __version__

        _tracers = (provider, provider.get_tracer("cmdscope", __version__))
    return _tracers[1]


def _env_get(environ: Any, name: str) -> str | None:
    return environ.get(name)  # type: ignore[no-any-return]


def _packet_parent(environ: Any, state: Any = _UNREAD) -> tuple[str, str, str] | None:
    """(trace_id, span_id, flags) of the worktree's active packet, unless CMDSCOPE_PACKET names
    another packet. ``state``: the packet state when the caller has read it."""
    if state is _UNREAD:
        from cmdscope._context import active_packet

        state = active_packet()
    if not state:
        return None
    if environ is os.environ:  # this process's: as parsed before the command (cmdscope._settings)
        from cmdscope import _settings as settings

        override = settings.get("CMDSCOPE_PACKET")
    else:
        override = _env_get(environ, "CMDSCOPE_PACKET")
    if override and override != state["packet"]:
        return None
    return parse_traceparent(f"00-{state.get('trace_id')}-{state.get('span_id')}-01")


class Metrics:
    """The command metrics, created once per meter provider."""

    def __init__(self, provider: Any) -> None:
        from cmdscope._version import __version__

        meter = provider.get_meter("cmdscope", __version__)
        self.provider = provider
        self.commands = meter.create_counter("cmdscope.commands", unit="{command}", description="Commands run")
        self.duration = meter.create_histogram(
            "cmdscope.command.duration",
            unit="s",
            description="Wall time of commands",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.denials = meter.create_counter("cmdscope.denials", unit="{command}", description="Commands denied before they ran")
        self.danger_hits = meter.create_counter(
            "cmdscope.danger.hits", unit="{command}", description="Dangerous-command matches"
        )
        self.retries = meter.create_counter("cmdscope.retries", unit="{command}", description="Re-runs of a failed command")
        self.dropped = meter.create_counter(
            "cmdscope.telemetry.dropped", unit="{event}", description="Telemetry events that could not be kept"
        )
        # Observed at collection time from a plain count: a synchronous counter add costs
        # ~15-30 us per record, a lot for a per-command denominator.
        self._events = 0
        self._events_lock = threading.Lock()
        meter.create_observable_counter(
            "cmdscope.telemetry.events", callbacks=[self._observe_events], unit="{event}",
            description="Telemetry events handled",
        )

    def count_event(self) -> None:
        with self._events_lock:
            self._events += 1

    def _observe_events(self, _options: Any) -> Any:
        from opentelemetry.metrics import Observation

        return [Observation(self._events, {"cmdscope.sink": "ledger"})]

    def record(self, record: dict[str, Any], context: Any = None) -> None:
        actor = record.get("cmdscope.actor") or "user"
        if record.get("kind") == "denial":
            self.denials.add(
                1,
                {
                    "cmdscope.actor": actor,
                    "cmdscope.policy.rule": record.get("cmdscope.policy.rule") or "unknown",
                    "cmdscope.danger.severity": record.get("cmdscope.danger.severity") or "none",
                },
                context,
            )
        attrs = {key: record.get(key) or "none" for key in METRIC_ATTRS}
        attrs["cmdscope.actor"] = actor
        attrs["process.executable.name"] = bounded_executable(record.get("process.executable.name") or "")
        if record.get("kind") != "denial":
            self.commands.add(1, attrs, context)
            self.duration.record(record.get("duration_s", 0.0), attrs, context)
        if record.get("cmdscope.retry.count"):
            self.retries.add(1, {k: attrs[k] for k in ("cmdscope.actor", "cmdscope.phase", "error.type")}, context)
        rules = record.get("cmdscope.danger.rule")
        if rules:
            for rule in rules:
                self.danger_hits.add(
                    1,
                    {
                        "cmdscope.actor": actor,
                        "cmdscope.danger.rule": rule,
                        "cmdscope.danger.severity": record.get("cmdscope.danger.severity") or "none",
                        "cmdscope.policy.action": effective_action(record),
                    },
                    context,
                )


def effective_action(record: dict[str, Any]) -> str:
    """What actually happened to the command: ``deny`` only when it was blocked.

    A deny rule in ``observe`` mode lets the command run (``allow``), in ``warn`` mode it warns;
    alerts on dangerous commands that *ran* select on this label.
    """
    if record.get("kind") == "denial":
        return "deny"
    action = record.get("cmdscope.policy.action") or "allow"
    if action == "deny":
        return "warn" if record.get("cmdscope.policy.mode") == "warn" else "allow"
    return action


_metrics: Metrics | None = None


def metrics() -> Metrics | None:
    """The command metrics on the global meter provider, when the OTel API is loaded."""
    global _metrics
    api = _api("opentelemetry.metrics")
    if api is None:
        return None
    provider = api.get_meter_provider()
    if _metrics is None or _metrics.provider is not provider:
        _metrics = Metrics(provider)
    return _metrics


def count_dropped(sink: str, reason: str) -> None:
    """Count telemetry that could not be kept; never raises."""
    try:
        m = metrics()
        if m is not None:
            m.dropped.add(1, {"cmdscope.sink": sink, "cmdscope.reason": reason})
    except Exception:
        pass
