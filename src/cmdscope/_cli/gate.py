"""``cmdscope gate run NAME [--required] -- CMD``: run a gate (pass = exit 0) and record it.

Exit code: the command's own (0 when the gate passed). Output passes through untouched.
"""

from __future__ import annotations

import json
import sys

from cmdscope._cli import CliError
from cmdscope._cli.args import Parser


def main(argv: list[str]) -> int:
    if "--" in argv:
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1:]
    else:
        command = []
    from cmdscope._cli import args as args_

    p = Parser(prog="cmdscope gate", description="Run a governance gate.")
    sub = p.add_subparsers(dest="action", required=True)
    r = sub.add_parser("run", help="run CMD as gate NAME (pass = exit 0)")
    r.add_argument("name", type=args_.name, help="the gate's name")
    r.add_argument("--required", action="store_true", help="a failed required gate blocks merging")
    r.add_argument("--shell", action="store_true", help="CMD is one shell string")
    r.add_argument("--timeout", type=float, help="seconds before the gate's command is stopped (fails the gate)")
    r.add_argument("--packet", help="the work packet the gate belongs to")
    r.add_argument("--actor", help="who runs the gate (default: $CMDSCOPE_ACTOR)")
    r.add_argument("--phase", help="the phase the gate belongs to")
    r.add_argument("--ledger", help="ledger path (default: $CMDSCOPE_LEDGER or the state dir)")
    args_.add_format(r)
    args = p.parse_args(argv)
    if not command:
        raise CliError("no command given (cmdscope gate run NAME -- CMD ARGS...)")
    if args.shell and len(command) != 1:
        raise CliError("--shell takes the command as one string argument")
    if args.timeout is not None and args.timeout <= 0:
        raise CliError("--timeout must be a positive number of seconds")
    from cmdscope._pipeline import close_ledgers
    from cmdscope._sdlc.gates import run_gate

    rec = run_gate(args.name, command[0] if args.shell else command, required=args.required, shell=args.shell,
                   timeout=args.timeout, packet=args.packet, actor=args.actor, phase=args.phase, ledger=args.ledger)
    close_ledgers()
    if args.json:
        print(json.dumps(rec, sort_keys=True))
    if rec["cmdscope.gate.result"] != "pass":
        sys.stderr.write(f"cmdscope: gate '{args.name}' failed: {rec.get('cmdscope.gate.reason', '')}\n")
    return int(rec.get("process.exit.code", 0 if rec["cmdscope.gate.result"] == "pass" else 1) or
               (0 if rec["cmdscope.gate.result"] == "pass" else 1))
