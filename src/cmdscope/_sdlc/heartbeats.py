"""Heartbeats: scheduled check-ins (``cmdscope heartbeat NAME --every 1h [-- CMD]``).

A check-in is *on time* when it comes at most ``every + grace`` after the previous one of the
same name (the first is on time). The last run and last success per name are kept in
``$XDG_STATE_HOME/cmdscope/heartbeats.json`` so a check-in never scans the ledger; the ledger
records are what ``cmdscope report schedule`` computes the on-time rate from.

For Prometheus, ``cmdscope.heartbeat.last_success`` is a gauge when an SDK meter provider runs in
the process, and ``--textfile DIR`` writes the node_exporter textfile-collector format, the usual
way a cron job feeds Prometheus (alert on ``time() - cmdscope_heartbeat_last_success_seconds``).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

from cmdscope._context import resolve
from cmdscope._sdlc import emit

NS = 1_000_000_000
TEXTFILE_NAME = "cmdscope_heartbeats.prom"


def state_path() -> Path:
    from cmdscope._paths import state_dir

    return state_dir() / "heartbeats.json"


def _update_state(name: str, now_ns: int, ok: bool, every_s: float | None, grace_s: float) -> tuple[int | None, dict[str, Any]]:
    """Record this run under an exclusive lock; returns (previous run end_ns, all states)."""
    path = state_path()
    from cmdscope._private_files import make_private_dirs, open_private

    make_private_dirs(path.parent)
    fd = open_private(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = b""
        while chunk := os.read(fd, 65536):
            raw += chunk
        try:
            states = json.loads(raw) if raw.strip() else {}
            if not isinstance(states, dict):
                states = {}
        except ValueError:
            states = {}  # a damaged state file costs one "first run", never a crash
        found = states.get(name)
        entry: dict[str, Any] = found if isinstance(found, dict) else {}
        previous = entry.get("last_run_ns")
        entry["last_run_ns"] = now_ns
        if ok:
            entry["last_success_ns"] = now_ns
        if every_s is not None:
            entry["every_s"] = every_s
        entry["grace_s"] = grace_s
        states[name] = entry
        data = json.dumps(states, sort_keys=True).encode()
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, data)
    finally:
        os.close(fd)
    return (previous if isinstance(previous, int) else None), states


def schedule_fields(name: str, now_ns: int, ok: bool, every_s: float | None, grace_s: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``cmdscope.heartbeat.*`` / ``cmdscope.schedule.*`` fields of a check-in, and all states."""
    previous, states = _update_state(name, now_ns, ok, every_s, grace_s)
    fields: dict[str, Any] = {"cmdscope.heartbeat.name": name, "cmdscope.heartbeat.grace_s": grace_s}
    if every_s is not None:
        fields["cmdscope.heartbeat.every_s"] = every_s
    on_time = True
    if previous is not None:
        gap = (now_ns - previous) / NS
        fields["cmdscope.heartbeat.interval_s"] = round(gap, 3)
        if every_s is not None:
            on_time = gap <= every_s + grace_s
            if not on_time:
                fields["cmdscope.heartbeat.late_s"] = round(gap - every_s, 3)
    fields["cmdscope.schedule.on_time"] = on_time
    return fields, states


def write_textfile(directory: str | os.PathLike[str], states: dict[str, Any]) -> Path:
    """node_exporter textfile collector file, replaced atomically."""
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    lines = [
        "# HELP cmdscope_heartbeat_last_success_seconds Unix time of the last successful check-in.",
        "# TYPE cmdscope_heartbeat_last_success_seconds gauge",
    ]
    for name, entry in sorted(states.items()):
        if isinstance(entry, dict) and entry.get("last_success_ns"):
            lines.append(f'cmdscope_heartbeat_last_success_seconds{{cmdscope_heartbeat_name="{esc(name)}"}} '
                         f"{entry['last_success_ns'] / NS:.3f}")
    lines += [
        "# HELP cmdscope_heartbeat_every_seconds Expected interval between check-ins.",
        "# TYPE cmdscope_heartbeat_every_seconds gauge",
    ]
    for name, entry in sorted(states.items()):
        if isinstance(entry, dict) and entry.get("every_s"):
            lines.append(f'cmdscope_heartbeat_every_seconds{{cmdscope_heartbeat_name="{esc(name)}"}} {entry["every_s"]}')
    target = Path(directory) / TEXTFILE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{TEXTFILE_NAME}.{os.getpid()}")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


def checkin(name: str, *, ok: bool = True, every_s: float | None = None, grace_s: float = 0.0,
            command: Sequence[str] | None = None, ledger: str | None = None,
            textfile_dir: str | None = None, stdout: Any = None, stderr: Any = None) -> dict[str, Any]:
    """Record one check-in of ``name``; with ``command``, run it and pass = exit 0."""
    if not name:
        raise ValueError("a heartbeat needs a name")
    start = time.time_ns()
    span = emit.start_span("heartbeat", start)
    exit_code = None
    if command:
        from cmdscope import _pipeline as pipeline

        spec = pipeline.CommandSpec(command=list(command), ledger_path=ledger, forward_signals=True,
                                    stdout=stdout, stderr=stderr)
        with span.activate():
            try:
                rec_cmd = pipeline.run_command(spec).record
            except pipeline.Denied as denied:
                rec_cmd = getattr(denied, "record", {}) or {}
        ok = rec_cmd.get("cmdscope.outcome") == "success"
        exit_code = rec_cmd.get("process.exit.code")
    end = time.time_ns()
    fields, states = schedule_fields(name, end, ok, every_s, grace_s)
    rec = emit.new("heartbeat", "heartbeat", span, start, end)
    rec.update(resolve(None).attributes())
    rec.update(fields)
    rec["cmdscope.heartbeat.status"] = "ok" if ok else "fail"
    if exit_code is not None:
        rec["process.exit.code"] = exit_code
    rec["cmdscope.outcome"] = "success" if ok else "failure"
    if not ok:
        rec["error.type"] = "heartbeat_failed"
    emit.write(rec, span, ledger)
    if textfile_dir:
        write_textfile(textfile_dir, states)
    return rec
