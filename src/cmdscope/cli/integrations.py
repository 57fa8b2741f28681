"""``cmdscope integrations install|uninstall claude-code|opencode|codex|git [--project|--user]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from cmdscope.integrations.install import TARGETS, InstallError, install, uninstall

    ap = argparse.ArgumentParser(prog="cmdscope integrations",
                                 description="Install or remove cmdscope's agent and git integrations.")
    ap.add_argument("action", choices=("install", "uninstall"))
    ap.add_argument("target", choices=TARGETS)
    scope = ap.add_mutually_exclusive_group()
    scope.add_argument("--project", dest="scope", action="store_const", const="project",
                       help="this project (.claude/, .codex/, .opencode/, .git/hooks) [default]")
    scope.add_argument("--user", dest="scope", action="store_const", const="user",
                       help="your user settings (~/.claude, ~/.codex, ~/.config/opencode)")
    ap.add_argument("--dir", default=".", help="project directory (default: the current one)")
    ap.add_argument("--python", default=None,
                    help="interpreter the hooks run cmdscope with (default: this one)")
    args = ap.parse_args(argv)
    base = Path(args.dir).resolve()
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
