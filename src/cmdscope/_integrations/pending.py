"""Pending records: opened when an agent is about to run a command, closed when it reports back.

Claude Code and Codex start one hook process per event, so the record opened at PreToolUse has
to survive until PostToolUse in another process. :class:`FileStore` keeps it as one small JSON
file per tool call under ``<state dir>/pending/<agent>/`` (mode 0600, written to a temporary
name and renamed so a reader never sees half a file; taking it is a rename, so two closers can
never both emit it). The OpenCode bridge is one long-lived process and uses :class:`MemoryStore`.

Files older than a day are swept when a session starts: an agent that crashed between the two
events leaves nothing behind for long.
"""

from __future__ import annotations

import json
import os
import time

TYPE_CHECKING = False  # not `from typing import`: typing costs ~4 ms to import

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

STALE_SECONDS = 24 * 3600


def _key(call_id: str) -> str:
    from cmdscope._digest import sha256_hex

    return sha256_hex(call_id.encode("utf-8", "surrogatepass"))[:32]


class FileStore:
    def __init__(self, root: str | os.PathLike[str] | None = None, *,
                 environ: Mapping[str, str] | None = None) -> None:
        if root is None:
            base = (os.environ if environ is None else environ).get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
            root = os.path.join(base, "cmdscope", "pending")  # = paths.state_dir(), without pathlib
        self.root = os.fspath(root)

    def _dir(self, agent: str) -> str:
        return os.path.join(self.root, "".join(c for c in agent if c.isalnum() or c in "-_"))

    def put(self, agent: str, call_id: str, record: dict[str, Any]) -> None:
        folder = self._dir(agent)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        name = f"{_key(call_id)}.json"
        path = os.path.join(folder, name)
        tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.write(fd, json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def take(self, agent: str, call_id: str) -> dict[str, Any] | None:
        return self._claim(os.path.join(self._dir(agent), f"{_key(call_id)}.json"))

    def take_session(self, agent: str, session: str) -> list[dict[str, Any]]:
        folder = self._dir(agent)
        out: list[dict[str, Any]] = []
        try:
            names = os.listdir(folder)
        except OSError:
            return out
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            path = os.path.join(folder, name)
            try:
                with open(path, encoding="utf-8") as fh:
                    if json.load(fh).get("session.id") != session:
                        continue
            except (OSError, ValueError):
                continue
            rec = self._claim(path)
            if rec is not None:
                out.append(rec)
        return out

    def sweep(self, max_age: float = STALE_SECONDS) -> int:
        """Delete pending files older than ``max_age`` seconds; returns how many."""
        removed = 0
        cutoff = time.time() - max_age
        try:
            folders = [os.path.join(self.root, n) for n in os.listdir(self.root)]
        except OSError:
            return 0
        for folder in folders:
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                path = os.path.join(folder, name)
                try:
                    if os.stat(path).st_mtime < cutoff:
                        os.unlink(path)
                        removed += 1
                except OSError:
                    pass
        return removed

    @staticmethod
    def _claim(path: str) -> dict[str, Any] | None:
        folder, name = os.path.split(path)
        claimed = os.path.join(folder, f".{name}.{os.getpid()}.taken")
        try:
            os.rename(path, claimed)  # atomic: only one closer gets the record
        except OSError:
            return None
        try:
            with open(claimed, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            data = None
        try:
            os.unlink(claimed)
        except OSError:
            pass
        return data if isinstance(data, dict) else None


class MemoryStore:
    """The same interface in memory, for the long-lived OpenCode bridge."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], dict[str, Any]] = {}

    def put(self, agent: str, call_id: str, record: dict[str, Any]) -> None:
        self._records[(agent, call_id)] = record

    def get(self, agent: str, call_id: str) -> dict[str, Any] | None:
        return self._records.get((agent, call_id))

    def take(self, agent: str, call_id: str) -> dict[str, Any] | None:
        return self._records.pop((agent, call_id), None)

    def take_session(self, agent: str, session: str | None) -> list[dict[str, Any]]:
        keys = [k for k, r in self._records.items() if k[0] == agent and (session is None or r.get("session.id") == session)]
        return [self._records.pop(k) for k in keys]
