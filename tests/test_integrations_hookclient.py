"""The installed hook command: a thin client (real child process) and the warm daemon it starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import read_ledger

CLIENT = Path(__file__).resolve().parent.parent / "src" / "cmdscope" / "integrations" / "hookclient.py"


def pre(command: str, call_id: str) -> bytes:
    return json.dumps({"session_id": "s-client", "cwd": "/tmp", "hook_event_name": "PreToolUse", "tool_name": "Bash",
                       "tool_input": {"command": command}, "tool_use_id": call_id}).encode()


def client(data: bytes, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-S", str(CLIENT), "claude-code"], input=data, capture_output=True,
                          env={**os.environ, "CMDSCOPE_HOOKD_IDLE": "20", **(env or {})}, timeout=60, check=False)


@pytest.fixture
def socket_path(isolated_state: Path):
    sys.path.insert(0, str(CLIENT.parent))
    try:
        from hookclient import socket_path as path_for  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    path = Path(path_for(os.environ))
    yield path
    lock = Path(str(path) + ".lock")
    if lock.exists() and lock.read_text().strip().isdigit():
        try:
            os.kill(int(lock.read_text()), signal.SIGTERM)  # the daemon this test started
        except ProcessLookupError:
            pass


def wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"no daemon socket at {path}"
        time.sleep(0.05)


def test_first_call_falls_back_then_daemon_answers_the_same(socket_path: Path, ledger_path: Path) -> None:
    """Without a daemon the client answers through the full handler and starts one; later calls use it."""
    first = client(pre("git push --force origin main", "c1"))
    assert first.returncode == 0
    wait_for(socket_path)
    assert oct(socket_path.stat().st_mode & 0o777) == "0o600"
    second = client(pre("git push --force origin main", "c2"))
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert json.loads(second.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    denials = [r for r in read_ledger(ledger_path) if r["kind"] == "denial"]
    assert [r["gen_ai.tool.call.id"] for r in denials] == ["c1", "c2"]


def test_daemon_uses_each_callers_environment(socket_path: Path, tmp_path: Path) -> None:
    """The ledger (and the rest of CMDSCOPE_*) is the calling hook's, not the daemon's."""
    client(pre("ls", "warm"))
    wait_for(socket_path)
    other = tmp_path / "other-ledger.jsonl"
    done = client(pre("rm -rf ~", "c3"), env={"CMDSCOPE_LEDGER": str(other)})
    assert "deny" in done.stdout.decode()
    (rec,) = read_ledger(other)
    assert rec["gen_ai.tool.call.id"] == "c3"


def test_bad_input_through_the_daemon_is_still_allowed_with_warning(socket_path: Path, ledger_path: Path) -> None:
    """Garbage on stdin gets the same fail-open answer through the daemon as inline."""
    client(pre("ls", "warm"))
    wait_for(socket_path)
    done = client(b"\xff\xfe not json")
    assert done.returncode == 0 and "systemMessage" in json.loads(done.stdout)
    closed = client(b"nope", env={"CMDSCOPE_GUARD_FAIL": "closed"})
    assert closed.returncode == 2 and b"cmdscope.hook-input" in closed.stderr
