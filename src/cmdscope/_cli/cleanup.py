"""``cmdscope cleanup [--dry-run]``: remove merged worktrees and branches, stale packet markers,
shipped ledger segments, resolved incident stubs and caches past the retention. Nothing
unshipped, unmerged or dirty is ever removed; every removal is recorded in the ledger first."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cmdscope._cli.args import Parser


def main(argv: list[str]) -> int:
    from cmdscope._reports.common import ReportError, parse_time

    ap = Parser(prog="cmdscope cleanup", description=__doc__)
    ap.add_argument("--repo", default=".", help="repository whose worktrees and branches to clean (default: here; "
                    "'' for none)")
    ap.add_argument("--retention", default="90d", help="keep segments, incidents, markers and caches younger "
                    "than this (default 90d)")
    ap.add_argument("--incidents", type=Path, help="incident stub directory of `cmdscope incidents serve`")
    ap.add_argument("--ledger", help="ledger (default: $CMDSCOPE_LEDGER or the state directory's)")
    ap.add_argument("--dry-run", action="store_true", help="print exactly what a real run would remove; change nothing")
    ap.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    args = ap.parse_args(argv)

    import time

    now_ns = time.time_ns()
    try:
        retention_s = (now_ns - parse_time(args.retention, now_ns=now_ns, option="--retention")) / 1e9
    except ReportError as exc:
        sys.stderr.write(f"cmdscope cleanup: {exc}\n")
        return 2
    if retention_s <= 0:
        sys.stderr.write("cmdscope cleanup: --retention must be a positive duration such as 90d\n")
        return 2
    from cmdscope._paths import default_ledger_path_str
    from cmdscope._sdlc import cleanup
    from cmdscope._sdlc.git import GitError, toplevel

    repo = None
    if args.repo:
        try:
            repo = toplevel(args.repo) or None
        except GitError:
            repo = None
        if repo is None:
            sys.stderr.write(f"cmdscope cleanup: --repo {args.repo}: not a git repository (use --repo '' for none)\n")
            return 2
    ledger = args.ledger or default_ledger_path_str()
    try:
        actions = cleanup.find(repo=repo, ledger=ledger, incidents=args.incidents, retention_s=retention_s,
                               now=now_ns / 1e9)
    except GitError as exc:
        sys.stderr.write(f"cmdscope cleanup: {exc}\n")
        return 2
    if args.dry_run:
        if args.format == "json":
            print(json.dumps([{"target": a.target, "what": a.what, "reason": a.reason} for a in actions], indent=2))
        else:
            for a in actions:
                print("would remove " + a.line())
            print(f"dry run: {len(actions)} removal(s), nothing changed")
        return 0
    done = cleanup.carry_out(actions, ledger)
    failed = [(a, e) for a, e in done if e]
    if args.format == "json":
        print(json.dumps([{"target": a.target, "what": a.what, "reason": a.reason, "error": e} for a, e in done], indent=2))
    else:
        for a, e in done:
            print(("FAILED " + a.line() + f": {e}") if e else "removed " + a.line())
        print(f"{len(done) - len(failed)} removed, {len(failed)} failed")
    return 1 if failed else 0
