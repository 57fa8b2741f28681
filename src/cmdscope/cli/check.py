"""``cmdscope check``: is this command dangerous? Exit 0 when nothing matches, 1 when something does."""

from __future__ import annotations

import argparse
import json
import re
import sys

# A program name never holds these; an argv of one such word is a shell string (issue 18:
# `cmdscope check -- "rm -rf /"` must not be judged as a program called "rm -rf /").
_SHELL_SYNTAX = re.compile(r"[\s;|&<>()$`'\"\\*?{}~]")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="cmdscope check",
        description="Match a command against the dangerous-command registry. "
                    "'cmdscope check -- CMD ARGS...' checks an argv; "
                    "'cmdscope check \"a bash string\"' checks a shell string; a single argument "
                    "after -- that contains shell syntax is checked as a shell string too.")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--stdin", action="store_true",
                        help="check each line of stdin as a shell string; print one JSON object per "
                             "line; exit 1 when any line is dangerous")
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
    if argv_mode and len(command) == 1 and _SHELL_SYNTAX.search(command[0]):
        command, argv_mode = command[0], False
    if args.stdin:
        if command:
            sys.stderr.write("cmdscope check: --stdin reads the commands from stdin; give no command\n")
            return 2
        return _check_stdin()
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


def _check_stdin() -> int:
    """One shell string per line in, one JSON object per line out (blank lines are skipped)."""
    from cmdscope.guard import Guard, GuardConfigError

    try:
        guard = Guard.load()
    except GuardConfigError as exc:
        sys.stderr.write(f"cmdscope check: {exc}\n")
        return 2
    found = False
    out = sys.stdout
    for raw in sys.stdin.buffer:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line.strip():
            continue
        matches = guard.check(line, shell=True)
        found = found or bool(matches)
        out.write(json.dumps({"command": line, "dangerous": bool(matches),
                              "severity": matches[0].severity if matches else None,
                              "matches": [m.to_json() for m in matches],
                              "registry_version": guard.registry_version}) + "\n")
    out.flush()
    return 1 if found else 0
