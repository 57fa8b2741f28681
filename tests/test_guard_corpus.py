"""The labelled corpus (tests/data/danger_corpus.jsonl) at the issue's quality bars."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from cmdscope._guard.decision import SEVERITY_RANK
from cmdscope._guard.loader import build_registry
from cmdscope._guard.sources import discover

ROWS = [json.loads(line) for line in
        (Path(__file__).parent / "data" / "danger_corpus.jsonl").read_text().splitlines()]


def test_corpus_shape() -> None:
    """>= 400 rows, about half dangerous, each with label, severity, category and a policy note."""
    assert len(ROWS) >= 400
    dangerous = sum(r["label"] == "dangerous" for r in ROWS)
    assert 0.4 <= dangerous / len(ROWS) <= 0.6
    for row in ROWS:
        assert row["note"].startswith("DANGER_POLICY ") and row["category"]
        assert (row["min_severity"] in SEVERITY_RANK) == (row["label"] == "dangerous")


def test_precision_recall_and_severity() -> None:
    """Precision and recall >= 0.97; a predicted severity is never below the labelled one."""
    registry, _ = build_registry(discover({}))
    stats: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fn, fp
    under = []
    for row in ROWS:
        matches = registry.check(row["command"])
        cat = row["category"]
        if row["label"] == "dangerous":
            stats[cat][0 if matches else 1] += 1
            if matches and SEVERITY_RANK[matches[0].severity] < SEVERITY_RANK[row["min_severity"]]:
                under.append((row["command"], matches[0].severity, row["min_severity"]))
        elif matches:
            stats[cat][2] += 1
    print(f"\n{'category':<22}{'tp':>5}{'fn':>5}{'fp':>5}")
    for cat, (tp, fn, fp) in sorted(stats.items()):
        print(f"{cat:<22}{tp:>5}{fn:>5}{fp:>5}")
    tp, fn, fp = (sum(v[i] for v in stats.values()) for i in range(3))
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"precision {precision:.4f} recall {recall:.4f}")
    assert precision >= 0.97 and recall >= 0.97
    assert under == []
