"""Integrations a team can commit (issue 21.6): no machine path in committed files, a clear line
(never a silent 127 or a blocking 2) on a teammate's machine without cmdscope, a validated
--python, `integrations status`, and an uninstall that leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PYTHON, ROOT

import cmdscope

PACKAGE = str(Path(cmdscope.__file__).resolve().parent)
DENY_EVENT = json.dumps({"hook_event_name": "PreToolUse", "tool_name": "Bash", "session_id": "s1",
                         "tool_input": {"command": "rm -rf ~"}, "tool_use_id": "t1"}).encode()


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "cmdscope", "integrations", *args, "--dir", str(cwd)],
                          capture_output=True, text=True, timeout=120)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def run_hook(project: Path, command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The committed hook command, run as Claude Code runs it (a shell, CLAUDE_PROJECT_DIR set)."""
    return subprocess.run(["sh", "-c", command], cwd=project / "src", input=DENY_EVENT, capture_output=True,
                          timeout=60, env={**env, "CLAUDE_PROJECT_DIR": str(project), "CMDSCOPE_HOOKD_IDLE": "5"})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    (root / "src" / "a.txt").write_text("a\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    return root


def test_committed_files_name_no_machine_path_and_a_teammate_is_told(repo: Path, tmp_path: Path) -> None:
    for target in ("claude-code", "codex", "opencode"):
        assert cli(repo, "install", target).returncode == 0
    git(repo, "add", "-A")
    committed = git(repo, "diff", "--cached", "--name-only").split()
    assert ".cmdscope/local.env" not in committed and ".cmdscope/hook" in committed
    for name in committed:
        text = (repo / name).read_text()
        for machine_path in (sys.executable, str(Path(sys.executable).resolve()), PACKAGE, str(tmp_path)):
            assert machine_path not in text, (name, machine_path)
    git(repo, "commit", "-qm", "cmdscope hooks")
    command = json.loads((repo / ".claude" / "settings.json").read_text())["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    # this machine: the hook decides
    done = run_hook(repo, command, dict(os.environ))
    assert done.returncode == 0 and json.loads(done.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    # a teammate's clone, no cmdscope on PATH: one clear line, the call goes on (or is blocked if they fail closed)
    mate = tmp_path / "mate"
    git(tmp_path, "clone", "-q", str(repo), str(mate))
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = run_hook(mate, command, bare)
    assert done.returncode == 0 and done.stdout == b""
    assert done.stderr.count(b"\n") == 1 and b"cmdscope: not installed on this machine" in done.stderr
    done = run_hook(mate, command, {**bare, "CMDSCOPE_GUARD_FAIL": "closed"})
    assert done.returncode == 2 and b"not installed" in done.stderr
    # ... and with cmdscope on their PATH (a different install location), it works without reinstalling
    venv_bin = str(Path(sys.executable).parent)
    done = run_hook(mate, command, {**os.environ, "PATH": f"{venv_bin}:/usr/bin:/bin"})
    assert done.returncode == 0 and json.loads(done.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    status = subprocess.run([PYTHON, "-m", "cmdscope", "integrations", "status", "--dir", str(mate), "--format", "json"],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "PATH": "/usr/bin:/bin"})
    rows = {(r["integration"], r["scope"]): r for r in json.loads(status.stdout)}
    assert status.returncode == 1 and rows[("claude-code", "project")]["state"].startswith("fails")
    assert "not installed on this machine" in rows[("claude-code", "project")]["state"]
    ok = json.loads(cli(repo, "status", "--format", "json").stdout)
    assert {(r["integration"], r["state"]) for r in ok if r["scope"] == "project" and r["integration"] != "git"} == {
        ("claude-code", "ok"), ("codex", "ok"), ("opencode", "ok")}


def test_python_is_validated(repo: Path, tmp_path: Path) -> None:
    done = cli(repo, "install", "claude-code", "--python", str(tmp_path / "nope"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no such executable" in done.stderr
    done = cli(repo, "install", "claude-code", "--python", "/bin/sh")
    assert done.returncode == 2 and "cannot import cmdscope" in done.stderr
    assert not (repo / ".claude").exists() and not (repo / ".cmdscope").exists()


def test_uninstall_removes_what_install_added_and_the_daemon(repo: Path, isolated_state: Path) -> None:
    before = git(repo, "status", "--porcelain", "--ignored")
    for target in ("claude-code", "codex", "opencode", "git"):
        assert cli(repo, "install", target).returncode == 0
    command = json.loads((repo / ".claude" / "settings.json").read_text())["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    assert run_hook(repo, command, dict(os.environ)).returncode == 0  # starts the warm daemon
    lock = next(isolated_state.rglob("hookd-*.sock.lock"))
    pid = int(lock.read_text())
    os.kill(pid, 0)
    for target in ("claude-code", "codex", "opencode", "git"):
        assert cli(repo, "uninstall", target).returncode == 0
    assert git(repo, "status", "--porcelain", "--ignored") == before
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        import time

        time.sleep(0.05)
    else:
        pytest.fail("the hook daemon still runs after uninstall")


def test_docs_describe_team_setup_and_uninstall() -> None:
    text = (ROOT / "docs" / "integrations.md").read_text()
    assert "## Set up a team" in text and "## Uninstall" in text and "integrations status" in text
