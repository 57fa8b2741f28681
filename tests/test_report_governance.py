"""`cmdscope report governance`: the rolling auto-merge rate and on-time checks against the
governance policy's targets, from records written by real pipeline runs and heartbeats."""

from __future__ import annotations

import json
from pathlib import Path

from test_packets import cli
from test_pipeline_run import git, setup


def test_governance_figures_from_real_runs(tmp_path: Path, ledger_path: Path) -> None:
    """Two green pipeline runs: one auto-merges, the other's merge action fails (human review);
    one red run (not counted against the rate); two heartbeats on time. With the shipped targets
    (95%, 99%) auto-merge fails and the schedule passes; a policy asking 50% passes both."""
    main, wt, f = setup(tmp_path, 2)
    assert cli(wt, "pipeline", "run", str(f)).returncode == 0  # green, fast-forwards main
    (wt / "app.py").write_text("x = 2\ny = 1\n")
    git(wt, "commit", "-qam", "y is 1")
    git(main, "commit", "-q", "--allow-empty", "-m", "main moved on")  # the ff merge will fail
    assert cli(wt, "pipeline", "run", str(f)).returncode == 3  # green gates, human review
    red = tmp_path / "red.yaml"
    red.write_text(f.read_text().replace("app.x == 2", "app.x == 99"))
    assert cli(wt, "pipeline", "run", str(red)).returncode == 1
    for _ in range(2):
        assert cli(wt, "heartbeat", "nightly", "--every", "1h").returncode == 0

    out = cli(wt, "report", "governance", "--format", "json")
    assert out.returncode == 1, out.stderr
    figures = {x["figure"]: x for x in json.loads(out.stdout)["figures"]}
    assert figures["auto_merge_rate"]["value"] == 0.5 and figures["auto_merge_rate"]["state"] == "fail"
    assert "1 of 2 green pipeline runs auto-merged (1 of 3 runs overall)" == figures["auto_merge_rate"]["detail"]
    assert figures["schedule_on_time"]["value"] == 1.0 and figures["schedule_on_time"]["state"] == "pass"

    lenient = tmp_path / "gov.yaml"
    lenient.write_text("targets:\n  auto_merge_rate: 0.5\n")
    ok = cli(wt, "report", "governance", "--policy", str(lenient))
    assert ok.returncode == 0 and "auto merge rate" in ok.stdout and "PASS" in ok.stdout


def test_typo_in_targets_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "gov.yaml"
    bad.write_text("targets:\n  auto_merge_rat: 0.5\n")
    out = cli(tmp_path, "report", "governance", "--policy", str(bad))
    assert out.returncode == 2 and "auto_merge_rat" in out.stderr and len(out.stderr.splitlines()) == 1
