"""asyncio subprocesses: ``create_subprocess_exec``/``create_subprocess_shell`` build their child
with ``subprocess.Popen`` (so the record opens there), but the event loop's child watcher reaps
it, not ``Popen``: the transport's process-exited callback finishes the record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cmdscope.instrumentation._subprocess import finish_popen


def process_exited(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    popen = getattr(instance, "_proc", None)
    returncode = args[0] if args else kwargs.get("returncode")
    if popen is not None:
        # Before the original: the record is written before any ``await proc.wait()`` wakes.
        finish_popen(popen, returncode)
    return wrapped(*args, **kwargs)
