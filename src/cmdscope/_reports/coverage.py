"""`cmdscope report coverage`: every command an agent says it executed, against the ledger.

Reads the agents' own session records (read only): Claude Code's transcripts, OpenCode's
session storage, Codex's rollout files; pairs each shell tool call with the ledger's records of
the same session (tool-call id, else command text and time) and prints, per session, covered /
executed, every command that ran without a record, every record without a tool call, and the
commands denied by cmdscope, denied by the agent's own permissions, or that never ran.
With ``--min P``, the exit code is 1 when the coverage of all sessions together is below P%.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cmdscope._cli.args import Parser
from cmdscope._coverage.model import STATES, SessionCoverage, ToolCall, match
from cmdscope._reports.common import render_table, since_or_report

AGENTS = ("claude-code", "opencode", "codex")


def _sessions(agent: str, since_s: float, args: argparse.Namespace) -> Iterator[tuple[str, list[ToolCall]]]:
    if agent == "claude-code":
        from cmdscope._coverage import claude_code

        for session, files in claude_code.transcripts(since_s, args.claude_dir):
            yield session, claude_code.read(files, session)
    elif agent == "opencode":
        from cmdscope._coverage import opencode

        yield from opencode.sessions(since_s, args.opencode_dir)
    elif agent == "codex":
        from cmdscope._coverage import codex

        yield from codex.sessions(since_s, args.codex_dir)


def collect(agents: list[str], since_ns: int, args: argparse.Namespace,
            read_ledger: Callable[[int], Iterator[dict[str, Any]]]) -> list[SessionCoverage]:
    wanted: dict[str, tuple[str, list[ToolCall]]] = {}
    for agent in agents:
        for session, calls in _sessions(agent, since_ns / 1e9, args):
            if args.session and session != args.session:
                continue
            wanted[session] = (agent, calls)
    if not wanted:
        return []
    by_session: dict[str, list[dict[str, Any]]] = {s: [] for s in wanted}
    for rec in read_ledger(since_ns - 3600 * 10**9):  # a session may have started before --since
        bucket = by_session.get(str(rec.get("session.id")))
        if bucket is not None and rec.get("kind") in ("command", "denial"):
            bucket.append(rec)
    from cmdscope.redact import redact

    return [match(calls, by_session[s], agent=agent, session=s, redact=redact)
            for s, (agent, calls) in sorted(wanted.items())]


def main(argv: list[str]) -> int:
    from cmdscope._cli import args as args_

    parser = Parser(prog="cmdscope report coverage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", choices=AGENTS, action="append", help="agent(s) to check (default: all)")
    parser.add_argument("--session", help="one session id")
    args_.add_since(parser, "1d", what="sessions active since")
    parser.add_argument("--min", type=float, help="exit 1 when coverage is below this percentage, e.g. 100")
    parser.add_argument("--ledger", help="ledger (default: $CMDSCOPE_LEDGER or the state directory's)")
    parser.add_argument("--claude-dir", type=Path, help="Claude Code's config directory (default $CLAUDE_CONFIG_DIR or ~/.claude)")
    parser.add_argument("--opencode-dir", type=Path, help="OpenCode's data directory (default $XDG_DATA_HOME/opencode)")
    parser.add_argument("--codex-dir", type=Path, help="Codex's home (default $CODEX_HOME or ~/.codex)")
    args_.add_format(parser)
    args = parser.parse_args(argv)
    if args.min is not None and not 0 <= args.min <= 100:
        sys.stderr.write("cmdscope report coverage: --min must be a percentage from 0 to 100\n")
        return 2
    since_ns = since_or_report(args.since, "cmdscope report coverage", time.time_ns())
    if since_ns is None:
        return 2

    from cmdscope._reports.common import LedgerStream

    streams: list[LedgerStream] = []

    def read(start: int) -> Iterator[dict[str, Any]]:
        streams.append(LedgerStream(args.ledger, "cmdscope report coverage", since_ns=start, kinds=("command", "denial")))
        return streams[-1].records

    sessions = collect(args.agent or list(AGENTS), since_ns, args, read)
    for stream in streams:
        stream.finish()
    covered = sum(s.count("covered") for s in sessions)
    executed = sum(s.executed for s in sessions)
    overall = covered / executed if executed else None
    below = args.min is not None and overall is not None and overall * 100 < args.min
    if args.format == "json":
        print(json.dumps({"covered": covered, "executed": executed, "coverage": overall,
                          "sessions": [s.as_dict() for s in sessions]}, indent=2))
        return 1 if below else 0
    if not sessions:
        print("No agent sessions found in the window.")
        return 0
    headers = ["agent", "session", "covered/executed", *[s.replace("_", " ") for s in STATES[1:]], "records w/o call"]
    rows = [[s.agent, s.session, f"{s.count('covered')}/{s.executed}" + (f" ({s.coverage:.0%})" if s.coverage is not None else ""),
             *[str(s.count(state)) for state in STATES[1:]], str(len(s.unmatched_records))] for s in sessions]
    print(render_table(headers, rows))
    for s in sessions:
        for call, state, _ in s.calls:
            if state in ("missed", "never_ran"):
                print(f"{state.upper().replace('_', ' ')}: {s.agent} {s.session}: {call.command!r} ({call.source})")
        for rec in s.unmatched_records:
            print(f"NO TOOL CALL: {s.agent} {s.session}: record {rec.get('record_id')} {rec.get('process.command_line')!r}")
    print(f"\ncoverage: {covered}/{executed}" + (f" = {overall:.1%}" if overall is not None else ""))
    return 1 if below else 0
