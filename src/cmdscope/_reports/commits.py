"""``cmdscope report commits [--since 7d] [--format table|json|md]``: atomic commit cadence.

- atomic share: commits carrying exactly one validated slice (a gate pass over changes);
- deferred: commits carrying two or more slices (validated work that waited to be committed);
  ``deferred_to_end_packets`` counts packets whose only commit carried two or more slices;
- unvalidated: commits with no gate pass since the previous commit;
- mean changed lines per commit; median time from the last gate pass to the commit.
docs/sdlc.md#commit-cadence defines each figure.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from statistics import mean, median
from typing import Any, Iterable

from cmdscope._cli.args import Parser

NS = 1_000_000_000
SCHEMA = "cmdscope.commits/v1"


def day(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=timezone.utc).strftime("%Y-%m-%d")


class CommitCadence:
    """Commit figures fed one record at a time. Memory: a few numbers per commit in the
    window (slices, changed lines, wait) for the median and the per-packet count, and the
    last 20 commits for the table, never the records themselves."""

    KINDS = frozenset({"commit"})
    RECENT = 20

    def __init__(self) -> None:
        self.commits: list[tuple[int, int, int, str | None]] = []  # (end_ns, slices, lines, packet)
        self.waits: list[float] = []
        self.recent: list[tuple[int, dict[str, Any]]] = []

    def add(self, c: dict[str, Any]) -> None:
        slices, lines = c["cmdscope.commit.slices"], c["cmdscope.commit.changed_lines"]
        self.commits.append((c["end_ns"], slices, lines, c.get("cmdscope.packet")))
        if c.get("cmdscope.commit.since_gate_s") is not None:
            self.waits.append(float(c["cmdscope.commit.since_gate_s"]))
        self.recent.append((c["end_ns"], {
            "time": c.get("time"), "revision": c["vcs.ref.head.revision"][:12], "packet": c.get("cmdscope.packet"),
            "slices": slices, "changed_lines": lines, "message": c.get("cmdscope.commit.message") or ""}))
        if len(self.recent) > 4 * self.RECENT:
            self.recent = sorted(self.recent, key=lambda e: e[0])[-self.RECENT:]

    def finish(self) -> dict[str, Any]:
        commits = sorted(self.commits, key=lambda c: c[0])
        n = len(commits)
        slices = [c[1] for c in commits]
        lines = [c[2] for c in commits]
        per_packet: dict[str, list[int]] = {}
        for _, s, _, packet in commits:
            if packet:
                per_packet.setdefault(packet, []).append(s)
        per_day = Counter(day(c[0]) for c in commits)
        atomic_day = Counter(day(c[0]) for c in commits if c[1] == 1)
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
            "median_gate_to_commit_s": median(self.waits) if self.waits else None,
            "per_day": [{"day": d, "commits": per_day[d], "atomic": atomic_day.get(d, 0)} for d in sorted(per_day)],
            "recent": [r for _, r in sorted(self.recent, key=lambda e: e[0])[-self.RECENT:]],
        }


def build(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    cadence = CommitCadence()
    for r in records:
        if r.get("kind") == "commit":
            cadence.add(r)
    return cadence.finish()


def render(data: dict[str, Any], fmt: str) -> str:
    from cmdscope._sdlc.durations import format_duration
    from cmdscope._sdlc.tables import markdown, num, pct, table

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
    from cmdscope._cli import args as args_
    from cmdscope._reports.common import LedgerStream, since_or_report

    p = Parser(prog="cmdscope report commits", description="Atomic commit cadence.")
    args_.add_since(p, "7d", what="commits since")
    args_.add_format(p, ("table", "json", "md"))
    p.add_argument("--ledger", help="ledger path (default: $CMDSCOPE_LEDGER or the state dir)")
    args = p.parse_args(argv)
    now = time.time_ns()
    since = since_or_report(args.since, "cmdscope report commits", now)
    if since is None:
        return 2
    read = LedgerStream(args.ledger, "cmdscope report commits", since_ns=since, kinds=CommitCadence.KINDS)
    data = build(read.records)
    read.finish()
    sys.stdout.write(render(data, args.format) + "\n")
    return 0
