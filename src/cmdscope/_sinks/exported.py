"""Which ledger records' spans a process already exported itself, so ``cmdscope ship`` skips them.

A process that configured the OTel SDK (``cmdscope.configure()``) exports each command's span
in-process *and* writes the record to the ledger; a ``cmdscope ship`` later would send the same
span (same trace and span id) again. So:

1. ``pipeline.emit`` calls :func:`expect` with the span id and the ledger the record went to,
   before the span ends;
2. ``config.CountingSpanExporter`` calls :func:`confirm` with the span ids of every batch the
   backend *accepted* (and :func:`forget` for a failed one); the confirmed ids are appended to
   ``<ledger>.exported`` (one 16-hex id a line, mode 0600);
3. the shipper (:func:`load`) skips the span of a record whose id is listed, and once caught up
   drops what it read (:func:`compact`).

Only a confirmed export is skipped, so nothing is lost: a span whose export failed, or whose
process died before confirming, is shipped from the ledger. What remains is at least once: a
shipper that reads a record before its in-process export was confirmed (the SDK's batch delay,
5 s by default) sends it too, and a host's own SDK pipeline (not wrapped by ``configure()``)
confirms nothing. Receivers drop those by span id (docs/reliability.md).
"""

from __future__ import annotations

import os
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

MAX_EXPECTED = 100_000  # span ids awaiting their export, per process; the oldest are forgotten
_expected: dict[str, str] = {}
_lock = threading.Lock()


def sidecar(ledger: str) -> str:
    return ledger + ".exported"


def expect(span_id: str, ledger: str) -> None:
    """The span ``span_id`` is the record just written to ``ledger``: confirm it once exported."""
    with _lock:
        _expected[span_id] = ledger
        if len(_expected) > MAX_EXPECTED:  # a provider that never confirms: forget the oldest
            del _expected[next(iter(_expected))]


def forget(span_ids: Iterable[str]) -> None:
    with _lock:
        for span_id in span_ids:
            _expected.pop(span_id, None)


def confirm(span_ids: Iterable[str]) -> None:
    """The backend accepted these spans: list them beside their ledgers (never raises)."""
    by_ledger: dict[str, list[str]] = {}
    with _lock:
        for span_id in span_ids:
            ledger = _expected.pop(span_id, None)
            if ledger is not None:
                by_ledger.setdefault(ledger, []).append(span_id)
    for ledger, ids in by_ledger.items():
        _append(sidecar(ledger), "".join(f"{i}\n" for i in ids).encode("ascii"))


def _append(path: str, data: bytes) -> None:
    from cmdscope._private_files import open_private

    try:
        fd = open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    except Exception:  # noqa: BLE001 - an unsafe or unwritable path
        return  # not confirmed: the shipper sends it again, never loses it
    try:
        os.write(fd, data)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(ledger: str) -> tuple[set[str], int]:
    """(the span ids confirmed so far, the sidecar's size read) for the shipper."""
    try:
        with open(sidecar(ledger), "rb") as fh:
            data = fh.read()
    except OSError:
        return set(), 0
    data = data[: data.rfind(b"\n") + 1]  # whole lines only
    return {line.decode("ascii", "replace") for line in data.split(b"\n") if line}, len(data)


def compact(ledger: str, read: int) -> None:
    """The shipper caught up past every record whose id it read: drop those ``read`` bytes and
    keep what was appended since. A confirmation appended in the instant of the rename may be
    lost: that record's span is shipped again (a duplicate, never a gap)."""
    path = sidecar(ledger)
    if read <= 0:
        return
    moved = f"{path}.{os.getpid()}.compact"
    try:
        os.rename(path, moved)
    except OSError:
        return
    try:
        with open(moved, "rb") as fh:
            fh.seek(read)
            rest = fh.read()
        rest = rest[: rest.rfind(b"\n") + 1]
        if rest:
            _append(path, rest)
    except OSError:
        pass
    finally:
        try:
            os.unlink(moved)
        except OSError:
            pass
