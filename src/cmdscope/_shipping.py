"""Ship ledger records over OTLP after the fact, with their original ids and times.

Short-lived processes (``cmdscope run``, agent hooks) never wait on the network: they append
to the ledger and, when an OTLP endpoint is configured, start one detached shipper per ledger.
The shipper exports from a persisted checkpoint (segment inode + byte offset), advancing it
only after the backend accepted a batch: delivery is at least once, and a receiver can drop
duplicates by ``cmdscope.record.id``. Only whole lines are shipped, so a record being written
is picked up on the next pass. A span its own process exported and the backend accepted is not
sent again (:mod:`cmdscope._sinks.exported`); the record's log event still is.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
TYPE_CHECKING = False  # the CLI imports this module to start a shipper: keep typing/dataclasses off it
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Callable, Iterator

from cmdscope import _settings as settings
from cmdscope._sinks.ledger import segments

BATCH = 512


def _lock_path(ledger: str) -> str:
    return ledger + ".ship.lock"


def _open_ship_lock(ledger: str) -> Any:
    from cmdscope._private_files import open_private

    return os.fdopen(open_private(_lock_path(ledger), os.O_WRONLY | os.O_CREAT | os.O_APPEND), "a")


def _checkpoint_path(ledger: str) -> str:
    return ledger + ".ship.json"


def _ledger(path: str | None) -> str:
    from cmdscope._paths import default_ledger_path_str

    return os.fspath(path or default_ledger_path_str())


class Checkpoint:
    """Where shipping got to: the segment's inode and the byte offset after the last whole line."""

    __slots__ = ("inode", "offset")

    def __init__(self, inode: int = 0, offset: int = 0) -> None:
        self.inode, self.offset = inode, offset

    @classmethod
    def load(cls, ledger: str) -> "Checkpoint":
        import json  # here, not at the top: a `cmdscope run` only hands records over (~2.5 ms)

        try:
            with open(_checkpoint_path(ledger), encoding="utf-8") as fh:
                data = json.load(fh)
            return cls(int(data["inode"]), int(data["offset"]))
        except (OSError, ValueError, KeyError, TypeError):
            return cls()

    def save(self, ledger: str) -> None:
        import json

        from cmdscope._private_files import open_private

        tmp = _checkpoint_path(ledger) + ".tmp"
        fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "w") as fh:
            json.dump({"inode": self.inode, "offset": self.offset}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, _checkpoint_path(ledger))


def _open_segments(ledger: str) -> list[tuple[Any, int]]:
    """Open every segment and read its inode from the open file, with rotation held off.

    Listing names and opening them later would race with rotation: a name listed as the current
    file can be another file by the time it is opened (its records would be shipped under the
    rotated segment's inode), and a rotation between the directory scan and the check of the
    current file can hide a whole segment. Writers take ``<ledger>.lock`` shared and rotation
    takes it exclusively, so holding it shared here gives a consistent snapshot.
    """
    lock_fd = -1
    try:
        from cmdscope._private_files import open_private

        lock_fd = open_private(ledger + ".lock", os.O_WRONLY | os.O_CREAT)
        fcntl.flock(lock_fd, fcntl.LOCK_SH)
    except OSError:
        pass  # no lock possible (read-only place): take the snapshot anyway
    try:
        opened = []
        for seg in segments(ledger):
            try:
                fh = open(seg, "rb")
            except OSError:
                continue
            opened.append((fh, os.fstat(fh.fileno()).st_ino))
        return opened
    finally:
        if lock_fd >= 0:
            os.close(lock_fd)  # releases the lock


def pending(ledger: str, cp: Checkpoint) -> Iterator[tuple[int, int, bytes]]:
    """(inode, end offset, line) for every whole line after the checkpoint, in order."""
    opened = _open_segments(ledger)
    try:
        inodes = [ino for _, ino in opened]
        start = inodes.index(cp.inode) if cp.inode in inodes else 0
        for fh, ino in opened[start:]:
            offset = cp.offset if ino == cp.inode else 0
            fh.seek(offset)
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # being written: next pass
                offset += len(line)
                yield ino, offset, line
    finally:
        for fh, _ in opened:
            fh.close()


def record_to_span(record: dict[str, Any], resource: Any) -> Any:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    from cmdscope._version import __version__
    from cmdscope._sinks.otel import span_attributes

    trace_id = int(record["trace_id"], 16)
    ctx = SpanContext(trace_id, int(record["span_id"], 16), is_remote=False, trace_flags=TraceFlags(1))
    parent = None
    if record.get("parent_span_id"):
        parent = SpanContext(trace_id, int(record["parent_span_id"], 16), is_remote=True, trace_flags=TraceFlags(1))
    attrs = span_attributes(record)
    attrs["cmdscope.record.id"] = record["record_id"]
    attrs["cmdscope.event.kind"] = record.get("kind", "command")
    ok = record.get("cmdscope.outcome", "success") == "success"
    status = Status(StatusCode.UNSET) if ok else Status(StatusCode.ERROR, str(record.get("error.type") or record.get("cmdscope.outcome")))
    return ReadableSpan(
        name=str(record.get("name") or record.get("process.executable.name") or record.get("kind")),
        context=ctx,
        parent=parent,
        resource=resource,
        attributes=attrs,
        kind=SpanKind.CLIENT if record.get("kind") in ("command", "denial") else SpanKind.INTERNAL,
        status=status,
        start_time=int(record["start_ns"]),
        end_time=int(record["end_ns"]),
        instrumentation_scope=InstrumentationScope("cmdscope", __version__),
    )


_SEVERITY = {"success": ("INFO", 9), "failure": ("WARN", 13), "timeout": ("WARN", 13),
             "interrupted": ("WARN", 13), "error": ("ERROR", 17), "denied": ("ERROR", 17)}


def record_to_log(record: dict[str, Any], resource: Any) -> Any:
    """The record as an OTel log event (``cmdscope.<kind>``) joined to its span."""
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

    from cmdscope._version import __version__
    from cmdscope._sinks.otel import span_attributes

    attrs = span_attributes(record)
    attrs["cmdscope.record.id"] = record["record_id"]
    outcome = record.get("cmdscope.outcome", "success")
    text, number = _SEVERITY.get(outcome, ("INFO", 9))
    if record.get("cmdscope.danger.severity") == "critical":
        text, number = "ERROR", 17
    span_context = SpanContext(int(record["trace_id"], 16), int(record["span_id"], 16), is_remote=False,
                               trace_flags=TraceFlags(1))
    body = str(record.get("process.command_line") or record.get("name") or "")
    scope = InstrumentationScope("cmdscope", __version__)
    end = int(record["end_ns"])
    try:
        from opentelemetry.sdk._logs import ReadableLogRecord  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # older SDKs (1.30): exporters take LogData around an SDK LogRecord
        from opentelemetry.sdk._logs import LogData, LogRecord as SdkLogRecord  # type: ignore[attr-defined,unused-ignore]

        return LogData(SdkLogRecord(
            timestamp=end, observed_timestamp=end, trace_id=span_context.trace_id, span_id=span_context.span_id,
            trace_flags=span_context.trace_flags, severity_text=text, severity_number=SeverityNumber(number),
            body=body, resource=resource, attributes=attrs), scope)
    log = LogRecord(  # type: ignore[call-arg,unused-ignore]  # context/event_name: API >= 1.35
        timestamp=end,
        observed_timestamp=end,
        context=set_span_in_context(NonRecordingSpan(span_context)),
        severity_text=text,
        severity_number=SeverityNumber(number),
        body=body,
        attributes=attrs,
        event_name=f"cmdscope.{record.get('kind', 'command')}",
    )
    return ReadableLogRecord(log, resource, scope)


def default_exporter(endpoint: str | None = None, protocol: str | None = None, timeout: float = 5.0) -> Any:
    from cmdscope._config import make_exporter

    return make_exporter("traces", "otlp", protocol, endpoint, timeout)


def default_log_exporter(endpoint: str | None = None, protocol: str | None = None, timeout: float = 5.0) -> Any:
    """OTLP log exporter, unless ``OTEL_LOGS_EXPORTER=none``."""
    from cmdscope._config import make_exporter

    return make_exporter("logs", settings.get("OTEL_LOGS_EXPORTER"), protocol, endpoint, timeout)


class ShipStats:
    """Counts of one shipping run."""

    def __init__(self) -> None:
        self.shipped = 0
        self.batches = 0
        self.failures = 0
        self.bad_lines = 0
        self.already_exported = 0  # spans not sent: their process exported them (sinks/exported.py)


def ship_once(ledger: str, exporter: Any, stats: ShipStats | None = None, log_exporter: Any = None) -> bool:
    """Export everything after the checkpoint. True when caught up, False when the backend failed.

    A batch counts as delivered only when spans (and log events, when a log exporter is given)
    were both accepted; otherwise the checkpoint stays and the whole batch is sent again.
    """
    import json

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import SpanExportResult

    from cmdscope._sinks import exported

    stats = stats or ShipStats()
    resource = Resource.create({"service.name": settings.get("OTEL_SERVICE_NAME")})
    # Spans a process exported itself and the backend accepted (sinks/exported.py): their
    # records' log events are still shipped, the span is not sent again.
    confirmed, confirmed_read = exported.load(ledger)
    cp = Checkpoint.load(ledger)
    batch: list[Any] = []
    logs: list[Any] = []
    last = (cp.inode, cp.offset)

    def flush() -> bool:
        nonlocal batch, logs
        if batch or logs:
            try:
                ok = not batch or exporter.export(batch) == SpanExportResult.SUCCESS
                if ok and logs and log_exporter is not None:
                    ok = _log_ok(log_exporter.export(logs))
            except Exception:  # an exporter that raises is a failed export, never a crash
                ok = False
            if not ok:
                stats.failures += 1
                return False
            stats.shipped += len(batch)
            stats.batches += 1
            batch, logs = [], []
        if last != (cp.inode, cp.offset):
            cp.inode, cp.offset = last
            cp.save(ledger)
        return True

    for ino, end, line in pending(ledger, cp):
        try:
            record = json.loads(line)
            span = record_to_span(record, resource)
            log = record_to_log(record, resource) if log_exporter is not None else None
            if confirmed and record.get("span_id") in confirmed:
                stats.already_exported += 1
            else:
                batch.append(span)
            if log is not None:
                logs.append(log)
        except (ValueError, KeyError, TypeError):
            stats.bad_lines += 1  # torn or foreign line: skipped, like every reader
        last = (ino, end)
        if max(len(batch), len(logs)) >= BATCH and not flush():
            return False
    if not flush():
        return False
    exported.compact(ledger, confirmed_read)  # caught up: every id read was for a record behind us
    return True


def _log_ok(result: Any) -> bool:
    return getattr(result, "name", str(result)).upper().endswith("SUCCESS")


def run_shipper(
    ledger: str | None,
    exporter: Any,
    *,
    log_exporter: Any = None,
    follow: bool = False,
    poll_s: float = 0.5,
    max_backoff_s: float = 30.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> ShipStats:
    """Hold the per-ledger lock and ship; with ``follow``, keep going with backoff while down."""
    path = _ledger(ledger)
    stats = ShipStats()
    lock = _open_ship_lock(path)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | (0 if follow else fcntl.LOCK_NB))
    except BlockingIOError:
        lock.close()
        return stats  # another shipper owns this ledger
    backoff = poll_s
    try:
        while True:
            ok = ship_once(path, exporter, stats, log_exporter)
            if ok:
                _clear_backoff(path)
            else:
                _note_failure(path, _previous_wait(path))
            if not follow:
                if ok:
                    # Release, then look again: a writer that saw the lock held appended before
                    # trying it, so anything it wrote is visible now.
                    fcntl.flock(lock, fcntl.LOCK_UN)
                    if _has_pending(path):
                        try:
                            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                            continue
                        except BlockingIOError:
                            return stats
                return stats
            if should_stop():
                return stats
            backoff = poll_s if ok else min(max_backoff_s, backoff * 2)
            time.sleep(backoff)
    finally:
        lock.close()


def _has_pending(ledger: str) -> bool:
    return next(pending(ledger, Checkpoint.load(ledger)), None) is not None


def _backoff_path(ledger: str) -> str:
    return ledger + ".ship.backoff"


def backing_off(ledger: str, now_ns: int | None = None) -> bool:
    """Did a recent export fail? Then short-lived processes leave the records for later instead
    of starting (and paying for) a shipper that would fail again."""
    try:
        with open(_backoff_path(ledger), encoding="ascii") as fh:
            until_ns = int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return (now_ns or time.time_ns()) < until_ns


def _note_failure(ledger: str, previous_s: float) -> float:
    """Back off exponentially (2 s doubling up to 5 min) after a failed export."""
    wait_s = min(300.0, max(2.0, previous_s * 2))
    try:
        from cmdscope._private_files import open_private

        fd = open_private(_backoff_path(ledger), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{time.time_ns() + int(wait_s * 1e9)} {wait_s}\n")
    except OSError:
        pass
    return wait_s


def _clear_backoff(ledger: str) -> None:
    try:
        os.unlink(_backoff_path(ledger))
    except OSError:
        pass


def _previous_wait(ledger: str) -> float:
    try:
        with open(_backoff_path(ledger), encoding="ascii") as fh:
            return float(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0


def spawn_detached_shipper(ledger: str | None, environ: Mapping[str, str] | None = None) -> bool:
    """Start ``cmdscope ship --once`` in the background unless one already holds the lock, or
    the endpoint failed recently (the records wait in the ledger; ``cmdscope ship`` or the next
    command after the back-off sends them)."""
    path = _ledger(ledger)
    if backing_off(path):
        return False
    try:
        with _open_ship_lock(path) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # the running shipper will see our record before it lets go
    except OSError:
        return False
    subprocess.Popen(
        [sys.executable, "-m", "cmdscope", "ship", "--once", "--ledger", path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        env=None if environ is None else dict(environ),
    )
    return True


def checkpoint_lag(ledger: str) -> int:
    """How many whole records wait to be shipped."""
    return sum(1 for _ in pending(ledger, Checkpoint.load(ledger)))


__all__ = ["Checkpoint", "ShipStats", "checkpoint_lag", "run_shipper", "ship_once", "spawn_detached_shipper"]
