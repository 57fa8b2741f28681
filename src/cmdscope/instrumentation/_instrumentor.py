"""``CmdscopeInstrumentor``: the OpenTelemetry ``BaseInstrumentor`` that patches the spawn points.

Every patch is one ``(owner, attribute, wrapper)`` row of ``PATCHES``: ``_instrument`` wraps
them all with wrapt and ``_uninstrument`` unwraps the same rows, so the two cannot drift.
"""

from __future__ import annotations

import asyncio.base_subprocess
import atexit
import os
import subprocess
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from cmdscope import _pipeline as pipeline, _runner as runner, _shipping as shipping
from cmdscope.instrumentation import _asyncio, _os_system, _records, _subprocess
from cmdscope.instrumentation._suppress import suppressed_call
from cmdscope.instrumentation.package import _instruments
from cmdscope.instrumentation.version import __version__

PATCHES: tuple[tuple[Any, str, Callable[..., Any]], ...] = (
    (subprocess.Popen, "__init__", _subprocess.popen_init),
    (subprocess.Popen, "_handle_exitstatus", _subprocess.handle_exitstatus),
    (subprocess.Popen, "wait", _subprocess.mark_timeout),
    (subprocess.Popen, "communicate", _subprocess.mark_timeout),
    (os, "system", _os_system.system),
    (asyncio.base_subprocess.BaseSubprocessTransport, "_process_exited", _asyncio.process_exited),
    # cmdscope's own spawns record their child themselves: never a second record.
    (runner, "execute", suppressed_call),
    (shipping, "spawn_detached_shipper", suppressed_call),
)

_exit_hook_registered = False


class CmdscopeInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Records every child process started by ``subprocess``, ``os.system`` and asyncio.

    ``instrument(tracer_provider=None, enforce=True)``: spans go to ``tracer_provider`` (default:
    the global SDK provider, or ledger-only ids without one); ``enforce=False`` records a
    policy ``deny`` but lets the child run.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        global _exit_hook_registered
        provider = kwargs.get("tracer_provider")
        _records.settings.tracer = trace.get_tracer(__name__, __version__, provider) if provider is not None else None
        _records.settings.enforce = bool(kwargs.get("enforce", True))
        for owner, name, wrapper in PATCHES:
            wrap_function_wrapper(owner, name, wrapper)
        if not _exit_hook_registered:
            _exit_hook_registered = True
            atexit.register(_flush_at_exit)

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, name, _wrapper in PATCHES:
            unwrap(owner, name)
        _subprocess.finish_reaped()
        _records.settings = _records.Settings()


def _flush_at_exit() -> None:
    """Children that exited but were never waited for still get their record."""
    try:
        _subprocess.finish_reaped()
        pipeline.close_ledgers()  # the ledger's own exit hook may have run before this one
    except Exception:  # noqa: BLE001, S110 - an exit hook must never fail the exit
        pass
