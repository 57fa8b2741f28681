"""Shared pieces of the ledger reports: time windows, streaming reads, progress, tables.

Every report streams the ledger (segments oldest first, then the current file) one record at
a time, so memory depends on the number of groups, not on the size of the ledger.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

NS = 1_000_000_000
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")


class ReportError(ValueError):
    """Bad report input (an option value, an unreadable ledger): one line for the user."""


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


class ReadStats:
    """What the reader saw: records parsed, bad (torn or invalid) lines skipped, bytes read."""

    __slots__ = ("bad_lines", "bytes", "records", "segments", "skipped_segments")

    def __init__(self) -> None:
        self.records = 0
        self.bad_lines = 0
        self.bytes = 0
        self.segments = 0
        self.skipped_segments = 0


def segments(path: Path) -> list[Path]:
    """Rotated segments `<name>.NNNNNN` oldest first, then the current file."""
    try:
        from cmdscope.sinks.ledger import segments as ledger_segments
    except ImportError:  # pragma: no cover - the sink ships with the package
        ledger_segments = None  # type: ignore[assignment]
    if ledger_segments is not None:
        return list(ledger_segments(path))
    prefix = path.name + "."
    try:
        rotated = sorted((int(e.name[len(prefix):]), Path(e.path)) for e in os.scandir(path.parent)
                         if e.name.startswith(prefix) and e.name[len(prefix):].isdigit())
    except FileNotFoundError:
        return []
    return [p for _, p in rotated] + ([path] if path.exists() else [])


def _last_end_ns(path: Path, loads: Any) -> int | None:
    """end_ns of the last whole record of a segment (reads only its last 64 KiB)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 65536))
            tail = fh.read()
    except OSError:
        return None
    for line in reversed(tail.split(b"\n")):
        if not line.strip():
            continue
        try:
            record = loads(line)
        except ValueError:
            continue
        value = record.get("end_ns") if isinstance(record, dict) else None
        return value if isinstance(value, int) else None
    return None


# Records are appended in end order, but concurrent writers interleave a little: a segment is
# skipped only when its last record ended this long before the window starts.
SEGMENT_SLACK_NS = 3600 * NS


def read_ledger(path: Path, *, since_ns: int | None = None, until_ns: int | None = None,
                stats: ReadStats | None = None, progress: Progress | None = None) -> Iterator[dict[str, Any]]:
    """Stream the ledger's records (dicts), oldest segment first.

    Whole segments that end before `since_ns` are skipped unread. Torn or invalid lines are
    skipped and counted in `stats.bad_lines`, never fatal. Records outside the window are not
    yielded.
    """
    import orjson

    loads = orjson.loads
    stats = stats if stats is not None else ReadStats()
    files = segments(path)
    if not files:
        if not path.exists() and not path.parent.exists():
            raise ReportError(f"ledger {path}: no such file")
        return
    chosen: list[tuple[Path, int]] = []
    for index, seg in enumerate(files):
        last = index == len(files) - 1
        if since_ns is not None and not last:
            end = _last_end_ns(seg, loads)
            if end is not None and end < since_ns - SEGMENT_SLACK_NS:
                stats.skipped_segments += 1
                continue
        try:
            size = seg.stat().st_size
        except OSError:
            continue
        chosen.append((seg, size))
    if progress is not None:
        progress.start(len(chosen))
    lo = since_ns if since_ns is not None else -1
    hi = until_ns if until_ns is not None else 1 << 126
    for number, (seg, size) in enumerate(chosen, 1):
        stats.segments += 1
        count = 0
        for record in _read_segment(seg, stats):
            count += 1
            end = record.get("end_ns")
            if type(end) is not int or end < lo or end >= hi:
                continue
            yield record
            if progress is not None and not count & 0xFFFF:
                progress.update(number, count)
        stats.bytes += size
    if progress is not None:
        progress.done()


def _read_segment(seg: Path, stats: ReadStats) -> Iterator[dict[str, Any]]:
    import orjson

    loads = orjson.loads
    try:
        fh = open(seg, "rb", buffering=1 << 20)
    except OSError as exc:
        raise ReportError(f"ledger {seg}: cannot open ({exc.strerror})") from None
    with fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                if raw.strip():
                    stats.bad_lines += 1  # torn last line: a writer died mid-record
                continue
            try:
                record = loads(raw)
            except orjson.JSONDecodeError:
                if raw.strip():
                    stats.bad_lines += 1
                continue
            if type(record) is not dict:
                stats.bad_lines += 1
                continue
            stats.records += 1
            yield record


class Progress:
    """A one-line progress meter on stderr when it is a terminal; silent otherwise."""

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.total = 0
        self.shown = False
        self.last = 0.0

    def start(self, segments: int) -> None:
        self.total = segments

    def update(self, segment: int, records: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        self.stream.write(f"\r{self.label}: segment {segment}/{self.total}, {records:,} records")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * (len(self.label) + 40) + "\r")
            self.stream.flush()


# ------------------------------------------------------------------------------ output


def render_table(headers: list[str], rows: list[list[str]], *, align_right: set[int] | None = None) -> str:
    right = align_right or set()
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
        return cell.replace("|", "\\|")

    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out.extend("| " + " | ".join(esc(c) for c in r) + " |" for r in rows)
    return "\n".join(out)
