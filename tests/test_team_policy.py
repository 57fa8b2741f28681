"""A team's policy holds where a team works: from any directory of the repository, through typos,
against a project file that tries to loosen it, with warnings before the command runs, and the
same answers from `cmdscope check` and from a warm hook daemon (issues 21 and 15).

Everything goes through the real CLI in a child process, from a subdirectory of a real git
repository in a temp dir.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PYTHON, ROOT, read_ledger

PUSH = ["git", "push", "--force", "origin", "main"]


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([PYTHON, "-m", "cmdscope", *args], cwd=cwd, env=full, capture_output=True,
                          input=stdin, timeout=timeout)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit on main, a bare `origin` and a `src/` subdirectory."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    (root / "src").mkdir()
    (root / "src" / "a.txt").write_text("a\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    git(root, "remote", "add", "origin", str(origin))
    git(root, "push", "-q", "origin", "main")
    return root


def policy(root: Path, rules: str) -> Path:
    path = root / ".cmdscope" / "policy.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"name: team\nversion: 1.0.0\nrules:\n{rules}")
    return path


def last(ledger_path: Path) -> dict:
    return read_ledger(ledger_path)[-1]


# -- 21.1 project policy from the worktree root ----------------------------------------------------

def test_project_policy_applies_in_every_directory_of_the_repository(repo: Path, ledger_path: Path) -> None:
    policy(repo, "  - id: no-greeting\n    match: {command: 'echo\\s+hello'}\n    action: deny\n")
    for where in (repo, repo / "src"):
        done = cli(where, "run", "--", "echo", "hello")
        assert done.returncode == 126 and done.stdout == b"", (where, done.stderr)
        assert b"denied by no-greeting" in done.stderr
        assert last(ledger_path)["cmdscope.policy.rule"] == "no-greeting"
    # A nested repository (a submodule, a vendored clone) is its own project: the outer policy stops at its root.
    inner = repo / "src" / "vendored"
    inner.mkdir()
    git(inner, "init", "-q")
    assert cli(inner, "run", "--", "echo", "hello").returncode == 0
    # and `cmdscope check` decides with the same layers from the subdirectory
    out = json.loads(cli(repo / "src", "check", "--json", "echo hello").stdout)
    assert out["decision"]["rule"] == "no-greeting" and out["decision"]["denied"] is True


# -- 21.2 a typo never switches the guard off ------------------------------------------------------

def test_unknown_danger_rule_in_a_policy_leaves_the_floor_armed(repo: Path, tmp_path: Path, ledger_path: Path) -> None:
    org = tmp_path / "org.yaml"
    org.write_text("name: org\nversion: 1.0.0\nrules:\n  - id: r\n    match: {danger_rules: [git.psuh-force]}\n"
                   "    action: deny\n  - id: all\n    match: {danger_rules: ['*']}\n    action: allow\n")
    done = cli(repo / "src", "run", "--", *PUSH, env={"CMDSCOPE_POLICY_PATH": str(org)})
    assert done.returncode == 126, done.stderr
    err = done.stderr.decode()
    assert "guard configuration error" in err and "git.psuh-force" in err and "org.yaml" in err
    rec = last(ledger_path)
    assert rec["kind"] == "denial" and rec["cmdscope.policy.rule"] == "default.deny-critical"
    assert any("git.psuh-force" in e for e in rec["cmdscope.guard.errors"])
    assert git(repo, "ls-remote", "origin", "main").split()[0] == git(repo, "rev-parse", "HEAD").strip()
    # lint names the typo; doctor shows the broken layer and the floor that still applies
    lint = cli(repo, "registry", "lint", str(org))
    assert lint.returncode == 2 and b"git.psuh-force' names no dangerous-command rule" in lint.stderr
    doctor = cli(repo / "src", "doctor", env={"CMDSCOPE_POLICY_PATH": str(org)})
    assert doctor.returncode == 1
    assert b"BROKEN, left out" in doctor.stdout and b"registry/policies/default.yaml  [loaded, trusted]" in doctor.stdout


def test_broken_registry_overlay_is_left_out_loudly(repo: Path, tmp_path: Path, ledger_path: Path) -> None:
    overlay = tmp_path / "rules"
    overlay.mkdir()
    (overlay / "mine.yaml").write_text("disable: [git.push-force-shared]\nrules:\n  - id: my.rule\n    severity: x\n")
    done = cli(repo / "src", "run", "--", *PUSH, env={"CMDSCOPE_REGISTRY_PATH": str(overlay)})
    assert done.returncode == 126 and b"mine.yaml" in done.stderr
    assert last(ledger_path)["cmdscope.guard.errors"]


def test_mode_typo_is_an_error_before_anything_runs(repo: Path, tmp_path: Path, ledger_path: Path) -> None:
    marker = tmp_path / "ran"
    done = cli(repo / "src", "run", "--", "touch", str(marker), env={"CMDSCOPE_GUARD_MODE": "enforec"})
    assert done.returncode == 2 and not marker.exists()
    assert b"CMDSCOPE_GUARD_MODE='enforec'" in done.stderr and done.stderr.count(b"\n") == 1
    assert cli(repo, "doctor", env={"CMDSCOPE_GUARD_MODE": "enforec"}).returncode == 2


# -- 15.7 a project policy may tighten, never loosen, unless trusted ------------------------------

def test_untrusted_project_policy_cannot_loosen_until_trusted(repo: Path, ledger_path: Path) -> None:
    path = policy(repo, "  - id: yolo\n    match: {danger_rules: ['*']}\n    action: allow\n"
                        "  - id: no-greeting\n    match: {command: 'echo\\s+hello'}\n    action: deny\n")
    git(repo, "commit", "-q", "--allow-empty", "-m", "two")
    done = cli(repo / "src", "run", "--", *PUSH)
    assert done.returncode == 126
    assert b"ignored yolo" in done.stderr and b"cmdscope policy trust" in done.stderr
    rec = last(ledger_path)
    assert rec["cmdscope.policy.rule"] == "default.deny-critical" and rec["cmdscope.policy.ignored"].startswith("yolo")
    assert cli(repo / "src", "run", "--", "echo", "hello").returncode == 126  # tightening still applies
    # the user trusts this exact file: now it may loosen
    trusted = cli(repo / "src", "policy", "trust")
    assert trusted.returncode == 0 and str(path.resolve()).encode() in trusted.stdout
    assert cli(repo / "src", "run", "--", *PUSH).returncode == 0
    assert git(repo, "ls-remote", "origin", "main").split()[0] == git(repo, "rev-parse", "HEAD").strip()
    # any edit (an agent's file tools, a pull) lapses the trust
    path.write_text(path.read_text() + "  - id: more\n    match: {executable: [true]}\n    action: allow\n")
    git(repo, "commit", "-q", "--allow-empty", "-m", "three")
    assert cli(repo / "src", "run", "--", *PUSH).returncode == 126


# -- 21.3 push rules match the ref pushed to; check decides like run -------------------------------

def test_push_target_is_the_ref_pushed_not_the_branch_checked_out(repo: Path, ledger_path: Path) -> None:
    org = repo.parent / "org.yaml"
    org.write_text("name: org\nversion: 1.0.0\nrules:\n  - id: own-branches\n"
                   "    match: {danger_rules: ['git.push-force*'], push_target: ['feature/*']}\n    action: allow\n")
    env = {"CMDSCOPE_POLICY_PATH": str(org)}
    git(repo, "checkout", "-qb", "feature/x")
    git(repo, "commit", "-q", "--allow-empty", "-m", "f")
    assert cli(repo / "src", "run", "--", *PUSH, env=env).returncode == 126
    check = json.loads(cli(repo / "src", "check", "--json", "--", *PUSH, env=env).stdout)
    assert check["decision"]["denied"] is True and check["decision"]["rule"] == "default.deny-critical"
    done = cli(repo / "src", "run", "--", "git", "push", "-q", "--force", "origin", "feature/x", env=env)
    assert done.returncode == 0, done.stderr
    assert last(ledger_path)["cmdscope.policy.rule"] == "own-branches"
    # a push with no refspec pushes the checked-out branch; HEAD:main names main
    assert cli(repo / "src", "run", "--", "git", "push", "-q", "--force", "-u", "origin", "HEAD:main",
               env=env).returncode == 126
    check = json.loads(cli(repo / "src", "check", "--json", "--", "git", "push", "-f", "origin", "feature/x",
                           env=env).stdout)
    assert check["decision"]["action"] == "allow" and check["decision"]["rule"] == "own-branches"


# -- 21.4 warnings before the run ------------------------------------------------------------------

def test_warnings_reach_stderr_before_the_child_starts(repo: Path) -> None:
    done = cli(repo / "src", "run", "--shell", "echo child-started >&2; git reset -q --hard")
    assert done.returncode == 0
    err = done.stderr.decode()
    assert "warning: default.warn-high: git.reset-hard" in err
    assert err.index("warning:") < err.index("child-started")
    policy(repo, "  - id: no-greeting\n    match: {command: 'echo\\s+hello'}\n    action: deny\n")
    done = cli(repo / "src", "run", "--shell", "echo child-started >&2; echo hello",
               env={"CMDSCOPE_GUARD_MODE": "warn"})
    assert done.returncode == 0 and done.stdout == b"hello\n"
    err = done.stderr.decode()
    assert "would be denied (warn mode): no-greeting" in err and err.index("would be denied") < err.index("child-started")


# -- 15.8 the warm daemon never serves a stale policy; a stalled client delays no one ---------------

def _ask(sock_path: str, cwd: Path, command: str, env: dict[str, str]) -> tuple[int, dict | None, float]:
    sys.path.insert(0, str(ROOT / "src"))
    from cmdscope._integrations.hookclient import ask, encode_request

    event = {"session_id": "s1", "cwd": str(cwd), "hook_event_name": "PreToolUse", "tool_name": "Bash",
             "tool_input": {"command": command}, "tool_use_id": f"t{time.monotonic_ns()}"}
    start = time.monotonic()
    answer = ask(sock_path, encode_request("claude-code", str(cwd), env, json.dumps(event)))
    assert answer is not None, "the daemon did not answer"
    code, out, _err = answer
    return code, (json.loads(out) if out.strip() else None), time.monotonic() - start


def test_daemon_applies_a_new_policy_at_once_and_a_stalled_client_delays_no_one(
        repo: Path, tmp_path: Path) -> None:
    sock_path = str(tmp_path / "state" / "cmdscope" / "hookd-test.sock")
    daemon = subprocess.Popen([PYTHON, "-m", "cmdscope", "hook", "daemon", "--socket", sock_path],
                              env={**os.environ, "CMDSCOPE_HOOKD_IDLE": "60"}, stderr=subprocess.DEVNULL)
    env = {k: v for k, v in os.environ.items() if k.startswith(("CMDSCOPE_", "XDG_"))}
    try:
        for _ in range(200):
            if os.path.exists(sock_path):
                break
            time.sleep(0.05)
        code, answer, _ = _ask(sock_path, repo / "src", "curl -s https://example.invalid", env)
        assert code == 0 and answer is None  # allowed
        policy(repo, "  - id: no-curl\n    match: {executable: [curl]}\n    action: deny\n")
        code, answer, _ = _ask(sock_path, repo / "src", "curl -s https://example.invalid", env)
        assert answer is not None and answer["hookSpecificOutput"]["permissionDecision"] == "deny"
        assert answer["hookSpecificOutput"]["permissionDecisionReason"].startswith("no-curl")
        stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stalled.connect(sock_path)
        stalled.sendall(b'{"agent": "claude-code"')  # and never finishes its request
        try:
            _, _, took = _ask(sock_path, repo / "src", "ls", env)
            assert took < 3.0, f"a stalled client delayed another call by {took:.1f}s"
        finally:
            stalled.close()
    finally:
        daemon.terminate()
        daemon.wait(10)


# -- 15.15 the hook never exits 1; lint never a traceback ------------------------------------------

def test_deep_hook_input_blocks_with_exit_2_when_failing_closed(repo: Path) -> None:
    deep = b'{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":' + b"[" * 1000 + b"]" * 1000 + b"}"
    deeper = (b'{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls","x":'
              + b"[" * 100000 + b"]" * 100000 + b"}}")
    for raw in (deep, deeper):
        done = cli(repo / "src", "hook", "claude-code", stdin=raw, env={"CMDSCOPE_GUARD_FAIL": "closed"})
        assert done.returncode == 2 and b"Traceback" not in done.stderr and b"blocked" in done.stderr
        done = cli(repo / "src", "hook", "claude-code", stdin=raw)
        assert done.returncode == 0 and "systemMessage" in json.loads(done.stdout)


def test_lint_of_deep_or_non_utf8_yaml_is_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"version: 1.0.0\nrules: []\ndescription: caf\xe9\n")
    for path, what in ((deep, b"nested too deeply"), (latin, b"line 3: not UTF-8")):
        done = cli(tmp_path, "registry", "lint", str(path))
        assert done.returncode == 2 and done.stderr.count(b"\n") == 1 and what in done.stderr, done.stderr


# -- 21.8 --help has no side effects ---------------------------------------------------------------

def test_hook_help_has_no_side_effects(repo: Path, ledger_path: Path, isolated_state: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    for target in ("daemon", "claude-code", "codex", "git-post-commit", "git-pre-push"):
        done = cli(repo, "hook", target, "--help", stdin=b"", timeout=20)
        assert done.returncode == 0 and b"usage:" in done.stdout, (target, done.stderr)
    assert not ledger_path.exists()
    assert not list(isolated_state.rglob("*.sock")) and git(repo, "rev-parse", "HEAD") == head


# -- the same through the real Claude Code CLI, run from src/ --------------------------------------

def test_real_claude_code_from_a_subdirectory(repo: Path, tmp_path: Path, ledger_path: Path) -> None:
    """Project policy from src/ (21.1), an untrusted loosening ignored (15.7), a high-severity
    warning in the model's context before the command runs (21.4)."""
    from model_server import ModelServer
    from test_e2e_agents import cli_or_skip

    claude = cli_or_skip("claude")
    home = tmp_path / "home"
    home.mkdir()
    policy(repo, "  - id: yolo\n    match: {danger_rules: ['*']}\n    action: allow\n"
                 "  - id: no-greeting\n    match: {command: 'echo\\s+hello'}\n    action: deny\n")
    git(repo, "commit", "-q", "--allow-empty", "-m", "two")
    assert cli(repo, "integrations", "install", "claude-code", "--dir", str(repo)).returncode == 0
    script = ["cd src", "echo hello", "git reset -q --hard", "git push --force origin main"]
    with ModelServer(script) as server:
        env = {**os.environ, "HOME": str(home), "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-ant-test",
               "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
               "PWD": str(repo), "CMDSCOPE_HOOKD_IDLE": "10"}
        done = subprocess.run([str(claude), "-p", "run the scripted commands", "--allowedTools", "Bash",
                               "--output-format", "json"], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=240, stdin=subprocess.DEVNULL, check=False)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        results = list(server.tool_results)
        bodies = json.dumps([r["body"] for r in server.requests])
    assert any(r.startswith("no-greeting") for r in results), results
    assert not any(r.strip() == "hello" for r in results)  # it never ran
    assert any("default.deny-critical" in r for r in results), results
    assert "cmdscope policy: " in bodies and "warning: default.warn-high: git.reset-hard" in bodies
    assert "ignored yolo" in bodies
    assert git(repo, "ls-remote", "origin", "main").split()[0] != git(repo, "rev-parse", "HEAD").strip()
    records = read_ledger(ledger_path)
    assert {r["process.working_directory"] for r in records if r["kind"] == "denial"} == {str(repo / "src")}
    assert {r["cmdscope.policy.rule"] for r in records if r["kind"] == "denial"} == {"no-greeting",
                                                                                     "default.deny-critical"}


# -- 21.12 playbook links resolve for an installed package, once per message ---------------------

def test_playbook_links_resolve_and_appear_once(repo: Path, tmp_path: Path) -> None:
    import re

    import cmdscope
    from cmdscope._guard.loader import build_registry
    from cmdscope._guard.sources import discover

    done = cli(repo / "src", "run", "--", *PUSH)
    err = done.stderr.decode()
    links = re.findall(r"(/\S+\.md)#[\w-]+", err)
    assert err.count("(playbook: ") == 1 and len(links) == 1 and Path(links[0]).is_file(), err
    event = json.dumps({"hook_event_name": "PreToolUse", "tool_name": "Bash", "session_id": "s", "cwd": str(repo),
                        "tool_input": {"command": "git reset --hard"}, "tool_use_id": "t"}).encode()
    answer = json.loads(cli(repo, "hook", "claude-code", stdin=event).stdout)
    context = answer["hookSpecificOutput"]["additionalContext"]
    assert context.count("(playbook: ") == 1 and Path(re.findall(r"(/\S+\.md)#", context)[0]).is_file()
    # every playbook a rule names ships inside the package (what an installed wheel holds)
    shipped = Path(cmdscope.__file__).parent / "_playbooks"
    registry, _ = build_registry(discover({}))
    for rule in registry.rules:
        assert (shipped / rule.playbook.split("#")[0].removeprefix("docs/playbooks/")).is_file(), rule.id
    assert '"_playbooks/*.md"' in (ROOT / "pyproject.toml").read_text()
