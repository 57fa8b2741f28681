"""RetryTracker: retry counts across processes, per session or packet, within a window."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cmdscope._failures import RetryTracker

S = 1_000_000_000


def test_counts_consecutive_failures_and_success_ends_streak(tmp_path: Path) -> None:
    """The 2nd and 3rd failed runs are retries 1 and 2 of the previous failure; a success is
    reported as a retry and resets the streak."""
    t = RetryTracker(tmp_path)
    assert t.observe("h1", "s1", None, True, "r1", 1 * S) == (0, None)
    assert t.observe("h1", "s1", None, True, "r2", 2 * S) == (1, "r1")
    assert t.observe("h1", "s1", None, False, "r3", 3 * S) == (2, "r2")
    assert t.observe("h1", "s1", None, True, "r4", 4 * S) == (0, None)
    assert t.observe("h2", "s1", None, True, "r5", 5 * S) == (0, None)


def test_scope_and_window(tmp_path: Path) -> None:
    """Another session does not count, the same packet does, and old failures expire."""
    t = RetryTracker(tmp_path, window_s=60)
    t.observe("h", "s1", "P1", True, "r1", 0)
    assert t.observe("h", "s2", None, True, "r2", 1 * S) == (0, None)
    assert t.observe("h", "s3", "P1", True, "r3", 2 * S) == (1, "r1")
    assert t.observe("h", "s3", "P1", True, "r4", 200 * S) == (0, None)
    assert t.observe("h", None, None, True, "r5", 201 * S) == (0, None)


def test_concurrent_processes_lose_no_count(tmp_path: Path) -> None:
    """Eight processes each recording 25 failures of one command give a final count of 200."""
    code = ("import sys, time; from pathlib import Path; from cmdscope._failures import RetryTracker\n"
            "t = RetryTracker(Path(sys.argv[1]))\n"
            "for i in range(25): t.observe('h', 's', None, True, sys.argv[2] + str(i), time.time_ns())\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), f"p{n}-"]) for n in range(8)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    count, retry_of = RetryTracker(tmp_path).observe("h", "s", None, False, "final", __import__("time").time_ns())
    assert count == 200 and retry_of is not None


def test_corrupt_state_file_is_not_fatal(tmp_path: Path) -> None:
    """A garbage state file resets the scope instead of raising."""
    t = RetryTracker(tmp_path)
    t.observe("h", "s", None, True, "r1", 1)
    for f in (tmp_path / "retry").iterdir():
        f.write_bytes(b"\x00garbage")
    assert t.observe("h", "s", None, True, "r2", 2) == (0, None)
