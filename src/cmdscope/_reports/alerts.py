"""`cmdscope report alerts [--since 30d] [--dir DIR]`: alert quality from triaged incident stubs.

Per alert rule: incidents fired, triaged, false positives, false-positive rate, median time to
acknowledge and to resolve. A rule whose false-positive rate is above the governance policy's
``targets.max_false_positive_rate`` (or ``--max-fp-rate``) is flagged, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from cmdscope._cli.args import Parser
from cmdscope._reports.common import human_duration, render_markdown, render_table, since_or_report

DEFAULT_DIR = "incidents"


def main(argv: list[str]) -> int:
    from cmdscope._cli import args as args_

    parser = Parser(prog="cmdscope report alerts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path(DEFAULT_DIR),
                        help=f"incident stub directory of `cmdscope incidents serve` (default {DEFAULT_DIR}/)")
    args_.add_since(parser, "30d", what="incidents first seen at or after")
    parser.add_argument("--max-fp-rate", type=float, help="flag rules above this false-positive rate "
                        "(default: the governance policy's targets.max_false_positive_rate)")
    parser.add_argument("--policy", help="governance policy file (default: the shipped one)")
    args_.add_format(parser, ("table", "json", "md"))
    args = parser.parse_args(argv)
    since_ns = since_or_report(args.since, "cmdscope report alerts", time.time_ns())
    if since_ns is None:
        return 2
    if not args.dir.is_dir():
        sys.stderr.write(f"cmdscope report alerts: --dir {args.dir}: no such directory\n")
        return 2
    threshold = args.max_fp_rate
    if threshold is None:
        from cmdscope._sdlc.governance import load_policy
        from cmdscope._sdlc.yamlfile import ConfigError

        try:
            threshold = load_policy(args.policy).targets.max_false_positive_rate
        except ConfigError as exc:
            sys.stderr.write(f"cmdscope report alerts: {exc}\n")
            return 2
    if not 0 <= threshold <= 1:
        sys.stderr.write("cmdscope report alerts: --max-fp-rate must be between 0 and 1\n")
        return 2

    from cmdscope._incidents.store import IncidentStore
    from cmdscope._incidents.triage import quality

    store = IncidentStore(args.dir)
    since = datetime.fromtimestamp(since_ns / 1e9, tz=UTC)
    rows = quality(store.all(), since=since, max_fp_rate=threshold)
    flagged = [r["alertname"] for r in rows if r["over_threshold"]]
    if args.format == "json":
        print(json.dumps({"since": since.isoformat(), "max_false_positive_rate": threshold,
                          "rules": rows, "flagged": flagged}, indent=2))
        return 1 if flagged else 0
    headers = ["alert rule", "fired", "triaged", "false pos.", "FP rate", "time to ack", "time to resolve", ""]
    table = [[r["alertname"], str(r["fired"]), str(r["triaged"]), str(r["false_positives"]),
              "-" if r["false_positive_rate"] is None else f"{r['false_positive_rate']:.0%}",
              human_duration(r["median_ack_s"]), human_duration(r["median_resolve_s"]),
              f"above {threshold:.0%}" if r["over_threshold"] else ""] for r in rows]
    if not rows:
        print(f"No incidents since {since:%Y-%m-%d %H:%M} in {args.dir}.")
        return 0
    print(render_markdown(headers, table) if args.format == "md" else render_table(headers, table, align_right={1, 2, 3, 4}))
    if flagged:
        print(f"\n{len(flagged)} rule(s) above the false-positive threshold of {threshold:.0%}: {', '.join(flagged)}")
    return 1 if flagged else 0
