"""Benchmark the failure classifier over the labelled corpus (tests/data/failure_corpus).

    python bench/bench_classify.py [--against OLD_CHECKOUT]

Prints median and p99 microseconds per classification, against a baseline measured in the
same run: decoding the same stderr/stdout tails (the least work any classifier must do).
Target: median <= 100 us per failed command. Also the cost of observe() in RetryTracker
(target <= 200 us) and of loading the taxonomy from its pickle cache.

--against DIR classifies the same corpus with another checkout's engine and taxonomy (e.g.
`git archive 0cc5e85 src registry | tar -x -C /tmp/old`) in a child process, in the same run, and
prints the ratio. Budget (issue 22): within 2x of taxonomy 1.0.0.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cmdscope._failures import RetryTracker, default_classifier

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "failure_corpus"


def main() -> int:
    if "--median-only" in sys.argv:
        print(statistics.median(_classify_samples()))
        return 0
    against = sys.argv[sys.argv.index("--against") + 1] if "--against" in sys.argv else None
    inputs = _inputs()
    clf = default_classifier()
    for kw in inputs:  # warm up: compile the lazily compiled regexes once
        clf.classify(**kw)

    def per_call(fn, rounds: int = 20) -> list[float]:  # type: ignore[no-untyped-def]
        samples = []
        for _ in range(rounds):
            for kw in inputs:
                t = time.perf_counter_ns()
                fn(kw)
                samples.append((time.perf_counter_ns() - t) / 1000)
        return samples

    base = per_call(lambda kw: (kw["stderr_tail"][-8192:].decode("utf-8", "replace"),
                                (kw["stdout_tail"] or b"")[-8192:].decode("utf-8", "replace")))
    real = per_call(lambda kw: clf.classify(**kw))
    bmed, med = statistics.median(base), statistics.median(real)
    p99 = sorted(real)[int(len(real) * 0.99)]
    print(f"corpus: {len(inputs)} failures, {len(real):,} classifications")
    print(f"baseline (decode tails)   median {bmed:7.1f} us")
    print(f"classify                  median {med:7.1f} us  p99 {p99:7.1f} us  ratio {med / bmed:5.1f}x  "
          f"(target median <= 100 us: {'ok' if med <= 100 else 'MISSED'})")

    with tempfile.TemporaryDirectory() as tmp:
        tracker = RetryTracker(Path(tmp), window_s=3600)
        samples = []
        now = time.time_ns()
        for i in range(2000):
            t = time.perf_counter_ns()
            tracker.observe(f"h{i % 50:014d}", "sess-1", "PKT-1", i % 3 != 0, f"r{i}", now + i)
            samples.append((time.perf_counter_ns() - t) / 1000)
        rmed = statistics.median(samples)
        print(f"RetryTracker.observe      median {rmed:7.1f} us  p99 {sorted(samples)[int(len(samples) * 0.99)]:7.1f} us  "
              f"ratio {rmed / bmed:5.1f}x  (target <= 200 us: {'ok' if rmed <= 200 else 'MISSED'})")

    from cmdscope._failures.taxonomy import load_taxonomy

    load_taxonomy()
    loads = []
    for _ in range(20):
        t = time.perf_counter_ns()
        load_taxonomy()
        loads.append((time.perf_counter_ns() - t) / 1e6)
    print(f"taxonomy load from cache  median {statistics.median(loads):7.2f} ms")
    if against:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "PYTHONPATH": str(Path(against) / "src"), "XDG_CACHE_HOME": cache}
            ref = float(subprocess.run([sys.executable, __file__, "--median-only"], env=env, check=True,
                                       capture_output=True, text=True).stdout)
        again = statistics.median(_classify_samples())
        print(f"against {against}: median {ref:7.1f} us, this checkout {again:7.1f} us  ratio {again / ref:4.2f}x  "
              f"(budget <= 2x: {'ok' if again <= 2 * ref else 'MISSED'})")
    return 0


def _inputs() -> list[dict]:
    cases = [json.loads(p.read_text()) for p in sorted(CORPUS.glob("*/*.json"))]
    return [{"exit_code": c["exit_code"], "signal": c["signal"], "executable": c["executable"], "argv": c["argv"],
             "phase": c["phase"], "outcome": c["outcome"], "stderr_tail": c["stderr"].encode(),
             "stdout_tail": c["stdout"].encode()} for c in cases]


def _classify_samples(rounds: int = 20) -> list[float]:
    """Per-call microseconds of the importable cmdscope's classifier over this corpus."""
    inputs = _inputs()
    clf = default_classifier()
    for kw in inputs:
        clf.classify(**kw)
    samples = []
    for _ in range(rounds):
        for kw in inputs:
            t = time.perf_counter_ns()
            clf.classify(**kw)
            samples.append((time.perf_counter_ns() - t) / 1000)
    return samples


if __name__ == "__main__":
    raise SystemExit(main())
