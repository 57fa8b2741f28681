"""``cmdscope report schedule [--since 30d] [--format table|json|md]``: scheduled checks.

Per heartbeat name (heartbeats and audits): runs, on-time rate (a run is on time when it came at
most ``every + grace`` after the previous one), failures, last run, last success, and whether it
is ``stale`` now (no success within ``every + grace``; the alert condition).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Iterable

NS = 1_000_000_000
SCHEMA = "cmdscope.schedule/v1"


def build(records: Iterable[dict[str, Any]], now_ns: int) -> dict[str, Any]:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r.get("kind") in ("heartbeat", "audit") and r.get("cmdscope.heartbeat.name"):
            by_name.setdefault(r["cmdscope.heartbeat.name"], []).append(r)
    checks = []
    for name, runs in sorted(by_name.items()):
        runs.sort(key=lambda r: r["end_ns"])
        on_time = sum(bool(r.get("cmdscope.schedule.on_time")) for r in runs)
        ok = [r for r in runs if r.get("cmdscope.outcome") == "success"]
        every = next((r["cmdscope.heartbeat.every_s"] for r in reversed(runs) if r.get("cmdscope.heartbeat.every_s")), None)
        grace = runs[-1].get("cmdscope.heartbeat.grace_s", 0) or 0
        last_ok = ok[-1]["end_ns"] if ok else None
        if every is None:
            state = "unscheduled"
        elif last_ok is None or (now_ns - last_ok) / NS > every + grace:
            state = "stale"
        elif runs[-1].get("cmdscope.outcome") != "success":
            state = "failing"
        else:
            state = "ok"
        checks.append({
            "name": name, "kind": runs[-1]["kind"], "runs": len(runs), "on_time": on_time,
            "on_time_rate": on_time / len(runs), "failures": len(runs) - len(ok), "every_s": every, "grace_s": grace,
            "last_run": runs[-1].get("time"), "last_success": ok[-1].get("time") if ok else None,
            "since_last_success_s": round((now_ns - last_ok) / NS, 3) if last_ok else None, "state": state,
        })
    return {"schema": SCHEMA, "checks": checks}


def render(data: dict[str, Any], fmt: str) -> str:
    from cmdscope.sdlc.durations import format_duration
    from cmdscope.sdlc.tables import markdown, pct, table

    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=True)
    headers = ["NAME", "KIND", "RUNS", "ON TIME", "FAILURES", "EVERY", "LAST SUCCESS (UTC)", "STATE"]
    rows = [[c["name"], c["kind"], str(c["runs"]), pct(c["on_time_rate"]), str(c["failures"]),
             format_duration(c["every_s"]), (c["last_success"] or "never")[:19], c["state"]] for c in data["checks"]]
    if not rows:
        return "no heartbeats or audits recorded"
    return (markdown if fmt == "md" else table)(headers, rows)


def main(argv: list[str]) -> int:
    from cmdscope.reports.common import since_or_report
    from cmdscope.reports.packets import load

    p = argparse.ArgumentParser(prog="cmdscope report schedule", description="On-time rate of scheduled checks.")
    p.add_argument("--since", default="30d")
    p.add_argument("--format", choices=("table", "json", "md"), default="table")
    p.add_argument("--ledger")
    args = p.parse_args(argv)
    now = time.time_ns()
    since = since_or_report(args.since, "cmdscope report schedule", now)
    if since is None:
        return 2
    data = build(load(args.ledger, since), now)
    sys.stdout.write(render(data, args.format) + "\n")
    return 1 if any(c["state"] in ("stale", "failing") for c in data["checks"]) else 0
