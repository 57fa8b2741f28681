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
    actions: list[tuple[int, ...]] = []
    ours: list[int] = []
    out_r = err_r = -1
    try:
        if capture_output:
            out_r, out_w = os.pipe()
            ours += [out_r, out_w]
            err_r, err_w = os.pipe()
            ours += [err_r, err_w]
            actions += [(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
        elif stderr_fd is not None:
            actions.append((os.POSIX_SPAWN_DUP2, stderr_fd, 2))
        for fd in _inheritable_fds():  # after the dup2s: they may read one of these
            actions.append((os.POSIX_SPAWN_CLOSE, fd))
        pid = os.posix_spawnp(
            argv[0],
            list(argv),
            ENVB if env is None else env,  # encoded: os.environ would decode and re-encode (~100 us)
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
    return SpawnedChild(pid, io.FileIO(out_r, "r"), io.FileIO(err_r, "r"))
