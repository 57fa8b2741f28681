"""Trust cmdscope's Codex hooks the way Codex's own review does, through ``codex app-server``.

Codex (0.169) runs a hooks.json entry only once it is trusted: its hash recorded in the user's
config.toml (``[hooks.state."<file>:<event>:<group>:<handler>"] trusted_hash``). The TUI asks at
startup ("Hooks need review"); ``codex exec`` skips an untrusted hook without a word, so a
guard installed for CI would never run. Codex computes the keys and hashes itself: we ask it
with the app-server's ``hooks/list`` and record them with ``config/batchWrite`` (both in the
app-server's published JSON schema), for cmdscope's own entries only, never the user's.
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


def trust(codex: str, cwd: Path, source: Path, ours: Callable[[str], bool], timeout_s: float = 60.0) -> list[str]:
    """Record cmdscope's hooks (``ours(command)``) of the hooks file ``source`` that Codex lists
    for ``cwd`` as trusted.

    Returns the keys newly trusted (empty when all already were). Raises :class:`TrustError`
    when Codex lists none of ours: for a project install that means Codex does not load the
    project's ``.codex/`` (an untrusted project)."""
    with tempfile.TemporaryFile() as stderr:
        server = _AppServer(codex, cwd, timeout_s, stderr)
        try:
            return _trust(server, cwd, source, ours)
        finally:
            server.close()


def _trust(server: _AppServer, cwd: Path, source: Path, ours: Callable[[str], bool]) -> list[str]:
    server.call("initialize", {"clientInfo": {"name": "cmdscope", "version": "1"}})
    server.notify("initialized")
    listed = server.call("hooks/list", {"cwds": [str(cwd)]}) or {}
    wanted = os.path.realpath(source)
    hooks = [h for entry in listed.get("data") or [] for h in entry.get("hooks") or []
             if isinstance(h, dict) and ours(str(h.get("command") or ""))
             and os.path.realpath(str(h.get("sourcePath") or "")) == wanted]
    if not hooks:
        raise TrustError(f"Codex does not load {source} for {cwd}: Codex reads a project's .codex/ only "
                         f"once the project is trusted (`codex exec --trust`, or the TUI's prompt)")
    state = {h["key"]: {"trusted_hash": h["currentHash"]} for h in hooks if h.get("trustStatus") != "trusted"}
    if state:
        server.call("config/batchWrite", {"edits": [{"keyPath": "hooks.state", "value": state,
                                                     "mergeStrategy": "upsert"}]})
    return sorted(state)
