"""Benchmark the failure classifier over the labelled corpus (tests/data/failure_corpus).

    python bench/bench_classify.py

Prints median and p99 microseconds per classification, against a baseline measured in the
same run: decoding the same stderr/stdout tails (the least work any classifier must do).
Target: median <= 100 us per failed command. Also the cost of observe() in RetryTracker
(target <= 200 us) and of loading the taxonomy from its pickle cache.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from cmdscope.failures import RetryTracker, default_classifier

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "failure_corpus"


def main() -> int:
    cases = [json.loads(p.read_text()) for p in sorted(CORPUS.glob("*/*.json"))]
    inputs = [dict(exit_code=c["exit_code"], signal=c["signal"], executable=c["executable"], argv=c["argv"],
                   phase=c["phase"], outcome=c["outcome"], stderr_tail=c["stderr"].encode(),
                   stdout_tail=c["stdout"].encode()) for c in cases]
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

    from cmdscope.failures.taxonomy import load_taxonomy

    load_taxonomy()
    loads = []
    for _ in range(20):
        t = time.perf_counter_ns()
        load_taxonomy()
        loads.append((time.perf_counter_ns() - t) / 1e6)
    print(f"taxonomy load from cache  median {statistics.median(loads):7.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
