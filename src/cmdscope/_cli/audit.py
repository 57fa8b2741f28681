"""``cmdscope audit [--checks a,b] [--repo DIR] [--every 1d] [--format table|json]``.

Runs repository integrity and hygiene checks and writes one ``audit`` record. Exit 0 when every
check passed, 1 when one failed, 2 on bad options.
"""

from __future__ import annotations

import json

from cmdscope._cli import CliError
from cmdscope._cli.args import Parser


def main(argv: list[str]) -> int:
    from cmdscope._cli import args as args_
    from cmdscope._sdlc.audits import CHECKS

    p = Parser(prog="cmdscope audit", description="Repository integrity and hygiene checks.")
    p.add_argument("--checks", help=f"comma-separated subset of: {', '.join(CHECKS)} (default: all)")
    p.add_argument("--repo", default=".", help="the repository to audit (default: the current directory)")
    p.add_argument("--name", default="audit", help="schedule name of this audit (default 'audit')")
    p.add_argument("--every", help="expected interval, for the on-time rate (e.g. 1d)")
    p.add_argument("--grace", default="0s", help="lateness still counted on time (default 0s)")
    p.add_argument("--stale-after", default="24h", help="an open packet older than this was never ended")
    p.add_argument("--large-file", default="5", help="untracked file size limit in MiB (default 5)")
    p.add_argument("--registry-max-age", default="365d",
                   help="a danger/redaction registry older than this is a finding (default 365d)")
    p.add_argument("--textfile", metavar="DIR", help="also write node_exporter textfile metrics into DIR")
    p.add_argument("--ledger", help="ledger path (default: $CMDSCOPE_LEDGER or the state dir)")
    args_.add_format(p)
    args = p.parse_args(argv)
    from cmdscope._sdlc.durations import parse_duration
    from cmdscope._sdlc.git import GitError

    try:
        every = parse_duration(args.every, "--every") if args.every else None
        grace = parse_duration(args.grace, "--grace")
        stale = parse_duration(args.stale_after, "--stale-after")
        max_age = parse_duration(args.registry_max_age, "--registry-max-age")
        large = int(float(args.large_file) * 1024 * 1024)
    except ValueError as exc:
        raise CliError(str(exc) if "--" in str(exc) else f"--large-file {args.large_file!r}: expected MiB") from None
    checks = [c.strip() for c in args.checks.split(",") if c.strip()] if args.checks else None
    from cmdscope._pipeline import close_ledgers
    from cmdscope._sdlc.audits import run_audit

    try:
        rec, results = run_audit(args.repo, checks=checks, ledger=args.ledger, name=args.name, every_s=every,
                                 grace_s=grace, stale_after_s=stale, large_file_bytes=large,
                                 registry_max_age_s=max_age, textfile_dir=args.textfile)
    except GitError as exc:
        raise CliError(str(exc)) from None
    except ValueError as exc:
        raise CliError(f"--checks: {exc}") from None
    close_ledgers()
    if args.format == "json":
        print(json.dumps({"record": rec, "checks": [r.__dict__ for r in results]}, sort_keys=True))
    else:
        for r in results:
            print(f"{'PASS' if r.passed else 'FAIL'}  {r.name:<17} {r.detail}")
    return 0 if rec["cmdscope.outcome"] == "success" else 1
