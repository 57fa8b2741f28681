"""Count retries of a failing command across processes (one CLI process per command).

State: one small JSON file per scope (a session or a packet, in one ledger: a run into another
ledger never counts the failures of this one) under `state_dir/retry/`, mapping
command hash -> [consecutive failures, record id of the last failure, its time in ns]. Each
observe() takes an exclusive flock on the scope file, reads, updates and rewrites it, so
concurrent commands of the same session cannot lose a count. Entries older than the window are
dropped on every write, which keeps the files small.
"""

from __future__ import annotations

import fcntl
import os
TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

from cmdscope._digest import sha256  # not hashlib: it loads OpenSSL, a cost every CLI process would pay

if TYPE_CHECKING:
    pass

_MAX_ENTRIES = 512
_PAD_LIMIT = 64 * 1024  # above this, shrink the file for real  # per scope; the oldest go first when a session runs very many distinct failures


def _scopes(session: str | None, packet: str | None, ledger: str) -> tuple[str | None, str | None]:
    """The session's and the packet's scope keys, within one ledger."""
    where = f"{ledger}\0" if ledger else ""
    return (f"{where}s:{session}" if session else None, f"{where}p:{packet}" if packet else None)


class RetryTracker:
    """`observe()` once per command (failed or not); returns (retry_count, retry_of).

    A command is a retry when the same command hash failed before in the same session or
    packet and that failure is at most `window_s` old. retry_count is the number of consecutive
    failures before this run; a success ends the streak (it is still reported as a retry).
    """

    def __init__(self, state_dir: str | os.PathLike[str], window_s: float = 3600) -> None:
        self.dir = os.path.join(os.fspath(state_dir), "retry")
        self.window_ns = int(window_s * 1e9)
        self._made = False

    def observe(self, command_hash: str, session: str | None, packet: str | None, failed: bool,
                record_id: str, now_ns: int, ledger: str = "") -> tuple[int, str | None]:
        """``ledger``: the ledger the record goes to; retry_of must name a record in it."""
        hits = []
        for scope in _scopes(session, packet, ledger):
            if scope is not None:
                result = self._observe_scope(scope, command_hash, failed, record_id, now_ns)
                if result[1] is not None:
                    hits.append(result)
        if not hits:
            return 0, None
        latest = max(hits, key=lambda r: r[2])  # retry_of: the most recent earlier failure
        return max(r[0] for r in hits), latest[1]

    def may_have_failed(self, command_hash: str, session: str | None, packet: str | None, ledger: str = "") -> bool:
        """Could ``observe`` find a failure streak of this command (a cheap, unlocked look)?
        False means a success of it has nothing to end and ``observe`` may be skipped."""
        for scope in _scopes(session, packet, ledger):
            if scope is not None and self._may_hold(self._path(scope), command_hash):
                return True
        return False

    def _path(self, scope: str) -> str:
        name = sha256(scope.encode()).hexdigest()[:24]
        return os.path.join(self.dir, f"{name}.json")

    def _may_hold(self, path: str, command_hash: str) -> bool:
        """Cheap pre-check for a success: is there any record of this hash failing?

        Most commands succeed and were never failing; for them a stat (and at most an unlocked
        read) replaces the lock-read-rewrite cycle. A stale answer is harmless: the file only
        gains this hash through a failure of this same command, which is serialised anyway.
        """
        try:
            with open(path, "rb") as fh:
                return command_hash.encode() in fh.read()
        except OSError:
            return False

    def _observe_scope(self, scope: str, command_hash: str, failed: bool, record_id: str,
                       now_ns: int) -> tuple[int, str | None, int]:
        path = self._path(scope)
        if not failed and not self._may_hold(path, command_hash):
            return 0, None, -1
        if not self._made:
            from cmdscope._private_files import make_private_dirs

            make_private_dirs(self.dir)
            self._made = True
        import json  # only on a failure or a success after one: the CLI's plain success skips ~2.5 ms

        from cmdscope._private_files import open_private

        fd = open_private(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = b""
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                raw += chunk
            try:
                state = json.loads(raw) if raw.strip() else {}
                if not isinstance(state, dict):
                    state = {}
            except ValueError:
                state = {}  # a torn or foreign file: start the scope over rather than fail the command
            entry = state.get(command_hash)
            count, retry_of, at_ns = 0, None, -1
            if (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[2], int)
                    and now_ns - entry[2] <= self.window_ns):
                count, retry_of, at_ns = int(entry[0]), str(entry[1]), entry[2]
            if failed:
                state[command_hash] = [count + 1, record_id, now_ns]
            else:
                state.pop(command_hash, None)
            horizon = now_ns - self.window_ns
            fresh = {k: v for k, v in state.items()
                     if isinstance(v, list) and len(v) == 3 and isinstance(v[2], int) and v[2] >= horizon}
            if len(fresh) > _MAX_ENTRIES:
                keep = sorted(fresh.items(), key=lambda kv: kv[1][2])[-_MAX_ENTRIES:]
                fresh = dict(keep)
            data = json.dumps(fresh, separators=(",", ":")).encode()
            if len(data) < len(raw) <= _PAD_LIMIT:
                # Pad with spaces (valid JSON whitespace) instead of truncating: on ext4 a
                # truncate-and-rewrite costs ~190 us, an overwrite in place ~2 us.
                data += b" " * (len(raw) - len(data))
            os.pwrite(fd, data, 0)
            if len(data) < len(raw):
                os.ftruncate(fd, len(data))
            return count, retry_of, at_ns
        finally:
            os.close(fd)  # closing releases the flock
