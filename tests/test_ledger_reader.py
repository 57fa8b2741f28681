"""The one ledger reader behind every report and ``cmdscope ledger`` view (cmdscope._ledger_reader),
through the real CLI over ledgers written by ``cmdscope run`` and by hand where the product cannot
write the case (a wrong type, a torn line, an old segment)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest

from conftest import PYTHON, cmdscope_cli, run_with_terminal_stderr

S = 1_000_000_000
NOW = time.time_ns()
COMMAND = {"schema": 1, "kind": "command", "name": "pytest", "process.executable.name": "pytest",
           "process.command_line": "pytest -q", "cmdscope.outcome": "success", "cmdscope.command.hash": "0" * 16,
           "session.id": "s1", "cmdscope.actor": "agent", "duration_s": 1.0}
PACKET = {"schema": 1, "kind": "packet", "name": "packet", "cmdscope.actor": "agent", "cmdscope.outcome": "success",
          "cmdscope.packet": "PKT-1", "cmdscope.packet.status": "completed", "cmdscope.packet.commands": 4,
          "cmdscope.packet.failures": 1, "cmdscope.packet.failure_density": 0.25, "cmdscope.packet.gates": 1,
          "cmdscope.packet.gates_passed": 1, "cmdscope.packet.gate_pass_rate": 1.0, "cmdscope.packet.denials": 0,
          "cmdscope.packet.danger_hits": 0, "cmdscope.packet.danger_critical": 0, "cmdscope.packet.retries": 0,
          "cmdscope.packet.commits": 1, "duration_s": 60.0}


def rec(base: dict[str, Any], end: int, **extra: Any) -> dict[str, Any]:
    r = {**base, "record_id": f"{end:032x}", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end / S)),
         "start_ns": end - int(base["duration_s"] * S), "end_ns": end}
    r.update(extra)
    return {k: v for k, v in r.items() if v is not ...}


def write(path: Path, records: list[Any]) -> None:
    with open(path, "w") as fh:
        for r in records:
            fh.write((r if isinstance(r, str) else json.dumps(r, separators=(",", ":"))) + "\n")


def cli(*args: str) -> subprocess.CompletedProcess:
    return cmdscope_cli(*args, capture_output=True, text=True)


# ------------------------------------------------------------------------------ bad records


BAD = {  # issue 15 item 14: valid JSON, wrong type
    "duration_s": rec(COMMAND, NOW - 50 * S, duration_s="x"),
    "end_ns": {**rec(COMMAND, NOW - 49 * S), "end_ns": None},
    "kind": rec(COMMAND, NOW - 48 * S, kind=["x"]),
    "error.type": rec(COMMAND, NOW - 47 * S, **{"cmdscope.outcome": "failure", "error.type": 7}),
    "start_ns": rec(PACKET, NOW - 46 * S, start_ns=...),
}


def bad_ledger(path: Path) -> dict[str, int]:
    """Good records around the five bad ones; returns the bad field -> its line number."""
    lines: list[Any] = [rec(COMMAND, NOW - 60 * S), rec(PACKET, NOW - 59 * S, **{"cmdscope.packet": "PKT-0"})]
    where = {}
    for field, bad in BAD.items():
        lines.append(bad)
        where[field] = len(lines)
    lines += [rec(COMMAND, NOW - 10 * S, **{"cmdscope.outcome": "failure", "error.type": "test_failure"}),
              rec(COMMAND, NOW - 5 * S)]
    write(path, lines)
    return where


@pytest.mark.parametrize("argv, fields", [
    (["ledger", "tail", "-n", "50"], BAD),
    (["ledger", "query"], BAD),
    (["ledger", "query", "--kind", "packet"], ["start_ns"]),
    (["report", "failures", "--since", "1h"], BAD),
    (["report", "failures", "--since", "1h", "--by", "command"], BAD),
    (["report", "failures", "--daily"], BAD),
    (["report", "packets"], ["start_ns"]),
    (["report", "packets", "--weekly", "--format", "md"], ["start_ns"]),
    (["report", "html", "-o", "{tmp}/r.html"], ["start_ns", "error.type"]),
    (["report", "commits"], []),
    (["report", "schedule"], []),
    (["report", "denials"], []),
    (["report", "danger"], []),
])
def test_a_record_of_the_wrong_type_is_skipped_and_named(ledger_path: Path, tmp_path: Path, argv: list[str],
                                                         fields: Any) -> None:
    """No traceback from any reader; each bad record it reads is one stderr line with file and line."""
    where = bad_ledger(ledger_path)
    done = cli(*[a.format(tmp=tmp_path) for a in argv])
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stderr  # schedule: 1 = nothing scheduled is fresh
    for field in fields:
        assert f"{ledger_path}:{where[field]}: field {field!r}" in done.stderr, (field, done.stderr)
    if argv[:2] == ["ledger", "tail"]:
        shown = done.stdout.splitlines()[1:]
        assert len(shown) == 4  # the four good records, in order
        assert "failure" in shown[2]


def test_good_records_still_count(ledger_path: Path) -> None:
    bad_ledger(ledger_path)
    report = json.loads(cli("report", "failures", "--since", "1h", "--format", "json").stdout)
    assert report["totals"]["commands"] == 3 and report["totals"]["failures"] == 1
    assert report["ledger"]["bad_lines"] == 5  # every line is read: all five bad ones
    packets = json.loads(cli("report", "packets", "--format", "json").stdout)["packets"]
    assert [p["packet"] for p in packets] == ["PKT-0"]


# ------------------------------------------------------------------------------ control characters


def test_control_characters_from_a_command_line_are_escaped(ledger_path: Path, tmp_path: Path) -> None:
    """A command line carrying terminal escapes (retitle, clear screen, carriage return, bidi
    override) is shown escaped in tables, markdown and HTML; JSON keeps it exact."""
    hostile = "x\x1b]0;owned\x07\x1b[2J\rhidden\u202eevil"
    done = cmdscope_cli("run", "--", "sh", "-c", "exit 3", hostile, capture_output=True)
    assert done.returncode == 3
    outputs = {
        "tail": cli("ledger", "tail").stdout,
        "query": cli("ledger", "query", "--outcome", "failure").stdout,
        "failures": cli("report", "failures", "--by", "command").stdout,
        "failures md": cli("report", "failures", "--by", "command", "--format", "md").stdout,
    }
    assert cli("report", "html", "-o", str(tmp_path / "r.html")).returncode == 0
    outputs["html"] = (tmp_path / "r.html").read_text()
    for name, text in outputs.items():
        assert not any(c in text for c in "\x1b\x07\r\u202e"), name
    assert "\\x1b]0;owned\\x07\\x1b[2J\\rhidden\\u202eevil" in outputs["tail"]
    (line,) = [json.loads(x) for x in cli("ledger", "query", "--json").stdout.splitlines()]
    assert hostile in line["process.command_line"]


# ------------------------------------------------------------------------------ segments


def segmented(path: Path, days: int = 5) -> None:
    """One segment a day, oldest first; the middle line of every rotated segment is garbage, so a
    segment that is decoded shows up as a bad line and one that is skipped does not."""
    for day in range(days):
        ends = [NOW - (days - day) * 86400 * S + i * 3600 * S for i in range(3)]
        lines: list[Any] = [rec(COMMAND, ends[0]), "{not json", rec(COMMAND, ends[2])]
        last = day == days - 1
        write(path if last else path.with_name(f"{path.name}.{day + 1:06d}"), lines if not last else [lines[0]])


def test_segments_outside_the_window_are_not_decoded(ledger_path: Path) -> None:
    segmented(ledger_path)
    report = json.loads(cli("report", "failures", "--since", "60h", "--format", "json").stdout)
    assert report["ledger"]["segments_skipped"] == 3 and report["ledger"]["bad_lines"] == 1
    day1 = (NOW - 4 * 86400 * S) // S  # the second segment: this, +1 h, +2 h
    window = ["--since", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(day1 - 1800)),
              "--until", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(day1 + 3 * 3600))]
    report = json.loads(cli("report", "failures", *window, "--format", "json").stdout)
    assert report["ledger"]["segments_read"] == 1 and report["ledger"]["bad_lines"] == 1
    assert report["totals"]["commands"] == 2


def test_tail_reads_from_the_end(ledger_path: Path) -> None:
    """The newest records across a segment boundary, without reading the older garbage."""
    segmented(ledger_path)
    done = cli("ledger", "tail", "-n", "2", "--json")
    ends = [json.loads(x)["end_ns"] for x in done.stdout.splitlines()]
    assert len(ends) == 2 and ends == sorted(ends) and done.stderr == ""
    assert ends[1] == NOW - 86400 * S
    done = cli("ledger", "tail", "-n", "4", "--json")
    assert len(done.stdout.splitlines()) == 4
    assert f"{ledger_path.with_name(ledger_path.name + '.000004')}:2: invalid JSON" in done.stderr


def test_a_segment_not_written_compactly_is_read_in_full(ledger_path: Path) -> None:
    """The kind scan relies on the writers' compact JSON; a segment written with spaces (another
    tool) is decoded line by line, and text that only looks like a kind is not a match."""
    spaced = rec(PACKET, NOW - 100 * S, **{"cmdscope.packet": "PKT-SPACED"})
    ledger_path.with_name(ledger_path.name + ".000001").write_text(json.dumps(spaced) + "\n")
    write(ledger_path, [rec(COMMAND, NOW - 50 * S, **{"process.command_line": 'echo "kind":"packet"'}),
                        rec(PACKET, NOW - 40 * S)])
    packets = json.loads(cli("report", "packets", "--format", "json").stdout)["packets"]
    assert [p["packet"] for p in packets] == ["PKT-SPACED", "PKT-1"]
    kinds = [json.loads(x)["kind"] for x in cli("ledger", "query", "--kind", "packet", "--json").stdout.splitlines()]
    assert kinds == ["packet", "packet"]


# ------------------------------------------------------------------------------ progress


def test_progress_only_on_a_terminal(ledger_path: Path) -> None:
    write(ledger_path, [rec(PACKET, NOW - 40 * S)])
    piped = cli("report", "packets")
    assert piped.returncode == 0 and piped.stderr == ""
    proc, shown = run_with_terminal_stderr([PYTHON, "-m", "cmdscope", "report", "packets"], dict(os.environ), 60)
    assert proc.returncode == 0 and b"reading ledger: segment 1/1" in shown
    assert b"reading ledger" not in proc.stdout


# ------------------------------------------------------------------------------ schema and statistics


def _types(annotation: Any) -> set[type]:
    """The JSON value types a pydantic annotation accepts (float accepts an int)."""
    from typing import Literal, Union

    origin = get_origin(annotation)
    if origin is Literal:
        return {type(v) for v in get_args(annotation)}
    if origin is Union or str(origin) == "<class 'types.UnionType'>":
        return set().union(*(_types(a) for a in get_args(annotation)))
    if origin is list:
        return {list}
    if annotation is float:
        return {int, float}
    return {annotation}


def test_the_type_table_matches_the_schema_models() -> None:
    """cmdscope._ledger_reader's fast type table says what cmdscope._records' models say."""
    from cmdscope import _ledger_reader as lr
    from cmdscope import _records as m

    models = {"command": m.CommandRecord, "packet": m.PacketRecord, "commit": m.CommitRecord,
              "pipeline": m.PipelineRecord, "gate": m.GateRecord, "heartbeat": m.HeartbeatRecord}
    tables = {"command": {**lr.ENVELOPE, **lr.COMMAND_FIELDS}, **{k: {**lr.ENVELOPE, **lr.KIND_FIELDS[k]} for k in models
                                                               if k != "command"}}
    for kind, model in models.items():
        by_alias = {f.alias or name: f for name, f in model.model_fields.items()}
        for key, types in tables[kind].items():
            field = by_alias[key]
            assert set(types) == _types(field.annotation), (kind, key)
            if key in lr.REQUIRED.get(kind, ()):
                assert field.is_required(), (kind, key)


def test_s_statistic_and_sen_slope_match_the_pairwise_definition() -> None:
    from statistics import median

    from cmdscope._sdlc import stats

    rng = random.Random(7)
    for n in (3, 10, 80, 300):
        xs = [float(rng.randint(0, 20)) for _ in range(n)]
        ts = [float(i) for i in range(n)]
        pairs = sum(stats._sign(xs[j] - xs[i]) for i in range(n) for j in range(i + 1, n))
        assert stats.mann_kendall(xs, ts).s == pairs
    n = 2000  # more pairs than SLOPE_PAIRS: sampled, close to the exact median
    xs = [i * 0.5 + rng.gauss(0, 50) for i in range(n)]
    exact = median((xs[j] - xs[i]) / (j - i) for i in range(0, n, 3) for j in range(i + 1, n, 3))
    assert abs(stats.mann_kendall(xs, [float(i) for i in range(n)]).sen_slope - exact) < 0.05


def test_reader_memory_does_not_keep_bad_lines(tmp_path: Path) -> None:
    """A ledger of garbage: the first MAX_BAD_KEPT bad lines are kept, the rest only counted."""
    from cmdscope._ledger_reader import MAX_BAD_KEPT, ReadStats, read_records

    path = tmp_path / "garbage.jsonl"
    path.write_text("{oops\n" * 5000)
    stats = ReadStats()
    assert list(read_records(path, stats=stats)) == []
    assert stats.bad_lines == 5000 and len(stats.bad) == MAX_BAD_KEPT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_tail_is_the_end_of_the_forward_read(tmp_path: Path) -> None:
    """Backwards over 64 KiB blocks and segment boundaries, with garbage and blank lines between
    records and a torn last line: the same records, in the same order, as reading forwards."""
    from cmdscope._ledger_reader import ReadStats, read_records, tail_records

    rng = random.Random(3)
    path = tmp_path / "l.jsonl"
    end = NOW - 10**6 * S
    for seg in ("000001", "000002", ""):
        lines: list[Any] = []
        for _ in range(rng.randint(300, 900)):
            end += S
            lines.append(rng.choice(["{oops", "", "[1]"]) if rng.random() < 0.05 else
                         rec(COMMAND, end, **{"process.command_line": "x" * rng.randint(0, 400)}))
        write(path.with_name(f"{path.name}.{seg}") if seg else path, lines)
    with open(path, "a") as fh:
        fh.write('{"kind":"command","torn')
    read = ReadStats()
    forward = list(read_records(path, stats=read))
    for n in (1, 7, 250, 1000, len(forward), len(forward) + 5):
        stats = ReadStats()
        assert tail_records(path, n, stats=stats) == forward[-n:]
    assert sorted(map(str, stats.bad)) == sorted(map(str, read.bad))  # read to the start: the same bad lines
