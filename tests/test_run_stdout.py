"""`cmdscope run` reads the child's stdout for the classifier on every kind of stdout (issue 22
item 1) without changing what the child sees (issue 15 items 3-5): a pipe is relayed (bytes,
EPIPE, promptness as bare), a regular file is read back after the exit (only the child's own
bytes), a terminal is left alone. The real CLI, real children, each compared with bare."""

from __future__ import annotations

import fcntl
import hashlib
import os
import pty
import select
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from conftest import PYTHON, read_ledger
from test_failures_paths import _conflicted_repo

CLI = [PYTHON, "-m", "cmdscope", "run", "--"]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
# The child reports the kind of its stdout and stderr: what it sees must be what it sees bare.
KINDS = ("import os, stat, sys\n"
         "def kind(fd):\n"
         "    m = os.fstat(fd).st_mode\n"
         "    return 'tty' if os.isatty(fd) else 'file' if stat.S_ISREG(m) else 'pipe' if stat.S_ISFIFO(m) "
         "else 'socket' if stat.S_ISSOCK(m) else 'other'\n"
         "print('kinds', kind(1), kind(2), flush=True)\n")


@pytest.fixture
def env(ledger_path: Path) -> dict[str, str]:
    return {**os.environ, "CMDSCOPE_LEDGER": str(ledger_path)}


def _one(ledger: Path) -> dict:
    (rec,) = [r for r in read_ledger(ledger) if r["kind"] == "command"]
    return rec




# ---------------------------------------------------------------- stdout is a pipe


def test_pipe_stdout_is_classified(tmp_path: Path, env: dict[str, str], ledger_path: Path) -> None:
    """`cmdscope run -- git commit | cat` with nothing to commit: git says so on stdout only."""
    repo = tmp_path / "repo"  # the ledger and state live in tmp_path: not in the work tree
    repo.mkdir()
    subprocess.run([*GIT, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-q", "--allow-empty", "-m", "x"], cwd=repo, check=True)
    outs = []
    for prefix in ([], CLI):
        cmd = " ".join([*prefix, *GIT, "commit", "-m", "y"])
        done = subprocess.run(["bash", "-c", f"{cmd} | cat; echo \"status ${{PIPESTATUS[0]}}\""], cwd=repo,
                              env=env, capture_output=True, timeout=60)
        outs.append((done.stdout, done.stderr))
    assert outs[0] == outs[1] and outs[0][0].endswith(b"nothing to commit, working tree clean\nstatus 1\n")
    rec = _one(ledger_path)
    assert (rec["error.type"], rec["cmdscope.error.pattern"]) == ("git_state", "git_state.nothing-to-commit")
    assert rec["cmdscope.error.excerpt"] == "nothing to commit, working tree clean"


def test_plain_pipe_keeps_the_excerpt(env: dict[str, str], ledger_path: Path) -> None:
    """The brief's own case, through a real shell pipeline: the stdout line reaches the record."""
    done = subprocess.run(["sh", "-c", " ".join(CLI) + " sh -c 'echo \"error: pathspec x did not match\"; exit 1' | cat"],
                          env=env, capture_output=True, timeout=60)
    assert done.stdout == b"error: pathspec x did not match\n"
    assert _one(ledger_path)["cmdscope.error.excerpt"] == "error: pathspec x did not match"


def test_git_merge_conflict_on_a_pipe_is_merge_conflict(tmp_path: Path, env: dict[str, str], ledger_path: Path) -> None:
    _conflicted_repo(tmp_path)
    done = subprocess.run([*CLI, *GIT, "merge", "feature"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 1 and b"CONFLICT (content): Merge conflict in a.txt" in done.stdout
    rec = _one(ledger_path)
    assert (rec["error.type"], rec["cmdscope.error.pattern"]) == ("merge_conflict", "merge_conflict.conflict-line")


def test_pipe_child_sees_a_pipe(env: dict[str, str]) -> None:
    seen = [subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60).stdout
            for argv in ([PYTHON, "-c", KINDS], [*CLI, PYTHON, "-c", KINDS])]
    assert seen[0] == seen[1] == b"kinds pipe pipe\n"


def test_reader_gone_ends_the_child_as_bare(env: dict[str, str], ledger_path: Path) -> None:
    """`cmdscope run -- yes | head -1`: ends at once with the same status as bare (yes dies by
    SIGPIPE, and so does the wrapper after recording 141)."""
    codes = []
    for argv in (["yes"], [*CLI, "yes"]):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"y\n"
        proc.stdout.close()
        codes.append(proc.wait(timeout=20))
    assert codes == [-13, -13]
    rec = _one(ledger_path)
    assert rec["process.exit.code"] == 141 and rec["cmdscope.signal"] == 13
    shell = subprocess.run(["bash", "-c", " ".join(CLI) + " yes | head -1; echo \"${PIPESTATUS[@]}\""], env=env,
                           capture_output=True, text=True, timeout=20)
    assert shell.stdout == "y\n141 0\n"


def test_ten_megabytes_through_the_relay_byte_identical(env: dict[str, str]) -> None:
    """Every byte value, partial lines, 10 MB: the same sha256 through the relay as bare."""
    writer = ("import hashlib, sys\n"
              "out = sys.stdout.buffer\n"
              "for i in range(10 * 64):\n"
              "    block = b''.join(hashlib.sha256(b'%d.%d' % (i, j)).digest() for j in range(512))\n"
              "    out.write(block)\n"
              "out.flush()\n")
    digests = []
    for argv in ([PYTHON, "-c", writer], [*CLI, PYTHON, "-c", writer]):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        h, size = hashlib.sha256(), 0
        while chunk := proc.stdout.read(1 << 16):
            h.update(chunk)
            size += len(chunk)
        assert proc.wait(timeout=120) == 0
        digests.append((size, h.hexdigest()))
    assert digests[0] == digests[1] and digests[0][0] == 10 * 64 * 512 * 32


def test_relay_memory_stays_bounded() -> None:
    """64 MB through the stdout relay: the runner keeps 8 KiB, not the output."""
    code = textwrap.dedent("""
        import resource, sys
        from cmdscope import _runner as runner
        child = "import sys\\nblock = bytes(range(256)) * 4096\\nfor i in range(64):\\n    sys.stdout.buffer.write(block)\\nsys.stdout.buffer.write(b'THE-END')\\nsys.exit(1)"
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ex = runner.execute([sys.executable, "-c", child])
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(grew, len(ex.stdout_tail), ex.stdout_tail[-7:].decode(), file=sys.stderr)
    """)
    proc = subprocess.Popen([PYTHON, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    h = hashlib.sha256()
    while chunk := proc.stdout.read(1 << 16):
        h.update(chunk)
    _, err = proc.communicate(timeout=120)
    grew_kib, tail_len, end = err.decode().split()
    expected = hashlib.sha256(bytes(range(256)) * 4096 * 64 + b"THE-END").hexdigest()
    assert h.hexdigest() == expected
    assert (int(tail_len), end) == (8192, "THE-END")
    assert int(grew_kib) < 16 * 1024, f"runner grew by {int(grew_kib) // 1024} MiB for 64 MB of stdout"


def test_partial_line_is_relayed_before_the_child_goes_on(env: dict[str, str]) -> None:
    """A prompt without a newline reaches the reader while the child waits for the answer:
    no line buffering in the relay (else this test would hang until its timeout)."""
    child = "import sys; sys.stdout.write('name? '); sys.stdout.flush(); print('hi ' + sys.stdin.readline().strip())"
    proc = subprocess.Popen([*CLI, PYTHON, "-c", child], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    assert ready and os.read(proc.stdout.fileno(), 100) == b"name? "
    proc.stdin.write(b"ann\n")
    proc.stdin.close()
    assert proc.stdout.read() == b"hi ann\n" and proc.wait(timeout=60) == 0


def test_merged_pipe_keeps_the_order(env: dict[str, str]) -> None:
    """`2>&1 | cat`: one relay for both streams, bare order byte for byte."""
    lines = "for i in $(seq 500); do echo out $i; printf 'err %s' $i >&2; echo >&2; done"
    outs = [subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120).stdout
            for argv in (["sh", "-c", lines], [*CLI, "sh", "-c", lines])]
    assert outs[0] == outs[1] and outs[0].count(b"\n") == 1000


def test_socket_stdout_is_relayed_and_classified(env: dict[str, str], ledger_path: Path) -> None:
    """A socket stdout (inetd-style) is relayed through a pipe like stderr: the bytes arrive."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        proc = subprocess.Popen([*CLI, "sh", "-c", "echo 'fatal: not a git repository (or any of the parent "
                                                   "directories): .git'; exit 128"],
                                env=env, stdout=theirs.fileno(), stderr=subprocess.DEVNULL)
        theirs.close()
        data = b""
        while chunk := ours.recv(4096):
            data += chunk
        assert proc.wait(timeout=60) == 128
    assert data.startswith(b"fatal: not a git repository")
    assert _one(ledger_path)["error.type"] == "git_state"


def test_nonblocking_stdout_pipe_loses_nothing(env: dict[str, str]) -> None:
    """Our stdout's description is O_NONBLOCK (shared with someone else): the relay waits for
    room instead of dropping bytes."""
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
    proc = subprocess.Popen([*CLI, PYTHON, "-c", "import sys; sys.stdout.buffer.write(b'z' * 3_000_000)"],
                            env=env, stdout=w, stderr=subprocess.DEVNULL)
    os.close(w)
    got = 0
    with os.fdopen(r, "rb") as fh:
        while chunk := fh.read(1 << 14):
            got += len(chunk)
    assert proc.wait(timeout=60) == 0 and got == 3_000_000


def test_grandchild_output_after_the_child_exits_still_arrives(env: dict[str, str]) -> None:
    """`sh -c 'late &'`: bare, a background grandchild writes to our stdout after the child
    exited; through the relay it must too (not die of SIGPIPE on a closed relay)."""
    script = "(sleep 0.3; echo late; echo late-err >&2) & echo now"
    outs = [subprocess.run(argv, env=env, capture_output=True, timeout=60)
            for argv in (["sh", "-c", script], [*CLI, "sh", "-c", script])]
    assert [(o.stdout, o.stderr) for o in outs] == [(b"now\nlate\n", b"late-err\n")] * 2


def _state(pid: int) -> str | None:
    """The process state letter (R, S, Z...), None when it is gone."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat_line.rsplit(")", 1)[1].split()[0]


def test_timeout_fires_while_the_reader_stalls(tmp_path: Path, env: dict[str, str], ledger_path: Path) -> None:
    """`cmdscope run --timeout 1 -- yes | (sleep; cat)`: bare, timeout(1) ends yes at the deadline
    though nobody reads; a relay waiting on the stalled reader must not hold the deadline back."""
    pidfile = tmp_path / "pid"
    proc = subprocess.Popen([PYTHON, "-m", "cmdscope", "run", "--timeout", "1", "--", "sh", "-c",
                             f"echo $$ > {pidfile}; exec yes"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    give_up = time.monotonic() + 60  # liveness only: the deadline is 1 s
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < give_up:
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    while _state(pid) not in ("Z", None) and time.monotonic() < give_up:
        time.sleep(0.1)  # nobody reads meanwhile: the relay is stalled on a full pipe
    assert _state(pid) in ("Z", None), "the child outlived its deadline while the reader stalled"
    assert proc.stdout.read().startswith(b"y\ny\n")
    assert proc.wait(timeout=60) == 124
    assert _one(ledger_path)["cmdscope.outcome"] == "timeout"


# ---------------------------------------------------------------- stdout is a regular file


def test_file_stdout_is_read_back_and_untouched(tmp_path: Path, env: dict[str, str], ledger_path: Path) -> None:
    """`> out.log`: the child writes the file itself (a regular file, as bare); the classifier
    reads the tail of what it wrote."""
    script = KINDS + "print('fatal: not a git repository (or any of the parent directories): .git'); sys.exit(128)"
    contents = []
    for i, argv in enumerate(([PYTHON, "-c", script], [*CLI, PYTHON, "-c", script])):
        with open(tmp_path / f"out{i}", "wb") as fh:
            assert subprocess.run(argv, env=env, stdout=fh, stderr=subprocess.PIPE, timeout=60).returncode == 128
        contents.append((tmp_path / f"out{i}").read_bytes())
    assert contents[0] == contents[1] and contents[0].startswith(b"kinds file pipe\n")
    rec = _one(ledger_path)
    assert (rec["error.type"], rec["cmdscope.error.pattern"]) == ("git_state", "git_state.not-a-repository")


def test_append_only_the_childs_new_bytes_count(tmp_path: Path, env: dict[str, str], ledger_path: Path) -> None:
    """`>> log` with a merge conflict already in it: the child's own lines decide, not the old."""
    log = tmp_path / "log"
    old = b"Auto-merging a.txt\nCONFLICT (content): Merge conflict in a.txt\n"
    log.write_bytes(old)
    with open(log, "ab") as fh:
        subprocess.run([*CLI, "sh", "-c", "echo 'E   ModuleNotFoundError: No module named foo'; exit 1"],
                       env=env, stdout=fh, stderr=subprocess.DEVNULL, timeout=60)
    assert log.read_bytes() == old + b"E   ModuleNotFoundError: No module named foo\n"
    rec = _one(ledger_path)
    assert rec["error.type"] != "merge_conflict"
    assert rec["cmdscope.error.excerpt"] == "E   ModuleNotFoundError: No module named foo"


def test_append_with_nothing_new_reads_nothing_old(tmp_path: Path, env: dict[str, str], ledger_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(b"CONFLICT (content): Merge conflict in a.txt\n")
    with open(log, "ab") as fh:
        subprocess.run([*CLI, "sh", "-c", "exit 3"], env=env, stdout=fh, timeout=60)
    rec = _one(ledger_path)
    assert rec["error.type"] != "merge_conflict" and "cmdscope.error.excerpt" not in rec


def test_git_merge_conflict_into_a_file(tmp_path: Path, env: dict[str, str], ledger_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _conflicted_repo(repo)
    with open(tmp_path / "merge.log", "wb") as fh:
        done = subprocess.run([*CLI, *GIT, "merge", "feature"], cwd=repo, env=env, stdout=fh,
                              stderr=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 1 and b"CONFLICT (content)" in (tmp_path / "merge.log").read_bytes()
    assert _one(ledger_path)["error.type"] == "merge_conflict"


def test_write_only_file_read_back_through_proc(tmp_path: Path, env: dict[str, str], ledger_path: Path) -> None:
    """Our stdout is open write-only (as `>` opens it): the tail is read through a read-only
    reopening of the same file, past a large output (only the last bytes are read)."""
    out = tmp_path / "out"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        script = "yes building | head -200000; echo 'fatal: not a git repository'; exit 128"
        subprocess.run([*CLI, "sh", "-c", script], env=env, stdout=fd, timeout=60)
    finally:
        os.close(fd)
    assert out.stat().st_size == 200000 * 9 + 28
    assert _one(ledger_path)["error.type"] == "git_state"


def test_file_tail_falls_back_to_a_read_write_fd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No /proc reopening (another OS, or denied): a read-write stdout is read through itself
    (pread: the shared offset does not move); a write-only one gives no tail, never an error."""
    from cmdscope import _runner as runner

    def no_proc(path: object, *args: object, **kw: object) -> int:
        raise PermissionError(13, "denied", str(path))

    for flags, expected in ((os.O_RDWR, b"new line\n"), (os.O_WRONLY, None)):
        out = tmp_path / f"f{flags}"
        out.write_bytes(b"old line\n")
        fd = os.open(out, flags | os.O_APPEND)
        try:
            start = runner._file_start(fd)
            os.write(fd, b"new line\n")
            with monkeypatch.context() as m:
                m.setattr(runner.os, "open", no_proc)
                assert runner._file_tail(fd, start, 8192) == expected  # type: ignore[arg-type]
            assert os.lseek(fd, 0, os.SEEK_CUR) == 18
        finally:
            os.close(fd)


def test_merged_into_a_file_child_sees_the_file(tmp_path: Path, env: dict[str, str], ledger_path: Path) -> None:
    """`>log 2>&1`: both streams go straight to the file (no relay), order as bare, and the
    classifier reads both from it."""
    script = KINDS + "sys.stdout.write('out\\n'); sys.stdout.flush(); sys.stderr.write('fatal: not a git repository\\n'); sys.exit(128)"
    contents = []
    for i, argv in enumerate(([PYTHON, "-c", script], [*CLI, PYTHON, "-c", script])):
        with open(tmp_path / f"out{i}", "wb") as fh:
            subprocess.run(argv, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=60)
        contents.append((tmp_path / f"out{i}").read_bytes())
    assert contents[0] == contents[1] == b"kinds file file\nout\nfatal: not a git repository\n"
    assert _one(ledger_path)["error.type"] == "git_state"


def test_merged_into_an_unreadable_file_falls_back_to_the_relay(tmp_path: Path) -> None:
    """`>log 2>&1` where the log cannot be read back: both streams go through the one relay (the
    order kept), so the classifier still has their tail."""
    code = textwrap.dedent(f"""
        import os, sys
        from cmdscope import _runner as runner
        runner._readable = lambda fd: False
        report = os.dup(1)
        fd = os.open({str(tmp_path / "log")!r}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        ex = runner.execute(["sh", "-c", "echo out; echo 'fatal: not a git repository' >&2; exit 128"])
        os.write(report, repr((ex.returncode, ex.stdout_tail, ex.stderr_tail)).encode())
    """)
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, timeout=60, check=True)
    both = b"out\nfatal: not a git repository\n"
    assert done.stdout == repr((128, both, both)).encode()
    assert (tmp_path / "log").read_bytes() == both


def test_pipe_stdout_beside_a_tty_stderr(env: dict[str, str]) -> None:
    """`cmdscope run -- cmd | less` at a terminal: stdout a pipe (relayed), stderr a terminal
    (a pseudo-terminal relay, as since issue 15): the child sees a pipe and a tty, as bare."""
    seen = []
    for argv in ([PYTHON, "-c", KINDS], [*CLI, PYTHON, "-c", KINDS]):
        master, slave = pty.openpty()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        out, _ = proc.communicate(timeout=60)
        os.close(master)
        seen.append(out)
    assert seen[0] == seen[1] == b"kinds pipe tty\n"


# ---------------------------------------------------------------- stdout is a terminal


def test_tty_stdout_is_left_alone(env: dict[str, str]) -> None:
    """A terminal stays the very terminal: same device for the child, no relay in between."""
    script = KINDS + "print('name', os.ttyname(1))"
    seen = []
    for argv in ([PYTHON, "-c", script], [*CLI, PYTHON, "-c", script]):
        master, slave = pty.openpty()
        name = os.ttyname(slave)
        proc = subprocess.Popen(argv, env=env, stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        data = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not chunk:
                break
            data += chunk
        os.close(master)
        assert proc.wait(timeout=60) == 0
        seen.append(data.replace(name.encode(), b"<slave>"))
    assert seen[0] == seen[1] == b"kinds tty pipe\r\nname <slave>\r\n"


# ---------------------------------------------------------------- stderr is a regular file

# The child checks what a bare run sees on a `2>file` stderr: a regular file it can seek on
# (a pipe gives ESPIPE), with the caller's O_APPEND, that `test -f /dev/stderr` accepts.
STDERR_FILE = (KINDS + "import fcntl, subprocess\n"
               "print('append', bool(fcntl.fcntl(2, fcntl.F_GETFL) & os.O_APPEND), flush=True)\n"
               "print('offset', os.lseek(2, 0, os.SEEK_CUR), flush=True)\n"
               "print('test -f', subprocess.call(['sh', '-c', 'test -f /dev/stderr']), flush=True)\n"
               "sys.stderr.write('fatal: not a git repository (or any of the parent directories): .git\\n')\n"
               "sys.exit(128)\n")


@pytest.mark.parametrize("mode", ["wb", "ab"])
def test_file_stderr_is_written_by_the_child_and_read_back(tmp_path: Path, env: dict[str, str], ledger_path: Path,
                                                           mode: str) -> None:
    """`2>log` and `2>>log`: the child writes the file itself (a regular file, seekable, its
    O_APPEND as given), exactly as bare; the failure's excerpt is read back from the file, only
    the child's own bytes (the old merge-conflict line in the log does not count)."""
    old = b"CONFLICT (content): Merge conflict in a.txt\n"
    seen = []
    for i, argv in enumerate(([PYTHON, "-c", STDERR_FILE], [*CLI, PYTHON, "-c", STDERR_FILE])):
        log = tmp_path / f"err{i}"
        log.write_bytes(old)
        with open(log, mode) as fh:
            done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=fh, timeout=60, check=False)
        seen.append((done.returncode, done.stdout, log.read_bytes()))
    assert seen[0] == seen[1]
    offset = len(old) if mode == "ab" else 0
    assert seen[0][1] == f"kinds pipe file\nappend {mode == 'ab'}\noffset {offset}\ntest -f 0\n".encode()
    rec = _one(ledger_path)
    assert (rec["error.type"], rec["cmdscope.error.pattern"]) == ("git_state", "git_state.not-a-repository")
    assert rec["cmdscope.error.excerpt"].startswith("fatal: not a git repository")


def test_file_stderr_keeps_the_last_64_kib_and_says_truncated(tmp_path: Path, env: dict[str, str],
                                                              ledger_path: Path) -> None:
    """More than the tail into `2>log`: the read-back holds the last bytes and the record says
    the classifier saw only part of it, as with the relay."""
    script = "yes noise | head -20000 >&2; echo 'fatal: not a git repository' >&2; exit 128"
    with open(tmp_path / "err", "wb") as fh:
        subprocess.run([*CLI, "sh", "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=fh, timeout=60, check=False)
    assert (tmp_path / "err").stat().st_size == 20000 * 6 + 28
    rec = _one(ledger_path)
    assert rec["error.type"] == "git_state" and rec["cmdscope.stderr.truncated"] is True


def test_unreadable_stderr_file_falls_back_to_the_relay(tmp_path: Path) -> None:
    """A `2>log` that cannot be read back is relayed as before, so the tail is still kept."""
    code = textwrap.dedent(f"""
        import os, sys
        from cmdscope import _runner as runner
        runner._readable = lambda fd: False
        report = os.dup(1)
        fd = os.open({str(tmp_path / "log")!r}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 2)
        ex = runner.execute(["sh", "-c", "echo 'fatal: not a git repository' >&2; exit 128"], stdout=-3)
        os.write(report, repr((ex.returncode, ex.stderr_tail)).encode())
    """)
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, timeout=60, check=True)
    assert done.stdout == repr((128, b"fatal: not a git repository\n")).encode()
    assert (tmp_path / "log").read_bytes() == b"fatal: not a git repository\n"


# ---------------------------------------------------------------- files given to cmdscope.run


def test_api_stdout_file_is_tailed(tmp_path: Path, otel: object) -> None:
    """`cmdscope.run(..., stdout=open("out.txt", "w"))`: the child writes the file itself and
    the failure is classified from what it wrote there, as the CLI does for `> out.txt`."""
    import cmdscope

    script = KINDS + "print('fatal: not a git repository (or any of the parent directories): .git'); sys.exit(128)"
    with open(tmp_path / "out.txt", "w") as fh:
        fh.write("CONFLICT (content): Merge conflict in a.txt\n")
        fh.flush()
        result = cmdscope.run([PYTHON, "-c", script], stdout=fh, stderr=subprocess.DEVNULL)
    assert result.returncode == 128
    written = (tmp_path / "out.txt").read_text().splitlines()
    assert written[1].startswith("kinds file ")  # (stderr: /dev/null, a regular file in some sandboxes)
    assert written[2:] == ["fatal: not a git repository (or any of the parent directories): .git"]
    assert (result.record["error.type"], result.record["cmdscope.error.pattern"]) == \
        ("git_state", "git_state.not-a-repository")


def test_api_stderr_file_is_tailed(tmp_path: Path, otel: object) -> None:
    """`cmdscope.run(..., stderr=f)` with a regular file: read back for the excerpt (a caller's
    file was not read at all before), and the child still sees the file."""
    import cmdscope

    with open(tmp_path / "out.txt", "wb") as out, open(tmp_path / "err.txt", "ab") as err:
        result = cmdscope.run([PYTHON, "-c", STDERR_FILE], stdout=out, stderr=err)
    assert result.returncode == 128
    assert (tmp_path / "out.txt").read_bytes() == b"kinds file file\nappend True\noffset 0\ntest -f 0\n"
    assert result.record["error.type"] == "git_state"
    assert result.record["cmdscope.error.excerpt"].startswith("fatal: not a git repository")
