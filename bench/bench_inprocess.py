"""`cmdscope.run(...)` against `subprocess.run(...)`, in one process.

Span (real SDK, BatchSpanProcessor), metrics (real SDK meter provider), ledger and redaction are
all on. Interleaved blocks, medians of CPU time (user+sys of this process and of the children it
waited for: on a loaded machine wall time measures the scheduler), wall time printed after it.
Bounds (issue 14):
- `cmdscope.run(["true"])` / `subprocess.run(["true"])` <= 1.5 (what the simple core costs on
  the shortest command there is);
- `git status` in a repository of 2,000 tracked files <= 1.05 (a realistic command).

Usage: python bench/bench_inprocess.py [--runs 600]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _stats import line, median, pct  # noqa: E402


def cpu() -> float:
    """Seconds of CPU used by this process and by the children it has waited for."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def git_repo(where: str, files: int = 2000) -> str:
    repo = os.path.join(where, "repo")
    os.makedirs(repo)
    for i in range(files):
        sub = os.path.join(repo, f"d{i % 40}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"f{i}.txt"), "w") as fh:
            fh.write(f"{i}\n")
    git = ["git", "-C", repo, "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "files"], check=True)
    return repo


def sdk_floor(argv: list[str], record: dict[str, object], **popen: object) -> object:
    """What any instrumentation on the public OTel API pays per command, without cmdscope: a
    span started before the child and ended after it with the record's attributes, the child's
    TRACEPARENT/BAGGAGE injected by the global propagator into a copy of the environment, a
    counter and a histogram point with the command's label set (informational: the floor of
    the in-process figures)."""
    from opentelemetry import baggage, metrics, propagate, trace

    from cmdscope._sinks import otel

    tracer = trace.get_tracer("floor")
    meter = metrics.get_meter("floor")
    counter = meter.create_counter("floor.commands")
    histogram = meter.create_histogram("floor.duration")
    attrs = otel.span_attributes(record)
    labels = {k: str(record.get(k) or "none") for k in otel.METRIC_ATTRS}
    labels["process.executable.name"] = otel.bounded_executable(str(record.get("process.executable.name")))

    def run() -> None:
        span = tracer.start_span(argv[0], kind=trace.SpanKind.CLIENT)
        ctx = baggage.set_baggage("cmdscope.actor", "user", trace.set_span_in_context(span))
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=ctx)
        env = dict(os.environb)
        env.update((k.upper().encode(), v.encode()) for k, v in carrier.items())
        t0 = time.monotonic()
        subprocess.run(argv, env=env, **popen)  # type: ignore[call-overload]
        span.set_attributes(attrs)
        span.end()
        counter.add(1, labels, ctx)
        histogram.record(time.monotonic() - t0, labels, ctx)

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=600)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cmdscope-bench-")
    os.environ["CMDSCOPE_LEDGER"] = f"{tmp}/ledger.jsonl"
    os.environ["XDG_STATE_HOME"] = f"{tmp}/state"
    repo = git_repo(tmp)

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

    status = ["git", "-C", repo, "status", "--porcelain"]
    floor_true = sdk_floor(["true"], cmdscope.run(["true"]).record)
    floor_status = sdk_floor(status, cmdscope.run(status, stdout=subprocess.DEVNULL).record, stdout=subprocess.DEVNULL)
    short = {"bare": lambda: subprocess.run(["true"]), "observed": lambda: cmdscope.run(["true"]),
             "floor": floor_true}
    real = {"bare": lambda: subprocess.run(status, stdout=subprocess.DEVNULL),
            "observed": lambda: cmdscope.run(status, stdout=subprocess.DEVNULL), "floor": floor_status}

    def sample(cases: dict[str, object], runs: int, block: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
        for fn in cases.values():
            for _ in range(10):
                fn()  # type: ignore[operator]
        out: dict[str, list[float]] = {name: [] for name in cases}
        walls: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(max(1, runs // block)):
            for name, fn in cases.items():
                for _ in range(block):
                    c0, t0 = cpu(), time.perf_counter()
                    fn()  # type: ignore[operator]
                    walls[name].append((time.perf_counter() - t0) * 1000)
                    out[name].append((cpu() - c0) * 1000)
        return out, walls

    s, sw = sample(short, args.runs, 20)
    g, gw = sample(real, max(40, args.runs // 6), 5)
    cmdscope.flush()
    print("in-process, medians of CPU time (span + metrics + ledger + redaction on, BatchSpanProcessor);"
          " wall time after it")

    def show(label: str, xs: dict[str, list[float]], ws: dict[str, list[float]], name: str,
             bound: float | None = None) -> None:
        print(line(label, median(xs[name]), median(xs["bare"]), bound=bound)
              + f"   wall {median(ws[name]):.3f} ms ({median(ws[name]) / median(ws['bare']):.2f}x)")

    show("baseline: subprocess.run(['true'])", s, sw, "bare")
    show("cmdscope.run(['true'])", s, sw, "observed", 1.5)
    print(f"  overhead per command: {(median(s['observed']) - median(s['bare'])) * 1000:.0f} us CPU;"
          f" p99 wall observed {pct(sw['observed'], 0.99):.3f} ms vs bare {pct(sw['bare'], 0.99):.3f} ms")
    show("  floor: the same through the OTel API alone", s, sw, "floor")
    show("baseline: subprocess.run(git status, 2000 files)", g, gw, "bare")
    show("cmdscope.run(git status, 2000 files)", g, gw, "observed", 1.05)
    show("  floor: the same through the OTel API alone", g, gw, "floor")
    tp.shutdown()


if __name__ == "__main__":
    main()
