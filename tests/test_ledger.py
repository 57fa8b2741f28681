"""The ledger: whole lines under concurrency and crashes, private files, rotation, readers."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmdscope._sinks.ledger import LedgerWriter, ReadStats, read_records, segments
from conftest import PYTHON, cmdscope_cli

WRITER = textwrap.dedent("""
    import os, sys
    from cmdscope._sinks.ledger import LedgerWriter
    path, wid, n, max_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    w = LedgerWriter(path, fsync="never", max_bytes=max_bytes)
    for i in range(n):
        size = (600, 4000, 65536)[i % 3] if i % 50 == 0 else 200
        w.append({"record_id": f"{wid:04x}{i:028x}", "writer": wid, "seq": i, "pad": "x" * size})
    w.close()
""")


def spawn_writers(path: Path, writers: int, n: int, max_bytes: int = 0) -> list[subprocess.Popen]:
    return [subprocess.Popen([PYTHON, "-c", WRITER, str(path), str(w), str(n), str(max_bytes)]) for w in range(writers)]


class TestConcurrency:
    def test_eight_writers_no_torn_lines(self, tmp_path: Path) -> None:
        """8 processes x 5,000 records appended at once: every record whole, none lost."""
        path = tmp_path / "ledger.jsonl"
        procs = spawn_writers(path, 8, 5000)
        assert all(p.wait(timeout=300) == 0 for p in procs)
        stats = ReadStats()
        records = list(read_records(path, stats=stats))
        assert stats.bad == []
        assert len(records) == 40_000
        assert len({r["record_id"] for r in records}) == 40_000
        for w in range(8):  # each writer's own order is kept
            seqs = [r["seq"] for r in records if r["writer"] == w]
            assert seqs == sorted(seqs) and len(seqs) == 5000

    def test_rotation_under_concurrency_loses_nothing(self, tmp_path: Path) -> None:
        """Writers rotating a small ledger concurrently: readers see every record across segments."""
        path = tmp_path / "ledger.jsonl"
        procs = spawn_writers(path, 4, 2000, max_bytes=256 * 1024)
        assert all(p.wait(timeout=300) == 0 for p in procs)
        files = segments(path)
        assert len(files) > 3
        stats = ReadStats()
        ids = [r["record_id"] for r in read_records(path, stats=stats)]
        assert stats.bad == [] and len(ids) == 8000 and len(set(ids)) == 8000

    @pytest.mark.parametrize("map_after", [0, 16], ids=["mapped count", "read count"])
    def test_no_line_lands_in_a_rotated_segment(self, tmp_path: Path, map_after: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        """Right after another writer rotated the file, the next line goes to the new file: a
        rotated segment is final (the shipper and `ledger tail -f` move past it). Both ways
        of reading the rotation count: memory-mapped, and pread for a writer's first lines."""
        from cmdscope._sinks import ledger

        monkeypatch.setattr(ledger, "_MAP_AFTER", map_after)
        path = tmp_path / "ledger.jsonl"
        a = LedgerWriter(path, fsync="never", max_bytes=0)
        b = LedgerWriter(path, fsync="never", max_bytes=1)  # rotates after each of its lines
        for n in range(3):
            assert a.append({"n": f"a{n}"}) and b.append({"n": f"b{n}"})
        assert bool(a._rotations) == (map_after == 0)
        a.close()
        b.close()
        lines = [[json.loads(line)["n"] for line in seg.read_bytes().splitlines()] for seg in segments(path)]
        assert lines == [["a0", "b0"], ["a1", "b1"], ["a2", "b2"]]
        assert (tmp_path / "ledger.jsonl.lock").stat().st_size == 8  # the rotation count

    def test_a_rename_nobody_counted_is_followed(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """logrotate (or an older cmdscope) renames the ledger without counting the rotation:
        within PATH_CHECK_S the writer notices and goes on in a new file at the path."""
        from cmdscope._sinks import ledger

        monkeypatch.setattr(ledger, "PATH_CHECK_S", 0.05)
        path = tmp_path / "ledger.jsonl"
        w = LedgerWriter(path, fsync="never")
        assert w.append({"n": 1})
        path.rename(tmp_path / "ledger.jsonl.1")
        time.sleep(0.06)
        assert w.append({"n": 2})
        w.close()
        assert (tmp_path / "ledger.jsonl.1").read_bytes() == b'{"n":1}\n'
        assert path.read_bytes() == b'{"n":2}\n'

    def test_sigkill_mid_run_leaves_readable_ledger(self, tmp_path: Path) -> None:
        """A writer killed at a random point leaves only whole records behind."""
        path = tmp_path / "ledger.jsonl"
        (proc,) = spawn_writers(path, 1, 10_000_000)
        deadline = time.monotonic() + 120
        while (not path.exists() or path.stat().st_size < 2_000_000) and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stats = ReadStats()
        records = list(read_records(path, stats=stats))
        assert len(records) > 1000
        assert stats.bad == []
        assert [r["seq"] for r in records] == list(range(len(records)))


ONCE_WRITER = textwrap.dedent("""
    import sys
    from cmdscope._sinks.ledger import LedgerWriter
    path, n = sys.argv[1], int(sys.argv[2])
    w = LedgerWriter(path, fsync="never", max_bytes=0)
    print(sum(w.append_once({"record_id": f"{i:032x}", "seq": i}) == "written" for i in range(n)))
    w.close()
""")


class TestAppendOnce:
    def test_a_record_already_in_the_tail_is_not_written_again(self, tmp_path: Path) -> None:
        """The same record id twice: one line; another id, and a plain append, go on as usual."""
        path = tmp_path / "ledger.jsonl"
        with LedgerWriter(path, fsync="never") as w:
            assert w.append_once({"record_id": "a" * 32, "n": 1}) == "written"
            w.append({"record_id": "b" * 32})
            assert w.append_once({"record_id": "a" * 32, "n": 2}) == "present"
            assert w.append_once({"record_id": "c" * 32}) == "written"
        assert [r["record_id"][0] for r in read_records(path)] == ["a", "b", "c"]

    def test_a_torn_fragment_with_the_id_does_not_count(self, tmp_path: Path) -> None:
        """A writer killed mid-write left the start of the record: the retry writes it whole."""
        path = tmp_path / "ledger.jsonl"
        path.write_bytes(b'{"schema":1,"record_id":"' + b"f" * 32 + b'","pad":"xx')
        with LedgerWriter(path, fsync="never") as w:
            assert w.append_once({"record_id": "f" * 32, "pad": "x"}) == "written"
            assert w.append_once({"record_id": "f" * 32, "pad": "x"}) == "present"
        stats = ReadStats()
        assert [r["record_id"] for r in read_records(path, stats=stats)] == ["f" * 32]
        assert len(stats.bad) == 1

    def test_found_in_the_segment_rotated_right_after_it(self, tmp_path: Path) -> None:
        """The record's own write rotated the file: the look-back reads the newest segment too."""
        path = tmp_path / "ledger.jsonl"
        with LedgerWriter(path, fsync="never", max_bytes=100) as w:
            assert w.append_once({"record_id": "d" * 32, "pad": "x" * 200}) == "written"
        assert len(segments(path)) == 1 and not path.exists()
        with LedgerWriter(path, fsync="never", max_bytes=100) as w:
            assert w.append_once({"record_id": "d" * 32}) == "present"
        assert len(list(read_records(path))) == 1

    def test_concurrent_processes_write_each_id_once(self, tmp_path: Path) -> None:
        """4 processes each try the same 300 ids at once: every id is written exactly once."""
        path = tmp_path / "ledger.jsonl"
        procs = [subprocess.Popen([PYTHON, "-c", ONCE_WRITER, str(path), "300"], stdout=subprocess.PIPE, text=True)
                 for _ in range(4)]
        written = [int(p.communicate(timeout=300)[0]) for p in procs]
        ids = [r["record_id"] for r in read_records(path)]
        assert sum(written) == len(ids) == len(set(ids)) == 300


class TestFiles:
    def test_created_private(self, tmp_path: Path) -> None:
        """The ledger is created 0600 in a 0700 directory."""
        path = tmp_path / "new" / "dir" / "ledger.jsonl"
        with LedgerWriter(path) as w:
            w.append({"a": 1})
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    def test_refuses_symlink(self, tmp_path: Path) -> None:
        """A ledger path that is a symlink is not followed; the record is dropped and counted."""
        target = tmp_path / "elsewhere.txt"
        target.write_text("precious\n")
        link = tmp_path / "ledger.jsonl"
        link.symlink_to(target)
        w = LedgerWriter(link)
        assert w.append({"a": 1}) is False
        assert w.dropped == 1
        assert target.read_text() == "precious\n"

    def test_short_write_fragment_is_isolated(self, tmp_path: Path) -> None:
        """After a torn line, the next record still lands on a line of its own."""
        path = tmp_path / "ledger.jsonl"
        path.write_bytes(b'{"ok":1}\n{"torn": tru')
        w = LedgerWriter(path)
        w._torn = True  # as after a short write
        w.append({"ok": 2})
        w.close()
        stats = ReadStats()
        assert [r["ok"] for r in read_records(path, stats=stats)] == [1, 2]
        assert len(stats.bad) == 1 and stats.bad[0].line == 2

    @pytest.mark.parametrize("mode", ["never", "batch", "always"])
    def test_fsync_modes(self, tmp_path: Path, mode: str) -> None:
        """Each durability mode writes the same records."""
        path = tmp_path / "ledger.jsonl"
        with LedgerWriter(path, fsync=mode) as w:
            for i in range(150):
                w.append({"i": i})
        assert [r["i"] for r in read_records(path)] == list(range(150))

    def test_bad_fsync_setting_is_the_default_and_named(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """CMDSCOPE_FSYNC with an unknown value never stops a writer (it may be built after the
        command ran): the default, batch, is used and the settings problem names the variable
        and the choices (cmdscope run prints it before the command starts)."""
        from cmdscope import _settings as settings

        monkeypatch.setenv("CMDSCOPE_FSYNC", "sometimes")
        assert LedgerWriter(tmp_path / "l.jsonl").fsync == "batch"
        assert "CMDSCOPE_FSYNC='sometimes': must be one of never, batch, always" in str(settings.current().problems[0])

    def test_unwritable_directory_never_raises(self, tmp_path: Path) -> None:
        """A ledger that cannot be written costs a dropped record, not an exception."""
        d = tmp_path / "ro"
        d.mkdir()
        (d / "ledger.jsonl").mkdir()  # a directory where the file should be
        w = LedgerWriter(d / "ledger.jsonl")
        assert w.append({"a": 1}) is False and w.dropped == 1


class TestReaderAndCli:
    def test_reader_skips_and_reports_bad_lines(self, tmp_path: Path) -> None:
        """Invalid JSON and a torn last line are skipped and reported with file and line."""
        path = tmp_path / "ledger.jsonl"
        path.write_bytes(b'{"i":1}\nnot json\n[1,2]\n{"i":2}\n{"i":3, "torn')
        stats = ReadStats()
        assert [r["i"] for r in read_records(path, stats=stats)] == [1, 2]
        assert [(b.line, b.reason.split(":")[0]) for b in stats.bad] == [
            (2, "invalid JSON"), (3, "not a JSON object"), (5, "torn line (no newline at end)")]

    def test_verify_passes_real_records_and_names_bad_ones(self, ledger_path: Path) -> None:
        """`ledger verify` accepts what `run` wrote and names the line of a corrupt record."""
        assert cmdscope_cli("run", "--", "true").returncode == 0
        assert cmdscope_cli("run", "--", "false").returncode == 1
        ok = cmdscope_cli("ledger", "verify", capture_output=True, text=True)
        assert ok.returncode == 0, ok.stdout
        assert "OK: 2 record(s)" in ok.stdout
        with open(ledger_path, "ab") as fh:
            fh.write(b'{"broken\n')
        bad = cmdscope_cli("ledger", "verify", capture_output=True, text=True)
        assert bad.returncode == 1
        assert f"{ledger_path}:3: invalid JSON" in bad.stdout

    def test_verify_names_schema_field(self, ledger_path: Path) -> None:
        """A record with a wrong field type is reported by field name."""
        assert cmdscope_cli("run", "--", "true").returncode == 0
        rec = json.loads(ledger_path.read_text())
        rec["process.exit.code"] = "zero"
        rec["record_id"] = "f" * 32
        with open(ledger_path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        out = cmdscope_cli("ledger", "verify", capture_output=True, text=True)
        assert out.returncode == 1
        assert "'process.exit.code'" in out.stdout

    def test_verify_finds_a_duplicate_id_segments_apart(self, ledger_path: Path) -> None:
        """One record id in the first rotated segment and again in the current file, thousands of
        records apart (ids spilled to disk by then): exactly one duplicate, named."""
        assert cmdscope_cli("run", "--", "true").returncode == 0
        template = json.loads(ledger_path.read_text())
        ledger_path.unlink()
        with LedgerWriter(ledger_path, fsync="never", max_bytes=256 * 1024) as w:
            for i in range(6000):
                w.append({**template, "record_id": f"{i:032x}" if i != 5999 else f"{7:032x}"})
        assert len(segments(ledger_path)) > 3
        out = cmdscope_cli("ledger", "verify", "--json", capture_output=True, text=True)
        assert out.returncode == 1
        report = json.loads(out.stdout)
        assert report["records"] == 6000 and report["problems"] == ["1 duplicate record id(s)"]

    def test_duplicate_ids_are_counted_exactly_in_bounded_memory(self) -> None:
        """200,000 ids (three of them repeated, one not hex) through the spill: 3 repeats, and
        the peak traced memory stays a fraction of what a set of the ids takes."""
        import tracemalloc

        from cmdscope._cli.ledger import DuplicateIds

        ids = DuplicateIds()
        tracemalloc.start()
        try:
            for i in range(200_000):
                ids.add(os.urandom(16).hex() if i % 1000 else f"{i:032x}")
            for again in (f"{0:032x}", f"{199_000:032x}", "not-hex"):
                ids.add(again)
            ids.add("not-hex")
            repeats = ids.count()
            _now, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert repeats == 3
        # the ids themselves: 200,000 x (a 32-character str, ~81 bytes, plus a set slot) > 20 MB
        assert peak < 8 * 1024 * 1024, peak

    def test_query_filters_and_json(self, ledger_path: Path) -> None:
        """`ledger query` filters by actor, packet and outcome; --json prints records."""
        cmdscope_cli("run", "--actor", "alice", "--packet", "P1", "--", "true")
        cmdscope_cli("run", "--actor", "bob", "--packet", "P2", "--", "false")
        cmdscope_cli("run", "--actor", "bob", "--packet", "P2", "--", "true")
        out = cmdscope_cli("ledger", "query", "--actor", "bob", "--outcome", "failure", "--json",
                           capture_output=True, text=True)
        (rec,) = [json.loads(line) for line in out.stdout.splitlines()]
        assert rec["cmdscope.actor"] == "bob" and rec["process.command_line"] == "false"
        table = cmdscope_cli("ledger", "query", "--since", "1h", capture_output=True, text=True).stdout
        lines = table.splitlines()
        assert lines[0].startswith("TIME (UTC)") and len(lines) == 4
        assert "alice" in lines[1] and "P1" in lines[1]
        bad = cmdscope_cli("ledger", "query", "--since", "yesterday-ish", capture_output=True, text=True)
        assert bad.returncode == 2 and "--since 'yesterday-ish'" in bad.stderr and "Traceback" not in bad.stderr

    def test_tail_last_n(self, ledger_path: Path) -> None:
        """`ledger tail -n 2 --json` prints the last two records in order."""
        for code in (0, 1, 2):
            cmdscope_cli("run", "--", "sh", "-c", f"exit {code}")
        out = cmdscope_cli("ledger", "tail", "-n", "2", "--json", capture_output=True, text=True).stdout
        assert [json.loads(l)["process.exit.code"] for l in out.splitlines()] == [1, 2]

    def test_tail_follow_prints_new_records(self, ledger_path: Path) -> None:
        """`ledger tail -f` prints records appended after it started."""
        cmdscope_cli("run", "--", "true")
        follower = subprocess.Popen([PYTHON, "-m", "cmdscope", "ledger", "tail", "-f", "--json", "-n", "0"],
                                    stdout=subprocess.PIPE, text=True, env=dict(os.environ))
        time.sleep(1.0)
        cmdscope_cli("run", "--actor", "late", "--", "true")
        line = follower.stdout.readline()  # type: ignore[union-attr]
        follower.terminate()
        follower.wait(timeout=10)
        assert json.loads(line)["cmdscope.actor"] == "late"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), _JSON, max_size=8))
def test_stdlib_line_is_json_dumps(record: dict) -> None:
    """The CLI's encoder (the stdlib's C encoder, called without importing ``json``) writes what
    ``json.dumps(ensure_ascii=False, separators=(",", ":"))`` writes."""
    from cmdscope._sinks.ledger import _json_dumps

    assert _json_dumps(record) == json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass")


def test_stdlib_line_refuses_what_json_refuses() -> None:
    from cmdscope._sinks.ledger import _json_dumps

    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        _json_dumps({"a": object()})
    looped: dict = {}
    looped["self"] = looped
    with pytest.raises(ValueError, match="Circular reference"):
        _json_dumps(looped)
    assert _json_dumps({"a": 1}) == b'{"a":1}'  # a failed call leaves nothing behind


class TestHardening:
    """Issue 15 items 9, 10 and 16: private directories, files beside the ledger, kills mid-write."""

    def test_every_created_directory_is_private(self, tmp_path: Path) -> None:
        """Under umask 000 every directory cmdscope creates for the ledger is 0700, not only the
        last one (os.makedirs applies the mode to the last folder alone)."""
        old = os.umask(0)
        try:
            path = tmp_path / "a" / "b" / "c" / "ledger.jsonl"
            with LedgerWriter(path) as w:
                assert w.append({"a": 1})
        finally:
            os.umask(old)
        for d in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
            assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
        for f in tmp_path.rglob("ledger.jsonl*"):
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f

    @pytest.mark.parametrize("suffix", [".lock", ".synced", ".anchors"])
    def test_side_files_do_not_follow_symlinks(self, tmp_path: Path, suffix: str) -> None:
        """A symlink planted at a file beside the ledger is never written through, even across
        rotation and sealing; records are still written or counted as dropped."""
        target = tmp_path / "victim.txt"
        target.write_bytes(b"precious bytes\n")
        os.utime(target, (1_000_000_000, 1_000_000_000))
        path = tmp_path / "ledger.jsonl"
        (tmp_path / ("ledger.jsonl" + suffix)).symlink_to(target)
        w = LedgerWriter(path, fsync="batch", seal=True, max_bytes=300)
        for i in range(120):
            w.append({"schema": 1, "i": i})
        w.close()
        assert target.read_bytes() == b"precious bytes\n"
        assert target.stat().st_mtime == 1_000_000_000

    def test_fifo_at_the_ledger_path_is_refused(self, tmp_path: Path) -> None:
        """A FIFO at the ledger path neither blocks the writer nor receives records."""
        path = tmp_path / "ledger.jsonl"
        os.mkfifo(path)
        code = ("import sys; from cmdscope._sinks.ledger import LedgerWriter; "
                "w = LedgerWriter(sys.argv[1]); print(w.append({'a': 1}), w.dropped)")
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=20)
        assert out.returncode == 0 and out.stdout.split() == ["False", "1"]
        assert "not a regular file" in out.stderr

    def test_directory_owned_by_someone_else_is_refused(self, tmp_path: Path) -> None:
        """The directory check names the directory and refuses one that is not ours."""
        from cmdscope._private_files import UnsafePathError, check_private_dir

        if os.geteuid() != 0:
            pytest.skip("needs root to chown")
        d = tmp_path / "theirs"
        d.mkdir(mode=0o777)
        os.chown(d, 12345, 12345)
        with pytest.raises(UnsafePathError, match="theirs: owned by uid 12345"):
            check_private_dir(d)

    @pytest.mark.parametrize("size", [40_000, 4_000_000])
    def test_killed_writers_never_lose_a_whole_record(self, tmp_path: Path, size: int) -> None:
        """Writers of 40 KB records SIGKILLed mid-write leave fragments, but every record that
        another writer completed is read back whole, and each fragment is reported as a line."""
        path = tmp_path / "ledger.jsonl"
        survivor_ids = tmp_path / "survivor.txt"
        code = textwrap.dedent("""
            import sys, os
            from cmdscope._sinks.ledger import LedgerWriter
            w = LedgerWriter(sys.argv[1], fsync="never", max_bytes=0)
            pad = "x" * int(sys.argv[3])
            log = open(sys.argv[2], "w") if sys.argv[2] != "-" else None
            import json
            line = (json.dumps({"schema": 1, "record_id": sys.argv[5], "pad": pad}) + "\\n").encode()
            for i in range(int(sys.argv[4])):
                rid = f"{sys.argv[5]}-{i}"
                if log is None:  # the victim: nothing but writes, so the kill lands inside one
                    w.append_line(line)
                elif w.append({"schema": 1, "record_id": rid, "pad": pad}):
                    log.write(rid + "\\n"); log.flush()
        """)
        count = 400 if size < 1_000_000 else 40
        survivor = subprocess.Popen([sys.executable, "-c", code, str(path), str(survivor_ids), str(size), str(count), "s"])
        for round_ in range(12):
            victim = subprocess.Popen([sys.executable, "-c", code, str(path), "-", str(size), "100000", f"v{round_}"])
            time.sleep(0.15 + 0.05 * (round_ % 3))
            victim.kill()
            victim.wait()
        assert survivor.wait(timeout=180) == 0
        stats = ReadStats()
        got = {r["record_id"] for r in read_records(path, stats=stats)}
        wanted = set(survivor_ids.read_text().split())
        assert len(wanted) == count and wanted <= got
        assert all(b.reason.startswith(("torn", "invalid JSON")) for b in stats.bad)
