"""Trace context across process boundaries, per the OTel environment-carrier names.

A child gets ``TRACEPARENT`` (W3C, pointing at the command's span), the incoming ``TRACESTATE``
and ``BAGGAGE`` (with the cmdscope context added), and ``CMDSCOPE_*``; so a ``cmdscope run``
inside a ``cmdscope run`` becomes a child span of the same trace, in the same packet.
"""

from __future__ import annotations

import os
TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

if TYPE_CHECKING:
    from typing import Mapping

from cmdscope._context import Context

_HEX = set("0123456789abcdef")


def new_trace_id() -> str:
    return os.urandom(16).hex()


def new_span_id() -> str:
    return os.urandom(8).hex()


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """(trace_id, span_id, flags) of a valid version-00 traceparent, else None."""
    if not value:
        return None
    parts = value.strip().lower().split("-")
    if len(parts) < 4 or parts[0] == "ff" or len(parts[0]) != 2:
        return None
    trace_id, span_id, flags = parts[1], parts[2], parts[3]
    if len(trace_id) != 32 or len(span_id) != 16 or len(flags) != 2:
        return None
    if not (set(trace_id) <= _HEX and set(span_id) <= _HEX and set(flags) <= _HEX):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id, flags


def format_traceparent(trace_id: str, span_id: str, flags: str = "01") -> str:
    return f"00-{trace_id}-{span_id}-{flags}"


_UNRESERVED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")


def quote(text: str) -> str:
    """Percent-encode everything but unreserved characters (urllib.parse costs ~4 ms to import)."""
    if _UNRESERVED.issuperset(text):
        return text
    return "".join(c if c in _UNRESERVED else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in text)


def unquote(text: str) -> str:
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    raw = text.encode("utf-8")
    while i < len(raw):
        if raw[i] == 0x25 and i + 2 < len(raw) and _is_hex(raw[i + 1:i + 3]):
            out.append(int(raw[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "replace")


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


def parse_baggage(value: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (value or "").split(","):
        key, sep, rest = item.partition("=")
        if sep and key.strip():
            out[unquote(key.strip())] = unquote(rest.split(";", 1)[0].strip())
    return out


def format_baggage(entries: Mapping[str, str]) -> str:
    return ",".join(f"{quote(k)}={quote(v)}" for k, v in entries.items())


def baggage_entries(ctx: Context) -> dict[str, str]:
    """The cmdscope context a child's ``BAGGAGE`` carries."""
    out: dict[str, str] = {}
    for name in ("actor", "session", "packet", "phase"):
        value = getattr(ctx, name)
        if value:
            out[f"cmdscope.{name}"] = value
    return out


def merge_baggage(baggage_in: str | None, entries: Mapping[str, str]) -> str:
    """The incoming W3C ``BAGGAGE`` with ``entries`` added (theirs replaced)."""
    baggage = parse_baggage(baggage_in)
    baggage.update(entries)
    return format_baggage(baggage)


def propagation_vars(
    baggage_in: str | None,
    ctx: Context,
    trace_id: str,
    span_id: str,
    flags: str = "01",
) -> dict[str, str]:
    """Only the variables a child gains: TRACEPARENT, BAGGAGE (the incoming one plus the cmdscope
    context) and CMDSCOPE_*, written by hand per W3C (a process without OpenTelemetry loaded)."""
    out = {"TRACEPARENT": format_traceparent(trace_id, span_id, flags)}
    baggage = merge_baggage(baggage_in, baggage_entries(ctx))
    if baggage:
        out["BAGGAGE"] = baggage
    out.update(ctx.env())
    return out


def child_env(
    base: Mapping[str, str],
    ctx: Context,
    trace_id: str,
    span_id: str,
    flags: str = "01",
) -> dict[str, str]:
    """The environment for a child: ``base`` plus the propagation variables, nothing else."""
    env = dict(base)
    env.update(propagation_vars(base.get("BAGGAGE"), ctx, trace_id, span_id, flags))
    return env
