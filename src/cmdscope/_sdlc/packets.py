"""Work packets: one unit of agent work, a span that parents its commands and ends with figures.

Two ways to hold a packet open:
- CLI (``cmdscope packet start|end``): the packet lives in ``<git dir>/cmdscope/packet.json`` of
  the worktree, so every later ``cmdscope run`` there joins it (``cmdscope.context`` reads the
  file; ``CMDSCOPE_PACKET`` overrides) and parents its span to the packet's span.
- Python (``with cmdscope.packet("PKT-42"):``): the packet's span is the current span and its
  id is in the ``cmdscope.context`` scope for the block (and in children through ``TRACEPARENT``
  and ``CMDSCOPE_PACKET``).
Either way a marker under ``$XDG_STATE_HOME/cmdscope/packets/open/`` says the packet is open until
it ends, which is how ``cmdscope audit`` finds packets started but never ended.

The end record's figures are computed from the ledger records of the packet (docs/packets.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Iterable

from cmdscope._context import packet_state_path, resolve
from cmdscope._context import context as scope
from cmdscope._sdlc import emit

STATUSES = ("completed", "failed", "abandoned")
COMMAND_KINDS = ("command", "function")


class PacketError(Exception):
    """A packet operation cannot proceed; the message says why in one line."""


# --- figures ---------------------------------------------------------------------------------


@dataclass
class Figures:
    commands: int = 0
    failures: int = 0
    denials: int = 0
    danger_hits: int = 0
    danger_critical: int = 0
    retries: int = 0
    gates: int = 0
    gates_passed: int = 0
    commits: int = 0

    @property
    def failure_density(self) -> float:
        return self.failures / self.commands if self.commands else 0.0

    @property
    def gate_pass_rate(self) -> float | None:
        return self.gates_passed / self.gates if self.gates else None

    def attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cmdscope.packet.commands": self.commands,
            "cmdscope.packet.failures": self.failures,
            "cmdscope.packet.failure_density": round(self.failure_density, 6),
            "cmdscope.packet.denials": self.denials,
            "cmdscope.packet.danger_hits": self.danger_hits,
            "cmdscope.packet.danger_critical": self.danger_critical,
            "cmdscope.packet.retries": self.retries,
            "cmdscope.packet.gates": self.gates,
            "cmdscope.packet.gates_passed": self.gates_passed,
            "cmdscope.packet.commits": self.commits,
        }
        if self.gate_pass_rate is not None:
            out["cmdscope.packet.gate_pass_rate"] = round(self.gate_pass_rate, 6)
        return out


def figures_of(records: Iterable[dict[str, Any]], packet_id: str, start_ns: int = 0, end_ns: int | None = None) -> Figures:
    """The packet's figures from its ledger records (those carrying ``cmdscope.packet``)."""
    f = Figures()
    for rec in records:
        if rec.get("cmdscope.packet") != packet_id:
            continue
        t = rec.get("end_ns", 0)
        if t < start_ns or (end_ns is not None and t > end_ns):
            continue
        kind = rec.get("kind")
        if kind in COMMAND_KINDS:
            f.commands += 1
            if rec.get("cmdscope.outcome") != "success":
                f.failures += 1
            if rec.get("cmdscope.retry.count"):
                f.retries += 1
        elif kind == "denial":
            f.denials += 1
        elif kind == "gate":
            f.gates += 1
            f.gates_passed += rec.get("cmdscope.gate.result") == "pass"
        elif kind == "commit":
            f.commits += 1
        if kind in ("command", "function", "denial") and rec.get("cmdscope.danger.rule"):
            f.danger_hits += 1
            f.danger_critical += rec.get("cmdscope.danger.severity") == "critical"
    return f


def summarize(packet_id: str, start_ns: int, end_ns: int | None = None, ledger: str | None = None) -> Figures:
    from cmdscope._paths import default_ledger_path
    from cmdscope._sinks.ledger import read_records

    path = ledger or os.fspath(default_ledger_path())
    return figures_of(read_records(path, since_ns=start_ns), packet_id, start_ns, end_ns)


# --- open markers (for audits) ---------------------------------------------------------------


def open_dir() -> Path:
    from cmdscope._paths import state_dir

    return state_dir() / "packets" / "open"


def _marker(packet_id: str, span_id: str) -> Path:
    return open_dir() / (hashlib.sha256(f"{packet_id}\0{span_id}".encode()).hexdigest()[:24] + ".json")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically (readers never see half a file; the new inode tells the
    active-packet cache to re-read)."""
    from cmdscope._private_files import make_private_dirs, open_private

    make_private_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, sort_keys=True)
    os.replace(tmp, path)


def open_packets() -> list[dict[str, Any]]:
    """Packets started and not yet ended on this machine (unreadable markers are skipped)."""
    out = []
    for path in sorted(open_dir().glob("*.json")) if open_dir().is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("packet"):
            data["marker"] = str(path)
            out.append(data)
    return out


# --- record ----------------------------------------------------------------------------------


def _record(state: dict[str, Any], status: str, figures: Figures, span: Any, end_ns: int) -> dict[str, Any]:
    rec = emit.new("packet", "packet", span, int(state["start_ns"]), end_ns)
    ctx = resolve(state.get("worktree"), actor=state.get("actor"), packet=state["packet"])
    rec.update(ctx.attributes())
    rec["cmdscope.packet"] = state["packet"]
    if state.get("title"):
        rec["cmdscope.packet.title"] = state["title"]
    rec["cmdscope.packet.status"] = status
    rec.update(figures.attributes())
    rec["cmdscope.outcome"] = "success" if status == "completed" else "failure"
    if status != "completed":
        rec["error.type"] = f"packet_{status}"
    return rec


# --- CLI packets (per worktree) --------------------------------------------------------------


def _state_path(cwd: str | None) -> Path:
    path = packet_state_path(os.path.abspath(cwd or os.getcwd()))
    if path is None:
        raise PacketError(f"{os.path.abspath(cwd or os.getcwd())} is not inside a git worktree")
    return Path(path)


def active(cwd: str | None = None) -> dict[str, Any] | None:
    path = _state_path(cwd)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise PacketError(f"{path}: unreadable packet state ({exc}); remove it to start over") from None
    return data if isinstance(data, dict) and data.get("packet") else None


def start(packet_id: str, *, title: str | None = None, actor: str | None = None, cwd: str | None = None) -> dict[str, Any]:
    """Open ``packet_id`` in the worktree of ``cwd``; later commands there join it."""
    if not packet_id.strip():
        raise PacketError("packet id is empty")
    path = _state_path(cwd)
    current = active(cwd)
    if current is not None:
        raise PacketError(f"packet {current['packet']} is already active in this worktree; end it first "
                          "(cmdscope packet end)")
    now = time.time_ns()
    env = dict(os.environ)
    env.pop("CMDSCOPE_PACKET", None)  # a new packet is never parented by the one it replaces
    span = emit.start_span("packet", now, environ=env)
    ctx = resolve(cwd, actor=actor)
    state = {
        "packet": packet_id, "title": title or "", "actor": ctx.actor, "start_ns": now,
        "trace_id": span.trace_id, "span_id": span.span_id, "parent_span_id": span.parent_span_id,
        "worktree": ctx.worktree or os.path.abspath(cwd or os.getcwd()), "mode": "worktree",
    }
    _write_json(path, state)
    _write_json(_marker(packet_id, span.span_id), state)
    return state


def end(*, status: str = "completed", cwd: str | None = None, ledger: str | None = None) -> dict[str, Any]:
    """End the worktree's active packet: write the packet record with its figures."""
    if status not in STATUSES:
        raise PacketError(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    state = active(cwd)
    if state is None:
        raise PacketError("no packet is active in this worktree (cmdscope packet start ID)")
    from cmdscope._sinks.otel import SpanHandle

    end_ns = time.time_ns()
    figures = summarize(state["packet"], int(state["start_ns"]), end_ns, ledger)
    span = SpanHandle(state["trace_id"], state["span_id"], state.get("parent_span_id"), "01")
    rec = emit.write(_record(state, status, figures, span, end_ns), span, ledger)
    _state_path(cwd).unlink(missing_ok=True)
    _marker(state["packet"], state["span_id"]).unlink(missing_ok=True)
    return rec


def packet_records(ledger: str | None = None, since_ns: int | None = None) -> list[dict[str, Any]]:
    from cmdscope._paths import default_ledger_path
    from cmdscope._sinks.ledger import read_records

    path = ledger or os.fspath(default_ledger_path())
    return [r for r in read_records(path, since_ns=since_ns) if r.get("kind") == "packet"]


# --- Python packets --------------------------------------------------------------------------


class packet:  # noqa: N801 - used as ``with cmdscope.packet(...)``, like a function
    """Scope a work packet in Python::

        with cmdscope.packet("PKT-42", title="Fix login", actor="my-agent") as p:
            cmdscope.run(["pytest", "-q"])      # joins PKT-42; its span is a child of the packet
        p.record["cmdscope.packet.failure_density"]

    The packet ends ``completed``, or ``failed`` when the block raises (the exception goes on).
    """

    def __init__(self, packet_id: str, *, title: str | None = None, actor: str | None = None,
                 ledger: str | os.PathLike[str] | None = None) -> None:
        if not packet_id or not packet_id.strip():
            raise ValueError("cmdscope.packet() needs a packet id")
        self.id = packet_id
        self.title = title
        self.actor = actor
        self.ledger = os.fspath(ledger) if ledger is not None else None
        self.record: dict[str, Any] = {}
        self._stack: ExitStack | None = None
        self._state: dict[str, Any] = {}
        self._span: Any = None

    def __enter__(self) -> "packet":
        now = time.time_ns()
        env = dict(os.environ)
        env.pop("CMDSCOPE_PACKET", None)
        self._span = emit.start_span("packet", now, environ=env)
        ctx = resolve(None, actor=self.actor, packet=self.id)
        self._state = {
            "packet": self.id, "title": self.title or "", "actor": ctx.actor, "start_ns": now,
            "trace_id": self._span.trace_id, "span_id": self._span.span_id,
            "worktree": ctx.worktree or os.getcwd(), "mode": "process", "pid": os.getpid(),
        }
        _write_json(_marker(self.id, self._span.span_id), self._state)
        self._stack = ExitStack()
        self._stack.enter_context(self._span.activate())
        self._stack.enter_context(scope(packet=self.id, actor=ctx.actor))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._stack is not None
        self._stack.close()
        end_ns = time.time_ns()
        status = "completed" if exc_type is None else "failed"
        figures = summarize(self.id, self._state["start_ns"], end_ns, self.ledger)
        self.record = emit.write(_record(self._state, status, figures, self._span, end_ns), self._span, self.ledger)
        _marker(self.id, self._span.span_id).unlink(missing_ok=True)
