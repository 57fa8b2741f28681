"""`cmdscope.run(["true"])` against `subprocess.run(["true"])`, in one process.

Span (real SDK, BatchSpanProcessor), metrics (real SDK meter provider), ledger (batch fsync) and
redaction are all on. Interleaved blocks, medians. Bound (issue 2): ratio <= 1.15.

Also printed, to show where the time goes (same run, same baseline):
- `runner.execute`: our spawn (Popen's fork_exec called directly + the stderr relay) with no bookkeeping at all;
- `cmdscope.run`, no SDK: guard, context, redaction and the ledger line, no spans or metrics;
- floor: spawn + relay + one ledger line, nothing else: the one sink that must be done before
  `run()` returns (the record of truth; the span's end and the metrics are handed to the SDK
  after the return when its processors batch, see docs/architecture.md). What is left between
  this line and the full one is cmdscope's own bookkeeping before the spawn and after the exit.

Usage: python bench/bench_inprocess.py [--runs 600]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _stats import line, median, pct  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=600)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cmdscope-bench-")
    os.environ["CMDSCOPE_LEDGER"] = f"{tmp}/ledger.jsonl"
    os.environ["XDG_STATE_HOME"] = f"{tmp}/state"

    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import cmdscope
    from cmdscope import pipeline, runner
    from cmdscope.sinks import otel

    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    trace.set_tracer_provider(tp)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    with_sdk = {"on": True}
    real_tracer_provider, real_meter_provider = otel.sdk_tracer_provider, otel.sdk_meter_provider
    otel.sdk_tracer_provider = lambda: real_tracer_provider() if with_sdk["on"] else None  # type: ignore[assignment]
    otel.sdk_meter_provider = lambda: real_meter_provider() if with_sdk["on"] else None  # type: ignore[assignment]

    record = cmdscope.run(["true"]).record
    writer = pipeline.ledger_writer()

    def bare() -> None:
        subprocess.run(["true"])

    def observed() -> None:
        cmdscope.run(["true"])

    def spawn_only() -> None:
        runner.execute(["true"])

    def no_sdk() -> None:
        with_sdk["on"] = False
        try:
            cmdscope.run(["true"])
        finally:
            with_sdk["on"] = True

    def floor() -> None:
        # The least a design with a synchronous ledger line can do: spawn, wait, one line.
        runner.execute(["true"])
        writer.append(record)

    cases = {"bare": bare, "observed": observed, "spawn": spawn_only, "no_sdk": no_sdk, "floor": floor}
    for fn in cases.values():
        for _ in range(30):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    block = 20
    for _ in range(max(1, args.runs // block)):
        for name, fn in cases.items():
            for _ in range(block):
                t0 = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - t0) * 1000)
    cmdscope.flush()
    base = median(samples["bare"])
    print(f"in-process, median of {len(samples['bare'])} runs each (span + metrics + ledger + redaction on)")
    print(line("baseline: subprocess.run(['true'])", base, base))
    print(line("cmdscope.run(['true'])", median(samples["observed"]), base, bound=1.15))
    print(f"  overhead per command: {(median(samples['observed']) - base) * 1000:.0f} us;"
          f" p99 observed {pct(samples['observed'], 0.99):.3f} ms vs bare {pct(samples['bare'], 0.99):.3f} ms")
    print("where the time goes:")
    print(line("  runner.execute: spawn + stderr relay only", median(samples["spawn"]), base))
    print(line("  cmdscope.run, no SDK (guard, context, ledger)", median(samples["no_sdk"]), base))
    print(line("  floor: spawn + one ledger line only", median(samples["floor"]), base))
    tp.shutdown()


if __name__ == "__main__":
    main()
