"""Cost of auto-instrumentation: instrumented ``subprocess.run(["true"])`` vs the bare call.

Measured in the same run, interleaved in blocks so machine noise hits every variant alike;
printed are medians per call and ratios to the bare call. First with the ledger only (no OTel
SDK in the process), then with a real SDK (BatchSpanProcessor, SDK meter provider) as
``bench_inprocess.py`` sets it up. Context, guard, classification, retry tracking and redaction
are on throughout. ``cmdscope.run(["true"])`` is printed alongside: the instrumented call builds
the same record, so the two should cost about the same.

Usage: python bench/bench_instrumentation.py [--runs 400]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _stats import line, median

BLOCK = 20


def measure(runs: int) -> dict[str, float]:
    import cmdscope

    def bare() -> None:
        subprocess.run(["true"], check=False)

    def run_api() -> None:
        cmdscope.run(["true"])

    variants: list[tuple[str, Callable[[], None], bool]] = [
        ("bare", bare, False), ("instrumented", bare, True), ("cmdscope.run", run_api, False)]
    samples: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for rounds in (1, runs // BLOCK):  # the first pass warms up and is discarded
        for xs in samples.values():
            xs.clear()
        for _ in range(rounds):
            for name, fn, instrumented in variants:
                if instrumented:
                    cmdscope.instrument()
                for _ in range(BLOCK):
                    t0 = time.perf_counter()
                    fn()
                    samples[name].append((time.perf_counter() - t0) * 1000)
                if instrumented:
                    cmdscope.uninstrument()
    return {name: median(xs) for name, xs in samples.items()}


def install_sdk() -> None:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))


def report(title: str, medians: dict[str, float]) -> None:
    base = medians["bare"]
    print(title)
    print(line("  baseline: subprocess.run(['true'])", base, base))
    print(line("  instrumented subprocess.run(['true'])", medians["instrumented"], base))
    print(line("  reference: cmdscope.run(['true'])", medians["cmdscope.run"], base))
    print(f"  instrumentation overhead per child: {(medians['instrumented'] - base) * 1000:.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400, help="calls per variant (default 400)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cmdscope-bench-") as tmp:
        os.environ["CMDSCOPE_LEDGER"] = os.path.join(tmp, "ledger.jsonl")
        os.environ["XDG_STATE_HOME"] = os.path.join(tmp, "state")
        os.chdir(tmp)  # outside any git checkout, like an agent's scratch directory
        print(f"median of {args.runs} calls per variant, interleaved blocks of {BLOCK}")
        report("ledger only (no OTel SDK in the process)", measure(args.runs))
        install_sdk()
        report("ledger + SDK span (BatchSpanProcessor) + SDK metrics", measure(args.runs))


if __name__ == "__main__":
    main()
