"""Trace context across process boundaries, per the OTel environment-carrier names.

A child gets ``TRACEPARENT`` (W3C, pointing at the command's span), the incoming ``TRACESTATE``
and ``BAGGAGE`` (with the cmdscope context added), and ``CMDSCOPE_*``; so a ``cmdscope run``
inside a ``cmdscope run`` becomes a child span of the same trace, in the same packet.
"""

from __future__ import annotations

import os
import threading
TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

if TYPE_CHECKING:
    from typing import Mapping

from cmdscope import environ
from cmdscope.memo import remember
from cmdscope.context import Context

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


def propagation_vars(
    baggage_in: str | None,
    ctx: Context,
    trace_id: str,
    span_id: str,
    flags: str = "01",
) -> dict[str, str]:
    """Only the variables a child gains: TRACEPARENT, BAGGAGE (the incoming one plus the cmdscope
    context) and CMDSCOPE_*."""
    out = {"TRACEPARENT": format_traceparent(trace_id, span_id, flags)}
    baggage = parse_baggage(baggage_in)
    for name in ("actor", "session", "packet", "phase"):
        value = getattr(ctx, name)
        if value:
            baggage[f"cmdscope.{name}"] = value
    if baggage:
        out["BAGGAGE"] = format_baggage(baggage)
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


_static: dict[tuple[bytes | None, Context], dict[bytes, bytes]] = {}
_kept = threading.local()  # per thread: (static vars, environment snapshot, its PreparedEnv, entries)


def inherited_env_for(baggage_in: bytes | None, ctx: Context, trace_id: str, span_id: str,
                      flags: str = "01") -> dict[bytes, bytes]:
    """This process's environment plus ``propagation_vars(...)``, as the bytes mapping a child
    is started with (a ``PreparedEnv``: its ``K=V`` entries built too).

    All but ``TRACEPARENT`` depends only on the environment, the incoming baggage and the
    context, which repeat from command to command. So each thread keeps its last mapping and
    entries, and reuses them while the environment compares equal to the snapshot they were
    built from: one comparison in C instead of copying and encoding every variable (right after
    a child exits, each object touched is a cache miss). The mapping handed out is that kept
    one with this command's ``TRACEPARENT``: it is valid until the thread's next command."""
    key = (baggage_in, ctx)
    static = _static.get(key)
    if static is None:
        text = os.fsdecode(baggage_in) if baggage_in is not None else None
        static = remember(_static, key, {os.fsencode(k): os.fsencode(v) for k, v in
                                         propagation_vars(text, ctx, trace_id, span_id, flags).items()
                                         if k != "TRACEPARENT"}, 256)
    kept = getattr(_kept, "env", None)
    if kept is None or kept[0] is not static or kept[1] != environ.ENVB:
        snapshot = environ.copy()
        env = environ.PreparedEnv(snapshot)
        env.update(static)
        env.pop(b"TRACEPARENT", None)
        kept = _kept.env = (static, snapshot, env, [k + b"=" + v for k, v in env.items()])
    env = kept[2]
    traceparent = f"00-{trace_id}-{span_id}-{flags}".encode()
    env[b"TRACEPARENT"] = traceparent
    env.entries = kept[3] + [b"TRACEPARENT=" + traceparent]
    return env  # type: ignore[no-any-return]
