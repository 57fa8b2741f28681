"""Repository integrity and hygiene checks (``cmdscope audit``): one ``audit`` record per run.

Each check is a function ``(AuditOptions) -> CheckResult``; ``CHECKS`` is the visible table.
An audit run is also a scheduled check-in (``cmdscope.heartbeat.name``, default ``audit``), so its
on-time rate appears in ``cmdscope report schedule``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable

from cmdscope._sdlc import emit
from cmdscope._sdlc.git import GitError, git, toplevel

NS = 1_000_000_000


@dataclass
class AuditOptions:
    repo: str
    ledger: str
    stale_after_s: float = 86400.0
    large_file_bytes: int = 5 * 1024 * 1024
    registry_max_age_s: float = 365 * 86400.0


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str = ""


def check_git_fsck(o: AuditOptions) -> CheckResult:
    """Object connectivity: ``git fsck --connectivity-only`` finds missing or broken objects."""
    from cmdscope.instrumentation._suppress import suppress_instrumentation
    import subprocess

    with suppress_instrumentation():
        done = subprocess.run(["git", "fsck", "--connectivity-only", "--no-progress", "--no-dangling"],
                              cwd=o.repo, capture_output=True, text=True, errors="replace")
    if done.returncode == 0:
        return CheckResult("git_fsck", True, "objects connected")
    lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
    return CheckResult("git_fsck", False, "; ".join(lines[:3]) or f"git fsck exit {done.returncode}")


def check_worktrees(o: AuditOptions) -> CheckResult:
    """Linked worktrees whose directory is gone (prunable) are stale bookkeeping."""
    stale: list[str] = []
    current = None
    for line in git(["worktree", "list", "--porcelain"], o.repo).splitlines():
        if line.startswith("worktree "):
            current = line[len("worktree "):]
        elif line.startswith("prunable") and current:
            stale.append(current)
    if stale:
        return CheckResult("worktrees", False, f"{len(stale)} prunable worktree(s): {', '.join(stale[:5])} (git worktree prune)")
    return CheckResult("worktrees", True, "no prunable worktrees")


def _worktree_packets(repo: str) -> list[dict[str, Any]]:
    import json

    from cmdscope._context import packet_state_path

    out = []
    for line in git(["worktree", "list", "--porcelain"], repo).splitlines():
        if line.startswith("worktree "):
            path = line[len("worktree "):]
            state = packet_state_path(path) if os.path.isdir(path) else None
            if state and os.path.isfile(state):
                try:
                    data = json.loads(open(state, encoding="utf-8").read())
                    if isinstance(data, dict) and data.get("packet"):
                        out.append(data)
                except (OSError, ValueError):
                    out.append({"packet": f"(unreadable {state})", "start_ns": 0})
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_packets_unended(o: AuditOptions) -> CheckResult:
    """Packets started and never ended: open longer than ``stale_after``, or opened in Python by
    a process that is gone."""
    from cmdscope._sdlc.packets import open_packets

    now = time.time_ns()
    seen: set[tuple[str, str]] = set()
    stale: list[str] = []
    for st in [*open_packets(), *_worktree_packets(o.repo)]:
        key = (str(st.get("packet")), str(st.get("span_id")))
        if key in seen:
            continue
        seen.add(key)
        age = (now - int(st.get("start_ns", 0) or 0)) / NS
        dead = st.get("mode") == "process" and isinstance(st.get("pid"), int) and not _pid_alive(st["pid"])
        if age > o.stale_after_s or dead:
            why = "its process is gone" if dead else f"open {age / 3600:.1f}h"
            stale.append(f"{st.get('packet')} ({why})")
    if stale:
        return CheckResult("packets_unended", False, f"{len(stale)} packet(s) never ended: {', '.join(stale[:5])}")
    return CheckResult("packets_unended", True, "no stale open packets")


def check_ledger_integrity(o: AuditOptions) -> CheckResult:
    """Every ledger line is a whole JSON record that validates against schema v1."""
    from pydantic import ValidationError

    from cmdscope._records import validate_record
    from cmdscope._sinks.ledger import ReadStats, read_records

    if not os.path.exists(o.ledger):
        return CheckResult("ledger_integrity", True, "no ledger yet")
    stats = ReadStats()
    invalid: list[str] = []
    count = 0
    for rec in read_records(o.ledger, stats=stats):
        count += 1
        try:
            validate_record(rec)
        except ValidationError as exc:
            err = exc.errors()[0]
            invalid.append(f"record {rec.get('record_id', '?')}: {'.'.join(map(str, err['loc']))}: {err['msg']}")
    problems = [f"{b.path}:{b.line}: {b.reason}" for b in stats.bad] + invalid
    if problems:
        return CheckResult("ledger_integrity", False, f"{len(problems)} problem(s): {'; '.join(problems[:3])}")
    return CheckResult("ledger_integrity", True, f"{count} records valid")


def check_registry(o: AuditOptions) -> CheckResult:
    """Danger registry, failure taxonomy and governance policy load and validate; no file is
    older than ``registry_max_age`` (data nobody has reviewed in that long is stale)."""
    from cmdscope._paths import builtin_registry_dir

    problems: list[str] = []
    try:
        from cmdscope._guard import Guard

        Guard.load(use_cache=False)
    except ImportError:
        pass
    except Exception as exc:  # noqa: BLE001 - any load error is the finding
        problems.append(f"danger registry: {exc}")
    try:
        from cmdscope._failures.taxonomy import load_taxonomy

        load_taxonomy(use_cache=False)
    except ImportError:
        pass
    except Exception as exc:  # noqa: BLE001
        problems.append(f"failure taxonomy: {exc}")
    try:
        from cmdscope._sdlc.governance import load_policy

        load_policy()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"governance policy: {exc}")
    root = builtin_registry_dir()
    now = time.time()
    for dirpath, _dirs, files in os.walk(root, followlinks=True):
        for f in files:
            if f.endswith((".yaml", ".yml")):
                path = os.path.join(dirpath, f)
                age = now - os.stat(path).st_mtime
                if age > o.registry_max_age_s:
                    problems.append(f"{path}: not updated for {age / 86400:.0f} days (stale)")
    if problems:
        return CheckResult("registry_valid", False, "; ".join(problems[:3]))
    return CheckResult("registry_valid", True, "registry, taxonomy and governance policy valid")


def check_large_untracked(o: AuditOptions) -> CheckResult:
    """Untracked files above the size limit (build outputs, dumps, datasets about to be committed)."""
    big: list[str] = []
    for rel in git(["ls-files", "--others", "--exclude-standard", "-z"], o.repo).split("\0"):
        if not rel:
            continue
        try:
            size = os.lstat(os.path.join(o.repo, rel)).st_size
        except OSError:
            continue
        if size > o.large_file_bytes:
            big.append(f"{rel} ({size / 1048576:.1f} MiB)")
    if big:
        return CheckResult("large_untracked", False, f"{len(big)} large untracked file(s): {', '.join(big[:5])}")
    return CheckResult("large_untracked", True, f"no untracked file above {o.large_file_bytes / 1048576:.1f} MiB")


def check_registry_sync(o: AuditOptions) -> CheckResult:
    """The team registry (``cmdscope registry sync``): the last sync succeeded, and the active
    registry is the latest the team published, or became latest less than ``stale_after`` ago."""
    from cmdscope import _registry_sync as registry_sync

    try:
        from cmdscope._redaction.ruleset import load_specs, rule_files

        load_specs(*rule_files())
    except Exception as exc:  # noqa: BLE001 - any load error is the finding
        return CheckResult("registry_sync", False, f"redaction rules: {exc}")
    state = registry_sync.read_state()
    source = registry_sync.configured_source()
    if not source:
        return CheckResult("registry_sync", True, "no team registry configured")
    current = registry_sync.active()
    now = time.time()
    if current is None:
        return CheckResult("registry_sync", False, f"no team registry active (source {source}): "
                           f"{state.get('error') or 'never synced'}")
    latest = state.get("latest") or {}
    if latest.get("digest") and latest["digest"] != current.get("digest"):
        behind = now - float(latest.get("published") or now)
        if behind > o.stale_after_s:
            return CheckResult("registry_sync", False,
                               f"active registry {current.get('version')} is older than the team's "
                               f"{latest.get('version')} for {behind / 3600:.0f} h: {state.get('error') or 'not activated'}")
    last_ok = float(state.get("last_success") or 0)
    if now - last_ok > o.stale_after_s:
        return CheckResult("registry_sync", False, f"no successful registry sync for {(now - last_ok) / 3600:.0f} h"
                           + (f": {state['error']}" if state.get("error") else ""))
    return CheckResult("registry_sync", True, f"team registry {current.get('version')} "
                       f"(sha256:{str(current.get('digest'))[:12]}) active, latest known")


CHECKS: dict[str, Callable[[AuditOptions], CheckResult]] = {
    "git_fsck": check_git_fsck,
    "worktrees": check_worktrees,
    "packets_unended": check_packets_unended,
    "ledger_integrity": check_ledger_integrity,
    "registry_valid": check_registry,
    "registry_sync": check_registry_sync,
    "large_untracked": check_large_untracked,
}


def run_audit(repo: str, *, checks: list[str] | None = None, ledger: str | None = None, name: str = "audit",
              every_s: float | None = None, grace_s: float = 0.0, stale_after_s: float = 86400.0,
              large_file_bytes: int = 5 * 1024 * 1024, registry_max_age_s: float = 365 * 86400.0,
              textfile_dir: str | None = None) -> tuple[dict[str, Any], list[CheckResult]]:
    """Run the checks (all by default) on ``repo``; write and return the audit record."""
    from cmdscope._context import resolve
    from cmdscope._paths import default_ledger_path
    from cmdscope._sdlc.heartbeats import schedule_fields, write_textfile

    chosen = checks or list(CHECKS)
    unknown = [c for c in chosen if c not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    top = toplevel(repo)
    opts = AuditOptions(top, ledger or os.fspath(default_ledger_path()), stale_after_s, large_file_bytes, registry_max_age_s)
    start = time.time_ns()
    span = emit.start_span("audit", start)
    results: list[CheckResult] = []
    for check in chosen:
        try:
            results.append(CHECKS[check](opts))
        except (GitError, OSError, ValueError) as exc:
            results.append(CheckResult(check, False, f"check could not run: {exc}"))
    end = time.time_ns()
    ok = all(r.passed for r in results)
    fields, states = schedule_fields(name, end, ok, every_s, grace_s)
    rec = emit.new("audit", "audit", span, start, end)
    rec.update(resolve(top).attributes())
    rec.update(fields)
    rec["cmdscope.audit.checks"] = [r.name for r in results]
    rec["cmdscope.audit.passed"] = [r.name for r in results if r.passed]
    rec["cmdscope.audit.failed"] = [r.name for r in results if not r.passed]
    rec["cmdscope.audit.details"] = [f"{r.name}: {r.detail}" for r in results]
    rec["cmdscope.heartbeat.status"] = "ok" if ok else "fail"
    rec["cmdscope.outcome"] = "success" if ok else "failure"
    if not ok:
        rec["error.type"] = "audit_failed"
    emit.write(rec, span, ledger)
    if textfile_dir:
        write_textfile(textfile_dir, states)
    return rec, results
