"""``os.system``: one record per call; the shell's status is returned unchanged.

``os.system`` has no ``env`` argument and the process environment is shared by all threads,
so the propagation variables travel as an ``export ...;`` prefix on the same line of the
command the shell runs (same line: the shell's line numbers in messages stay the same).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from typing import Any

from cmdscope import _pipeline as pipeline
from cmdscope.instrumentation import _records

_SHELL = "/bin/sh"  # what os.system runs on POSIX


def system(wrapped: Callable[..., int], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    if not _records.active() or len(args) + len(kwargs) != 1:
        return wrapped(*args, **kwargs)
    command = args[0] if args else kwargs.get("command")
    if not isinstance(command, (str, bytes, os.PathLike)):
        return wrapped(*args, **kwargs)
    from cmdscope._api import CommandDenied

    try:
        pending = _records.begin(pipeline.CommandSpec(command=_records.text(command), shell=True, shell_path=_SHELL))
        prefixed = _with_env(command, pending.additions)
    except CommandDenied:
        raise
    except Exception as exc:  # noqa: BLE001 - observability never breaks the host
        _records.internal_error("os.system", exc)
        return wrapped(*args, **kwargs)
    status = wrapped(prefixed)
    try:
        if status == -1:  # the shell could not be started
            _records.finish(pending, None, start_error=OSError(0, "os.system could not start " + _SHELL))
        else:
            _records.finish(pending, os.waitstatus_to_exitcode(status))
    except Exception as exc:  # noqa: BLE001 - reported by internal_error
        _records.internal_error("os.system", exc)
    return status


def _with_env(command: Any, additions: dict[str, str]) -> Any:
    """``command`` run with the propagation variables that differ from our own environment."""
    changed = {k: v for k, v in additions.items() if os.environ.get(k) != v}
    if not changed:
        return command
    prefix = "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in changed.items()) + "; "
    if isinstance(command, bytes):
        return os.fsencode(prefix) + command
    return prefix + os.fspath(command)
