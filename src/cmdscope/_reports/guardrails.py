"""`cmdscope report denials` and `cmdscope report danger`: what the guard blocked and saw.

Counts by rule and policy source over the ledger. Every denial names its policy rule (the
pipeline refuses to deny without one), so the `uncategorized` count is a tripwire: it is
printed always and must stay zero; a non-zero value makes the report exit 1.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any, Iterable

from cmdscope._cli.args import Parser
from cmdscope._safe_text import printable

UNCATEGORIZED = "uncategorized"


def _rules(rec: dict[str, Any]) -> list[str]:
    value = rec.get("cmdscope.danger.rule")
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)] if value else []


def denials(records: Iterable[dict[str, Any]], since_ns: int | None = None, limit: int = 20) -> dict[str, Any]:
    """Denial records counted by policy rule, by policy source and by danger rule, and the
    newest ``limit`` denied commands (what was denied, by which rule; 0: all)."""
    from collections import deque

    from cmdscope._command_text import as_typed

    recent: deque[dict[str, Any]] = deque(maxlen=limit or None)
    by_rule: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    by_danger: Counter[str] = Counter()
    by_actor: Counter[str] = Counter()
    total = uncategorized = 0
    for rec in records:
        if rec.get("kind") != "denial" or (since_ns and rec.get("end_ns", 0) < since_ns):
            continue
        total += 1
        uncategorized += not (rec.get("cmdscope.policy.rule") and rec.get("cmdscope.policy.source"))
        by_rule[rec.get("cmdscope.policy.rule") or UNCATEGORIZED] += 1
        by_source[rec.get("cmdscope.policy.source") or UNCATEGORIZED] += 1
        by_actor[rec.get("cmdscope.actor") or "unknown"] += 1
        for rule in _rules(rec) or [UNCATEGORIZED]:
            by_danger[rule] += 1
        recent.append({"time": rec.get("time"), "actor": rec.get("cmdscope.actor"),
                       "policy_rule": rec.get("cmdscope.policy.rule") or UNCATEGORIZED,
                       "danger_rule": ", ".join(_rules(rec)) or "-", "command": as_typed(rec),
                       "record_id": rec.get("record_id")})
    return {
        "report": "denials",
        "total": total,
        "uncategorized": uncategorized,
        "by_policy_rule": dict(by_rule.most_common()),
        "by_policy_source": dict(by_source.most_common()),
        "by_danger_rule": dict(by_danger.most_common()),
        "by_actor": dict(by_actor.most_common()),
        "denied": list(recent),
    }


def danger(records: Iterable[dict[str, Any]], since_ns: int | None = None) -> dict[str, Any]:
    """Dangerous-command matches (ran or blocked) by rule, severity, effective action and source."""
    from cmdscope._sinks.otel import effective_action

    by_rule: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    by_action: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    total = 0
    uncategorized = 0
    for rec in records:
        if since_ns and rec.get("end_ns", 0) < since_ns:
            continue
        rules = _rules(rec)
        if not rules:
            if rec.get("cmdscope.danger.severity"):
                uncategorized += 1  # a severity without the rule that gave it
            continue
        total += 1
        for rule in rules:
            by_rule[rule] += 1
        by_severity[rec.get("cmdscope.danger.severity") or UNCATEGORIZED] += 1
        by_action[effective_action(rec)] += 1
        by_source[rec.get("cmdscope.policy.source") or "(no policy rule applied)"] += 1
    return {
        "report": "danger",
        "total": total,
        "uncategorized": uncategorized + by_severity[UNCATEGORIZED],
        "by_rule": dict(by_rule.most_common()),
        "by_severity": dict(by_severity.most_common()),
        "by_action": dict(by_action.most_common()),
        "by_policy_source": dict(by_source.most_common()),
    }


def render(report: dict[str, Any]) -> str:
    lines = [f"{report['report']}: {report['total']} record(s), uncategorized {report['uncategorized']}"]
    for key, value in report.items():
        if isinstance(value, dict):
            lines.append("")
            lines.append(key.replace("_", " ") + ":")
            if not value:
                lines.append("  (none)")
            width = max((len(printable(k)) for k in value), default=0)
            lines.extend(f"  {printable(k):<{width}}  {v:>6}" for k, v in value.items())
    if "denied" in report:
        from cmdscope._reports.common import render_table

        rows = [[str(d["time"] or "-")[:19].replace("T", " "), str(d["actor"] or "-"), d["policy_rule"],
                 d["danger_rule"], d["command"]] for d in report["denied"]]
        lines += ["", f"denied commands (newest {len(rows)}, oldest first):",
                  render_table(["TIME (UTC)", "ACTOR", "POLICY RULE", "DANGER RULE", "COMMAND"], rows) if rows
                  else "  (none)"]
    return "\n".join(lines) + "\n"


# Candidate lines for the reader's scan: denial records; any record that names a danger rule.
NEEDLES = {"denials": (rb'"kind":"denial"',), "danger": (rb'"cmdscope\.danger\.',)}  # plain text: found with find()


def _main(argv: list[str], name: str) -> int:
    from cmdscope._cli import args as args_
    from cmdscope._cli.ledger import parse_since
    from cmdscope._reports.common import LedgerStream

    parser = Parser(prog=f"cmdscope report {name}", description=__doc__)
    args_.add_since(parser)
    args_.add_format(parser)
    if name == "denials":
        parser.add_argument("--limit", type=args_.count, default=20,
                            help="list the newest this many denied commands (default 20; 0: all)")
    parser.add_argument("--ledger", help="ledger path (default: $CMDSCOPE_LEDGER or the state dir)")
    args = parser.parse_args(argv)
    since = parse_since(args.since) if args.since else None
    read = LedgerStream(args.ledger, f"cmdscope report {name}", since_ns=since, needles=NEEDLES[name])
    report = denials(read.records, since, args.limit) if name == "denials" else danger(read.records, since)
    read.finish()
    report["generated_at_ns"] = time.time_ns()
    report["unreadable_lines"] = read.stats.bad_lines
    sys.stdout.write(json.dumps(report, indent=2) + "\n" if args.format == "json" else render(report))
    return 1 if report["uncategorized"] else 0


def main_denials(argv: list[str]) -> int:
    return _main(argv, "denials")


def main_danger(argv: list[str]) -> int:
    return _main(argv, "danger")
