"""`cmdscope run -- true` against a bare Python that runs `true`, by CPU time (user+sys of the
process and everything it waited for), with wall time printed alongside; the same with
cmdscope's stdout a pipe (the runner then relays the child's stdout). Then throughput through
the stdout relay: `cmdscope run -- cat bigfile | cat > /dev/null` against the bare pipeline.

Both are measured in the same run, interleaved, so the ratio holds on a noisy machine.
Bound (issue 14): CPU ratio <= 1.5, also with the OTLP endpoint unreachable and with stdout a
pipe. The throughput ratio is reported, not bounded (issue 22 item 1).
Usage: python bench/bench_cli.py [--runs 40] [--big-mb 64] [--big-runs 9]"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _stats import line, median  # noqa: E402

PY = sys.executable
CMDSCOPE = str(Path(PY).with_name("cmdscope"))


PIPE = "pipe"  # a case whose argv ends with this marker runs with its stdout to a pipe


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU ms, wall ms) of one run: user+sys of the process and the children it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    if argv[-1] is PIPE:
        subprocess.run(argv[:-1], env=env, check=False, stdout=subprocess.PIPE)
    else:
        subprocess.run(argv, env=env, check=False)
    wall_ms = (time.perf_counter() - t0) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu * 1000, wall_ms


def site_packages() -> list[str]:
    import sysconfig

    return [sysconfig.get_paths()["purelib"]]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--big-mb", type=int, default=64, help="size of the file cat sends through the relay")
    ap.add_argument("--big-runs", type=int, default=9)
    args = ap.parse_args()
    # An installed wheel has its bytecode compiled at install time; an editable checkout in an
    # environment with PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every module per run.
    src = Path(__file__).resolve().parent.parent / "src"
    subprocess.run([PY, "-m", "compileall", "-q", str(src), *site_packages()], stdout=subprocess.DEVNULL,
                   check=False)
    tmp = tempfile.mkdtemp(prefix="cmdscope-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CMDSCOPE_", "TRACEPARENT"))}
    env.update(CMDSCOPE_LEDGER=f"{tmp}/ledger.jsonl", XDG_STATE_HOME=f"{tmp}/state")
    down = dict(env, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    cases = {
        "baseline: python3 -c subprocess.run(['true'])": ([PY, "-c", "import subprocess; subprocess.run(['true'])"], env),
        "cmdscope run -- true": ([CMDSCOPE, "run", "--", "true"], env),
        "cmdscope run -- true (OTLP endpoint down)": ([CMDSCOPE, "run", "--", "true"], down),
        "cmdscope run -- true (stdout to a pipe)": ([CMDSCOPE, "run", "--", "true", PIPE], env),
        "cmdscope run -- echo hi (stdout to a pipe)": ([CMDSCOPE, "run", "--", "echo", "hi", PIPE], env),
        "informational: the guard parses (loads tree-sitter)": ([CMDSCOPE, "run", "--", "true", "git", "push", "--force"], env),
    }
    for argv, e in cases.values():  # warm caches (compiled registry, page cache)
        measure(argv, e)
        measure(argv, e)
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    walls: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.runs):
        for name, (argv, e) in cases.items():
            c, w = measure(argv, e)
            cpu[name].append(c)
            walls[name].append(w)
    first = next(iter(cases))
    base, base_wall = median(cpu[first]), median(walls[first])
    print(f"CLI CPU time (user+sys), median of {args.runs} interleaved runs each; wall time after it")
    for name in cases:
        bound = 1.5 if name.startswith("cmdscope run -- ") else None  # issue 14's bound
        print(line(name, median(cpu[name]), base, bound=bound)
              + f"   wall {median(walls[name]):.1f} ms ({median(walls[name]) / base_wall:.2f}x)")
    throughput(tmp, env, args.big_mb, args.big_runs)
    # Shippers spawned by the 'endpoint down' case are still retrying; they are detached.


def throughput(tmp: str, env: dict[str, str], size_mb: int, runs: int) -> None:
    """`cat bigfile | cat > /dev/null`, bare and with cmdscope relaying cat's stdout."""
    big = Path(tmp) / "bigfile"
    with open(big, "wb") as fh:
        block = os.urandom(1 << 20)
        for _ in range(size_mb):
            fh.write(block)
    cases = {
        "bare: cat bigfile | cat > /dev/null": ["sh", "-c", f"cat {big} | cat > /dev/null"],
        "cmdscope run -- cat bigfile | cat > /dev/null": ["sh", "-c", f"{CMDSCOPE} run -- cat {big} | cat > /dev/null"],
    }
    for argv in cases.values():
        measure(argv, env)
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    walls: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(runs):
        for name, argv in cases.items():
            c, w = measure(argv, env)
            cpu[name].append(c)
            walls[name].append(w)
    first = next(iter(cases))
    base, base_wall = median(cpu[first]), median(walls[first])
    print(f"\nstdout relay throughput, {size_mb} MiB, median of {runs} interleaved runs (CPU, then wall)")
    for name in cases:
        w = median(walls[name])
        print(line(name, median(cpu[name]), base)
              + f"   wall {w:.1f} ms ({w / base_wall:.2f}x, {size_mb / (w / 1000):.0f} MiB/s)")


if __name__ == "__main__":
    main()
