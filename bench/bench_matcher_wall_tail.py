"""Wall-clock p99 of decide() over bench_matcher's MIX, one process per tree, alternating trees.

For a before/after comparison on a loaded machine: each child process times decide() over the
mix (300 rounds) in wall-clock and in thread CPU time, and counts the samples over 1 ms and the
largest wall-minus-CPU gap (time the scheduler gave to other processes).
Usage: python bench/bench_matcher_wall_tail.py BEFORE/src AFTER/src PAIRS
"""
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

if len(sys.argv) not in (2, 4) or (len(sys.argv) == 2 and sys.argv[1] != "--child") or (
        len(sys.argv) == 4 and not sys.argv[3].isdigit()):
    print("usage: bench_matcher_wall_tail.py BEFORE/src AFTER/src PAIRS", file=sys.stderr)
    raise SystemExit(2)
if sys.argv[1] == "--child":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_matcher import MIX
    from cmdscope._guard import Guard

    g = Guard.load()
    for c in MIX:
        g.decide(c, shell=True)
    wall, base, cpu = [], [], []
    for _ in range(300):
        for c in MIX:
            t0 = time.perf_counter_ns()
            shlex.split(c)
            t1 = time.perf_counter_ns()
            c0 = time.thread_time_ns()
            g.decide(c, shell=True)
            c1 = time.thread_time_ns()
            t2 = time.perf_counter_ns()
            base.append(t1 - t0)
            wall.append(t2 - t1)
            cpu.append(c1 - c0)

    def p99(xs):
        return sorted(xs)[int(len(xs) * 0.99) - 1] / 1000

    gaps = sorted((w - c for w, c in zip(wall, cpu)), reverse=True)
    print(json.dumps({"wall_p99": p99(wall), "cpu_p99": p99(cpu), "base_p99": p99(base),
                      "over_1ms": sum(w > 1e6 for w in wall), "max_gap_ms": gaps[0] / 1e6,
                      "median_gap_us": statistics.median(w - c for w, c in zip(wall, cpu)) / 1000}))
    raise SystemExit(0)

trees, pairs = sys.argv[1:3], int(sys.argv[3])
states = {t: tempfile.mkdtemp() for t in trees}
for _ in range(pairs):
    for t in trees:
        env = dict(os.environ, XDG_STATE_HOME=states[t], PYTHONPATH=t)
        out = subprocess.run([sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=True)
        d = json.loads(out.stdout)
        print(f"{t:<22} load {os.getloadavg()[0]:5.1f} wall p99 {d['wall_p99']:8.1f} us  cpu p99 {d['cpu_p99']:6.1f}"
              f"  shlex p99 {d['base_p99']:6.1f}  samples>1ms {d['over_1ms']:4d}  max wall-cpu {d['max_gap_ms']:.1f} ms", flush=True)
