"""``cmdscope.configure()``: set up the OTel SDK for a process that has not done so itself.

Precedence for every setting: argument > standard ``OTEL_*`` environment variable > default.
A host that already installed an SDK tracer or meter provider keeps it: cmdscope then uses the
host's providers, so command spans nest under the agent's own spans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Configured:
    tracer_provider: Any
    meter_provider: Any
    prometheus_port: int | None = None

    def shutdown(self) -> None:
        for provider in (self.tracer_provider, self.meter_provider):
            if provider is not None:
                try:
                    provider.shutdown()
                except Exception:
                    pass


def _setting(value: Any, env: str, default: Any) -> Any:
    """The argument, else the variable as parsed by cmdscope._settings (a bad value was reported
    and replaced by its default), else ``default``."""
    if value is not None:
        return value
    from cmdscope import _settings as settings

    parsed = settings.get(env)
    return parsed if parsed not in (None, "") else default


def configure(
    *,
    service_name: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    traces_exporter: str | None = None,
    metrics_exporter: str | None = None,
    prometheus_host: str = "127.0.0.1",
    prometheus_port: int | None = None,
    export_interval_ms: int | None = None,
    export_timeout_s: float | None = None,
    span_processor: str = "batch",
    span_exporter: Any = None,
    metric_reader: Any = None,
) -> Configured:
    """Install SDK tracer and meter providers unless the host already has them.

    ``traces_exporter``/``metrics_exporter``: ``otlp``, ``console``, ``none`` (and
    ``prometheus`` for metrics, served on ``prometheus_host:prometheus_port``); defaults from
    ``OTEL_TRACES_EXPORTER``/``OTEL_METRICS_EXPORTER``, else ``otlp`` when an OTLP endpoint is
    set and ``none`` otherwise. Export timeouts are short (``OTEL_EXPORTER_OTLP_TIMEOUT``,
    default 2 s) so a collector that is down cannot hold the process at exit for long.
    """
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from cmdscope._version import __version__

    has_endpoint = bool(endpoint or _setting(None, "OTEL_EXPORTER_OTLP_ENDPOINT", None)
                        or _setting(None, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None))
    default_exporter = "otlp" if has_endpoint else "none"
    service = _setting(service_name, "OTEL_SERVICE_NAME", "cmdscope")
    protocol = _setting(protocol, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    timeout = export_timeout_s if export_timeout_s is not None else env_timeout_s(2.0)
    resource = Resource.create({"service.name": service, "cmdscope.version": __version__})

    tracer_provider: Any = trace.get_tracer_provider()
    if isinstance(tracer_provider, trace.ProxyTracerProvider):  # nobody installed one yet
        tracer_provider = TracerProvider(resource=resource)
        exporter = span_exporter or make_exporter(
            "traces", _setting(traces_exporter, "OTEL_TRACES_EXPORTER", default_exporter), protocol, endpoint, timeout
        )
        if exporter is not None:
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            exporter = CountingSpanExporter(exporter)
            processor = SimpleSpanProcessor(exporter) if span_processor == "simple" else counting_batch_processor(exporter)
            tracer_provider.add_span_processor(processor)
        trace.set_tracer_provider(tracer_provider)

    meter_provider: Any = metrics.get_meter_provider()
    port: int | None = None
    if not isinstance(meter_provider, (MeterProvider, metrics.NoOpMeterProvider)):  # the API's placeholder
        readers = []
        kind = _setting(metrics_exporter, "OTEL_METRICS_EXPORTER", default_exporter)
        if metric_reader is not None:
            readers.append(metric_reader)
        elif kind == "prometheus":
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import start_http_server

            port = int(_setting(prometheus_port, "OTEL_EXPORTER_PROMETHEUS_PORT", 9464))
            host = _setting(None, "OTEL_EXPORTER_PROMETHEUS_HOST", prometheus_host)
            start_http_server(port, addr=host)
            readers.append(PrometheusMetricReader())
        elif kind not in ("none", "", None):
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            interval = int(_setting(export_interval_ms, "OTEL_METRIC_EXPORT_INTERVAL", 60000))
            readers.append(PeriodicExportingMetricReader(
                make_exporter("metrics", kind, protocol, endpoint, timeout), export_interval_millis=interval
            ))
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        metrics.set_meter_provider(meter_provider)
    return Configured(tracer_provider, meter_provider, port)


def env_timeout_s(default: float) -> float:
    """``OTEL_EXPORTER_OTLP_TIMEOUT`` in seconds: the variable is milliseconds per the OTel spec."""
    millis = _setting(None, "OTEL_EXPORTER_OTLP_TIMEOUT", None)
    return float(millis) / 1000.0 if millis is not None else default


_OTLP = {  # signal -> (URL path, http module, grpc module, class name)
    "traces": ("/v1/traces", "opentelemetry.exporter.otlp.proto.http.trace_exporter",
               "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", "OTLPSpanExporter"),
    "metrics": ("/v1/metrics", "opentelemetry.exporter.otlp.proto.http.metric_exporter",
                "opentelemetry.exporter.otlp.proto.grpc.metric_exporter", "OTLPMetricExporter"),
    "logs": ("/v1/logs", "opentelemetry.exporter.otlp.proto.http._log_exporter",
             "opentelemetry.exporter.otlp.proto.grpc._log_exporter", "OTLPLogExporter"),
}
_CONSOLE = {"traces": ("opentelemetry.sdk.trace.export", "ConsoleSpanExporter"),
            "metrics": ("opentelemetry.sdk.metrics.export", "ConsoleMetricExporter")}


def make_exporter(signal: str, kind: str, protocol: str | None, endpoint: str | None, timeout: float) -> Any:
    """The one place an exporter is chosen (``configure()`` and ``cmdscope ship``): ``otlp``
    over ``http/protobuf`` (default) or ``grpc``, ``console``, or ``none`` (None)."""
    from importlib import import_module

    if kind in ("none", ""):
        return None
    if kind == "console" and signal in _CONSOLE:
        module, name = _CONSOLE[signal]
        return getattr(import_module(module), name)()
    if kind != "otlp":
        supported = "otlp, prometheus, console, none" if signal == "metrics" else "otlp, console, none"
        raise ValueError(f"OTEL_{signal.upper()}_EXPORTER={kind!r}: cmdscope supports {supported}")
    path, http_module, grpc_module, name = _OTLP[signal]
    protocol = protocol or _setting(None, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    if protocol == "grpc":
        return getattr(import_module(grpc_module), name)(endpoint=endpoint, timeout=timeout)
    url = endpoint.rstrip("/") + path if endpoint else None
    return getattr(import_module(http_module), name)(endpoint=url, timeout=timeout)


# --- telemetry health: what the SDK drops is counted, never silently lost ----------------------


from opentelemetry.sdk.trace.export import SpanExporter  # noqa: E402  (this module is the SDK's setup)


class CountingSpanExporter(SpanExporter):
    """Delegates to a span exporter and counts spans of failed exports in
    ``cmdscope.telemetry.dropped{sink="span", reason="export_failed"}``; never raises."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        from cmdscope._sinks import exported
        from cmdscope._sinks.otel import count_dropped

        try:
            result = self._inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        try:  # accepted: `cmdscope ship` skips these spans' ledger records (sinks/exported.py)
            ids = [format(s.context.span_id, "016x") for s in spans]
            (exported.confirm if result == SpanExportResult.SUCCESS else exported.forget)(ids)
        except Exception:  # noqa: BLE001, S110 - never break the export; the shipper then re-sends
            pass
        if result != SpanExportResult.SUCCESS:
            for _ in range(len(spans)):
                count_dropped("span", "export_failed")
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flush = getattr(self._inner, "force_flush", None)
        return bool(flush(timeout_millis)) if flush else True


def counting_batch_processor(exporter: Any, max_queue_size: int = 2048, **kwargs: Any) -> Any:
    """A ``BatchSpanProcessor`` (the SDK's own, unchanged) whose drops on a full queue are
    counted (``reason="queue_full"``); the SDK itself only logs a rate-limited warning."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanProcessor

    class Taking(SpanExporter):
        """Tells the processor when the batch processor takes spans off its queue."""

        def export(self, spans: Any) -> Any:
            counter.taken(len(spans))
            return exporter.export(spans)

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            flush = getattr(exporter, "force_flush", None)
            return bool(flush(timeout_millis)) if flush else True

    class CountingSpanProcessor(SpanProcessor):
        """Keeps its own count of the spans queued in the batch processor (ended minus taken
        for export): a span that ends while that count is at the queue's size is dropped."""

        def __init__(self) -> None:
            import threading

            self._lock = threading.Lock()
            self._queued = 0
            self.inner = BatchSpanProcessor(Taking(), max_queue_size=max_queue_size, **kwargs)

        def taken(self, n: int) -> None:
            with self._lock:
                self._queued = max(0, self._queued - n)

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            self.inner.on_start(span, parent_context=parent_context)

        def on_end(self, span: Any) -> None:
            if span.context.trace_flags.sampled:
                with self._lock:
                    full = self._queued >= max_queue_size
                    if not full:
                        self._queued += 1
                if full:
                    from cmdscope._sinks.otel import count_dropped

                    count_dropped("span", "queue_full")
            self.inner.on_end(span)

        def shutdown(self) -> None:
            self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return bool(self.inner.force_flush(timeout_millis))

    counter = CountingSpanProcessor()
    return counter
