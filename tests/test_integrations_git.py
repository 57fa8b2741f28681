"""git hooks in real repositories: pre-push asks the policy, post-commit records the commit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import cmdscope_cli, read_ledger

IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def git(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check,
                          env={**os.environ, **IDENTITY})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A clone of a bare 'origin' with one commit on main, cmdscope's git hooks installed."""
    origin = tmp_path / "origin.git"
    work = tmp_path / "work"
    git("init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp_path)
    git("clone", "-q", str(origin), str(work), cwd=tmp_path)
    git("checkout", "-q", "-b", "main", cwd=work)
    (work / "a.txt").write_text("one\n")
    git("add", "a.txt", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    assert cmdscope_cli("integrations", "install", "git", "--dir", str(work), capture_output=True).returncode == 0
    return work


def test_force_push_to_main_is_denied_before_it_happens(repo: Path, ledger_path: Path) -> None:
    """A rewritten main pushed with --force is stopped by pre-push; the remote keeps its commit."""
    before = git("rev-parse", "origin/main", cwd=repo).stdout.strip()
    (repo / "a.txt").write_text("rewritten\n")
    git("commit", "-q", "--amend", "-am", "rewritten", cwd=repo)
    done = git("push", "--force", "origin", "main", cwd=repo, check=False)
    assert done.returncode != 0 and "push denied" in done.stderr
    remote = git("ls-remote", "origin", "refs/heads/main", cwd=repo).stdout.split()[0]
    assert remote == before
    denial = [r for r in read_ledger(ledger_path) if r["kind"] == "denial"]
    assert denial and "--force" in denial[0]["process.command_line"] and denial[0]["cmdscope.policy.rule"]


def test_fast_forward_push_goes_through(repo: Path, ledger_path: Path) -> None:
    """An ordinary push passes the policy check and reaches the remote."""
    (repo / "b.txt").write_text("two\n")
    git("add", "b.txt", cwd=repo)
    git("commit", "-q", "-m", "second", cwd=repo)
    done = git("push", "origin", "main", cwd=repo, check=False)
    assert done.returncode == 0, done.stderr
    head = git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    assert git("ls-remote", "origin", "refs/heads/main", cwd=repo).stdout.split()[0] == head
    assert not [r for r in read_ledger(ledger_path) if r["kind"] == "denial"]


def test_post_commit_writes_a_commit_record(repo: Path, ledger_path: Path) -> None:
    """Each commit made with the hook installed becomes a commit record with sha, files and line counts."""
    (repo / "c.txt").write_text("x\ny\nz\n")
    (repo / "a.txt").write_text("changed\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "third", cwd=repo)
    sha = git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    commits = [r for r in read_ledger(ledger_path) if r["kind"] == "commit"]
    (rec,) = [r for r in commits if r["vcs.ref.head.revision"] == sha]
    assert rec["cmdscope.commit.files"] == 2
    assert rec["cmdscope.commit.insertions"] == 4 and rec["cmdscope.commit.deletions"] == 1
