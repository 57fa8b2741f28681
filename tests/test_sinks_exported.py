"""Confirmed in-process exports (`cmdscope._sinks.exported`): what the shipper may skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmdscope._sinks import exported


@pytest.fixture(autouse=True)
def _clean() -> None:
    exported._expected.clear()


class TestConfirm:
    def test_only_accepted_expected_spans_are_listed_beside_their_ledger(self, tmp_path: Path) -> None:
        """Two ledgers; a confirmed id goes beside its own ledger, a forgotten (failed) one and
        an id nobody expected go nowhere."""
        a, b = str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")
        exported.expect("1" * 16, a)
        exported.expect("2" * 16, b)
        exported.expect("3" * 16, a)
        exported.forget(["3" * 16])
        exported.confirm(["1" * 16, "2" * 16, "3" * 16, "4" * 16])
        assert exported.load(a) == ({"1" * 16}, 17)
        assert exported.load(b) == ({"2" * 16}, 17)
        assert exported._expected == {}

    def test_a_provider_that_never_confirms_keeps_memory_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Past MAX_EXPECTED the oldest expectations are forgotten (their spans are shipped)."""
        monkeypatch.setattr(exported, "MAX_EXPECTED", 10)
        for i in range(25):
            exported.expect(f"{i:016x}", "/tmp/x")
        assert list(exported._expected) == [f"{i:016x}" for i in range(15, 25)]


class TestCompact:
    def test_compaction_keeps_what_was_confirmed_after_the_load(self, tmp_path: Path) -> None:
        """The shipper drops the ids it read; one appended meanwhile is kept for the next pass."""
        ledger = str(tmp_path / "l.jsonl")
        exported.expect("a" * 16, ledger)
        exported.confirm(["a" * 16])
        ids, read = exported.load(ledger)
        exported.expect("b" * 16, ledger)
        exported.confirm(["b" * 16])
        exported.compact(ledger, read)
        assert ids == {"a" * 16}
        assert exported.load(ledger)[0] == {"b" * 16}
        assert sorted(p.name for p in tmp_path.iterdir()) == ["l.jsonl.exported"]

    def test_a_torn_last_line_is_not_read(self, tmp_path: Path) -> None:
        ledger = str(tmp_path / "l.jsonl")
        Path(exported.sidecar(ledger)).write_bytes(b"c" * 16 + b"\n" + b"dd")
        assert exported.load(ledger) == ({"c" * 16}, 17)
