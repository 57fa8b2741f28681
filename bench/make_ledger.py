"""Generate a synthetic ledger for report benchmarks.

    python bench/make_ledger.py OUT.jsonl [--records 1000000] [--days 14] [--failure-rate 0.12]
                                          [--segment-mb 64] [--seed 1]

Records follow docs/telemetry.md (envelope + dotted attributes), written in end time order and
rotated like the real ledger into OUT.jsonl.000001, ... (older = smaller) plus the current
OUT.jsonl. Sessions re-run failing commands until they pass, so retries and time-to-green are
realistic; ~0.01% of lines are torn on purpose. Besides commands (~99% of the lines): every
session works in packets of ~1,000 commands, each ended by a gate, a commit, an auto-merge
pipeline run and a packet record; ~0.2% of commands are denials and ~0.5% match a danger rule;
three heartbeats beat every 10 minutes. So every report has work on any ledger made here.
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
HEARTBEATS = ["nightly-audit", "ship", "backup"]
PACKET_COMMANDS = (600, 1400)
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
    packets: dict[str, dict] = {}  # session -> the open packet's counts
    next_beat = start_ns
    t0 = time.perf_counter()
    buf: list[bytes] = []

    def envelope(kind: str, end: int, duration: float, name: str) -> dict:
        return {"schema": 1, "record_id": "%032x" % rng.getrandbits(128), "kind": kind,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(end / 1e9)) + ".000000Z",
                "start_ns": end - int(duration * 1e9), "end_ns": end, "duration_s": round(duration, 6),
                "trace_id": "%032x" % rng.getrandbits(128), "span_id": "%016x" % rng.getrandbits(64),
                "parent_span_id": None, "name": name}

    def sdlc(kind: str, end: int, duration: float, name: str, packet: str | None, **attrs: object) -> bytes:
        rec = envelope(kind, end, duration, name)
        rec.update({"cmdscope.actor": "claude-code", "cmdscope.outcome": "success", "cmdscope.packet": packet,
                    "cmdscope.worktree": "/work/repo", "host.name": "bench"})
        rec.update(attrs)
        return orjson.dumps(rec) + b"\n"

    def end_packet(session: str, end: int) -> list[bytes]:
        pk = packets.pop(session)
        pid = pk["id"]
        failures, commands = pk["failures"], pk["commands"]
        lines = [
            sdlc("gate", end - 3_000_000_000, 40.0, "gate tests", pid, **{
                "cmdscope.gate.name": "tests", "cmdscope.gate.result": "pass", "cmdscope.gate.required": True,
                "cmdscope.gate.dirty": True}),
            sdlc("commit", end - 2_000_000_000, 0.2, "commit", pid, **{
                "vcs.ref.head.revision": "%040x" % rng.getrandbits(160), "cmdscope.commit.parent": "%040x" % 0,
                "cmdscope.commit.message": f"{pid}: work", "cmdscope.commit.files": 3,
                "cmdscope.commit.paths": ["src/a.py"], "cmdscope.commit.insertions": 30, "cmdscope.commit.deletions": 5,
                "cmdscope.commit.changed_lines": 35, "cmdscope.commit.slices": rng.choice([0, 1, 1, 1, 2]),
                "cmdscope.commit.atomic": True, "cmdscope.commit.since_gate_s": 1.0}),
            sdlc("pipeline", end - 1_000_000_000, 60.0, "pipeline", pid, **{
                "cicd.pipeline.name": "merge", "cicd.pipeline.run.id": pid, "cicd.pipeline.result": "success",
                "cmdscope.merge.result": "auto", "cmdscope.merge.performed": True}),
            sdlc("packet", end, (end - pk["start"]) / 1e9, "packet", pid, **{
                "cmdscope.packet.title": f"work {pid}", "cmdscope.packet.status": "completed",
                "cmdscope.packet.commands": commands, "cmdscope.packet.failures": failures,
                "cmdscope.packet.failure_density": round(failures / commands, 6) if commands else 0.0,
                "cmdscope.packet.gates": 1, "cmdscope.packet.gates_passed": 1, "cmdscope.packet.gate_pass_rate": 1.0,
                "cmdscope.packet.denials": pk["denials"], "cmdscope.packet.danger_hits": pk["danger"],
                "cmdscope.packet.danger_critical": 0, "cmdscope.packet.retries": pk["retries"],
                "cmdscope.packet.commits": 1}),
        ]
        return lines

    for i in range(args.records):
        end = start_ns + i * step + rng.randrange(step or 1)
        while next_beat < end:  # heartbeats every 10 minutes
            for name in HEARTBEATS:
                buf.append(sdlc("heartbeat", next_beat, 1.0, name, None, **{
                    "cmdscope.heartbeat.name": name, "cmdscope.heartbeat.status": "ok",
                    "cmdscope.schedule.on_time": True, "cmdscope.heartbeat.every_s": 600.0,
                    "cmdscope.heartbeat.grace_s": 120.0}))
            next_beat += 600_000_000_000
        session = rng.choice(sessions)
        pk = packets.get(session)
        if pk is None:
            pk = packets[session] = {"id": f"PKT-{session[5:]}-{i}", "start": end, "commands": 0, "failures": 0,
                                     "retries": 0, "denials": 0, "danger": 0,
                                     "size": rng.randint(*PACKET_COMMANDS) // max(1, 200 // len(sessions))}
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
            "cmdscope.packet": pk["id"],
            "cmdscope.outcome": "success",
            "cmdscope.command.hash": chash,
            "cmdscope.registry.version": "1.0.0",
            "host.name": "bench",
        }
        if phase:
            rec["cmdscope.phase"] = phase
        roll = rng.random()
        if roll < 0.007:  # a danger rule matched: denied (0.2%) or ran (0.5%)
            rec["cmdscope.danger.rule"] = ["git.push.force"]
            rec["cmdscope.danger.severity"] = "critical"
            rec["cmdscope.danger.category"] = ["history"]
            rec["cmdscope.policy.rule"] = "deny-critical"
            rec["cmdscope.policy.source"] = "registry/policies/default.yaml#deny-critical"
            rec["process.command_line"] = "git push --force origin main"
            pk["danger"] += 1
            if roll < 0.002:
                rec.update({"kind": "denial", "cmdscope.outcome": "denied", "error.type": "policy_denied",
                            "cmdscope.policy.action": "deny", "cmdscope.policy.mode": "enforce",
                            "process.exit.code": 126})
                pk["denials"] += 1
                failed = False
        if streak:
            rec["cmdscope.retry.count"] = streak
            pk["retries"] += 1
        pk["commands"] += 1
        if failed:
            pk["failures"] += 1
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
        if pk["commands"] >= pk["size"]:
            buf.extend(end_packet(session, end + 4_000_000_000))
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
