"""`cmdscope hook codex`: Codex's hooks.json events through the real CLI in a child process."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

from conftest import cmdscope_cli, read_ledger
from test_e2e_agents import cli_or_skip


def event(name: str, command: str, call_id: str = "call_1", **extra) -> dict:
    return {"session_id": "thread-1", "turn_id": "t1", "transcript_path": None, "cwd": "/tmp",
            "hook_event_name": name, "model": "gpt-test", "permission_mode": "default", "tool_name": "Bash",
            "tool_input": {"command": command}, "tool_use_id": call_id, **extra}


def hook(data: dict) -> subprocess.CompletedProcess:
    return cmdscope_cli("hook", "codex", input=json.dumps(data).encode(), capture_output=True, timeout=60)


def test_deny_uses_the_claude_shaped_answer_codex_accepts(ledger_path: Path) -> None:
    """A denied command gets permissionDecision deny with a non-empty reason, and a denial record (actor codex)."""
    done = hook(event("PreToolUse", "git push --force origin main"))
    out = json.loads(done.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and out["permissionDecisionReason"].strip()
    (rec,) = read_ledger(ledger_path)
    assert rec["kind"] == "denial" and rec["cmdscope.actor"] == "codex" and rec["session.id"] == "thread-1"
    assert out["permissionDecisionReason"].startswith(rec["cmdscope.policy.rule"])


def test_allow_prints_nothing_because_codex_rejects_bare_allow(ledger_path: Path) -> None:
    """Codex 0.169 counts permissionDecision 'allow' without updatedInput as a failed hook: allow prints nothing."""
    done = hook(event("PreToolUse", "ls"))
    assert done.returncode == 0 and done.stdout == b""


def rollout(path: Path, call_id: str, exit_code: int, filler: int = 0) -> Path:
    """A rollout file as Codex 0.169 writes it: the command's item_completed event, then others."""
    item = {"type": "CommandExecution", "id": call_id, "command": ["/bin/bash", "-lc", "make"],
            "status": "completed", "aggregated_output": "boom\n", "exit_code": exit_code,
            "duration": {"secs": 1, "nanos": 500_000_000}}
    lines = [{"type": "session_meta", "payload": {"id": "thread-1", "cli_version": "0.169.0"}},
             {"type": "event_msg", "payload": {"type": "item_completed", "thread_id": "thread-1", "item": item}}]
    lines += [{"type": "event_msg", "payload": {"type": "token_count", "n": i, "pad": "x" * 1000}} for i in range(filler)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_post_tool_use_reads_the_exit_code_from_the_rollout(ledger_path: Path, tmp_path: Path) -> None:
    """The exit code and duration come from the rollout's item_completed event for this call id."""
    path = rollout(tmp_path / "rollout.jsonl", "c4", 3, filler=100)  # ~100 KB after it: past the first 64 KiB read
    hook(event("PreToolUse", "make", call_id="c4"))
    hook(event("PostToolUse", "make", call_id="c4", tool_response="boom\n", transcript_path=str(path)))
    (rec,) = read_ledger(ledger_path)
    assert rec["process.exit.code"] == 3 and rec["cmdscope.outcome"] == "failure"
    assert abs(rec["duration_s"] - 1.5) < 0.01


def test_rollout_without_the_call_or_unreadable_leaves_the_exit_code_unknown(ledger_path: Path, tmp_path: Path) -> None:
    """Another call's item, a truncated last line, or a missing file: unknown, never a guess."""
    path = rollout(tmp_path / "rollout.jsonl", "other", 3)
    with path.open("a") as fh:
        fh.write('{"type": "event_msg", "payload": {"type": "item_completed", "item": {"id": "c5", "exit_co')
    hook(event("PostToolUse", "make", call_id="c5", tool_response="x", transcript_path=str(path)))
    hook(event("PostToolUse", "make", call_id="c6", tool_response="x", transcript_path=str(tmp_path / "gone.jsonl")))
    recs = read_ledger(ledger_path)
    assert [r["cmdscope.exit_code.known"] for r in recs] == [False, False]
    assert all("process.exit.code" not in r and r["cmdscope.outcome"] == "success" for r in recs)


def test_session_end_closes_commands_left_open(ledger_path: Path) -> None:
    """A command with a PreToolUse but no PostToolUse is closed as interrupted at SessionEnd."""
    hook(event("PreToolUse", "sleep 100", call_id="c7"))
    assert read_ledger(ledger_path) == []
    hook({"session_id": "thread-1", "transcript_path": None, "cwd": "/tmp", "hook_event_name": "SessionEnd",
          "reason": "other"})
    (rec,) = read_ledger(ledger_path)
    assert rec["cmdscope.outcome"] == "interrupted" and rec["gen_ai.tool.call.id"] == "c7"


def test_post_tool_use_output_text_has_no_exit_code(ledger_path: Path) -> None:
    """Without a rollout, Codex's Bash tool_response is output text: the exit code is unknown."""
    hook(event("PreToolUse", "ls", call_id="c2"))
    hook(event("PostToolUse", "ls", call_id="c2", tool_response="a\nb\n"))
    (rec,) = read_ledger(ledger_path)
    assert rec["kind"] == "command" and rec["gen_ai.tool.call.id"] == "c2"
    assert rec["cmdscope.exit_code.known"] is False and "process.exit.code" not in rec


def test_exit_code_header_is_read_when_present(ledger_path: Path) -> None:
    """An 'Exit code: N' header (older Codex builds' output) is the exit code the agent reported."""
    hook(event("PreToolUse", "make", call_id="c3"))
    hook(event("PostToolUse", "make", call_id="c3", tool_response="Exit code: 2\nWall time: 0.1 seconds\nOutput:\nboom"))
    (rec,) = read_ledger(ledger_path)
    assert rec["process.exit.code"] == 2 and rec["cmdscope.outcome"] == "failure"


# --------------------------------------------------------- --trust, and uninstall's removal of it
# The real Codex CLI (`codex app-server`) computes the keys and hashes; HOME, CODEX_HOME and
# cmdscope's state dir are temp dirs.


def _integrations(action: str, *args: str, root: Path, state: str = "state") -> subprocess.CompletedProcess:
    extra = ("--trust", "--codex", str(cli_or_skip("codex"))) if action == "install-trust" else ()
    done = cmdscope_cli("integrations", action.split("-")[0], "codex", *args, *extra, capture_output=True, text=True,
                        timeout=120, env={"HOME": str(root / "home"), "CODEX_HOME": str(root / "codex-home"),
                                          "XDG_STATE_HOME": str(root / state)})
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    return done


def _trusted_project(root: Path, before: str) -> tuple[Path, Path]:
    """A git repository Codex trusts, and Codex's config.toml holding ``before`` (with the
    project's trust entry inserted where ``{project}`` is)."""
    repo = root / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (root / "home").mkdir()
    (root / "codex-home").mkdir()
    config = root / "codex-home" / "config.toml"
    config.write_text(before.replace("{project}", f'[projects."{repo.resolve()}"]\ntrust_level = "trusted"'))
    return repo, config


USER_CONFIG = """# my Codex settings
model = "o3"   # the one I like

{project}

[hooks]
# my own hook, trusted in the TUI long ago
[hooks.state."/elsewhere/hooks.json:pre_tool_use:0:0"]
trusted_hash = "sha256:0123"  # mine

[tui]
notifications = true"""  # no newline at the end


def test_uninstall_removes_exactly_the_trust_entries_install_added(tmp_path: Path) -> None:
    """install --trust writes four trust entries into the user's config.toml (Codex then lists
    the hooks as trusted); uninstall leaves the file byte for byte as it was, comments, the
    user's own trust entry and the missing final newline included."""
    repo, config = _trusted_project(tmp_path, USER_CONFIG)
    before = config.read_bytes()
    done = _integrations("install-trust", "--dir", str(repo), root=tmp_path)
    assert done.stdout.count("trusted: ") == 4
    state = tomllib.loads(config.read_text())["hooks"]["state"]
    assert len(state) == 5 and state["/elsewhere/hooks.json:pre_tool_use:0:0"] == {"trusted_hash": "sha256:0123"}
    done = _integrations("uninstall", "--dir", str(repo), root=tmp_path)
    assert f"removed: {config}" in done.stdout
    assert config.read_bytes() == before
    assert not (tmp_path / "state" / "cmdscope" / "codex-trust.json").exists()


def test_user_install_without_a_config_leaves_none(tmp_path: Path) -> None:
    """--user --trust with no config.toml: trust creates it; uninstall removes it again."""
    (tmp_path / "home").mkdir()
    (tmp_path / "codex-home").mkdir()
    _integrations("install-trust", "--user", root=tmp_path)
    config = tmp_path / "codex-home" / "config.toml"
    assert len(tomllib.loads(config.read_text())["hooks"]["state"]) == 4
    _integrations("uninstall", "--user", root=tmp_path)
    assert not config.exists()  # (the app-server leaves its own state files in CODEX_HOME)


def test_trust_the_user_gave_before_install_stays(tmp_path: Path) -> None:
    """The hooks were already trusted (as by the TUI's review, here by an earlier --trust whose
    record is elsewhere): install --trust adds nothing, so uninstall removes nothing of it."""
    repo, config = _trusted_project(tmp_path, "{project}\n")
    _integrations("install-trust", "--dir", str(repo), root=tmp_path, state="other-state")
    before = config.read_bytes()
    assert before.count(b"trusted_hash") == 4
    assert "hooks already trusted" in _integrations("install-trust", "--dir", str(repo), root=tmp_path).stdout
    _integrations("uninstall", "--dir", str(repo), root=tmp_path)
    assert config.read_bytes() == before


def test_uninstall_after_the_file_changed_removes_only_its_tables(tmp_path: Path) -> None:
    """The config was edited after install (a table added after cmdscope's): the exact block is
    gone, so each recorded entry's table is removed and everything else stays."""
    repo, config = _trusted_project(tmp_path, "{project}\n")
    _integrations("install-trust", "--dir", str(repo), root=tmp_path)
    keys = sorted(tomllib.loads(config.read_text())["hooks"]["state"])
    text = config.read_text()
    first = text.index("[hooks.state.")
    config.write_text(text[:first] + '[tui]\nnotifications = true\n\n' + text[first:] + '\n[shell]\nx = 1\n')
    _integrations("uninstall", "--dir", str(repo), root=tmp_path)
    after = tomllib.loads(config.read_text())
    assert "hooks" not in after and after["tui"] == {"notifications": True} and after["shell"] == {"x": 1}
    assert len(keys) == 4 and not any(k in config.read_text() for k in keys)


def test_trust_that_cannot_be_recorded_says_so(tmp_path: Path) -> None:
    """cmdscope's state dir cannot be written: exit 2 with one line naming the record file and
    what it means for uninstall, never a traceback."""
    repo, _ = _trusted_project(tmp_path, "{project}\n")
    (tmp_path / "state").write_text("a file where the state dir should be")
    done = cmdscope_cli("integrations", "install", "codex", "--dir", str(repo), "--trust", "--codex",
                        str(cli_or_skip("codex")), capture_output=True, text=True, timeout=120,
                        env={"HOME": str(tmp_path / "home"), "CODEX_HOME": str(tmp_path / "codex-home"),
                             "XDG_STATE_HOME": str(tmp_path / "state")})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "codex-trust.json" in done.stderr and "uninstall will not remove" in done.stderr
