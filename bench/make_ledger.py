"""Generate a synthetic ledger for report benchmarks.

    python bench/make_ledger.py OUT.jsonl [--records 1000000] [--days 14] [--failure-rate 0.12]
                                          [--segment-mb 64] [--seed 1]

Records follow docs/telemetry.md (kind=command, envelope + dotted attributes), written in end
time order and rotated like the real ledger into OUT.jsonl.000001, ... (older = smaller) plus
the current OUT.jsonl. Sessions re-run failing commands until they pass, so retries and
time-to-green are realistic; ~0.01% of lines are torn on purpose.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
from pathlib import Path

import orjson

TOOLS = [
    (["pytest", "-q"], "test", "test_failure", 0.25),
    (["ruff", "check", "."], "lint", "lint_failure", 0.12),
    (["mypy", "src"], "typecheck", "typecheck_failure", 0.10),
    (["npm", "install"], "dependencies", "dependency_error", 0.05),
    (["git", "push", "origin", "main"], "publish", "push_rejected", 0.04),
    (["cargo", "build"], "build", "build_error", 0.08),
    (["git", "status"], None, "git_state", 0.02),
    (["curl", "-sSf", "http://localhost:8000/health"], None, "network_error", 0.06),
    (["cat", "notes.md"], None, "file_not_found", 0.03),
    (["python", "scripts/migrate.py"], None, "runtime_exception", 0.07),
    (["ls", "-la"], None, "unknown", 0.01),
    (["make", "build"], "build", "build_error", 0.06),
]
ACTORS = ["claude-code", "codex", "ci", "alice", "bob"]
CLASSES_EXTRA = ["timeout", "killed", "permission_denied", "command_not_found", "merge_conflict", "network_error"]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out", type=Path)
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--days", type=float, default=14)
    p.add_argument("--failure-rate", type=float, default=0.12)
    p.add_argument("--segment-mb", type=float, default=64)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--end-ns", type=int, default=None, help="time of the last record (default now)")
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    end_ns = args.end_ns or time.time_ns()
    start_ns = end_ns - int(args.days * 86400e9)
    step = (end_ns - start_ns) // max(1, args.records)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    for old in out.parent.glob(out.name + "*"):
        old.unlink()
    seg_max = int(args.segment_mb * 1024 * 1024)
    seg_no = 0
    fh = open(out, "wb")
    written = 0
    sessions = [f"sess-{i:04d}" for i in range(200)]
    streaks: dict[tuple[str, str], int] = {}  # (session, hash) -> consecutive failures
    t0 = time.perf_counter()
    buf: list[bytes] = []
    for i in range(args.records):
        end = start_ns + i * step + rng.randrange(step or 1)
        session = rng.choice(sessions)
        argv_c, phase, cls, weight = rng.choices(TOOLS, weights=[t[3] for t in TOOLS])[0]
        line = " ".join(argv_c) + ("" if rng.random() < 0.7 else f" --case {rng.randrange(40)}")
        chash = hashlib.sha256(line.encode()).hexdigest()[:16]
        key = (session, chash)
        streak = streaks.get(key, 0)
        # a failing command tends to keep failing for a few runs, then goes green
        fail_p = 0.55 if streak else args.failure_rate
        failed = rng.random() < fail_p
        duration = rng.uniform(0.05, 30.0)
        rec = {
            "schema": 1,
            "record_id": "%032x" % rng.getrandbits(128),
            "kind": "command",
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(end / 1e9)) + ".000000Z",
            "start_ns": end - int(duration * 1e9),
            "end_ns": end,
            "duration_s": round(duration, 6),
            "trace_id": "%032x" % rng.getrandbits(128),
            "span_id": "%016x" % rng.getrandbits(64),
            "parent_span_id": None,
            "name": argv_c[0],
            "process.executable.name": argv_c[0],
            "process.command_line": line,
            "process.exit.code": 0,
            "process.pid": rng.randrange(1000, 99999),
            "process.working_directory": "/work/repo",
            "vcs.ref.head.name": "main",
            "vcs.ref.head.revision": "%040x" % rng.getrandbits(160),
            "session.id": session,
            "cmdscope.actor": rng.choice(ACTORS),
            "cmdscope.worktree": "/work/repo",
            "cmdscope.packet": f"PKT-{int(session[5:]) % 40}",
            "cmdscope.outcome": "success",
            "cmdscope.command.hash": chash,
            "cmdscope.registry.version": "1.0.0",
            "host.name": "bench",
        }
        if phase:
            rec["cmdscope.phase"] = phase
        if streak:
            rec["cmdscope.retry.count"] = streak
        if failed:
            error = cls if rng.random() < 0.9 else rng.choice(CLASSES_EXTRA)
            rec["cmdscope.outcome"] = "timeout" if error == "timeout" else "failure"
            rec["process.exit.code"] = 124 if error == "timeout" else rng.choice([1, 1, 2, 101])
            rec["error.type"] = error
            rec["cmdscope.error.pattern"] = f"{error}.generated"
            rec["cmdscope.error.excerpt"] = "E   assert 3 == 4"
            rec["cmdscope.taxonomy.version"] = "1.0.0"
            streaks[key] = streak + 1
        else:
            streaks.pop(key, None)
        data = orjson.dumps(rec) + b"\n"
        if rng.random() < 0.0001:
            data = data[: len(data) // 2] + b"\n"  # a torn line, as after a crash
        buf.append(data)
        if len(buf) >= 4096:
            fh.write(b"".join(buf))
            buf.clear()
            if fh.tell() >= seg_max:
                fh.close()
                seg_no += 1
                os.rename(out, out.with_name(f"{out.name}.{seg_no:06d}"))
                fh = open(out, "wb")
        written += 1
    fh.write(b"".join(buf))
    fh.close()
    size = sum(p.stat().st_size for p in out.parent.glob(out.name + "*"))
    print(f"wrote {written:,} records, {size / 1e6:.0f} MB in {seg_no + 1} files, "
          f"{time.perf_counter() - t0:.1f} s -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
