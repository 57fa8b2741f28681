"""Files cmdscope keeps beside the ledger and in its state directory are private and never
written through a planted symlink (issue 15 items 9 and 10)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cmdscope import _shipping as shipping
from cmdscope._private_files import UnsafePathError, make_private_dirs, open_private


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    target = tmp_path / "victim.txt"
    target.write_bytes(b"precious\n")
    return target


class TestShipperSideFiles:
    def test_backoff_symlink_is_not_truncated(self, tmp_path: Path, victim: Path) -> None:
        """A failed export notes its back-off without truncating a file a symlink points to."""
        ledger = str(tmp_path / "ledger.jsonl")
        Path(ledger + ".ship.backoff").symlink_to(victim)
        shipping._note_failure(ledger, 1.0)
        assert victim.read_bytes() == b"precious\n"

    def test_checkpoint_tmp_symlink_is_refused(self, tmp_path: Path, victim: Path) -> None:
        """Saving the checkpoint refuses a symlink at its temporary name."""
        ledger = str(tmp_path / "ledger.jsonl")
        Path(ledger + ".ship.json.tmp").symlink_to(victim)
        with pytest.raises(OSError):
            shipping.Checkpoint(1, 2).save(ledger)
        assert victim.read_bytes() == b"precious\n"

    def test_ship_lock_symlink_is_refused(self, tmp_path: Path, victim: Path) -> None:
        """No detached shipper is started through a symlinked lock, and the target is untouched."""
        ledger = tmp_path / "ledger.jsonl"
        ledger.write_text('{"schema":1}\n')
        Path(str(ledger) + ".ship.lock").symlink_to(victim)
        assert shipping.spawn_detached_shipper(str(ledger)) is False
        assert victim.read_bytes() == b"precious\n"


class TestHelpers:
    def test_dirs_are_0700_at_every_level_under_umask_0(self, tmp_path: Path) -> None:
        old = os.umask(0)
        try:
            make_private_dirs(tmp_path / "x" / "y" / "z")
        finally:
            os.umask(old)
        for d in (tmp_path / "x", tmp_path / "x" / "y", tmp_path / "x" / "y" / "z"):
            assert stat.S_IMODE(d.stat().st_mode) == 0o700

    def test_lax_own_directory_is_tightened(self, tmp_path: Path) -> None:
        d = tmp_path / "mine"
        d.mkdir()
        d.chmod(0o777)
        make_private_dirs(d)
        assert stat.S_IMODE(d.stat().st_mode) & 0o077 == 0

    def test_non_regular_file_is_refused(self, tmp_path: Path) -> None:
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        with pytest.raises(UnsafePathError, match="not a regular file"):
            open_private(fifo, os.O_RDWR)

    def test_files_are_created_0600_under_umask_0(self, tmp_path: Path) -> None:
        old = os.umask(0)
        try:
            os.close(open_private(tmp_path / "f", os.O_WRONLY | os.O_CREAT))
        finally:
            os.umask(old)
        assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600


def test_packet_state_is_private_under_umask_0(tmp_path: Path, isolated_state: Path) -> None:
    """`cmdscope packet start` under umask 000 leaves its state directories 0700 and files 0600."""
    import subprocess

    from conftest import cmdscope_cli

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    old = os.umask(0)
    try:
        assert cmdscope_cli("packet", "start", "PKT-1", cwd=str(tmp_path)).returncode == 0
    finally:
        os.umask(old)
    made = [p for p in isolated_state.rglob("*")]
    assert made
    for p in [isolated_state, *made]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode & 0o077 == 0, f"{p}: {mode:o}"


class TestReportOutputs:
    """``-o FILE`` writers (``report html``, ``report packets``) write 0600 whatever the umask,
    replace an existing file (its old mode does not carry over) and never write through a symlink."""

    @pytest.mark.parametrize("report", [["html"], ["packets", "--format", "md"]])
    def test_output_is_0600_under_umask_0(self, report: list[str], tmp_path: Path, ledger_path: Path,
                                          victim: Path) -> None:
        import subprocess
        import sys

        env = dict(os.environ)
        assert subprocess.run([sys.executable, "-m", "cmdscope", "run", "--", "true"], env=env,
                              check=False).returncode == 0
        fresh, existing, linked = tmp_path / "fresh.out", tmp_path / "existing.out", tmp_path / "linked.out"
        existing.write_text("old\n")
        existing.chmod(0o666)
        linked.symlink_to(victim)
        for out in (fresh, existing, linked):
            done = subprocess.run([sys.executable, "-m", "cmdscope", "report", *report, "-o", str(out)], env=env,
                                  umask=0, capture_output=True, check=False)
            assert done.returncode == 0, done.stderr
            st = os.lstat(out)
            assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, (out, oct(st.st_mode))
            assert out.read_text().strip()
        assert victim.read_bytes() == b"precious\n"
