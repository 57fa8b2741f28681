"""The "do not record this child" flag, kept in a module that imports nothing heavy.

cmdscope's own spawns (the runner behind ``cmdscope.run``, the detached shipper, and the sinks
while a record is being finished) set it so an instrumented process never records a child
twice. It is a context variable: it covers the current thread or asyncio task only.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_suppressed: contextvars.ContextVar[bool] = contextvars.ContextVar("cmdscope_instrumentation_suppressed", default=False)


@contextmanager
def suppress_instrumentation() -> Iterator[None]:
    """Children started inside this block are not recorded by the instrumentation."""
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)


def is_suppressed() -> bool:
    return _suppressed.get()


def suppressed_call(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """wrapt wrapper for cmdscope's own spawn points (they record their child themselves)."""
    token = _suppressed.set(True)
    try:
        return wrapped(*args, **kwargs)
    finally:
        _suppressed.reset(token)
