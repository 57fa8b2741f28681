"""`cmdscope cleanup` (issue 19 item 3) on a real repository, ledger and incident directory:
removes only what is merged, shipped or resolved past the retention, records every removal first,
and the dry run lists exactly what the real run removes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import read_ledger

DAY_NS = 86_400 * 1_000_000_000


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cmdscope", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def make_world(tmp_path: Path, ledger: Path) -> dict[str, Path]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a")
    trees = {}
    for name, merged, dirty in (("pkt-merged", True, False), ("pkt-open", False, False), ("pkt-dirty", True, True)):
        wt = tmp_path / name
        git(repo, "worktree", "add", "-q", "-b", name, str(wt))
        if not merged:
            (wt / f"{name}.txt").write_text("work\n")
            git(wt, "add", "-A")
            git(wt, "commit", "-qm", f"{name} work")
        if dirty:
            (wt / "scratch.txt").write_text("uncommitted\n")
        trees[name] = wt
    git(repo, "branch", "old-feature")               # merged (points at main), checked out nowhere
    git(repo, "checkout", "-q", "-b", "unmerged-feature")
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "b")
    git(repo, "checkout", "-q", "main")

    old = time.time_ns() - 100 * DAY_NS
    for i, sealed in ((1, False), (2, True)):
        seg = ledger.with_name(f"ledger.jsonl.{i:06d}")
        line = {"schema": 1, "record_id": f"{i:032x}", "kind": "command", "end_ns": old + i}
        if sealed:
            line.update({"seal_seq": 1, "seal_prev": "0" * 64, "seal_hash": "f" * 64})
        seg.write_text(json.dumps(line) + "\n")
    ledger.write_text(json.dumps({"schema": 1, "record_id": "c" * 32, "kind": "command", "end_ns": old}) + "\n")

    incidents = tmp_path / "incidents"
    incidents.mkdir()
    for ident, resolved in (("aaaaaaaaaaaa", "2020-01-01T00:00:00Z"), ("bbbbbbbbbbbb", None)):
        (incidents / f"incident-{ident}.json").write_text(json.dumps(
            {"id": f"INC-{ident}", "status": "resolved" if resolved else "firing", "resolved_at": resolved}))
    return {"repo": repo, "incidents": incidents, **trees}


def test_dry_run_then_real_run(tmp_path: Path, ledger_path: Path) -> None:
    world = make_world(tmp_path, ledger_path)
    repo = world["repo"]
    args = ("cleanup", "--repo", str(repo), "--incidents", str(world["incidents"]), "--format", "json")
    dry = cli(repo, *args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    planned = {(a["target"], a["what"]) for a in json.loads(dry.stdout)}
    assert planned == {
        ("worktree", str(world["pkt-merged"])),
        ("branch", "old-feature"),
        ("branch", "pkt-merged"),  # freed by removing its worktree, merged
        ("ledger_segment", str(ledger_path.with_name("ledger.jsonl.000001"))),
        ("incident", str(world["incidents"] / "incident-aaaaaaaaaaaa.json")),
    }
    assert world["pkt-merged"].exists() and not [r for r in read_ledger(ledger_path) if r.get("kind") == "cleanup"]

    real = cli(repo, *args)
    assert real.returncode == 0, real.stdout + real.stderr
    assert {(a["target"], a["what"]) for a in json.loads(real.stdout)} == planned
    assert not world["pkt-merged"].exists()
    assert world["pkt-open"].exists() and world["pkt-dirty"].exists()  # unmerged and dirty stay
    branches = git(repo, "branch", "--format=%(refname:short)").split()
    assert "old-feature" not in branches and "pkt-merged" not in branches and "unmerged-feature" in branches and "pkt-open" in branches
    assert not ledger_path.with_name("ledger.jsonl.000001").exists()
    assert ledger_path.with_name("ledger.jsonl.000002").exists()  # sealed, never shipped: kept
    assert not (world["incidents"] / "incident-aaaaaaaaaaaa.json").exists()
    assert (world["incidents"] / "incident-bbbbbbbbbbbb.json").exists()
    records = [r for r in read_ledger(ledger_path) if r.get("kind") == "cleanup"]
    assert {(r["cmdscope.cleanup.target"], r["cmdscope.cleanup.path"]) for r in records} == planned
    assert all(r["cmdscope.outcome"] == "success" for r in records)


def test_unshipped_segments_stay_while_shipping_is_configured(tmp_path: Path, ledger_path: Path) -> None:
    """With an OTLP endpoint configured and no checkpoint past a segment, it is waiting to be
    shipped: kept, however old."""
    make_world(tmp_path, ledger_path)
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-m", "cmdscope", "cleanup", "--repo", "", "--dry-run", "--format", "json"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [a for a in json.loads(out.stdout) if a["target"] == "ledger_segment"] == []


def test_bad_retention_is_one_line(tmp_path: Path) -> None:
    out = cli(tmp_path, "cleanup", "--repo", "", "--retention", "soon")
    assert out.returncode == 2 and "--retention 'soon'" in out.stderr and len(out.stderr.splitlines()) == 1
