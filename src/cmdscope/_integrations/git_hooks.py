"""git hooks: ``pre-push`` asks the policy about each pushed ref; ``post-commit`` records the commit.

``pre-push`` gets ``<local ref> <local sha> <remote ref> <remote sha>`` lines on stdin. Each
line is turned into the ``git push`` command it amounts to, so the same dangerous-command rules
and policies that judge an agent's ``git push -f origin main`` judge this push too:

- deleting a remote branch (local sha all zeros)        -> ``git push <remote> --delete <branch>``
- a non-fast-forward update (the remote sha is known here and is not an ancestor of the local
  sha)                                                  -> ``git push --force <remote> <src>:<branch>``
- anything else                                          -> ``git push <remote> <src>:<branch>``

A deny prints the reason, writes a denial record and exits 1 (git then does not push).
``post-commit`` calls :func:`cmdscope._sdlc.commits.record_commit` (sha, files changed,
insertions, deletions, atomicity); a failure there never fails the commit.
"""

from __future__ import annotations

import os
import subprocess
import sys

from cmdscope._pipeline import quote

ZERO = "0" * 40


def _git(args: list[str], cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def is_fast_forward(remote_sha: str, local_sha: str) -> bool | None:
    """True/False when both commits are here; None when the remote one is unknown locally."""
    if _git(["cat-file", "-e", f"{remote_sha}^{{commit}}"]).returncode != 0:
        return None
    return _git(["merge-base", "--is-ancestor", remote_sha, local_sha]).returncode == 0


def push_commands(remote: str, stdin_text: str) -> list[str]:
    """The ``git push`` command each pushed ref amounts to."""
    out = []
    for line in stdin_text.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        local_ref, local_sha, remote_ref, remote_sha = parts
        branch = remote_ref.removeprefix("refs/heads/")
        if set(local_sha) == {"0"}:
            out.append(f"git push {quote(remote)} --delete {quote(branch)}")
            continue
        src = local_ref[len("refs/heads/"):] if local_ref.startswith("refs/heads/") else local_sha
        forced = set(remote_sha) != {"0"} and is_fast_forward(remote_sha, local_sha) is False
        flag = "--force " if forced else ""
        out.append(f"git push {flag}{quote(remote)} {quote(src)}:{quote(branch)}")
    return out


def pre_push(remote: str, url: str, stdin_text: str) -> int:
    from cmdscope import _pipeline as pipeline, _settings as settings
    from cmdscope._integrations import agent
    from cmdscope._integrations.pending import MemoryStore

    actor = settings.get("CMDSCOPE_ACTOR") or "git"
    session = settings.get("CMDSCOPE_SESSION")
    status = 0
    try:
        for command in push_commands(remote, stdin_text):
            verdict = agent.before(agent.ToolCall(actor, session, None, command, os.getcwd(), "git-pre-push"), MemoryStore())
            if verdict.action == "deny":
                sys.stderr.write(f"cmdscope: push denied: {verdict.reason}\n  ({command})\n")
                status = 1
            elif verdict.action == "warn":
                sys.stderr.write(f"cmdscope: warning: {verdict.reason}\n")
    except Exception as exc:  # noqa: BLE001 - a broken check must not break git by accident
        if agent.fail_closed():
            sys.stderr.write(f"cmdscope: could not check the push ({exc}); blocked because CMDSCOPE_GUARD_FAIL=closed\n")
            return 1
        sys.stderr.write(f"cmdscope: could not check the push ({exc}); pushing anyway\n")
    finally:
        pipeline.close_ledgers()
    return status


def post_commit(cwd: str) -> int:
    """Record HEAD as a commit record; never fails the commit."""
    try:
        from cmdscope._sdlc.commits import record_commit

        record_commit(cwd)
    except Exception as exc:  # noqa: BLE001 - recording must never fail the commit
        sys.stderr.write(f"cmdscope: could not record the commit ({type(exc).__name__}: {exc})\n")
    finally:
        from cmdscope import _pipeline as pipeline

        pipeline.close_ledgers()
    return 0
