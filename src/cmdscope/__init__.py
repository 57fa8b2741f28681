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

from cmdscope._version import __version__

# The public function; its module is cmdscope._context.
from cmdscope._context import context

if TYPE_CHECKING:  # what the lazy names below are, for type checkers
    from typing import Any

    from cmdscope import redact  # the module: redact(), redact_argv(), add_pattern()
    from cmdscope._api import CommandDenied, Decision, Result, command, run
    from cmdscope._config import Configured, configure
    from cmdscope.instrumentation import instrument, uninstrument
    from cmdscope._pipeline import flush
    from cmdscope._sdlc.gates import gate
    from cmdscope._sdlc.packets import packet

_EXPORTS = {
    "run": "cmdscope._api",
    "command": "cmdscope._api",
    "Result": "cmdscope._api",
    "CommandDenied": "cmdscope._api",
    "Decision": "cmdscope._api",
    "configure": "cmdscope._config",
    "Configured": "cmdscope._config",
    "flush": "cmdscope._pipeline",
    "instrument": "cmdscope.instrumentation",
    "uninstrument": "cmdscope.instrumentation",
    "packet": "cmdscope._sdlc.packets",
    "gate": "cmdscope._sdlc.gates",
    "redact": "cmdscope",
}

__all__ = [
    "CommandDenied", "Configured", "Decision", "Result", "__version__", "command", "configure", "context",
    "flush", "gate", "instrument", "packet", "redact", "run", "uninstrument",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cmdscope' has no attribute {name!r}")
    value = import_module("cmdscope.redact") if name == "redact" else getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
