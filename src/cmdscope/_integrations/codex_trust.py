"""Trust cmdscope's Codex hooks the way Codex's own review does, through ``codex app-server``.

Codex (0.169) runs a hooks.json entry only once it is trusted: its hash recorded in the user's
config.toml (``[hooks.state."<file>:<event>:<group>:<handler>"] trusted_hash``). The TUI asks at
startup ("Hooks need review"); ``codex exec`` skips an untrusted hook without a word, so a
guard installed for CI would never run. Codex computes the keys and hashes itself: we ask it
with the app-server's ``hooks/list`` (in the app-server's published JSON schema), for cmdscope's
own entries only, never the user's, and append their tables to config.toml ourselves (Codex's
own ``config/batchWrite`` reformats the file: it moves comments and adds headers, which an
uninstall could not undo byte for byte; it stays the fallback when appending would not parse),
then ask ``hooks/list`` again to confirm Codex reads them as trusted. What was written is kept in
cmdscope's state dir (``codex-trust.json``) so that :func:`untrust` removes exactly that.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


class TrustError(Exception):
    """Codex could not be asked or did not answer; the message says what to do instead."""


class _AppServer:
    """A ``codex app-server`` child speaking newline-delimited JSON-RPC on stdio."""

    def __init__(self, codex: str, cwd: Path, timeout_s: float, stderr: IO[bytes]) -> None:
        self.deadline = time.monotonic() + timeout_s
        self.stderr = stderr
        try:
            self.proc = subprocess.Popen([codex, "app-server"], cwd=cwd, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=stderr)
        except OSError as exc:
            raise TrustError(f"cannot run {codex!r} ({exc.strerror or exc}); pass --codex PATH") from None
        self.buffer = b""
        self.next_id = 0

    def call(self, method: str, params: Any) -> Any:
        self.next_id += 1
        self._send({"id": self.next_id, "method": method, "params": params})
        while True:
            message = self._read()
            if message.get("id") != self.next_id or "method" in message:
                continue  # notifications (warnings, status) and server requests we do not serve
            if "error" in message:
                raise TrustError(f"codex app-server: {method}: {message['error'].get('message', message['error'])}")
            return message.get("result")

    def notify(self, method: str) -> None:
        self._send({"method": method})

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            raise TrustError(f"codex app-server exited early{self._stderr_tail()}") from None

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TrustError("codex app-server did not answer in time")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise TrustError(f"codex app-server exited early{self._stderr_tail()}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            return {}
        return message if isinstance(message, dict) else {}

    def _stderr_tail(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().decode("utf-8", "replace").strip().splitlines()
        return f": {lines[-1]}" if lines else ""

    def close(self) -> None:
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()  # flushes: the server may be gone already (EPIPE)
            except OSError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def trust(codex: str, cwd: Path, source: Path, ours: Callable[[str], bool], timeout_s: float = 60.0,
          config: Path | None = None) -> list[str]:
    """Record cmdscope's hooks (``ours(command)``) of the hooks file ``source`` that Codex lists
    for ``cwd`` as trusted, in Codex's ``config`` (default ``$CODEX_HOME/config.toml``).

    Returns the keys newly trusted (empty when all already were). Raises :class:`TrustError`
    when Codex lists none of ours: for a project install that means Codex does not load the
    project's ``.codex/`` (an untrusted project)."""
    if config is None:
        from cmdscope._integrations.install import codex_home

        config = codex_home() / "config.toml"
    with tempfile.TemporaryFile() as stderr:
        server = _AppServer(codex, cwd, timeout_s, stderr)
        try:
            return _trust(server, cwd, source, ours, config)
        finally:
            server.close()


def _ours_listed(server: _AppServer, cwd: Path, source: Path, ours: Callable[[str], bool]) -> list[dict[str, Any]]:
    listed = server.call("hooks/list", {"cwds": [str(cwd)]}) or {}
    wanted = os.path.realpath(source)
    return [h for entry in listed.get("data") or [] for h in entry.get("hooks") or []
            if isinstance(h, dict) and ours(str(h.get("command") or ""))
            and os.path.realpath(str(h.get("sourcePath") or "")) == wanted]


def _trust(server: _AppServer, cwd: Path, source: Path, ours: Callable[[str], bool], config: Path) -> list[str]:
    server.call("initialize", {"clientInfo": {"name": "cmdscope", "version": "1"}})
    server.notify("initialized")
    hooks = _ours_listed(server, cwd, source, ours)
    if not hooks:
        raise TrustError(f"Codex does not load {source} for {cwd}: Codex reads a project's .codex/ only "
                         f"once the project is trusted (`codex exec --trust`, or the TUI's prompt)")
    state = {str(h["key"]): str(h["currentHash"]) for h in hooks if h.get("trustStatus") != "trusted"}
    if not state:
        return []
    block = _append(config, state)
    if block is None:
        server.call("config/batchWrite", {"edits": [{"keyPath": "hooks.state", "mergeStrategy": "upsert",
                                                     "value": {k: {"trusted_hash": v} for k, v in state.items()}}]})
    _remember({"config": str(config), "source": os.path.realpath(source), "keys": sorted(state),
               "block": block[0] if block else None, "created": bool(block and block[1])})
    left = [h["key"] for h in _ours_listed(server, cwd, source, ours) if h.get("trustStatus") != "trusted"]
    if left:
        raise TrustError(f"Codex still lists {', '.join(left)} as not trusted after writing {config}")
    return sorted(state)


# --- what --trust wrote, and its removal ------------------------------------------------------


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a TOML basic string (tomllib checks the result)


def _append(config: Path, state: dict[str, str]) -> tuple[str, bool] | None:
    """Append one ``[hooks.state."<key>"]`` table per key to ``config``; (the text appended,
    whether the file was created), or None (nothing written) when the result would not be a
    config in which each key has its hash (the key already has a table, an inline table...)."""
    import tomllib

    try:
        old: str | None = config.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = None
    except (OSError, UnicodeDecodeError):
        return None
    base = old or ""
    tables = "\n".join(f"[hooks.state.{_toml_string(k)}]\ntrusted_hash = {_toml_string(v)}\n" for k, v in state.items())
    block = ("" if not base else "\n" if base.endswith("\n") else "\n\n") + tables
    try:
        parsed = tomllib.loads(base + block).get("hooks", {}).get("state", {})
        if any(parsed.get(k, {}).get("trusted_hash") != v for k, v in state.items()):
            return None
    except (tomllib.TOMLDecodeError, AttributeError):
        return None
    try:
        _replace(config, base + block, 0o600)
    except OSError:
        return None  # Codex's own write says why
    return block, old is None


def _replace(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _record_path() -> Path:
    from cmdscope._paths import state_dir

    return state_dir() / "codex-trust.json"


def _entries() -> list[dict[str, Any]]:
    try:
        data = json.loads(_record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []


def _remember(entry: dict[str, Any]) -> None:
    path = _record_path()
    try:
        _replace(path, json.dumps([*_entries(), entry], indent=1) + "\n", 0o600)
    except OSError as exc:
        raise TrustError(f"trusted in {entry['config']}, but cannot record it in {path} "
                         f"({exc.strerror or exc}): uninstall will not remove those entries") from None


def untrust(source: Path) -> list[Path]:
    """Remove what :func:`trust` wrote for the hooks file ``source``: its tables, byte for byte
    when they are still as written (else each recorded key's table), and config.toml itself when
    trust created it and nothing else is left. Entries the user trusted stay. Returns the
    config files changed."""
    wanted = os.path.realpath(source)
    entries = _entries()
    mine = [e for e in entries if e.get("source") == wanted]
    if not mine:
        return []
    changed: list[Path] = []
    for entry in reversed(mine):  # the latest append first: each block is then the file's tail
        config = Path(str(entry.get("config")))
        try:
            text = config.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        block = entry.get("block")
        if isinstance(block, str) and block and block in text:
            at = text.rfind(block)
            new = text[:at] + text[at + len(block):]
        else:
            new = _remove_tables(text, [str(k) for k in entry.get("keys") or []])
        if new == text:
            continue
        if entry.get("created") and not new.strip():
            config.unlink()
        else:
            _replace(config, new, 0o600)
        if config not in changed:
            changed.append(config)
    rest = [e for e in entries if e.get("source") != wanted]
    if rest:
        _replace(_record_path(), json.dumps(rest, indent=1) + "\n", 0o600)
    else:
        _record_path().unlink(missing_ok=True)
    return changed


def _remove_tables(text: str, keys: list[str]) -> str:
    """``text`` without the ``[hooks.state."<key>"]`` tables of ``keys`` (each with the blank line
    before it): the fallback when Codex has rewritten the file since."""
    headers = {f"[hooks.state.{_toml_string(k)}]" for k in keys}
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() not in headers:
            out.append(lines[i])
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].lstrip().startswith("["):
            j += 1
        while j > i + 1 and not lines[j - 1].strip():
            j -= 1  # blank lines before the next table stay with it
        if out and not out[-1].strip():
            out.pop()
        i = j
    return "".join(out)
