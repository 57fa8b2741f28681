"""Codex PostToolUse: what reading the exit code back from the session's rollout file adds.

Codex 0.169's PostToolUse carries no exit code; `cmdscope._integrations.codex` finds the
command's `item_completed` event near the end of the rollout file (`transcript_path`). Baseline:
the same PostToolUse handled without a rollout (record closed and written to the ledger), in the
same run; cases: rollouts of 1 MB and 50 MB with the item last (as Codex writes it, just before
the hook runs; exit code 0, so the record is the same as the baseline's), and a 50 MB rollout
without the item (the worst case: the whole bounded tail is read). Lines have the shapes Codex 0.169 writes. Bound: found item ratio <= 2 (median): the
baseline is the bare in-process handler (~0.15 ms); what the user feels is the whole hook round
trip (bench_hook.py), tens of times longer.
Usage: python bench/bench_codex_rollout.py [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _stats import line, median


def filler(i: int) -> str:
    """A rollout line as Codex writes them between commands (compact JSON)."""
    if i % 3 == 0:
        payload = {"type": "function_call_output", "call_id": f"call_{i}", "output": "Chunk ID: ab12\nOutput:\n" + "x" * 900}
        return json.dumps({"timestamp": "2026-12-03T08:53:54.693Z", "ordinal": i, "type": "response_item",
                           "payload": payload}, separators=(",", ":"))
    if i % 3 == 1:
        payload = {"type": "token_count", "info": {"total_token_usage": {"input_tokens": i, "output_tokens": i}}}
    else:
        payload = {"type": "item_completed", "thread_id": "t", "item": {
            "type": "CommandExecution", "id": f"call_{i}", "command": ["/bin/bash", "-lc", "ls"],
            "status": "completed", "aggregated_output": "y" * 400, "exit_code": 0,
            "duration": {"secs": 0, "nanos": 1000}}}
    return json.dumps({"timestamp": "2026-12-03T08:53:54.693Z", "ordinal": i, "type": "event_msg",
                       "payload": payload}, separators=(",", ":"))


def rollout(path: Path, megabytes: int, target: str | None) -> Path:
    with path.open("w") as fh:
        i, written = 0, 0
        while written < megabytes << 20:
            text = filler(i) + "\n"
            fh.write(text)
            written += len(text)
            i += 1
        if target:
            fh.write(json.dumps({"type": "event_msg", "payload": {"type": "item_completed", "item": {
                "type": "CommandExecution", "id": target, "status": "completed", "aggregated_output": "boom\n",
                "exit_code": 0, "duration": {"secs": 0, "nanos": 5_000_000}}}}, separators=(",", ":")) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-codex-"))
    os.environ["CMDSCOPE_LEDGER"] = str(tmp / "ledger.jsonl")
    os.environ["XDG_STATE_HOME"] = str(tmp / "state")
    from cmdscope._integrations import codex
    from cmdscope._integrations.pending import FileStore

    cases = {
        "no rollout (baseline)": None,
        "rollout 1 MB, item last": rollout(tmp / "small.jsonl", 1, "call_target"),
        "rollout 50 MB, item last": rollout(tmp / "big.jsonl", 50, "call_target"),
        "rollout 50 MB, item absent": rollout(tmp / "absent.jsonl", 50, None),
    }
    store = FileStore()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, path in cases.items():  # interleaved, so the ratios hold on a noisy machine
            event = {"session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Bash", "cwd": str(tmp),
                     "tool_input": {"command": "make"}, "tool_use_id": "call_target", "tool_response": "boom\n",
                     "transcript_path": str(path) if path else None}
            t0 = time.perf_counter()
            codex.handle(event, store)
            samples[name].append((time.perf_counter() - t0) * 1000)
    base = median(samples["no rollout (baseline)"])
    print(f"Codex PostToolUse handler, median of {args.runs} interleaved runs each")
    for name in cases:
        bound = 2.0 if "item last" in name else None
        print(line(name, median(samples[name]), base, bound=bound))


if __name__ == "__main__":
    main()
