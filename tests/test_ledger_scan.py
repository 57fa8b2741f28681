"""The reader's scan (cmdscope._ledger_reader._scan): the lines a report decodes are found in the
raw bytes first. A scan may only skip work: every record the report would take from a full
decode must still come out, whatever the field order, escapes or Unicode in the line, on a
rotated segment (searched through a mapping) and on the current file (read in blocks), with
lines across block boundaries and lines longer than a block."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from cmdscope import _ledger_reader as ledger_reader
from cmdscope._ledger_reader import ReadStats, _literal, kind_pattern, read_records
from cmdscope._reports.guardrails import NEEDLES as GUARD_NEEDLES
from cmdscope._reports.html import Charts

S = 1_000_000_000
NOW = time.time_ns()


def command(end: int, **extra: Any) -> dict[str, Any]:
    r: dict[str, Any] = {"schema": 1, "record_id": f"{end:032x}", "kind": "command", "start_ns": end - S,
                         "end_ns": end, "duration_s": 1.0, "process.command_line": "pytest -q",
                         "cmdscope.outcome": "success", "cmdscope.command.hash": "0" * 16, "session.id": "s1"}
    r.update(extra)
    return r


def compact(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def reorder(record: dict[str, Any]) -> dict[str, Any]:
    """The same record with its keys in the reverse order (kind and outcome last or first)."""
    return dict(reversed(list(record.items())))


# Records a report over failures, rare kinds or danger hits must see, each written in a way the
# scan could get wrong.
def awkward(end: int) -> list[dict[str, Any]]:
    return [
        reorder(command(end, **{"cmdscope.outcome": "failure", "error.type": "test_failure"})),  # outcome first
        command(end + 1, **{"process.command_line": 'echo "\\"cmdscope.outcome\\":\\"success\\""',
                            "cmdscope.outcome": "failure", "error.type": "runtime_exception"}),  # escaped quotes
        command(end + 2, **{"process.command_line": "echo ünïcödé \u202e 🚀", "cmdscope.outcome": "failure",
                            "error.type": "klasse_ü"}),  # raw UTF-8 before and in the field
        command(end + 3, **{"cmdscope.outcome": "skipped"}),  # not success, though it starts with an s
        command(end + 4, **{"cmdscope.outcome": "timeout", "error.type": None}),
        reorder(command(end + 5, **{"cmdscope.danger.rule": ["rm-rf-root", "régle"], "cmdscope.danger.severity": "critical"})),
        command(end + 6, kind="denial", **{"cmdscope.outcome": "denied", "cmdscope.policy.rule": "no-push-ü"}),
        reorder({"schema": 1, "kind": "commit", "start_ns": end, "end_ns": end + 7, "duration_s": 0.0,
                 "time": "2026-01-01T00:00:00Z", "cmdscope.actor": "a", "cmdscope.outcome": "success",
                 "vcs.ref.head.revision": "ab" * 20, "cmdscope.commit.message": 'fix "quotes" — ü',
                 "cmdscope.commit.slices": 1, "cmdscope.commit.changed_lines": 3}),
    ]


def ledger(path: Path, rng: random.Random) -> None:
    """Two rotated segments and the current file: plain successes around the awkward records,
    some lines far longer than the test's block size."""
    end = NOW - 3 * 86400 * S
    for name in (f"{path.name}.000001", f"{path.name}.000002", path.name):
        lines = []
        for _ in range(40):
            end += 60 * S
            if rng.random() < 0.3:
                lines.extend(compact(r) for r in awkward(end))
            else:
                long = "x" * rng.choice((0, 10, 900))
                lines.append(compact(command(end, **{"process.command_line": f"echo {long}"})))
        path.with_name(name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def wanted_by_html(r: dict[str, Any]) -> bool:
    kind = r["kind"]
    return (kind in ("packet", "pipeline", "commit", "denial")
            or (kind in ("command", "function") and r.get("cmdscope.outcome") != "success")
            or bool(r.get("cmdscope.danger.rule")))


@pytest.mark.parametrize("block", [ledger_reader.BLOCK, 700, 64])
@pytest.mark.parametrize("needles, wanted", [
    (Charts.NEEDLES, wanted_by_html),
    (GUARD_NEEDLES["danger"], lambda r: any(k.startswith("cmdscope.danger.") for k in r)),
    (GUARD_NEEDLES["denials"], lambda r: r["kind"] == "denial"),
    ((kind_pattern({"commit"}),), lambda r: r["kind"] == "commit"),
    ((kind_pattern({"commit", "denial"}),), lambda r: r["kind"] in ("commit", "denial")),
])
def test_the_scan_keeps_every_record_a_full_decode_keeps(ledger_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         block: int, needles: Any, wanted: Any) -> None:
    """Reversed field order, escaped quotes, raw UTF-8, an outcome starting with s, lines across
    and longer than a block: the scanned read yields what the full read yields, in order."""
    ledger(ledger_path, random.Random(block))
    monkeypatch.setattr(ledger_reader, "BLOCK", block)
    full = [r for r in read_records(ledger_path) if wanted(r)]
    scanned = [r for r in read_records(ledger_path, needles=needles) if wanted(r)]
    assert scanned == full
    assert len({r["kind"] for r in full}) >= 1 and len(full) >= 3


def test_a_torn_last_line_of_a_rotated_segment_is_named(ledger_path: Path) -> None:
    """The mapped scan hands the bytes after the last newline to the reader, which names them."""
    rotated = ledger_path.with_name(ledger_path.name + ".000001")
    rotated.write_text(compact(command(NOW - 10 * S, kind="denial")) + "\n" + '{"kind":"denial","torn',
                       encoding="utf-8")
    ledger_path.write_text(compact(command(NOW - 5 * S, kind="denial")) + "\n", encoding="utf-8")
    stats = ReadStats()
    found = list(read_records(ledger_path, needles=GUARD_NEEDLES["denials"], stats=stats))
    assert [r["end_ns"] for r in found] == [NOW - 10 * S, NOW - 5 * S]
    assert [(b.path, b.line, b.reason) for b in stats.bad] == [(str(rotated), 2, "torn line (no newline at end)")]


def test_a_bad_candidate_is_named_with_its_line(ledger_path: Path) -> None:
    """A candidate found by the scan that is not valid JSON is named by its line number."""
    rotated = ledger_path.with_name(ledger_path.name + ".000001")
    lines = [compact(command(NOW - 100 * S + i * S)) for i in range(5)]
    lines[3] = '{"kind":"denial","end_ns":1,"x":"\x01"}'  # a raw control character: invalid JSON
    rotated.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ledger_path.write_text("")
    stats = ReadStats()
    assert list(read_records(ledger_path, needles=GUARD_NEEDLES["denials"], stats=stats)) == []
    assert [(b.line, b.reason.split(":")[0]) for b in stats.bad] == [(4, "invalid JSON")]


@pytest.mark.parametrize("pattern, text", [
    (rb'"cmdscope\.danger\.rule"', b'"cmdscope.danger.rule"'),
    (kind_pattern({"packet"}), b'kind":"packet"'),
    (rb'"cmdscope\.outcome":"failure"', b'"cmdscope.outcome":"failure"'),
    (kind_pattern({"packet", "commit"}), None),
    (rb'"cmdscope\.outcome":"(?!success")', None),
    (rb"a\d", None),
    (rb"a\n", None),
    (rb"x+", None),
    (b"", None),
])
def test_only_plain_text_needles_are_searched_as_text(pattern: bytes, text: bytes | None) -> None:
    assert _literal(pattern) == text
