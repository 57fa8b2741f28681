"""Test helper: move records that the real CLI recorded to other times, through the ledger's writer.

Reports that compare weeks need records a week apart; a test cannot wait a week. So a test runs
the real commands (``cmdscope run``, ``cmdscope gate run``, ...) into a scratch ledger, then
``place()`` appends each of those records to the ledger under test with its ``end_ns`` moved to a
chosen time: ``start_ns`` moves by the same amount (the duration is kept) and ``time`` (the ISO
form of ``end_ns``) is recomputed. Everything else, ids, hashes, outcome, class, context, is what
the recorder wrote. The lines are written by ``cmdscope._sinks.ledger.LedgerWriter`` (the writer the
recorder's ledger sink uses: one ``os.write`` per line, mode 0600, the same encoding), in time
order, so the ledger under test looks like one recorded over those weeks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cmdscope._pipeline import iso_time
from cmdscope._sinks.ledger import LedgerWriter


def recorded(ledger: Path) -> list[dict[str, Any]]:
    """The records in a scratch ledger, in file order."""
    return [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]


def moved(record: dict[str, Any], end_ns: int) -> dict[str, Any]:
    """A copy of ``record`` that ended at ``end_ns``, with the same duration."""
    delta = end_ns - record["end_ns"]
    out = dict(record)
    out["start_ns"] = record["start_ns"] + delta
    out["end_ns"] = end_ns
    out["time"] = iso_time(end_ns)
    return out


def place(ledger: Path, placements: Iterable[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
    """Append each (record, new end_ns) to ``ledger``, oldest first, through the ledger writer."""
    records = sorted((moved(rec, end) for rec, end in placements), key=lambda r: r["end_ns"])
    with LedgerWriter(ledger, fsync="never") as writer:
        for rec in records:
            assert writer.append(rec), "the ledger writer dropped a record"
    return records
