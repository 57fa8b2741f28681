"""``cmdscope ledger tail|query|verify``: read the local ledger."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Iterable, Iterator

from cmdscope._cli import CliError
from cmdscope._cli.args import Parser

# (key, width): a cell longer than its width is never cut (it pushes the row right); only the
# last column (what ran) is shortened to the terminal's width.
COLUMNS = (
    ("time", 19), ("kind", 9), ("cmdscope.actor", 14), ("cmdscope.packet", 10), ("cmdscope.phase", 12),
    ("cmdscope.outcome", 11), ("process.exit.code", 4), ("duration_s", 8), ("what", 0),
)
HEADERS = {"time": "TIME (UTC)", "kind": "KIND", "cmdscope.actor": "ACTOR", "cmdscope.packet": "PACKET",
           "cmdscope.phase": "PHASE", "cmdscope.outcome": "OUTCOME", "process.exit.code": "EXIT",
           "duration_s": "SECONDS", "what": "COMMAND / NAME"}


# What names a record that is not a command (first present wins): gate, heartbeat/audit,
# pipeline stage, pipeline, packet, commit.
NAME_KEYS = ("cmdscope.gate.name", "cmdscope.heartbeat.name", "cicd.pipeline.task.name", "cicd.pipeline.name",
             "cmdscope.packet.title", "cmdscope.packet", "vcs.ref.head.revision")


def parse_since(text: str, now_ns: int | None = None) -> int:
    """``30m``, ``1h``, ``7d``, ``2w`` or an ISO date/time -> epoch ns (one parser for every
    command: cmdscope._reports.common.parse_time); a bad value is a one-line CliError."""
    from cmdscope._reports.common import ReportError, parse_time

    try:
        return parse_time(text, now_ns=now_ns if now_ns is not None else time.time_ns(), option="--since")
    except ReportError as exc:
        raise CliError(str(exc)) from None


def _ledger(path: str | None) -> str:
    from cmdscope._paths import default_ledger_path

    return os.fspath(path or default_ledger_path())


def _cell(record: dict[str, Any], key: str) -> str:
    from cmdscope._safe_text import printable

    if key == "what":  # the command as typed; for gates, packets, heartbeats... their name
        from cmdscope._command_text import as_typed

        named = next((record[k] for k in NAME_KEYS if isinstance(record.get(k), str) and record[k]), None)
        return printable(as_typed(record) or named or str(record.get("name") or "-"))
    value = record.get(key)
    if value is None:
        return "-"
    if key == "time":
        return printable(str(value)[:19].replace("T", " "))
    if key == "duration_s" and type(value) in (int, float):
        return f"{float(value):.3f}"
    return printable(str(value))


def format_table(records: Iterable[dict[str, Any]], out: Any) -> int:
    width = _terminal_width(out)
    fixed = sum(w + 2 for _, w in COLUMNS if w)
    out.write("  ".join(HEADERS[k].ljust(w) if w else HEADERS[k] for k, w in COLUMNS).rstrip() + "\n")
    n = 0
    for rec in records:
        cells = []
        for key, w in COLUMNS:
            text = _cell(rec, key)
            if rec.get("kind") == "denial" and key == "cmdscope.outcome":
                text = "denied"
            if w:
                cells.append(text.ljust(w))
            else:
                room = max(20, width - fixed) if width else len(text)
                cells.append(text if len(text) <= room else text[: room - 1] + "…")
        out.write("  ".join(cells).rstrip() + "\n")
        n += 1
    return n


def _terminal_width(out: Any) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns if out.isatty() else 0
    except (OSError, AttributeError, ValueError):
        return 0


def _emit(records: Iterable[dict[str, Any]], as_json: bool) -> int:
    if as_json:
        n = 0
        for rec in records:
            sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
        return n
    return format_table(records, sys.stdout)


def _matches(rec: dict[str, Any], args: argparse.Namespace) -> bool:
    for attr, key in FILTERS:
        wanted = getattr(args, attr, None)
        if wanted and rec.get(key) != wanted:
            return False
    return True


def _follow(path: str, start_size: int) -> Iterator[dict[str, Any]]:
    """Yield records appended after ``start_size``; follows rotation by reopening the path.
    Lines that are not valid records are left out, as the reader does."""
    from cmdscope._ledger_reader import check

    pos = start_size
    ino = os.stat(path).st_ino if os.path.exists(path) else None
    buf = b""
    while True:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            time.sleep(0.2)
            continue
        if st.st_ino != ino:
            ino, pos, buf = st.st_ino, 0, b""
        if st.st_size > pos:
            with open(path, "rb") as fh:
                fh.seek(pos)
                chunk = fh.read(st.st_size - pos)
            pos += len(chunk)
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and check(rec) is None:
                    yield rec
        else:
            time.sleep(0.2)


def cmd_tail(args: argparse.Namespace) -> int:
    from cmdscope._ledger_reader import ReadStats, tail_records

    path = _ledger(args.ledger)
    stats = ReadStats()
    _emit(tail_records(path, args.n, stats=stats), args.json)
    _report_bad(stats)
    if args.follow:
        sys.stdout.flush()
        size = os.path.getsize(path) if os.path.exists(path) else 0
        try:
            for rec in _follow(path, size):
                _emit([rec], args.json) if args.json else format_table_row(rec)
                sys.stdout.flush()
        except KeyboardInterrupt:
            return 0
    return 0


def format_table_row(rec: dict[str, Any]) -> None:
    import io

    buf = io.StringIO()
    format_table([rec], buf)
    sys.stdout.write(buf.getvalue().split("\n", 1)[1])


FILTERS = (("actor", "cmdscope.actor"), ("packet", "cmdscope.packet"), ("phase", "cmdscope.phase"),
           ("session", "session.id"), ("kind", "kind"), ("outcome", "cmdscope.outcome"))


def _needles(args: argparse.Namespace) -> list[bytes] | None:
    """A scan pattern for the reader from one exact filter (`--kind commit` reads only lines
    holding ``"kind":"commit"``), when its value is written as is in JSON."""
    import re

    for attr, key in FILTERS:
        wanted = getattr(args, attr, None)
        if wanted and wanted.isprintable() and wanted.isascii() and not set(wanted) & set('"\\'):
            return [re.escape(f'"{key}":"{wanted}"'.encode())]
    return None


def cmd_query(args: argparse.Namespace) -> int:
    from cmdscope._ledger_reader import Progress, ReadStats, read_records

    since = parse_since(args.since) if args.since else None
    stats = ReadStats()
    progress = Progress("reading ledger")
    records = read_records(_ledger(args.ledger), since_ns=since, stats=stats, needles=_needles(args), progress=progress)
    selected: Iterable[dict[str, Any]] = (r for r in records if _matches(r, args))
    if args.limit:  # the newest matches: the ledger is in time order, keep the last N
        from collections import deque

        selected = deque(selected, maxlen=args.limit)
    n = _emit(selected, args.json)
    progress.done()
    if not args.json:
        sys.stderr.write(f"{n} record(s)\n") if sys.stderr.isatty() else None
    _report_bad(stats)
    return 0


def _report_bad(stats: Any) -> None:
    stats.report("cmdscope ledger")


class DuplicateIds:
    """Counts record ids seen more than once, exactly, in bounded memory.

    Each id goes, as a few bytes (a 32-hex id as its 16 bytes; anything else as a SHA-256 of
    its text), to one of ``PARTITIONS`` temporary files chosen by its first byte, through a
    buffer of at most ``BUFFER`` bytes per partition. :meth:`count` then reads one partition at
    a time into a set: memory is the buffers plus one partition's set (about 1/256 of the ids),
    whatever the ledger's size; the spill is ~18 bytes an id on disk (the system temp dir).
    """

    PARTITIONS = 256
    BUFFER = 16 * 1024

    def __init__(self) -> None:
        self._buffers = [bytearray() for _ in range(self.PARTITIONS)]
        self._dir: Any = None

    @staticmethod
    def key(record_id: str) -> bytes:
        if len(record_id) == 32:
            try:
                raw = bytes.fromhex(record_id)
            except ValueError:
                raw = b""
            if raw.hex() == record_id:  # lower-case hex only: one text, one key
                return b"h" + raw
        from cmdscope._digest import sha256_hex

        return b"t" + bytes.fromhex(sha256_hex(record_id.encode("utf-8", "surrogatepass")))

    def add(self, record_id: str) -> None:
        key = self.key(record_id)
        part = key[1]
        buf = self._buffers[part]
        buf += bytes((len(key),)) + key
        if len(buf) >= self.BUFFER:
            self._spill(part)

    def _spill(self, part: int) -> None:
        if self._dir is None:
            import tempfile

            self._dir = tempfile.TemporaryDirectory(prefix="cmdscope-verify-")
        with open(os.path.join(self._dir.name, f"{part:03d}"), "ab") as fh:
            fh.write(self._buffers[part])
        self._buffers[part] = bytearray()

    def count(self) -> int:
        """How many ids were seen again after their first time (and the spill is removed)."""
        repeats = 0
        try:
            for part in range(self.PARTITIONS):
                data = bytearray()
                if self._dir is not None:
                    try:
                        with open(os.path.join(self._dir.name, f"{part:03d}"), "rb") as fh:
                            data = bytearray(fh.read())
                        os.unlink(fh.name)
                    except FileNotFoundError:
                        pass
                data += self._buffers[part]
                self._buffers[part] = bytearray()
                seen: set[bytes] = set()
                view, at = bytes(data), 0
                del data
                while at < len(view):
                    size = view[at]
                    key = view[at + 1:at + 1 + size]
                    at += 1 + size
                    if key in seen:
                        repeats += 1
                    else:
                        seen.add(key)
        finally:
            if self._dir is not None:
                self._dir.cleanup()
                self._dir = None
        return repeats


MAX_PROBLEMS = 1000  # schema problems kept (each named); beyond that only counted


def cmd_verify(args: argparse.Namespace) -> int:
    """Every line parses and validates against schema v1; file modes are private."""
    from pydantic import ValidationError

    from cmdscope._ledger_reader import ReadStats, read_unchecked, segments
    from cmdscope._records import validate_record

    path = _ledger(args.ledger)
    files = segments(path)
    if not files:
        raise CliError(f"{path}: no ledger here", 1)
    problems: list[str] = []
    for seg in files:
        mode = os.stat(seg).st_mode & 0o777
        if mode & 0o077:
            problems.append(f"{seg}: mode {mode:o} lets other users read or write the ledger (want 600)")
    stats = ReadStats()
    kinds: dict[str, int] = {}
    ids = DuplicateIds()  # bounded memory: docs/reliability.md (ledger verify)
    invalid = 0
    for number, rec in enumerate(read_unchecked(path, stats=stats), 1):
        try:
            validate_record(rec)
        except ValidationError as exc:
            invalid += 1
            if invalid <= MAX_PROBLEMS:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"])
                problems.append(f"record {rec.get('record_id', '?')} (#{number}): field {field!r}: {err['msg']}")
        kinds[str(rec.get("kind"))] = kinds.get(str(rec.get("kind")), 0) + 1
        rid = rec.get("record_id")
        if isinstance(rid, str):
            ids.add(rid)
    if invalid > MAX_PROBLEMS:
        problems.append(f"... and {invalid - MAX_PROBLEMS} more record(s) that do not match the schema")
    duplicates = ids.count()
    for bad in stats.bad:
        problems.append(f"{bad.path}:{bad.line}: {bad.reason}")
    if stats.bad_lines > len(stats.bad):
        problems.append(f"... and {stats.bad_lines - len(stats.bad)} more unreadable line(s)")
    if duplicates:
        problems.append(f"{duplicates} duplicate record id(s)")
    seal_report = _verify_seals(path)
    problems.extend(seal_report)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    if args.json:
        print(json.dumps({"ok": not problems, "records": stats.records, "kinds": kinds, "problems": problems}))
    else:
        for p in problems[:50]:
            print(f"FAIL {p}")
        if len(problems) > 50:
            print(f"... and {len(problems) - 50} more")
        print(f"{'OK' if not problems else 'FAIL'}: {stats.records} record(s) in {len(files)} file(s) ({summary or 'none'})")
    return 0 if not problems else 1


def _verify_seals(path: str) -> list[str]:
    try:
        from cmdscope._sinks.seal import verify_chain  # sealed ledgers (optional)
    except ImportError:
        return []
    return verify_chain(path)


def main(argv: list[str]) -> int:
    from typing import get_args

    from cmdscope._cli import args as args_
    from cmdscope._records import Kind

    KINDS = get_args(Kind)
    parser = Parser(prog="cmdscope ledger", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    tail = sub.add_parser("tail", help="the last records")
    tail.add_argument("-n", type=args_.count, default=10, help="how many (default 10)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    query = sub.add_parser("query", help="records matching filters")
    args_.add_since(query)
    query.add_argument("--actor", help="only this actor (cmdscope.actor)")
    query.add_argument("--packet", help="only this work packet")
    query.add_argument("--phase", help="only this phase")
    query.add_argument("--session", help="only this session id")
    query.add_argument("--kind", choices=KINDS, help="only this record kind")
    query.add_argument("--outcome", choices=("success", "failure", "timeout", "interrupted", "error", "denied"),
                       help="only this outcome")
    query.add_argument("--limit", type=args_.count, default=0,
                       help="only the newest this many matches, printed oldest first (default 0: all)")
    verify = sub.add_parser("verify", help="check every line against schema v1 (exit 1 on any problem)")
    for p in (tail, query, verify):
        p.add_argument("--ledger", help="ledger path (default: $CMDSCOPE_LEDGER or the state dir)")
        args_.add_format(p)
    args = parser.parse_args(argv)
    return {"tail": cmd_tail, "query": cmd_query, "verify": cmd_verify}[args.action](args)
