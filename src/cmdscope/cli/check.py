"""``cmdscope check``: is this command dangerous? Exit 0 when nothing matches, 1 when something does."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="cmdscope check",
        description="Match a command against the dangerous-command registry. "
                    "'cmdscope check -- CMD ARGS...' checks an argv; "
                    "'cmdscope check \"a bash string\"' checks a shell string.")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command")
    raw = list(argv)
    argv_mode = "--" in raw
    if argv_mode:
        split = raw.index("--")
        args = parser.parse_args(raw[:split])
        command: list[str] | str = raw[split + 1:]
    else:
        args = parser.parse_args(raw)
        command = " ".join(args.command)
    if not command:
        sys.stderr.write("cmdscope check: no command given (use -- CMD ARGS... or a quoted string)\n")
        return 2
    from cmdscope.guard import Guard, GuardConfigError

    try:
        guard = Guard.load()
        matches = guard.check(command, shell=not argv_mode)
    except GuardConfigError as exc:
        sys.stderr.write(f"cmdscope check: {exc}\n")
        return 2
    severity = matches[0].severity if matches else None
    if args.json:
        print(json.dumps({"dangerous": bool(matches), "severity": severity,
                          "matches": [m.to_json() for m in matches],
                          "registry_version": guard.registry_version}))
    elif matches:
        for m in matches:
            print(f"{m.severity:<8} {m.rule_id}: {m.title}\n         {m.rationale}\n         see {m.playbook}")
    else:
        print(f"no dangerous-command rule matches (registry {guard.registry_version})")
    return 1 if matches else 0
