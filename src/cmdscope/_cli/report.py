"""`cmdscope report <name> [options]`: rollups over the ledger.

Each report is a module with `main(argv) -> int`; add a report by adding a line to REPORTS.
Modules are imported only when their report runs.
"""

from __future__ import annotations

import sys
from importlib import import_module

# name -> (module, one-line help)
REPORTS: dict[str, tuple[str, str]] = {
    "failures": ("cmdscope._reports.failures", "failure classes, retries and time to green (--daily per-day top classes, --weekly time to green week over week)"),
    "packets": ("cmdscope._reports.packets", "work packets per packet or week, with a Mann-Kendall trend test"),
    "commits": ("cmdscope._reports.commits", "atomic commit cadence: validated slices per commit"),
    "schedule": ("cmdscope._reports.schedule", "on-time rate of heartbeats and audits"),
    "html": ("cmdscope._reports.html", "one self-contained offline HTML page with charts"),
    "denials": ("cmdscope._reports.denials", "denied commands by policy rule and policy source"),
    "danger": ("cmdscope._reports.danger", "dangerous-command matches by rule, severity and action"),
    "governance": ("cmdscope._reports.governance", "rolling auto-merge rate and scheduled checks on time against the policy's targets"),
    "coverage": ("cmdscope._reports.coverage", "every command the agents say they ran, against the ledger (--min 100)"),
    "alerts": ("cmdscope._reports.alerts", "alert quality from triaged incidents: false-positive rate, time to ack/resolve"),
}

USAGE = "usage: cmdscope report <name> [options]\n\nreports:\n"


def _usage() -> str:
    width = max(len(n) for n in REPORTS)
    lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in REPORTS.items()]
    return USAGE + "\n".join(lines) + "\n\nRun 'cmdscope report <name> --help' for a report's options.\n"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(_usage())
        return 0
    entry = REPORTS.get(argv[0])
    if entry is None:
        sys.stderr.write(f"cmdscope report: unknown report {argv[0]!r} (known: {', '.join(REPORTS)})\n")
        return 2
    from cmdscope._ledger_reader import ReadError

    module = import_module(entry[0])
    try:
        return int(module.main(argv[1:]) or 0)
    except ReadError as exc:  # a ledger that cannot be read (no such directory): one line, never a traceback
        sys.stderr.write(f'cmdscope report {argv[0]}: {exc}\n')
        return 2
