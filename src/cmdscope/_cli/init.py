"""``cmdscope init``: provision this git repository for governed agent work (or ``--undo`` it).

Shows the plan, then carries it out: guard policy, governance policy, a pipeline for the
toolchains found, schedule files, agent integrations and git hooks. Idempotent; never replaces a
file of yours without --force; ``--undo`` removes exactly what init added.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cmdscope._cli.args import Parser


def main(argv: list[str]) -> int:
    from cmdscope._sdlc import provision as pv

    ap = Parser(prog="cmdscope init", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", action="append", choices=pv.AGENTS, default=[],
                    help="agent integration to install (repeatable; default: none)")
    ap.add_argument("--policy", choices=pv.POLICIES, default="standard",
                    help="guard policy preset (default standard: deny critical, warn high)")
    ap.add_argument("--schedule", choices=pv.SCHEDULES, default="systemd",
                    help="how the audit and cleanup jobs are scheduled (default systemd user timers)")
    ap.add_argument("--dir", default=".", help="a directory inside the repository (default: the current one)")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    ap.add_argument("--force", action="store_true", help="replace files that exist with other content "
                    "(with --undo: remove files edited since init too)")
    ap.add_argument("--undo", action="store_true", help="remove exactly what init added")
    ap.add_argument("--python", help="interpreter the hooks run cmdscope with (default: this one)")
    args = ap.parse_args(argv)
    try:
        root = pv.repo_root(Path(args.dir).resolve())
        if args.undo:
            lines = pv.undo(root, force=args.force, dry_run=args.dry_run)
            if not lines:
                print(f"cmdscope init --undo: nothing to undo in {root} (no {pv.MANIFEST})")
            for line in lines:
                print(("would " if args.dry_run else "") + line)
            return 0
        plan = pv.plan(root, agents=args.agent, preset=args.policy, schedule=args.schedule, force=args.force)
    except pv.ProvisionError as exc:
        sys.stderr.write(f"cmdscope init: {exc}\n")
        return 2
    print(f"cmdscope init: {root} (toolchains: {', '.join(plan.toolchains) or 'none found'})")
    for step in plan.steps:
        print("  " + step.line())
    if args.dry_run:
        print("dry run: nothing changed")
        return 0
    skipped = [s for s in plan.steps if s.action == "skip"]
    from cmdscope._integrations.install import InstallError

    try:
        done = pv.apply(plan, args.python)
    except (InstallError, OSError) as exc:
        sys.stderr.write(f"cmdscope init: {exc}\n")
        return 2
    installed_files = [d for d in done if not d.startswith("installed")]
    if not done:
        print("nothing to do: already set up" + (f" ({len(skipped)} file(s) of yours kept)" if skipped else ""))
    else:
        print(f"done: {len(installed_files)} file(s) written, {len(done) - len(installed_files)} integration change(s)")
    return 0
