"""Start a child the way ``subprocess.Popen`` does, without Popen's Python-level work.

Why: every ``Popen`` ends in ``_posixsubprocess.fork_exec`` (vfork and exec, in C). Around that
call Popen spends Python time: it converts the environment in a Python loop, searches PATH,
builds its pipes and objects. Calling ``fork_exec`` directly with the arguments Popen passes
gives the child exactly what Popen gives it, ~70 us sooner than ``subprocess.run`` on the
machines we measure (bench/bench_inprocess.py, its runner line).

Why not ``posix_spawn``: glibc's child queries and resets all 64 signal dispositions before
``exec`` (~130 system calls while the parent is suspended by the vfork), CPython's child only
the handlers Python installed. Measured here, ``fork_exec`` returned in ~130 us, glibc's
``posix_spawnp`` in ~200-230 us.

``fork_exec`` is private: its positional arguments are those of CPython 3.11 to 3.14 (the same
list in all four, as Popen calls it). On any other version, or with ``CMDSCOPE_SPAWN=popen``,
``usable()`` is False and the runner uses ``Popen``. What the child gets:
- descriptors above 2 closed (``close_fds=True``), SIGPIPE and SIGXFSZ reset to their defaults
  (``restore_signals=True``), the session and ``cwd`` as asked;
- the program searched in the *child's* PATH, as Popen searches it;
- on failure, the ``OSError`` Popen raises (type, errno, filename), read from the same error
  pipe; a NUL byte or a ``=`` in a variable name is Popen's ``ValueError``.
"""

from __future__ import annotations

import io
import os
import sys

from cmdscope.environ import ENVB, PreparedEnv
from cmdscope.memo import remember
TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

if TYPE_CHECKING:
    from typing import Any, Callable, Mapping, Sequence


def _known_fork_exec() -> Callable[..., int] | None:
    if not (3, 11) <= sys.version_info[:2] <= (3, 14):
        return None
    try:
        from _posixsubprocess import fork_exec
    except ImportError:
        return None
    return fork_exec  # type: ignore[no-any-return]


_fork_exec = _known_fork_exec()


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


def usable() -> bool:
    """Can this interpreter start children here (else the runner uses ``Popen``)?"""
    return _fork_exec is not None and ENVB.get(b"CMDSCOPE_SPAWN") != b"popen"


def spawn(
    argv: Sequence[Any],
    env: Mapping[Any, Any] | None,
    stderr_fd: int | None = None,
    capture_output: bool = False,
    start_new_session: bool = False,
    cwd: str | None = None,
) -> SpawnedChild:
    """Start ``argv`` (``env`` None: this process's environment). ``stderr_fd`` (unless None)
    becomes the child's stderr; with ``capture_output`` stdout and stderr go to pipes read
    through ``.stdout`` / ``.stderr``. Raises what ``Popen`` raises when it cannot start."""
    assert _fork_exec is not None, "spawn.usable() first"
    args = list(argv)
    env_list = _env_list(env) if env is not None else None
    executables = _executables(args[0], env)
    sys.audit("subprocess.Popen", args[0], args, cwd, env)
    ours: list[int] = []
    c2pread = c2pwrite = errread = -1
    errwrite = -1 if stderr_fd is None else stderr_fd
    try:
        if capture_output:
            c2pread, c2pwrite = os.pipe()
            errread, errwrite = os.pipe()
            ours += [c2pread, c2pwrite, errread, errwrite]
        errpipe_read, errpipe_write = _error_pipe()
        ours += [errpipe_read, errpipe_write]
        pid = _fork_exec(
            args, executables, True, (errpipe_write,), cwd, env_list,
            -1, -1, c2pread, c2pwrite, errread, errwrite, errpipe_read, errpipe_write,
            True, start_new_session, -1, None, None, None, -1, None, _use_vfork(),
        )
    except BaseException:
        for fd in ours:
            os.close(fd)
        raise
    os.close(errpipe_write)
    if capture_output:
        os.close(c2pwrite)
        os.close(errwrite)
    try:
        report = _read_error_pipe(errpipe_read)
    finally:
        os.close(errpipe_read)
    if report:
        if capture_output:
            os.close(c2pread)
            os.close(errread)
        _reap(pid)
        raise _start_error(report, args[0], cwd)
    if not capture_output:
        return SpawnedChild(pid)
    return SpawnedChild(pid, io.FileIO(c2pread, "r"), io.FileIO(errread, "r"))


def _env_list(env: Mapping[Any, Any]) -> list[bytes]:
    """``K=V`` entries as Popen builds them; a ``PreparedEnv`` carries them already."""
    if type(env) is PreparedEnv:
        return env.entries
    return _encode_env(env)


def _encode_env(env: Mapping[Any, Any]) -> list[bytes]:
    try:
        entries = [k + b"=" + v for k, v in env.items()]
        names = b"=".join(env)  # one search for "=" in all names (per name costs ~0.5 us each)
    except TypeError:  # str names or values (os.environ, a caller's dict)
        encoded = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
        entries = [k + b"=" + v for k, v in encoded.items()]
        names = b"=".join(encoded)
    if names.count(b"=") != max(0, len(entries) - 1):
        raise ValueError("illegal environment variable name")
    return entries


_search: dict[tuple[Any, Any], tuple[bytes, ...]] = {}


def _executables(program: Any, env: Mapping[Any, Any] | None) -> tuple[bytes, ...]:
    """Where ``program`` may be, in order: the child's PATH, as Popen searches it."""
    if env is None:
        path: Any = ENVB.get(b"PATH")
    else:
        path = env.get(b"PATH") if b"PATH" in env else env.get("PATH")
    key = (program, path)
    found = _search.get(key)
    if found is None:
        name = os.fsencode(program)
        if os.path.dirname(name):
            found = (name,)
        else:
            found = tuple(os.path.join(os.fsencode(d), name) for d in os.get_exec_path(env if env is not None else None))
        remember(_search, key, found, 256)
    return found


def _error_pipe() -> tuple[int, int]:
    """Popen's exec-error pipe; its write end kept above 2 (the child dup2s onto 0-2)."""
    read, write = os.pipe()
    low = []
    while write < 3:
        low.append(write)
        write = os.dup(write)
    for fd in low:
        os.close(fd)
    return read, write


def _read_error_pipe(fd: int) -> bytes:
    data = bytearray()
    while True:
        part = os.read(fd, 50000)
        data += part
        if not part or len(data) > 50000:
            return bytes(data)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _start_error(report: bytes, program: Any, cwd: str | None) -> BaseException:
    """The exception Popen raises for the child's ``ExceptionName:hex_errno:message`` report."""
    import builtins
    import subprocess

    try:
        name, hex_errno, message_b = report.split(b":", 2)
        message = message_b.decode()
    except ValueError:
        return subprocess.SubprocessError(f"Bad exception data from child: {report!r}")
    kind = getattr(builtins, name.decode("ascii", "replace"), subprocess.SubprocessError)
    if not (isinstance(kind, type) and issubclass(kind, BaseException)):
        kind = subprocess.SubprocessError
    if issubclass(kind, OSError) and hex_errno:
        number = int(hex_errno, 16)
        filename = cwd if message == "noexec" else program  # "noexec": chdir(cwd) failed
        return kind(number, os.strerror(number) if number else "", filename)
    return kind(message)


def _use_vfork() -> bool:
    """Popen's own switch (``subprocess._USE_VFORK``), so a host that turned vfork off for its
    children gets the same here."""
    subprocess = sys.modules.get("subprocess")
    return bool(getattr(subprocess, "_USE_VFORK", True))
