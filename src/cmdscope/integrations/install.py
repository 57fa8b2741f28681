"""Install and remove the integrations, idempotently, touching only what cmdscope owns.

- Claude Code: hook entries in ``.claude/settings.json`` (``--project``) or
  ``~/.claude/settings.json`` (``--user``).
- Codex: hook entries in ``.codex/hooks.json`` or ``$CODEX_HOME/hooks.json`` (``~/.codex``).
- OpenCode: the plugin file ``.opencode/plugin/cmdscope.ts`` or
  ``~/.config/opencode/plugin/cmdscope.ts``.
- git: ``pre-push`` and ``post-commit`` in the repository's hooks directory, chaining a hook
  that was there before (kept as ``<name>.cmdscope-chained`` and run first).

Our entries are recognised by their command (``... cmdscope hook <agent>``), so installing twice
leaves one entry and uninstalling removes exactly those entries (and containers left empty by
that removal), nothing else. A settings file that is not valid JSON (or not the expected shape)
is reported with its path and position and never overwritten.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmdscope.paths import PACKAGE_DIR_STR

TIMEOUT_S = 30
CHAINED = ".cmdscope-chained"
GIT_MARKER = "# cmdscope git hook"
TS_MARKER = "// cmdscope:command"


class InstallError(Exception):
    """Cannot install or uninstall; the message names the file and what is wrong."""


@dataclass
class Change:
    path: Path
    action: str   # added | unchanged | removed | absent

    def __str__(self) -> str:
        return f"{self.action}: {self.path}"


def hook_command(target: str, python: str | None = None) -> str:
    """The command agents run: the thin hook client with this interpreter, by absolute paths
    (works without ``cmdscope`` on PATH; ``-S`` because the client needs only the stdlib).
    See :mod:`cmdscope.integrations.hookclient` for why a client and a warm daemon."""
    interpreter = python or sys.executable
    client = os.path.join(PACKAGE_DIR_STR, "integrations", "hookclient.py")
    return f"{shlex.quote(interpreter)} -S {shlex.quote(client)} {target}"


def _ours(command: Any, target: str) -> bool:
    if not isinstance(command, str):
        return False
    command = command.rstrip()
    return command.endswith((f"cmdscope hook {target}", f"hookclient.py {target}"))


# --- JSON hook settings (Claude Code, Codex) ------------------------------------------------

CLAUDE_EVENTS: dict[str, str | None] = {
    "PreToolUse": "Bash", "PostToolUse": "Bash", "PostToolUseFailure": "Bash", "PermissionDenied": "Bash",
    "SessionStart": None, "SessionEnd": None,
}
CODEX_EVENTS: dict[str, str | None] = {"PreToolUse": "Bash", "PostToolUse": "Bash", "SessionStart": None,
                                       "SessionEnd": None}
# Codex 0.169 clamps a SessionEnd hook's timeout to 3 s, with a warning on every run if it is longer.
CODEX_TIMEOUTS = {"SessionEnd": 3}


def codex_home() -> Path:
    """Where Codex reads its user config and hooks: ``$CODEX_HOME``, else ``~/.codex``."""
    return Path(os.environ.get("CODEX_HOME") or Path(os.path.expanduser("~")) / ".codex")


def settings_path(agent: str, scope: str, base: Path) -> Path:
    home = Path(os.path.expanduser("~"))
    if agent == "claude-code":
        return (base if scope == "project" else home) / ".claude" / "settings.json"
    if agent == "codex":
        return (base / ".codex" if scope == "project" else codex_home()) / "hooks.json"
    if agent == "opencode":
        if scope == "project":
            return base / ".opencode" / "plugin" / "cmdscope.ts"
        config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        return config / "opencode" / "plugin" / "cmdscope.ts"
    raise InstallError(f"unknown integration {agent!r}")


def load_settings(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InstallError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); left unchanged") from None
    if not isinstance(data, dict):
        raise InstallError(f"{path}: expected a JSON object at the top level; left unchanged")
    hooks = data.get("hooks", {})
    if not isinstance(hooks, dict):
        raise InstallError(f"{path}: field 'hooks' is not an object; left unchanged")
    for event, groups in hooks.items():
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise InstallError(f"{path}: field 'hooks.{event}' is not a list of matcher groups; left unchanged")
        for i, group in enumerate(groups):
            if "hooks" in group and not isinstance(group["hooks"], list):
                raise InstallError(f"{path}: field 'hooks.{event}[{i}].hooks' is not a list; left unchanged")
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def install_json_hooks(path: Path, target: str, events: dict[str, str | None], python: str | None = None,
                       timeouts: dict[str, int] | None = None) -> Change:
    data = load_settings(path)
    hooks = data.setdefault("hooks", {})
    command = hook_command(target, python)
    changed = False
    for event, matcher in events.items():
        groups = hooks.setdefault(event, [])
        present = any(_ours(h.get("command"), target) for g in groups for h in g.get("hooks", []) if isinstance(h, dict))
        if present:
            continue
        timeout = (timeouts or {}).get(event, TIMEOUT_S)
        group: dict[str, Any] = {"hooks": [{"type": "command", "command": command, "timeout": timeout}]}
        if matcher is not None:
            group = {"matcher": matcher, **group}
        groups.append(group)
        changed = True
    if not changed:
        return Change(path, "unchanged")
    _write_json(path, data)
    return Change(path, "added")


def uninstall_json_hooks(path: Path, target: str) -> Change:
    if not path.exists():
        return Change(path, "absent")
    data = load_settings(path)
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return Change(path, "absent")
    removed = False
    for event in list(hooks):
        groups = hooks[event]
        kept_groups = []
        for group in groups:
            entries = group.get("hooks", [])
            kept = [h for h in entries if not (isinstance(h, dict) and _ours(h.get("command"), target))]
            if len(kept) != len(entries):
                removed = True
                if not kept:
                    continue  # the group held only our hook: it was ours
                group = {**group, "hooks": kept}
            kept_groups.append(group)
        if len(kept_groups) != len(groups) or kept_groups != groups:
            if kept_groups:
                hooks[event] = kept_groups
            else:
                del hooks[event]
    if not removed:
        return Change(path, "absent")
    if not hooks:
        del data["hooks"]
    _write_json(path, data)
    return Change(path, "removed")


# --- OpenCode plugin ------------------------------------------------------------------------

def plugin_source(python: str | None = None) -> str:
    source = Path(PACKAGE_DIR_STR, "integrations", "data", "opencode", "cmdscope.ts").read_text(encoding="utf-8")
    command = json.dumps([python or sys.executable, "-m", "cmdscope", "hook", "opencode-bridge"])
    lines = []
    for line in source.splitlines(keepends=True):
        if line.rstrip().endswith(TS_MARKER) and line.startswith("const DEFAULT_COMMAND"):
            line = f"const DEFAULT_COMMAND: string[] = {command} {TS_MARKER}\n"
        lines.append(line)
    return "".join(lines)


def install_plugin(path: Path, python: str | None = None) -> Change:
    source = plugin_source(python)
    if path.exists():
        current = path.read_text(encoding="utf-8", errors="replace")
        if TS_MARKER not in current:
            raise InstallError(f"{path}: exists and is not cmdscope's plugin; left unchanged")
        if current == source:
            return Change(path, "unchanged")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(source, encoding="utf-8")
    os.replace(tmp, path)
    return Change(path, "added")


def uninstall_plugin(path: Path) -> Change:
    if not path.exists():
        return Change(path, "absent")
    if TS_MARKER not in path.read_text(encoding="utf-8", errors="replace"):
        raise InstallError(f"{path}: is not cmdscope's plugin; left unchanged")
    path.unlink()
    return Change(path, "removed")


# --- git ------------------------------------------------------------------------------------

GIT_HOOKS = ("pre-push", "post-commit")


def git_hooks_dir(repo: Path) -> Path:
    done = subprocess.run(["git", "rev-parse", "--git-path", "hooks"], cwd=repo, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InstallError(f"{repo}: not a git repository ({done.stderr.strip()})")
    path = Path(done.stdout.strip())
    return path if path.is_absolute() else (repo / path)


def git_hook_script(name: str, python: str | None = None) -> str:
    py = shlex.quote(python or sys.executable)
    chained = f'"$(dirname "$0")/{name}{CHAINED}"'
    if name == "pre-push":
        return f"""#!/bin/sh
{GIT_MARKER} (installed by 'cmdscope integrations install git'; 'uninstall git' restores the previous hook)
# Policy check of the push: force pushes and deletions of protected branches are denied per policy.
input=$(cat)
chained={chained}
if [ -x "$chained" ]; then
  printf '%s\\n' "$input" | "$chained" "$@" || exit $?
fi
printf '%s\\n' "$input" | {py} -m cmdscope hook git-pre-push "$@"
"""
    return f"""#!/bin/sh
{GIT_MARKER} (installed by 'cmdscope integrations install git'; 'uninstall git' restores the previous hook)
# Writes a commit record (sha, files changed, insertions, deletions); never fails the commit.
chained={chained}
status=0
if [ -x "$chained" ]; then
  "$chained" "$@" || status=$?
fi
{py} -m cmdscope hook git-post-commit || true
exit $status
"""


def install_git(repo: Path, python: str | None = None) -> list[Change]:
    folder = git_hooks_dir(repo)
    folder.mkdir(parents=True, exist_ok=True)
    changes = []
    for name in GIT_HOOKS:
        path = folder / name
        script = git_hook_script(name, python)
        if path.exists() or path.is_symlink():
            current = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
            if GIT_MARKER in current:
                if current == script:
                    changes.append(Change(path, "unchanged"))
                    continue
            else:
                chained = folder / f"{name}{CHAINED}"
                if chained.exists():
                    raise InstallError(f"{chained}: already exists; left {path} unchanged")
                os.rename(path, chained)
        path.write_text(script, encoding="utf-8")
        os.chmod(path, 0o755)
        changes.append(Change(path, "added"))
    return changes


def uninstall_git(repo: Path) -> list[Change]:
    folder = git_hooks_dir(repo)
    changes = []
    for name in GIT_HOOKS:
        path = folder / name
        if not path.is_file() or GIT_MARKER not in path.read_text(encoding="utf-8", errors="replace"):
            changes.append(Change(path, "absent"))
            continue
        path.unlink()
        chained = folder / f"{name}{CHAINED}"
        if chained.exists() or chained.is_symlink():
            os.rename(chained, path)
        changes.append(Change(path, "removed"))
    return changes


# --- one entry point ------------------------------------------------------------------------

TARGETS = ("claude-code", "opencode", "codex", "git")


def install(target: str, scope: str = "project", base: Path | None = None, python: str | None = None) -> list[Change]:
    base = base or Path.cwd()
    if target == "claude-code":
        return [install_json_hooks(settings_path(target, scope, base), "claude-code", CLAUDE_EVENTS, python)]
    if target == "codex":
        return [install_json_hooks(settings_path(target, scope, base), "codex", CODEX_EVENTS, python, CODEX_TIMEOUTS)]
    if target == "opencode":
        return [install_plugin(settings_path(target, scope, base), python)]
    if target == "git":
        if scope != "project":
            raise InstallError("git hooks live in a repository: use --project (the default)")
        return install_git(base, python)
    raise InstallError(f"unknown integration {target!r} (expected one of {', '.join(TARGETS)})")


def uninstall(target: str, scope: str = "project", base: Path | None = None) -> list[Change]:
    base = base or Path.cwd()
    if target in ("claude-code", "codex"):
        return [uninstall_json_hooks(settings_path(target, scope, base), target)]
    if target == "opencode":
        return [uninstall_plugin(settings_path(target, scope, base))]
    if target == "git":
        return uninstall_git(base)
    raise InstallError(f"unknown integration {target!r} (expected one of {', '.join(TARGETS)})")
