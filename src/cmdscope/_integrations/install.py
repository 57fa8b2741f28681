"""Install and remove the integrations, idempotently, touching only what cmdscope owns.

- Claude Code: hook entries in ``.claude/settings.json`` (``--project``) or
  ``~/.claude/settings.json`` (``--user``).
- Codex: hook entries in ``.codex/hooks.json`` or ``$CODEX_HOME/hooks.json`` (``~/.codex``).
- OpenCode: the plugin file ``.opencode/plugin/cmdscope.ts`` or
  ``~/.config/opencode/plugin/cmdscope.ts``.
- git: ``pre-push`` and ``post-commit`` in the repository's hooks directory, chaining a hook
  that was there before (kept as ``<name>.cmdscope-chained`` and run first).

Project installs are meant to be committed, so they name no path of this machine: the hook
commands run the repository's shim ``.cmdscope/hook`` (found through ``$CLAUDE_PROJECT_DIR``, or
the git top level for Codex; the OpenCode plugin finds it beside itself). The shim reads this
machine's interpreter from ``.cmdscope/local.env`` (written by install, listed in
``.cmdscope/.gitignore``), else runs ``cmdscope`` from PATH, else prints one line and does
nothing (exit 2 with ``CMDSCOPE_GUARD_FAIL=closed``): a teammate without cmdscope is told, never
blocked by accident. User installs and git hooks (in ``.git/hooks``, never committed) use
absolute paths.

Our entries are recognised by their command (``... cmdscope hook <agent>``), so installing twice
leaves one entry and uninstalling removes exactly those entries (and containers left empty by
that removal), nothing else. A settings file that is not valid JSON (or not the expected shape)
is reported with its path and position and never overwritten.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmdscope._paths import PACKAGE_DIR_STR

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


CLIENT = os.path.join(PACKAGE_DIR_STR, "_integrations", "hookclient.py")
SHIM = Path(".cmdscope") / "hook"
LOCAL_ENV = Path(".cmdscope") / "local.env"
GITIGNORE = Path(".cmdscope") / ".gitignore"
# How each agent's committed hook command finds the shim wherever the session's directory is.
SHIM_COMMANDS = {"claude-code": '"$CLAUDE_PROJECT_DIR"/.cmdscope/hook claude-code',
                 "codex": '"$(git rev-parse --show-toplevel 2>/dev/null || pwd)"/.cmdscope/hook codex'}
SHIM_SCRIPT = """#!/bin/sh
# cmdscope agent hook shim (installed by 'cmdscope integrations install'; commit it).
# Runs this machine's cmdscope: the interpreter in .cmdscope/local.env (written by install, not
# committed), else `cmdscope` on PATH, else says so in one line and lets the tool call through
# (blocks it with CMDSCOPE_GUARD_FAIL=closed). See docs/integrations.md#set-up-a-team.
here=$(dirname "$0")
CMDSCOPE_HOOK_PYTHON=
CMDSCOPE_HOOK_CLIENT=
[ -r "$here/local.env" ] && . "$here/local.env"
if [ -n "$CMDSCOPE_HOOK_PYTHON" ] && [ -x "$CMDSCOPE_HOOK_PYTHON" ]; then
  case "$1" in
    claude-code|codex) [ -f "$CMDSCOPE_HOOK_CLIENT" ] && exec "$CMDSCOPE_HOOK_PYTHON" -S "$CMDSCOPE_HOOK_CLIENT" "$@" ;;
  esac
  exec "$CMDSCOPE_HOOK_PYTHON" -m cmdscope hook "$@"
fi
if command -v cmdscope >/dev/null 2>&1; then
  exec cmdscope hook "$@"
fi
echo "cmdscope: not installed on this machine, the $1 hook did nothing (install cmdscope, then 'cmdscope integrations install $1')" >&2
[ "$(printf %s "$CMDSCOPE_GUARD_FAIL" | tr A-Z a-z)" = closed ] && exit 2
exit 0
"""


def validate_python(python: str | None) -> str:
    """The interpreter hooks will run: it must exist and import this cmdscope."""
    if python is None:
        return sys.executable
    path = shutil.which(python) or python
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise InstallError(f"--python {python}: no such executable")
    done = subprocess.run([path, "-c", "import cmdscope._cli"], capture_output=True, text=True, check=False,
                          timeout=60)
    if done.returncode != 0:
        raise InstallError(f"--python {python}: cannot import cmdscope ({(done.stderr.strip().splitlines() or ['?'])[-1]})")
    return os.path.abspath(path)


def hook_command(target: str, python: str | None = None) -> str:
    """The command agents run from a user (machine-local) install: the thin hook client with
    this interpreter, by absolute paths (``-S`` because the client needs only the stdlib).
    See :mod:`cmdscope._integrations.hookclient` for why a client and a warm daemon."""
    interpreter = python or sys.executable
    return f"{shlex.quote(interpreter)} -S {shlex.quote(CLIENT)} {target}"


def _ours(command: Any, target: str) -> bool:
    if not isinstance(command, str):
        return False
    command = command.rstrip()
    return command.endswith((f"cmdscope hook {target}", f"hookclient.py {target}", f".cmdscope/hook {target}"))


def install_shim(base: Path, python: str | None = None) -> list[Change]:
    """The committed shim, and this machine's interpreter in the ignored local file."""
    changes = []
    local = "".join(f"{k}={shlex.quote(v)}\n" for k, v in (("CMDSCOPE_HOOK_PYTHON", python or sys.executable),
                                                           ("CMDSCOPE_HOOK_CLIENT", CLIENT)))
    ignore = (base / GITIGNORE).read_text(encoding="utf-8") if (base / GITIGNORE).exists() else ""
    if "local.env" not in ignore.split():
        ignore += ("" if not ignore or ignore.endswith("\n") else "\n") + "local.env\n"
    for rel, text, mode in ((SHIM, SHIM_SCRIPT, 0o755), (LOCAL_ENV, local, 0o644), (GITIGNORE, ignore, 0o644)):
        path = base / rel
        if path.is_file() and path.read_text(encoding="utf-8", errors="replace") == text:
            changes.append(Change(path, "unchanged"))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        changes.append(Change(path, "added"))
    return changes


def shim_in_use(base: Path) -> bool:
    """Does any project integration still run the shim?"""
    for agent in SHIM_COMMANDS:
        path = settings_path(agent, "project", base)
        try:
            if ".cmdscope/hook" in path.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            pass
    plugin = settings_path("opencode", "project", base)
    return plugin.is_file() and ".cmdscope/hook" in plugin.read_text(encoding="utf-8", errors="replace")


def uninstall_shim(base: Path) -> list[Change]:
    """Remove the shim and local file once no integration uses them (and what install created)."""
    if shim_in_use(base):
        return []
    changes = []
    for rel in (SHIM, LOCAL_ENV):
        path = base / rel
        if path.is_file():
            path.unlink()
            changes.append(Change(path, "removed"))
    ignore = base / GITIGNORE
    if ignore.is_file():
        kept = [line for line in ignore.read_text(encoding="utf-8").splitlines() if line.strip() != "local.env"]
        if any(line.strip() for line in kept):
            ignore.write_text("\n".join(kept) + "\n", encoding="utf-8")
        else:
            ignore.unlink()
            changes.append(Change(ignore, "removed"))
    _remove_empty_dirs(base / ".cmdscope", base)
    return changes


def _remove_empty_dirs(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_dir():
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


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
                       timeouts: dict[str, int] | None = None, command: str | None = None) -> Change:
    data = load_settings(path)
    hooks = data.setdefault("hooks", {})
    command = command or hook_command(target, python)
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
        if len(kept_groups) != len(groups) or kept_groups != groups:  # noqa: SIM102
            if kept_groups:
                hooks[event] = kept_groups
            else:
                del hooks[event]
    if not removed:
        return Change(path, "absent")
    if not hooks:
        del data["hooks"]
    if not data:  # nothing but our hooks: the file (and the folder) install created
        path.unlink()
        _remove_empty_dirs(path.parent, path.parent.parent)
    else:
        _write_json(path, data)
    return Change(path, "removed")


# --- OpenCode plugin ------------------------------------------------------------------------

def plugin_source(python: str | None = None, shim: bool = False) -> str:
    """The plugin; ``shim``: it runs ``.cmdscope/hook`` two folders above itself (a project's
    committed plugin), else this interpreter by absolute path (a user install)."""
    source = Path(PACKAGE_DIR_STR, "_integrations", "data", "opencode", "cmdscope.ts").read_text(encoding="utf-8")
    if shim:
        command = '[new URL("../../.cmdscope/hook", import.meta.url).pathname, "opencode-bridge"]'
    else:
        command = json.dumps([python or sys.executable, "-m", "cmdscope", "hook", "opencode-bridge"])
    lines = []
    for line in source.splitlines(keepends=True):
        if line.rstrip().endswith(TS_MARKER) and line.startswith("const DEFAULT_COMMAND"):
            line = f"const DEFAULT_COMMAND: string[] = {command} {TS_MARKER}\n"
        lines.append(line)
    return "".join(lines)


def install_plugin(path: Path, python: str | None = None, shim: bool = False) -> Change:
    source = plugin_source(python, shim)
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
    python = validate_python(python)
    shim = install_shim(base, python) if scope == "project" and target != "git" else []
    if target in ("claude-code", "codex"):
        events, timeouts = (CLAUDE_EVENTS, None) if target == "claude-code" else (CODEX_EVENTS, CODEX_TIMEOUTS)
        command = SHIM_COMMANDS[target] if shim else None
        return [install_json_hooks(settings_path(target, scope, base), target, events, python, timeouts, command),
                *shim]
    if target == "opencode":
        return [install_plugin(settings_path(target, scope, base), python, bool(shim)), *shim]
    if target == "git":
        if scope != "project":
            raise InstallError("git hooks live in a repository: use --project (the default)")
        return install_git(base, python)
    raise InstallError(f"unknown integration {target!r} (expected one of {', '.join(TARGETS)})")


def uninstall(target: str, scope: str = "project", base: Path | None = None) -> list[Change]:
    base = base or Path.cwd()
    if target in ("claude-code", "codex"):
        changes = [uninstall_json_hooks(settings_path(target, scope, base), target)]
        if target == "codex":  # the trust entries `install codex --trust` wrote for these hooks
            from cmdscope._integrations.codex_trust import untrust

            changes += [Change(path, "removed") for path in untrust(settings_path(target, scope, base))]
    elif target == "opencode":
        path = settings_path(target, scope, base)
        changes = [uninstall_plugin(path)]
        _remove_empty_dirs(path.parent, path.parent.parent.parent)
    elif target == "git":
        return uninstall_git(base)
    else:
        raise InstallError(f"unknown integration {target!r} (expected one of {', '.join(TARGETS)})")
    if scope == "project":
        changes += uninstall_shim(base)
    if not _any_installed():
        changes += stop_daemon()
    return changes


def _any_installed() -> bool:
    """Does the user's own (machine-wide) settings still run a hook of this interpreter?"""
    home = Path(os.path.expanduser("~"))
    for path in (home / ".claude" / "settings.json", home / ".codex" / "hooks.json"):
        try:
            if CLIENT in path.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            pass
    return False


def stop_daemon() -> list[Change]:
    """Stop this interpreter's warm hook daemon, if one runs (it holds a lock on <socket>.lock)."""
    import fcntl
    import signal

    from cmdscope._integrations.hookclient import socket_path

    sock = socket_path()
    lock = sock + ".lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return []
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return []  # nobody holds it: no daemon
        except OSError:
            pid = int(os.read(fd, 32) or b"0")
        if pid > 0:
            os.kill(pid, signal.SIGTERM)
            return [Change(Path(sock), "removed")]
        return []
    except (OSError, ValueError):
        return []
    finally:
        os.close(fd)


# --- status ---------------------------------------------------------------------------------

PROBE = b'{"hook_event_name": "Notification", "session_id": "cmdscope-status", "message": "probe"}'


def _commands(path: Path, target: str) -> list[str]:
    try:
        data = load_settings(path)
    except (InstallError, OSError):
        return []
    return sorted({h["command"] for groups in data.get("hooks", {}).values() for g in groups
                   for h in g.get("hooks", []) if isinstance(h, dict) and _ours(h.get("command"), target)})


def _probe(argv: list[str], base: Path, stdin: bytes) -> str:
    """'ok', or what went wrong, running the installed command the way the agent would."""
    env = {**os.environ, "CLAUDE_PROJECT_DIR": str(base)}
    try:
        done = subprocess.run(argv, cwd=base, env=env, input=stdin, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"fails ({exc})"
    err = done.stderr.decode("utf-8", "replace").strip().splitlines()
    if done.returncode != 0 or err:
        return f"fails (exit {done.returncode}{': ' + err[-1] if err else ''})"
    return "ok"


def status(base: Path) -> list[dict[str, str]]:
    """What is installed where, and whether it works here (each installed hook is run once with
    an event it ignores)."""
    rows = []
    for target in ("claude-code", "codex"):
        for scope in ("project", "user"):
            path = settings_path(target, scope, base)
            commands = _commands(path, target)
            if not commands:
                rows.append({"integration": target, "scope": scope, "path": str(path), "state": "not installed"})
                continue
            for command in commands:
                rows.append({"integration": target, "scope": scope, "path": str(path), "command": command,
                             "state": _probe(["sh", "-c", command], base, PROBE)})
    for scope in ("project", "user"):
        path = settings_path("opencode", scope, base)
        if not path.is_file() or TS_MARKER not in path.read_text(encoding="utf-8", errors="replace"):
            rows.append({"integration": "opencode", "scope": scope, "path": str(path), "state": "not installed"})
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        argv = ([str(base / SHIM), "opencode-bridge"] if ".cmdscope/hook" in text else
                json.loads(next(line for line in text.splitlines() if line.startswith("const DEFAULT_COMMAND"))
                           .split("=", 1)[1].split(TS_MARKER)[0].strip()))
        rows.append({"integration": "opencode", "scope": scope, "path": str(path), "command": shlex.join(argv),
                     "state": _probe(argv, base, b"")})
    try:
        folder = git_hooks_dir(base)
    except InstallError:
        return rows
    for name in GIT_HOOKS:
        path = folder / name
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        if GIT_MARKER not in text:
            rows.append({"integration": "git", "scope": "project", "path": str(path), "state": "not installed"})
            continue
        line = next((ln for ln in text.splitlines() if "-m cmdscope hook" in ln), "")
        python = (shlex.split(line.split("-m cmdscope")[0].split("|")[-1]) or [""])[0]
        works = os.access(path, os.X_OK) and os.access(python, os.X_OK)
        rows.append({"integration": "git", "scope": "project", "path": str(path), "command": python,
                     "state": "ok" if works else f"fails ({python} is missing or not executable)"})
    return rows
