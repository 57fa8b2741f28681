"""`cmdscope.run(["true"])` against `subprocess.run(["true"])`, in one process.

Span (real SDK, BatchSpanProcessor), metrics (real SDK meter provider), ledger (batch fsync) and
redaction are all on. Interleaved blocks, medians. Bound (issue 2): ratio <= 1.15.
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

    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    trace.set_tracer_provider(tp)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))

    def bare() -> None:
        subprocess.run(["true"])

    def observed() -> None:
        cmdscope.run(["true"])

    for fn in (bare, observed):
        for _ in range(30):
            fn()
    samples: dict[str, list[float]] = {"bare": [], "observed": []}
    block = 20
    for _ in range(args.runs // block):
        for name, fn in (("bare", bare), ("observed", observed)):
            for _ in range(block):
                t0 = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - t0) * 1000)
    base = median(samples["bare"])
    print(f"in-process, median of {len(samples['bare'])} runs each (span + metrics + ledger + redaction on)")
    print(line("baseline: subprocess.run(['true'])", base, base))
    print(line("cmdscope.run(['true'])", median(samples["observed"]), base, bound=1.15))
    print(f"  overhead per command: {(median(samples['observed']) - base) * 1000:.0f} us;"
          f" p99 observed {pct(samples['observed'], 0.99):.3f} ms vs bare {pct(samples['bare'], 0.99):.3f} ms")
    tp.shutdown()


if __name__ == "__main__":
    main()
