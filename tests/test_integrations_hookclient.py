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

CLIENT = Path(__file__).resolve().parent.parent / "src" / "cmdscope" / "_integrations" / "hookclient.py"


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


PROJECT_POLICY = ("name: project\nversion: 1.0.0\nrules:\n  - id: no-make-here\n"
                  "    match: {executable: [make]}\n    action: deny\n")


def _repo(path: Path, policy: bool) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    if policy:
        (path / ".cmdscope").mkdir()
        (path / ".cmdscope" / "policy.yaml").write_text(PROJECT_POLICY)
    return path


def _pre_in(repo: Path, call_id: str, event: str = "PreToolUse") -> bytes:
    return json.dumps({"session_id": f"s-{repo.name}", "cwd": str(repo), "hook_event_name": event,
                       "tool_name": "Bash", "tool_input": {"command": "make deploy"},
                       "tool_response": {"stdout": "", "stderr": "", "interrupted": False},
                       "tool_use_id": call_id}).encode()


def test_concurrent_requests_get_their_own_directory_environment_and_policy(socket_path: Path,
                                                                            tmp_path: Path) -> None:
    """Two hooks at once through the real daemon, in different repositories with different
    CMDSCOPE_* settings and ledgers: each call is decided by its own repository's policy and
    recorded with its own context in its own ledger; the daemon's working directory is the
    same afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    client(pre("ls", "warm"))
    wait_for(socket_path)
    daemon = int(Path(str(socket_path) + ".lock").read_text())
    cwd_before = os.readlink(f"/proc/{daemon}/cwd")
    strict, plain = _repo(tmp_path / "strict", True), _repo(tmp_path / "plain", False)
    sides = {
        strict: {"CMDSCOPE_LEDGER": str(tmp_path / "strict.jsonl"), "CMDSCOPE_PHASE": "review",
                 "CMDSCOPE_PACKET": "pkt-strict", "CMDSCOPE_ACTOR": "alice"},
        plain: {"CMDSCOPE_LEDGER": str(tmp_path / "plain.jsonl"), "CMDSCOPE_PHASE": "build",
                "CMDSCOPE_PACKET": "pkt-plain", "CMDSCOPE_ACTOR": "bob"},
    }

    def hook(repo: Path, data: bytes) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-S", str(CLIENT), "claude-code"], input=data, capture_output=True,
                              cwd=repo, timeout=60, check=False,
                              env={**os.environ, "CMDSCOPE_HOOKD_IDLE": "20", **sides[repo]})

    def call(job: tuple[Path, int]) -> tuple[Path, subprocess.CompletedProcess]:
        repo, i = job
        done = hook(repo, _pre_in(repo, f"{repo.name}-{i}"))
        if b'"deny"' not in done.stdout:  # the agent ran it: the after event closes the record
            assert hook(repo, _pre_in(repo, f"{repo.name}-{i}", "PostToolUse")).returncode == 0
        return repo, done

    jobs = [(repo, i) for i in range(6) for repo in sides]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(call, jobs))
    for repo, done in results:
        assert done.returncode == 0, done.stderr
        denied = b'"permissionDecision": "deny"' in done.stdout
        assert denied == (repo == strict), (repo, done.stdout)
    for repo, env in sides.items():
        records = read_ledger(Path(env["CMDSCOPE_LEDGER"]))
        assert len(records) == 6
        assert {r["cmdscope.phase"] for r in records} == {env["CMDSCOPE_PHASE"]}
        assert {r["cmdscope.packet"] for r in records} == {env["CMDSCOPE_PACKET"]}
        assert {r["cmdscope.worktree"] for r in records} == {str(repo)}
        assert {r["kind"] for r in records} == ({"denial"} if repo == strict else {"command"})
    assert os.readlink(f"/proc/{daemon}/cwd") == cwd_before


def test_the_handler_leaves_the_process_environment_and_directory_alone(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests handled on threads never show up in the daemon's os.environ or working
    directory, not even while they run (another thread watches)."""
    import threading

    from cmdscope._integrations import hookd

    repo = _repo(tmp_path / "strict", True)
    env_before, cwd_before = dict(os.environ), os.getcwd()
    def request(call_id: str) -> bytes:  # one tool call each (the same call twice is written once)
        return json.dumps({"agent": "claude-code", "cwd": str(repo), "stdin": _pre_in(repo, call_id).decode(),
                           "env": {"CMDSCOPE_PHASE": "review", "CMDSCOPE_LEDGER": str(tmp_path / "r.jsonl"),
                                   "XDG_STATE_HOME": str(tmp_path / "client-state")}}).encode()

    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if os.environ.get("CMDSCOPE_PHASE") or os.getcwd() != cwd_before:
                seen.append(f"{os.environ.get('CMDSCOPE_PHASE')} {os.getcwd()}")

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        answers = []
        workers = [threading.Thread(target=lambda i=i: answers.append(hookd.handle(request(f"x{i}")))) for i in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        stop.set()
        watcher.join()
    assert seen == []
    assert dict(os.environ) == env_before and os.getcwd() == cwd_before
    assert all('"deny"' in out for _code, out, _err in answers) and len(answers) == 4
    records = read_ledger(tmp_path / "r.jsonl")
    assert len(records) == 4 and {r["cmdscope.phase"] for r in records} == {"review"}


def _event(event: str, command: str, call_id: str, **extra: object) -> bytes:
    return json.dumps({"session_id": "s-kill", "cwd": "/tmp", "hook_event_name": event, "tool_name": "Bash",
                       "tool_input": {"command": command}, "tool_use_id": call_id, **extra}).encode()


def _kill_after_write(socket_path: Path, ledger_path: Path, data: bytes, call_id: str) -> None:
    """Send ``data`` to the running daemon, wait until its record for ``call_id`` is in the
    ledger, SIGKILL the daemon without reading its answer (what a client sees when the daemon
    dies between writing and answering), then answer the same event as the client does then."""
    sys.path.insert(0, str(CLIENT.parent))
    try:
        from hookclient import encode_request, forwarded_env  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    pid = int(Path(str(socket_path) + ".lock").read_text())
    import socket

    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(str(socket_path))
    conn.sendall(encode_request("claude-code", "/tmp", forwarded_env(os.environ), data.decode()))
    conn.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + 30
    while not any(r.get("gen_ai.tool.call.id") == call_id for r in read_ledger(ledger_path)):
        assert time.monotonic() < deadline, "the daemon never wrote the record"
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    conn.close()
    deadline = time.monotonic() + 10
    while True:  # the killed daemon's socket refuses, so the client falls back to its own process
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline
        time.sleep(0.01)
    again = client(data, env={"CMDSCOPE_HOOKD": "off"})  # the fallback alone (no new daemon)
    assert again.returncode == 0, again.stderr


def test_daemon_killed_after_writing_a_command_record_leaves_one_record(socket_path: Path, ledger_path: Path) -> None:
    """PreToolUse through the daemon, then the daemon SIGKILLed right after it wrote the
    PostToolUse record and before the client read the answer; the client answers the event again
    in its own process: the command is in the ledger once, with the record id the daemon wrote."""
    client(pre("ls", "warm"))
    wait_for(socket_path)
    assert client(_event("PreToolUse", "echo once", "k1")).returncode == 0
    _kill_after_write(socket_path, ledger_path, _event("PostToolUse", "echo once", "k1",
                                                        tool_response={"stdout": "once", "stderr": ""}), "k1")
    records = [r for r in read_ledger(ledger_path) if r.get("gen_ai.tool.call.id") == "k1"]
    assert len(records) == 1, records
    assert records[0]["kind"] == "command" and records[0]["cmdscope.outcome"] == "success"


def test_daemon_killed_after_writing_a_denial_leaves_one_denial(socket_path: Path, ledger_path: Path) -> None:
    """The same kill after the daemon wrote a PreToolUse denial: one denial, and the client's
    own answer still denies."""
    client(pre("ls", "warm"))
    wait_for(socket_path)
    _kill_after_write(socket_path, ledger_path, _event("PreToolUse", "git push --force origin main", "k2"), "k2")
    denials = [r for r in read_ledger(ledger_path) if r.get("gen_ai.tool.call.id") == "k2"]
    assert [r["kind"] for r in denials] == ["denial"]
    assert "deny" in client(_event("PreToolUse", "git push --force origin main", "k2"),
                            env={"CMDSCOPE_HOOKD": "off"}).stdout.decode()
    assert len([r for r in read_ledger(ledger_path) if r.get("gen_ai.tool.call.id") == "k2"]) == 1
