"""Ledger append throughput (records/s) for each CMDSCOPE_FSYNC mode.

Baseline in the same run: the same records written with one os.write each to an O_APPEND file
(no fsync, no rotation checks), so the ratio shows what the writer itself costs.
Usage: python bench/bench_ledger.py [--records 20000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cmdscope._sinks.ledger import LedgerWriter  # noqa: E402

RECORD = {
    "schema": 1, "record_id": "0" * 32, "kind": "command", "time": "2026-11-25T12:00:00.000000Z",
    "start_ns": 1, "end_ns": 2, "duration_s": 0.001, "trace_id": "1" * 32, "span_id": "2" * 16,
    "parent_span_id": None, "name": "pytest", "process.executable.name": "pytest",
    "process.command_line": "pytest -q tests/test_api.py", "process.exit.code": 1,
    "cmdscope.actor": "claude-code", "cmdscope.packet": "PKT-42", "cmdscope.phase": "test",
    "cmdscope.outcome": "failure", "error.type": "test_failure", "cmdscope.command.hash": "abcdef0123456789",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000)
    n = ap.parse_args().records
    tmp = tempfile.mkdtemp(prefix="cmdscope-bench-")
    import json

    line = (json.dumps(RECORD, separators=(",", ":")) + "\n").encode()
    fd = os.open(f"{tmp}/raw.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    t0 = time.perf_counter()
    for _ in range(n):
        os.write(fd, line)
    base = n / (time.perf_counter() - t0)
    os.close(fd)
    print(f"ledger append, {n} records of {len(line)} bytes")
    print(f"{'baseline: bare os.write O_APPEND':<40} {base:12,.0f} records/s   ratio 1.00")
    import orjson

    from cmdscope._sinks.ledger import _json_dumps

    for encoder, dumps in (("stdlib json (CLI)", _json_dumps), ("orjson (in-process)", orjson.dumps)):
        for mode in ("never", "batch", "always"):
            count = n if mode != "always" else max(200, n // 50)
            w = LedgerWriter(f"{tmp}/{mode}.jsonl", fsync=mode, dumps=dumps)
            t0 = time.perf_counter()
            for _ in range(count):
                w.append(RECORD)
            w.close()
            rate = count / (time.perf_counter() - t0)
            label = f"FSYNC={mode}, {encoder}"
            print(f"{label:<40} {rate:12,.0f} records/s   ratio {rate / base:.2f}  ({count} records)")
    # Sealed mode (hash chain under the ledger lock): the cost of tamper evidence.
    for sealed in (False, True):
        w = LedgerWriter(f"{tmp}/seal-{sealed}.jsonl", fsync="never", dumps=orjson.dumps, seal=sealed)
        t0 = time.perf_counter()
        for _ in range(n):
            w.append(RECORD)
        w.close()
        rate = n / (time.perf_counter() - t0)
        label = f"FSYNC=never, orjson, {'sealed' if sealed else 'unsealed'}"
        print(f"{label:<40} {rate:12,.0f} records/s   ratio {rate / base:.2f}  ({n} records)")


if __name__ == "__main__":
    main()
