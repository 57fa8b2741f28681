"""Reports folded over worker processes (cmdscope._reports.parallel) say what the one-process read says.

Ledgers are real: made by bench/make_ledger.py (sessions whose failure streaks run across many
small segments) or written by the real LedgerWriter with a tiny rotation size. Parallel mode is
forced with CMDSCOPE_REPORT_JOBS (the ledgers are far below the size from which it is automatic).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cmdscope._ledger_reader import ReadStats, segments
from cmdscope._reports import parallel
from cmdscope._sinks.ledger import LedgerWriter
from conftest import run_with_terminal_stderr

ROOT = Path(__file__).resolve().parent.parent
NS = 10**9
DAY = 86400 * NS
NOW = 1_796_000_000 * NS


@pytest.fixture(scope="module")
def bench_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30,000 records over 25 days in ~0.5 MB segments, two torn lines added."""
    ledger = tmp_path_factory.mktemp("parallel") / "ledger.jsonl"
    made = subprocess.run([sys.executable, str(ROOT / "bench" / "make_ledger.py"), str(ledger), "--records", "30000",
                           "--days", "25", "--segment-mb", "0.5", "--end-ns", str(NOW - NS)],
                          check=False, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    files = segments(ledger)
    assert len(files) >= 8
    for seg in (files[len(files) - 4], files[-2]):  # bad lines in two late segments (every report reads them)
        with open(seg, "ab") as fh:
            fh.write(b'{"schema":1,"kind":"command","end_ns":"not a number"}\n{not json\n')
    return ledger


def cli(args: list[str], jobs: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CMDSCOPE_REPORT_JOBS=jobs, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "cmdscope", *args], capture_output=True, text=True, env=env, check=False)


def test_split_is_contiguous_and_balanced() -> None:
    files = [Path(str(i)) for i in range(7)]
    groups = parallel.split(files, [10, 10, 10, 10, 10, 10, 10], 3)
    assert [f for g in groups for f in g] == files and len(groups) == 3 and all(groups)
    assert [len(g) for g in parallel.split(files[:3], [1, 1, 100], 3)] == [1, 1, 1]
    assert [len(g) for g in parallel.split(files[:2], [5, 5], 1)] == [2]
    ten = [Path(str(i)) for i in range(10)]
    assert [len(g) for g in parallel.split(ten, [10] * 10, 2, head=1.5)] == [6, 4]  # the parent's share: 1.5 : 1
    assert [len(g) for g in parallel.split(ten, [10] * 10, 2)] == [5, 5]


def test_weekly_time_to_green_cli_equals_serial(bench_ledger: Path) -> None:
    args = ["report", "failures", "--weekly", "--until", "2026-12-01T00:00:00Z", "--top", "0", "--format", "json",
            "--ledger", str(bench_ledger)]
    one, three = cli(args, "1"), cli(args, "3")
    assert one.returncode == three.returncode == 0, three.stderr
    a, b = json.loads(one.stdout), json.loads(three.stdout)
    a.pop("generated_at"), b.pop("generated_at")
    assert a == b
    assert a["totals"]["this_week"]["recovered"] > 100 and a["totals"]["this_week"]["unrecovered"] > 0
    # the window skips the oldest segments before the split; both reads count them alike
    assert a["ledger"]["segments_skipped"] > 0 and a["ledger"]["bad_lines"] >= 4  # ours and make_ledger's torn ones
    assert one.stderr == three.stderr and one.stderr.count("field 'start_ns': missing") == 2
    assert one.stderr.count("cmdscope report failures: skipped ") >= 4


@pytest.mark.parametrize("view", [["--by", "class"], ["--by", "command", "--top", "0"], ["--daily", "--days", "30"]])
def test_failures_report_cli_equals_serial(bench_ledger: Path, view: list[str]) -> None:
    window = [] if "--daily" in view else ["--since", "2026-11-10T00:00:00Z", "--until", "2026-11-29T00:00:00Z"]
    args = ["report", "failures", *view, *window, "--format", "json", "--ledger", str(bench_ledger)]
    one, three = cli(args, "1"), cli(args, "3")
    assert one.returncode == three.returncode == 0, three.stderr
    a, b = json.loads(one.stdout), json.loads(three.stdout)
    a.pop("generated_at"), b.pop("generated_at")
    assert a == b and one.stderr == three.stderr
    if "--daily" not in view:
        assert a["totals"]["recovered"] > 100 and a["totals"]["unrecovered"] > 0
        assert a["ledger"]["segments_skipped"] > 0  # the window leaves out the first days' segments


def test_rate_equals_serial_to_every_sample(bench_ledger: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cmdscope._reports.common import LedgerStream
    from cmdscope._sdlc import rating

    split, now = NOW - 7 * DAY, NOW
    start = split - 7 * DAY
    tallies = {}
    for jobs in ("1", "3"):
        monkeypatch.setenv("CMDSCOPE_REPORT_JOBS", jobs)
        stream = LedgerStream(str(bench_ledger), "test", since_ns=start, fields=rating.FIELDS)
        tallier = parallel.fold(stream.path, lambda head: (rating.Tallier if head else rating.TallierTail)(
            start, split, now + 1), rating._feed, stats=stream.stats, since_ns=start, fields=rating.FIELDS)
        assert parallel.last_jobs == int(jobs)
        tallies[jobs] = ({k: tuple(vars(t) for t in pair) for k, pair in tallier.tallies.items()},
                         {k: v for k, v in tallier.streaks.items() if v})
        assert stream.stats.bad_lines >= 4
    assert tallies["1"] == tallies["3"]  # counters, open streaks and each time-to-green sample in order
    assert sum(len(t["ttg"]) for pair in tallies["1"][0].values() for t in pair) > 100
    weights = rating.DEFAULT_WEIGHTS
    monkeypatch.setenv("CMDSCOPE_REPORT_JOBS", "3")
    three = rating.rate_ledger(str(bench_ledger), split, now, weights)
    monkeypatch.setenv("CMDSCOPE_REPORT_JOBS", "1")
    assert three == rating.rate_ledger(str(bench_ledger), split, now, weights)


def test_html_page_equals_serial(bench_ledger: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cmdscope._reports import html
    from cmdscope._sdlc.governance import load_policy

    policy = load_policy(None)
    since = NOW - 30 * DAY
    pages = {}
    for jobs in ("1", "2", "4"):
        monkeypatch.setenv("CMDSCOPE_REPORT_JOBS", jobs)
        gov = html.Governance(policy, NOW)
        rollup = html.shared_pass(str(bench_ledger), since, gov)
        pages[jobs] = html.render_rollup(rollup, since, NOW, gov.sections())
        assert parallel.last_jobs == int(jobs)
    assert pages["1"] == pages["2"] == pages["4"]
    assert 'data-class="test_failure"' in pages["1"] and 'data-scope="packet"' in pages["1"]
    monkeypatch.setenv("CMDSCOPE_REPORT_JOBS", "3")
    alone = html.shared_pass(str(bench_ledger), since, None)
    monkeypatch.setenv("CMDSCOPE_REPORT_JOBS", "1")
    serial = html.shared_pass(str(bench_ledger), since, None)
    assert alone.figures(alone.packets.finish()) == serial.figures(serial.packets.finish())


def command(end: int, outcome: str, h: str, *, session: str = "s1", packet: str = "P1", cls: str = "test_failure",
            actor: str = "codex") -> dict[str, Any]:
    record = {"schema": 1, "kind": "command", "start_ns": end - NS, "end_ns": end, "duration_s": 1.0,
              "cmdscope.outcome": outcome, "cmdscope.command.hash": h, "cmdscope.actor": actor,
              "session.id": session, "cmdscope.packet": packet, "cmdscope.worktree": "/w",
              "process.executable.name": "pytest", "process.command_line": "pytest -q", "process.exit.code": 0}
    if outcome != "success":
        record["error.type"] = cls
        record["process.exit.code"] = 1
    return record


def gate(end: int, packet: str) -> dict[str, Any]:
    return {"schema": 1, "kind": "gate", "start_ns": end - NS, "end_ns": end, "duration_s": 1.0,
            "time": "2026-11-30T00:00:00Z", "cmdscope.actor": "codex", "cmdscope.outcome": "success",
            "cmdscope.packet": packet, "cmdscope.gate.name": "tests", "cmdscope.gate.result": "pass",
            "cmdscope.gate.required": True, "cmdscope.gate.dirty": False}


def write_segments(ledger: Path, groups: list[list[dict[str, Any]]]) -> None:
    """Each group of records in its own segment, written by the real writer (rotating at 1 byte
    would split every line; here the writer rotates when a group is done)."""
    for i, group in enumerate(groups):
        with LedgerWriter(ledger, fsync="never", max_bytes=0) as writer:
            for record in group:
                assert writer.append(record)
        if i < len(groups) - 1:
            os.replace(ledger, ledger.with_name(f"{ledger.name}.{i + 1:06d}"))


def test_streak_opened_in_segment_one_closes_in_segment_three(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cmdscope._reports import time_to_green
    from cmdscope._reports.common import LedgerStream
    from cmdscope._sdlc import rating

    ledger = tmp_path / "ledger.jsonl"
    t = NOW - 3 * DAY
    write_segments(ledger, [
        [command(t, "failure", "A"), command(t + 1 * NS, "failure", "B"), command(t + 2 * NS, "failure", "C",
                                                                                 packet="P2", session="")],
        [command(t + 10 * NS, "failure", "A"), command(t + 11 * NS, "success", "Z"),  # A still red, C too
         command(t + 12 * NS, "failure", "D")],
        [command(t + 100 * NS, "success", "A"),  # the streak of segment 1 goes green: 100 s
         gate(t + 110 * NS, "P2"),  # C goes green by the gate of its packet: 108 s
         command(t + 120 * NS, "success", "D"), command(t + 130 * NS, "failure", "A")],  # A red again: open
    ])
    assert len(segments(ledger)) == 3
    results = {}
    for jobs in ("1", "3"):
        monkeypatch.setenv("CMDSCOPE_REPORT_JOBS", jobs)
        weekly = time_to_green.from_ledger(ledger, None, now_ns=NOW, top=0)
        assert parallel.last_jobs == int(jobs)
        stream = LedgerStream(ledger, "test", since_ns=NOW - 14 * DAY, fields=rating.FIELDS)
        tallier = parallel.fold(stream.path, lambda head: (rating.Tallier if head else rating.TallierTail)(
            NOW - 14 * DAY, NOW - 7 * DAY, NOW + 1), rating._feed, stats=stream.stats, since_ns=NOW - 14 * DAY,
            fields=rating.FIELDS)
        weekly.pop("generated_at")
        results[jobs] = (weekly, {k: v for k, v in tallier.streaks.items() if v},
                         sorted(tallier.tallies[("actor", "codex")][1].ttg))
    assert results["1"] == results["3"]
    weekly, streaks, ttg = results["1"]
    this = weekly["totals"]["this_week"]
    assert (this["recovered"], this["by_gate"], this["unrecovered"]) == (3, 1, 2)  # A, C, D green; A and B red
    assert ttg == [100.0, 108.0]  # the ratings have no gate: A after 100 s, D after 108 s; C still red
    assert streaks[("actor", "codex")] == {"A": t + 130 * NS, "B": t + 1 * NS, "C": t + 2 * NS}


def test_a_worker_that_dies_is_read_again_here(bench_ledger: Path, monkeypatch: pytest.MonkeyPatch,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    from cmdscope._reports import time_to_green

    monkeypatch.setenv("CMDSCOPE_REPORT_JOBS", "3")
    until = NOW - 2 * DAY
    start = until - 3 * 7 * DAY

    parent = os.getpid()

    def feed(acc: Any, records: Any, stats: ReadStats) -> None:
        time_to_green._feed(acc, records, stats)
        if os.getpid() != parent:
            os._exit(3)  # every worker dies without a word

    results = []
    for f in (feed, time_to_green._feed):
        stats = ReadStats()
        rollup = parallel.fold(Path(bench_ledger), lambda head: (time_to_green.WeeklyTimeToGreen if head
                                                                 else time_to_green.WeeklyTail)(until),
                               f, stats=stats, since_ns=start, until_ns=until, fields=time_to_green.FIELDS)
        results.append((rollup.report(now_ns=NOW), stats.records, stats.bad_lines, [str(b) for b in stats.bad]))
    err = capfd.readouterr().err
    assert results[0] == results[1]
    assert "a report worker failed" in err and "reading those segments in this process" in err
    assert "Traceback" not in err and all(line.count("\n") <= 1 for line in err.splitlines())


def test_bad_jobs_value_is_one_line_and_reads_in_one_process(bench_ledger: Path) -> None:
    args = ["report", "failures", "--weekly", "--until", "2026-12-01T00:00:00Z", "--format", "json",
            "--ledger", str(bench_ledger)]
    bad, one = cli(args, "two"), cli(args, "1")
    assert bad.returncode == 0 and "Traceback" not in bad.stderr
    warning = [line for line in bad.stderr.splitlines() if "CMDSCOPE_REPORT_JOBS" in line]
    assert warning == [("cmdscope report: CMDSCOPE_REPORT_JOBS='two': must be auto or a whole number >= 1; "
                        "using the default, auto: one per usable CPU from 64 MB of segments, one when no CPU is idle")]
    a, b = json.loads(bad.stdout), json.loads(one.stdout)
    a.pop("generated_at"), b.pop("generated_at")
    assert a == b


def test_progress_line_on_a_terminal_counts_the_workers_records(bench_ledger: Path) -> None:
    """On a terminal the parent draws one line with its own and the workers' records; piped, nothing."""
    args = [sys.executable, "-m", "cmdscope", "report", "failures", "--since", "2026-10-01", "--ledger", str(bench_ledger)]
    env = dict(os.environ, CMDSCOPE_REPORT_JOBS="3", PYTHONPATH=str(ROOT / "src"))
    proc, shown = run_with_terminal_stderr(args, env, 120)
    total = len(segments(bench_ledger))
    assert proc.returncode == 0 and f"reading ledger: segment 1/{total}".encode() in shown
    assert b"Traceback" not in shown and b"reading ledger" not in proc.stdout
    piped = cli(["report", "failures", "--since", "2026-10-01", "--ledger", str(bench_ledger)], "3")
    assert "reading ledger" not in piped.stderr


def test_auto_reads_in_one_process_when_the_host_has_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forking a process with other threads can copy a lock one of them holds: `auto` stays in
    one process then (the CLI has no other thread); a number still forces the workers."""
    import threading

    monkeypatch.setattr(parallel, "usable_cpus", lambda: 4)
    monkeypatch.setattr(parallel, "_load", lambda: 0.0)
    monkeypatch.delenv("CMDSCOPE_REPORT_JOBS", raising=False)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert parallel.jobs_for(1 << 30, 8) == 1
        monkeypatch.setenv("CMDSCOPE_REPORT_JOBS", "3")
        assert parallel.jobs_for(1 << 30, 8) == 3
    finally:
        stop.set()
        other.join()
    monkeypatch.delenv("CMDSCOPE_REPORT_JOBS")
    if threading.active_count() == 1:  # alone again: auto uses the idle cores
        assert parallel.jobs_for(1 << 30, 8) == 4


def test_a_packet_that_ends_in_a_later_segment_ends_the_earlier_streaks(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that reads a packet's record ends the packet in the earlier state after its own
    closes: the streak P1 opened in segment 1 closes in segment 2 (a close the merge resolves),
    P1's other streak is dropped at its record, and a command of P1 after its record starts afresh."""

    ledger = tmp_path / "ledger.jsonl"
    t = NOW - 3 * DAY
    packet_end = packet_record("P1", t, t + 50 * NS)
    write_segments(ledger, [
        [command(t, "failure", "A"), command(t + 1 * NS, "failure", "B")],
        [command(t + 20 * NS, "success", "A"), packet_end,  # A green after 20 s; B dropped with P1
         command(t + 60 * NS, "success", "B"),  # B of the ended P1: nothing of P1 to close
         command(t + 70 * NS, "failure", "C"), command(t + 80 * NS, "success", "C")],  # a new streak: 10 s
        [command(t + 90 * NS, "failure", "D")],
    ])
    streaks, packet_ttg, actor_ttg = ratings_alone_and_folded(ledger, monkeypatch, [("packet", "P1"), ("actor", "codex")])
    assert packet_ttg == [20.0, 10.0] and actor_ttg == [20.0, 59.0, 10.0]
    assert ("packet", "P1") in streaks and streaks[("packet", "P1")] == {"D": t + 90 * NS}


def packet_record(packet: str, start: int, end: int) -> dict[str, Any]:
    return {"schema": 1, "kind": "packet", "start_ns": start, "end_ns": end, "duration_s": (end - start) / NS,
            "time": "2026-11-30T00:00:00Z", "cmdscope.packet": packet, "cmdscope.outcome": "success",
            "cmdscope.actor": "codex", "cmdscope.packet.status": "completed",
            **{f"cmdscope.packet.{n}": 0 for n in ("commands", "failures", "gates", "denials", "danger_hits",
                                                   "retries", "commits")},
            "cmdscope.packet.failure_density": 0.0}


def test_a_packet_that_starts_and_ends_in_a_worker_is_resolved_there(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A packet that started after a worker's first command (by more than the reader's slack)
    cannot have a streak before it: the worker resolves its closes itself and sends none; a
    packet open across the boundary still has its close resolved by the merge."""

    ledger = tmp_path / "ledger.jsonl"
    t = NOW - 3 * DAY
    hour = 3600 * NS
    write_segments(ledger, [
        [command(t, "failure", "A", packet="P0")],
        [command(t + 10 * NS, "success", "Z", packet="P0"),
         command(t + 2 * hour + 1 * NS, "failure", "B", packet="P2"),  # P2 starts in this group
         command(t + 2 * hour + 5 * NS, "failure", "B", packet="P2"),
         command(t + 2 * hour + 30 * NS, "success", "B", packet="P2"),  # green after 29 s, known here
         command(t + 2 * hour + 40 * NS, "success", "A", packet="P0"),  # P0's streak from segment 1 goes green
         packet_record("P2", t + 2 * hour, t + 2 * hour + 60 * NS)],
        [command(t + 3 * hour, "failure", "C", packet="P0")],
    ])
    streaks, p2, p0, actor = ratings_alone_and_folded(ledger, monkeypatch,
                                                      [("packet", "P2"), ("packet", "P0"), ("actor", "codex")])
    assert p2 == [29.0] and p0 == [2 * 3600 + 40.0] and actor == [29.0, 2 * 3600 + 40.0]
    assert streaks[("packet", "P0")] == {"C": t + 3 * hour}


def ratings_alone_and_folded(ledger: Path, monkeypatch: pytest.MonkeyPatch, subjects: list[tuple[str, str]]) -> tuple[Any, ...]:
    """The open streaks and the current window's times to green of ``subjects``, read in one
    process and folded over three; both must agree (no bad line either way)."""
    from cmdscope._reports.common import LedgerStream
    from cmdscope._sdlc import rating

    results = {}
    for jobs in ("1", "3"):
        monkeypatch.setenv("CMDSCOPE_REPORT_JOBS", jobs)
        stream = LedgerStream(ledger, "test", since_ns=NOW - 14 * DAY, fields=rating.FIELDS)
        tallier = parallel.fold(stream.path, lambda head: (rating.Tallier if head else rating.TallierTail)(
            NOW - 14 * DAY, NOW - 7 * DAY, NOW + 1), rating._feed, stats=stream.stats, since_ns=NOW - 14 * DAY,
            fields=rating.FIELDS)
        assert parallel.last_jobs == int(jobs) and stream.stats.bad_lines == 0, stream.stats.bad
        tallies = tallier.tallies
        results[jobs] = ({k: v for k, v in tallier.streaks.items() if v},
                         *(tallies[subject][1].ttg for subject in subjects))
    assert results["1"] == results["3"]
    return results["1"]
