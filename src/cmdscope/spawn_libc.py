"""``posix_spawnp`` through libc, with glibc's "close every descriptor from 3" file action.

Why: ``os.posix_spawnp`` (Python < 3.13) cannot close descriptors above 2 in the child, so
``spawn.py`` lists ``/proc/self/fd`` and adds one close per inheritable descriptor: ~15 us
alone, 40-80 us per command in a loop of commands (bench/bench_inprocess.py). glibc >= 2.34 has
``posix_spawn_file_actions_addclosefrom_np``: the child closes them all with one
``close_range``, which is what ``Popen(close_fds=True)`` does too.

Used only when ctypes is loaded already or the process keeps spawning (``spawn.py`` decides):
importing ctypes costs ~5 ms, more than a one-command ``cmdscope run`` process would save.

Costs are kept off the per-command path: the spawn attributes are built once, the file actions
once per distinct stderr descriptor, and the environment's C array once per distinct
environment; a command changes only the ``TRACEPARENT`` slot of it. Anything unusual (a NUL
byte, a ``=`` in a name, a non-bytes mapping) returns None and the caller takes
``os.posix_spawnp``, which raises Python's own error for it.
"""

from __future__ import annotations

import ctypes
import os
import threading
TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

if TYPE_CHECKING:
    from typing import Any, Mapping, Sequence

# <spawn.h> flags (glibc; the same on every architecture).
_SETSIGDEF = 0x04
_SETSID = 0x80
_BUFFER = 1024  # bytes for an opaque posix_spawn*_t: 80 and 336 on x86-64 glibc, never above 1024


class LibcSpawn:
    """One per process; thread-safe (a command's slot in the shared environment array is
    written under a lock; a second thread spawning meanwhile builds its own array)."""

    def __init__(self, libc: Any, reset_signals: Sequence[int]) -> None:
        self._libc = libc
        self._spawnp = libc.posix_spawnp
        self._spawnp.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_char_p, ctypes.c_void_p,
                                 ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self._spawnp.restype = ctypes.c_int
        self._attrs = {setsid: self._attr(reset_signals, setsid) for setsid in (False, True)}
        self._actions: dict[tuple[int, ...], Any] = {}
        self._lock = threading.Lock()
        # (environment without TRACEPARENT, its C array, index of the TRACEPARENT slot, keepalive)
        self._env: tuple[dict[bytes, bytes], Any, int, list[bytes]] | None = None

    def _attr(self, reset_signals: Sequence[int], setsid: bool) -> Any:
        libc = self._libc
        attr = ctypes.create_string_buffer(_BUFFER)
        sigset = ctypes.create_string_buffer(_BUFFER)
        _check(libc.posix_spawnattr_init(attr))
        _check(libc.sigemptyset(sigset))
        for sig in reset_signals:
            _check(libc.sigaddset(sigset, int(sig)))
        _check(libc.posix_spawnattr_setsigdefault(attr, sigset))
        _check(libc.posix_spawnattr_setflags(attr, ctypes.c_short(_SETSIGDEF | (_SETSID if setsid else 0))))
        return attr

    def _file_actions(self, dups: tuple[int, ...]) -> Any:
        """dup2(dups[0], 1)-style pairs flattened (source, target, ...), then close from 3."""
        actions = self._actions.get(dups)
        if actions is None:
            libc = self._libc
            actions = ctypes.create_string_buffer(_BUFFER)
            _check(libc.posix_spawn_file_actions_init(actions))
            for i in range(0, len(dups), 2):
                _check(libc.posix_spawn_file_actions_adddup2(actions, dups[i], dups[i + 1]))
            _check(libc.posix_spawn_file_actions_addclosefrom_np(actions, 3))
            if len(self._actions) < 16:  # descriptor numbers repeat: a few entries at most
                self._actions[dups] = actions
        return actions

    def spawn(self, argv: Sequence[str], env: Mapping[Any, Any], dups: tuple[int, ...], setsid: bool) -> int | None:
        """The child's pid; None when this path cannot take the call (see the module doc)."""
        try:
            args = [os.fsencode(a) for a in argv]
        except TypeError:
            return None
        if any(b"\0" in a for a in args):
            return None
        arg_array = (ctypes.c_char_p * (len(args) + 1))(*args)
        actions = self._file_actions(dups)
        attr = self._attrs[setsid]
        pid = ctypes.c_int()
        if self._lock.acquire(False):
            try:
                envp = self._shared_env(env)
                if envp is None:
                    return None
                err = self._spawnp(ctypes.byref(pid), args[0], actions, attr, arg_array, envp)
            finally:
                self._lock.release()
        else:
            built = _build_env(env, spare_slot=False)
            if built is None:
                return None
            err = self._spawnp(ctypes.byref(pid), args[0], actions, attr, arg_array, built[0])
        if err:
            raise OSError(err, os.strerror(err), argv[0])
        return pid.value

    def _shared_env(self, env: Mapping[Any, Any]) -> Any:
        """The cached C array when ``env`` differs from the last one only in TRACEPARENT."""
        if type(env) is not dict:
            return None
        rest = env.copy()
        traceparent = rest.pop(b"TRACEPARENT", None)
        if traceparent is not None and b"\0" in traceparent:
            return None
        cached = self._env
        if cached is None or cached[0] != rest:
            built = _build_env(rest, spare_slot=True)
            if built is None:
                return None
            array, keep = built
            cached = self._env = (rest, array, len(keep), keep)
        array, slot = cached[1], cached[2]
        array[slot] = b"TRACEPARENT=" + traceparent if traceparent is not None else None
        return array


def _build_env(env: Mapping[Any, Any], spare_slot: bool) -> tuple[Any, list[bytes]] | None:
    """(C array of b"NAME=value", the entries), with one free slot before the terminating NULL
    when asked (``TRACEPARENT``'s); None for a non-bytes mapping or an entry C cannot carry."""
    entries = []
    for key, value in env.items():
        if type(key) is not bytes or type(value) is not bytes or not key or b"=" in key \
                or b"\0" in key or b"\0" in value:
            return None
        entries.append(key + b"=" + value)
    slots = len(entries) + spare_slot + 1
    return (ctypes.c_char_p * slots)(*entries), entries


def _check(rc: int) -> None:
    if rc != 0:
        raise OSError(rc, "posix_spawn setup failed")


def load(reset_signals: Sequence[int]) -> LibcSpawn | None:
    """The spawner, or None when libc lacks the closefrom action (not glibc, or glibc < 2.34)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if not hasattr(libc, "posix_spawn_file_actions_addclosefrom_np"):
            return None
        return LibcSpawn(libc, reset_signals)
    except (OSError, AttributeError):
        return None
