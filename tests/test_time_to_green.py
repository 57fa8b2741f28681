"""Weekly time to green (issue 19 item 5): `cmdscope report failures --weekly` from commands the real
CLI ran, placed a week apart by tests/timeshift.py (through the ledger writer), with the
Mann-Whitney U test deciding whether a class improved."""

from __future__ import annotations

import json
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conftest import ROOT, cmdscope_cli
from test_packets import make_repo
from timeshift import place, recorded

from cmdscope._reports.time_to_green import WEEK_NS, WeeklyTimeToGreen

NS = 1_000_000_000
MIN = 60 * NS
HOUR = 3600 * NS
DAY = 86400 * NS


def run_all(repo: Path, ledger: Path, commands: list[list[str]]) -> None:
    """Each argv through the real CLI (``python -m cmdscope ...``) into ``ledger``, a few at a time."""
    env = {"CMDSCOPE_LEDGER": str(ledger)}

    def one(args: list[str]) -> None:
        cmdscope_cli(*args, cwd=repo, env=env, capture_output=True, text=True, timeout=120)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, commands))


def by_hash(records: list[dict[str, Any]], outcome: str) -> dict[str, dict[str, Any]]:
    return {r["cmdscope.command.hash"]: r for r in records if r["kind"] == "command" and r["cmdscope.outcome"] == outcome}


def weekly_ledger(tmp_path: Path, ledger: Path) -> int:
    """A ledger over three weeks made of real records; returns the reference time T (now).

    - negative_answer (``test -f`` of a missing file, fixed by creating it): 6 streaks last week
      that took 9 to 11.5 minutes to go green, 6 this week that took 20 to 45 seconds, one this
      week closed by a passing gate of its packet, and one still red;
    - command_not_found (a tool that does not exist yet): 2 streaks a week of about a minute.
    """
    repo = make_repo(tmp_path / "repo")
    scratch = tmp_path / "scratch.jsonl"
    marks = [f"ok-{i}" for i in range(12)]
    tools = [f"./tool-{i}" for i in range(4)]
    test_f = [["run", "--", "sh", "-c", 'test -f "$0"', m] for m in marks]
    call = [["run", "--", "sh", "-c", '"$0"', t] for t in tools]
    run_all(repo, scratch, [*test_f, *call, ["run", "--", "sh", "-c", 'test -f "$0"', "never"]])
    for m in marks:
        (repo / m).write_text("fixed\n")
    for t in tools:
        path = repo / t
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    run_all(repo, scratch, [*test_f, *call])
    fails, wins = by_hash(recorded(scratch), "failure"), by_hash(recorded(scratch), "success")
    assert len(fails) == 17 and len(wins) == 16, (len(fails), len(wins))

    # the gate scenario, in order: the packet's failure, then its passing gate
    gate_ledger = tmp_path / "gate.jsonl"
    env = {"CMDSCOPE_LEDGER": str(gate_ledger)}
    for args in (["packet", "start", "PKT-G"], ["run", "--", "sh", "-c", 'test -f "$0"', "gate-fix"],
                 ["gate", "run", "tests", "--", "true"], ["packet", "end"]):
        cmdscope_cli(*args, cwd=repo, env=env, capture_output=True, text=True, timeout=120)

    now = time.time_ns()
    placements: list[tuple[dict[str, Any], int]] = []

    def streak(hash_: str, first: int, ttg: int) -> None:
        placements.append((fails[hash_], first))
        placements.append((wins[hash_], first + ttg))

    hashes = {r["process.command_line"].split()[-1]: h for h, r in fails.items()}  # mark or tool -> hash
    for i in range(6):  # last week: 9 .. 11.5 minutes
        streak(hashes[marks[i]], now - 10 * DAY + i * HOUR, 9 * MIN + i * 30 * NS)
    for i in range(6):  # this week: 20 .. 45 seconds
        streak(hashes[marks[6 + i]], now - 3 * DAY + i * HOUR, (20 + 5 * i) * NS)
    for i, (week_start, ttg) in enumerate([(now - 9 * DAY, 60), (now - 9 * DAY + HOUR, 90),
                                           (now - 2 * DAY, 70), (now - 2 * DAY + HOUR, 80)]):
        streak(hashes[tools[i]], week_start, ttg * NS)
    placements.append((fails[hashes["never"]], now - DAY + 2 * HOUR))
    group = recorded(gate_ledger)
    shift = now - DAY - group[0]["end_ns"]
    placements += [(r, r["end_ns"] + shift) for r in group]
    place(ledger, placements)
    return now


def conforms(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> list[str]:
    """The subset of JSON Schema the report's schema uses: $ref, oneOf, type, const, enum,
    required, properties, items. Returns the problems (empty: valid)."""
    if "$ref" in schema:
        return conforms(value, root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root)
    if "oneOf" in schema:
        results = [conforms(value, s, root) for s in schema["oneOf"]]
        return [] if sum(not r for r in results) == 1 else [f"oneOf: {results}"]
    problems = []
    types = schema.get("type")
    if types is not None:
        names = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float),
                 "boolean": bool, "null": type(None)}
        wanted = types if isinstance(types, list) else [types]
        ok = any(isinstance(value, names[t]) and not (t in ("integer", "number") and isinstance(value, bool))
                 for t in wanted)
        if not ok:
            return [f"{value!r} is not {types}"]
    if "const" in schema and value != schema["const"]:
        problems.append(f"{value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        problems += [f"missing {k}" for k in schema.get("required", []) if k not in value]
        for k, sub in schema.get("properties", {}).items():
            if k in value:
                problems += [f"{k}: {p}" for p in conforms(value[k], sub, root)]
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += [f"[{i}]: {p}" for p in conforms(item, schema["items"], root)]
    return problems


def test_weekly_time_to_green_from_real_runs(tmp_path: Path, ledger_path: Path) -> None:
    """Streaks that took ~10 minutes last week and seconds this week: the class is `improved`
    with a significant Mann-Whitney test; a class with overlapping times is `no significant
    change`; a gate of the packet closes a streak; a streak never fixed is still red; the JSON
    follows docs/failures-report.schema.json and the table and Markdown say the same."""
    weekly_ledger(tmp_path, ledger_path)
    out = cmdscope_cli("report", "failures", "--weekly", "--format", "json", capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    schema = json.loads((ROOT / "docs" / "failures-report.schema.json").read_text())
    assert conforms(report, schema, schema) == []
    assert report["report"] == "failures-weekly" and report["window"]["alignment"] == "trailing-7d"
    classes = {c["class"]: c for c in report["classes"]}
    neg = classes["negative_answer"]
    assert neg["last_week"]["recovered"] == 6 and neg["last_week"]["median_s"] == 615.0
    assert neg["this_week"]["recovered"] == 7 and neg["this_week"]["by_gate"] == 1
    assert 20 <= neg["this_week"]["median_s"] <= 45
    assert neg["this_week"]["unrecovered"] == 1 and neg["last_week"]["unrecovered"] == 0
    assert neg["test"]["significant"] and neg["test"]["p_value"] < 0.05 and neg["direction"] == "improved"
    assert neg["change"]["median_s"] < -500
    cnf = classes["command_not_found"]
    assert (cnf["last_week"]["median_s"], cnf["this_week"]["median_s"]) == (75.0, 75.0)
    assert cnf["direction"] == "no significant change" and not cnf["test"]["significant"]
    assert report["totals"]["this_week"]["recovered"] == 9 and report["totals"]["last_week"]["recovered"] == 8
    assert report["ledger"]["bad_lines"] == 0

    table = cmdscope_cli("report", "failures", "--weekly", capture_output=True, text=True)
    assert table.returncode == 0
    row = next(line for line in table.stdout.splitlines() if line.startswith("negative_answer"))
    assert "10m15s (6)" in row and row.rstrip().endswith("improved")
    md = cmdscope_cli("report", "failures", "--weekly", "--format", "md", capture_output=True, text=True)
    assert "| negative_answer | 10m15s (6) |" in md.stdout and "| improved |" in md.stdout

    # --until a week back: that week becomes "this week", the week before is empty
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7 * 86400))
    back = json.loads(cmdscope_cli("report", "failures", "--weekly", "--until", until, "--format", "json",
                                   capture_output=True, text=True).stdout)
    old = {c["class"]: c for c in back["classes"]}["negative_answer"]
    assert old["this_week"]["recovered"] == 6 and old["last_week"]["recovered"] == 0
    assert old["direction"] == "too few data"


def test_bad_until_and_both_views_are_one_line(tmp_path: Path) -> None:
    out = cmdscope_cli("report", "failures", "--weekly", "--until", "last tuesday", capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.startswith("cmdscope report failures: error: argument --until: ")
    assert "--until 'last tuesday'" in out.stderr and "--since" not in out.stderr
    assert len(out.stderr.splitlines()) == 1
    both = cmdscope_cli("report", "failures", "--weekly", "--daily", capture_output=True, text=True)
    assert both.returncode == 2 and "Traceback" not in both.stderr
    assert both.stderr.splitlines()[-1].endswith("--weekly and --daily are different views: choose one")


def rec(kind: str, end: int, outcome: str = "success", h: str = "h1", **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "end_ns": end, "cmdscope.outcome": outcome, "cmdscope.command.hash": h,
            "cmdscope.worktree": "/w", **extra}


class TestStreaks:
    """The rollup on plain records (the CLI test above covers the real ones)."""

    NOW = 100 * WEEK_NS

    def test_worse_when_this_week_is_slower(self) -> None:
        """The mirror of the CLI test: slower this week, significantly, is `worse`."""
        w = WeeklyTimeToGreen(self.NOW)
        for i in range(6):
            for start, ttg in ((self.NOW - 10 * DAY, 20 * NS), (self.NOW - 3 * DAY, 20 * MIN)):
                first = start + i * HOUR
                w.add(rec("command", first, "failure", f"h{start}{i}", **{"error.type": "x"}))
                w.add(rec("command", first + ttg + i * NS, "success", f"h{start}{i}"))
        row = w.report()["classes"][0]
        assert row["direction"] == "worse" and row["test"]["shift"] == "higher"

    def test_streak_is_per_session_and_first_failure_sets_class(self) -> None:
        """A success in another session does not end the streak; the first failure's class
        names it; a later failure of the same streak does not restart its clock."""
        w = WeeklyTimeToGreen(self.NOW)
        t = self.NOW - DAY
        w.add(rec("command", t, "failure", **{"session.id": "a", "error.type": "first"}))
        w.add(rec("command", t + 10 * NS, "failure", **{"session.id": "a", "error.type": "second"}))
        w.add(rec("command", t + 20 * NS, "success", **{"session.id": "b"}))
        assert len(w.open) == 1
        w.add(rec("command", t + 30 * NS, "success", **{"session.id": "a"}))
        assert w.open == {} and w.by_packet == {}
        report = w.report()
        assert [c["class"] for c in report["classes"]] == ["first"]
        assert report["classes"][0]["this_week"]["median_s"] == 30.0

    def test_gate_of_the_packet_closes_its_streaks_only(self) -> None:
        w = WeeklyTimeToGreen(self.NOW)
        t = self.NOW - DAY
        w.add(rec("command", t, "failure", "h1", **{"cmdscope.packet": "P"}))
        w.add(rec("command", t, "failure", "h2", **{"cmdscope.packet": "Q"}))
        w.add(rec("gate", t + 5 * NS, **{"cmdscope.packet": "P", "cmdscope.gate.result": "fail"}))
        assert len(w.open) == 2
        w.add(rec("gate", t + 9 * NS, **{"cmdscope.packet": "P", "cmdscope.gate.result": "pass"}))
        assert list(w.open) == [("/w", "packet:Q", "h2")] and list(w.by_packet) == ["Q"]
        totals = w.report()["totals"]["this_week"]
        assert (totals["recovered"], totals["by_gate"], totals["median_s"], totals["unrecovered"]) == (1, 1, 9.0, 1)

    def test_state_is_the_open_streaks_not_the_records(self) -> None:
        """100,000 commands that fail and go green leave no state but the per-class samples."""
        w = WeeklyTimeToGreen(self.NOW)
        t = self.NOW - DAY
        for i in range(50_000):
            w.add(rec("command", t + 2 * i, "failure", f"h{i % 7}"))
            w.add(rec("command", t + 2 * i + 1, "success", f"h{i % 7}"))
        assert w.open == {} and w.weeks["unknown"][1].recovered == 50_000
        assert len(w.weeks["unknown"][1].sample) == 10_000  # the reservoir's cap
        assert w.report()["classes"][0]["this_week"]["sampled"] is True

    def test_outside_the_weeks(self) -> None:
        """Green before last week is not counted; a streak from the lookback week that goes green
        last week is; records at or after `until` are ignored."""
        w = WeeklyTimeToGreen(self.NOW)
        w.add(rec("command", self.NOW - 20 * DAY, "failure", "a"))
        w.add(rec("command", self.NOW - 19 * DAY, "success", "a"))
        w.add(rec("command", self.NOW - 15 * DAY, "failure", "b"))
        w.add(rec("command", self.NOW - 13 * DAY, "success", "b"))
        w.add(rec("command", self.NOW, "failure", "c"))
        totals = w.report()["totals"]
        assert totals["last_week"]["recovered"] == 1 and totals["last_week"]["median_s"] == 2 * 86400.0
        assert totals["this_week"]["recovered"] == 0 and w.open == {}

