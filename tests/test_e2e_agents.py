"""End to end with the real agent CLIs from the npm registry (installed by `npm install`, which
scripts/test.sh runs): Claude Code and OpenCode, pointed at a scripted model server on loopback.

Each test lets the model ask for (1) a dangerous command that would delete a marker, (2) a benign
command, (3) a failing command, (4) a command that prints a fake secret; then checks what the
agent saw, what ran, and what the ledger and the exported spans hold.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, cmdscope_cli, read_ledger
from model_server import ModelServer
from otlp_receiver import OtlpReceiver

BIN = ROOT / "node_modules" / ".bin"
SECRET = "ghp_" + "Zq9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa98"
DANGEROUS = "rm -rf ~"
BENIGN = "echo benign-ok"
FAILING = "ls /definitely/not/here"
LEAKY = "cat token.txt"


def cli_or_skip(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} CLI not installed: `npm install` at the repository root could not install it "
                    f"(scripts/test.sh runs it; needs the npm registry)")
    done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        pytest.skip(f"{name} CLI installed but cannot run here: {done.stderr.strip()[:200]}")
    return path


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """(project dir, HOME): a git project holding a token file; HOME holds the marker `rm -rf ~` would delete."""
    home = tmp_path / "home"
    (home / "marker").mkdir(parents=True)
    (home / "marker" / "keep.txt").write_text("still here\n")
    proj = tmp_path / "proj"
    proj.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(proj)], check=True)
    (proj / "token.txt").write_text(f"GITHUB_TOKEN={SECRET}\n")
    return proj, home


def check_ledger_and_spans(ledger_path: Path, actor: str, session: str | None, tool_results: list[str],
                           marker: Path, exit_codes_known: bool) -> None:
    assert marker.exists(), "the dangerous command must not have run"
    records = read_ledger(ledger_path)
    by_command = {r.get("process.command_line"): r for r in records}
    denial = by_command[DANGEROUS]
    assert denial["kind"] == "denial" and denial["cmdscope.outcome"] == "denied"
    rule = denial["cmdscope.policy.rule"]
    assert rule and denial["cmdscope.policy.source"] and denial["cmdscope.actor"] == actor
    assert any(rule in text for text in tool_results), f"the agent must see the rule id: {tool_results}"
    sessions = {r.get("session.id") for r in records if r["kind"] in ("command", "denial")}
    assert len(sessions) == 1 and (session is None or sessions == {session}), sessions
    benign = by_command[BENIGN]
    assert benign["kind"] == "command" and benign["cmdscope.outcome"] == "success"
    assert benign["gen_ai.tool.call.id"] and benign["cmdscope.actor"] == actor
    failing = by_command[FAILING]
    assert failing["cmdscope.outcome"] == "failure"
    if exit_codes_known:
        assert benign["process.exit.code"] == 0 and failing["process.exit.code"] == 2
    else:
        assert benign["cmdscope.exit_code.known"] is False and failing["process.exit.code"] == 2
    assert by_command[LEAKY]["cmdscope.outcome"] == "success"
    assert any(SECRET in text for text in tool_results), "the secret really was printed to the agent"
    assert SECRET not in ledger_path.read_text()

    receiver = OtlpReceiver().start()
    try:
        shipped = cmdscope_cli("ship", "--once", "--endpoint", receiver.endpoint, capture_output=True, text=True,
                               timeout=120)
        assert shipped.returncode == 0, shipped.stderr
        spans = list(receiver.received.spans)
    finally:
        receiver.stop()
    assert len(spans) >= 4
    assert SECRET not in json.dumps([s.attributes for s in spans], default=str)
    assert {s.attributes.get("cmdscope.outcome") for s in spans} >= {"denied", "success", "failure"}


def test_claude_code(project: tuple[Path, Path], ledger_path: Path) -> None:
    """Claude Code: the deny reaches the model with the rule id, the marker survives, records join the session."""
    claude = cli_or_skip("claude")
    proj, home = project
    assert cmdscope_cli("integrations", "install", "claude-code", "--dir", str(proj), capture_output=True).returncode == 0
    with ModelServer([DANGEROUS, BENIGN, FAILING, LEAKY]) as server:
        env = {**os.environ, "HOME": str(home), "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-ant-test",
               "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", "PWD": str(proj),
               "CMDSCOPE_HOOKD_IDLE": "10"}
        done = subprocess.run([str(claude), "-p", "run the scripted commands", "--allowedTools", "Bash",
                               "--output-format", "json"], cwd=proj, env=env, capture_output=True, text=True,
                              timeout=240, stdin=subprocess.DEVNULL, check=False)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        result = json.loads(done.stdout)
        tool_results = list(server.tool_results)
    assert len(tool_results) == 4, tool_results
    check_ledger_and_spans(ledger_path, "claude-code", result["session_id"], tool_results,
                           home / "marker" / "keep.txt", exit_codes_known=False)


def test_opencode(project: tuple[Path, Path], ledger_path: Path) -> None:
    """OpenCode: the plugin blocks the deny (rule id in the tool error), records metadata.exit, joins the session."""
    opencode = cli_or_skip("opencode")
    proj, home = project
    assert cmdscope_cli("integrations", "install", "opencode", "--dir", str(proj), capture_output=True).returncode == 0
    with ModelServer([DANGEROUS, BENIGN, FAILING, LEAKY]) as server:
        config = proj / "opencode.json"
        config.write_text(json.dumps({
            "provider": {"scripted": {"npm": "@ai-sdk/openai-compatible", "name": "Scripted",
                                      "options": {"baseURL": server.url + "/v1", "apiKey": "test"},
                                      "models": {"m1": {"name": "m1", "tool_call": True}}}},
            "model": "scripted/m1", "small_model": "scripted/m1", "permission": {"bash": "allow"},
            "autoupdate": False, "share": "disabled"}))
        env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
               "XDG_DATA_HOME": str(home / ".local" / "share"), "XDG_CACHE_HOME": str(home / ".cache"),
               "OPENCODE_CONFIG": str(config), "OPENCODE_DISABLE_AUTOUPDATE": "1",
               "OPENCODE_DISABLE_MODELS_FETCH": "1", "PWD": str(proj)}
        done = subprocess.run([str(opencode), "run", "--model", "scripted/m1", "run the scripted commands"],
                              cwd=proj, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        tool_results = list(server.tool_results)
    assert len(tool_results) == 4, tool_results
    check_ledger_and_spans(ledger_path, "opencode", None, tool_results, home / "marker" / "keep.txt",
                           exit_codes_known=True)
