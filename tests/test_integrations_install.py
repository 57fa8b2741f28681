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
    """Codex gets PreToolUse/PostToolUse (matcher Bash), SessionStart and SessionEnd (within the 3 s
    Codex allows it) in .codex/hooks.json, once."""
    assert "only once they are trusted" in cli("install", "codex", cwd=tmp_path).stdout
    assert "trusted" not in cli("install", "codex", cwd=tmp_path).stdout  # unchanged: no repeated note
    data = json.loads((tmp_path / ".codex" / "hooks.json").read_text())
    assert sorted(data["hooks"]) == ["PostToolUse", "PreToolUse", "SessionEnd", "SessionStart"]
    assert data["hooks"]["PreToolUse"] == [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": data["hooks"]["PreToolUse"][0]["hooks"][0]["command"], "timeout": 30}]}]
    assert data["hooks"]["SessionEnd"][0]["hooks"][0]["timeout"] == 3
    cli("uninstall", "codex", cwd=tmp_path)
    assert not (tmp_path / ".codex").exists()  # install created it; uninstall leaves no empty file


def test_codex_user_install_follows_codex_home(tmp_path: Path) -> None:
    """--user writes where Codex reads user hooks: $CODEX_HOME/hooks.json, else ~/.codex/hooks.json."""
    home = tmp_path / "home"
    done = cmdscope_cli("integrations", "install", "codex", "--user", capture_output=True, text=True, timeout=60,
                        env={"HOME": str(home), "CODEX_HOME": str(tmp_path / "ch")})
    assert done.returncode == 0 and (tmp_path / "ch" / "hooks.json").is_file() and not (home / ".codex").exists()
    env = {"HOME": str(home), "CODEX_HOME": ""}
    assert cmdscope_cli("integrations", "install", "codex", "--user", capture_output=True, timeout=60,
                        env=env).returncode == 0
    assert (home / ".codex" / "hooks.json").is_file()


def test_codex_trust_without_codex_is_a_clear_error(tmp_path: Path) -> None:
    """--trust needs the Codex CLI: a missing one is named (exit 2, hooks.json kept); other targets refuse it."""
    done = cli("install", "codex", "--trust", "--codex", str(tmp_path / "no-codex"), cwd=tmp_path)
    assert done.returncode == 2 and "no-codex" in done.stderr and "--codex PATH" in done.stderr
    assert "Traceback" not in done.stderr and (tmp_path / ".codex" / "hooks.json").is_file()
    done = cli("install", "claude-code", "--trust", cwd=tmp_path)
    assert done.returncode == 2 and "--trust applies to 'install codex' only" in done.stderr


def test_codex_trust_with_a_codex_without_app_server_names_its_error(tmp_path: Path) -> None:
    """A Codex that cannot serve `app-server` (an old build): its own error line, exit 2, no traceback."""
    old = tmp_path / "codex"
    old.write_text('#!/bin/sh\necho "error: unrecognized subcommand \'app-server\'" >&2\nexit 2\n')
    old.chmod(0o755)
    done = cli("install", "codex", "--trust", "--codex", str(old), cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "not trusted: codex app-server exited early: error: unrecognized subcommand" in done.stderr


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
