"""``cmdscope policy trust|untrust|show``: which policy layers apply here, and trusting a project's.

A project's ``.cmdscope/policy.yaml`` may only tighten the trusted layers until the user trusts
that file as it is now (its path and content hash, like ``direnv allow``); any edit lapses the
trust. See docs/guardrails.md#trust.
"""

from __future__ import annotations

import os
import sys

from cmdscope._cli.args import Parser, add_format


def main(argv: list[str]) -> int:
    parser = Parser(prog="cmdscope policy",
                                     description="Show the policy layers in effect; trust a project's policy file.")
    sub = parser.add_subparsers(dest="action", required=True)
    for name, text in (("trust", "let this project policy file (as it is now) loosen the trusted layers"),
                       ("untrust", "forget the trust given to this project policy file")):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("path", nargs="?", help="the policy file (default: this repository's .cmdscope/policy.yaml)")
    show = sub.add_parser("show", help="the layers in effect here, their trust and any broken file")
    add_format(show)
    args = parser.parse_args(argv)
    if args.action == "show":
        from cmdscope._cli.doctor import guard_report, print_report

        report = guard_report()
        print_report(report, args.format)
        return 1 if report["problems"] else 0
    from cmdscope._guard.sources import project_policy, trust

    path = args.path or project_policy(os.getcwd())
    if path is None:
        sys.stderr.write("cmdscope policy: no .cmdscope/policy.yaml at this repository's root; name the file\n")
        return 2
    if not os.path.isfile(path):
        sys.stderr.write(f"cmdscope policy: {path}: no such file\n")
        return 2
    if args.action == "trust":
        from cmdscope._guard import GuardConfigError
        from cmdscope._guard.loader import load_policy_file

        try:
            load_policy_file(path)
        except GuardConfigError as exc:
            sys.stderr.write(f"cmdscope policy: {exc}\n")
            return 2
    token = trust(path, revoke=args.action == "untrust")
    verb = "trusted" if args.action == "trust" else "no longer trusted"
    print(f"{os.path.realpath(path)}: {verb} (sha256 {token[:12]}); any edit lapses the trust")
    return 0
