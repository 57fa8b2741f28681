"""SDLC records (packet, gate, commit, pipeline, heartbeat, audit) through the recorder.

They must not reach the command metrics (they are not commands), so the recorder is given the
SDLC metrics here; everything else (redaction, ledger, span end, notify) is the recorder's.
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping

from cmdscope import _pipeline as pipeline
from cmdscope._sinks import otel


def start_span(name: str, start_ns: int, *, kind: str = "INTERNAL", environ: Mapping[str, str] | None = None) -> otel.SpanHandle:
    """A span for an SDLC step, through the OTel API (ids only when it is not loaded).

    Same parent rules as command spans: the current span, else ``TRACEPARENT``, else the
    worktree's active packet.
    """
    return otel.start_span(name, start_ns, os.environ if environ is None else environ, kind=kind)


def new(kind: str, name: str, span: otel.SpanHandle, start_ns: int, end_ns: int | None = None) -> dict[str, Any]:
    """The envelope of an SDLC record, with the ids of ``span``."""
    end = time.time_ns() if end_ns is None else end_ns
    rec = pipeline.new_record(kind, name)
    rec.update(
        time=pipeline.iso_time(end), start_ns=start_ns, end_ns=end, duration_s=max(0, end - start_ns) / 1e9,
        trace_id=span.trace_id, span_id=span.span_id, parent_span_id=span.parent_span_id,
    )
    rec["host.name"] = pipeline.HOST
    return rec


def write(rec: dict[str, Any], span: otel.SpanHandle | None = None, ledger: str | None = None) -> dict[str, Any]:
    """Redact, append to the ledger, end the span, update the SDLC metrics. Never raises for a
    telemetry failure (the ledger reports its own drops)."""
    return pipeline.RECORDER.write(rec, span, ledger, _record_metrics)


def _record_metrics(rec: dict[str, Any], span: otel.SpanHandle | None) -> None:
    m = metrics()
    if m is not None:
        m.record(rec)


class SdlcMetrics:
    """Packet, gate, merge, commit, pipeline and heartbeat metrics; labels are bounded (no
    packet ids, no paths: gate and heartbeat names are operator-chosen, few)."""

    def __init__(self, provider: Any) -> None:
        from cmdscope._version import __version__

        meter = provider.get_meter("cmdscope", __version__)
        self.provider = provider
        self.packet_duration = meter.create_histogram(
            "cmdscope.packet.duration", unit="s", description="Wall time of work packets",
            explicit_bucket_boundaries_advisory=[60, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, 259200],
        )
        self.packet_commands = meter.create_histogram(
            "cmdscope.packet.commands", unit="{command}", description="Commands per work packet",
            explicit_bucket_boundaries_advisory=[1, 5, 10, 25, 50, 100, 250, 500, 1000],
        )
        self.packet_density = meter.create_histogram(
            "cmdscope.packet.failure_density", unit="1", description="Failed / all commands of a packet",
            explicit_bucket_boundaries_advisory=[0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1],
        )
        self.gates = meter.create_counter("cmdscope.gate.results", unit="{gate}", description="Gate evaluations")
        self.merges = meter.create_counter("cmdscope.merges", unit="{merge}", description="Merge decisions")
        self.commits = meter.create_counter("cmdscope.commits", unit="{commit}", description="Commits recorded")
        self.last_success = meter.create_gauge(
            "cmdscope.heartbeat.last_success", unit="s", description="Unix time of the last successful check-in"
        )
        self.schedule_runs = meter.create_counter("cmdscope.schedule.runs", unit="{run}", description="Scheduled check-ins")
        self.pipeline_duration = meter.create_histogram(
            "cicd.pipeline.run.duration", unit="s", description="Duration of pipeline runs"
        )

    def record(self, rec: dict[str, Any]) -> None:
        kind = rec.get("kind")
        if kind == "packet":
            labels = {"cmdscope.actor": rec.get("cmdscope.actor") or "user"}
            self.packet_duration.record(rec.get("duration_s", 0.0), labels)
            self.packet_commands.record(rec.get("cmdscope.packet.commands", 0), labels)
            self.packet_density.record(rec.get("cmdscope.packet.failure_density", 0.0), labels)
        elif kind == "gate":
            self.gates.add(1, {"cmdscope.gate.name": rec.get("cmdscope.gate.name") or "unnamed",
                               "cmdscope.gate.result": rec.get("cmdscope.gate.result") or "fail"})
        elif kind == "commit":
            self.commits.add(1, {"cmdscope.commit.atomic": bool(rec.get("cmdscope.commit.atomic"))})
        elif kind == "pipeline" and "cicd.pipeline.task.name" not in rec:
            self.pipeline_duration.record(rec.get("duration_s", 0.0), {
                "cicd.pipeline.name": rec.get("cicd.pipeline.name") or "pipeline",
                "cicd.pipeline.result": rec.get("cicd.pipeline.result") or "error",
            })
            if rec.get("cmdscope.merge.result"):
                self.merges.add(1, {"cmdscope.merge.result": rec["cmdscope.merge.result"]})
        if kind in ("heartbeat", "audit") and rec.get("cmdscope.heartbeat.name"):
            name = rec["cmdscope.heartbeat.name"]
            self.schedule_runs.add(1, {"cmdscope.heartbeat.name": name,
                                       "cmdscope.schedule.on_time": bool(rec.get("cmdscope.schedule.on_time"))})
            if rec.get("cmdscope.outcome") == "success":
                self.last_success.set(rec["end_ns"] / 1e9, {"cmdscope.heartbeat.name": name})


_metrics: SdlcMetrics | None = None


def metrics() -> SdlcMetrics | None:
    global _metrics
    api = otel._api("opentelemetry.metrics")
    if api is None:
        return None
    provider = api.get_meter_provider()
    if _metrics is None or _metrics.provider is not provider:
        _metrics = SdlcMetrics(provider)
    return _metrics
