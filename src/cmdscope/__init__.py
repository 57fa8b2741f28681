"""cmdscope: observe, audit and guard every command an agent or automation runs.

Usage::

    import cmdscope

    cmdscope.configure()                      # OTel SDK from OTEL_* env, unless the host has one
    with cmdscope.context(actor="my-agent", packet="PKT-42", phase="test"):
        result = cmdscope.run(["pytest", "-q"], timeout=600)
        print(result.returncode, result.outcome, result.record["error.type"])

    @cmdscope.command(phase="implement")
    def apply_patch(path: str) -> None: ...

    cmdscope.instrument()                     # every subprocess/os.system child becomes a span

Every command is appended to the local JSONL ledger ($CMDSCOPE_LEDGER), becomes a CLIENT span
and updates the ``cmdscope.commands`` / ``cmdscope.command.duration`` metrics. The ledger line
is written before ``run`` returns; the metrics, and the span's end when the span processors
batch, are handed to the SDK just after (``cmdscope.flush()`` hands them over at once; so do
the provider's own ``force_flush()``/``shutdown()`` and exit).
Names are imported lazily so that ``import cmdscope`` stays cheap for the CLI.
"""

from __future__ import annotations

from importlib import import_module
TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

if TYPE_CHECKING:
    from typing import Any

from cmdscope._version import __version__

# Bound eagerly: the submodule cmdscope.context would otherwise shadow the function.
from cmdscope.context import context

_EXPORTS = {
    "run": "cmdscope.api",
    "command": "cmdscope.api",
    "Result": "cmdscope.api",
    "CommandDenied": "cmdscope.api",
    "configure": "cmdscope.config",
    "flush": "cmdscope.pipeline",
    "instrument": "cmdscope.instrumentation",
    "uninstrument": "cmdscope.instrumentation",
    "packet": "cmdscope.sdlc.packets",
    "gate": "cmdscope.sdlc.gates",
}

__all__ = ["__version__", "context", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cmdscope' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
