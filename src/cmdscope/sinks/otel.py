"""Live OpenTelemetry sinks: the command span and the metrics.

Both are used only when the host process has an OTel *SDK* configured (by itself or through
``cmdscope.configure()``). The check looks at ``sys.modules`` first, so a process that never
imported the SDK (the ``cmdscope run`` CLI) pays nothing; there, the ledger is the record and
``cmdscope ship`` exports it later with the same ids and times.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from contextlib import contextmanager
TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any, Iterator

from cmdscope.propagation import new_span_id, new_trace_id, parse_traceparent

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


def sdk_tracer_provider() -> Any | None:
    sdk = sys.modules.get("opentelemetry.sdk.trace")
    if sdk is None:
        return None
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    return provider if isinstance(provider, sdk.TracerProvider) else None


def sdk_meter_provider() -> Any | None:
    sdk = sys.modules.get("opentelemetry.sdk.metrics")
    if sdk is None:
        return None
    from opentelemetry import metrics

    provider = metrics.get_meter_provider()
    return provider if isinstance(provider, sdk.MeterProvider) else None


class SpanHandle:
    """Ids of the command's span; ends the real SDK span when there is one."""

    __slots__ = ("trace_id", "span_id", "parent_span_id", "flags", "_span")

    def __init__(self, trace_id: str, span_id: str, parent_span_id: str | None, flags: str, span: Any = None):
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.flags = flags
        self._span = span

    @contextmanager
    def activate(self) -> Iterator[None]:
        """Make this span the parent of whatever starts inside the block."""
        token = _current_ids.set((self.trace_id, self.span_id, self.flags))
        try:
            if self._span is None:
                yield
            else:
                from opentelemetry import trace

                with trace.use_span(self._span, end_on_exit=False):
                    yield
        finally:
            _current_ids.reset(token)

    def finish(self, record: dict[str, Any]) -> None:
        span = self._span
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


_tracer: Any = None
_tracer_provider: Any = None
# Parent ids for ids-only spans nested in this process (the SDK keeps its own current span).
_current_ids: contextvars.ContextVar[tuple[str, str, str] | None] = contextvars.ContextVar("cmdscope_span", default=None)


def start_span(name: str, start_ns: int, environ: dict[str, str] | Any) -> SpanHandle:
    """Open the command's span: a real SDK span when configured, else ids only.

    The parent is the current OTel span when there is one, else the ``TRACEPARENT`` this
    process was started with (we are a command run by a command), else the span of the packet
    active in this worktree (``cmdscope packet start``).
    """
    provider = sdk_tracer_provider()
    env_parent = _current_ids.get() or parse_traceparent(environ.get("TRACEPARENT")) or _packet_parent(environ)
    if provider is None:
        if env_parent:
            return SpanHandle(env_parent[0], new_span_id(), env_parent[1], env_parent[2])
        return SpanHandle(new_trace_id(), new_span_id(), None, "01")
    global _tracer, _tracer_provider
    from opentelemetry import trace

    if _tracer is None or _tracer_provider is not provider:
        from cmdscope._version import __version__

        _tracer = provider.get_tracer("cmdscope", __version__)
        _tracer_provider = provider
    parent_ctx = None
    current = trace.get_current_span().get_span_context()
    if not current.is_valid and env_parent:
        parent = trace.SpanContext(
            trace_id=int(env_parent[0], 16),
            span_id=int(env_parent[1], 16),
            is_remote=True,
            trace_flags=trace.TraceFlags(int(env_parent[2], 16)),
        )
        parent_ctx = trace.set_span_in_context(trace.NonRecordingSpan(parent))
        parent_id: str | None = env_parent[1]
    else:
        parent_id = format(current.span_id, "016x") if current.is_valid else None
    span = _tracer.start_span(name, context=parent_ctx, kind=trace.SpanKind.CLIENT, start_time=start_ns)
    sc = span.get_span_context()
    return SpanHandle(format(sc.trace_id, "032x"), format(sc.span_id, "016x"), parent_id, format(sc.trace_flags, "02x"), span)


def _packet_parent(environ: Any) -> tuple[str, str, str] | None:
    """(trace_id, span_id, flags) of the worktree's active packet, unless CMDSCOPE_PACKET names
    another packet."""
    from cmdscope.context import active_packet

    state = active_packet()
    if not state:
        return None
    override = environ.get("CMDSCOPE_PACKET")
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

    def record(self, record: dict[str, Any]) -> None:
        actor = record.get("cmdscope.actor") or "user"
        if record.get("kind") == "denial":
            self.denials.add(
                1,
                {
                    "cmdscope.actor": actor,
                    "cmdscope.policy.rule": record.get("cmdscope.policy.rule") or "unknown",
                    "cmdscope.danger.severity": record.get("cmdscope.danger.severity") or "none",
                },
            )
        attrs = {key: record.get(key) or "none" for key in METRIC_ATTRS}
        attrs["cmdscope.actor"] = actor
        attrs["process.executable.name"] = bounded_executable(record.get("process.executable.name") or "")
        if record.get("kind") != "denial":
            self.commands.add(1, attrs)
            self.duration.record(record.get("duration_s", 0.0), attrs)
        if record.get("cmdscope.retry.count"):
            self.retries.add(1, {k: attrs[k] for k in ("cmdscope.actor", "cmdscope.phase", "error.type")})
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
    """The command metrics when an SDK meter provider is configured, else None."""
    global _metrics
    provider = sdk_meter_provider()
    if provider is None:
        return None
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
