"""`cmdscope integrations install|uninstall`: idempotent, exact, and careful with user files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import cmdscope_cli


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return cmdscope_cli("integrations", *args, "--dir", str(cwd), capture_output=True, text=True, timeout=60)


USER_HOOK = {"matcher": "Write", "hooks": [{"type": "command", "command": "prettier --write"}]}


def test_claude_install_twice_leaves_one_entry_and_uninstall_restores(tmp_path: Path) -> None:
    """Install is idempotent; uninstall removes exactly cmdscope's entries and keeps the user's."""
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    original = {"model": "x", "hooks": {"PostToolUse": [USER_HOOK]}}
    settings.write_text(json.dumps(original))
    assert cli("install", "claude-code", cwd=tmp_path).returncode == 0
    once = json.loads(settings.read_text())
    assert "unchanged" in cli("install", "claude-code", cwd=tmp_path).stdout
    twice = json.loads(settings.read_text())
    assert once == twice
    for event in ("PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionDenied", "SessionStart", "SessionEnd"):
        ours = [h for g in twice["hooks"][event] for h in g["hooks"] if h["command"].endswith(".cmdscope/hook claude-code")]
        assert len(ours) == 1, event
    assert twice["hooks"]["PostToolUse"][0] == USER_HOOK
    assert cli("uninstall", "claude-code", cwd=tmp_path).returncode == 0
    assert json.loads(settings.read_text()) == original
    assert "absent" in cli("uninstall", "claude-code", cwd=tmp_path).stdout


def test_malformed_settings_are_reported_never_overwritten(tmp_path: Path) -> None:
    """A settings file that is not JSON is named with line and column and left byte for byte."""
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"hooks": {\n  "PreToolUse": [,]\n}}\n')
    before = settings.read_bytes()
    done = cli("install", "claude-code", cwd=tmp_path)
    assert done.returncode == 2
    assert f"{settings}:2:" in done.stderr and "left unchanged" in done.stderr and "Traceback" not in done.stderr
    assert settings.read_bytes() == before
    settings.write_text('{"hooks": []}')
    assert "field 'hooks'" in cli("install", "claude-code", cwd=tmp_path).stderr


def test_codex_hooks_json(tmp_path: Path) -> None:
    """Codex gets PreToolUse/PostToolUse (matcher Bash) and SessionStart in .codex/hooks.json, once."""
    cli("install", "codex", cwd=tmp_path)
    cli("install", "codex", cwd=tmp_path)
    data = json.loads((tmp_path / ".codex" / "hooks.json").read_text())
    assert sorted(data["hooks"]) == ["PostToolUse", "PreToolUse", "SessionStart"]
    assert data["hooks"]["PreToolUse"] == [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": data["hooks"]["PreToolUse"][0]["hooks"][0]["command"], "timeout": 30}]}]
    cli("uninstall", "codex", cwd=tmp_path)
    assert not (tmp_path / ".codex").exists()  # install created it; uninstall leaves no empty file


def test_opencode_plugin_file(tmp_path: Path) -> None:
    """The plugin lands in .opencode/plugin running the project's shim as its bridge command; a foreign file is kept."""
    assert cli("install", "opencode", cwd=tmp_path).returncode == 0
    plugin = tmp_path / ".opencode" / "plugin" / "cmdscope.ts"
    assert '[new URL("../../.cmdscope/hook", import.meta.url).pathname, "opencode-bridge"]' in plugin.read_text()
    assert "unchanged" in cli("install", "opencode", cwd=tmp_path).stdout
    assert cli("uninstall", "opencode", cwd=tmp_path).returncode == 0 and not plugin.exists()
    assert not (tmp_path / ".opencode").exists() and not (tmp_path / ".cmdscope").exists()
    plugin.parent.mkdir(parents=True)
    plugin.write_text("export const Mine = async () => ({})\n")
    assert cli("install", "opencode", cwd=tmp_path).returncode == 2
    assert plugin.read_text().startswith("export const Mine")


def test_git_hooks_chain_existing_hooks(tmp_path: Path) -> None:
    """An existing post-commit hook keeps running (chained); uninstall puts it back unchanged."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    hooks = tmp_path / ".git" / "hooks"
    mine = hooks / "post-commit"
    mine.write_text(f"#!/bin/sh\necho ran >> {tmp_path}/mine.log\n")
    mine.chmod(0o755)
    assert cli("install", "git", cwd=tmp_path).returncode == 0
    assert "unchanged" in cli("install", "git", cwd=tmp_path).stdout
    assert (hooks / "post-commit.cmdscope-chained").exists() and (hooks / "pre-push").exists()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    import os

    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "one"], cwd=tmp_path, check=True, env={**os.environ, **env})
    assert (tmp_path / "mine.log").read_text() == "ran\n"
    assert cli("uninstall", "git", cwd=tmp_path).returncode == 0
    assert mine.read_text().startswith("#!/bin/sh\necho ran") and not (hooks / "pre-push").exists()
