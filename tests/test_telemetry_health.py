"""Telemetry health: spans the SDK drops or fails to export are counted by reason."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from cmdscope._config import CountingSpanExporter, counting_batch_processor


class SlowExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        time.sleep(0.05)
        return SpanExportResult.SUCCESS


class DownExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        raise ConnectionRefusedError("collector down")


def dropped(reader: InMemoryMetricReader) -> dict[str, int]:
    out: dict[str, int] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == "cmdscope.telemetry.dropped":
                    for p in m.data.data_points:
                        out[p.attributes["cmdscope.reason"]] = p.value
    return out


def with_meter(monkeypatch: Any) -> InMemoryMetricReader:
    from opentelemetry import metrics

    reader = InMemoryMetricReader()
    monkeypatch.setattr(metrics._internal, "_METER_PROVIDER", MeterProvider(metric_readers=[reader]))
    return reader


def test_full_batch_queue_is_counted(monkeypatch: Any) -> None:
    """4 threads ending spans faster than a slow exporter drains a 64-span queue: every span
    the processor drops is counted as queue_full."""
    import threading

    reader = with_meter(monkeypatch)
    tp = TracerProvider()
    tp.add_span_processor(counting_batch_processor(SlowExporter(), max_queue_size=64, max_export_batch_size=16))
    tracer = tp.get_tracer("t")

    def produce() -> None:
        for _ in range(500):
            tracer.start_span("x").end()

    threads = [threading.Thread(target=produce) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tp.shutdown()
    assert dropped(reader).get("queue_full", 0) > 100


def test_failed_exports_are_counted_and_never_raise(monkeypatch: Any) -> None:
    """An exporter that raises becomes a counted failure, not an exception in the host."""
    reader = with_meter(monkeypatch)
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(CountingSpanExporter(DownExporter())))
    tracer = tp.get_tracer("t")
    for _ in range(3):
        tracer.start_span("x").end()
    assert dropped(reader) == {"export_failed": 3}
