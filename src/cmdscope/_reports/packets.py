"""``cmdscope report packets [--since 30d] [--weekly] [--format table|json|md|html]``.

Per packet: duration, commands, failure density, gate pass rate, denials, dangerous hits,
retries, commits and cycle time (packet start to its auto-merge). Per ISO week: medians and
rates with the change against the previous week. The trend over the window is tested with
Mann-Kendall (docs/packets.md#trend). ``--weekly --format json`` is the stable weekly export
(schema ``cmdscope.packets.weekly/v1``).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta, timezone
from statistics import median
from typing import Any, Iterable

from cmdscope._cli.args import Parser

NS = 1_000_000_000
WEEK_S = 7 * 86400
TREND_METRICS = ("duration_s", "commands", "failure_density", "gate_pass_rate", "cycle_time_s")
WEEKLY_SCHEMA = "cmdscope.packets.weekly/v1"
PACKETS_SCHEMA = "cmdscope.packets/v1"


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def week_of(ns: int) -> tuple[str, str]:
    """(ISO week label ``2026-W47``, its Monday ``2026-11-16``)."""
    d = datetime.fromtimestamp(ns / NS, tz=timezone.utc).date()
    y, w, _ = d.isocalendar()
    monday = d - timedelta(days=d.weekday())
    return f"{y}-W{w:02d}", monday.isoformat()


class PacketRows:
    """One row per ended packet, fed one record at a time: memory grows with the packets in
    the window (a row each, and a merge time per merged packet), never with the records."""

    KINDS = frozenset({"packet", "pipeline"})

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.merges: dict[str, int] = {}

    def add(self, r: dict[str, Any]) -> None:
        kind = r["kind"]
        if kind == "packet":
            self.rows.append(_row(r))
        elif (kind == "pipeline" and r.get("cmdscope.merge.result") == "auto" and r.get("cmdscope.merge.performed")
              and r.get("cmdscope.packet")):
            self.merges.setdefault(r["cmdscope.packet"], r["end_ns"])

    def merge(self, later: PacketRows) -> None:
        """The rows of the records after these (a packet's first auto-merge stays the earlier)."""
        self.rows.extend(later.rows)
        for packet, end in later.merges.items():
            self.merges.setdefault(packet, end)

    def finish(self) -> list[dict[str, Any]]:
        """The rows oldest first, with the cycle time from each packet's auto-merge."""
        rows = sorted(self.rows, key=lambda row: row["end_ns"])
        for row in rows:
            merged = self.merges.get(row["packet"])
            start = row.pop("start_ns")
            row["cycle_time_s"] = round((merged - start) / NS, 3) if merged and merged >= start else None
        return rows


def _row(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "packet": p["cmdscope.packet"],
        "title": p.get("cmdscope.packet.title") or "",
        "actor": p.get("cmdscope.actor", ""),
        "status": p["cmdscope.packet.status"],
        "start": iso(p["start_ns"]),
        "end": iso(p["end_ns"]),
        "start_ns": p["start_ns"],
        "end_ns": p["end_ns"],
        "duration_s": p["duration_s"],
        "commands": p["cmdscope.packet.commands"],
        "failures": p["cmdscope.packet.failures"],
        "failure_density": p["cmdscope.packet.failure_density"],
        "gates": p["cmdscope.packet.gates"],
        "gate_pass_rate": p.get("cmdscope.packet.gate_pass_rate"),
        "denials": p["cmdscope.packet.denials"],
        "danger_hits": p["cmdscope.packet.danger_hits"],
        "retries": p["cmdscope.packet.retries"],
        "commits": p["cmdscope.packet.commits"],
    }


def packet_rows(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per ended packet, oldest first; cycle time from the packet's auto-merge."""
    rows = PacketRows()
    for r in records:
        if r.get("kind") in PacketRows.KINDS:
            rows.add(r)
    return rows.finish()


def _med(values: list[float]) -> float | None:
    return float(median(values)) if values else None


def weekly(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(week_of(r["end_ns"]), []).append(r)
    weeks = []
    prev: dict[str, Any] | None = None
    for (label, monday), items in sorted(groups.items(), key=lambda kv: kv[0][1]):
        gates = sum(i["gates"] for i in items)
        passed = sum(round((i["gate_pass_rate"] or 0) * i["gates"]) for i in items)
        w: dict[str, Any] = {
            "week": label,
            "start": monday,
            "packets": len(items),
            "median_duration_s": _med([i["duration_s"] for i in items]),
            "commands_per_packet": sum(i["commands"] for i in items) / len(items),
            "failure_density": _med([i["failure_density"] for i in items]),
            "gate_pass_rate": passed / gates if gates else None,
            "median_cycle_time_s": _med([i["cycle_time_s"] for i in items if i["cycle_time_s"] is not None]),
            "denials": sum(i["denials"] for i in items),
            "danger_hits": sum(i["danger_hits"] for i in items),
            "commits": sum(i["commits"] for i in items),
        }
        change: dict[str, float | None] = {}
        for key in ("median_duration_s", "commands_per_packet", "failure_density", "gate_pass_rate", "median_cycle_time_s"):
            a, b = (prev or {}).get(key), w[key]
            change[key] = None if a in (None, 0) or b is None else round((b - a) / a, 6)
        w["change"] = change
        weeks.append(w)
        prev = w
    return weeks


def trends(rows: list[dict[str, Any]], alpha: float = 0.05) -> dict[str, Any]:
    """Mann-Kendall over per-packet values in end-time order; Sen's slope per week."""
    from cmdscope._sdlc.stats import mann_kendall

    out: dict[str, Any] = {}
    for metric in TREND_METRICS:
        pts = [(r["end_ns"] / NS / WEEK_S, r[metric]) for r in rows if r.get(metric) is not None]
        res = mann_kendall([v for _, v in pts], [t for t, _ in pts], alpha=alpha).as_dict()
        res["sen_slope_per_week"] = res.pop("sen_slope")
        out[metric] = res
    return {"test": "mann-kendall", "alpha": alpha, "order": "packet end time", "metrics": out}


def build(records: Iterable[dict[str, Any]], since_ns: int, now_ns: int) -> dict[str, Any]:
    return build_from_rows(packet_rows(records), since_ns, now_ns)


def build_from_rows(rows: list[dict[str, Any]], since_ns: int, now_ns: int) -> dict[str, Any]:
    return {
        "since": iso(since_ns),
        "until": iso(now_ns),
        "packets": rows,
        "weeks": weekly(rows),
        "trend": trends(rows),
    }


def _fmt_s(v: float | None) -> str:
    from cmdscope._sdlc.durations import format_duration

    return format_duration(v)


def render(data: dict[str, Any], fmt: str, weekly_view: bool) -> str:
    from cmdscope._sdlc.tables import change, markdown, num, pct, table

    if fmt == "json":
        drop = {"end_ns"}
        if weekly_view:
            doc = {"schema": WEEKLY_SCHEMA, "since": data["since"], "until": data["until"], "weeks": data["weeks"],
                   "trend": data["trend"]}
        else:
            doc = {"schema": PACKETS_SCHEMA, "since": data["since"], "until": data["until"],
                   "packets": [{k: v for k, v in r.items() if k not in drop} for r in data["packets"]],
                   "trend": data["trend"]}
        return json.dumps(doc, indent=2, sort_keys=True)
    if fmt == "html":
        from cmdscope._reports.html import packets_page

        return packets_page(data, weekly_view)
    if weekly_view:
        headers = ["WEEK", "PACKETS", "MEDIAN DUR", "CHG", "CMDS/PKT", "CHG", "FAIL DENSITY", "CHG", "GATE PASS", "CHG",
                   "CYCLE", "CHG"]
        rows = [[w["week"], str(w["packets"]), _fmt_s(w["median_duration_s"]), change(w["change"]["median_duration_s"]),
                 num(w["commands_per_packet"], 1), change(w["change"]["commands_per_packet"]),
                 num(w["failure_density"]), change(w["change"]["failure_density"]), pct(w["gate_pass_rate"]),
                 change(w["change"]["gate_pass_rate"]), _fmt_s(w["median_cycle_time_s"]),
                 change(w["change"]["median_cycle_time_s"])] for w in data["weeks"]]
    else:
        headers = ["PACKET", "END (UTC)", "STATUS", "DURATION", "CMDS", "FAIL DENSITY", "GATE PASS", "DENIALS", "DANGER",
                   "RETRIES", "COMMITS", "CYCLE"]
        rows = [[r["packet"], r["end"][:16], r["status"], _fmt_s(r["duration_s"]), str(r["commands"]),
                 num(r["failure_density"]), pct(r["gate_pass_rate"]), str(r["denials"]), str(r["danger_hits"]),
                 str(r["retries"]), str(r["commits"]), _fmt_s(r["cycle_time_s"])] for r in data["packets"]]
    body = markdown(headers, rows) if fmt == "md" else table(headers, rows)
    lines = [body, "", "Trend (Mann-Kendall, alpha 0.05, per packet in end-time order):"]
    for metric, t in data["trend"]["metrics"].items():
        if t["method"] == "insufficient":
            lines.append(f"  {metric}: fewer than 3 packets, no test")
            continue
        verdict = f"significant {t['direction']} trend" if t["significant"] else "no significant trend"
        lines.append(f"  {metric}: {verdict} (n={t['n']}, S={t['s']}, tau={t['tau']:+.2f}, p={t['p_value']:.3g}, "
                     f"{t['method']}, Sen slope {t['sen_slope_per_week']:+.3g}/week)")
    return "\n".join(lines)


def parse_since(text: str, now_ns: int) -> int:
    """The shared ``--since`` parser (durations like 30d, or an ISO date); ValueError when bad."""
    from cmdscope._reports.common import parse_time

    return parse_time(text, now_ns=now_ns, option="--since")


def main(argv: list[str]) -> int:
    from cmdscope._cli.args import add_format, add_since, output_file

    p = Parser(prog="cmdscope report packets", description=__doc__.split("\n\n")[1] if __doc__ else None)
    add_since(p, "30d", what="packets ended since")
    p.add_argument("--weekly", action="store_true", help="one row per ISO week with week-over-week change")
    add_format(p, ("table", "json", "md", "html"))
    p.add_argument("--ledger", help="ledger path (default: $CMDSCOPE_LEDGER or the state dir)")
    p.add_argument("-o", "--output", type=output_file, help="write to this file instead of stdout")
    args = p.parse_args(argv)
    now = time.time_ns()
    try:
        since = parse_since(args.since, now)
    except ValueError as exc:
        sys.stderr.write(f"cmdscope report packets: {exc}\n")
        return 2
    from cmdscope._reports.common import LedgerStream

    read = LedgerStream(args.ledger, "cmdscope report packets", since_ns=since, kinds=PacketRows.KINDS)
    data = build(read.records, since, now)
    read.finish()
    text = render(data, args.format, args.weekly)
    if args.output:
        from cmdscope._private_files import write_private

        try:  # 0600 whatever the umask, like every file cmdscope writes
            write_private(args.output, (text + "\n").encode("utf-8"))
        except OSError as exc:
            sys.stderr.write(f"cmdscope report packets: cannot write {args.output}: {exc.strerror or exc}\n")
            return 2
    else:
        sys.stdout.write(text + "\n")
    return 0
