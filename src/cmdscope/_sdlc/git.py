"""Small git helpers for the SDLC modules: one spawn per question, errors as one line."""

from __future__ import annotations

import os
import subprocess
from typing import Sequence


class GitError(Exception):
    """A git command failed; the message names the command and git's own first error line."""


def git(args: Sequence[str], cwd: str | os.PathLike[str], *, check: bool = True, binary: bool = False) -> str:
    """stdout of ``git ARGS`` in ``cwd``; our own spawn, so never recorded by the instrumentation."""
    from cmdscope.instrumentation._suppress import suppress_instrumentation

    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    with suppress_instrumentation():
        try:
            done = subprocess.run(["git", *args], cwd=os.fspath(cwd), capture_output=True, env=env)
        except OSError as exc:
            raise GitError(f"git {' '.join(args)}: {exc.strerror}") from None
    if check and done.returncode != 0:
        first = (done.stderr.decode(errors="replace").strip().splitlines() or ["exit " + str(done.returncode)])[0]
        raise GitError(f"git {' '.join(args)} in {cwd}: {first}")
    return done.stdout.decode(errors="surrogateescape") if not binary else done.stdout.decode("latin-1")


def toplevel(cwd: str | os.PathLike[str]) -> str:
    return git(["rev-parse", "--show-toplevel"], cwd).strip()


def is_dirty(cwd: str | os.PathLike[str]) -> bool:
    """Uncommitted changes (staged, unstaged or untracked, ignored files excepted)?"""
    return bool(git(["status", "--porcelain", "--untracked-files=normal"], cwd).strip())


def worktree_state(cwd: str | os.PathLike[str]) -> str | None:
    """A hash of the uncommitted changes (diff against HEAD plus untracked names), or None when
    the worktree is clean. Two gate passes over the same changes share it: one validated slice."""
    import hashlib

    status = git(["status", "--porcelain", "--untracked-files=all"], cwd)
    if not status.strip():
        return None
    diff = git(["diff", "HEAD", "--binary"], cwd, check=False, binary=True)
    h = hashlib.sha256(status.encode("utf-8", "surrogateescape"))
    h.update(diff.encode("latin-1"))
    return h.hexdigest()[:16]
