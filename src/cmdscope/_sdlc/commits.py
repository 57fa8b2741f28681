"""Commit cadence: record each commit with its size and the validated slices it carries.

``record_commit`` is what the git post-commit hook calls (``cmdscope packet commit-hook``). A
*validated slice* is a gate pass over uncommitted changes; passes over the same changes count
once (same ``cmdscope.gate.worktree_state``). A commit is *atomic* when it carries exactly one
validated slice; one carrying several was deferred (docs/sdlc.md).
"""

from __future__ import annotations

import os
import time
from typing import Any, Iterable

from cmdscope._context import packet_state_path, resolve
from cmdscope._sdlc import emit
from cmdscope._sdlc.git import git, toplevel

MAX_PATHS = 50  # files listed in the record; the count is always exact


def _seen_path(repo: str) -> str | None:
    state = packet_state_path(repo)
    return os.path.join(os.path.dirname(state), "commits.seen") if state else None


def _already_recorded(repo: str, sha: str) -> bool:
    path = _seen_path(repo)
    if path is None:
        return False
    try:
        with open(path, encoding="ascii") as fh:
            return any(line.strip() == sha for line in fh)
    except OSError:
        return False


def _mark_recorded(repo: str, sha: str) -> None:
    path = _seen_path(repo)
    if path is None:
        return
    from cmdscope._private_files import make_private_dirs, open_private

    make_private_dirs(os.path.dirname(path))
    fd = open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (sha + "\n").encode())
    finally:
        os.close(fd)


def numstat(repo: str, sha: str) -> tuple[list[str], int, int]:
    """(paths, insertions, deletions) of one commit against its first parent (binary: 0 lines)."""
    out = git(["diff-tree", "--root", "--no-commit-id", "--numstat", "-r", "-z", "--no-renames", sha], repo)
    paths: list[str] = []
    ins = dels = 0
    for item in out.split("\0"):
        parts = item.split("\t", 2)
        if len(parts) != 3:
            continue
        added, removed, path = parts
        ins += int(added) if added.isdigit() else 0
        dels += int(removed) if removed.isdigit() else 0
        paths.append(path)
    return paths, ins, dels


def slices_since(records: Iterable[dict[str, Any]], worktree: str, after_ns: int, until_ns: int) -> tuple[int, int | None]:
    """(validated slices, end_ns of the last gate pass) in ``worktree`` within (after, until]."""
    states: set[str] = set()
    last_pass: int | None = None
    for rec in records:
        if rec.get("kind") != "gate" or rec.get("cmdscope.gate.result") != "pass":
            continue
        if rec.get("cmdscope.worktree") != worktree:
            continue
        t = rec.get("end_ns", 0)
        if not (after_ns < t <= until_ns):
            continue
        last_pass = t if last_pass is None else max(last_pass, t)
        if rec.get("cmdscope.gate.worktree_state"):
            states.add(rec["cmdscope.gate.worktree_state"])
    return len(states), last_pass


def _previous_commit_ns(records: list[dict[str, Any]], worktree: str, parent_ct_ns: int) -> int:
    """End of the previous commit in this worktree: its record if we have one, else the parent's
    committer time."""
    latest = max((r.get("end_ns", 0) for r in records if r.get("kind") == "commit" and r.get("cmdscope.worktree") == worktree),
                 default=0)
    return max(latest, parent_ct_ns)


def record_commit(repo_path: str, sha: str | None = None, *, ledger: str | None = None) -> dict[str, Any]:
    """Read commit ``sha`` (default HEAD) of the repository at ``repo_path`` and write a
    ``commit`` record. Returns the record, or ``{}`` when this commit was recorded before."""
    from cmdscope._paths import default_ledger_path
    from cmdscope._sinks.ledger import read_records

    repo = toplevel(repo_path)
    full = git(["rev-parse", "--verify", "--quiet", f"{sha or 'HEAD'}^{{commit}}"], repo).strip()
    if _already_recorded(repo, full):
        return {}
    meta = git(["show", "-s", "--format=%P%x00%ct%x00%s", full], repo).rstrip("\n").split("\0")
    parents, ct, subject = meta[0].split(), int(meta[1] or 0), meta[2] if len(meta) > 2 else ""
    parent_ct_ns = 0
    if parents:
        parent_ct_ns = int(git(["show", "-s", "--format=%ct", parents[0]], repo).strip() or 0) * 1_000_000_000
    paths, ins, dels = numstat(repo, full)

    now = time.time_ns()
    path = ledger or os.fspath(default_ledger_path())
    window_start = min(parent_ct_ns, now - 30 * 86400 * 1_000_000_000) if parent_ct_ns else now - 30 * 86400 * 1_000_000_000
    history = [r for r in read_records(path, since_ns=window_start) if r.get("kind") in ("gate", "commit")]
    ctx = resolve(repo)
    worktree = ctx.worktree or repo
    previous = _previous_commit_ns(history, worktree, parent_ct_ns)
    slices, last_pass = slices_since(history, worktree, previous, now)

    span = emit.start_span("commit", now)
    rec = emit.new("commit", "commit", span, now, now)
    rec.update(ctx.attributes())
    rec["vcs.ref.head.revision"] = full
    rec["cmdscope.commit.parent"] = parents[0] if parents else ""
    rec["cmdscope.commit.message"] = subject
    rec["cmdscope.commit.time"] = ct
    rec["cmdscope.commit.files"] = len(paths)
    rec["cmdscope.commit.paths"] = paths[:MAX_PATHS]
    rec["cmdscope.commit.insertions"] = ins
    rec["cmdscope.commit.deletions"] = dels
    rec["cmdscope.commit.changed_lines"] = ins + dels
    rec["cmdscope.commit.slices"] = slices
    rec["cmdscope.commit.atomic"] = slices == 1
    if len(parents) > 1:
        rec["cmdscope.commit.merge"] = True
    if last_pass is not None:
        rec["cmdscope.commit.since_gate_s"] = round((now - last_pass) / 1e9, 6)
    rec["cmdscope.outcome"] = "success"
    emit.write(rec, span, ledger)
    _mark_recorded(repo, full)
    return rec
