"""Record every child process a Python program starts, without changing the program.

Once instrumented, each child started by ``subprocess.Popen`` (and so ``subprocess.run``,
``call``, ``check_call``, ``check_output``, ``os.popen``), by ``os.system``, or by
``asyncio.create_subprocess_exec`` / ``asyncio.create_subprocess_shell`` becomes one cmdscope
command record: a ledger line, a CLIENT span named after the executable, and the command
metrics, with the same keys as ``cmdscope.run`` (docs/telemetry.md). ``subprocess.run`` ->
``Popen`` is one child, so one record.

Usage
-----

.. code-block:: python

    import subprocess

    import cmdscope

    cmdscope.instrument()          # or: CmdscopeInstrumentor().instrument(tracer_provider=tp)
    with cmdscope.context(actor="my-agent", packet="PKT-7", phase="test"):
        subprocess.run(["git", "--version"], check=True)   # one record, one span
    cmdscope.uninstrument()

Or without touching the code: ``opentelemetry-instrument python agent.py`` finds the
instrumentor through the ``opentelemetry_instrumentor`` entry point ``cmdscope``
(``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=cmdscope`` turns it off there).

What stays exactly as before
----------------------------
stdin, stdout and stderr, return values, exit codes and exceptions are the host's own: a
missing program still raises ``FileNotFoundError`` from ``Popen`` (recorded as outcome
``error``, exit code 127; 126 for other start errors). The child's environment gains only
``TRACEPARENT``, ``BAGGAGE`` and ``CMDSCOPE_*`` (with ``env=None``: a copy of ``os.environ`` plus
those), so a ``cmdscope run`` or an instrumented Python child joins the same trace.
``os.system`` has no environment argument: the variables reach its shell as an
``export ...;`` prefix on the command line it runs.

When the record is finished
---------------------------
When the child is reaped: by ``wait``/``poll``/``communicate``/``run``, by the ``Popen`` being
garbage-collected, by asyncio's child watcher, or at interpreter exit for a child that exited
without being waited for. ``-N`` (death by signal N) is recorded as exit code ``128+N`` with
outcome ``interrupted`` for SIGINT/SIGTERM/SIGHUP/SIGQUIT and ``failure`` otherwise; a child
killed after ``wait``/``communicate`` timed out (``subprocess.run(timeout=...)``) has outcome
``timeout``. Output that the program does not capture is not read, so failures are classified
from the exit code alone.

Policy
------
When the guard denies a command (enforce mode), ``Popen``/``os.system`` raise
``cmdscope.CommandDenied`` before the child starts and a denial record is written.
``instrument(enforce=False)`` records every decision, with ``cmdscope.policy.mode``
``observe``, and lets the child run.

cmdscope's own children (the runner behind ``cmdscope.run`` and ``cmdscope run``, the
detached shipper) are not recorded twice: while instrumented, those spawn points run inside
``suppress_instrumentation()``, which any caller may use too (children started in the block
are not recorded). OpenTelemetry's own ``suppress_instrumentation`` context is honoured too,
and ``CMDSCOPE_DISABLED=1`` records nothing.

Not covered: ``os.exec*``, ``os.spawn*``, ``os.posix_spawn``, ``os.fork``, ``pty.spawn``, event
loops that spawn without ``subprocess.Popen`` (uvloop), and functions bound by
``from os import system`` before ``instrument()`` ran.

API
---
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Only the flag is imported eagerly: cmdscope's hot path imports it, while the instrumentor
# pulls in wrapt and opentelemetry-instrumentation (~190 ms) and loads on first use.
from cmdscope.instrumentation._suppress import suppress_instrumentation

if TYPE_CHECKING:
    from cmdscope.instrumentation._instrumentor import CmdscopeInstrumentor

__all__ = ["CmdscopeInstrumentor", "instrument", "suppress_instrumentation", "uninstrument"]


def instrument(*, tracer_provider: Any = None, enforce: bool = True) -> None:
    """Start recording child processes; a second call is a no-op (``uninstrument()`` first to
    change the settings).

    ``tracer_provider``: where the spans go (default: the global SDK provider; without one,
    records still get trace and span ids and go to the ledger). ``enforce``: a guard ``deny``
    raises ``CommandDenied`` instead of starting the child.
    """
    instrumentor = _the_instrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=tracer_provider, enforce=enforce)


def uninstrument() -> None:
    """Stop recording and restore the original functions; a no-op when not instrumented."""
    instrumentor = _the_instrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


def _the_instrumentor() -> CmdscopeInstrumentor:
    from cmdscope.instrumentation._instrumentor import CmdscopeInstrumentor

    return CmdscopeInstrumentor()


def __getattr__(name: str) -> Any:
    if name == "CmdscopeInstrumentor":  # also how the entry point loads it
        from cmdscope.instrumentation._instrumentor import CmdscopeInstrumentor

        return CmdscopeInstrumentor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
