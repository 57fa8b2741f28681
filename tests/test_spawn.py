"""``spawn`` (Popen's own fork_exec, called directly) gives the child exactly what subprocess.Popen
would (real children)."""

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
    assert ours == theirs and len(ours) == 3
    assert ours["SigIgn"] & (1 << (13 - 1)) == 0  # SIGPIPE is not ignored in the child


def _signal_masks(status: bytes) -> dict[str, int]:
    out = {}
    for line in status.splitlines():
        key, _, value = line.partition(b":")
        if key in (b"SigIgn", b"SigBlk", b"SigCgt"):
            out[key.decode()] = int(value.strip(), 16)
    return out


@pytest.mark.parametrize("case", ["missing", "no-exec-bit", "no-shebang", "directory", "path-missing", "cwd-missing"])
def test_start_errors_are_popens(case: str, tmp_path: Path) -> None:
    """The OSError (type, errno, filename) is the one Popen raises for the same argv."""
    target = tmp_path / "prog"
    cwd = None
    if case == "cwd-missing":
        argv, cwd = ["true"], str(tmp_path / "gone")
    elif case == "missing":
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
        spawn.spawn(argv, None, cwd=cwd)
    with pytest.raises(OSError) as theirs:
        subprocess.Popen(argv, cwd=cwd)
    assert (type(ours.value), ours.value.errno, ours.value.filename) == (
        type(theirs.value), theirs.value.errno, theirs.value.filename)


def test_exit_status_and_signals_match(tmp_path: Path) -> None:
    """Exit codes and deaths by signal come back as Popen reports them."""
    for code in ("exit 0", "exit 3", "kill -TERM $$", "kill -KILL $$"):
        child = spawn.spawn(["sh", "-c", code], None)
        assert child.wait() == subprocess.run(["sh", "-c", code]).returncode


def test_cwd_and_the_childs_own_path(tmp_path: Path) -> None:
    """A cwd, and a program found only on the PATH of the environment the child is given (as
    Popen searches it); a stdin redirection goes to Popen."""
    ex = runner.execute(["pwd"], cwd=str(tmp_path), capture_output=True)
    assert ex.stdout == str(tmp_path).encode() + b"\n"
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "only-here"
    tool.write_text("#!/bin/sh\necho found\n")
    tool.chmod(0o755)
    for env in ({**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"},
                {**os.environb, b"PATH": os.fsencode(f"{tmp_path / 'bin'}:{os.environ['PATH']}")}):
        assert _output(spawn.spawn(["only-here"], env, capture_output=True)) == b"found\n"
        ex = runner.execute(["only-here"], env=env, capture_output=True)
        assert ex.returncode == 0 and ex.stdout == b"found\n"
    with pytest.raises(FileNotFoundError):
        spawn.spawn(["only-here"], None)
    with open(tool, "rb") as stdin:
        ex = runner.execute(["cat"], stdin=stdin, capture_output=True)
    assert ex.stdout.startswith(b"#!/bin/sh")  # type: ignore[union-attr]


def test_popen_takes_over_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """``CMDSCOPE_SPAWN=popen``: the runner never calls ``spawn``; the child runs the same."""
    monkeypatch.setenv("CMDSCOPE_SPAWN", "popen")
    monkeypatch.setattr(spawn, "spawn", lambda *a, **k: pytest.fail("spawn used"))
    assert not spawn.usable()
    ex = runner.execute(["sh", "-c", "echo out; exit 3"], capture_output=True)
    assert (ex.returncode, ex.stdout) == (3, b"out\n")


def test_audit_hooks_see_the_child() -> None:
    """Security tooling that watches ``subprocess.Popen`` audit events sees our children too."""
    code = textwrap.dedent(
        """
        import sys
        seen = []
        sys.addaudithook(lambda event, args: seen.append(args[1]) if event == "subprocess.Popen" else None)
        from cmdscope import spawn
        spawn.spawn(["true", "x"], None).wait()
        print(seen)
        """
    )
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[['true', 'x']]"


ENV_PROBE = [PYTHON, "-c", "import os; print(os.environ.get('TRACEPARENT'), os.environ.get('SPAWN_PROBE'))"]


def _output(child: spawn.SpawnedChild) -> bytes:
    assert child.stdout is not None and child.stderr is not None
    out = child.stdout.read()
    child.stdout.close()
    child.stderr.close()
    child.wait()
    return out


def test_each_child_gets_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each child gets the environment it is given: a new TRACEPARENT each time, a variable
    changed between two spawns, none when the mapping has none (``test_propagation`` covers
    the environment ``cmdscope.run`` keeps between commands)."""
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


@pytest.mark.parametrize("capture", [False, True])
def test_a_start_error_leaves_nothing_behind(tmp_path: Path, capture: bool) -> None:
    """A program that cannot start comes back from the runner as 127/126 with Popen's message,
    the start callback never called, none of our descriptors left open."""
    import cmdscope

    before = sorted(os.listdir("/proc/self/fd"))
    started: list[int] = []
    not_exec = tmp_path / "script.sh"
    not_exec.write_text("#!/bin/sh\n")
    for argv, code in ((["no-such-command-xyz"], 127), ([str(not_exec)], 126)):
        ex = runner.execute(argv, capture_output=capture, on_start=started.append)
        assert (ex.returncode, ex.outcome, ex.pid) == (code, "error", None)
        assert ex.start_error and argv[0] in ex.start_error
    assert started == []
    assert sorted(os.listdir("/proc/self/fd")) == before
    rec = cmdscope.run(["no-such-command-xyz"], capture_output=capture).record
    assert rec["process.exit.code"] == 127 and rec["error.type"] == "command_not_found"
    assert "process.pid" not in rec
