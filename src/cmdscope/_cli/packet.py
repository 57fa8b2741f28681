"""``cmdscope packet start|end|status|list|commit-hook``: work packets from the shell.

    cmdscope packet start PKT-42 --title "Fix login" [--actor A]   # later commands join PKT-42
    cmdscope packet status                                         # the active packet, figures so far
    cmdscope packet end [--status completed|failed|abandoned]      # writes the packet record
    cmdscope packet list [--since 30d] [--format table|json|md]      # ended and open packets
    cmdscope packet commit-hook [--repo PATH] [--sha SHA]          # called by .git/hooks/post-commit
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from cmdscope._cli import CliError
from cmdscope._cli.args import Parser

LEDGER_HELP = "ledger path (default: $CMDSCOPE_LEDGER or the state dir)"


def _parser() -> argparse.ArgumentParser:
    from cmdscope._cli import args as args_

    p = Parser(prog="cmdscope packet", description="Start, end and inspect work packets.")
    sub = p.add_subparsers(dest="action", required=True)
    s = sub.add_parser("start", help="open a packet in this worktree")
    s.add_argument("packet_id", type=args_.name, help="the packet's id (e.g. PKT-42), written on every record")
    s.add_argument("--title", help="what the packet is about (shown by status and list)")
    s.add_argument("--actor", help="who works on it (default: $CMDSCOPE_ACTOR, else the user)")
    e = sub.add_parser("end", help="end the active packet and write its record")
    e.add_argument("--status", default="completed", choices=("completed", "failed", "abandoned"),
                   help="how it ended (default: completed)")
    e.add_argument("--ledger", help=LEDGER_HELP)
    args_.add_format(e)
    st = sub.add_parser("status", help="the active packet and its figures so far (exit 1: none active)")
    st.add_argument("--ledger", help=LEDGER_HELP)
    args_.add_format(st)
    ls = sub.add_parser("list", help="packets ended (and still open) recently")
    args_.add_since(ls, "30d", what="packets ended since")
    ls.add_argument("--ledger", help=LEDGER_HELP)
    args_.add_format(ls, ("table", "json", "md"))
    h = sub.add_parser("commit-hook", help="record a commit (what the git post-commit hook runs)")
    h.add_argument("--repo", default=".", help="the repository (default: the current directory)")
    h.add_argument("--sha", help="the commit (default: HEAD)")
    h.add_argument("--ledger", help=LEDGER_HELP)
    h.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from cmdscope._sdlc import packets
    from cmdscope._sdlc.git import GitError

    try:
        if args.action == "start":
            state = packets.start(args.packet_id, title=args.title, actor=args.actor)
            print(f"packet {state['packet']} started (trace {state['trace_id']}); commands in "
                  f"{state['worktree']} join it until 'cmdscope packet end'")
            return 0
        if args.action == "end":
            rec = packets.end(status=args.status, ledger=args.ledger)
            if args.json:
                print(json.dumps(rec, sort_keys=True))
            else:
                print(_summary_line(rec))
            return 0
        if args.action == "status":
            return _status(args, packets)
        if args.action == "list":
            return _list(args, packets)
        if args.action == "commit-hook":
            return _commit_hook(args)
    except packets.PacketError as exc:
        raise CliError(str(exc)) from None
    except GitError as exc:
        raise CliError(str(exc)) from None
    return 2


def _summary_line(rec: dict[str, Any]) -> str:
    rate = rec.get("cmdscope.packet.gate_pass_rate")
    return (f"packet {rec['cmdscope.packet']} {rec['cmdscope.packet.status']} after {rec['duration_s']:.1f}s: "
            f"{rec['cmdscope.packet.commands']} commands, {rec['cmdscope.packet.failures']} failed "
            f"(density {rec['cmdscope.packet.failure_density']:.2f}), gates "
            f"{rec['cmdscope.packet.gates_passed']}/{rec['cmdscope.packet.gates']}"
            f"{'' if rate is None else f' ({rate:.0%})'}, {rec['cmdscope.packet.denials']} denials, "
            f"{rec['cmdscope.packet.danger_hits']} dangerous, {rec['cmdscope.packet.retries']} retries, "
            f"{rec['cmdscope.packet.commits']} commits")


def _status(args: argparse.Namespace, packets: Any) -> int:
    state = packets.active()
    if state is None:
        if args.json:
            print("null")
        else:
            print("no active packet in this worktree")
        return 1
    figures = packets.summarize(state["packet"], int(state["start_ns"]), None, args.ledger)
    out = {**state, "elapsed_s": round((time.time_ns() - int(state["start_ns"])) / 1e9, 3), **figures.attributes()}
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        print(f"packet {state['packet']} ({state.get('title') or 'untitled'}) by {state['actor']}, "
              f"open {out['elapsed_s']:.0f}s: {figures.commands} commands, {figures.failures} failed, "
              f"gates {figures.gates_passed}/{figures.gates}, {figures.commits} commits")
    return 0


def _list(args: argparse.Namespace, packets: Any) -> int:
    from cmdscope._cli.ledger import parse_since

    since = parse_since(args.since)
    ended = packets.packet_records(args.ledger, since)
    opened = packets.open_packets()
    if args.json:
        print(json.dumps({"ended": ended, "open": opened}, sort_keys=True))
        return 0
    if args.format == "md":
        from cmdscope._reports.common import render_markdown

        rows = [[rec["time"][:19], rec["cmdscope.packet"], rec["cmdscope.packet.status"], f"{rec['duration_s']:.1f}",
                 str(rec["cmdscope.packet.commands"]), f"{rec['cmdscope.packet.failure_density']:.2f}",
                 str(rec.get("cmdscope.packet.title", ""))] for rec in ended]
        rows += [["open", st["packet"], "open", f"{(time.time_ns() - int(st.get('start_ns', 0))) / 1e9:.1f}", "-", "-",
                  str(st.get("title") or "")] for st in opened]
        print(render_markdown(["ENDED (UTC)", "PACKET", "STATUS", "SECONDS", "COMMANDS", "DENSITY", "TITLE"], rows))
        return 0
    for rec in ended:
        print(f"{rec['time'][:19]}  {rec['cmdscope.packet']:<14} {rec['cmdscope.packet.status']:<10} "
              f"{rec['duration_s']:>9.1f}s  {rec['cmdscope.packet.commands']:>4} cmds  "
              f"density {rec['cmdscope.packet.failure_density']:.2f}  {rec.get('cmdscope.packet.title', '')}")
    for st in opened:
        age = (time.time_ns() - int(st.get("start_ns", 0))) / 1e9
        print(f"{'open':<19}  {st['packet']:<14} {'open':<10} {age:>9.1f}s  ({st.get('mode')}, {st.get('worktree')})")
    if not ended and not opened:
        print("no packets")
    return 0


def _commit_hook(args: argparse.Namespace) -> int:
    """Never fails the commit: problems are one line on stderr and exit 0 (the hook must not
    block git)."""
    from cmdscope import _settings as settings
    from cmdscope._sdlc.commits import record_commit

    if settings.get("CMDSCOPE_DISABLED"):
        return 0
    try:
        rec = record_commit(args.repo, args.sha, ledger=args.ledger)
    except Exception as exc:  # noqa: BLE001 - a hook reports and lets the commit stand
        sys.stderr.write(f"cmdscope packet commit-hook: commit not recorded ({type(exc).__name__}: {exc})\n")
        return 0
    if rec and not args.quiet:
        atomic = "atomic" if rec["cmdscope.commit.atomic"] else f"{rec['cmdscope.commit.slices']} validated slices"
        sys.stderr.write(f"cmdscope: commit {rec['vcs.ref.head.revision'][:10]} recorded ({atomic}, "
                         f"{rec['cmdscope.commit.changed_lines']} lines)\n")
    return 0
