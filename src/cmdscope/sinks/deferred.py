"""Telemetry work that may finish after ``cmdscope.run`` returns: metric measurements, and
span ends when the span processors batch anyway.

Recording a counter and a histogram in the OTel SDK costs ~50 us per command, ending a span
about as much: together most of the budget the in-process benchmark allows. So the work is
queued here and done while the *next* command's child runs (``run_pending`` from the runner's
start callback), when the calling thread would otherwise just wait. A background thread is not
woken per command: a thread woken while the caller holds the GIL takes it at the caller's next
system call and stalls the caller for its whole work item (measured: it cost more than doing
the work inline). The thread only sweeps up what is left once commands stop for ``IDLE_S``.

What stays synchronous: the ledger line (the record of truth), a denial's telemetry, and the
span's end whenever a span processor other than ``BatchSpanProcessor`` would see the delay
(``SpanHandle.can_end_later``). A batch processor exports from its own thread anyway, and
metrics are collected on the reader's schedule. ``flush()`` hands everything queued over; it
runs from ``cmdscope.flush()``, from the host's own ``force_flush()`` / ``shutdown()`` of the
providers involved (``otel.flush_first``) and at exit before the SDK's own shutdown. Nothing is
dropped: past ``MAX_PENDING`` the caller does the work inline, and a forked child starts with
an empty queue (the parent hands over its own).
"""

from __future__ import annotations

import atexit
import collections
import os
import threading
import time
TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

if TYPE_CHECKING:
    from typing import Any, Callable

MAX_PENDING = 10_000
BACKLOG = 32  # past this many queued, the caller records one per command itself (backpressure)
IDLE_S = 0.05

_pending: collections.deque[tuple[Callable[..., None], tuple[Any, ...]]] = collections.deque()
_running = threading.Lock()  # held while an item runs, so flush() can wait for one in flight
_has_work = threading.Event()
_thread: threading.Thread | None = None
_start_lock = threading.Lock()
_on_error: Callable[[str, BaseException], None] | None = None


def submit(fn: Callable[..., None], *args: Any) -> None:
    """Record ``fn(*args)`` soon: during the next child's run, or within ``IDLE_S``."""
    if len(_pending) >= MAX_PENDING or (_thread is None and not _start()):
        _call(fn, args)
        return
    _pending.append((fn, args))
    if not _has_work.is_set():
        _has_work.set()


def run_pending(limit: int = 64, stop: Callable[[], bool] | None = None, wait: bool = False) -> None:
    """Record up to ``limit`` queued items on this thread, while ``stop()`` is false (the
    runner passes "has the child exited?": the time is free only while it runs). Without
    ``wait``, returns at once when another thread is recording an item (never waits on it)."""
    popleft = _pending.popleft
    running = _running
    for _ in range(limit):
        if stop is not None and stop():
            return
        if not running.acquire(wait):
            return
        try:
            try:
                item = popleft()
            except IndexError:
                return
            _call(*item)
        finally:
            running.release()


def relieve() -> None:
    """Backpressure: when commands come faster than their windows absorb the queue, the caller
    records one queued item per command, so the backlog stays bounded."""
    if len(_pending) > BACKLOG:
        run_pending(1, wait=True)


def flush(timeout: float | None = 5.0) -> bool:
    """Record everything queued so far (on this thread). True when nothing is left."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while _pending:
        run_pending(1024, wait=True)
        if deadline is not None and time.monotonic() > deadline:
            return not _pending
    acquired = _running.acquire(timeout=-1 if timeout is None else max(0.0, timeout))
    if acquired:  # an item the sweeper took before we looked has finished
        _running.release()
    return acquired and not _pending


def set_error_handler(handler: Callable[[str, BaseException], None]) -> None:
    global _on_error
    _on_error = handler


def move_flush_last() -> None:
    """Make our exit-time flush run before the handlers registered so far (atexit is LIFO):
    called when a new SDK provider appears, whose own shutdown handler was just registered."""
    atexit.unregister(_flush_at_exit)
    atexit.register(_flush_at_exit)


def _flush_at_exit() -> None:
    flush(5.0)


def _start() -> bool:
    global _thread
    with _start_lock:
        if _thread is not None:
            return True
        try:
            thread = threading.Thread(target=_sweep, name="cmdscope-telemetry", daemon=True)
            thread.start()
        except RuntimeError:  # interpreter shutting down
            return False
        _thread = thread
        move_flush_last()
        return True


def _sweep() -> None:
    """Record what the callers left behind once they stop running commands."""
    while True:
        _has_work.wait()
        time.sleep(IDLE_S)  # a command running meanwhile takes the items itself
        run_pending(1024, wait=True)
        if not _pending:
            _has_work.clear()
            if _pending:  # submitted between the check and the clear
                _has_work.set()


def _call(fn: Callable[..., None], args: tuple[Any, ...]) -> None:
    try:
        fn(*args)
    except Exception as exc:  # a failing sink is counted, never raised into the caller
        if _on_error is not None:
            try:
                _on_error(getattr(fn, "__qualname__", "telemetry"), exc)
            except Exception:
                pass


def _after_fork_in_child() -> None:
    global _pending, _running, _has_work, _thread, _start_lock
    _pending = collections.deque()
    _running = threading.Lock()
    _has_work = threading.Event()
    _thread = None
    _start_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
