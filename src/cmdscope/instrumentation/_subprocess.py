"""``subprocess.Popen`` (and so run, call, check_call, check_output, os.popen, asyncio).

The record opens in ``Popen.__init__`` (the child's environment gets the propagation
variables) and is finished by whichever call reaps the child: ``_handle_exitstatus`` is the one
place every ``wait``/``poll``/``communicate``/``__del__`` path hands the exit status to, and the
record is popped from the instance atomically, so it is finished exactly once. ``run`` ->
``Popen`` is one child and one record.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import weakref
from collections.abc import Callable
from typing import Any

from cmdscope import _pipeline as pipeline
from cmdscope.instrumentation import _records

_ATTR = "_cmdscope_pending"
_SIGNATURE = inspect.signature(subprocess.Popen.__init__)
# Children started while instrumented and not reaped yet (weak: never keep a Popen or its pipes alive).
_tracked: weakref.WeakSet[subprocess.Popen[Any]] = weakref.WeakSet()


def popen_init(wrapped: Callable[..., None], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if not _records.active():
        return wrapped(*args, **kwargs)
    call = _bind(instance, args, kwargs)
    if call is None:  # not a valid call: let Popen raise its own TypeError
        return wrapped(*args, **kwargs)
    from cmdscope._api import CommandDenied

    try:
        pending = _records.begin(_spec(call))
    except CommandDenied:
        raise
    except Exception as exc:  # noqa: BLE001 - observability never breaks the host
        _records.internal_error("subprocess.Popen", exc)
        return wrapped(*args, **kwargs)
    call["env"] = _records.child_environ(call.get("env"), pending.additions)
    try:
        wrapped(**call)
    except OSError as exc:  # could not start: recorded like the shell's 127/126, then raised as ever
        _finish(pending, None, None, exc)
        raise
    instance.__dict__[_ATTR] = pending
    _tracked.add(instance)


def handle_exitstatus(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    finish_popen(instance, instance.returncode)
    return result


def mark_timeout(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``wait``/``communicate``: remember a timeout, so a child killed after it reads ``timeout``."""
    try:
        return wrapped(*args, **kwargs)
    except subprocess.TimeoutExpired:
        pending = instance.__dict__.get(_ATTR)
        if pending is not None:
            pending.timed_out = True
        raise


def finish_popen(popen: Any, returncode: int | None) -> None:
    """Finish the record of a reaped child, once: the first caller pops it."""
    pending = popen.__dict__.pop(_ATTR, None)
    if pending is not None and returncode is not None:
        _finish(pending, returncode, popen.pid, None)


def finish_reaped() -> None:
    """Record children that were reaped where no hook saw it (``poll()`` with SIGCHLD ignored),
    and reap those that exited; used at uninstrument and at interpreter exit."""
    candidates = list(_tracked) + list(getattr(subprocess, "_active", None) or [])
    for popen in candidates:
        if _ATTR not in popen.__dict__:
            continue
        try:
            if popen.returncode is None:
                popen.poll()
        except Exception:  # noqa: BLE001, S112 - a child we cannot poll stays pending
            continue
        finish_popen(popen, popen.returncode)


def _finish(pending: _records.Pending, returncode: int | None, pid: int | None, start_error: OSError | None) -> None:
    try:
        _records.finish(pending, returncode, pid=pid, start_error=start_error)
    except Exception as exc:  # noqa: BLE001 - reported by internal_error
        _records.internal_error("subprocess.Popen", exc)


def _bind(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The call as keyword arguments (``Popen(args, ...)`` positionally is the common case)."""
    if len(args) <= 1 and "args" not in kwargs:
        if not args:
            return None
        call = dict(kwargs)
        call["args"] = args[0]
        return call
    try:
        bound = _SIGNATURE.bind(instance, *args, **kwargs)
    except TypeError:
        return None
    call = dict(bound.arguments)
    del call["self"]
    return call


def _spec(call: dict[str, Any]) -> pipeline.CommandSpec:
    cmd = call["args"]
    single = isinstance(cmd, (str, bytes, os.PathLike))
    if not single and not isinstance(cmd, (list, tuple)):
        cmd = call["args"] = list(cmd)  # Popen does list(args) too; don't let us consume an iterator
    shell = bool(call.get("shell", False))
    cwd = call.get("cwd")
    if shell:
        command: Any = _records.text(cmd if single else cmd[0])
    else:
        command = [_records.text(cmd)] if single else [_records.text(a) for a in cmd]
    return pipeline.CommandSpec(
        command=command,
        shell=shell,
        shell_path=_records.text(call.get("executable") or "/bin/sh") if shell else None,
        cwd=_records.text(cwd) if cwd is not None else None,
        env=_records.str_env(call.get("env")),
    )
