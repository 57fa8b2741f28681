"""Command coverage proven with the real agent CLIs (issue 17): each test drives Claude Code,
OpenCode or Codex against the scripted model server with cmdscope's hooks installed, through the
situations that break coverage in practice, then runs ``cmdscope report coverage --min 100`` on
the agent's own records in the test's HOME and checks every state's count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, cmdscope_cli, read_ledger
from model_server import ModelServer
from test_e2e_agents import cli_or_skip, project

sys.path.insert(0, str(ROOT / "bench"))

from stress_coverage import kill_daemons

__all__ = ["project"]

# Kills the hook daemon from inside a tool call: between that call's PreToolUse and PostToolUse.
KILL_HOOKD = "kill -9 $(cat \"$XDG_STATE_HOME\"/cmdscope/hookd-*.sock.lock) && echo hookd-killed"


def report_cli(agent: str, *args: str) -> subprocess.CompletedProcess:
    done = cmdscope_cli("report", "coverage", "--agent", agent, "--min", "100", *args,
                        capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def coverage(agent: str, *dirs: str) -> tuple[int, dict[str, Any]]:
    done = report_cli(agent, "--format", "json", *dirs)
    return done.returncode, json.loads(done.stdout)


def claude_env(home: Path, proj: Path, server: ModelServer) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-ant-test",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", "PWD": str(proj),
            "CMDSCOPE_HOOKD_IDLE": "10"}


def run_claude(claude: Path, args: list[str], proj: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([str(claude), "-p", *args, "--allowedTools", "Bash", "--output-format", "json"],
                          cwd=proj, env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout)


def by_command(ledger_path: Path) -> dict[str, dict[str, Any]]:
    return {r["process.command_line"]: r for r in read_ledger(ledger_path) if r["kind"] in ("command", "denial")}


@pytest.mark.timeout(600)
def test_claude_code_coverage(project: tuple[Path, Path], ledger_path: Path, isolated_state: Path) -> None:
    """Claude Code 2.1: parallel calls, a run_in_background command, a shell `&` (which `-p` refuses
    as an unapproved ask), a `permissions.deny` rule, a timeout, a cmdscope deny, the daemon killed
    inside a tool call and between turns, a subagent (Agent tool) running two commands, and a
    resumed session: 100%, and each refusal counted on the right side."""
    claude = cli_or_skip("claude")
    proj, home = project
    assert cmdscope_cli("integrations", "install", "claude-code", "--dir", str(proj), capture_output=True).returncode == 0
    settings_path = proj / ".claude" / "settings.json"
    settings = json.loads(settings_path.read_text())
    settings["permissions"] = {"deny": ["Bash(curl:*)"]}
    settings_path.write_text(json.dumps(settings))
    script: list[Any] = [
        ["echo par-one", "echo par-two", "echo par-three"],
        {"command": "sleep 1; echo bg-tool", "run_in_background": True},
        "sleep 1 & echo bg-shell",
        "curl http://127.0.0.1:9/denied",
        {"command": "sleep 60", "timeout": 2000},
        "rm -rf ~",
        KILL_HOOKD,
        "echo after-kill",
        {"tool": "Agent", "input": {"description": "scripted subagent", "prompt": "SUBAGENT-ONE: run it",
                                    "subagent_type": "general-purpose"}},
        "echo resumed-one",
    ]
    with ModelServer(script, subagents={"SUBAGENT-ONE": [["echo sub-one", "echo sub-two"]]}) as server:
        env = claude_env(home, proj, server)
        server.commands = script[:-1]  # the last command is the resumed session's
        first = run_claude(claude, ["run the scripted commands"], proj, env)
        assert kill_daemons(isolated_state) == 1, "the hook daemon was running between the turns"
        server.commands = script
        second = run_claude(claude, ["--resume", first["session_id"], "go on"], proj, env)
        results = list(server.tool_results)
    session = first["session_id"]
    assert second["session_id"] == session and "resumed-one" in results and "sub-two" in results, results
    assert any("Command timed out" in r for r in results), results
    code, report = coverage("claude-code", "--claude-dir", str(home / ".claude"))
    (got,) = report["sessions"]
    assert code == 0 and report["coverage"] == 1.0, report
    assert got["session"] == session
    assert {k: got[k] for k in ("executed", "covered", "missed", "denied_cmdscope", "denied_agent", "never_ran")} == {
        "executed": 10, "covered": 10, "missed": 0, "denied_cmdscope": 1, "denied_agent": 2, "never_ran": 0}, got
    assert {c["command"] for c in got["denied_agent_commands"]} == {"sleep 1 & echo bg-shell",
                                                                    "curl http://127.0.0.1:9/denied"}
    assert got["unmatched_records"] == []
    records = by_command(ledger_path)
    assert {r["session.id"] for r in records.values()} == {session}
    assert records["sleep 60"]["cmdscope.outcome"] == "timeout"
    assert records["echo sub-one"]["cmdscope.outcome"] == "success"


def test_codex_coverage(project: tuple[Path, Path], ledger_path: Path, isolated_state: Path, tmp_path: Path) -> None:
    """Codex 0.169 (``codex exec``): two calls in one response, a shell `&`, a command its exec
    policy forbids (``rules/default.rules``), one still running when the turn ends (unified exec
    has no timeout: it yields after ``yield_time_ms``), a cmdscope deny, the daemon killed inside a
    call and between turns, and ``codex exec resume``."""
    from test_e2e_codex import codex_config, run_codex

    codex = cli_or_skip("codex")
    proj, home = project
    codex_home = tmp_path / "codex-home"
    script: list[Any] = [
        ["echo par-one", "echo par-two"],
        "sleep 1 & echo bg-shell",
        "curl http://127.0.0.1:9/denied",
        {"command": "sleep 30", "yield_time_ms": 1000},
        "rm -rf ~",
        KILL_HOOKD,
        "echo after-kill",
        "echo resumed-one",
    ]
    with ModelServer(script) as server:
        codex_config(codex_home, server)
        (codex_home / "rules").mkdir()
        (codex_home / "rules" / "default.rules").write_text('prefix_rule(pattern=["curl"], decision="forbidden")\n')
        assert cmdscope_cli("integrations", "install", "codex", "--user", capture_output=True,
                            env={"HOME": str(home), "CODEX_HOME": str(codex_home)}).returncode == 0
        bypass = "--dangerously-bypass-hook-trust"
        server.commands = script[:-1]  # the last command is the resumed session's
        first, _ = run_codex(codex, [bypass, "run the scripted commands"], proj, home, codex_home)
        assert kill_daemons(isolated_state) == 1, "the hook daemon was running between the turns"
        server.commands = script
        second, _ = run_codex(codex, [bypass, "resume", first, "go on"], proj, home, codex_home)
        results = list(server.tool_results)
    assert first == second and any("policy forbids" in r for r in results), results
    code, report = coverage("codex", "--codex-dir", str(codex_home))
    (got,) = report["sessions"]
    assert code == 0 and report["coverage"] == 1.0 and got["session"] == first, report
    assert {k: got[k] for k in ("executed", "covered", "missed", "denied_cmdscope", "denied_agent", "never_ran")} == {
        "executed": 7, "covered": 7, "missed": 0, "denied_cmdscope": 1, "denied_agent": 1, "never_ran": 0}, got
    assert [c["command"] for c in got["denied_agent_commands"]] == ["curl http://127.0.0.1:9/denied"]
    assert got["unmatched_records"] == []
    records = by_command(ledger_path)
    assert {r["session.id"] for r in records.values()} == {first}
    assert records["sleep 30"]["cmdscope.outcome"] == "interrupted"  # still running when codex exec ended
    table = report_cli("codex", "--codex-dir", str(codex_home))
    assert table.returncode == 0 and "7/7 (100%)" in table.stdout and "coverage: 7/7 = 100.0%" in table.stdout
    # The same sessions against a ledger that lost everything: each command named, exit 1 under --min.
    (tmp_path / "empty.jsonl").write_text("")
    gap = report_cli("codex", "--codex-dir", str(codex_home), "--ledger", str(tmp_path / "empty.jsonl"))
    assert gap.returncode == 1 and "coverage: 0/7 = 0.0%" in gap.stdout, gap.stdout
    assert f"MISSED: codex {first}: 'echo after-kill'" in gap.stdout
    assert f"NEVER RAN: codex {first}: 'rm -rf ~'" in gap.stdout  # blocked by a hook, no denial record


KILL_BRIDGE = '''import os, signal
def parent(pid):
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
ancestors, pid = set(), os.getppid()
while pid > 1:
    ancestors.add(pid)
    pid = parent(pid)
for entry in os.listdir("/proc"):
    try:
        if entry.isdigit() and parent(int(entry)) in ancestors and \\
                b"opencode-bridge" in open(f"/proc/{entry}/cmdline", "rb").read():
            os.kill(int(entry), signal.SIGKILL)
            print("bridge-killed", entry)
    except OSError:
        pass
'''


@pytest.mark.timeout(900)  # two OpenCode starts: ~3 min on a loaded 2-core machine
def test_opencode_coverage(project: tuple[Path, Path], ledger_path: Path, tmp_path: Path) -> None:
    """OpenCode 1.x: parallel calls, a shell `&`, a `permission.bash` deny rule, a timeout (the bash
    tool's own ``timeout``), a cmdscope deny, its bridge (OpenCode's hook process: one per OpenCode
    process, found among this session's own processes) SIGKILLed inside a call, and a second
    ``opencode run --session`` on the same session."""
    opencode = cli_or_skip("opencode")
    proj, home = project
    killer = tmp_path / "kill_bridge.py"
    killer.write_text(KILL_BRIDGE)
    assert cmdscope_cli("integrations", "install", "opencode", "--dir", str(proj), capture_output=True).returncode == 0
    script: list[Any] = [
        ["echo par-one", "echo par-two", "echo par-three"],
        "sleep 1 & echo bg-shell",
        "curl http://127.0.0.1:9/denied",
        {"command": "sleep 60", "timeout": 2000},
        "rm -rf ~",
        f"python3 {killer}",
        "echo after-kill",
        "echo resumed-one",
    ]
    with ModelServer(script) as server:
        config = proj / "opencode.json"
        config.write_text(json.dumps({
            "provider": {"scripted": {"npm": "@ai-sdk/openai-compatible", "name": "Scripted",
                                      "options": {"baseURL": server.url + "/v1", "apiKey": "test"},
                                      "models": {"m1": {"name": "m1", "tool_call": True}}}},
            "model": "scripted/m1", "small_model": "scripted/m1",
            "permission": {"bash": {"*": "allow", "curl *": "deny"}},
            "autoupdate": False, "share": "disabled"}))
        env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
               "XDG_DATA_HOME": str(home / ".local" / "share"), "XDG_CACHE_HOME": str(home / ".cache"),
               "OPENCODE_CONFIG": str(config), "OPENCODE_DISABLE_AUTOUPDATE": "1",
               "OPENCODE_DISABLE_MODELS_FETCH": "1", "PWD": str(proj)}

        def run(*args: str) -> None:
            done = subprocess.run([str(opencode), "run", "--model", "scripted/m1", *args], cwd=proj, env=env,
                                  capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

        server.commands = script[:-1]
        run("run the scripted commands")
        server.commands = script
        sessions = {r["session.id"] for r in read_ledger(ledger_path)}
        assert len(sessions) == 1, sessions
        run("--session", next(iter(sessions)), "go on")
        results = list(server.tool_results)
    assert "resumed-one\n" in results and any("bridge-killed" in r for r in results), results
    code, report = coverage("opencode", "--opencode-dir", str(home / ".local" / "share" / "opencode"))
    (got,) = report["sessions"]
    assert code == 0 and report["coverage"] == 1.0, report
    assert {k: got[k] for k in ("executed", "covered", "missed", "denied_cmdscope", "denied_agent", "never_ran")} == {
        "executed": 8, "covered": 8, "missed": 0, "denied_cmdscope": 1, "denied_agent": 1, "never_ran": 0}, got
    assert [c["command"] for c in got["denied_agent_commands"]] == ["curl http://127.0.0.1:9/denied"]
    assert got["unmatched_records"] == []
    records = by_command(ledger_path)
    assert {r["session.id"] for r in records.values()} == {got["session"]}
    assert records["sleep 60"]["cmdscope.outcome"] == "timeout"
    assert records["echo after-kill"]["cmdscope.outcome"] == "success"  # a new bridge recorded it
