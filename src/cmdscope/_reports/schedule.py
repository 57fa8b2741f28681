"""``cmdscope report schedule [--since 30d] [--format table|json|md]``: scheduled checks.

Per heartbeat name (heartbeats and audits): runs, on-time rate (a run is on time when it came at
most ``every + grace`` after the previous one), failures, last run, last success, and whether it
is ``stale`` now (no success within ``every + grace``; the alert condition).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Iterable

from cmdscope._cli.args import Parser

NS = 1_000_000_000
SCHEMA = "cmdscope.schedule/v1"
KINDS = frozenset({"heartbeat", "audit"})


class _Check:
    """One heartbeat name's runs, folded: counts and the latest run and success."""

    __slots__ = ("every", "every_ns", "failures", "last", "last_ok", "on_time", "runs")

    def __init__(self) -> None:
        self.runs = self.on_time = self.failures = 0
        self.last: dict[str, Any] | None = None      # the latest run (by end_ns)
        self.last_ok: dict[str, Any] | None = None   # the latest success
        self.every: float | None = None              # from the latest run that says
        self.every_ns = -1

    def add(self, r: dict[str, Any]) -> None:
        end = r["end_ns"]
        self.runs += 1
        self.on_time += bool(r.get("cmdscope.schedule.on_time"))
        ok = r.get("cmdscope.outcome") == "success"
        self.failures += not ok
        keep = {k: r.get(k) for k in ("kind", "end_ns", "time", "cmdscope.outcome", "cmdscope.heartbeat.grace_s")}
        if self.last is None or end >= self.last["end_ns"]:
            self.last = keep
        if ok and (self.last_ok is None or end >= self.last_ok["end_ns"]):
            self.last_ok = keep
        if r.get("cmdscope.heartbeat.every_s") and end >= self.every_ns:
            self.every, self.every_ns = r["cmdscope.heartbeat.every_s"], end


def build(records: Iterable[dict[str, Any]], now_ns: int) -> dict[str, Any]:
    """Per heartbeat name, in one pass: memory grows with the names, not with the runs."""
    by_name: dict[str, _Check] = {}
    for r in records:
        if r.get("kind") in KINDS and r.get("cmdscope.heartbeat.name"):
            name = r["cmdscope.heartbeat.name"]
            check = by_name.get(name)
            if check is None:
                check = by_name[name] = _Check()
            check.add(r)
    checks = []
    for name, c in sorted(by_name.items()):
        last, ok = c.last, c.last_ok
        assert last is not None
        every = c.every
        grace = last.get("cmdscope.heartbeat.grace_s", 0) or 0
        last_ok = ok["end_ns"] if ok else None
        if every is None:
            state = "unscheduled"
        elif last_ok is None or (now_ns - last_ok) / NS > every + grace:
            state = "stale"
        elif last.get("cmdscope.outcome") != "success":
            state = "failing"
        else:
            state = "ok"
        checks.append({
            "name": name, "kind": last["kind"], "runs": c.runs, "on_time": c.on_time,
            "on_time_rate": c.on_time / c.runs, "failures": c.failures, "every_s": every, "grace_s": grace,
            "last_run": last.get("time"), "last_success": ok.get("time") if ok else None,
            "since_last_success_s": round((now_ns - last_ok) / NS, 3) if last_ok else None, "state": state,
        })
    return {"schema": SCHEMA, "checks": checks}


def render(data: dict[str, Any], fmt: str) -> str:
    from cmdscope._sdlc.durations import format_duration
    from cmdscope._sdlc.tables import markdown, pct, table

    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=True)
    headers = ["NAME", "KIND", "RUNS", "ON TIME", "FAILURES", "EVERY", "LAST SUCCESS (UTC)", "STATE"]
    rows = [[c["name"], c["kind"], str(c["runs"]), pct(c["on_time_rate"]), str(c["failures"]),
             format_duration(c["every_s"]), (c["last_success"] or "never")[:19], c["state"]] for c in data["checks"]]
    if not rows:
        return "no heartbeats or audits recorded"
    return (markdown if fmt == "md" else table)(headers, rows)


def main(argv: list[str]) -> int:
    from cmdscope._cli import args as args_
    from cmdscope._reports.common import LedgerStream, since_or_report

    p = Parser(prog="cmdscope report schedule", description="On-time rate of scheduled checks.")
    args_.add_since(p, "30d", what="check-ins since")
    args_.add_format(p, ("table", "json", "md"))
    p.add_argument("--ledger", help="ledger path (default: $CMDSCOPE_LEDGER or the state dir)")
    args = p.parse_args(argv)
    now = time.time_ns()
    since = since_or_report(args.since, "cmdscope report schedule", now)
    if since is None:
        return 2
    read = LedgerStream(args.ledger, "cmdscope report schedule", since_ns=since, kinds=KINDS)
    data = build(read.records, now)
    read.finish()
    sys.stdout.write(render(data, args.format) + "\n")
    return 1 if any(c["state"] in ("stale", "failing") for c in data["checks"]) else 0
