"""Files and directories cmdscope owns: created private, checked before they are trusted.

Another local user must not be able to read the audit trail, plant a symlink that makes us
overwrite their choice of file, or swap a cache we load. So every directory we create is 0700
(each missing component, not only the last as ``os.makedirs(mode=)`` does), every file 0600,
opened with ``O_NOFOLLOW``, and a file or directory owned by someone else, or one that is not a
regular file (a FIFO at the ledger path would block every later run), is refused.
"""

from __future__ import annotations

import os
import stat

_FLAGS = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK  # O_NONBLOCK: opening a FIFO never hangs


class UnsafePathError(OSError):
    """A path cmdscope would write or trust is not private to this user; the message names it."""


def make_private_dirs(path: str | os.PathLike[str]) -> None:
    """Create ``path`` and its missing parents 0700; an existing ``path`` must be ours (its mode
    is tightened to drop group and other write) and not someone else's."""
    path = os.path.abspath(os.fspath(path))
    missing = []
    probe = path
    while not os.path.isdir(probe):
        missing.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
    check_private_dir(path)


def check_private_dir(path: str | os.PathLike[str]) -> None:
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{os.fspath(path)}: not a directory")
    if st.st_uid != os.geteuid():
        raise UnsafePathError(f"{os.fspath(path)}: owned by uid {st.st_uid}, not by this user; refusing to use it")
    if st.st_mode & 0o022:
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)


def open_private(path: str | os.PathLike[str], flags: int, mode: int = 0o600) -> int:
    """``os.open`` that refuses symlinks, non-regular files and files owned by someone else."""
    fd = os.open(path, flags | _FLAGS, mode)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(f"{os.fspath(path)}: not a regular file; refusing to use it")
        if st.st_uid != os.geteuid():
            raise UnsafePathError(f"{os.fspath(path)}: owned by uid {st.st_uid}, not by this user; refusing to use it")
        if flags & os.O_NONBLOCK == 0:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_private(path: str | os.PathLike[str], limit: int = 64 * 1024 * 1024) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a symlink) owned by this user and
    writable by no one else, in a directory of the same kind; else ``UnsafePathError`` (or the
    ``OSError`` of a missing file). What a cache holds decides what the guard allows: a file
    another user could have written or swapped is never read."""
    path = os.fspath(path)
    where = os.path.dirname(path) or "."
    st = os.stat(where, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise UnsafePathError(f"{where}: not a private directory; refusing to read from it")
    fd = os.open(path, os.O_RDONLY | _FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            raise UnsafePathError(f"{path}: not a private regular file; refusing to read it")
        if st.st_size > limit:
            raise UnsafePathError(f"{path}: larger than {limit} bytes")
        chunks: list[bytes] = []
        while True:
            chunk = os.read(fd, max(st.st_size, 65536))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` atomically with a new 0600 file holding ``data``."""
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FLAGS, 0o600)
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
