"""``cmdscope integrations install|uninstall|status [claude-code|opencode|codex|git] [--project|--user]``."""

from __future__ import annotations

import argparse
import json
import sys

from cmdscope.cli.args import add_format
from pathlib import Path


def main(argv: list[str]) -> int:
    from cmdscope.integrations.install import TARGETS, InstallError, install, status, uninstall

    ap = argparse.ArgumentParser(prog="cmdscope integrations",
                                 description="Install, remove or check cmdscope's agent and git integrations. "
                                             "Project installs name no path of this machine in committed files "
                                             "(see docs/integrations.md#set-up-a-team).")
    ap.add_argument("action", choices=("install", "uninstall", "status"),
                    help="install, uninstall, or status (what is installed where, and whether it works here)")
    ap.add_argument("target", nargs="?", choices=TARGETS, help="the integration (not for status)")
    scope = ap.add_mutually_exclusive_group()
    scope.add_argument("--project", dest="scope", action="store_const", const="project",
                       help="this project (.claude/, .codex/, .opencode/, .git/hooks) [default]")
    scope.add_argument("--user", dest="scope", action="store_const", const="user",
                       help="your user settings (~/.claude, ~/.codex, ~/.config/opencode)")
    ap.add_argument("--dir", default=".", help="project directory (default: the current one)")
    ap.add_argument("--python", default=None,
                    help="interpreter the hooks run cmdscope with (default: this one); must import cmdscope")
    add_format(ap)
    args = ap.parse_args(argv)
    base = Path(args.dir).resolve()
    if not base.is_dir():
        ap.error(f"--dir {args.dir}: no such directory")
    if args.action == "status":
        rows = status(base)
        if args.format == "json":
            print(json.dumps(rows, indent=2))
        else:
            for row in rows:
                extra = f"  {row['command']}" if row.get("command") else ""
                print(f"{row['integration']:<12} {row['scope']:<8} {row['state']:<14} {row['path']}{extra}")
        return 1 if any(r["state"].startswith("fails") for r in rows) else 0
    if args.target is None:
        ap.error(f"{args.action} needs an integration: one of {', '.join(TARGETS)}")
    try:
        if args.action == "install":
            changes = install(args.target, args.scope or "project", base, args.python)
        else:
            changes = uninstall(args.target, args.scope or "project", base)
    except InstallError as exc:
        sys.stderr.write(f"cmdscope integrations: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"cmdscope integrations: {exc.filename or ''}: {exc.strerror or exc}\n")
        return 2
    for change in changes:
        print(f"cmdscope integrations: {args.target}: {change}")
    return 0
