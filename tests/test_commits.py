"""Commit records: size from git, validated slices since the previous commit, the hook entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import read_ledger
from test_packets import cli, make_repo


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def test_record_commit_counts_lines_and_slices(tmp_path: Path, ledger_path: Path) -> None:
    """Files, insertions and deletions match git; passes over the same changes are one slice
    (atomic); two distinct validated states make a deferred commit; no gate, no slice."""
    from cmdscope._records import validate_record
    from cmdscope._sdlc.commits import record_commit

    repo = make_repo(tmp_path / "r")
    (repo / "app.py").write_text("x = 2\ny = 3\n")
    cli(repo, "gate", "run", "t", "--", "true")
    cli(repo, "gate", "run", "t", "--", "true")
    git(repo, "commit", "-qam", "one slice")
    first = record_commit(str(repo))
    assert first["cmdscope.commit.insertions"] == 2 and first["cmdscope.commit.deletions"] == 1
    assert first["cmdscope.commit.paths"] == ["app.py"] and first["cmdscope.commit.slices"] == 1
    assert first["cmdscope.commit.atomic"] is True and first["cmdscope.commit.since_gate_s"] >= 0
    assert first["vcs.ref.head.revision"] == git(repo, "rev-parse", "HEAD").strip()
    assert record_commit(str(repo)) == {}  # the same commit is recorded once
    (repo / "a.txt").write_text("a\n")
    cli(repo, "gate", "run", "t", "--", "true")
    (repo / "b.txt").write_text("b\n")
    cli(repo, "gate", "run", "t", "--", "true")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "two slices")
    second = record_commit(str(repo))
    assert second["cmdscope.commit.slices"] == 2 and second["cmdscope.commit.atomic"] is False
    (repo / "c.txt").write_text("c\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "no gate")
    assert record_commit(str(repo))["cmdscope.commit.slices"] == 0
    for rec in read_ledger(ledger_path):
        validate_record(rec)


def test_post_commit_hook_records_and_never_blocks(tmp_path: Path, ledger_path: Path) -> None:
    """A real post-commit hook calling `cmdscope packet commit-hook` records the commit in the
    active packet; a broken ledger path does not fail the commit."""
    repo = make_repo(tmp_path / "r")
    hook = repo / ".git" / "hooks" / "post-commit"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m cmdscope packet commit-hook --quiet\n")
    hook.chmod(0o755)
    cli(repo, "packet", "start", "PKT-H")
    (repo / "app.py").write_text("x = 5\n")
    cli(repo, "gate", "run", "t", "--", "true")
    git(repo, "commit", "-qam", "hooked")
    (rec,) = [r for r in read_ledger(ledger_path) if r["kind"] == "commit"]
    assert rec["cmdscope.packet"] == "PKT-H" and rec["cmdscope.commit.message"] == "hooked"
    end = json.loads(cli(repo, "packet", "end", "--json").stdout)
    assert end["cmdscope.packet.commits"] == 1
    (repo / "app.py").write_text("x = 6\n")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    done = subprocess.run(["git", "commit", "-qam", "still fine"], cwd=repo, capture_output=True, text=True,
                          env={**__import__("os").environ, "CMDSCOPE_LEDGER": str(blocker / "ledger.jsonl")})
    assert done.returncode == 0 and "Traceback" not in done.stderr


def test_commits_report(tmp_path: Path, ledger_path: Path) -> None:
    """The cadence report computes shares from the commit records."""
    from cmdscope._sdlc.commits import record_commit

    repo = make_repo(tmp_path / "r")
    for i in range(2):
        (repo / f"f{i}.txt").write_text("x\n")
        cli(repo, "gate", "run", "t", "--", "true")
        git(repo, "add", ".")
        git(repo, "commit", "-qm", f"c{i}")
        record_commit(str(repo))
    (repo / "g.txt").write_text("x\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "unvalidated")
    record_commit(str(repo))
    doc = json.loads(cli(repo, "report", "commits", "--format", "json").stdout)
    assert doc["commits"] == 3 and doc["atomic"] == 2 and doc["unvalidated"] == 1
    assert abs(doc["atomic_share"] - 2 / 3) < 1e-9 and doc["mean_changed_lines"] == 1
