"""Faults and bad input: the wrapped command's result never changes, the ledger stays valid."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from pathlib import Path

import pytest

import cmdscope
from cmdscope._records import validate_record
from cmdscope._sinks.ledger import LedgerWriter, ReadStats, read_records
from conftest import PYTHON, cmdscope_cli


def valid_ledger(path: Path) -> list[dict]:
    stats = ReadStats()
    records = list(read_records(path, stats=stats))
    for rec in records:
        if "record_id" in rec and "kind" in rec:
            validate_record(rec)
    return records


class TestLedgerFaults:
    def test_disk_full_keeps_exit_code_and_readable_ledger(self, ledger_path: Path) -> None:
        """With the file-size limit reached mid-ledger, commands still run with their own exit
        codes; the torn fragment is skipped by readers and later records stay whole."""
        ledger_path.write_bytes(b"")
        for _ in range(3):
            cmdscope_cli("run", "--", "true")
        limit = ledger_path.stat().st_size + 300  # the next record does not fit whole

        def cap() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        out = subprocess.run([PYTHON, "-m", "cmdscope", "run", "--", "sh", "-c", "exit 3"],
                             preexec_fn=cap, capture_output=True, text=True)
        assert out.returncode == 3
        assert "record not written" in out.stderr and "Traceback" not in out.stderr
        assert cmdscope_cli("run", "--", "sh", "-c", "exit 4").returncode == 4  # space again
        stats = ReadStats()
        records = list(read_records(ledger_path, stats=stats))
        assert [r["process.exit.code"] for r in records] == [0, 0, 0, 4]
        assert len(stats.bad) <= 1  # at most the one torn fragment, reported, not fatal

    def test_unwritable_ledger_location(self, tmp_path: Path) -> None:
        """A ledger path that cannot be created: the command runs, one warning, same exit code."""
        out = cmdscope_cli("run", "--", "sh", "-c", "echo out; exit 5", capture_output=True, text=True,
                           env={"CMDSCOPE_LEDGER": "/proc/cmdscope-nope/ledger.jsonl"})
        assert out.returncode == 5 and out.stdout == "out\n"
        assert out.stderr.count("cmdscope: ledger") == 1 and "Traceback" not in out.stderr

    def test_ledger_directory_deleted_mid_run(self, tmp_path: Path) -> None:
        """A long-lived writer whose directory is removed recreates it; no record is lost."""
        path = tmp_path / "d" / "ledger.jsonl"
        w = LedgerWriter(path, fsync="never")
        w.append({"i": 0})
        import shutil

        shutil.rmtree(tmp_path / "d")
        w.append({"i": 1})
        w.close()
        assert [r["i"] for r in read_records(path)] == [1]  # the file was recreated for i=1
        assert w.dropped == 0

    def test_ledger_replaced_by_symlink_is_refused(self, tmp_path: Path) -> None:
        """Swapping the ledger for a symlink to another file: the writer refuses to follow it."""
        path = tmp_path / "ledger.jsonl"
        victim = tmp_path / "victim"
        victim.write_text("untouched\n")
        w = LedgerWriter(path)
        w.append({"i": 0})
        path.unlink()
        path.symlink_to(victim)
        assert w.append({"i": 1}) is False
        w.close()
        assert victim.read_text() == "untouched\n"

    def test_clock_going_backwards(self, ledger_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A wall clock stepping back during a command never yields a negative duration."""
        real = time.time_ns
        calls = {"n": 0}

        def stepping_back() -> int:
            calls["n"] += 1
            return real() - (3_600_000_000_000 if calls["n"] > 1 else 0)

        monkeypatch.setattr(time, "time_ns", stepping_back)
        cmdscope.run(["sleep", "0.05"])
        monkeypatch.undo()
        (rec,) = valid_ledger(ledger_path)
        assert rec["end_ns"] >= rec["start_ns"] and rec["duration_s"] >= 0.04


class TestBadInput:
    def test_huge_argv(self, ledger_path: Path) -> None:
        """A 1 MB argv runs unchanged; the record keeps a capped command line and a full hash."""
        args = [f"{i:07d}" * 14 for i in range(10_000)]  # ~1 MB of arguments
        out = subprocess.run([PYTHON, "-m", "cmdscope", "run", "--", PYTHON, "-c",
                              "import sys; print(sum(len(a) for a in sys.argv[1:]))", *args],
                             capture_output=True, text=True)
        assert out.returncode == 0 and int(out.stdout) == sum(len(a) for a in args)
        (rec,) = valid_ledger(ledger_path)
        assert 32 * 1024 <= len(rec["process.command_line"]) < 40 * 1024
        assert "more characters]" in rec["process.command_line"]

    def test_nul_bytes_and_invalid_utf8_in_output(self, ledger_path: Path) -> None:
        """NUL bytes and invalid UTF-8 in stdout/stderr pass through and classify without error."""
        payload = b"\x00\xff\xfe\x00error: \xc3\x28\x00\n"
        code = f"import sys; sys.stdout.buffer.write({payload!r}); sys.stderr.buffer.write({payload!r}); sys.exit(2)"
        out = subprocess.run([PYTHON, "-m", "cmdscope", "run", "--", PYTHON, "-c", code], capture_output=True)
        assert (out.returncode, out.stdout, out.stderr) == (2, payload, payload)
        (rec,) = valid_ledger(ledger_path)
        json.dumps(rec)  # every field is valid text
        assert rec["cmdscope.outcome"] == "failure"

    def test_sigpipe_when_reader_closes_early(self, ledger_path: Path) -> None:
        """`cmdscope run -- yes | head -1`: yes dies of SIGPIPE exactly as it would bare (141)."""
        out = subprocess.run(["bash", "-c", f"set -o pipefail; {PYTHON} -m cmdscope run -- yes | head -1"],
                             capture_output=True, text=True)
        assert out.stdout == "y\n" and out.returncode == 141
        assert "Traceback" not in out.stderr
        (rec,) = valid_ledger(ledger_path)
        assert rec["process.exit.code"] == 141 and rec["cmdscope.signal"] == 13

    def test_many_short_commands(self, ledger_path: Path) -> None:
        """2,000 commands in a loop (the 10,000 variant is bench/bench_faults.py): all recorded, valid."""
        for i in range(2000):
            assert cmdscope.run(["true"] if i % 2 else ["false"]).returncode == (0 if i % 2 else 1)
        records = valid_ledger(ledger_path)
        assert len(records) == 2000
        assert sum(r["cmdscope.outcome"] == "failure" for r in records) == 1000

    def test_deep_nesting(self, ledger_path: Path) -> None:
        """cmdscope run nested 12 deep: the innermost exit code comes out, one trace, a parent chain."""
        argv = ["sh", "-c", "exit 9"]
        for _ in range(12):
            argv = [PYTHON, "-m", "cmdscope", "run", "--", *argv]
        assert subprocess.run(argv).returncode == 9
        records = valid_ledger(ledger_path)
        assert len(records) == 12
        assert len({r["trace_id"] for r in records}) == 1
        by_span = {r["span_id"]: r for r in records}
        roots = [r for r in records if r["parent_span_id"] is None]
        assert len(roots) == 1
        depth, node = 0, records[0]  # innermost finishes first
        while node["parent_span_id"] is not None:
            node = by_span[node["parent_span_id"]]
            depth += 1
        assert depth == 11


class TestOtherUsers:
    def test_ledger_owned_by_another_user_is_refused(self, tmp_path: Path) -> None:
        """A ledger file owned by someone else is never written (the record is dropped, counted)."""
        if os.geteuid() != 0:
            pytest.skip("needs root to create a file owned by another uid")
        path = tmp_path / "ledger.jsonl"
        path.write_text("")
        os.chown(path, 65534, 65534)
        w = LedgerWriter(path)
        assert w.append({"i": 1}) is False and w.dropped == 1
        assert path.read_text() == ""

    def test_incident_receiver_binds_loopback_by_default(self) -> None:
        """`cmdscope incidents serve` listens on 127.0.0.1 unless told otherwise."""
        from cmdscope._cli import incidents

        assert incidents.DEFAULT_LISTEN.startswith("127.0.0.1:")
        out = subprocess.run([PYTHON, "-m", "cmdscope", "incidents", "serve", "--help"], capture_output=True, text=True)
        assert out.returncode == 0 and incidents.DEFAULT_LISTEN in out.stdout
