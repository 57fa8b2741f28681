"""Benchmark `cmdscope report failures` over a large ledger (bench/make_ledger.py makes one).

    python bench/make_ledger.py /tmp/ledger/ledger.jsonl --records 1000000 --days 14
    python bench/bench_report_failures.py /tmp/ledger/ledger.jsonl [--since 7d]

Prints, for the same window and files in the same run: the baseline (reading the lines with
no decoding at all), a full orjson decode of every line, the report's streaming read, and the
whole report (read + rollup), plus peak RSS. Ratios are against the baseline. Target: the
7-day report <= 5 s on a 2-core machine with memory that does not grow with the ledger.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import orjson

from cmdscope._reports.common import ReadStats, parse_time, read_records, segments
from cmdscope._reports.failures import failure_daily, failure_rollup


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("ledger", type=Path)
    p.add_argument("--since", default="7d")
    args = p.parse_args(argv)
    now = time.time_ns()
    since = parse_time(args.since, now_ns=now, option="--since")
    files = segments(args.ledger)

    def baseline() -> int:
        n = 0
        for f in files:
            with open(f, "rb", buffering=1 << 20) as fh:
                for _ in fh:
                    n += 1
        return n

    def full_decode() -> int:
        n = 0
        loads = orjson.loads
        for f in files:
            with open(f, "rb", buffering=1 << 20) as fh:
                for line in fh:
                    try:
                        loads(line)
                    except orjson.JSONDecodeError:
                        pass
                    n += 1
        return n

    def stream() -> int:
        return sum(1 for _ in read_records(args.ledger, since_ns=since))

    def report() -> dict:
        stats = ReadStats()
        recs = read_records(args.ledger, since_ns=since, stats=stats)
        return failure_rollup(recs, since_ns=since, now_ns=now, stats=stats)

    def daily() -> dict:
        since_d = (now // 86_400_000_000_000 - 14) * 86_400_000_000_000
        recs = read_records(args.ledger, since_ns=since_d)
        return failure_daily(recs, days=14, now_ns=now)

    t_base, lines = timed(baseline)
    print(f"ledger: {lines:,} lines in {len(files)} files; window --since {args.since}")
    print(f"{'baseline: read lines, no decode':48s} {t_base:7.2f} s   1.00x")
    rows = [
        ("orjson decode of every line (all files)", full_decode),
        ("report stream (window only)", stream),
        ("7-day report: stream + rollup", report),
        ("daily report, 14 days", daily),
    ]
    for name, fn in rows:
        t, result = timed(fn)
        extra = f"  {result:,} records" if isinstance(result, int) else ""
        if isinstance(result, dict) and "totals" in result:
            extra = f"  {result['totals']['commands']:,} commands, {result['ledger']['segments_skipped']} segments skipped"
        print(f"{name:48s} {t:7.2f} s  {t / t_base:5.2f}x{extra}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB (the ledger is {sum(f.stat().st_size for f in files) / 1e6:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
