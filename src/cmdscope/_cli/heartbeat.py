"""``cmdscope heartbeat NAME [--every 1h] [--grace 10m] [--fail] [--textfile DIR] [-- CMD]``.

Records a scheduled check-in. With ``-- CMD`` the command runs and the check-in passes when it
exits 0 (the exit code is the command's). Meant for cron and systemd timers (examples/).
"""

from __future__ import annotations

import json

from cmdscope._cli import CliError
from cmdscope._cli.args import Parser


def main(argv: list[str]) -> int:
    command: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1:]
    from cmdscope._cli import args as args_

    p = Parser(prog="cmdscope heartbeat", description="Record a scheduled check-in.")
    p.add_argument("name", type=args_.name, help="the scheduled job's name")
    p.add_argument("--every", help="expected interval (90s, 10m, 1h, 1d)")
    p.add_argument("--grace", default="0s", help="lateness still counted on time (default 0s)")
    p.add_argument("--fail", action="store_true", help="record a failed check-in (without -- CMD)")
    p.add_argument("--textfile", metavar="DIR", help="also write node_exporter textfile metrics into DIR")
    p.add_argument("--ledger", help="ledger path (default: $CMDSCOPE_LEDGER or the state dir)")
    args_.add_format(p)
    args = p.parse_args(argv)
    from cmdscope._sdlc.durations import parse_duration

    try:
        every = parse_duration(args.every, "--every") if args.every else None
        grace = parse_duration(args.grace, "--grace")
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if every is not None and every <= 0:
        raise CliError("--every must be longer than 0s")
    from cmdscope._pipeline import close_ledgers
    from cmdscope._sdlc.heartbeats import checkin

    rec = checkin(args.name, ok=not args.fail, every_s=every, grace_s=grace, command=command or None,
                  ledger=args.ledger, textfile_dir=args.textfile)
    close_ledgers()
    if args.json:
        print(json.dumps(rec, sort_keys=True))
    if command:
        return int(rec.get("process.exit.code", 0 if rec["cmdscope.outcome"] == "success" else 1))
    return 0 if rec["cmdscope.outcome"] == "success" else 1
