"""``cmdscope cleanup``: remove what governed work leaves behind, never anything that is not safe
to lose.

What goes, and what keeps each kind of thing safe:

- **linked worktrees** whose branch is merged into the default branch, with no uncommitted or
  untracked files (``git worktree remove`` without ``--force``: git refuses a dirty one too);
- **local branches** merged into the default branch and checked out nowhere (``git branch -d``:
  git refuses an unmerged one too);
- **stale open-packet markers**: the packet's process is gone and the marker is older than the
  retention (the packet itself stays in the ledger);
- **rotated ledger segments** whose newest record is older than the retention and that the
  shipper has moved past (``<ledger>.ship.json``). With no shipper checkpoint and no OTLP endpoint
  configured, nothing is waiting to be shipped, so old unsealed segments may go; a **sealed**
  segment goes only once shipped. The current file is never removed;
- **incident stubs** resolved (by Alertmanager or by a person) before the retention;
- **cache files** under the state directory's caches older than the retention.

Every removal is first written to the ledger as a ``cleanup`` record (what, why), through the
SDLC emitter, then carried out; a removal that fails is recorded as such. ``--dry-run`` prints
exactly the actions a real run would take and records nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmdscope import _settings as settings

NS = 1_000_000_000


@dataclass
class Action:
    target: str   # worktree | branch | packet_state | ledger_segment | incident | cache
    what: str     # path or branch name
    reason: str
    repo: str | None = None

    def line(self) -> str:
        return f"{self.target:<15} {self.what}  ({self.reason})"


# --- finding ---------------------------------------------------------------------------------


def _git(repo: str, *args: str) -> str:
    from cmdscope._sdlc.git import git

    return git(list(args), repo)


def default_branch(repo: str) -> str | None:
    for name in ("main", "master"):
        try:
            _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}")
            return name
        except Exception:  # noqa: BLE001 - GitError: no such branch
            continue
    return None


def _worktrees(repo: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for line in _git(repo, "worktree", "list", "--porcelain").splitlines():
        if not line:
            if cur:
                out.append(cur)
            cur = {}
            continue
        key, _, value = line.partition(" ")
        cur[key] = value or "true"
    if cur:
        out.append(cur)
    return out


def find_git(repo: str) -> list[Action]:
    base = default_branch(repo)
    if base is None:
        return []
    merged = {b.strip().lstrip("*+ ").strip() for b in _git(repo, "branch", "--merged", base).splitlines()}
    actions = []
    trees = _worktrees(repo)
    main_tree = trees[0]["worktree"] if trees else repo
    checked_out = set()
    for tree in trees:
        branch = tree.get("branch", "").removeprefix("refs/heads/")
        if branch:
            checked_out.add(branch)
        if tree["worktree"] == main_tree or not branch or branch == base or "locked" in tree:
            continue
        if branch in merged and not _git(tree["worktree"], "status", "--porcelain", "--untracked-files=all").strip():
            actions.append(Action("worktree", tree["worktree"], f"branch {branch} is merged into {base}, no local changes", repo))
            checked_out.discard(branch)  # removing the worktree frees the branch
    for branch in sorted(merged - {base, "main", "master"}):
        if branch and branch not in checked_out and not branch.startswith("("):
            actions.append(Action("branch", branch, f"merged into {base}, checked out nowhere", repo))
    return actions


def find_packet_state(retention_s: float, now: float) -> list[Action]:
    from cmdscope._sdlc.audits import _pid_alive
    from cmdscope._sdlc.packets import open_dir

    actions = []
    directory = open_dir()
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            data = json.loads(path.read_text())
            age = now - path.stat().st_mtime
        except (OSError, ValueError):
            continue
        pid = data.get("pid") if isinstance(data, dict) else None
        if age > retention_s and not (isinstance(pid, int) and _pid_alive(pid)):
            actions.append(Action("packet_state", str(path), f"open-packet marker of {data.get('packet', '?')}, "
                                  f"process gone, {age / 86400:.0f} days old"))
    return actions


def _last_end_ns(path: Path) -> int | None:
    """The newest record's end_ns in a segment, from its last lines."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 65536))
            tail = fh.read().splitlines()
    except OSError:
        return None
    for raw in reversed(tail):
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("end_ns"), int):
            return int(rec["end_ns"])
    return None


def _shipped_inodes(ledger: str) -> set[int] | None:
    """Inodes of segments the shipper moved past; None when no shipper ever ran."""
    from cmdscope._shipping import Checkpoint
    from cmdscope._sinks.ledger import segments

    if not os.path.exists(ledger + ".ship.json"):
        return None
    cp = Checkpoint.load(ledger)
    done: set[int] = set()
    for seg in segments(ledger):
        try:
            st = seg.stat()
        except OSError:
            continue
        if st.st_ino == cp.inode:
            if cp.offset >= st.st_size:
                done.add(st.st_ino)
            break
        done.add(st.st_ino)
    else:
        return set()  # the checkpoint names no segment we have: nothing is known shipped
    return done


def find_segments(ledger: str, retention_s: float, now: float) -> list[Action]:
    from cmdscope._sinks.ledger import segments

    segs = [s for s in segments(ledger) if str(s) != ledger]
    if not segs:
        return []
    shipped = _shipped_inodes(ledger)
    shipping_on = shipped is not None or bool(settings.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                                              or settings.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    actions = []
    for seg in segs:
        end = _last_end_ns(seg)
        if end is None or now - end / NS <= retention_s:
            continue
        sealed = b'"seal_hash"' in seg.read_bytes()[-4096:]
        ino = seg.stat().st_ino
        if shipped is not None and ino in shipped:
            why = "shipped"
        elif not shipping_on and not sealed:
            why = "no shipping configured"
        else:
            continue  # waiting to be shipped (or sealed and not exported yet): keep it
        actions.append(Action("ledger_segment", str(seg), f"newest record {(now - end / NS) / 86400:.0f} days old, {why}"))
    return actions


def find_incidents(directory: Path, retention_s: float, now: float) -> list[Action]:
    from cmdscope._incidents.triage import parse_time

    actions = []
    for path in sorted(directory.glob("incident-*.json")) if directory.is_dir() else []:
        try:
            inc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        triage = inc.get("triage") or {}
        resolved = parse_time(triage.get("resolved_at")) or parse_time(inc.get("resolved_at"))
        if resolved is not None and now - resolved.timestamp() > retention_s:
            actions.append(Action("incident", str(path), f"{inc.get('id')} resolved {resolved:%Y-%m-%d}"))
    return actions


def find_caches(retention_s: float, now: float) -> list[Action]:
    from cmdscope._failures.taxonomy import cache_dir
    from cmdscope._paths import state_dir

    actions = []
    for directory in (state_dir() / "guard-cache", cache_dir()):
        for path in sorted(directory.iterdir()) if directory.is_dir() else []:
            try:
                age = now - path.stat().st_mtime
            except OSError:
                continue
            if path.is_file() and age > retention_s:
                actions.append(Action("cache", str(path), f"unused for {age / 86400:.0f} days"))
    return actions


def find(*, repo: str | None, ledger: str, incidents: Path | None, retention_s: float,
         now: float | None = None) -> list[Action]:
    now = time.time() if now is None else now
    actions: list[Action] = []
    if repo:
        actions += find_git(repo)
    actions += find_packet_state(retention_s, now)
    actions += find_segments(ledger, retention_s, now)
    if incidents is not None:
        actions += find_incidents(incidents, retention_s, now)
    actions += find_caches(retention_s, now)
    return actions


# --- doing -----------------------------------------------------------------------------------


def _record(action: Action, outcome: str, ledger: str, error: str | None = None) -> dict[str, Any]:
    from cmdscope._sdlc import emit

    start = time.time_ns()
    span = emit.start_span(f"cleanup {action.target}", start)
    rec = emit.new("cleanup", f"cleanup {action.target}", span, start)
    rec["cmdscope.cleanup.target"] = action.target
    rec["cmdscope.cleanup.path"] = action.what
    rec["cmdscope.cleanup.reason"] = action.reason
    rec["cmdscope.outcome"] = outcome
    if error:
        rec["error.type"] = "cleanup_failed"
        rec["cmdscope.cleanup.error"] = error
    return emit.write(rec, span, ledger)


def _remove(action: Action) -> None:
    if action.target == "worktree":
        assert action.repo is not None
        _git(action.repo, "worktree", "remove", action.what)
    elif action.target == "branch":
        assert action.repo is not None
        _git(action.repo, "branch", "-d", action.what)
    elif action.target == "incident":
        Path(action.what).unlink()
        Path(action.what).with_suffix(".md").unlink(missing_ok=True)
    elif Path(action.what).is_dir():
        shutil.rmtree(action.what)
    else:
        Path(action.what).unlink()


def carry_out(actions: list[Action], ledger: str) -> list[tuple[Action, str | None]]:
    """Record each removal in the ledger, then do it; returns (action, error or None)."""
    done: list[tuple[Action, str | None]] = []
    for action in actions:
        _record(action, "success", ledger)
        try:
            _remove(action)
            done.append((action, None))
        except Exception as exc:  # noqa: BLE001 - git refusing, a file gone: recorded, next one
            message = f"{type(exc).__name__}: {exc}"
            _record(action, "failure", ledger, message)
            done.append((action, message))
    return done
