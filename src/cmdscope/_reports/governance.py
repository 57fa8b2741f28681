"""`cmdscope report governance [--since 30d]`: the rolling governance figures against the targets
of the governance policy, pass or fail.

- **auto-merge rate**: of the pipeline runs whose gates all passed, the share that merged without
  a person (``cmdscope.merge.result = auto``). Runs with a failed gate need review by design and
  are not counted against the rate; they are shown beside it.
- **scheduled checks on time**: heartbeats and audits that came within their interval plus grace.

Exit 0 when every figure meets its target, 1 when one misses it, 2 on bad input. A figure with no
data in the window is shown as such and does not fail.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from typing import Any

from cmdscope._cli.args import Parser
from cmdscope._reports.common import iso, render_markdown, render_table, since_or_report

KINDS = ("pipeline", "heartbeat", "audit")


class Figures:
    """The governance figures, fed one record at a time (``add``), so a report can share its
    ledger pass; only counters are kept."""

    def __init__(self) -> None:
        self.runs = self.green = self.auto_green = self.auto_any = 0
        self.checks = self.on_time = 0

    def add(self, r: dict[str, Any]) -> None:
        kind = r.get("kind")
        if kind == "pipeline" and "cmdscope.merge.result" in r:
            self.runs += 1
            auto = r.get("cmdscope.merge.result") == "auto"
            self.auto_any += auto
            gates, passed = r.get("cmdscope.pipeline.gates"), r.get("cmdscope.pipeline.gates_passed")
            if r.get("cicd.pipeline.result") == "success" and gates == passed:
                self.green += 1
                self.auto_green += auto
        elif kind in ("heartbeat", "audit") and r.get("cmdscope.heartbeat.name"):
            self.checks += 1
            self.on_time += bool(r.get("cmdscope.schedule.on_time"))

    def merge(self, later: Figures) -> None:
        """The counts of the records after these."""
        for name in ("runs", "green", "auto_green", "auto_any", "checks", "on_time"):
            setattr(self, name, getattr(self, name) + getattr(later, name))

    def result(self, targets: Any) -> dict[str, Any]:
        green, auto_green, checks, on_time = self.green, self.auto_green, self.checks, self.on_time

        def figure(name: str, value: float | None, target: float, detail: str) -> dict[str, Any]:
            state = "no data" if value is None else ("pass" if value >= target else "fail")
            return {"figure": name, "value": value, "target": target, "state": state, "detail": detail}

        return {"figures": [
            figure("auto_merge_rate", auto_green / green if green else None, targets.auto_merge_rate,
                   f"{auto_green} of {green} green pipeline runs auto-merged ({self.auto_any} of {self.runs} runs overall)"),
            figure("schedule_on_time", on_time / checks if checks else None, targets.schedule_on_time,
                   f"{on_time} of {checks} heartbeats and audits on time"),
        ]}


def build(records: Iterable[dict[str, Any]], targets: Any) -> dict[str, Any]:
    """One pass over the records; only counters are kept."""
    figures = Figures()
    for r in records:
        figures.add(r)
    return figures.result(targets)


def main(argv: list[str]) -> int:
    from cmdscope._cli import args as args_

    parser = Parser(prog="cmdscope report governance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    args_.add_since(parser, shown="the policy's targets.window_days, 30d")
    parser.add_argument("--policy", help="governance policy file with the targets (default: the shipped one)")
    parser.add_argument("--ledger", help="ledger to read (default: $CMDSCOPE_LEDGER or the state directory's)")
    args_.add_format(parser, ("table", "json", "md"))
    args = parser.parse_args(argv)

    from cmdscope._sdlc.governance import load_policy
    from cmdscope._sdlc.yamlfile import ConfigError

    try:
        policy = load_policy(args.policy)
    except ConfigError as exc:
        sys.stderr.write(f"cmdscope report governance: {exc}\n")
        return 2
    now = time.time_ns()
    since = since_or_report(args.since or f"{policy.targets.window_days}d", "cmdscope report governance", now)
    if since is None:
        return 2
    from cmdscope._reports.common import LedgerStream

    stream = LedgerStream(args.ledger, "cmdscope report governance", since_ns=since, kinds=KINDS)
    data = build(stream.records, policy.targets)
    stream.finish()
    data.update({"since": iso(since), "until": iso(now), "policy": f"{policy.name}@{policy.version}"})
    failed = any(f["state"] == "fail" for f in data["figures"])
    if args.format == "json":
        print(json.dumps(data, indent=2))
        return 1 if failed else 0
    headers = ["figure", "value", "target", "state", "detail"]
    rows = [[f["figure"].replace("_", " "), "-" if f["value"] is None else f"{f['value']:.1%}",
             f">= {f['target']:.0%}", f["state"].upper() if f["state"] != "no data" else "no data", f["detail"]]
            for f in data["figures"]]
    print(f"Governance {data['since']} .. {data['until']} (policy {data['policy']})")
    print(render_markdown(headers, rows) if args.format == "md" else render_table(headers, rows))
    return 1 if failed else 0
