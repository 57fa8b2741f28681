"""Coverage under hook-daemon kills: real Claude Code sessions against the scripted model server.

Each session asks for N tool calls (every fifth step three in one response) with cmdscope's
hooks installed, while a killer thread SIGKILLs the hook daemon (`cmdscope hook daemon`, its pid
in the socket's lock file under the state directory) at random moments, whatever it is doing.
Then `cmdscope report coverage` compares Claude Code's own transcripts with the ledger:

    covered / executed     commands that ran and have a record, over commands that ran
    lost                   commands that ran without a record (the report's "missed")
    duplicates             records beyond one per tool call

    python bench/stress_coverage.py --sessions 20 --calls 50          # the documented figure
    python bench/stress_coverage.py --sessions 3 --calls 20 --parallel 1   # what CI runs

Needs `npm install` (node_modules/.bin/claude). Sessions run two at a time by default.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from model_server import ModelServer, Step

CLAUDE = ROOT / "node_modules" / ".bin" / "claude"


def script(session: int, calls: int) -> list[Step]:
    steps: list[Step] = []
    made = 0
    while made < calls:
        batch = [f"echo s{session}-c{made + i}" for i in range(min(3 if len(steps) % 5 == 4 else 1, calls - made))]
        steps.append(batch if len(batch) > 1 else batch[0])
        made += len(batch)
    return steps


def kill_daemons(state: Path) -> int:
    killed = 0
    for lock in (state / "cmdscope").glob("hookd-*.sock.lock"):
        try:
            os.kill(int(lock.read_text() or 0), signal.SIGKILL)
            killed += 1
        except (ValueError, OSError):
            pass
    return killed


def run_session(index: int, calls: int, work: Path, env: dict[str, str]) -> dict[str, Any]:
    proj = work / f"proj{index}"
    proj.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(proj)], check=True)
    subprocess.run([sys.executable, "-m", "cmdscope", "integrations", "install", "claude-code", "--dir", str(proj)],
                   env=env, check=True, capture_output=True)
    with ModelServer(script(index, calls)) as server:
        session_env = {**env, "ANTHROPIC_BASE_URL": server.url, "PWD": str(proj)}
        done = subprocess.run([str(CLAUDE), "-p", "run the scripted commands", "--allowedTools", "Bash",
                               "--output-format", "json"], cwd=proj, env=session_env, capture_output=True,
                              text=True, timeout=30 + calls * 10, stdin=subprocess.DEVNULL, check=False)
        results = len(server.tool_results)
    return {"returncode": done.returncode, "results": results,
            "stderr": done.stderr[-500:] if done.returncode else ""}


def run(sessions: int, calls: int, parallel: int = 2, kill_every: tuple[float, float] = (1.0, 4.0),
        seed: int = 17) -> dict[str, Any]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="cmdscope-stress-coverage-") as tmp:
        work = Path(tmp)
        home, state = work / "home", work / "state"
        home.mkdir()
        ledger = work / "ledger.jsonl"
        env = {**os.environ, "HOME": str(home), "XDG_STATE_HOME": str(state), "XDG_CONFIG_HOME": str(work / "config"),
               "CMDSCOPE_LEDGER": str(ledger), "ANTHROPIC_API_KEY": "sk-ant-test",
               "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
               "CMDSCOPE_HOOKD_IDLE": "60"}
        for var in ("CMDSCOPE_SESSION", "CMDSCOPE_ACTOR", "TRACEPARENT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
            env.pop(var, None)
        stop = threading.Event()
        kills = 0

        def killer() -> None:
            nonlocal kills
            while not stop.wait(rng.uniform(*kill_every)):
                kills += kill_daemons(state)

        thread = threading.Thread(target=killer, daemon=True)
        started = time.monotonic()
        thread.start()
        try:
            with ThreadPoolExecutor(max_workers=parallel) as pool:
                outcomes = list(pool.map(lambda i: run_session(i, calls, work, env), range(sessions)))
        finally:
            stop.set()
            thread.join()
            kill_daemons(state)  # the last daemon would idle out; the temp dir goes now
        elapsed = time.monotonic() - started
        report = subprocess.run([sys.executable, "-m", "cmdscope", "report", "coverage", "--agent", "claude-code",
                                 "--claude-dir", str(home / ".claude"), "--format", "json"],
                                env=env, capture_output=True, text=True, timeout=300, check=False)
        data = json.loads(report.stdout)
        records = [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()] if ledger.exists() else []
    commands = [r for r in records if r.get("kind") == "command"]
    ids = [r.get("gen_ai.tool.call.id") for r in commands]
    return {
        "sessions": sessions, "calls_per_session": calls, "sessions_failed": sum(o["returncode"] != 0 for o in outcomes),
        "sessions_reported": len(data["sessions"]), "asked": sessions * calls,
        "answered": sum(o["results"] for o in outcomes),
        "executed": data["executed"], "covered": data["covered"], "coverage": data["coverage"],
        "lost": sum(s["missed"] for s in data["sessions"]), "never_ran": sum(s["never_ran"] for s in data["sessions"]),
        "records_without_call": sum(len(s["unmatched_records"]) for s in data["sessions"]),
        "duplicates": len(ids) - len(set(ids)), "interrupted_records": sum(r.get("cmdscope.outcome") == "interrupted"
                                                                           for r in commands),
        "daemon_kills": kills, "elapsed_s": round(elapsed, 1),
        "errors": [o["stderr"] for o in outcomes if o["returncode"]][:3],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50, help="tool calls per session")
    parser.add_argument("--parallel", type=int, default=2, help="sessions at once")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    if not CLAUDE.exists():
        sys.stderr.write("stress_coverage: node_modules/.bin/claude missing: run `npm install` first\n")
        return 2
    stats = run(args.sessions, args.calls, args.parallel, seed=args.seed)
    print(json.dumps(stats, indent=2))
    print(f"\ncovered/executed: {stats['covered']}/{stats['executed']}; records lost: {stats['lost']}; "
          f"duplicates: {stats['duplicates']}; daemon kills: {stats['daemon_kills']}; {stats['elapsed_s']} s")
    return 0 if stats["lost"] == 0 and stats["duplicates"] == 0 and stats["sessions_failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
