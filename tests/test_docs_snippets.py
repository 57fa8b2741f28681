"""The docs and examples run as written (issue 21.7): every `cmdscope ...` command of the
runbooks and of the guardrails/integrations shell blocks, the CI example's reporting step and
the demo's closing hint, run through the real CLI against a real ledger in a temp git repo."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import PYTHON, ROOT, cmdscope_cli

PLACEHOLDERS = {"ACTOR": "claude-code", "NAME": "nightly", "RULE_ID": "git.push-force-shared",
                "'THE COMMAND'": "'git push --force origin main'"}
NOT_HERE = ("cmdscope incidents serve", "cmdscope ship")  # a long-running server; needs an OTLP endpoint


def snippets() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    found += [("docs/runbooks.md", m) for m in re.findall(r"`(cmdscope [^`]+)`", runbooks)]
    for page in ("guardrails.md", "integrations.md"):
        text = (ROOT / "docs" / page).read_text()
        for block in re.findall(r"```sh\n(.*?)```", text, re.S):
            for line in block.splitlines():
                command = line.split("  #")[0].strip()
                if command.startswith("cmdscope ") and "<" not in command:
                    found.append((f"docs/{page}", command))
    unique = []
    for item in found:
        # --trust asks the Codex CLI's app-server (tests/test_e2e_codex.py covers it)
        if item not in unique and not item[1].startswith(NOT_HERE) and "--trust" not in item[1]:
            unique.append(item)
    return unique


@pytest.fixture
def workspace(tmp_path: Path, ledger_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / ".cmdscope").mkdir()
    (repo / ".cmdscope" / "policy.yaml").write_text(
        "name: team\nversion: 1.0.0\nrules:\n  - id: no-publish\n    match: {command: 'npm\\s+publish'}\n    action: deny\n")
    for args in (("--actor", "claude-code", "--", "false"), ("--actor", "claude-code", "--", "false"),
                 ("--actor", "claude-code", "--", "git", "push", "--force", "origin", "main")):
        cmdscope_cli("run", *args, cwd=repo, capture_output=True)
    cmdscope_cli("heartbeat", "nightly", "--every", "1d", capture_output=True)
    # the team registry a host's `cmdscope registry sync` is configured with (a local bare repository)
    team = tmp_path / "team-registry"
    team.mkdir()
    (team / "registry.yaml").write_text('version: "2026.12.1"\n')
    git = ["git", "-C", str(team), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "team registry"], check=True)
    return repo


@pytest.mark.parametrize("page,snippet", snippets())
def test_documented_command_runs_as_written(page: str, snippet: str, workspace: Path, tmp_path: Path) -> None:
    command = snippet
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    argv = shlex.split(command)
    assert argv[0] == "cmdscope"
    home = tmp_path / "home"  # `--user` installs and their uninstalls stay in the test
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "CODEX_HOME": str(home / ".codex"),
           "CMDSCOPE_REGISTRY_SYNC_URL": str(tmp_path / "team-registry")}
    done = subprocess.run([PYTHON, "-m", "cmdscope", *argv[1:]], cwd=workspace, capture_output=True, text=True,
                          timeout=120, env=env)
    assert "Traceback" not in done.stderr and "usage:" not in done.stderr, f"{page}: {snippet}\n{done.stderr}"
    assert done.returncode in (0, 1), f"{page}: {snippet} exited {done.returncode}\n{done.stderr}"


def test_ci_example_reporting_step_runs_without_an_endpoint(workspace: Path) -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "ci" / "github-actions.yml").read_text())
    last = workflow["jobs"]["test"]["steps"][-1]["run"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(["bash", "-e", "-c", last], cwd=workspace, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Transient error" not in done.stderr and "Failures by class" in done.stdout


def test_demo_hint_runs_as_printed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CMDSCOPE_LEDGER", "XDG_STATE_HOME")}
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env['PATH']}"
    demo = subprocess.run([PYTHON, "-m", "cmdscope", "demo", "--dir", str(tmp_path / "demo"), "--quiet"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert demo.returncode == 0, demo.stderr
    hint = demo.stdout.split("See them again with:", 1)[1].strip().splitlines()[0]
    again = subprocess.run(["sh", "-c", hint], capture_output=True, text=True, timeout=120, env=env)
    assert again.returncode == 0 and again.stdout.startswith("TIME (UTC)") and len(again.stdout.splitlines()) > 5
