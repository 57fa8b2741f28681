"""``cmdscope report commits [--since 7d] [--format table|json|md]``: atomic commit cadence.

- atomic share: commits carrying exactly one validated slice (a gate pass over changes);
- deferred: commits carrying two or more slices (validated work that waited to be committed);
  ``deferred_to_end_packets`` counts packets whose only commit carried two or more slices;
- unvalidated: commits with no gate pass since the previous commit;
- mean changed lines per commit; median time from the last gate pass to the commit.
docs/sdlc.md#commit-cadence defines each figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from statistics import mean, median
from typing import Any, Iterable

NS = 1_000_000_000
SCHEMA = "cmdscope.commits/v1"


def day(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=timezone.utc).strftime("%Y-%m-%d")


def build(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    commits = sorted((r for r in records if r.get("kind") == "commit"), key=lambda r: r.get("end_ns", 0))
    n = len(commits)
    slices = [int(c.get("cmdscope.commit.slices", 0)) for c in commits]
    lines = [int(c.get("cmdscope.commit.changed_lines", 0)) for c in commits]
    waits = [float(c["cmdscope.commit.since_gate_s"]) for c in commits if c.get("cmdscope.commit.since_gate_s") is not None]
    per_packet: dict[str, list[int]] = {}
    for c, s in zip(commits, slices):
        if c.get("cmdscope.packet"):
            per_packet.setdefault(c["cmdscope.packet"], []).append(s)
    per_day = Counter(day(c["end_ns"]) for c in commits)
    atomic_day = Counter(day(c["end_ns"]) for c, s in zip(commits, slices) if s == 1)
    return {
        "schema": SCHEMA,
        "commits": n,
        "atomic": sum(s == 1 for s in slices),
        "atomic_share": sum(s == 1 for s in slices) / n if n else None,
        "deferred": sum(s >= 2 for s in slices),
        "deferred_share": sum(s >= 2 for s in slices) / n if n else None,
        "unvalidated": sum(s == 0 for s in slices),
        "unvalidated_share": sum(s == 0 for s in slices) / n if n else None,
        "deferred_to_end_packets": sum(1 for v in per_packet.values() if len(v) == 1 and v[0] >= 2),
        "packets": len(per_packet),
        "mean_changed_lines": mean(lines) if lines else None,
        "median_gate_to_commit_s": median(waits) if waits else None,
        "per_day": [{"day": d, "commits": per_day[d], "atomic": atomic_day.get(d, 0)} for d in sorted(per_day)],
        "recent": [{"time": c.get("time"), "revision": c.get("vcs.ref.head.revision", "")[:12],
                    "packet": c.get("cmdscope.packet"), "slices": s, "changed_lines": ln,
                    "message": c.get("cmdscope.commit.message", "")} for c, s, ln in list(zip(commits, slices, lines))[-20:]],
    }


def render(data: dict[str, Any], fmt: str) -> str:
    from cmdscope.sdlc.durations import format_duration
    from cmdscope.sdlc.tables import markdown, num, pct, table

    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=True)
    summary = [
        ["commits", str(data["commits"])],
        ["atomic (1 validated slice)", f"{data['atomic']} ({pct(data['atomic_share'])})"],
        ["deferred (2+ slices)", f"{data['deferred']} ({pct(data['deferred_share'])})"],
        ["unvalidated (no gate pass)", f"{data['unvalidated']} ({pct(data['unvalidated_share'])})"],
        ["packets with all work in one final commit", f"{data['deferred_to_end_packets']} of {data['packets']}"],
        ["mean changed lines per commit", num(data["mean_changed_lines"], 1)],
        ["median gate pass -> commit", format_duration(data["median_gate_to_commit_s"])],
    ]
    recent = [[r["time"][:16] if r["time"] else "", r["revision"], r["packet"] or "-", str(r["slices"]),
               str(r["changed_lines"]), r["message"][:50]] for r in data["recent"]]
    hdr = ["TIME (UTC)", "COMMIT", "PACKET", "SLICES", "LINES", "MESSAGE"]
    render_t = markdown if fmt == "md" else table
    return render_t(["FIGURE", "VALUE"], summary) + "\n\n" + render_t(hdr, recent)


def main(argv: list[str]) -> int:
    from cmdscope.reports.common import since_or_report
    from cmdscope.reports.packets import load

    p = argparse.ArgumentParser(prog="cmdscope report commits", description="Atomic commit cadence.")
    p.add_argument("--since", default="7d")
    p.add_argument("--format", choices=("table", "json", "md"), default="table")
    p.add_argument("--ledger")
    args = p.parse_args(argv)
    now = time.time_ns()
    since = since_or_report(args.since, "cmdscope report commits", now)
    if since is None:
        return 2
    sys.stdout.write(render(build(load(args.ledger, since)), args.format) + "\n")
    return 0
