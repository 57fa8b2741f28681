"""`cmdscope report failures` over a real ledger file (rotated segments, a torn line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from cmdscope._reports.failures import failure_daily, failure_rollup

S = 1_000_000_000
DAY = 86400 * S
NOW = 1_760_000_000 * S  # fixed "now" for the library calls


def rec(t: int, outcome: str, *, h: str = "h1", session: str = "s1", error: str | None = None,
        retry: int = 0, actor: str = "agent", kind: str = "command") -> dict:
    r = {"schema": 1, "record_id": f"{t:032x}", "kind": kind, "start_ns": t - S, "end_ns": t, "duration_s": 1.0,
         "name": "pytest", "process.executable.name": "pytest", "process.command_line": f"pytest {h}",
         "cmdscope.outcome": outcome, "cmdscope.command.hash": h, "session.id": session, "cmdscope.actor": actor,
         "cmdscope.phase": "test"}
    if outcome != "success":
        r["error.type"] = error or "test_failure"
    if retry:
        r["cmdscope.retry.count"] = retry
    return r


def sample(base: int) -> list[dict]:
    return [
        rec(base + 0 * S, "failure"),
        rec(base + 60 * S, "failure", retry=1),
        rec(base + 120 * S, "success", retry=2),              # green after 120 s
        rec(base + 130 * S, "failure", h="h2", error="lint_failure", actor="ci"),  # never green
        rec(base + 140 * S, "success", h="h3"),
        rec(base + 150 * S, "denied", kind="denial", error="policy_denied"),  # not a command record
        rec(base + 160 * S, "timeout", h="h4", error="timeout"),
        rec(base + 170 * S, "success", h="h4", session="other"),  # another session: does not close it
    ]


def test_rollup_counts_shares_retries_and_time_to_green() -> None:
    """Counts, shares, retries, first/last seen and time to green come out of one pass."""
    r = failure_rollup(sample(NOW - 3600 * S), by="class", now_ns=NOW)
    t = r["totals"]
    assert (t["commands"], t["failures"], t["retries"], t["recovered"], t["unrecovered"]) == (7, 4, 1, 1, 2)
    groups = {g["key"]: g for g in r["groups"]}
    assert groups["test_failure"]["failures"] == 2 and groups["test_failure"]["retries"] == 1
    assert groups["test_failure"]["share_of_commands"] == pytest.approx(2 / 7, abs=1e-6)
    assert groups["test_failure"]["time_to_green_s"]["median"] == pytest.approx(120, rel=0.05)
    assert groups["lint_failure"]["unrecovered"] == 1 and groups["timeout"]["unrecovered"] == 1
    by_actor = failure_rollup(sample(NOW - 3600 * S), by="actor", now_ns=NOW)
    assert {g["key"]: g["failures"] for g in by_actor["groups"]} == {"agent": 3, "ci": 1}


def test_daily_top_classes_with_day_over_day_change() -> None:
    """Per day: the top classes and the change against the day before."""
    today = NOW // DAY * DAY
    records = [rec(today - DAY + 10 * S, "failure"), rec(today + 10 * S, "failure"), rec(today + 20 * S, "failure"),
               rec(today + 30 * S, "failure", error="build_error")]
    d = failure_daily(records, days=2, now_ns=today + 3600 * S)
    assert [day["failures"] for day in d["days"]] == [1, 3]
    last = {c["class"]: c for c in d["days"][-1]["classes"]}
    assert last["test_failure"]["change"] == 1 and last["test_failure"]["change_pct"] == 1.0
    assert last["build_error"]["previous"] == 0 and last["build_error"]["change_pct"] is None


def write_ledger(path: Path, records: list[dict]) -> None:
    half = len(records) // 2
    seg = path.with_name(path.name + ".000001")
    seg.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records[:half]) + b'{"broken": \n')
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records[half:]) + b'{"torn":')


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cmdscope", "report", "failures", *args],
                          capture_output=True, text=True, timeout=60)


def test_cli_json_table_md_over_segments_with_bad_lines(tmp_path: Path) -> None:
    """The CLI reads rotated segments then the current file, skips and counts bad lines (each
    named on stderr with file and line; no progress line when stderr is not a terminal), and
    prints JSON, a table or markdown."""
    import time

    ledger = tmp_path / "ledger.jsonl"
    write_ledger(ledger, sample(time.time_ns() - 3600 * S))
    out = cli("--ledger", str(ledger), "--format", "json")
    assert out.returncode == 0
    assert out.stderr.splitlines() == [
        f"cmdscope report failures: skipped {ledger}.000001:5: invalid JSON: unexpected end of data: line 2 column 1 (char 12)",
        f"cmdscope report failures: skipped {ledger}:5: torn line (no newline at end)"]
    report = json.loads(out.stdout)
    assert report["schema_version"] == 1 and report["totals"]["failures"] == 4
    assert report["ledger"]["bad_lines"] == 2
    table = cli("--ledger", str(ledger), "--by", "command")
    assert table.returncode == 0 and "pytest h1" in table.stdout and "2 unreadable ledger lines" in table.stdout
    md = cli("--ledger", str(ledger), "--format", "md", "--daily", "--days", "3")
    assert md.returncode == 0 and md.stdout.startswith("| date |")


def test_cli_bad_input_is_one_line(tmp_path: Path) -> None:
    """Bad options and a missing ledger are one line on stderr and exit 2, never a traceback."""
    bad = cli("--ledger", str(tmp_path / "ledger.jsonl"), "--since", "yesterday-ish")
    errors = bad.stderr.splitlines()  # one line: no usage block before it
    assert bad.returncode == 2 and len(errors) == 1 and "argument --since" in errors[0], bad.stderr
    missing = cli("--ledger", str(tmp_path / "nope" / "ledger.jsonl"))
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
