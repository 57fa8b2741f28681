"""``cmdscope integrations install|uninstall|status [claude-code|opencode|codex|git] [--project|--user]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cmdscope._cli.args import Parser, add_format


def main(argv: list[str]) -> int:
    from cmdscope._integrations.install import TARGETS, InstallError, install, status, uninstall

    ap = Parser(prog="cmdscope integrations",
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
                       help="your user settings (~/.claude, $CODEX_HOME or ~/.codex, ~/.config/opencode)")
    ap.add_argument("--dir", default=".", help="project directory (default: the current one)")
    ap.add_argument("--python", default=None,
                    help="interpreter the hooks run cmdscope with (default: this one); must import cmdscope")
    ap.add_argument("--trust", action="store_true",
                    help="codex: also mark the installed hooks trusted in Codex (asks `codex app-server`), "
                         "so `codex exec` runs them without review")
    ap.add_argument("--codex", default="codex", help="the Codex CLI --trust runs (default: codex on PATH)")
    add_format(ap)
    args = ap.parse_args(argv)
    if args.trust and (args.target != "codex" or args.action != "install"):
        ap.error("--trust applies to 'install codex' only")
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
    if args.trust:
        return _trust_codex(args.codex, base, changes[0].path)
    if args.target == "codex" and args.action == "install" and changes[0].action == "added":
        print("cmdscope integrations: codex: note: Codex runs new hooks only once they are trusted: answer its "
              "startup review, or run this again with --trust (`codex exec` skips untrusted hooks silently)")
    return 0


def _trust_codex(codex: str, base: Path, source: Path) -> int:
    from cmdscope._integrations.codex_trust import TrustError, trust
    from cmdscope._integrations.install import _ours

    try:
        keys = trust(codex, base, source, lambda command: _ours(command, "codex"))
    except TrustError as exc:
        sys.stderr.write(f"cmdscope integrations: codex: hooks installed but not trusted: {exc}\n")
        return 2
    for key in keys:
        print(f"cmdscope integrations: codex: trusted: {key}")
    if not keys:
        print("cmdscope integrations: codex: hooks already trusted")
    return 0
