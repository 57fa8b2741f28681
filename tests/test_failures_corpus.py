"""The classifier against the labelled corpus of real failure outputs (tests/data/failure_corpus)."""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from cmdscope._failures import classify

CORPUS = Path(__file__).parent / "data" / "failure_corpus"
sys.path.insert(0, str(CORPUS))
from families import family_of  # noqa: E402 - the corpus scripts' own module


def _cases(kind: str = "*") -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(CORPUS.glob(f"{kind}/*.json"))]


def _run(case: dict) -> str:
    return classify(exit_code=case["exit_code"], signal=case["signal"], executable=case["executable"],
                    argv=case["argv"], phase=case["phase"], outcome=case["outcome"],
                    stderr_tail=case["stderr"].encode(), stdout_tail=case["stdout"].encode()).error_type


def test_corpus_is_large_and_mostly_captured() -> None:
    """At least 200 outputs were captured from real tools; hand-written ones are labelled so."""
    captured, written = _cases("captured"), _cases("handwritten")
    assert len(captured) >= 500
    assert all(c["source"] == "captured" for c in captured)
    assert all(c["source"] == "hand-written" for c in written)
    labels = Counter(c["label"] for c in captured)
    for needed in ("test_failure", "typecheck_failure", "lint_failure", "build_error", "push_rejected",
                   "merge_conflict", "network_error", "permission_denied", "file_not_found",
                   "command_not_found", "timeout", "killed", "disk_full", "already_exists", "database_error",
                   "invalid_input", "address_in_use", "no_tests", "negative_answer"):
        assert labels[needed] >= 1, needed


def test_accuracy_at_least_95_percent_and_unknown_share_reported() -> None:
    """>= 95% of the corpus classifies to its label; the share of `unknown` is printed."""
    cases = _cases()
    results = [(c, _run(c)) for c in cases]
    wrong = [(c["id"], c["label"], got) for c, got in results if got != c["label"]]
    accuracy = 1 - len(wrong) / len(cases)
    unknown = sum(1 for _, got in results if got == "unknown") / len(cases)
    print(f"\nfailure corpus: {len(cases)} cases, accuracy {accuracy:.1%}, unknown share {unknown:.1%}")
    assert accuracy >= 0.95, wrong
    assert unknown < 0.10


def test_every_family_at_least_90_percent_and_the_table_in_the_docs_is_current() -> None:
    """Per tool family (issue 22): accuracy and `unknown` count; docs/failures.md shows the same."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in _cases():
        got = _run(c)
        row = per[family_of(c["id"])]
        row[0] += 1
        row[1] += got == c["label"]
        row[2] += got == "unknown"
    table = [f"| {fam} | {n} | {ok / n:.1%} | {unk} |" for fam, (n, ok, unk) in sorted(per.items())]
    print("\n" + "\n".join(table))
    low = {fam: ok / n for fam, (n, ok, _) in per.items() if ok / n < 0.90}
    assert not low, low
    docs = (Path(__file__).parent.parent / "docs" / "failures.md").read_text()
    missing = [row for row in table if row not in docs]
    assert not missing, "docs/failures.md per-family table is stale; rows now:\n" + "\n".join(table)
