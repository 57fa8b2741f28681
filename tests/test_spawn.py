"""The posix_spawn path gives the child exactly what subprocess.Popen would (real children)."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from cmdscope import runner, spawn
from conftest import PYTHON

PROBE = textwrap.dedent(
    """
    import json, os, signal, sys
    fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
    print(json.dumps({
        "fds": [fd for fd in fds if fd > 2 and os.path.exists(f"/proc/self/fd/{fd}")],
        "sid_is_pid": os.getsid(0) == os.getpid(),
        "env": os.environ.get("SPAWN_PROBE"),
    }))
    """
)


def _via_spawn(argv: list[str], **kw: object) -> bytes:
    child = spawn.spawn(argv, None, capture_output=True, **kw)  # type: ignore[arg-type]
    assert child.stdout is not None and child.stderr is not None
    out = child.stdout.read()
    child.stderr.read()
    child.stdout.close()
    child.stderr.close()
    child.wait()
    return out


def _via_popen(argv: list[str], **kw: object) -> bytes:
    return subprocess.run(argv, capture_output=True, **kw).stdout  # type: ignore[call-overload, no-any-return]


def test_child_sees_what_popen_gives_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Open descriptors, signal dispositions, session and environment match Popen's child."""
    monkeypatch.setenv("SPAWN_PROBE", "yes")
    r, w = os.pipe()
    os.set_inheritable(r, True)  # an inheritable descriptor: close_fds=True must still close it
    try:
        assert _via_spawn([PYTHON, "-c", PROBE]) == _via_popen([PYTHON, "-c", PROBE])
        assert _via_spawn([PYTHON, "-c", PROBE], start_new_session=True) == _via_popen(
            [PYTHON, "-c", PROBE], start_new_session=True
        )
    finally:
        os.close(r)
        os.close(w)
    assert b'"fds": []' in _via_spawn([PYTHON, "-c", PROBE])
    # Signal dispositions and mask, read from a non-Python child (Python ignores SIGPIPE itself).
    status = [b"cat", b"/proc/self/status"]
    ours, theirs = _signal_masks(_via_spawn(status)), _signal_masks(_via_popen(status))  # type: ignore[arg-type]
    assert ours == theirs and len(ours) == 2
    assert ours["SigIgn"] & (1 << (13 - 1)) == 0  # SIGPIPE is not ignored in the child


# glibc's posix_spawn leaves its two internal signals (32 SIGCANCEL, 33 SIGSETXID) ignored in the
# child; glibc programs install their own handlers before using them (documented in spawn.py).
_GLIBC_INTERNAL = (1 << 31) | (1 << 32)


def _signal_masks(status: bytes) -> dict[str, int]:
    out = {}
    for line in status.splitlines():
        key, _, value = line.partition(b":")
        if key in (b"SigIgn", b"SigBlk"):
            out[key.decode()] = int(value.strip(), 16) & ~_GLIBC_INTERNAL
    return out


@pytest.mark.parametrize("case", ["missing", "no-exec-bit", "no-shebang", "directory", "path-missing"])
def test_start_errors_are_popens(case: str, tmp_path: Path) -> None:
    """The OSError (type, errno, filename) is the one Popen raises for the same argv."""
    target = tmp_path / "prog"
    if case == "missing":
        argv = ["no-such-command-xyz"]
    elif case == "path-missing":
        argv = [str(tmp_path / "nope" / "prog")]
    elif case == "directory":
        argv = [str(tmp_path)]
    else:
        target.write_bytes(b"\x00\x01binary, not a script" if case == "no-shebang" else b"#!/bin/sh\n")
        target.chmod(0o755 if case == "no-shebang" else 0o644)
        argv = [str(target)]
    with pytest.raises(OSError) as ours:
        spawn.spawn(argv, None)
    with pytest.raises(OSError) as theirs:
        subprocess.Popen(argv)
    assert (type(ours.value), ours.value.errno, ours.value.filename) == (
        type(theirs.value), theirs.value.errno, theirs.value.filename)


def test_exit_status_and_signals_match(tmp_path: Path) -> None:
    """Exit codes and deaths by signal come back as Popen reports them."""
    for code in ("exit 0", "exit 3", "kill -TERM $$", "kill -KILL $$"):
        child = spawn.spawn(["sh", "-c", code], None)
        assert child.wait() == subprocess.run(["sh", "-c", code]).returncode


def test_runner_takes_popen_for_what_spawn_cannot_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cwd, a stdin redirection or a different PATH still work (through Popen)."""
    ex = runner.execute(["pwd"], cwd=str(tmp_path), capture_output=True)
    assert ex.stdout == str(tmp_path).encode() + b"\n"
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "only-here"
    tool.write_text("#!/bin/sh\necho found\n")
    tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    assert not spawn.usable(env)
    ex = runner.execute(["only-here"], env=env, capture_output=True)
    assert ex.returncode == 0 and ex.stdout == b"found\n"
    with open(tool, "rb") as stdin:
        ex = runner.execute(["cat"], stdin=stdin, capture_output=True)
    assert ex.stdout.startswith(b"#!/bin/sh")  # type: ignore[union-attr]
