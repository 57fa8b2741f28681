"""Sealed ledger: `ledger verify` names every edited, deleted, reordered or inserted line."""

from __future__ import annotations

import hashlib
import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from cmdscope._sinks.ledger import LedgerWriter, ReadStats, read_records
from cmdscope._sinks.seal import verify_chain
from conftest import PYTHON, cmdscope_cli

WRITER = textwrap.dedent("""
    import sys
    from cmdscope._sinks.ledger import LedgerWriter
    w = LedgerWriter(sys.argv[1], fsync="never", seal=True, max_bytes=int(sys.argv[3]))
    for i in range(int(sys.argv[2])):
        w.append({"record_id": f"{i:032x}", "writer": sys.argv[4], "i": i})
    w.close()
""")


def sealed_ledger(path: Path, n: int = 250, writers: int = 2, max_bytes: int = 0) -> None:
    procs = [subprocess.Popen([PYTHON, "-c", WRITER, str(path), str(n), str(max_bytes), str(w)]) for w in range(writers)]
    assert all(p.wait(timeout=120) == 0 for p in procs)


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.jsonl"
    sealed_ledger(path)
    return path


class TestChain:
    def test_concurrent_sealed_writers_verify_clean(self, ledger: Path) -> None:
        """Two processes sealing 250 records each form one unbroken chain."""
        assert verify_chain(str(ledger)) == []
        stats = ReadStats()
        records = list(read_records(ledger, stats=stats))
        assert len(records) == 500 and stats.bad == []
        assert [r["seal_seq"] for r in records] == list(range(1, 501))

    def test_chain_continues_across_rotation(self, tmp_path: Path) -> None:
        """Rotated segments keep one chain; verify walks them in order."""
        path = tmp_path / "ledger.jsonl"
        sealed_ledger(path, n=300, writers=2, max_bytes=8 * 1024)
        assert len(list(tmp_path.glob("ledger.jsonl.*[0-9]"))) > 2
        assert verify_chain(str(path)) == []

    def test_edited_line_is_named(self, ledger: Path) -> None:
        """Changing one value breaks that line's hash."""
        data = lines(ledger)
        data[41] = data[41].replace(b'"i":', b'"i":1', 1)
        ledger.write_bytes(b"".join(data))
        problems = verify_chain(str(ledger))
        assert problems == [f"{ledger}:42: seal_hash does not match the line (edited)"]

    def test_deleted_line_is_named(self, ledger: Path) -> None:
        """Removing a line leaves a gap in the sequence at the next line."""
        data = lines(ledger)
        del data[10]
        ledger.write_bytes(b"".join(data))
        assert verify_chain(str(ledger)) == [f"{ledger}:11: seal_seq 12, expected 11: missing records (deleted)"]

    def test_reordered_lines_are_named(self, ledger: Path) -> None:
        """Swapping two lines is reported where the order breaks."""
        data = lines(ledger)
        data[5], data[6] = data[6], data[5]
        ledger.write_bytes(b"".join(data))
        problems = verify_chain(str(ledger))
        assert problems and problems[0].startswith(f"{ledger}:6: seal_seq 7, expected 6")

    def test_inserted_lines_are_named(self, ledger: Path) -> None:
        """A duplicated sealed line and a plain forged line are both caught."""
        data = lines(ledger)
        data.insert(20, data[3])
        data.insert(30, json.dumps({"record_id": "f" * 32, "forged": True}).encode() + b"\n")
        ledger.write_bytes(b"".join(data))
        problems = verify_chain(str(ledger))
        assert any(p.startswith(f"{ledger}:21: seal_seq 4, expected 21: out of order") for p in problems)
        assert f"{ledger}:31: line is not sealed (inserted or damaged)" in problems

    def test_truncated_tail_caught_by_anchor(self, ledger: Path) -> None:
        """Cutting records off the end is caught when an anchor names a record past the cut."""
        data = lines(ledger)
        ledger.write_bytes(b"".join(data[:450]))
        problems = verify_chain(str(ledger))
        assert problems == [f"{ledger}.anchors:5: anchored record 500 is missing (tail truncated?)"]

    def test_keyed_chain_resists_recomputation(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With CMDSCOPE_SEAL_KEY, a forger recomputing plain SHA-256 hashes is still caught."""
        monkeypatch.setenv("CMDSCOPE_SEAL_KEY", "k3y-only-the-auditor-has")
        path = tmp_path / "ledger.jsonl"
        with LedgerWriter(path, seal=True) as w:
            for i in range(3):
                w.append({"record_id": f"{i:032x}", "i": i})
        assert verify_chain(str(path)) == []
        first = lines(path)[0]
        body = first.rsplit(b',"seal_hash"', 1)[0].replace(b'"i":0', b'"i":9') + b"}"
        forged = body[:-1] + f',"seal_hash":"{hashlib.sha256(body).hexdigest()}"}}\n'.encode()
        path.write_bytes(forged + b"".join(lines(path)[1:]))
        assert verify_chain(str(path))[0].endswith("seal_hash does not match the line (edited)")

    def test_cli_verify_reports_tampering(self, ledger_path: Path) -> None:
        """`cmdscope run` with CMDSCOPE_LEDGER_SEAL=1 seals; `ledger verify` fails after an edit."""
        env = {"CMDSCOPE_LEDGER_SEAL": "1"}
        for _ in range(3):
            assert cmdscope_cli("run", "--", "true", env=env).returncode == 0
        assert cmdscope_cli("ledger", "verify", capture_output=True, text=True).returncode == 0
        text = ledger_path.read_text().replace('"process.exit.code":0', '"process.exit.code":1', 1)
        ledger_path.write_text(text)
        out = cmdscope_cli("ledger", "verify", capture_output=True, text=True)
        assert out.returncode == 1 and f"{ledger_path}:1: seal_hash does not match" in out.stdout


def test_append_once_in_a_sealed_ledger_keeps_the_chain(tmp_path: Path) -> None:
    """A hook record written once (the retry finds it) in a sealed ledger: one line, intact chain."""
    path = tmp_path / "ledger.jsonl"
    with LedgerWriter(path, fsync="never", seal=True) as w:
        w.append({"record_id": "0" * 32})
        assert w.append_once({"record_id": "e" * 32}) == "written"
        assert w.append_once({"record_id": "e" * 32}) == "present"
        w.append({"record_id": "1" * 32})
    assert [r["record_id"][0] for r in read_records(path)] == ["0", "e", "1"]
    assert verify_chain(str(path)) == []


def test_verify_chain_memory_does_not_grow_with_the_ledger(tmp_path: Path) -> None:
    """100,000 unsealed lines in a ledger that must be sealed: the first 100 named, the rest
    counted, and the walk keeps no per-line state (``ledger verify`` on 10M records)."""
    import tracemalloc

    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b'{"schema":1,"i":0}\n' * 100_000)
    Path(str(path) + ".anchors").write_text("")  # says: this ledger is sealed
    tracemalloc.start()
    try:
        problems = verify_chain(str(path))
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(problems) == 101 and problems[-1].endswith("... and 99900 more unsealed line(s)")
    assert peak < 2 * 1024 * 1024, peak  # a name per line kept: ~10 MB


class TestOnceSealedAlwaysSealed:
    """Issue 15 item 6: a sealed ledger cannot be turned back into an unsealed one unnoticed."""

    def _strip(self, raw: bytes) -> bytes:
        head, _, _ = raw.partition(b',"seal_seq":')
        return head + b"}\n"

    def test_stripping_every_seal_is_caught(self, ledger: Path) -> None:
        """Removing the seal fields from every line and editing freely fails verify, even with
        no sealing variable set: the seal state outside the ledger's directory says "sealed"."""
        data = [self._strip(raw) for raw in lines(ledger)]
        data[7] = data[7].replace(b'"i":', b'"i":7', 1)
        ledger.write_bytes(b"".join(data))
        Path(str(ledger) + ".anchors").unlink()  # the attacker removes the anchors too
        problems = verify_chain(str(ledger))
        assert problems and f"{ledger}:1: line is not sealed, but the ledger must be (seal state" in problems[0]

    def test_anchors_alone_mark_the_ledger_sealed(self, tmp_path: Path) -> None:
        """Without the seal state (another machine, say), the anchors file still demands seals."""
        path = tmp_path / "copied.jsonl"
        sealed_ledger(path, n=120, writers=1)
        from cmdscope._sinks.seal import state_path

        Path(state_path(str(path))).unlink()
        path.write_bytes(b"".join(self._strip(raw) for raw in lines(path)))
        problems = verify_chain(str(path))
        assert problems[0] == f"{path}:1: line is not sealed, but the ledger must be (anchors file {path}.anchors)"

    def test_a_forged_unsealed_segment_is_caught(self, tmp_path: Path) -> None:
        """A whole segment of unsealed records placed before the sealed ones is named line by line."""
        path = tmp_path / "ledger.jsonl"
        sealed_ledger(path, n=50, writers=1)
        forged = tmp_path / "ledger.jsonl.000000"
        forged.write_text(json.dumps({"schema": 1, "record_id": "f" * 32, "process.command_line": "nothing to see"}) + "\n")
        problems = verify_chain(str(path))
        assert f"{path}:1: seal_prev does not match the previous line's hash (chain broken)" in problems

    def test_cli_verify_fails_when_seals_were_stripped(self, ledger_path: Path) -> None:
        """Through the CLI: sealed runs, seals stripped, `ledger verify` exits 1 and names line 1."""
        for _ in range(2):
            assert cmdscope_cli("run", "--", "true", env={"CMDSCOPE_LEDGER_SEAL": "1"}).returncode == 0
        ledger_path.write_bytes(b"".join(self._strip(raw) for raw in lines(ledger_path)))
        out = cmdscope_cli("ledger", "verify", capture_output=True, text=True)
        assert out.returncode == 1 and f"{ledger_path}:1: line is not sealed" in out.stdout

    def test_sealing_an_existing_ledger_binds_its_history(self, tmp_path: Path) -> None:
        """Sealing switched on over unsealed history: editing that history breaks the chain."""
        path = tmp_path / "ledger.jsonl"
        with LedgerWriter(path) as w:
            for i in range(3):
                w.append({"schema": 1, "record_id": f"{i:032x}", "i": i})
        with LedgerWriter(path, seal=True) as w:
            for i in range(3, 6):
                w.append({"schema": 1, "record_id": f"{i:032x}", "i": i})
        assert verify_chain(str(path)) == []
        data = lines(path)
        data[1] = data[1].replace(b'"i":1', b'"i":9')
        path.write_bytes(b"".join(data))
        assert verify_chain(str(path)) == [f"{path}:4: seal_prev does not match the previous line's hash (chain broken)"]

    def test_other_key_is_named(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Verifying with a different key than the ledger was sealed with says so (key id, not key)."""
        path = tmp_path / "ledger.jsonl"
        monkeypatch.setenv("CMDSCOPE_SEAL_KEY", "first-key")
        with LedgerWriter(path, seal=True) as w:
            w.append({"schema": 1, "record_id": "0" * 32})
        monkeypatch.setenv("CMDSCOPE_SEAL_KEY", "second-key")
        problems = verify_chain(str(path))
        assert "sealed with key hmac:" in problems[0] and "first-key" not in problems[0]
