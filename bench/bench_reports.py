"""Every report and ledger view over 1M- and 3M-record ledgers: wall time, CPU, peak RSS.

    python bench/bench_reports.py [--sizes 1000000,3000000] [--dir /tmp/cmdscope-bench-reports]
                                  [--repeat 1] [--keep] [--against OLD/src]

Builds each ledger with bench/make_ledger.py (14 days, 64 MB segments; ~0.87 KB a record, so
3M records are ~2.6 GB: check the free space), then runs each command as the user does
(``python -m cmdscope ...`` in a child process, stdout to /dev/null) and reads its CPU time and
peak RSS from wait4(). The baseline is a bare line read of the same files in a child process
(no decoding): cpu/base says how far each report is from reading the bytes at all. For the
larger sizes the last columns give CPU time and RSS against the first size, so growth with the
ledger is visible (linear time = the records ratio; flat RSS = 1.0). CPU time is the figure to
compare on a shared machine; wall time is what a user waits (the minimum of --repeat runs). CPU
time and peak RSS include the worker processes of the reports that fold their pass over them
(``procs``; each of those is also timed with ``CMDSCOPE_REPORT_JOBS=1``, the one-process read).
Targets (issue 23): at 1M every report <= 5 s wall and <= 200 MB peak RSS on a 2-core machine;
at 3M time at most linear and peak RSS within 1.5x of 1M. Ledgers are deleted unless --keep (which also reads a ledger kept by an earlier run again).
``--against DIR`` also runs the failures reports with another source tree on the path (the code
before the shared reader: ``git archive 5876dc6 src | tar -x -C /tmp/old``), interleaved with this
tree's runs, so "no slower than before" is measured under the same load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS: list[tuple[str, list[str]]] = [
    ("report packets", ["report", "packets"]),
    ("report packets --weekly", ["report", "packets", "--weekly"]),
    ("report commits", ["report", "commits"]),
    ("report schedule", ["report", "schedule"]),
    ("report denials", ["report", "denials"]),
    ("report danger", ["report", "danger"]),
    ("report html", ["report", "html", "-o", os.devnull]),
    ("report html --no-governance", ["report", "html", "-o", os.devnull, "--no-governance"]),
    ("rate", ["rate"]),
    ("report failures --weekly", ["report", "failures", "--weekly"]),
    ("report governance", ["report", "governance"]),
    ("report coverage (no transcripts)", ["report", "coverage", "--claude-dir", os.devnull + "-none",
                                          "--opencode-dir", os.devnull + "-none", "--codex-dir", os.devnull + "-none"]),
    ("report failures (1d)", ["report", "failures"]),
    ("report failures --since 7d", ["report", "failures", "--since", "7d"]),
    ("report failures --since 30d", ["report", "failures", "--since", "30d"]),
    ("report failures --daily", ["report", "failures", "--daily"]),
    ("ledger tail", ["ledger", "tail"]),
    ("ledger query --kind packet", ["ledger", "query", "--kind", "packet"]),
    ("ledger query --since 1d --outcome failure", ["ledger", "query", "--since", "1d", "--outcome", "failure"]),
]
# Reports that fold their pass over worker processes (cmdscope._reports.parallel): each is also run
# with CMDSCOPE_REPORT_JOBS=1, interleaved, so the gain is measured under the same load.
FOLDED = {"report html", "report html --no-governance", "rate", "report failures --weekly",
          "report failures --since 7d", "report failures --since 30d", "report failures --daily"}
BASELINE = """
import sys
n = 0
for f in sys.argv[1:]:
    with open(f, "rb", buffering=1 << 20) as fh:
        for _ in fh:
            n += 1
"""


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MB, exit code) of one child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode


def best(argv: list[str], env: dict[str, str], repeat: int) -> tuple[float, float, float, int]:
    runs = [run(argv, env) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs), runs[-1][3]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1000000,3000000")
    p.add_argument("--dir", type=Path, default=Path("/tmp/cmdscope-bench-reports"))
    p.add_argument("--repeat", type=int, default=1, help="runs per command; the fastest is shown")
    p.add_argument("--keep", action="store_true", help="keep the generated ledgers")
    p.add_argument("--against", type=Path, help="another src/ tree to time the failures reports with")
    p.add_argument("--jobs", type=int, default=0, help="processes of the folded reports (default: the usable CPUs)")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "src"))
    from cmdscope._reports.parallel import MIN_PARALLEL_BYTES, usable_cpus

    cpus = args.jobs or usable_cpus()
    # the folded reports with a fixed number of processes: "auto" also reads in one process
    # when no CPU is idle (the load average), which would make the rows depend on other jobs
    env["CMDSCOPE_REPORT_JOBS"] = str(cpus)
    serial_env = dict(env, CMDSCOPE_REPORT_JOBS="1")
    first: dict[str, tuple[float, float, float]] = {}
    try:
        for size in sizes:
            ledger = args.dir / str(size) / "ledger.jsonl"
            t = time.perf_counter()
            if not (args.keep and ledger.exists()):  # --keep: a ledger kept by an earlier run is read again
                subprocess.run([sys.executable, str(ROOT / "bench" / "make_ledger.py"), str(ledger), "--records",
                                str(size), "--days", "14", "--seed", "1"], check=True, env=env)
            from cmdscope._ledger_reader import segments

            files = [str(f) for f in segments(ledger)]
            mb = sum(os.path.getsize(f) for f in files) / 1e6
            load = os.getloadavg()[0]
            print(f"\n{size:,} records, {mb:.0f} MB in {len(files)} files (made in {time.perf_counter() - t:.0f} s); "
                  f"load average {load:.1f} on {os.cpu_count()} cores; the folded reports use {cpus} processes "
                  f"(CMDSCOPE_REPORT_JOBS={cpus}; auto: one per usable CPU from {MIN_PARALLEL_BYTES >> 20} MB of "
                  f"segments, one when no CPU is idle)")
            base = best([sys.executable, "-c", BASELINE, *files], env, args.repeat)
            head = f"{'command':44s} {'procs':>5s} {'wall s':>7s} {'cpu s':>6s} {'RSS MB':>7s} {'cpu/base':>8s}"
            if first:
                head += f" {'cpu x' + f'{sizes[0]:,}':>13s} {'RSS x':>6s}"
            print(head)
            print(f"{'baseline: read the lines, no decoding':44s} {1:5d} {base[0]:7.2f} {base[1]:6.2f} {base[2]:7.0f} {1:8.2f}")
            rows = [(name, cmd, env) for name, cmd in COMMANDS]
            for name, cmd in COMMANDS:
                if name in FOLDED and cpus > 1:
                    rows.insert(rows.index((name, cmd, env)) + 1, (f"  {name} (1 process)", cmd, serial_env))
            for name, cmd, row_env in rows:
                procs = cpus if row_env is env and name in FOLDED else 1
                argv = [sys.executable, "-m", "cmdscope", *cmd, "--ledger", str(ledger)]
                if args.against and name.startswith("report failures"):
                    other = dict(env, PYTHONPATH=str(args.against))
                    runs = [(run(argv, row_env), run(argv, other)) for _ in range(args.repeat)]  # interleaved
                    wall, cpu, rss = (min(r[0][i] for r in runs) for i in range(3))
                    code = runs[-1][0][3]
                    o_wall, o_cpu, o_rss = (min(r[1][i] for r in runs) for i in range(3))
                    print(f"{'  ' + name + ' (' + str(args.against) + ')':44s} {1:5d} {o_wall:7.2f} {o_cpu:6.2f} {o_rss:7.0f} "
                          f"{o_cpu / base[1]:8.2f}", flush=True)
                else:
                    wall, cpu, rss, code = best(argv, row_env, args.repeat)
                line = f"{name:44s} {procs:5d} {wall:7.2f} {cpu:6.2f} {rss:7.0f} {cpu / base[1]:8.2f}"
                if code not in (0, 1):
                    line += f"  exit {code}"
                if name in first:
                    w0, c0, r0 = first[name]
                    line += f" {cpu / c0:13.2f} {rss / r0:6.2f}"
                else:
                    first[name] = (wall, cpu, rss)
                print(line, flush=True)
            if first and size != sizes[0]:
                print(f"(records x{size / sizes[0]:.1f}: linear time is a 'cpu x' of {size / sizes[0]:.1f} or less)")
            if not args.keep:
                shutil.rmtree(ledger.parent)
    finally:
        if not args.keep and args.dir.exists():
            shutil.rmtree(args.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
