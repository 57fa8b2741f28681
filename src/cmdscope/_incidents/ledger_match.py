"""Find the ledger records an alert is about, from the alert's labels.

A Prometheus label is an attribute key with dots as underscores (``cmdscope.danger.rule`` ->
``cmdscope_danger_rule``), so a record matches when, for every attribute-like label of the alert,
the record has that key with that value (a list attribute matches when it contains the value;
list labels arrive as JSON text such as ``["rm-rf-root"]`` from the OTel Prometheus exporter).

The receiver keeps the ledger's most recent records in memory (:class:`RecentRecords`) and
reads only what was appended since the previous webhook: rescanning the whole ledger per POST
made concurrent posters time out on a large ledger.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# Label prefixes that come from record attributes; alertname, severity, job, ... do not.
_ATTRIBUTE_PREFIXES = ("cmdscope_", "process_", "error_", "vcs_", "session_", "host_", "gen_ai_")
DEFAULT_WINDOW = 10_000  # records kept for matching: the alerts are about what happened lately


def attribute_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels that name record attributes, with non-empty values."""
    return {k: v for k, v in labels.items() if k.startswith(_ATTRIBUTE_PREFIXES) and v}


def _label_values(value: str) -> list[str]:
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        if isinstance(parsed, list):
            return [str(v) for v in parsed]
    return [value]


def _value_matches(record_value: Any, label_value: str) -> bool:
    wanted = _label_values(label_value)
    if isinstance(record_value, list):
        have = {str(v) for v in record_value}
        return all(w in have for w in wanted)
    if isinstance(record_value, bool):
        record_value = "true" if record_value else "false"
    return len(wanted) == 1 and str(record_value) == wanted[0]


def record_matches(record: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """True when ``record`` carries every attribute label of ``labels`` (at least one)."""
    wanted = attribute_labels(labels)
    if not wanted:
        return False
    by_label = {key.replace(".", "_"): value for key, value in record.items() if "." in key}
    if "cmdscope_policy_action" in wanted:
        # Metrics carry the *effective* action (deny only when blocked; a deny rule in observe mode
        # ran, so "allow"); compare like with like, not with the policy's raw decision.
        from cmdscope._sinks.otel import effective_action

        by_label["cmdscope_policy_action"] = effective_action(dict(record))
    return all(name in by_label and _value_matches(by_label[name], value) for name, value in wanted.items())


def _parse_lines(data: bytes) -> Iterable[dict[str, Any]]:
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            continue  # torn or foreign lines are `cmdscope ledger verify`'s business
        if isinstance(record, dict):
            yield record


class RecentRecords:
    """The last ``window`` records of a ledger, kept up to date by reading only new bytes.

    The position is (inode, offset) of the current file; a rotation is followed by finishing the
    renamed segment from the remembered offset, then reading the new file from its start.
    """

    def __init__(self, ledger: Path, window: int = DEFAULT_WINDOW) -> None:
        self.ledger = Path(ledger)
        self.records: deque[dict[str, Any]] = deque(maxlen=window)
        self._inode = 0
        self._offset = 0
        self._loaded = False
        self._lock = threading.Lock()
        self.bytes_read = 0  # what refreshes have read, for tests and diagnostics

    def refresh(self) -> None:
        with self._lock:
            if not self._loaded:
                self._load_initial()
                self._loaded = True
            else:
                self._follow()

    def _segments(self) -> list[Path]:
        from cmdscope._sinks.ledger import segments

        return segments(self.ledger)

    def _load_initial(self) -> None:
        wanted = self.records.maxlen or 0
        chunks: list[list[dict[str, Any]]] = []
        have = 0
        segs = self._segments()
        for i, seg in enumerate(reversed(segs)):  # newest first, until the window is full
            data, end, inode = _read_from(seg, 0)
            self.bytes_read += len(data)
            if i == 0 and seg == self.ledger:
                self._inode, self._offset = inode, end
            found = list(_parse_lines(data))
            chunks.append(found)
            have += len(found)
            if have >= wanted:
                break
        for found in reversed(chunks):
            self.records.extend(found)

    def _follow(self) -> None:
        try:
            st = os.stat(self.ledger)
        except FileNotFoundError:
            return
        if self._inode and st.st_ino != self._inode:
            for seg in self._segments():  # the renamed segment still has our inode
                try:
                    if seg != self.ledger and os.stat(seg).st_ino == self._inode:
                        data, _, _ = _read_from(seg, self._offset)
                        self.bytes_read += len(data)
                        self.records.extend(_parse_lines(data))
                        break
                except FileNotFoundError:
                    continue
            self._offset = 0
        if st.st_size < self._offset:  # truncated in place: start over on this file
            self._offset = 0
        data, end, inode = _read_from(self.ledger, self._offset)
        self.bytes_read += len(data)
        self._inode, self._offset = inode, end
        self.records.extend(_parse_lines(data))

    def matching(self, label_sets: Iterable[Mapping[str, str]], limit: int) -> list[dict[str, Any]]:
        sets = [s for s in (attribute_labels(s) for s in label_sets) if s]
        if not sets or limit <= 0:
            return []
        self.refresh()
        last: deque[dict[str, Any]] = deque(maxlen=limit)
        with self._lock:
            for record in self.records:
                if any(record_matches(record, s) for s in sets):
                    last.append(record)
        return list(last)


def _read_from(path: Path, offset: int) -> tuple[bytes, int, int]:
    """Whole lines from ``offset`` on (a partial last line is left for the next read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return b"", offset, 0
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return b"", offset, 0
        chunks = []
        pos = offset
        while True:
            chunk = os.pread(fd, 1 << 20, pos)
            if not chunk:
                break
            chunks.append(chunk)
            pos += len(chunk)
        data = b"".join(chunks)
        cut = data.rfind(b"\n") + 1
        return data[:cut], offset + cut, st.st_ino
    finally:
        os.close(fd)


def matching_records(ledger: Path | None, label_sets: Iterable[Mapping[str, str]], limit: int = 20) -> list[dict[str, Any]]:
    """The last ``limit`` records matching any of ``label_sets`` among the ledger's most recent
    :data:`DEFAULT_WINDOW` (oldest first). One-shot form of :class:`RecentRecords`."""
    if ledger is None:
        return []
    return RecentRecords(ledger).matching(label_sets, limit)
