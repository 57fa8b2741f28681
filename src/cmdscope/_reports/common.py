"""Shared pieces of the ledger reports: time windows, streaming reads, progress, tables.

Every report streams the ledger (segments oldest first, then the current file) one record at
a time, so memory depends on the number of groups, not on the size of the ledger.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cmdscope._ledger_reader import (
    NS as NS,
    Progress as Progress,
    ReadError as ReportError,
    ReadStats as ReadStats,
    read_records as read_records,
    segments as segments,
)
from cmdscope._safe_text import printable as printable

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")


def parse_time(value: str, *, now_ns: int, option: str) -> int:
    """`1d`, `12h`, `30m`, `2w` (that long before now), an ISO date or an ISO datetime -> ns."""
    text = value.strip()
    match = _DURATION.match(text)
    if match:
        return now_ns - int(float(match.group(1)) * _UNITS[match.group(2)] * NS)
    if text == "now":
        return now_ns
    if text in ("today", "yesterday"):  # since midnight UTC (ledger times are UTC)
        day = int(now_ns // NS // 86400 - (text == "yesterday")) * 86400
        return day * NS
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(f"{option} {value!r}: expected a duration like 1d, 12h, 30m or an ISO date/time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * NS)


def since_or_report(value: str, prog: str, now_ns: int) -> int | None:
    """``--since`` for a report's main(): the start in ns, or None after printing the one-line
    error (the caller then exits 2)."""
    import sys

    try:
        return parse_time(value, now_ns=now_ns, option="--since")
    except ReportError as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return None


def iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / NS, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_of(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=UTC).strftime("%Y-%m-%d")


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return f"{seconds / 86400:.1f}d"


# ------------------------------------------------------------------------------ reading
# One reader for every report and ledger view: cmdscope._ledger_reader.
class LedgerStream:
    """A report's pass over the ledger: the records (streamed once), what the reader saw, and
    a progress line on a terminal. ``finish()`` reports the skipped lines on stderr."""

    def __init__(self, ledger: str | os.PathLike[str] | None, prog: str, **options: Any) -> None:
        self.prog = prog
        self.stats = ReadStats()
        self.progress = Progress("reading ledger")
        self.path = ledger_path(ledger)
        self.records = read_records(self.path, stats=self.stats, progress=self.progress, **options)

    def finish(self) -> None:
        self.progress.done()
        self.stats.report(self.prog)


def ledger_path(value: str | os.PathLike[str] | None) -> Path:
    """The ledger a report reads: ``--ledger`` or the default (``$CMDSCOPE_LEDGER`` or the state dir)."""
    from cmdscope._paths import default_ledger_path

    return Path(value) if value else Path(default_ledger_path())


# ------------------------------------------------------------------------------ output


def render_table(headers: list[str], rows: list[list[str]], *, align_right: set[int] | None = None) -> str:
    right = align_right or set()
    rows = [[printable(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def render_markdown(headers: list[str], rows: list[list[str]]) -> str:
    def esc(cell: str) -> str:
        return printable(cell).replace("|", "\\|")

    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out.extend("| " + " | ".join(esc(c) for c in r) + " |" for r in rows)
    return "\n".join(out)
