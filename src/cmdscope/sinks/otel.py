"""Live OpenTelemetry sinks: the command span and the metrics.

Both are used only when the host process has an OTel *SDK* configured (by itself or through
``cmdscope.configure()``). The check looks at ``sys.modules`` first, so a process that never
imported the SDK (the ``cmdscope run`` CLI) pays nothing; there, the ledger is the record and
``cmdscope ship`` exports it later with the same ids and times.
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

from cmdscope.environ import getenv
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
    provider = _trace_api().get_tracer_provider()
    return provider if isinstance(provider, sdk.TracerProvider) else None


_trace_module: Any = None


def _trace_api() -> Any:
    """``opentelemetry.trace``, imported on first use (not by the CLI), then a global read."""
    global _trace_module
    if _trace_module is None:
        from opentelemetry import trace

        _trace_module = trace
    return _trace_module


# ParentBased(ALWAYS_ON), the SDK's default sampler: its decision is the parent's sampled flag
# (sampled for a root), which saves asking it (~5 us) before the child can start.
_DEFAULT_SAMPLER = ("ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,"
                    "remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,"
                    "localParentNotSampled:AlwaysOffSampler}")
_sampler_is_default: tuple[Any, bool] = (None, False)


def _is_default_sampler(sampler: Any) -> bool:
    global _sampler_is_default
    if _sampler_is_default[0] is not sampler:
        try:
            default = sampler.get_description() == _DEFAULT_SAMPLER
        except Exception:
            default = False
        _sampler_is_default = (sampler, default)
    return _sampler_is_default[1]


def sdk_meter_provider() -> Any | None:
    sdk = sys.modules.get("opentelemetry.sdk.metrics")
    if sdk is None:
        return None
    global _metrics_module
    if _metrics_module is None:
        from opentelemetry import metrics

        _metrics_module = metrics
    provider = _metrics_module.get_meter_provider()
    return provider if isinstance(provider, sdk.MeterProvider) else None


_metrics_module: Any = None


class SpanHandle:
    """Ids of the command's span; ends the real SDK span when there is one."""

    __slots__ = ("trace_id", "span_id", "parent_span_id", "flags", "_span", "_set", "_reserved", "_provider")

    def __init__(self, trace_id: str, span_id: str, parent_span_id: str | None, flags: str, span: Any = None,
                 provider: Any = None):
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.flags = flags
        self._span = span
        self._provider = provider  # the SDK tracer provider of a real span
        self._set: dict[str, Any] = {}
        # (tracer, name, parent context, start_ns, trace id, span id) of a span whose ids are
        # decided (a child carries them) but whose SDK span is created later: ``open``.
        self._reserved: tuple[Any, ...] | None = None

    def open(self, attributes: dict[str, Any] | None = None) -> None:
        """Create the SDK span of a reserved handle, with the reserved ids."""
        reserved = self._reserved
        if reserved is None:
            return
        self._reserved = None
        tracer, name, parent_ctx, start_ns, trace_id, span_id = reserved
        from opentelemetry import trace

        ids = tracer.id_generator
        ids.choose(trace_id, span_id)
        try:
            self._span = tracer.start_span(
                name, context=parent_ctx, kind=trace.SpanKind.CLIENT, start_time=start_ns, attributes=attributes)
        finally:
            ids.choose(None, None)

    @contextmanager
    def activate(self) -> Iterator[None]:
        """Make this span the parent of whatever starts inside the block."""
        self.open()
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

    def describe(self, record: dict[str, Any]) -> None:
        """Set the attributes known so far (called while the child runs, off the critical path)."""
        if self._reserved is not None:
            attrs = span_attributes(record)
            self.open(attrs)
            self._set = attrs
            return
        span = self._span
        if span is None:
            return
        attrs = span_attributes(record)
        span.set_attributes(attrs)
        self._set = attrs

    def can_end_later(self) -> bool:
        """May the SDK get this span's end after ``run()`` returns, unnoticed? Yes when every
        span processor of its provider is a ``BatchSpanProcessor``: they export from their own
        thread anyway, so the span leaves exactly as it would have (its end time is the
        command's). Any other processor (``SimpleSpanProcessor``, a custom one) gets the end
        at once, as it expects."""
        return self._provider is not None and batches_only(self._provider)

    def finish(self, record: dict[str, Any]) -> None:
        """Set what changed since ``describe``, the status, and end the span."""
        self.open()
        span = self._span
        if span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        known = self._set
        # Keys added since ``describe`` (outcome, exit code, error class...); the pipeline never
        # changes a described value afterwards.
        changed = span_attributes({k: record[k] for k in record.keys() - known.keys()}) if known \
            else span_attributes(record)
        if changed:
            span.set_attributes(changed)
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
    from opentelemetry import trace

    tracer = _our_tracer(provider)
    parent_ctx = None
    current = trace.get_current_span().get_span_context()
    if not current.is_valid and env_parent:
        parent_ctx = remote_parent(env_parent)[1]
        parent_id: str | None = env_parent[1]
    else:
        parent_id = format(current.span_id, "016x") if current.is_valid else None
    span = tracer.start_span(name, context=parent_ctx, kind=trace.SpanKind.CLIENT, start_time=start_ns)
    sc = span.get_span_context()
    return SpanHandle(format(sc.trace_id, "032x"), format(sc.span_id, "016x"), parent_id, format(sc.trace_flags, "02x"),
                      span, provider)


_UNREAD: Any = object()


def reserve_span(name: str, start_ns: int, environ: dict[str, str] | Any, packet_state: Any = _UNREAD) -> SpanHandle:
    """Decide the command span's ids, parent and sampling now (the child's ``TRACEPARENT``
    carries them) and create the SDK span later with ``SpanHandle.open``, while the child runs:
    creating it costs ~25-50 us that would otherwise delay the child's start.

    The ids come from the provider's own id generator, the sampled flag from its own sampler,
    so the span is the one ``start_span`` would have made. ``packet_state``: the worktree's
    active packet (``context.active_packet``), already read by the caller."""
    provider = sdk_tracer_provider()
    if provider is None:
        env_parent = _current_ids.get() or parse_traceparent(_env_get(environ, "TRACEPARENT")) \
            or _packet_parent(environ, packet_state)
        if env_parent:
            return SpanHandle(env_parent[0], new_span_id(), env_parent[1], env_parent[2])
        return SpanHandle(new_trace_id(), new_span_id(), None, "01")
    plan = _plan if _plan[0] is provider else _plan_for(provider)
    if plan is None:  # a disabled SDK's no-op tracer
        return start_span(name, start_ns, environ)
    _, tracer, inner, random_ids, default_sampler, trace = plan
    parent_ctx = None
    current = trace.get_current_span().get_span_context()
    if current.is_valid:
        parent: Any = current
        parent_id: str | None = format(current.span_id, "016x")
    else:
        env_parent = _current_ids.get() or parse_traceparent(_env_get(environ, "TRACEPARENT")) \
            or _packet_parent(environ, packet_state)
        if env_parent:
            parent, parent_ctx = remote_parent(env_parent)
            parent_id = env_parent[1]
        else:
            parent, parent_id = None, None
    if parent is None:
        trace_id = inner.generate_trace_id()
        random_id = random_ids
    else:
        trace_id = parent.trace_id
        random_id = parent.trace_flags.random_trace_id
    span_id = inner.generate_span_id()
    if default_sampler:
        sampled = parent is None or parent.trace_flags.sampled
    else:
        sampled = provider.sampler.should_sample(parent_ctx, trace_id, name, trace.SpanKind.CLIENT).decision.is_sampled()
    flags = (1 if sampled else 0) | (2 if random_id else 0)
    handle = SpanHandle(format(trace_id, "032x"), format(span_id, "016x"), parent_id, format(flags, "02x"),
                        provider=provider)
    handle._reserved = (tracer, name, parent_ctx, start_ns, trace_id if parent is None else None, span_id)
    return handle


# (provider, cmdscope's tracer, the provider's own id generator, are its trace ids random, is its
# sampler the default, opentelemetry.trace): fixed per provider (the SDK's sampler and id
# generator cannot be replaced), looked up once instead of per command.
_plan: tuple[Any, ...] = (None,)


def _plan_for(provider: Any) -> tuple[Any, ...] | None:
    global _plan
    tracer = _our_tracer(provider)
    ids = getattr(tracer, "id_generator", None)
    if not isinstance(ids, _ChosenIds):
        return None
    _plan = (provider, tracer, ids.inner, ids.is_trace_id_random(), _is_default_sampler(provider.sampler), _trace_api())
    return _plan


_batching: tuple[Any, bool] = (None, False)


def batches_only(provider: Any) -> bool:
    """Are all of ``provider``'s span processors ``BatchSpanProcessor`` (the exact class: a
    subclass may act in ``on_end``; ``cmdscope.configure()``'s counting one is marked as safe)?
    Then its flush and shutdown are made to take cmdscope's queued telemetry first
    (``flush_first``)."""
    global _batching
    processors = getattr(getattr(provider, "_active_span_processor", None), "_span_processors", None)
    if processors is None:
        return False
    if _batching[0] is not processors:  # a new tuple each time a processor is added
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        batching = all(type(p) is BatchSpanProcessor or type(p).__dict__.get("_cmdscope_batching") for p in processors)
        if batching:
            flush_first(provider)
        _batching = (processors, batching)
    return _batching[1]


def flush_first(provider: Any) -> None:
    """Make the host's own ``provider.force_flush()`` and ``shutdown()`` first hand over what
    cmdscope queued (``sinks/deferred.py``: metrics, span ends), so they see every command
    that has returned. Done once per provider, on the instance (the class is untouched)."""
    if provider.__dict__.get("_cmdscope_flush_first"):
        return
    from cmdscope.sinks import deferred

    for name in ("force_flush", "shutdown"):
        original = getattr(provider, name)

        def hooked(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            deferred.flush(5.0)
            return _original(*args, **kwargs)

        setattr(provider, name, hooked)
    provider._cmdscope_flush_first = True
    deferred.move_flush_last()  # and at exit, before the provider's own shutdown handler


def remote_parent(ids: tuple[str, str, str]) -> tuple[Any, Any]:
    """(SpanContext, Context) for a parent known by its (trace id, span id, flags) in hex: one
    from a ``TRACEPARENT``, a packet or another process."""
    trace = _trace_api()
    parent = trace.SpanContext(trace_id=int(ids[0], 16), span_id=int(ids[1], 16), is_remote=True,
                               trace_flags=trace.TraceFlags(int(ids[2], 16)))
    return parent, trace.set_span_in_context(trace.NonRecordingSpan(parent))


class _ChosenIds:
    """The id generator of cmdscope's tracer: hands out the ids a reserved span was promised
    (on this thread), else asks the provider's generator. Other tracers are untouched."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._local = threading.local()

    def choose(self, trace_id: int | None, span_id: int | None) -> None:
        self._local.trace_id = trace_id
        self._local.span_id = span_id

    def generate_trace_id(self) -> int:
        return self._take("trace_id", self.inner.generate_trace_id)

    def generate_span_id(self) -> int:
        return self._take("span_id", self.inner.generate_span_id)

    def _take(self, name: str, generate: Any) -> int:
        chosen = getattr(self._local, name, None)
        if chosen is None:
            return int(generate())
        setattr(self._local, name, None)  # once: the next span gets fresh ids
        return int(chosen)

    def is_trace_id_random(self) -> bool:
        return bool(getattr(self.inner, "is_trace_id_random", lambda: False)())


def _our_tracer(provider: Any) -> Any:
    global _tracer, _tracer_provider
    if _tracer is None or _tracer_provider is not provider:
        from cmdscope._version import __version__

        tracer = provider.get_tracer("cmdscope", __version__)
        ids = getattr(tracer, "id_generator", None)
        if ids is not None and not isinstance(ids, _ChosenIds):
            tracer.id_generator = _ChosenIds(ids)
        _tracer, _tracer_provider = tracer, provider
    return _tracer


def _env_get(environ: Any, name: str) -> str | None:
    if environ is os.environ:  # skip the encode/decode round trip of os.environ.get
        return getenv(name)
    return environ.get(name)  # type: ignore[no-any-return]


def _packet_parent(environ: Any, state: Any = _UNREAD) -> tuple[str, str, str] | None:
    """(trace_id, span_id, flags) of the worktree's active packet, unless CMDSCOPE_PACKET names
    another packet. ``state``: the packet state when the caller has read it."""
    if state is _UNREAD:
        from cmdscope.context import active_packet

        state = active_packet()
    if not state:
        return None
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

    def record_deferred(self, record: dict[str, Any], span: SpanHandle | None = None) -> None:
        """``record`` plus the event count, on the telemetry thread; exemplars point at the
        command's span (the thread has no current span of its own)."""
        context = None
        if span is not None and span._span is not None:
            from opentelemetry.trace import set_span_in_context

            context = set_span_in_context(span._span)
        self.record(record, context)
        self.count_event()

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
    """The command metrics when an SDK meter provider is configured, else None."""
    global _metrics
    provider = sdk_meter_provider()
    if provider is None:
        return None
    if _metrics is None or _metrics.provider is not provider:
        _metrics = Metrics(provider)
        flush_first(provider)  # the measurements are recorded after run() returns
    return _metrics


def count_dropped(sink: str, reason: str) -> None:
    """Count telemetry that could not be kept; never raises."""
    try:
        m = metrics()
        if m is not None:
            m.dropped.add(1, {"cmdscope.sink": sink, "cmdscope.reason": reason})
    except Exception:
        pass
