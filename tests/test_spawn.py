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


@pytest.fixture(autouse=True, params=["libc", "listing"])
def spawn_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both ways of closing descriptors: glibc's closefrom file action
    (spawn_libc.py) and the /proc/self/fd listing."""
    if request.param == "libc":
        from cmdscope import spawn_libc

        libc = spawn_libc.load(spawn._RESET_SIGNALS)
        assert libc is not None, "glibc >= 2.34 expected on the machines we test on"
        monkeypatch.setattr(spawn, "_libc", libc)
    else:
        monkeypatch.setattr(spawn, "_libc", False)
    return request.param


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


ENV_PROBE = [PYTHON, "-c", "import os; print(os.environ.get('TRACEPARENT'), os.environ.get('SPAWN_PROBE'))"]


def _output(child: spawn.SpawnedChild) -> bytes:
    assert child.stdout is not None and child.stderr is not None
    out = child.stdout.read()
    child.stdout.close()
    child.stderr.close()
    child.wait()
    return out


def test_each_child_gets_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment array kept between spawns never hands a child a stale value: a new
    TRACEPARENT each time, and a variable changed between two spawns."""
    from cmdscope.environ import ENVB

    outputs = []
    for n, probe in enumerate(["one", "one", "two"]):
        monkeypatch.setenv("SPAWN_PROBE", probe)
        env = {**ENVB, b"TRACEPARENT": f"00-{n:032x}-{n:016x}-01".encode()}
        outputs.append(_output(spawn.spawn(ENV_PROBE, env, capture_output=True)))
    outputs.append(_output(spawn.spawn(ENV_PROBE, dict(ENVB), capture_output=True)))
    assert outputs == [f"00-{n:032x}-{n:016x}-01 {p}\n".encode() for n, p in enumerate(["one", "one", "two"])] \
        + [b"None two\n"]


def test_threads_spawning_at_once_each_get_their_own_environment() -> None:
    import threading

    from cmdscope.environ import ENVB

    seen: dict[int, bytes] = {}

    def work(n: int) -> None:
        for i in range(10):
            value = f"00-{n:032x}-{i:016x}-01".encode()
            out = _output(spawn.spawn(ENV_PROBE, {**ENVB, b"TRACEPARENT": value}, capture_output=True))
            seen[n * 100 + i] = out.split()[0] if out.split()[0] == value else out

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert seen == {n * 100 + i: f"00-{n:032x}-{i:016x}-01".encode() for n in range(6) for i in range(10)}


@pytest.mark.parametrize("bad", ["argv", "name", "value"])
def test_what_c_cannot_carry_is_popens_error(bad: str) -> None:
    """A NUL byte or a "=" in a name: the same ValueError Popen raises, nothing started."""
    from cmdscope.environ import ENVB

    argv, env = ["true"], dict(ENVB)
    if bad == "argv":
        argv = ["echo", "a\0b"]
    elif bad == "name":
        env[b"A=B"] = b"1"
    else:
        env[b"SPAWN_PROBE"] = b"a\0b"
    with pytest.raises(ValueError) as ours:
        spawn.spawn(argv, env)
    with pytest.raises(ValueError) as theirs:
        subprocess.Popen(argv, env=env)
    assert type(ours.value) is type(theirs.value)
