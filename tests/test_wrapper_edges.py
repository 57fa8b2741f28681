"""The wrapped command behaves exactly as bare at the edges (issue 15, items 1 and 3-5): a
deleted working directory, a timeout that ends the whole tree, a stderr whose reader went away,
``2>&1`` ordering, and death by signal. The real CLI, real children."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PYTHON, read_ledger

CLI = [PYTHON, "-m", "cmdscope", "run"]


@pytest.fixture
def env(ledger_path: Path) -> dict[str, str]:
    return {**os.environ, "CMDSCOPE_LEDGER": str(ledger_path)}


def _alive(marker: str) -> list[str]:
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return out.stdout.split()


def test_deleted_working_directory_runs_as_bare(tmp_path: Path, env: dict[str, str], ledger_path: Path) -> None:
    gone = tmp_path / "gone"
    seen = []
    for prefix in ("", " ".join(CLI) + " --"):
        gone.mkdir()
        script = f"cd {gone} && rmdir {gone} && exec {prefix} sh -c 'echo ran; exit 3'"
        proc = subprocess.run(["sh", "-c", script], env={**env, "PWD": str(gone)}, capture_output=True, text=True,
                              timeout=60)
        seen.append((proc.returncode, proc.stdout, proc.stderr))
    assert seen[0] == seen[1] and seen[0][:2] == (3, "ran\n")  # no traceback, no warning of ours
    (rec,) = read_ledger(ledger_path)
    assert rec["process.exit.code"] == 3 and rec["process.working_directory"] == str(gone)


@pytest.mark.parametrize("script", [
    "sleep 31.{n}1 & sleep 31.{n}2",                              # TERM reaches both
    "trap '' TERM; sleep 31.{n}1 & sleep 31.{n}2; wait",           # TERM ignored: KILL after the grace
], ids=["term", "term-ignored"])
def test_timeout_ends_the_whole_tree(script: str, env: dict[str, str], ledger_path: Path) -> None:
    n = os.getpid() % 100
    proc = subprocess.run([*CLI, "--timeout", "1", "--", "sh", "-c", script.format(n=n)], env=env, timeout=60)
    assert proc.returncode == 124
    deadline = time.monotonic() + 5
    while _alive(f"sleep 31.{n}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive(f"sleep 31.{n}") == []
    assert read_ledger(ledger_path)[-1]["cmdscope.outcome"] == "timeout"


def test_a_closed_stderr_reaches_the_child(env: dict[str, str], ledger_path: Path) -> None:
    """``cmdscope run -- sh -c 'yes >&2' 2>&1 >/dev/null | head -1``: ends at once, as bare
    (``yes`` dies by SIGPIPE, the shell exits 141)."""
    codes = []
    for argv in (["sh", "-c", "yes >&2"], [*CLI, "--", "sh", "-c", "yes >&2"]):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        assert proc.stderr.readline() == b"y\n"
        proc.stderr.close()
        codes.append(proc.wait(timeout=20))
    assert codes == [141, 141]
    assert read_ledger(ledger_path)[-1]["process.exit.code"] == 141


def test_2_to_1_keeps_the_order(tmp_path: Path, env: dict[str, str]) -> None:
    lines = "for i in $(seq 1000); do echo out $i; echo err $i >&2; done"
    outputs = []
    for argv in (["sh", "-c", lines], [*CLI, "--", "sh", "-c", lines]):
        target = tmp_path / f"out{len(outputs)}"
        with open(target, "wb") as fh:
            assert subprocess.run(argv, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=120).returncode == 0
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n") == 2000


def test_merged_output_tail_reaches_the_classifier(tmp_path: Path, env: dict[str, str], ledger_path: Path) -> None:
    """With ``2>&1`` the classifier still reads the failure's output."""
    with open(tmp_path / "out", "wb") as fh:
        subprocess.run([*CLI, "--", "sh", "-c", "echo 'fatal: not a git repository' >&2; exit 128"], env=env,
                       stdout=fh, stderr=subprocess.STDOUT, timeout=60)
    rec = read_ledger(ledger_path)[-1]
    assert rec["process.exit.code"] == 128 and rec["error.type"] not in ("unknown", "failure")


@pytest.mark.parametrize("sig", [2, 15])
def test_death_by_signal_is_re_raised(sig: int, env: dict[str, str], ledger_path: Path) -> None:
    proc = subprocess.run([*CLI, "--", "sh", "-c", f"kill -{sig} $$"], env=env, timeout=60)
    assert proc.returncode == -sig  # the wrapper died by the same signal, after recording
    rec = read_ledger(ledger_path)[-1]
    assert rec["cmdscope.signal"] == sig and rec["cmdscope.outcome"] == "interrupted"
