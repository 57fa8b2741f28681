"""Spawn the real child and leave its behaviour exactly as if it ran bare.

- stdin is inherited untouched. stderr is relayed byte for byte through a pipe (a
  pseudo-terminal when our stderr is a terminal, so the child still sees a tty) while the last
  64 KiB are kept for the failure classifier: memory stays bounded whatever the child prints.
  A regular file (ours, or one the caller passes) is not relayed: the child writes it itself
  and after a failure its last 64 KiB are read back, as for stdout below.
- stdout, by what ours is: a terminal is inherited untouched (no tail); a regular file (ours,
  or one the caller passes) too, and after a failure the last 8 KiB the child appended are read
  back (the offset is shared with the child); a pipe or socket is relayed like stderr through
  a pipe, its last 8 KiB kept, and when our reader goes away the relay closes so the child
  gets EPIPE/SIGPIPE as it would bare.
  Under a timeout a relay's writes never block (``RWF_NOWAIT``), so a stalled reader cannot
  hold the deadline back. A grandchild still writing when the child exits is handed to ``cat``.
- The loop waits on the relayed pipes, and on a pidfd once the child outlives the first 20 ms, so
  a grandchild that keeps them open (``cmd &``) never holds us after the child itself has
  exited. A short command's exit is told by its output closing: no pidfd to close after it.
- Exit codes follow the shell: the child's own code; 128+N for death by signal N; 124 on timeout
  (like ``timeout(1)``); 127 command not found and 126 not executable, with outcome ``error``.
- When asked (the CLI), SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2/SIGWINCH are forwarded to
  the child. A terminal's Ctrl-C already reaches every process of the foreground group, so a
  SIGINT/SIGQUIT is not sent a second time when the child shares our foreground process group.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import stat
import subprocess
import sys
import threading
import time
TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

if TYPE_CHECKING:  # typing and dataclasses cost ~20 ms of import on the per-command CLI path
    from typing import IO, Any, Callable, Mapping, Sequence

    Child = subprocess.Popen[bytes]

TAIL_BYTES = 64 * 1024
STDOUT_TAIL_BYTES = 8192  # what the classifier reads of stdout (failures.classify.TEXT_WINDOW)
KILL_GRACE_S = 2.0
_READ = 65536
_INTERRUPTS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)

SUCCESS, FAILURE, TIMEOUT, INTERRUPTED, ERROR = "success", "failure", "timeout", "interrupted", "error"


class Execution:
    """What happened to one child process."""

    __slots__ = ("returncode", "outcome", "start_ns", "end_ns", "pid", "signal", "stderr_tail",
                 "stderr_truncated", "stdout", "stderr", "start_error", "forwarded", "stdout_tail")

    def __init__(
        self,
        returncode: int | None,
        outcome: str,
        start_ns: int,
        end_ns: int,
        pid: int | None = None,
        signal: int | None = None,
        stderr_tail: bytes = b"",
        stderr_truncated: bool = False,
        stdout: bytes | None = None,
        stderr: bytes | None = None,
        start_error: str | None = None,
        forwarded: list[int] | None = None,
        stdout_tail: bytes | None = None,
    ) -> None:
        self.returncode = returncode  # None: not known (an agent that did not report it)
        self.outcome = outcome
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.pid = pid
        self.signal = signal
        self.stderr_tail = stderr_tail
        self.stderr_truncated = stderr_truncated
        self.stdout = stdout
        self.stderr = stderr
        self.start_error = start_error
        self.forwarded = forwarded if forwarded is not None else []
        # The last bytes of stdout for the classifier, when they were seen (captured, relayed
        # from a pipe, or read back from a file after a failure; never from a terminal).
        self.stdout_tail = stdout_tail if stdout_tail is not None or stdout is None else stdout[-STDOUT_TAIL_BYTES:]

    def __repr__(self) -> str:
        return f"Execution(returncode={self.returncode}, outcome={self.outcome!r}, pid={self.pid})"


class _Tail:
    """Keeps the last ``cap`` bytes of a stream (amortised: trims when twice the cap)."""

    __slots__ = ("buf", "cap", "truncated")

    def __init__(self, cap: int) -> None:
        self.buf = bytearray()
        self.cap = cap
        self.truncated = False

    def add(self, data: bytes) -> None:
        if len(data) >= self.cap:  # a full chunk replaces the tail: no copy of what it drops
            self.truncated = self.truncated or len(data) > self.cap or bool(self.buf)
            self.buf[:] = data[-self.cap:]
            return
        self.buf += data
        if len(self.buf) > 2 * self.cap:
            del self.buf[: len(self.buf) - self.cap]
            self.truncated = True

    def value(self) -> bytes:
        if len(self.buf) > self.cap:
            self.truncated = True
            return bytes(self.buf[-self.cap:])
        return bytes(self.buf)


def _write_all(fd: int, data: bytes | memoryview) -> bool:
    """Relay to our own stream; a closed or broken stream must not stop us draining the child."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        except OSError:
            return False
        view = view[n:]
    return True


def _start_error(exc: OSError, argv0: str) -> tuple[int, str]:
    if isinstance(exc, FileNotFoundError) or exc.errno in (errno.ENOENT, errno.ENOTDIR):
        if exc.filename and os.sep not in argv0 and exc.filename == argv0:
            return 127, f"{argv0}: command not found"
        return 127, f"{argv0}: No such file or directory"
    return 126, f"{argv0}: {exc.strerror or exc}"


def _open_pty_for_stderr() -> tuple[int, int] | None:
    """(master, slave) with the terminal's size, raw output on the slave; None if unavailable."""
    try:
        import fcntl
        import pty
        import termios

        master, slave = pty.openpty()
        try:
            size = fcntl.ioctl(2, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
        except OSError:
            pass
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST  # no \n -> \r\n translation: relay bytes unchanged
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        return master, slave
    except (OSError, ImportError):
        return None


def execute(
    argv: Sequence[str],
    *,
    cwd: str | None = None,
    env: Mapping[Any, Any] | None = None,
    timeout: float | None = None,
    capture_output: bool = False,
    stdin: int | IO[Any] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    forward_signals: bool = False,
    tail_bytes: int = TAIL_BYTES,
    on_start: Callable[[int], None] | None = None,
    start_new_session: bool = False,
) -> Execution:
    """Run ``argv`` to completion. Never raises for the child's failures; see the module doc."""
    start_ns = time.time_ns()
    relay_stderr = not capture_output and stderr is None
    # Our own stdout, when the child inherits it: a terminal is left alone, a regular file too
    # (its tail is read back after a failure), a pipe or socket is relayed (the child sees a pipe).
    # A regular file the caller gives (``stdout=f``) is treated like ours: read back, never relayed.
    out_fd = 1 if stdout is None else _fileno(stdout)
    out_kind = _kind(out_fd) if not capture_output and out_fd >= 0 else None
    if stdout is not None and out_kind != "file":
        out_kind = None
    out_start = _file_start(out_fd) if out_kind == "file" else None
    # ``2>&1``: our stdout and stderr are one file. Into a regular file the child writes both
    # itself (bare order, bare file) and the tail is read back; otherwise the child writes both
    # into the relay, so their order is kept, and the tail the classifier reads holds both.
    # (Not on a terminal: a full-screen program must keep the real terminal as its stdout.)
    same = relay_stderr and stdout is None and out_kind != "tty" and _same_file(1, 2)
    merged_file = same and out_start is not None and _readable(1)
    if merged_file:
        relay_stderr = False
    merged = same and not merged_file
    # stderr into a regular file (``2>log``, or ``stderr=f``): the child writes it itself, as
    # bare, and after a failure the tail is read back, as for stdout. Relayed when unreadable.
    err_fd = -1 if capture_output or same else 2 if relay_stderr else _fileno(stderr)
    err_start = _file_start(err_fd) if err_fd >= 0 and _kind(err_fd) == "file" and _readable(err_fd) else None
    if err_start is not None:
        relay_stderr = False
    relay_stdout = out_kind == "pipe" and not merged
    pty_pair = _open_pty_for_stderr() if relay_stderr and _isatty(2) else None
    relays: list[_Relay] = []
    ends: list[int] = []  # the child's ends, closed here once it has them
    err_w = out_w = -1
    if relay_stderr:
        err_r, err_w = pty_pair if pty_pair else os.pipe()
        relays.append(_Relay(err_r, 2, tail_bytes))
        ends.append(err_w)
    if relay_stdout:
        try:
            out_r, out_w = os.pipe()
        except OSError:  # out of descriptors: the child writes to our stdout itself
            relay_stdout = False
        else:
            relays.append(_Relay(out_r, 1, STDOUT_TAIL_BYTES))
            ends.append(out_w)
    try:
        child: Child = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,  # str or bytes mapping, passed to Popen as is (no copy)
            stdin=stdin,
            stdout=subprocess.PIPE if capture_output else (err_w if merged else out_w if relay_stdout else stdout),
            stderr=subprocess.PIPE if capture_output else (err_w if relay_stderr else stderr),
            start_new_session=start_new_session,
            # Under a timeout the child leads its own process group, so the kill reaches the
            # whole tree it started (like timeout(1)).
            process_group=0 if timeout is not None and not start_new_session else None,
        )
    except OSError as exc:
        for relay in relays:
            os.close(relay.fd)
        code, message = _start_error(exc, str(argv[0]) if argv else "")
        return Execution(code, ERROR, start_ns, time.time_ns(), start_error=message)
    finally:
        for fd in ends:
            os.close(fd)
    forwarded: list[int] = []
    group = timeout is not None and not start_new_session
    foreground = _give_terminal(child.pid) if group else None  # job control keeps working
    # Forwarding first: a signal during on_start (the caller's bookkeeping) must reach the child.
    restore = _install_forwarding(child, forwarded, group) if forward_signals else None
    deadline = time.monotonic() + timeout if timeout is not None else None  # on_start's time counts
    try:
        if on_start is not None:
            on_start(child.pid)
        timed_out, captured = _pump(child, relays, capture_output, deadline, group)
    finally:
        if restore is not None:
            restore()
        if foreground is not None:
            _take_terminal_back(foreground)
        for relay in relays:
            if not relay.closed:
                os.close(relay.fd)
    rc = child.returncode
    assert rc is not None  # _pump waited for it
    end_ns = time.time_ns()
    sig = -rc if rc < 0 else None
    code = 128 + sig if sig else rc
    if timed_out:
        outcome, code = TIMEOUT, 124
    elif (sig in _INTERRUPTS) or (forwarded and code != 0 and any(s in _INTERRUPTS for s in forwarded)):
        outcome = INTERRUPTED
    elif code == 0:
        outcome = SUCCESS
    else:
        outcome = FAILURE
    err_tail = relays[0].tail if relay_stderr else None
    out_tail: bytes | None = None
    if relay_stdout:
        out_tail = relays[-1].tail.value()
    elif merged and err_tail is not None:
        out_tail = err_tail.value()
    elif out_start is not None and outcome != SUCCESS:
        # Only a failure is classified: a success never reads its output file back.
        out_tail = _file_tail(out_fd, out_start, tail_bytes if merged_file else STDOUT_TAIL_BYTES)
        if merged_file and out_tail is not None:
            err_tail = _Tail(tail_bytes)
            err_tail.add(out_tail)
    if err_start is not None and outcome != SUCCESS:
        err_tail = _Tail(tail_bytes)
        err_tail.add(_file_tail(err_fd, err_start, tail_bytes + 1) or b"")  # +1: truncated or not
    stderr_bytes = captured[1] if capture_output else None
    if capture_output and stderr_bytes is not None:
        err_tail = _Tail(tail_bytes)
        err_tail.add(stderr_bytes)
    return Execution(
        returncode=code,
        outcome=outcome,
        start_ns=start_ns,
        end_ns=end_ns,
        pid=child.pid,
        signal=sig,
        stderr_tail=err_tail.value() if err_tail else b"",
        stderr_truncated=bool(err_tail and err_tail.truncated),
        stdout=captured[0] if capture_output else None,
        stderr=stderr_bytes,
        forwarded=forwarded,
        stdout_tail=out_tail,
    )


class _Relay:
    """One stream relayed from the child's pipe (``fd``) to ours (``dest``), its tail kept."""

    __slots__ = ("fd", "dest", "tail", "closed")

    def __init__(self, fd: int, dest: int, cap: int) -> None:
        self.fd = fd
        self.dest = dest
        self.tail = _Tail(cap)
        self.closed = False  # the read end was closed here (our reader went away, or handed on)


def _kind(fd: int) -> str | None:
    """What our ``fd`` is, for what the runner does with it: "tty", "file" (regular), "pipe"
    (a pipe or a socket), or None (anything else: /dev/null, a closed descriptor)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "pipe"
    return "tty" if stat.S_ISCHR(mode) and _isatty(fd) else None


def _file_start(fd: int) -> int | None:
    """Where the child's first byte to our regular-file ``fd`` will land: the end of the file
    when it is opened to append (``>>``), else the shared offset; None if it cannot be told."""
    try:
        if _fcntl().fcntl(fd, _fcntl().F_GETFL) & os.O_APPEND:
            return os.fstat(fd).st_size
        return os.lseek(fd, 0, os.SEEK_CUR)
    except OSError:
        return None


def _fileno(stream: int | IO[Any] | None) -> int:
    """The descriptor a caller's ``stdout=``/``stderr=`` names, or -1 (PIPE, DEVNULL, None)."""
    if isinstance(stream, int):
        return stream
    try:
        return stream.fileno() if stream is not None else -1
    except (AttributeError, OSError, ValueError):
        return -1


def _readable(fd: int) -> bool:
    try:
        return os.access(f"/proc/self/fd/{fd}", os.R_OK)
    except (OSError, ValueError):
        return False


def _file_tail(fd: int, start: int, cap: int) -> bytes | None:
    """The last ``cap`` bytes the child wrote to our regular-file ``fd`` since ``start``: the
    descriptor's offset is shared with the child, so it ends where the child's last write did.
    Read through a read-only reopening (``/proc/self/fd``), else ``fd`` itself when it is open
    for reading too; None when neither can read it."""
    try:
        end = os.lseek(fd, 0, os.SEEK_CUR)
        if end <= start:
            return b""
        begin = max(start, end - cap)
        target = os.fstat(fd)
    except OSError:
        return None
    reader = -1
    try:
        reader = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
        seen = os.fstat(reader)
        if (seen.st_dev, seen.st_ino) != (target.st_dev, target.st_ino):
            os.close(reader)
            reader = -1
    except OSError:
        reader = -1
    try:
        return _pread_all(reader if reader >= 0 else fd, end - begin, begin)
    except OSError:
        return None
    finally:
        if reader >= 0:
            os.close(reader)


def _pread_all(fd: int, size: int, offset: int) -> bytes:
    parts = []
    while size > 0:
        data = os.pread(fd, size, offset)
        if not data:
            break
        parts.append(data)
        size -= len(data)
        offset += len(data)
    return b"".join(parts)


def _fcntl() -> Any:
    import fcntl

    return fcntl


def _same_file(a: int, b: int) -> bool:
    try:
        sa, sb = os.fstat(a), os.fstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _give_terminal(pgid: int) -> int | None:
    """Make the child's process group the terminal's foreground group when ours is (a timed
    command in its own group must still read the terminal and get Ctrl-C); returns ours."""
    try:
        ours = os.getpgrp()
        if os.tcgetpgrp(0) != ours:
            return None
        with _ignoring(signal.SIGTTOU):
            os.tcsetpgrp(0, pgid)
        return ours
    except OSError:
        return None


def _take_terminal_back(pgid: int) -> None:
    try:
        with _ignoring(signal.SIGTTOU):
            os.tcsetpgrp(0, pgid)
    except OSError:
        pass


class _ignoring:
    """Ignore a signal inside the block (a background group may set the terminal's foreground
    group only with SIGTTOU ignored); only on the main thread, where handlers can be set."""

    def __init__(self, sig: int) -> None:
        self.sig = sig
        self.old: Any = None

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(self.sig, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        if self.old is not None:
            signal.signal(self.sig, self.old)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _pump(
    child: Child,
    relays: list[_Relay],
    capture: bool,
    deadline: float | None,
    group: bool = False,
) -> tuple[bool, tuple[bytes | None, bytes | None]]:
    """Relay/collect output until the child exits; kill it (its process group with ``group``)
    at the (monotonic) deadline. A relay whose reader went away (EPIPE on our stream) has its
    read end closed here, so the child's next write gets EPIPE/SIGPIPE, as it would bare."""
    sinks: dict[int, Callable[[bytes], None]] = {}
    chunks: dict[int, list[bytes]] = {}
    by_fd = {relay.fd: relay for relay in relays}
    clock = _Clock(child, deadline, group)
    for relay in relays:
        # Under a deadline a write to a stalled reader must not keep the timeout from firing.
        sinks[relay.fd] = _relay_sink(relay, clock.tick if deadline is not None else None)
    if capture:
        for stream in (child.stdout, child.stderr):
            fd = stream.fileno()  # type: ignore[union-attr]
            chunks[fd] = []
            sinks[fd] = chunks[fd].append
    # With output to watch, its end normally tells the exit (a child's descriptors close as it
    # exits): the pidfd, one more descriptor to close after the exit, is opened only for a child
    # that outlives the first wait or a grandchild that keeps the output open.
    pidfd = -1 if sinks else _pidfd(child.pid)
    poller = select.poll()
    for fd in sinks:
        poller.register(fd, select.POLLIN)
    if pidfd >= 0:
        poller.register(pidfd, select.POLLIN)
    try:
        while True:
            wait_ms = _wait_ms(deadline, clock.killed_at, pidfd)
            try:
                events = poller.poll(wait_ms)
            except InterruptedError:
                events = []
            exited = False
            for fd, ev in events:
                if fd == pidfd:
                    exited = True
                    continue
                # A hang-up with nothing to read is the end of the stream: no read to learn it.
                try:
                    more = bool(ev & select.POLLIN) and _read_into(fd, sinks[fd])
                except _ReaderGone:
                    more = False
                    _close_relay(by_fd[fd])
                if not more:
                    poller.unregister(fd)
                    del sinks[fd]
            if not sinks and deadline is None:
                # Output closed (the child's exit closes it a moment before it can be reaped):
                # nothing left to watch but the exit itself, so wait for it without another poll.
                exited = True
            elif pidfd < 0 and child.poll() is not None:
                exited = True
            elif pidfd < 0:
                pidfd = _pidfd(child.pid)
                if pidfd >= 0:
                    poller.register(pidfd, select.POLLIN)
            # No output left and no pidfd (a Python or kernel without pidfd_open): block in
            # wait() only when no deadline has to be kept; else poll the child every 20 ms.
            if exited or (not sinks and pidfd < 0 and deadline is None):
                if capture:
                    # Pipes we capture are ours alone: read them to EOF as subprocess.run does.
                    for fd in list(sinks):
                        while _read_into(fd, sinks[fd]):
                            pass
                else:
                    gone, held = _drain(sinks)
                    for fd in gone:
                        _close_relay(by_fd[fd])
                    for fd in held:
                        if not (clock.timed_out and group):  # else the kill below ends the writers
                            _hand_on(by_fd[fd])
                child.wait()
                break
            clock.tick()
    finally:
        if pidfd >= 0:
            os.close(pidfd)
    captured: tuple[bytes | None, bytes | None] = (None, None)
    if capture:
        out_fd = child.stdout.fileno()  # type: ignore[union-attr]
        err_fd = child.stderr.fileno()  # type: ignore[union-attr]
        captured = (b"".join(chunks[out_fd]), b"".join(chunks[err_fd]))
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]
    if clock.timed_out and group:  # what the group started and left behind goes with it
        _signal(child, signal.SIGKILL, group)
    return clock.timed_out, captured


class _Clock:
    """The deadline: TERM (to the group with ``group``) when it passes, KILL after the grace."""

    __slots__ = ("child", "deadline", "group", "killed_at", "timed_out")

    def __init__(self, child: Child, deadline: float | None, group: bool) -> None:
        self.child, self.deadline, self.group = child, deadline, group
        self.timed_out = False
        self.killed_at: float | None = None

    def tick(self) -> None:
        now = time.monotonic()
        if self.deadline is not None and not self.timed_out and now >= self.deadline:
            self.timed_out = True
            self.killed_at = now
            _signal(self.child, signal.SIGTERM, self.group)
        elif self.killed_at is not None and now - self.killed_at >= KILL_GRACE_S:
            _signal(self.child, signal.SIGKILL, self.group)
            self.killed_at = float("inf")


def _relay_sink(relay: _Relay, tick: Callable[[], None] | None) -> Callable[[bytes], None]:
    tail, dest = relay.tail, relay.dest
    nowait = [tick is not None and _NOWAIT]

    def sink(data: bytes) -> None:
        tail.add(data)
        view = memoryview(data)
        if nowait[0] and tick is not None:
            left = _write_nowait(dest, view, tick)
            if left is None:
                raise _ReaderGone
            if left:  # a tty, a socket, an older kernel: written as without a deadline
                nowait[0] = False
            view = left
        if view and not _write_all(dest, view):
            raise _ReaderGone

    return sink


def _write_nowait(fd: int, view: memoryview, tick: Callable[[], None]) -> memoryview | None:
    """Write without ever blocking in the kernel (``RWF_NOWAIT``: our descriptor's flags are
    shared with other processes and stay as they are), calling ``tick`` while the reader
    stalls, so a deadline still fires. Returns what is left when the kernel cannot write this
    descriptor so (empty when all was written), None when the reader is gone."""
    while view:
        try:
            n = os.pwritev(fd, [view], -1, os.RWF_NOWAIT)
        except InterruptedError:
            continue
        except BlockingIOError:
            select.select([], [fd], [], 0.1)
            tick()
            continue
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ESPIPE, errno.ENOSYS):
                return view
            return None
        view = view[n:]
    return view


_NOWAIT = hasattr(os, "RWF_NOWAIT") and hasattr(os, "pwritev")


def _close_relay(relay: _Relay) -> None:
    if not relay.closed:
        relay.closed = True
        os.close(relay.fd)


class _ReaderGone(Exception):
    """Our stream's reader is gone (EPIPE): stop relaying, so the child learns it too."""


def _wait_ms(deadline: float | None, killed_at: float | None, pidfd: int) -> int:
    if killed_at is not None:
        wait = 100 if killed_at != float("inf") else -1
    elif deadline is None:
        wait = -1
    else:
        wait = max(0, int((deadline - time.monotonic()) * 1000) + 1)
    if pidfd < 0:  # no pidfd (yet): look at the child now and then
        return 20 if wait < 0 else min(wait, 20)
    return wait


def _read_into(fd: int, sink: Callable[[bytes], None]) -> bool:
    try:
        data = os.read(fd, _READ)
    except InterruptedError:
        return True
    except OSError:  # EIO: the pty's last writer closed
        return False
    if not data:
        return False
    sink(data)
    return True


def _drain(sinks: dict[int, Callable[[bytes], None]]) -> tuple[list[int], list[int]]:
    """After the child exited: take what is already buffered, never wait for grandchildren.
    Returns the relays whose reader went away meanwhile, and those still open for writing (a
    grandchild has them)."""
    gone, held = [], []
    for fd, sink in sinks.items():
        try:
            while True:
                ready, _, _ = select.select([fd], [], [], 0)
                if not ready:
                    held.append(fd)
                    break
                if not _read_into(fd, sink):
                    break
        except _ReaderGone:
            gone.append(fd)
    return gone, held


def _hand_on(relay: _Relay) -> None:
    """A grandchild still writes into the relay after the child exited (``server &``): bare, it
    would write to our stream itself. ``cat`` carries on relaying until the last writer or our
    reader goes (then the grandchild gets EPIPE/SIGPIPE as bare), so we need not wait for it;
    in a session of its own, like a background job it outlives our terminal's signals."""
    try:
        proc = subprocess.Popen(["cat"], stdin=relay.fd, stdout=relay.dest, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError:
        return  # no cat: the read end closes with us, as before
    # Not waited for; kept referenced (no "still running" warning) and reaped by a later call.
    _HANDED_ON[:] = [p for p in _HANDED_ON if p.poll() is None]
    _HANDED_ON.append(proc)


_HANDED_ON: list[Child] = []


def _pidfd(pid: int) -> int:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return -1
    try:
        return opener(pid)
    except OSError:
        return -1


def _signal(child: Child, sig: int, group: bool = False) -> None:
    try:
        if group:
            os.killpg(child.pid, sig)
        else:
            child.send_signal(sig)
    except (ProcessLookupError, OSError):
        pass


def _install_forwarding(child: Child, forwarded: list[int], group: bool = False) -> Callable[[], None] | None:
    """Forward signals to the child (its process group with ``group``) while it runs; returns
    the function that restores handlers."""
    if threading.current_thread() is not threading.main_thread():
        return None
    same_group = _same_foreground_group() and not group

    def handler(signum: int, _frame: object) -> None:
        if signum == signal.SIGWINCH:
            _signal(child, signum, group)
            return
        forwarded.append(signum)
        if signum in (signal.SIGINT, signal.SIGQUIT) and same_group:
            return  # the terminal already delivered it to the child
        _signal(child, signum, group)

    previous = {}
    for sig in _FORWARDED:
        try:
            previous[sig] = signal.signal(sig, handler)
        except (OSError, ValueError):
            pass

    def restore() -> None:
        for sig, old in previous.items():
            try:
                signal.signal(sig, old)
            except (OSError, ValueError, TypeError):
                pass

    return restore


def _same_foreground_group() -> bool:
    """Is our process group the terminal's foreground group (so Ctrl-C hits the child too)?"""
    for fd in (0, 1, 2):
        try:
            return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


def shell_argv(command: str, shell: str | None = None) -> list[str]:
    """The argv that runs ``command`` through a shell (``/bin/sh`` like subprocess by default)."""
    return [shell or "/bin/sh", "-c", command]


def default_interactive_shell() -> str:
    """bash when present (agents' shell and the guard's reference shell), else /bin/sh."""
    for candidate in ("/bin/bash", "/usr/bin/bash"):
        if os.access(candidate, os.X_OK):
            return candidate
    return "/bin/sh"


if sys.platform == "win32":  # pragma: no cover
    raise ImportError("cmdscope._runner supports POSIX systems only")
