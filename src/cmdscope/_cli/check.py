"""``cmdscope check``: is this command dangerous, and what would the policy do with it here?

Exit 0 when no dangerous-command rule matches, 1 when one does, 2 for a usage or configuration
error. The policy decision uses the same layers as ``cmdscope run`` in this directory (default,
the project's policy at the worktree root, CMDSCOPE_POLICY_PATH), the same mode, and the actor,
phase and branch given (or, as ``run`` does, from the environment and the checked-out branch).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from cmdscope._cli.args import Parser, add_format

# A program name never holds these; an argv of one such word is a shell string (issue 18:
# `cmdscope check -- "rm -rf /"` must not be judged as a program called "rm -rf /").
_SHELL_SYNTAX = re.compile(r"[\s;|&<>()$`'\"\\*?{}~]")


def main(argv: list[str]) -> int:
    parser = Parser(
        prog="cmdscope check",
        description="Match a command against the dangerous-command registry and the policy layers in effect here. "
                    "'cmdscope check -- CMD ARGS...' checks an argv; "
                    "'cmdscope check \"a bash string\"' checks a shell string; a single argument "
                    "after -- that contains shell syntax is checked as a shell string too. "
                    "Exit 0: nothing matches; 1: a dangerous-command rule matches; 2: usage or configuration error.")
    add_format(parser)
    parser.add_argument("--stdin", action="store_true",
                        help="check each line of stdin as a shell string; print one JSON object per "
                             "line; exit 1 when any line is dangerous")
    parser.add_argument("--actor", help="decide as this actor (default: $CMDSCOPE_ACTOR)")
    parser.add_argument("--phase", help="decide in this phase (default: $CMDSCOPE_PHASE)")
    parser.add_argument("--branch", help="decide on this checked-out branch (default: the current git branch)")
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
        return _check_stdin(args)
    if not command:
        sys.stderr.write("cmdscope check: no command given (use -- CMD ARGS... or a quoted string)\n")
        return 2
    from cmdscope._context import git_facts
    from cmdscope._guard import Guard, GuardConfigError

    where = os.getcwd()
    try:
        guard = Guard.load(cwd=where)
        decision = guard.decide(command, shell=not argv_mode, actor=args.actor, phase=args.phase,
                                branch=args.branch, git=lambda: git_facts(where))
    except GuardConfigError as exc:
        sys.stderr.write(f"cmdscope check: {exc}\n")
        return 2
    matches = decision.matches
    for notice in decision.notices():
        if not notice.startswith(("warning:", "would be denied")):
            sys.stderr.write(f"cmdscope check: {notice}\n")
    severity = decision.severity
    if args.format == "json":
        print(json.dumps({"dangerous": bool(matches), "severity": severity,
                          "matches": [m.to_json() for m in matches],
                          "decision": {"action": decision.action, "mode": decision.mode, "denied": decision.denied,
                                       "rule": decision.rule_id, "source": decision.policy_source,
                                       "message": decision.message, "ignored": decision.ignored},
                          "registry_version": guard.registry_version}))
        return 1 if matches else 0
    if decision.rule_id:
        verdict = "denied" if decision.denied else decision.action
        print(f"policy: {verdict} by {decision.rule_id} ({decision.policy_source}, mode {decision.mode})")
    else:
        print(f"policy: allow (no policy rule applies, mode {decision.mode})")
    from cmdscope._guard.playbooks import resolve

    for m in matches:
        print(f"{m.severity:<8} {m.rule_id}: {m.title}\n         {m.rationale}\n         see {resolve(m.playbook)}")
    if not matches:
        print(f"no dangerous-command rule matches (registry {guard.registry_version})")
    return 1 if matches else 0


def _check_stdin(args: argparse.Namespace) -> int:
    """One shell string per line in, one JSON object per line out (blank lines are skipped); the
    same policy layers, actor, phase and branch as a single check."""
    from cmdscope._context import git_facts
    from cmdscope._guard import Guard, GuardConfigError

    where = os.getcwd()
    try:
        guard = Guard.load(cwd=where)
    except GuardConfigError as exc:
        sys.stderr.write(f"cmdscope check: {exc}\n")
        return 2
    found = False
    out = sys.stdout
    for raw in sys.stdin.buffer:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line.strip():
            continue
        decision = guard.decide(line, shell=True, actor=args.actor, phase=args.phase, branch=args.branch,
                                git=lambda: git_facts(where))
        matches = decision.matches
        found = found or bool(matches)
        out.write(json.dumps({"command": line, "dangerous": bool(matches), "severity": decision.severity,
                              "matches": [m.to_json() for m in matches],
                              "decision": {"action": decision.action, "denied": decision.denied,
                                           "rule": decision.rule_id},
                              "registry_version": guard.registry_version}) + "\n")
    out.flush()
    return 1 if found else 0
