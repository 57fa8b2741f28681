"""Audits: each built-in check passes on a clean repository and fails on the problem it looks for."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from conftest import read_ledger
from test_packets import cli, make_repo


def audit(repo: Path, *args: str) -> tuple[int, dict]:
    done = cli(repo, "audit", "--format", "json", *args)
    return done.returncode, json.loads(done.stdout) if done.stdout else {}


def test_clean_repository_passes(tmp_path: Path, ledger_path: Path) -> None:
    """Every check passes on a fresh repository; the run is one audit record valid against schema v1."""
    from cmdscope._records import validate_record

    repo = make_repo(tmp_path / "r")
    code, doc = audit(repo, "--every", "1d")
    assert code == 0, doc
    assert doc["record"]["cmdscope.audit.failed"] == [] and len(doc["record"]["cmdscope.audit.passed"]) == 7
    (rec,) = read_ledger(ledger_path)
    validate_record(rec)


def test_each_check_finds_its_problem(tmp_path: Path, ledger_path: Path) -> None:
    """Missing object, prunable worktree, packet never ended, torn ledger line, large untracked file."""
    repo = make_repo(tmp_path / "r")
    wt = tmp_path / "wt"
    subprocess.run(["git", "worktree", "add", "-q", "-b", "gone", str(wt)], cwd=repo, check=True)
    shutil.rmtree(wt)
    cli(repo, "packet", "start", "PKT-OLD")
    (repo / "dump.bin").write_bytes(os.urandom(300_000))
    with open(ledger_path, "ab") as fh:
        fh.write(b'{"torn": ')
    tree = subprocess.run(["git", "rev-parse", "HEAD^{tree}"], cwd=repo, capture_output=True, text=True).stdout.strip()
    obj = repo / ".git" / "objects" / tree[:2] / tree[2:]
    obj.chmod(0o644)
    obj.unlink()
    code, doc = audit(repo, "--stale-after", "0s", "--large-file", "0.1")
    assert code == 1
    failed = set(doc["record"]["cmdscope.audit.failed"])
    assert failed >= {"git_fsck", "worktrees", "packets_unended", "ledger_integrity", "large_untracked"}
    details = " ".join(doc["record"]["cmdscope.audit.details"])
    assert "PKT-OLD" in details and "dump.bin" in details and "torn line" in details


def test_unknown_check_is_one_line(tmp_path: Path) -> None:
    """--checks with an unknown name is exit 2 naming the known checks."""
    repo = make_repo(tmp_path / "r")
    done = cli(repo, "audit", "--checks", "nope")
    assert done.returncode == 2 and "unknown check(s) nope" in done.stderr and "Traceback" not in done.stderr
