"""What this instrumentation instruments: only the standard library, so no package requirement.

``BaseInstrumentor.instrument()`` and ``opentelemetry-instrument`` check these requirement
strings before instrumenting; an empty tuple means there is nothing to check.
"""

_instruments: tuple[str, ...] = ()
