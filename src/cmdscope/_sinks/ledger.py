"""The local ledger: append-only JSONL, one whole record per ``write()``.

Why it looks like this:
- One ``os.write`` of ``payload + b"\\n"`` on an ``O_APPEND`` descriptor: the kernel appends it
  whole, so any number of processes can share the file without torn lines (writing the payload
  and the newline separately tore about half the lines when measured).
- ``O_NOFOLLOW`` and mode 0600 (directory 0700): the ledger is an audit trail; it must not be
  redirected through a symlink into someone else's file nor be readable by other users.
- Group commit (``CMDSCOPE_FSYNC=batch``): fsync every 100 records or 1 s and at close costs
  ~10 us a line instead of ~300 us for ``always``.
- Size-based rotation renames the file to ``<name>.NNNNNN`` (older = smaller) and counts up a
  number kept in ``<name>.lock``; writers read it (memory-mapped: no system call) under the
  lock before every line and reopen when it moved, so no line lands in a rotated segment.
  Someone else deleting or replacing the file is seen by an ``fstat`` of our descriptor (no
  links left). A ``stat`` of the path per line did both, but walking the path cost ~11 us
  right after a child exits, against ~3 us for the ``fstat``. Readers walk the segments in
  order, then the current file.
- A write error (disk full, read-only, directory gone) never raises into the program being
  observed: it is counted, reported once on stderr, and the command goes on.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
import threading
import time

from cmdscope._private_files import UnsafePathError, make_private_dirs, open_private

TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

if TYPE_CHECKING:  # kept off the per-command import path (typing/pathlib cost milliseconds)
    from pathlib import Path
    from typing import Any, Callable

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
BATCH_RECORDS = 100
BATCH_SECONDS = 1.0
PATH_CHECK_S = 1.0  # a rename nobody counted (logrotate, an older cmdscope) is seen within this
FSYNC_MODES = ("never", "batch", "always")
# How far back append_once looks for its record id: a retried hook event is answered again
# within seconds, a few hundred records at most even with many agents writing meanwhile.
ONCE_LOOKBACK = 256 * 1024
# Read access too: the writer looks at the last byte for a torn fragment, a sealed writer at the
# previous line's hash.
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


class LedgerError(Exception):
    """A ledger cannot be opened or read; the message names the file."""


def _not_serializable(value: Any) -> Any:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


_make_encoder: Any = None
try:  # the stdlib's own C encoder: importing the ``json`` package costs ~2.5 ms per CLI process
    from _json import encode_basestring as _encode_str, make_encoder as _c_make_encoder

    _make_encoder = _c_make_encoder
except ImportError:  # pragma: no cover - other Python builds
    pass


def _json_dumps(record: dict[str, Any]) -> bytes:
    """``json.dumps(record, ensure_ascii=False, separators=(",", ":"))``, UTF-8 encoded."""
    if _make_encoder is None:  # pragma: no cover
        import json

        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    else:  # what JSONEncoder.encode does with those settings (a fresh circular-reference memo)
        text = "".join(_make_encoder({}, _not_serializable, _encode_str, None, ":", ",", False, False, True)(record, 0))
    return text.encode("utf-8", "surrogatepass")


def default_dumps() -> Callable[[dict[str, Any]], bytes]:
    """orjson (~1 us a line) when the process already has it; else the stdlib (~10 us).

    Importing orjson costs ~20 ms (it pulls in uuid, dataclasses, zoneinfo), more than the
    stdlib encoder costs a one-record CLI process, so the CLI path does not import it.
    """
    orjson = sys.modules.get("orjson")
    return orjson.dumps if orjson is not None else _json_dumps


def fsync_mode_from_env() -> str:
    """``CMDSCOPE_FSYNC``, parsed before any command ran (cmdscope._settings; a bad value: batch)."""
    from cmdscope import _settings as settings

    return settings.get("CMDSCOPE_FSYNC")  # type: ignore[no-any-return]


def max_bytes_from_env() -> int:
    """``CMDSCOPE_LEDGER_MAX_BYTES`` (cmdscope._settings; a bad value: the 64 MiB default)."""
    from cmdscope import _settings as settings

    return settings.get("CMDSCOPE_LEDGER_MAX_BYTES")  # type: ignore[no-any-return]


def _last_byte(fd: int, size: int) -> bytes:
    try:
        return os.pread(fd, 1, size - 1)
    except OSError:  # write-only descriptor on an odd filesystem: assume whole lines
        return b"\n"


class LedgerWriter:
    """Appends records to one ledger file. Thread-safe; many processes may share the file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: str | None = None,
        max_bytes: int | None = None,
        dumps: Callable[[dict[str, Any]], bytes] | None = None,
        on_drop: Callable[[str, BaseException], None] | None = None,
        seal: bool | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.fsync = fsync or fsync_mode_from_env()
        if self.fsync not in FSYNC_MODES:
            raise LedgerError(f"fsync={self.fsync!r}: expected one of {', '.join(FSYNC_MODES)}")
        self.max_bytes = max_bytes_from_env() if max_bytes is None else max_bytes
        self._dumps = dumps or default_dumps()
        if seal is None:
            from cmdscope import _settings as settings

            seal = settings.get("CMDSCOPE_LEDGER_SEAL")
        self.seal = bool(seal)
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self._fd = -1
        self._lock_fd = -1
        self._ino: tuple[int, int] | None = None
        self._size_seen = 0  # the file's size at our last look plus our lines since
        self._rotations: Any = None  # the lock file's rotation count, memory-mapped (False: cannot)
        self._generation: int | None = -1  # that count when our descriptor was opened
        self._path_checked = 0.0  # monotonic time of the last stat of the path
        self._unsynced = 0
        self._last_sync = time.monotonic()
        self._torn = False
        self.dropped = 0
        self.written = 0
        self.present = 0  # append_once calls that found their record already written
        self._warned = False

    # -- opening ----------------------------------------------------------------------------

    def _open(self) -> None:
        self._ensure_dir()
        try:
            fd = open_private(self.path, _OPEN_FLAGS)
        except UnsafePathError as exc:
            raise LedgerError(str(exc)) from None
        st = os.fstat(fd)
        self._fd = fd
        self._ino = (st.st_dev, st.st_ino)
        self._size_seen = st.st_size
        self._generation = self._rotation_count()
        self._path_checked = time.monotonic()
        # A file that does not end in a newline holds a fragment torn by a failed write (disk
        # full, killed mid-write by another process's limits): start our record on a new line.
        self._torn = st.st_size > 0 and _last_byte(fd, st.st_size) != b"\n"

    def _ensure_dir(self) -> None:
        directory = os.path.dirname(self.path) or "."
        if not os.path.isdir(directory):
            try:
                make_private_dirs(directory)
            except UnsafePathError as exc:
                raise LedgerError(str(exc)) from None

    def _open_lock(self) -> int:
        try:
            return open_private(self.path + ".lock", os.O_RDWR | os.O_CREAT)
        except UnsafePathError as exc:
            raise LedgerError(str(exc)) from None

    def _current(self) -> bool:
        """Is our descriptor still the file at ``self.path``? (Another writer may have rotated.)"""
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except OSError:
            return False
        self._size_seen = st.st_size
        return (st.st_dev, st.st_ino) == self._ino

    def _still_ours(self) -> bool:
        """Under the lock: is our descriptor still the file at ``self.path``? Not if another
        writer rotated it (the count moved) nor if it was deleted or replaced (no links left).
        A rename by anything that does not count (logrotate, an older cmdscope) is caught by a
        stat of the path at least every ``PATH_CHECK_S``."""
        if self._fd < 0:
            return False
        count = self._rotation_count()
        if count is None:
            return self._current()  # no counter here: a stat of the path per line
        now = time.monotonic()
        if count != self._generation or now - self._path_checked >= PATH_CHECK_S:
            self._path_checked = now
            if not self._current():
                return False
            self._generation = count  # the path is still our file (the count may have been reset)
            return True
        st = os.fstat(self._fd)
        self._size_seen = st.st_size
        return st.st_nlink > 0

    def _rotation_count(self) -> int | None:
        """How many times the ledger was rotated (``<name>.lock``); None when it cannot be read."""
        counter = self._rotations
        if counter is None:
            if self.written < _MAP_AFTER:  # a short-lived writer (the CLI's one line): no mmap import
                try:
                    return int.from_bytes(os.pread(self._lock_fd, 8, 0).ljust(8, b"\0"), "little")
                except OSError:
                    return None
            counter = self._rotations = _map_counter(self._lock_fd)
        if counter is False:
            return None
        return int.from_bytes(counter[:8], "little")

    # -- writing ----------------------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> bool:
        """Write one record as one line. Returns False (and counts a drop) when it could not."""
        try:
            payload = self._dumps(record)
        except (TypeError, ValueError) as exc:
            self._drop("encode", exc)
            return False
        return self.append_line(payload + b"\n")

    def append_once(self, record: dict[str, Any]) -> str:
        """Write ``record`` unless a record with its ``record_id`` is already among the ledger's
        last ``ONCE_LOOKBACK`` bytes: ``"written"``, ``"present"`` or ``"dropped"``.

        For a writer that may be retried after it wrote (an agent hook whose daemon was killed
        between writing and answering, so the client answers the same event again): the record
        id is derived from the event, so the retry finds it. The look-back and the write happen
        under the lock file held exclusively, so two such writers cannot both miss each other.
        """
        try:
            payload = self._dumps(record)
        except (TypeError, ValueError) as exc:
            self._drop("encode", exc)
            return "dropped"
        key = b'"record_id":"' + str(record.get("record_id", "")).encode("ascii", "replace") + b'"'
        with self._lock:
            try:
                done = self._write_under_lock(payload + b"\n", once=key)
                if done is None:
                    self.present += 1
                    return "present"
                written, intended = done
                self._torn = written != intended
                if self._torn:
                    raise OSError(errno.ENOSPC, "short write to ledger")
                self.written += 1
                self._after_write(intended)
                return "written"
            except (OSError, LedgerError) as exc:
                self._drop("write", exc)
                return "dropped"

    def _holds(self, key: bytes) -> bool:
        """Under the exclusive lock: is ``key`` on a whole line among the last ``ONCE_LOOKBACK``
        bytes of the ledger (the current file, then the newest rotated segment for what the
        current one lacks)? A fragment a killed writer left does not count: its record was never
        completed, so the retry writes it."""
        size = self._size_seen
        start = max(0, size - ONCE_LOOKBACK)
        if size:
            import mmap

            try:  # mapped, not read: no copy of the look-back (~10x cheaper than a pread of it)
                base = start - start % mmap.ALLOCATIONGRANULARITY
                with mmap.mmap(self._fd, size - base, access=mmap.ACCESS_READ, offset=base) as view:
                    if _on_whole_line(view, key, start - base):
                        return True
            except (OSError, ValueError):  # a filesystem that cannot map: read it
                if _on_whole_line(os.pread(self._fd, size - start, start), key, 0):
                    return True
        missing = ONCE_LOOKBACK - size
        if missing <= 0:
            return False
        rotated = segments(self.path)
        older = [p for p in rotated if os.fspath(p) != self.path]
        if not older:
            return False
        try:
            with open(older[-1], "rb") as fh:
                fh.seek(0, os.SEEK_END)
                end = fh.tell()
                fh.seek(max(0, end - missing))
                return _on_whole_line(fh.read(), key, 0)
        except OSError:
            return False

    def append_line(self, line: bytes) -> bool:
        """Append one whole line (ending in a newline); sealed into the chain when enabled."""
        with self._lock:
            try:
                done = self._write_under_lock(line)
                assert done is not None  # only append_once writes nothing
                written, intended = done
                self._torn = written != intended
                if self._torn:
                    raise OSError(errno.ENOSPC, "short write to ledger")
                self.written += 1
                self._after_write(intended)  # fsync, rotation: with the ledger lock released
                return True
            except (OSError, LedgerError) as exc:  # LedgerError: the file is someone else's
                self._drop("write", exc)
                return False

    def _write_under_lock(self, line: bytes, once: bytes | None = None) -> tuple[int, int] | None:
        """Write while holding the ledger's lock file: shared for a plain append, exclusive for
        a sealed one (it reads the chain's head). Rotation takes it exclusively, so no record is
        ever appended to a segment after it was rotated: a rotated segment is final, and a reader
        or the shipper that moved past it misses nothing. ``once``: write nothing (None) when
        these bytes are in the ledger's tail (:meth:`append_once`; exclusive lock)."""
        if self._lock_fd < 0:
            self._ensure_dir()
            self._lock_fd = self._open_lock()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX if self.seal or once is not None else fcntl.LOCK_SH)
        try:
            if not self._still_ours():
                # Rotated by another writer, or deleted or replaced under us: nothing is
                # appended to a segment already rotated, nor kept writing to a deleted file.
                self._reopen()
            if once is not None and self._holds(once):
                return None
            size = self._size_seen  # exact here: _still_ours/_open just looked at the file
            if self._torn or (size and os.pread(self._fd, 1, size - 1) != b"\n"):
                # A write was cut short (disk full, or a writer killed mid-write): end that
                # fragment so this record starts on a line of its own and stays readable.
                line = b"\n" + line
                self._torn = False
            if self.seal:
                from cmdscope._sinks.seal import sealed_write

                return sealed_write(self._fd, self.path, line[:-1])
            return os.write(self._fd, line), len(line)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _reopen(self) -> None:
        if self._fd >= 0:
            self._sync_now()
            os.close(self._fd)
            self._fd = -1
        self._open()

    def _after_write(self, size: int) -> None:
        if self.fsync == "always":
            os.fsync(self._fd)
        elif self.fsync == "batch":
            self._unsynced += 1
            if self._unsynced >= BATCH_RECORDS or time.monotonic() - self._last_sync >= BATCH_SECONDS:
                self._sync_now()
        # The size seen at the last stat plus our lines: other writers' lines are counted at the
        # next stat, so a segment overshoots max_bytes by at most what they appended meanwhile.
        self._size_seen += size
        if self.max_bytes and self._size_seen >= self.max_bytes:
            self._rotate()

    def _sync_now(self) -> None:
        if self._fd >= 0 and self._unsynced:
            os.fsync(self._fd)
            if self.fsync == "batch":
                self._mark_synced()
        self._unsynced = 0
        self._last_sync = time.monotonic()

    # Group commit across processes. A ``cmdscope run`` process writes one record, so a per-
    # writer batch would be an fsync per command (~0.3-3 ms). Instead the ledger keeps a sidecar
    # whose mtime says when anyone last fsynced it; a closing writer fsyncs only when that was at
    # least BATCH_SECONDS ago. A record is on disk within a second while commands keep running,
    # and otherwise when the kernel writes back (dirty_expire, 30 s by default). A crash of the
    # process itself never loses a record: the write() is complete before close.

    def _synced_path(self) -> str:
        return self.path + ".synced"

    def _group_due(self) -> bool:
        if not self._unsynced:
            return False
        try:
            return time.time() - os.stat(self._synced_path()).st_mtime >= BATCH_SECONDS
        except OSError:
            return True

    def _mark_synced(self) -> None:
        try:
            fd = open_private(self._synced_path(), os.O_WRONLY | os.O_CREAT)
            try:
                os.utime(fd)
            finally:
                os.close(fd)
        except OSError:
            pass

    def _rotate(self) -> None:
        fd = self._open_lock()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if self._current():  # nobody rotated it meanwhile
                os.rename(self.path, f"{self.path}.{_next_segment(self.path):06d}")
                _count_rotation(fd)
        finally:
            os.close(fd)  # releases the lock
        self._sync_now()
        os.close(self._fd)
        self._fd = -1

    def _drop(self, reason: str, exc: BaseException) -> None:
        self.dropped += 1
        if self._on_drop is not None:
            try:
                self._on_drop(reason, exc)
            except Exception:  # a telemetry callback must never break the write path
                pass
        if not self._warned:
            self._warned = True
            try:
                sys.stderr.write(f"cmdscope: ledger {self.path}: record not written ({reason}: {exc})\n")
            except Exception:
                pass

    def flush(self) -> None:
        with self._lock:
            try:
                self._sync_now()
            except OSError as exc:
                self._drop("fsync", exc)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                try:
                    if self.fsync == "always" or (self.fsync == "batch" and self._group_due()):
                        self._sync_now()
                except OSError as exc:
                    self._drop("fsync", exc)
                os.close(self._fd)
                self._fd = -1
            if self._lock_fd >= 0:
                if self._rotations:
                    self._rotations.close()
                self._rotations = None
                os.close(self._lock_fd)
                self._lock_fd = -1

    def __enter__(self) -> "LedgerWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _on_whole_line(buf: Any, key: bytes, start: int) -> bool:
    """Is ``key`` in ``buf[start:]`` on a line that is a whole JSON object (ends in a newline
    and parses)? Only the rare line holding the key is parsed."""
    import json

    at = buf.find(key, start)
    while at >= 0:
        head = buf.rfind(b"\n", 0, at) + 1
        tail = buf.find(b"\n", at)
        if tail >= 0:
            try:
                if isinstance(json.loads(bytes(buf[head:tail])), dict):
                    return True
            except ValueError:
                pass  # a torn fragment (a writer killed mid-write): not written
        at = buf.find(key, at + 1)
    return False


_MAP_AFTER = 16  # lines written before the count is memory-mapped instead of read with pread


def _map_counter(lock_fd: int) -> Any:
    """The lock file's first 8 bytes (the rotation count), memory-mapped shared; False when the
    file or its filesystem does not allow it (then every line is checked with a stat)."""
    try:
        import mmap

        if os.fstat(lock_fd).st_size < 8:
            os.ftruncate(lock_fd, 8)  # only ever grows: a count already written is kept
        return mmap.mmap(lock_fd, 8, mmap.MAP_SHARED, mmap.PROT_READ)
    except (OSError, ValueError, ImportError):
        return False


def _count_rotation(lock_fd: int) -> None:
    """Under the exclusive lock: one more rotation (writers compare before their next line)."""
    try:
        count = int.from_bytes(os.pread(lock_fd, 8, 0).ljust(8, b"\0"), "little")
        os.pwrite(lock_fd, ((count + 1) % (1 << 64)).to_bytes(8, "little"), 0)
    except OSError:
        pass  # a write-protected lock file: writers still find the new inode by their stat


# --- segments -------------------------------------------------------------------------------


def segments(path: str | os.PathLike[str]) -> list[Path]:
    """Rotated segments in order (oldest first), then the current file if it exists."""
    from pathlib import Path

    current = Path(path)
    prefix = current.name + "."
    rotated = []
    try:
        for entry in os.scandir(current.parent):
            rest = entry.name[len(prefix):]
            if entry.name.startswith(prefix) and rest.isdigit():
                rotated.append((int(rest), Path(entry.path)))
    except FileNotFoundError:
        return []
    out = [p for _, p in sorted(rotated)]
    if current.exists():
        out.append(current)
    return out


def _next_segment(path: str) -> int:
    numbers = [int(p.name.rsplit(".", 1)[1]) for p in segments(path)[:-1] if p.name.rsplit(".", 1)[1].isdigit()]
    return max(numbers, default=0) + 1


# --- reading --------------------------------------------------------------------------------
# The reader is cmdscope._ledger_reader; these names stay importable from here for older code
# (read_records here: every JSON object, without the schema check the reports add).


def __getattr__(name: str) -> Any:
    if name in ("BadLine", "ReadStats", "read_records"):
        from cmdscope import _ledger_reader as ledger_reader

        return getattr(ledger_reader, "read_unchecked" if name == "read_records" else name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
