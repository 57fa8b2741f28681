"""``cmdscope.configure()``: set up the OTel SDK for a process that has not done so itself.

Precedence for every setting: argument > standard ``OTEL_*`` environment variable > default.
A host that already installed an SDK tracer or meter provider keeps it: cmdscope then uses the
host's providers, so command spans nest under the agent's own spans.
"""

from __future__ import annotations

import os
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
    if value is not None:
        return value
    raw = os.environ.get(env)
    return raw if raw not in (None, "") else default


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
    from cmdscope.sinks.otel import sdk_meter_provider, sdk_tracer_provider

    has_endpoint = bool(endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    default_exporter = "otlp" if has_endpoint else "none"
    service = _setting(service_name, "OTEL_SERVICE_NAME", "cmdscope")
    protocol = _setting(protocol, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    timeout = float(_setting(export_timeout_s, "OTEL_EXPORTER_OTLP_TIMEOUT", 2.0))
    if timeout > 100:  # the variable is in milliseconds per the spec
        timeout = timeout / 1000.0
    resource = Resource.create({"service.name": service, "cmdscope.version": __version__})

    tracer_provider = sdk_tracer_provider()
    if tracer_provider is None:
        tracer_provider = TracerProvider(resource=resource)
        exporter = span_exporter or _span_exporter(
            _setting(traces_exporter, "OTEL_TRACES_EXPORTER", default_exporter), protocol, endpoint, timeout
        )
        if exporter is not None:
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            exporter = CountingSpanExporter(exporter)
            processor = SimpleSpanProcessor(exporter) if span_processor == "simple" else counting_batch_processor(exporter)
            tracer_provider.add_span_processor(processor)
        trace.set_tracer_provider(tracer_provider)

    meter_provider = sdk_meter_provider()
    port: int | None = None
    if meter_provider is None:
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
                _metric_exporter(kind, protocol, endpoint, timeout), export_interval_millis=interval
            ))
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        metrics.set_meter_provider(meter_provider)
    return Configured(tracer_provider, meter_provider, port)


def _span_exporter(kind: str, protocol: str, endpoint: str | None, timeout: float) -> Any:
    if kind in ("none", ""):
        return None
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER={kind!r}: cmdscope supports otlp, console, none")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint, timeout=timeout)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    url = endpoint.rstrip("/") + "/v1/traces" if endpoint else None
    return OTLPSpanExporter(endpoint=url, timeout=timeout)


def _metric_exporter(kind: str, protocol: str, endpoint: str | None, timeout: float) -> Any:
    if kind == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        return ConsoleMetricExporter()
    if kind != "otlp":
        raise ValueError(f"OTEL_METRICS_EXPORTER={kind!r}: cmdscope supports otlp, prometheus, console, none")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint, timeout=timeout)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    url = endpoint.rstrip("/") + "/v1/metrics" if endpoint else None
    return OTLPMetricExporter(endpoint=url, timeout=timeout)


# --- telemetry health: what the SDK drops is counted, never silently lost ----------------------


from opentelemetry.sdk.trace.export import SpanExporter  # noqa: E402  (this module is the SDK's setup)


class CountingSpanExporter(SpanExporter):
    """Delegates to a span exporter and counts spans of failed exports in
    ``cmdscope.telemetry.dropped{sink="span", reason="export_failed"}``; never raises."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        from cmdscope.sinks.otel import count_dropped

        try:
            result = self._inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        if result != SpanExportResult.SUCCESS:
            for _ in range(len(spans)):
                count_dropped("span", "export_failed")
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flush = getattr(self._inner, "force_flush", None)
        return bool(flush(timeout_millis)) if flush else True


def counting_batch_processor(exporter: Any, **kwargs: Any) -> Any:
    """A BatchSpanProcessor that counts the spans it drops when its queue is full
    (``reason="queue_full"``); the SDK itself only logs a rate-limited warning."""
    return _counting_batch_class()(exporter, **kwargs)


_counting_classes: list[Any] = []  # the class, made once (it subclasses an SDK class)


def _counting_batch_class() -> Any:
    if not _counting_classes:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from cmdscope.sinks.otel import count_dropped

        class CountingBatchSpanProcessor(BatchSpanProcessor):
            # Its on_end only counts: a span may reach it after run() returns (otel.batches_only).
            _cmdscope_batching = True

            def on_end(self, span: Any) -> None:
                inner = getattr(self, "_batch_processor", None)
                queue = getattr(inner, "_queue", None)
                limit = getattr(inner, "_max_queue_size", None)
                if queue is not None and limit is not None and len(queue) >= limit:
                    count_dropped("span", "queue_full")
                super().on_end(span)

        _counting_classes.append(CountingBatchSpanProcessor)
    return _counting_classes[0]
