"""Many short commands (the long variant of tests/test_faults.py's "many short commands" case).

Runs N `cmdscope.run(["true"])` in a loop and, as the baseline in the same run, N bare
`subprocess.run(["true"])`; prints commands/s for both, the ratio, and checks that the ledger
holds exactly N valid records (every line parses, every record a successful `true`).
Usage: python bench/bench_faults.py [--commands 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commands", type=int, default=10_000)
    n = ap.parse_args().commands
    tmp = tempfile.mkdtemp(prefix="cmdscope-bench-faults-")
    ledger = Path(tmp) / "ledger.jsonl"
    os.environ["CMDSCOPE_LEDGER"] = str(ledger)
    os.environ["XDG_STATE_HOME"] = str(Path(tmp) / "state")
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "CMDSCOPE_NOTIFY_WEBHOOKS", "CMDSCOPE_PACKET"):
        os.environ.pop(var, None)

    import cmdscope

    cmdscope.run(["true"], ledger=str(Path(tmp) / "warmup.jsonl"))  # imports and caches, not timed

    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(["true"], check=False)
    bare_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    codes = [cmdscope.run(["true"]).returncode for _ in range(n)]
    scoped_s = time.perf_counter() - t0

    bad_lines, records = 0, []
    with open(ledger, "rb") as fh:
        for raw in fh:
            try:
                records.append(json.loads(raw))
            except ValueError:
                bad_lines += 1
    wrong = sum(1 for r in records if r.get("cmdscope.outcome") != "success" or r.get("process.exit.code") != 0)
    ids = len({r.get("record_id") for r in records})

    print(f"{n} commands, python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    print(f"bare subprocess.run(['true'])     {n / bare_s:9.0f} commands/s   {bare_s / n * 1e3:.3f} ms each")
    print(f"cmdscope.run(['true'])            {n / scoped_s:9.0f} commands/s   {scoped_s / n * 1e3:.3f} ms each")
    print(f"ratio cmdscope / bare (time)      {scoped_s / bare_s:9.2f}")
    print(f"ledger: {len(records)} records, {ids} distinct ids, {bad_lines} unparsable lines, "
          f"{wrong} not success/exit 0, exit codes all 0: {all(c == 0 for c in codes)}")
    ok = len(records) == n == ids and bad_lines == 0 and wrong == 0 and all(c == 0 for c in codes)
    print("OK" if ok else "FAIL: the ledger does not hold exactly one valid record per command")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
