"""Start a child with ``posix_spawn`` where that is exactly what ``subprocess.Popen`` would do.

Why: ``Popen`` builds the child's environment in a Python loop and goes through its own
fork/exec helper; ``os.posix_spawnp`` (glibc: one ``clone(CLONE_VFORK)``) converts the
environment in C. For a short command that is ~120 us of a ~650 us spawn on the machines we
measure (bench/bench_inprocess.py), more than all of cmdscope's bookkeeping is allowed to cost.

The child sees what ``Popen(argv, env=env)`` with its defaults would give it:
- inheritable descriptors above 2 are closed (``close_fds=True``); Python's own descriptors are
  close-on-exec anyway;
- SIGPIPE and SIGXFSZ are reset to their defaults (``restore_signals=True``);
- PATH is searched in the caller's PATH, so this path is taken only when the child's PATH is
  the same; a ``cwd``, stdin or stdout redirection also go to ``Popen`` (3.11 has no
  chdir file action).
Errors are the same ``OSError`` (errno, filename) that ``Popen`` raises.

One known difference: glibc (2.36 here) leaves its two internal real-time signals, 32 and 33,
ignored in a posix_spawn child. glibc programs install their own handlers before they use them;
CPython's ``subprocess`` has the same property whenever it uses posix_spawn itself
(``close_fds=False``). ``CMDSCOPE_SPAWN=popen`` turns this path off.
"""

from __future__ import annotations

import io
import os
import signal
import sys

from cmdscope.environ import ENVB
TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

if TYPE_CHECKING:
    from typing import Any, Mapping, Sequence

_RESET_SIGNALS = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name))
AVAILABLE = hasattr(os, "posix_spawnp") and os.path.isdir("/proc/self/fd")


class SpawnedChild:
    """The slice of ``Popen``'s interface the runner uses: pid, wait, poll, send_signal."""

    __slots__ = ("pid", "returncode", "stdout", "stderr")

    def __init__(self, pid: int, stdout: io.FileIO | None = None, stderr: io.FileIO | None = None) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdout = stdout
        self.stderr = stderr

    def _set_status(self, status: int) -> None:
        self.returncode = os.waitstatus_to_exitcode(status)

    def wait(self) -> int:
        while self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, 0)
            except ChildProcessError:  # SIGCHLD ignored: the kernel reaped it (Popen says 0 too)
                self.returncode = 0
                break
            if pid == self.pid:
                self._set_status(status)
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = 0
                return 0
            if pid == self.pid:
                self._set_status(status)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        self.poll()  # like Popen: never signal a pid we have already reaped (it may be reused)
        if self.returncode is None:
            os.kill(self.pid, sig)


def usable(env: Mapping[Any, Any] | None) -> bool:
    """Would ``posix_spawnp`` search the same PATH that ``Popen(env=env)`` searches?"""
    if not AVAILABLE or ENVB.get(b"CMDSCOPE_SPAWN") == b"popen":
        return False
    if env is None or env is os.environ or env is ENVB:
        return True
    try:
        theirs = env.get(b"PATH")
    except TypeError:  # a str-only mapping such as os.environ
        theirs = None
    if theirs is None:
        text = env.get("PATH")
        theirs = os.fsencode(text) if isinstance(text, str) else None
    return theirs == ENVB.get(b"PATH")


def _inheritable_fds() -> list[int]:
    fds = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2:
            continue
        try:
            if os.get_inheritable(fd):
                fds.append(fd)
        except OSError:  # the directory's own descriptor, closed by now
            continue
    return fds


def spawn(
    argv: Sequence[str],
    env: Mapping[Any, Any] | None,
    stderr_fd: int | None = None,
    capture_output: bool = False,
    start_new_session: bool = False,
) -> SpawnedChild:
    """Start ``argv``; ``stderr_fd`` (unless None) becomes the child's stderr; with
    ``capture_output`` stdout and stderr go to pipes read through ``.stdout`` / ``.stderr``."""
    global _spawns
    _spawns += 1
    ours: list[int] = []
    dups: tuple[int, ...] = ()
    environment = ENVB if env is None else env  # encoded: os.environ would decode and re-encode (~100 us)
    try:
        if capture_output:
            out_r, out_w = os.pipe()
            ours += [out_r, out_w]
            err_r, err_w = os.pipe()
            ours += [err_r, err_w]
            dups = (out_w, 1, err_w, 2)
        elif stderr_fd is not None:
            dups = (stderr_fd, 2)
        libc = _libc_spawner()
        pid = libc.spawn(argv, environment, dups, start_new_session) if libc is not None else None
        if pid is None:
            actions: list[tuple[int, ...]] = [(os.POSIX_SPAWN_DUP2, dups[i], dups[i + 1]) for i in range(0, len(dups), 2)]
            for fd in _inheritable_fds():  # after the dup2s: they may read one of these
                actions.append((os.POSIX_SPAWN_CLOSE, fd))
            pid = os.posix_spawnp(
                argv[0],
                list(argv),
                environment,
                file_actions=actions,
                setsigdef=_RESET_SIGNALS,
                setsid=start_new_session,
            )
    except BaseException:
        for fd in ours:
            os.close(fd)
        raise
    if not capture_output:
        return SpawnedChild(pid)
    os.close(ours[1])
    os.close(ours[3])
    return SpawnedChild(pid, io.FileIO(ours[0], "r"), io.FileIO(ours[2], "r"))


_spawns = 0
_libc: Any = None  # spawn_libc.LibcSpawn; False: unavailable; None: not decided yet
_LIBC_AFTER = 8  # spawns before ctypes is imported for the libc path (when not loaded already)


def _libc_spawner() -> Any:
    """The libc path (``spawn_libc.py``) when it pays: ctypes already loaded (the OTel SDK loads
    it), or a process that keeps spawning. ``CMDSCOPE_SPAWN=list`` keeps the listing path."""
    global _libc
    if _libc is None:
        if "ctypes" not in sys.modules and _spawns <= _LIBC_AFTER:
            return None
        if ENVB.get(b"CMDSCOPE_SPAWN") == b"list":
            _libc = False
        else:
            from cmdscope import spawn_libc

            _libc = spawn_libc.load(_RESET_SIGNALS) or False
    return _libc or None


def _after_fork_in_child() -> None:
    global _libc
    if _libc:
        _libc = None  # its lock may be held by a thread that does not exist in this process


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
