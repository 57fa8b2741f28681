"""``cmdscope rate``: overall ratings (0-100 and a letter) per repository, packet and actor over a
window, each component with its value, weight and trend against the previous window."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from cmdscope._cli.args import Parser


def main(argv: list[str]) -> int:
    from cmdscope._cli import args as args_
    from cmdscope._sdlc import rating as rt

    ap = Parser(prog="cmdscope rate", description=__doc__)
    args_.add_since(ap, shown="the policy's rating.window_days",
                    what="window start (the previous window of the same length is the baseline)")
    ap.add_argument("--scope", choices=rt.SCOPES, action="append",
                    help="repository, packet or actor (repeatable; default: all three)")
    ap.add_argument("--policy", help="governance policy with rating.weights (default: the shipped one)")
    ap.add_argument("--ledger", help="ledger to read (default: $CMDSCOPE_LEDGER or the state directory's)")
    ap.add_argument("--components", action="store_true",
                    help="show every component's value, weight and trend with its significance test")
    ap.add_argument("--textfile", type=Path, help="also write cmdscope_rating.prom into DIR for node_exporter")
    args_.add_format(ap, ("table", "json", "md"))
    args = ap.parse_args(argv)

    from cmdscope._reports.common import ReportError, parse_time, render_markdown, render_table
    from cmdscope._sdlc.governance import load_policy
    from cmdscope._sdlc.yamlfile import ConfigError

    try:
        policy = load_policy(args.policy)
    except ConfigError as exc:
        sys.stderr.write(f"cmdscope rate: {exc}\n")
        return 2
    now = time.time_ns()
    try:
        split = parse_time(args.since or f"{policy.rating.window_days}d", now_ns=now, option="--since")
    except ReportError as exc:
        sys.stderr.write(f"cmdscope rate: {exc}\n")
        return 2
    if split >= now:
        sys.stderr.write("cmdscope rate: --since must lie in the past, e.g. 7d\n")
        return 2
    scopes = args.scope or list(rt.SCOPES)
    try:
        rows = [r for r in rt.rate_ledger(args.ledger, split, now, policy.rating.weights) if r["scope"] in scopes]
    except ReportError as exc:  # the ledger cannot be read
        sys.stderr.write(f"cmdscope rate: {exc}\n")
        return 2
    rt.record_metrics(rows)
    if args.textfile is not None:
        from cmdscope._private_files import write_private

        try:
            args.textfile.mkdir(parents=True, exist_ok=True)
            write_private(args.textfile / "cmdscope_rating.prom", rt.textfile(rows).encode())
            (args.textfile / "cmdscope_rating.prom").chmod(0o644)  # node_exporter reads it
        except OSError as exc:
            sys.stderr.write(f"cmdscope rate: --textfile {args.textfile}: {exc.strerror or exc}\n")
            return 2
    if args.format == "json":
        print(json.dumps({"window_s": (now - split) / 1e9, "rows": rows}, indent=2))
        return 0
    if not rows:
        print("No records in the window to rate.")
        return 0
    headers = ["scope", "subject", "rating", "previous", "trend"]
    table = [[r["scope"], r["subject"], f"{r['score']:.0f} {r['letter']}",
              "-" if r["previous"] is None else f"{r['previous']:.0f}", r["trend"]] for r in rows]
    render = render_markdown if args.format == "md" else render_table
    print(render(headers, table))
    if args.components:
        for r in rows:
            print(f"\n{r['scope']} {r['subject']}: {r['score']:.0f} {r['letter']}")
            print(render(["component", "value", "previous", "weight", "trend", "test", "p", "verdict"], [
                [c["component"], f"{c['value']:.2f}", "-" if c["previous"] is None else f"{c['previous']:.2f}",
                 f"{c['weight']:.2f}", c["trend"], c["significance"]["test"],
                 "-" if c["significance"]["p_value"] is None else f"{c['significance']['p_value']:.3g}",
                 c["significance"]["verdict"]] for c in r["components"]]))
    return 0
