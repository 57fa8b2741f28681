"""Agent hook latency: a Claude Code PreToolUse round trip (process start to answer) against
`python3 -c pass`, and one OpenCode bridge request, measured in the same run. The hook is the
installed command (the thin client talking to the warm daemon); the same handler run without
the daemon (`python -m cmdscope hook claude-code`) is printed for comparison.

The hook runs before every tool call the agent makes, so its whole-process wall time is what the
user feels. Cases are interleaved so the ratios hold on a noisy machine.
Bounds (issue 14): PreToolUse ratio <= 1.3 (median), also with the OTLP endpoint down.
Usage: python bench/bench_hook.py [--runs 40]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _stats import line, median, pct

PY = sys.executable
CLIENT = str(Path(__file__).resolve().parent.parent / "src" / "cmdscope" / "_integrations" / "hookclient.py")


def event(name: str, command: str, call_id: str) -> bytes:
    return json.dumps({"session_id": "bench-session", "transcript_path": "/tmp/t.jsonl", "cwd": os.getcwd(),
                       "hook_event_name": name, "tool_name": "Bash", "tool_use_id": call_id,
                       "tool_input": {"command": command, "description": "bench"},
                       "tool_response": {"stdout": "", "stderr": "", "interrupted": False}}).encode()


def wall(argv: list[str], env: dict[str, str], stdin: bytes = b"") -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, input=stdin, stdout=subprocess.DEVNULL, check=False)
    return (time.perf_counter() - t0) * 1000


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bridge_round_trips(env: dict[str, str], n: int) -> list[float]:
    """Per-call cost through the long-lived OpenCode bridge: before + after for one command."""
    proc = subprocess.Popen([PY, "-m", "cmdscope", "hook", "opencode-bridge"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env)
    assert proc.stdin and proc.stdout
    out: list[float] = []
    for i in range(n + 3):
        t0 = time.perf_counter()
        for op in ("before", "after"):
            proc.stdin.write(json.dumps({"id": i, "op": op, "session": "s", "call": f"c{i}", "tool": "bash",
                                         "command": "git status", "exit": 0}).encode() + b"\n")
            proc.stdin.flush()
            proc.stdout.readline()
        if i >= 3:  # the first calls load the guard
            out.append((time.perf_counter() - t0) * 1000)
    proc.stdin.close()
    proc.wait()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    src = Path(__file__).resolve().parent.parent / "src"
    import sysconfig

    subprocess.run([PY, "-m", "compileall", "-q", str(src), sysconfig.get_paths()["purelib"]],
                   stdout=subprocess.DEVNULL, check=False)
    tmp = tempfile.mkdtemp(prefix="cmdscope-bench-hook-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CMDSCOPE_", "TRACEPARENT"))}
    env.update(CMDSCOPE_LEDGER=f"{tmp}/ledger.jsonl", XDG_STATE_HOME=f"{tmp}/state",
               CMDSCOPE_HOOKD_IDLE="15")  # the daemon the client starts exits soon after the bench
    down = dict(env, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    hook = [PY, "-S", CLIENT, "claude-code"]  # what `cmdscope integrations install claude-code` writes
    inline = [PY, "-m", "cmdscope", "hook", "claude-code"]  # the same handler without the warm daemon
    cases = {
        "baseline: python3 -c pass": ([PY, "-c", "pass"], env, None),
        "PreToolUse allow (git status)": (hook, env, "allow"),
        "PreToolUse deny (git push --force origin main)": (hook, env, "deny"),
        "PreToolUse allow, OTLP endpoint down": (hook, down, "allow"),
        "PostToolUse close": (hook, env, "post"),
        "PreToolUse allow, no daemon (python -m cmdscope hook)": (inline, env, "allow"),
    }
    counter = 0

    def payload(kind: str | None) -> bytes:
        nonlocal counter
        counter += 1
        if kind == "allow":
            return event("PreToolUse", "git status", f"toolu_{counter}")
        if kind == "deny":
            return event("PreToolUse", "git push --force origin main", f"toolu_{counter}")
        if kind == "post":
            wall(hook, env, event("PreToolUse", "git status", f"toolu_p{counter}"))  # open it (not timed)
            return event("PostToolUse", "git status", f"toolu_p{counter}")
        return b""

    for argv, e, kind in cases.values():  # warm caches (compiled guard, page cache)
        wall(argv, e, payload(kind))
        wall(argv, e, payload(kind))
    samples: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.runs):
        for name, (argv, e, kind) in cases.items():
            data = payload(kind)
            samples[name].append(wall(argv, e, data))
    base = median(samples["baseline: python3 -c pass"])
    print(f"Hook wall time (process start to answer), median of {args.runs} interleaved runs each")
    for name in cases:
        bound = 1.3 if name.startswith("PreToolUse") and "no daemon" not in name else None
        print(line(name, median(samples[name]), base, bound=bound)
              + f"   p90 {pct(samples[name], 0.9):.1f} ms")
    trips = bridge_round_trips(env, args.runs * 2)
    print(line("OpenCode bridge: before+after per call (no process start)", median(trips), base)
          + f"   p90 {pct(trips, 0.9):.2f} ms")


if __name__ == "__main__":
    main()
