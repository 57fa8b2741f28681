"""Delivery under faults: every record id arrives at least once (smaller run of bench/stress_ship.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from stress_ship import run_ledger_scenario  # noqa: E402


@pytest.mark.slow
def test_receiver_outages_and_shipper_kills_lose_nothing() -> None:
    """8 producers, 2,500 records each into a ledger rotating every 256 KiB; the receiver goes
    down 3 times and the shipper is SIGKILLed twice: all 20,000 ids arrive, none corrupt;
    duplicates are allowed and counted."""
    stats = run_ledger_scenario(producers=8, per_producer=2500, outages=3, shipper_kills=2, period=1.5,
                                deadline_s=240, rotate_bytes=256 * 1024)
    print("stress figures:", stats)
    assert stats["lost"] == 0
    assert stats["corrupt"] == 0
    assert stats["delivered_unique"] == 20_000
    assert stats["segments"] > 10  # rotation really raced with the writers and the shipper
