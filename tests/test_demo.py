"""`cmdscope demo`, the main job, runs on the embedded default with no server."""

from __future__ import annotations

import json
from pathlib import Path

from cmdscope._records import validate_record
from conftest import cmdscope_cli


def test_demo_records_a_whole_session(tmp_path: Path) -> None:
    """The demo's ledger holds every scripted command with the outcomes the script implies."""
    out = cmdscope_cli("demo", "--dir", str(tmp_path / "demo"), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    records = [json.loads(l) for l in (tmp_path / "demo" / "ledger.jsonl").read_text().splitlines()]
    for rec in records:
        validate_record(rec)
    kinds = [r["kind"] for r in records]
    assert (kinds.count("command"), kinds.count("denial"), kinds.count("gate"), kinds.count("packet")) == (12, 1, 3, 2)
    assert kinds.count("heartbeat") == 1
    ratings = out.stdout.split("Ratings (cmdscope rate):\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert {line.split()[1] for line in ratings} == {"claude-code", "codex", "PKT-101", "PKT-102"}
    assert all(line.split()[3] in "ABCDF" for line in ratings)
    assert "schedule on time  100%     target 99%: pass" in out.stdout
    packets = {r["cmdscope.packet"]: r for r in records if r["kind"] == "packet"}
    assert packets["PKT-101"]["cmdscope.packet.gate_pass_rate"] == 0.5
    assert packets["PKT-101"]["cmdscope.packet.denials"] == 1
    records = [r for r in records if r["kind"] in ("command", "denial")]
    outcomes = [r["cmdscope.outcome"] for r in records]
    assert {"success", "failure", "timeout", "error"} <= set(outcomes)
    assert {r["cmdscope.actor"] for r in records} == {"claude-code", "codex"}
    assert {r["cmdscope.packet"] for r in records} == {"PKT-101", "PKT-102"}
    assert any(r.get("cmdscope.retry.count") for r in records)
    assert "sk-ant-api03" not in (tmp_path / "demo" / "ledger.jsonl").read_text()
    assert "Recorded 19 records" in out.stdout and "Packets (cmdscope report packets)" in out.stdout
    assert "Failure report (cmdscope report failures)" in out.stdout
    denial = [r for r in records if r["kind"] == "denial"]
    assert len(denial) == 1 and denial[0]["cmdscope.policy.rule"]  # the force push never ran
