"""`cmdscope demo`, the main job, runs on the embedded default with no server."""

from __future__ import annotations

import json
from pathlib import Path

from cmdscope.records import validate_record
from conftest import cmdscope_cli


def test_demo_records_a_whole_session(tmp_path: Path) -> None:
    """The demo's ledger holds every scripted command with the outcomes the script implies."""
    out = cmdscope_cli("demo", "--dir", str(tmp_path / "demo"), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    records = [json.loads(l) for l in (tmp_path / "demo" / "ledger.jsonl").read_text().splitlines()]
    assert len(records) == 13
    for rec in records:
        validate_record(rec)
    outcomes = [r["cmdscope.outcome"] for r in records]
    assert {"success", "failure", "timeout", "error"} <= set(outcomes)
    assert {r["cmdscope.actor"] for r in records} == {"claude-code", "codex"}
    assert {r["cmdscope.packet"] for r in records} == {"PKT-101", "PKT-102"}
    assert any(r.get("cmdscope.retry.count") for r in records)
    assert "sk-ant-api03" not in (tmp_path / "demo" / "ledger.jsonl").read_text()
    assert "Recorded 13 records" in out.stdout
    assert "Failure report (cmdscope report failures)" in out.stdout
    denial = [r for r in records if r["kind"] == "denial"]
    assert len(denial) == 1 and denial[0]["cmdscope.policy.rule"]  # the force push never ran
