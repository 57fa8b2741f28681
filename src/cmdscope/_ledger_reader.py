"""Reading the ledger: one streaming reader for every report and ``cmdscope ledger`` view.

Why it looks like this:
- Memory never grows with the ledger: records are yielded one at a time, segment after
  segment (oldest first, then the current file), and only the first ``MAX_BAD_KEPT`` bad lines
  are kept (the rest are counted).
- A segment wholly outside ``--since/--until`` is skipped by the ``end_ns`` of its first and
  last record (read from its first and last 64 KiB), never decoded.
- A report that wants a few kinds of record (packets, commits, heartbeats, denials) says so
  with ``kinds=`` and ``needles=``; the reader then finds candidate lines in the raw bytes, 8 MiB
  at a time, instead of decoding every line (a decode costs ~2 us a line; a plain-text needle
  is found with ``find``, ~0.3 ns a byte, a regex ~0.5-0.9 ns a byte; rotated segments are
  searched through a mapping, without a copy). The scan relies on the writer's compact encoding
  (``"kind":"packet"``), which every cmdscope writer uses; a segment whose first line is not
  written that way is decoded in full. Every candidate is still decoded and checked, so the
  scan can only make a read faster, never add a record.
- Every yielded record is checked against the schema's types (docs/telemetry.md): the
  envelope always, the fields of rare kinds (packet, commit, ...) in full, and for command
  records the fields the caller reads (``fields=``). A line that is torn, not JSON, not an
  object or of the wrong type is skipped and noted with its file and line number, never a
  traceback. ``cmdscope ledger verify`` is the full pydantic check.
"""

from __future__ import annotations

import mmap
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from cmdscope._safe_text import printable

NS = 1_000_000_000
MAX_BAD_KEPT = 100
BLOCK = 8 << 20
EDGE = 65536  # bytes read at each end of a segment to find its first and last end_ns
# Records are appended in end order, but concurrent writers interleave a little: a segment is
# skipped only when it ends (or starts) this long outside the window.
SEGMENT_SLACK_NS = 3600 * NS

_NONE = type(None)
STR: tuple[type, ...] = (str,)
OSTR: tuple[type, ...] = (str, _NONE)
INT: tuple[type, ...] = (int,)
OINT: tuple[type, ...] = (int, _NONE)
NUM: tuple[type, ...] = (int, float)
ONUM: tuple[type, ...] = (int, float, _NONE)
BOOL: tuple[type, ...] = (bool,)
OLIST: tuple[type, ...] = (list, _NONE)

# The schema's types (cmdscope._records, docs/telemetry.md) as plain type tuples: checking a
# record this way costs ~50 ns a field against ~10 us for a pydantic model.
# tests/test_ledger_reader.py holds the table to the models.
ENVELOPE: dict[str, tuple[type, ...]] = {"kind": STR, "start_ns": INT, "end_ns": INT, "duration_s": NUM}
COMMAND_FIELDS: dict[str, tuple[type, ...]] = {
    "cmdscope.outcome": STR, "cmdscope.command.hash": STR, "cmdscope.actor": STR,
    "process.executable.name": STR, "process.command_line": STR, "process.exit.code": OINT,
    "error.type": OSTR, "session.id": OSTR, "cmdscope.packet": OSTR, "cmdscope.phase": OSTR,
    "cmdscope.retry.count": INT, "cmdscope.danger.rule": OLIST, "cmdscope.danger.severity": OSTR,
    "cmdscope.policy.rule": OSTR, "cmdscope.policy.source": OSTR, "cmdscope.policy.action": OSTR,
}
_SDLC: dict[str, tuple[type, ...]] = {"time": STR, "cmdscope.actor": STR, "cmdscope.outcome": STR,
                                      "cmdscope.packet": OSTR, "error.type": OSTR}
KIND_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "packet": {**_SDLC, "cmdscope.packet": STR, "cmdscope.packet.title": OSTR, "cmdscope.packet.status": STR,
               "cmdscope.packet.commands": INT, "cmdscope.packet.failures": INT,
               "cmdscope.packet.failure_density": NUM, "cmdscope.packet.gates": INT,
               "cmdscope.packet.gates_passed": INT, "cmdscope.packet.gate_pass_rate": ONUM,
               "cmdscope.packet.denials": INT, "cmdscope.packet.danger_hits": INT,
               "cmdscope.packet.danger_critical": INT, "cmdscope.packet.retries": INT,
               "cmdscope.packet.commits": INT},
    "commit": {**_SDLC, "vcs.ref.head.revision": STR, "cmdscope.commit.message": STR,
               "cmdscope.commit.changed_lines": INT, "cmdscope.commit.slices": INT, "cmdscope.commit.atomic": BOOL,
               "cmdscope.commit.since_gate_s": ONUM},
    "pipeline": {**_SDLC, "cicd.pipeline.name": STR, "cicd.pipeline.run.id": STR, "cmdscope.merge.result": OSTR},
    "gate": {**_SDLC, "cmdscope.gate.name": STR, "cmdscope.gate.result": STR, "cmdscope.gate.required": BOOL,
             "cmdscope.gate.dirty": BOOL},
    "heartbeat": {**_SDLC, "cmdscope.heartbeat.name": STR, "cmdscope.schedule.on_time": BOOL,
                  "cmdscope.heartbeat.every_s": ONUM, "cmdscope.heartbeat.grace_s": NUM},
}
KIND_FIELDS["audit"] = KIND_FIELDS["heartbeat"]
# Fields a kind's records must carry (the others may be absent; when present they are typed).
REQUIRED: dict[str, frozenset[str]] = {
    "packet": frozenset({"cmdscope.packet", "cmdscope.packet.status", "cmdscope.packet.commands",
                         "cmdscope.packet.failures", "cmdscope.packet.failure_density", "cmdscope.packet.gates",
                         "cmdscope.packet.denials", "cmdscope.packet.danger_hits", "cmdscope.packet.retries",
                         "cmdscope.packet.commits"}),
    "commit": frozenset({"vcs.ref.head.revision", "cmdscope.commit.slices", "cmdscope.commit.changed_lines"}),
    "heartbeat": frozenset({"cmdscope.heartbeat.name"}),
    "audit": frozenset({"cmdscope.heartbeat.name"}),
}
_ENVELOPE_KEYS = frozenset(ENVELOPE)


class ReadError(ValueError):
    """The ledger cannot be read at all (no such directory): one line for the user."""


class BadLine:
    """A line a reader skipped: file, 1-based line number, why."""

    __slots__ = ("path", "line", "reason")

    def __init__(self, path: str, line: int, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason

    def __repr__(self) -> str:
        return f"BadLine({self.path!r}, {self.line}, {self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BadLine) and (self.path, self.line, self.reason) == (other.path, other.line, other.reason)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


class ReadStats:
    """What a read saw: records yielded, bad lines (the first MAX_BAD_KEPT kept, all counted),
    bytes and segments read, segments skipped unread."""

    __slots__ = ("at", "bad", "bad_lines", "bytes", "locate", "records", "segment", "segments", "skipped_segments")

    def __init__(self) -> None:
        self.segment = ""  # where the record last yielded came from: reject() names it
        self.at = 0
        self.locate: Callable[[int], int] = int
        self.records = 0
        self.bad: list[BadLine] = []
        self.bad_lines = 0
        self.bytes = 0
        self.segments = 0
        self.skipped_segments = 0

    def note_bad(self, path: str, line: int, reason: str) -> None:
        self.bad_lines += 1
        if len(self.bad) < MAX_BAD_KEPT:
            self.bad.append(BadLine(path, line, reason))

    def reject(self, reason: str) -> None:
        """The record last yielded is not usable after all (a consumer that type-checks the
        fields it reads itself): skipped and noted with its file and line like a bad line."""
        self.records -= 1
        self.note_bad(self.segment, self.locate(self.at), reason)

    def report(self, prog: str, stream: TextIO | None = None, limit: int = 10) -> None:
        """The skipped lines on stderr, one a line, the first `limit` of them."""
        out = stream if stream is not None else sys.stderr
        for bad in self.bad[:limit]:
            out.write(f"{prog}: skipped {printable(str(bad))}\n")
        if self.bad_lines > limit:
            out.write(f"{prog}: ... and {self.bad_lines - limit} more unreadable line(s)\n")


def check(record: dict[str, Any], fields: Mapping[str, tuple[type, ...]] | None = None) -> str | None:
    """Why `record` does not fit the schema's types, or None. `fields`: the attributes of a
    command record to check (default: all that readers use)."""
    kind = record.get("kind")
    if kind in _COMMAND_KINDS and type(record.get("end_ns")) is int:  # one compiled expression
        table: Mapping[str, tuple[type, ...]] = COMMAND_FIELDS if fields is None else fields
        if _compiled(table)(record):
            return None
        return _explain(record, table, frozenset())
    return _explain(record, KIND_FIELDS.get(kind, {}) if type(kind) is str else {},
                    REQUIRED.get(kind, frozenset()) if type(kind) is str else frozenset())


_COMMAND_KINDS = ("command", "function", "denial")
# id(table) -> (table, checker): the tables are module constants, kept alive by the entry
_CHECKERS: dict[int, tuple[Mapping[str, tuple[type, ...]], Callable[[dict[str, Any]], bool]]] = {}


def _compiled(table: Mapping[str, tuple[type, ...]]) -> Callable[[dict[str, Any]], bool]:
    """The envelope and `table` checked by one generated boolean expression (a loop over the
    fields costs ~3x more per record, which is most of a report's time on a large ledger)."""
    entry = _CHECKERS.get(id(table))
    if entry is not None and entry[0] is table:
        return entry[1]
    terms = []  # kind and end_ns: the caller has checked them (a command kind, an int end)
    for name, types in (("start_ns", INT), ("duration_s", NUM), *table.items()):
        optional = name not in ("start_ns", "duration_s")
        alts = " or ".join(f"t is {t.__name__ if t is not _NONE else 'N'}" for t in types if t is not _NONE)
        term = f"((t := type(v := g({name!r}))) is N or {alts})" if optional else f"((t := type(g({name!r}))) and ({alts}))"
        if list in types:
            term = f"({term} and (t is not list or all(type(x) is str for x in v)))"
        terms.append(term)
    source = "def checker(r):\n    g = r.get\n    return " + " and ".join(terms) + "\n"
    scope: dict[str, Any] = {"N": _NONE}
    exec(compile(source, "<cmdscope._ledger_reader check>", "exec"), scope)  # noqa: S102 - our own tables only
    checker = scope["checker"]
    _CHECKERS[id(table)] = (table, checker)
    return checker


def _explain(record: dict[str, Any], table: Mapping[str, tuple[type, ...]], required: frozenset[str]) -> str | None:
    for key, types in ENVELOPE.items():
        if type(record.get(key)) not in types:
            return f"field {key!r}: {'missing' if key not in record else 'expected ' + _names(types)}"
    if not required <= record.keys():
        return f"field {min(required - record.keys())!r}: missing"
    for key, types in table.items():
        value = record.get(key)
        if value is not None and type(value) not in types:
            return f"field {key!r}: expected {_names(types)}"
        if type(value) is list and any(type(v) is not str for v in value):
            return f"field {key!r}: expected a list of strings"
    return None


def _names(types: tuple[type, ...]) -> str:
    names = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true/false",
             "list": "a list", "NoneType": "null"}
    return " or ".join(dict.fromkeys(names[t.__name__] for t in types if not (t is int and float in types)))


# ------------------------------------------------------------------------------ segments


def segments(path: str | os.PathLike[str]) -> list[Path]:
    from cmdscope._sinks.ledger import segments as ledger_segments

    return ledger_segments(path)


def _edge_end_ns(fh: Any, size: int, last: bool, loads: Callable[[bytes], Any]) -> int | None:
    """end_ns of the first (or last) whole record of an open segment, from 64 KiB at that end."""
    start = max(0, size - EDGE) if last else 0
    fh.seek(start)
    chunk = fh.read(EDGE)
    lines = chunk.split(b"\n")
    lines = lines[1:-1] if last and start else lines[:-1]  # only whole lines
    for raw in reversed(lines) if last else lines:
        try:
            record = loads(raw)
        except ValueError:
            continue
        value = record.get("end_ns") if type(record) is dict else None
        if type(value) is int:
            return value
    return None


def _outside(fh: Any, size: int, lo: int, hi: int, loads: Callable[[bytes], Any]) -> bool:
    if lo > 0:
        last = _edge_end_ns(fh, size, True, loads)
        if last is not None and last < lo - SEGMENT_SLACK_NS:
            return True
    if hi < 1 << 126:
        first = _edge_end_ns(fh, size, False, loads)
        if first is not None and first >= hi + SEGMENT_SLACK_NS:
            return True
    return False


def kind_pattern(kinds: Iterable[str]) -> bytes:
    """The compact bytes of a record of one of these kinds, as a regex (for ``needles=``).
    Without the key's opening quote, which is the most common byte of a ledger line: a regex
    search steps through every occurrence of its first byte (a longer key ending in ``kind``
    is one more candidate, decoded and dropped). One kind is plain text, found with ``find``."""
    names = sorted(kinds)
    if len(names) == 1:
        return re.escape(b'kind":"' + names[0].encode() + b'"')
    return b'kind":"(?:' + b"|".join(re.escape(k.encode()) for k in names) + b')"'


# ------------------------------------------------------------------------------ reading


def read_records(
    path: str | os.PathLike[str],
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    stats: ReadStats | None = None,
    files: Iterable[Path] | None = None,
    kinds: Iterable[str] | None = None,
    needles: Iterable[bytes] | None = None,
    fields: Mapping[str, tuple[type, ...]] | None = None,
    progress: Progress | None = None,
    schema: bool = True,
) -> Iterator[dict[str, Any]]:
    """Stream the ledger's valid records with ``since_ns <= end_ns < until_ns``, oldest
    segment first.

    `kinds`: yield only records of these kinds. `needles`: regex byte patterns, at least one of
    which every wanted record's compact line contains (default: the `kinds`); lines matching
    none are not decoded. `fields`: the command-record attributes to type-check (see check());
    `schema=False` yields every JSON object (the write path's own tests). Bad lines are skipped
    and noted in `stats`.
    """
    try:
        import orjson

        loads: Callable[[bytes], Any] = orjson.loads
    except ImportError:  # pragma: no cover - orjson is a dependency
        import json

        loads = json.loads
    stats = stats if stats is not None else ReadStats()
    wanted = frozenset(kinds) if kinds is not None else None
    patterns = list(needles) if needles is not None else ([kind_pattern(wanted)] if wanted else [])
    scans = [re.compile(p) for p in patterns]
    lo = since_ns if since_ns is not None else -1
    hi = until_ns if until_ns is not None else 1 << 126
    table = COMMAND_FIELDS if fields is None else fields
    checker = _compiled(table)
    envelope_only = not table  # the command check inline: a call costs as much as the fields
    fast_kinds = tuple(k for k in _COMMAND_KINDS if schema and (wanted is None or k in wanted))
    chosen = list(files) if files is not None else segments(path)
    if not chosen and files is None and not Path(path).parent.exists():
        raise ReadError(f"ledger {os.fspath(path)}: no such file or directory")
    if progress is not None:
        progress.start(len(chosen))
    for number, seg in enumerate(chosen, 1):
        name = str(seg)
        try:
            fh = open(seg, "rb", buffering=0)
        except OSError as exc:
            stats.note_bad(name, 0, f"cannot open: {exc.strerror}")
            continue
        with fh:
            size = os.fstat(fh.fileno()).st_size
            if (lo > 0 or hi < 1 << 126) and _outside(fh, size, lo, hi, loads):
                stats.skipped_segments += 1
                continue
            stats.segments += 1
            if progress is not None:
                progress.update(number, stats.records, force=True)
            fh.seek(0)
            scanned = bool(scans) and _compact(fh)
            # where: the line number, or (scanned) the byte offset, numbered only for a bad line
            if scanned:
                # the newest segment is read, not mapped: a file cut short under a mapping is a SIGBUS
                lines: Iterator[tuple[int, bytes]] = (_scan(fh, size, scans) if number < len(chosen)
                                                      else _scan_blocks(fh, scans))
                where: Callable[[int], int] = _LineCounter(seg).line_of
            else:
                buffered = open(fh.fileno(), "rb", buffering=1 << 20, closefd=False)
                lines, where = enumerate(buffered, 1), int
            stats.segment, stats.locate = name, where
            tick = 0x3FFF if progress is not None else -1  # a line number, or an offset when scanning
            yielded = 0  # added to stats.records when the segment ends (a local costs less per record)
            try:
                for at, raw in lines:
                    if not at & tick and progress is not None:
                        progress.update(number, stats.records + yielded)
                    if raw[-1] != 10:  # only a segment's last line can lack its newline
                        if raw.strip():
                            stats.note_bad(name, where(at), "torn line (no newline at end)")
                        continue
                    try:
                        record = loads(raw)
                    except ValueError as exc:
                        if not raw.strip():
                            continue
                        record = after_fragment(raw, loads)
                        if record is None:
                            stats.note_bad(name, where(at), f"invalid JSON: {exc}")
                            continue
                        stats.note_bad(name, where(at), FRAGMENT)
                    if type(record) is not dict:
                        stats.note_bad(name, where(at), "not a JSON object")
                        continue
                    get = record.get
                    end = get("end_ns")
                    kind = get("kind")
                    if type(end) is int:
                        if end < lo or end >= hi:
                            continue
                        if kind in fast_kinds:
                            # the command fast path: envelope (and `fields`) checked without a call
                            if envelope_only:
                                if type(get("start_ns")) is int and type(get("duration_s")) in NUM:
                                    yielded += 1
                                    stats.at = at
                                    yield record
                                    continue
                            elif checker(record):
                                yielded += 1
                                stats.at = at
                                yield record
                                continue
                            stats.note_bad(name, where(at), _explain(record, table, frozenset()) or "unreadable")
                            continue
                    if wanted is not None and type(kind) is str and kind not in wanted:
                        continue
                    if schema:
                        problem = check(record, fields)
                        if problem is not None:
                            stats.note_bad(name, where(at), problem)
                            continue
                    yielded += 1
                    stats.at = at
                    yield record
            finally:
                stats.records += yielded
            if not scanned:
                buffered.close()
            stats.bytes += size
    if progress is not None:
        progress.done()


def _compact(fh: Any) -> bool:
    """Whether the segment's first line is written the compact way the scan relies on."""
    head = fh.read(EDGE).split(b"\n", 1)[0]
    fh.seek(0)
    return not head or b'"kind":"' in head


def _scan(fh: Any, size: int, scans: list[re.Pattern[bytes]]) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line) of the lines in which any pattern matches, in file order, 8 MiB at
    a time. The segment is mapped, so the search runs over the page cache without a copy into
    Python (only rotated segments, which no writer changes; a file cut short under a mapping
    would kill the process), and each 8 MiB is dropped from the mapping once searched, so the
    resident size stays that of one block. A pattern that is plain text is found with
    ``find`` (~0.3 ns a byte against ~0.9 for a regex). A file that cannot be mapped is read in
    blocks. The bytes after the last newline (a torn line) are yielded as they are, for the
    caller to name."""
    if size <= 0:
        return
    try:
        view: Any = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # not a regular file, or no address space: read it
        yield from _scan_blocks(fh, scans)
        return
    texts = [_literal(scan.pattern) for scan in scans]
    with view:
        base = dropped = 0
        while base < size:
            cut = view.rfind(b"\n", base, base + BLOCK) + 1
            if cut <= base:  # a line longer than a block, or the torn tail
                cut = view.find(b"\n", base + BLOCK) + 1 if size > base + BLOCK else 0
                if cut <= 0:
                    yield base, view[base:size]
                    return
            starts: set[int] = set()
            for scan, text in zip(scans, texts):
                if text is not None:
                    at = view.find(text, base, cut)
                    while at >= 0:
                        line = view.rfind(b"\n", base, at) + 1 or base
                        starts.add(line)
                        at = view.find(text, view.find(b"\n", at, cut) + 1 or cut, cut)
                else:
                    for match in scan.finditer(view, base, cut):
                        starts.add(view.rfind(b"\n", base, match.start()) + 1 or base)
            for start in sorted(starts):
                yield start, view[start:view.find(b"\n", start, cut) + 1]
            base = cut
            keep = base - base % mmap.PAGESIZE
            if keep > dropped and _DONTNEED is not None:
                view.madvise(_DONTNEED, dropped, keep - dropped)  # still in the page cache
                dropped = keep


_DONTNEED = getattr(mmap, "MADV_DONTNEED", None) if hasattr(mmap.mmap, "madvise") else None


def _literal(pattern: bytes | str) -> bytes | None:
    """The text a regex pattern matches when it is plain text (``"cmdscope\\.danger\\.rule"``),
    else None."""
    if not isinstance(pattern, bytes):
        return None
    text = re.sub(rb"\\(.)", rb"\1", pattern, flags=re.DOTALL)
    return text if text and re.escape(text) == pattern else None


def _scan_blocks(fh: Any, scans: list[re.Pattern[bytes]]) -> Iterator[tuple[int, bytes]]:
    """_scan() for a file that cannot be mapped: 8 MiB blocks, each ending at its last newline."""
    base = 0  # file offset of `block`
    while True:
        fh.seek(base)
        block = fh.read(BLOCK)
        cut = block.rfind(b"\n") + 1
        while not cut and len(block) >= BLOCK:  # a line longer than a block
            more = fh.read(BLOCK)
            block += more
            cut = block.rfind(b"\n") + 1
            if not more:
                break
        if not cut:
            if block:  # a last line with no newline: torn
                yield base, block
            return
        starts: set[int] = set()
        for scan in scans:
            for match in scan.finditer(block, 0, cut):
                starts.add(block.rfind(b"\n", 0, match.start()) + 1)
        for start in sorted(starts):
            yield base + start, block[start:block.index(b"\n", start) + 1]
        base += cut


class _LineCounter:
    """Byte offset -> line number, counting newlines once, forward, only when asked (for the
    bad lines of a scanned segment, whose offsets only grow)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.lines = 1

    def line_of(self, offset: int) -> int:
        if offset < self.offset:
            self.offset, self.lines = 0, 1
        try:
            with open(self.path, "rb", buffering=0) as fh:
                fh.seek(self.offset)
                while self.offset < offset:
                    chunk = fh.read(min(1 << 20, offset - self.offset))
                    if not chunk:
                        break
                    self.lines += chunk.count(b"\n")
                    self.offset += len(chunk)
        except OSError:
            return 0
        return self.lines


def read_unchecked(path: str | os.PathLike[str], **options: Any) -> Iterator[dict[str, Any]]:
    """read_records() without the schema check: every JSON object line (what
    ``cmdscope._sinks.ledger.read_records`` always gave)."""
    return read_records(path, schema=False, **options)


def tail_records(path: str | os.PathLike[str], n: int, *, stats: ReadStats | None = None) -> list[dict[str, Any]]:
    """The last `n` valid records, read backwards from the end of the newest segment (older
    segments only when the newer ones hold fewer than `n`)."""
    stats = stats if stats is not None else ReadStats()
    if n <= 0:
        return []
    found: list[dict[str, Any]] = []
    for seg in reversed(segments(path)):
        part = _tail_segment(seg, n - len(found), stats)
        found = part + found
        if len(found) >= n:
            break
    stats.records = len(found)
    return found[-n:]


def _tail_segment(seg: Path, n: int, stats: ReadStats) -> list[dict[str, Any]]:
    """The last `n` valid records of one segment, reading 64 KiB blocks from its end."""
    try:
        fh = open(seg, "rb", buffering=0)
    except OSError as exc:
        stats.note_bad(str(seg), 0, f"cannot open: {exc.strerror}")
        return []
    out: list[dict[str, Any]] = []
    bad: list[tuple[int, str]] = []  # (byte offset, reason): numbered once the segment is read
    with fh:
        size = os.fstat(fh.fileno()).st_size
        pos, rest = size, b""
        while pos > 0 and len(out) < n:
            step = min(EDGE, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step) + rest
            lines = block.split(b"\n")
            rest = lines.pop(0) if pos else b""
            offset = pos + len(rest) + (1 if pos else 0)
            found = []
            for i, raw in enumerate(lines):
                start = offset
                offset += len(raw) + 1
                last_in_file = i == len(lines) - 1 and offset > size
                found.append((start, raw, last_in_file))
            for start, raw, last_in_file in reversed(found):
                if len(out) >= n:
                    break
                if not raw.strip():
                    continue
                record, problem = _decode(raw, torn=last_in_file)
                if record is None:
                    bad.append((start, problem or "unreadable"))
                else:
                    out.append(record)
    counter = _LineCounter(seg)
    for offset, reason in sorted(bad):
        stats.note_bad(str(seg), counter.line_of(offset), reason)
    out.reverse()
    return out


_RECORD_START = b'{"schema":'
FRAGMENT = "torn fragment before a whole record (a writer killed mid-write); record kept"


def after_fragment(raw: bytes, loads: Callable[[bytes], Any]) -> dict[str, Any] | None:
    """The whole record glued behind a torn fragment, if the line holds one. Every record starts
    with its schema key, so the last such start is where the other writer's line began (the
    narrow race docs/reliability.md describes)."""
    start = raw.rfind(_RECORD_START, 1)
    if start < 0:
        return None
    try:
        record = loads(raw[start:])
    except ValueError:
        return None
    return record if type(record) is dict else None


def _decode(raw: bytes, *, torn: bool) -> tuple[dict[str, Any] | None, str | None]:
    import orjson

    if torn:
        return None, "torn line (no newline at end)"
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        record = after_fragment(raw, orjson.loads)
        if record is None:
            return None, f"invalid JSON: {exc}"
    if type(record) is not dict:
        return None, "not a JSON object"
    problem = check(record)
    return (None, problem) if problem else (record, None)


# ------------------------------------------------------------------------------ output


class Progress:
    """A one-line progress meter on stderr when it is a terminal; silent otherwise."""

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            try:
                enabled = self.stream.isatty()
            except (AttributeError, ValueError):
                enabled = False
        self.enabled = enabled
        self.label = label
        self.total = 0
        self.shown = False
        self.last = time.monotonic()

    def start(self, segments: int) -> None:
        self.total = segments

    def update(self, segment: int, records: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2 and not force:
            return
        self.last = now
        self.stream.write(f"\r{self.label}: segment {segment}/{self.total}, {records:,} records")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * (len(self.label) + 48) + "\r")
            self.stream.flush()
            self.shown = False
