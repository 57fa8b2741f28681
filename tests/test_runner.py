"""The runner leaves the child's behaviour exactly as if it ran bare (real child processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from cmdscope import _runner as runner
from conftest import PYTHON, cmdscope_cli, read_ledger


def py(code: str) -> list[str]:
    return [PYTHON, "-c", textwrap.dedent(code)]


class TestExitCodes:
    @pytest.mark.parametrize("code", [0, 1, 7])
    def test_exit_code_is_the_childs(self, code: int, ledger_path: Path) -> None:
        """`cmdscope run` exits with the child's own code, and records it."""
        proc = cmdscope_cli("run", "--", "sh", "-c", f"exit {code}")
        assert proc.returncode == code
        (rec,) = read_ledger(ledger_path)
        assert rec["process.exit.code"] == code
        assert rec["cmdscope.outcome"] == ("success" if code == 0 else "failure")

    def test_timeout_kills_and_returns_124(self, ledger_path: Path) -> None:
        """--timeout kills the child and exits 124 with outcome timeout."""
        t0 = time.monotonic()
        proc = cmdscope_cli("run", "--timeout", "0.5", "--", "sleep", "30")
        assert proc.returncode == 124
        assert time.monotonic() - t0 < 10
        (rec,) = read_ledger(ledger_path)
        assert rec["cmdscope.outcome"] == "timeout" and rec["process.exit.code"] == 124

    def test_timeout_escalates_to_sigkill(self) -> None:
        """A child that ignores SIGTERM is killed after the grace period."""
        ex = runner.execute(py("import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"),
                            timeout=0.5, capture_output=True)
        assert ex.returncode == 124 and ex.outcome == "timeout"
        assert ex.signal == signal.SIGKILL

    def test_not_found_is_127(self, ledger_path: Path) -> None:
        """A missing command exits 127 with outcome error, like a shell, and says so on stderr."""
        proc = cmdscope_cli("run", "--", "no-such-command-xyz", capture_output=True, text=True)
        assert proc.returncode == 127
        assert "no-such-command-xyz: command not found" in proc.stderr
        (rec,) = read_ledger(ledger_path)
        assert rec["cmdscope.outcome"] == "error" and rec["process.exit.code"] == 127
        assert "process.pid" not in rec

    def test_not_executable_is_126(self, tmp_path: Path, ledger_path: Path) -> None:
        """A file without the execute bit exits 126 with outcome error."""
        script = tmp_path / "script.sh"
        script.write_text("#!/bin/sh\necho hi\n")
        script.chmod(0o644)
        proc = cmdscope_cli("run", "--", str(script), capture_output=True, text=True)
        assert proc.returncode == 126
        (rec,) = read_ledger(ledger_path)
        assert rec["cmdscope.outcome"] == "error"

    @pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, 137)])
    def test_death_by_signal_is_128_plus_n(self, sig: int, code: int, ledger_path: Path) -> None:
        """A child killed by signal N is recorded with exit code 128+N (INT/TERM 'interrupted',
        KILL a failure), and the wrapper then dies by the same signal, as the caller would see bare."""
        proc = cmdscope_cli("run", "--", "sh", "-c", f"kill -{int(sig)} $$")
        assert proc.returncode == -int(sig)
        (rec,) = read_ledger(ledger_path)
        assert rec["process.exit.code"] == code and rec["cmdscope.signal"] == int(sig)
        assert rec["cmdscope.outcome"] == ("failure" if sig == signal.SIGKILL else "interrupted")


class TestSignals:
    @pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
    def test_signal_is_forwarded_to_child(self, sig: int, tmp_path: Path, ledger_path: Path) -> None:
        """A signal sent to `cmdscope run` reaches the child, whose handler decides the exit code."""
        marker = tmp_path / "ready"
        child = textwrap.dedent(f"""
            import signal, sys, time, pathlib
            def on(sig, frame):
                print('got', sig, flush=True); sys.exit(3)
            signal.signal({int(sig)}, on)
            pathlib.Path({str(marker)!r}).touch()
            time.sleep(30)
        """)
        proc = subprocess.Popen([PYTHON, "-m", "cmdscope", "run", "--", PYTHON, "-c", child],
                                stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=20)
        assert out.strip() == f"got {int(sig)}"
        assert proc.returncode == 3
        (rec,) = read_ledger(ledger_path)
        assert rec["cmdscope.outcome"] == "interrupted" and rec["process.exit.code"] == 3

    def test_sigterm_kills_child_without_handler(self, tmp_path: Path, ledger_path: Path) -> None:
        """A child with default SIGTERM dies of the forwarded signal (recorded interrupted), and so
        does the wrapper."""
        proc = subprocess.Popen([PYTHON, "-m", "cmdscope", "run", "--", "sleep", "30"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # wait until the child exists
            kids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
            if kids:
                break
            time.sleep(0.02)
        proc.terminate()
        assert proc.wait(timeout=20) == -signal.SIGTERM
        (rec,) = read_ledger(ledger_path)
        assert rec["cmdscope.outcome"] == "interrupted"


    def test_signal_during_start_callback_is_forwarded(self) -> None:
        """A signal arriving while the caller's bookkeeping runs (the start callback) still
        reaches the child: forwarding is in place before the callback."""
        script = textwrap.dedent("""
            import os, signal, time
            from cmdscope import _runner as runner
            def busy(pid):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.3)
            ex = runner.execute(["sleep", "30"], forward_signals=True, on_start=busy)
            print(ex.returncode, ex.outcome)
        """)
        proc = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, timeout=20)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["143", "interrupted"]


class TestPassthrough:
    def test_stdin_passes_through(self) -> None:
        """The child reads our stdin unchanged, binary included."""
        data = b"hello\x00\xff\xfe world\n" * 1000
        proc = cmdscope_cli("run", "--", "cat", input=data, capture_output=True)
        assert proc.returncode == 0
        assert proc.stdout == data

    def test_binary_and_invalid_utf8_output_unchanged(self, ledger_path: Path) -> None:
        """stdout and the relayed stderr carry every byte value exactly."""
        payload = bytes(range(256)) * 64 + b"\xc3\x28 invalid \xa0\xa1"
        code = f"import sys; sys.stdout.buffer.write({payload!r}); sys.stderr.buffer.write({payload!r}); sys.exit(1)"
        proc = cmdscope_cli("run", "--", PYTHON, "-c", code, capture_output=True)
        assert proc.stdout == payload
        assert proc.stderr == payload
        assert proc.returncode == 1
        (rec,) = read_ledger(ledger_path)
        assert rec["cmdscope.outcome"] == "failure"

    def test_invalid_utf8_arguments_recorded_readably(self, ledger_path: Path) -> None:
        """Arguments that are not UTF-8 reach the child unchanged and are recorded as \\x escapes."""
        arg = os.fsdecode(b"caf\xe9")
        out = subprocess.run([PYTHON, "-m", "cmdscope", "run", "--", PYTHON, "-c",
                              "import sys,os; sys.stdout.buffer.write(os.fsencode(sys.argv[1]))", arg],
                             capture_output=True)
        assert out.stdout == b"caf\xe9"
        (rec,) = read_ledger(ledger_path)
        assert "caf\\xe9" in rec["process.command_line"]

    def test_large_stderr_memory_bounded(self) -> None:
        """100 MB of stderr is relayed whole while the runner keeps only a 64 KiB tail."""
        code = textwrap.dedent("""
            import resource, sys
            from cmdscope import _runner as runner
            child = "import sys\\nblock = bytes(range(256)) * 4096\\nfor i in range(100):\\n    sys.stderr.buffer.write(block)\\nsys.stderr.buffer.write(b'THE-END')"
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            ex = runner.execute([sys.executable, "-c", child])
            grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
            print(grew, len(ex.stderr_tail), ex.stderr_truncated, ex.stderr_tail[-7:].decode())
        """)
        # Our stderr a pipe drained here (the relay's case): /dev/null is a regular file in some
        # sandboxes, and a regular file is written by the child itself, not relayed.
        proc = subprocess.Popen([PYTHON, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        while proc.stderr.read(1 << 20):
            pass
        out, _ = proc.communicate(timeout=120)
        grew_kib, tail_len, truncated, end = out.decode().split()
        assert int(tail_len) == runner.TAIL_BYTES
        assert truncated == "True" and end == "THE-END"
        # Peak memory may grow by a few read buffers, never with the amount of output.
        assert int(grew_kib) < 16 * 1024, f"runner grew by {int(grew_kib) // 1024} MiB for 100 MB of stderr"

    def test_background_grandchild_does_not_hold_runner(self) -> None:
        """A grandchild keeping the relayed stderr open does not delay the return after the child
        exits. (Our stderr a pipe: a regular file, as pytest's capture is, is not relayed.)"""
        code = textwrap.dedent("""
            import sys, time
            from cmdscope import _runner as runner
            t0 = time.monotonic()
            ex = runner.execute(["sh", "-c", "sleep 5 & echo started >&2; exit 0"])
            print(time.monotonic() - t0, ex.returncode, ex.stderr_tail.decode().strip(), flush=True)
        """)
        proc = subprocess.Popen([PYTHON, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stderr is not None
        elapsed, code_, tail = proc.stdout.readline().split()
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()  # the grandchild may hold its end for a few seconds more
        assert float(elapsed) < 3
        assert (code_, tail) == ("0", "started")

    def test_timeout_holds_when_the_child_closes_its_output_first(self) -> None:
        """Output closed long before the exit (the runner then watches the exit itself): the
        timeout still kills the child on time."""
        t0 = time.monotonic()
        ex = runner.execute(["sh", "-c", "exec 2>&-; sleep 5"], timeout=0.3)
        assert ex.returncode == 124 and ex.outcome == "timeout"
        assert time.monotonic() - t0 < 3

    def test_timeout_holds_without_pidfd(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """On a Python built without os.pidfd_open (seen: a 3.12 build), output closed early and a
        timeout: the runner polls the child instead of blocking in wait() past the deadline."""
        monkeypatch.setattr(runner, "_pidfd", lambda pid: -1)
        t0 = time.monotonic()
        ex = runner.execute(["sh", "-c", "exec 2>&-; sleep 5"], timeout=0.3)
        assert ex.returncode == 124 and ex.outcome == "timeout"
        assert time.monotonic() - t0 < 3

    def test_capture_output_like_subprocess_run(self) -> None:
        """capture_output collects both streams fully and keeps the tail for classification."""
        ex = runner.execute(["sh", "-c", "echo out; echo err >&2; exit 4"], capture_output=True)
        assert (ex.stdout, ex.stderr, ex.returncode) == (b"out\n", b"err\n", 4)
        assert ex.stderr_tail == b"err\n"

    def test_stderr_stays_a_tty_under_a_terminal(self) -> None:
        """When our stderr is a terminal, the child's stderr is one too (pty relay)."""
        import pty

        code = "import os,sys; print(os.isatty(2)); sys.stderr.write('on-stderr\\n')"
        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover - child
            os.execv(PYTHON, [PYTHON, "-m", "cmdscope", "run", "--", PYTHON, "-c", code])
        out = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert b"True" in out and b"on-stderr" in out
