"""``cmdscope hook daemon``: answers hook events from :mod:`cmdscope.integrations.hookclient`.

It keeps the guard, the redactor and the ledger writer warm, so a tool call costs a socket
round trip instead of importing cmdscope. Each request is handled in a forked child of the warm
daemon, given the client's working directory and forwarded environment (``CMDSCOPE_*``,
``OTEL_*``, state and Claude variables) exactly as the per-event handler would have them in the
client's own process: the daemon's own environment and directory never change, so nothing of
one request can leak into the next. The socket lives in the (0700) state directory with mode
0600. The daemon exits after ``CMDSCOPE_HOOKD_IDLE`` seconds without a request (default 900),
or when another daemon already owns the socket.
"""

from __future__ import annotations

import json
import os
import socket
import sys

from cmdscope.integrations.hookclient import FORWARD_NAMES, FORWARD_PREFIXES, encode_answer


def _child_env(env: dict[str, str]) -> dict[str, str]:
    """The daemon's environment with exactly the client's forwarded variables."""
    out = {k: v for k, v in os.environ.items() if not (k.startswith(FORWARD_PREFIXES) or k in FORWARD_NAMES)}
    out.update((k, v) for k, v in env.items() if isinstance(k, str) and isinstance(v, str)
               and (k.startswith(FORWARD_PREFIXES) or k in FORWARD_NAMES))
    return out


def handle(request: bytes) -> bytes:
    """The encoded answer to one request, computed in a child with the request's cwd and env."""
    try:
        msg = json.loads(request)
        agent, cwd, env, stdin = msg["agent"], msg["cwd"], msg["env"], msg["stdin"]
        if agent not in ("claude-code", "codex") or not isinstance(env, dict) or not isinstance(stdin, str):
            raise ValueError("bad request")
    except (ValueError, KeyError, TypeError) as exc:
        return encode_answer(0, "", f"cmdscope hook daemon: bad request ({exc})\n")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: this request's process
        code = 0
        try:
            os.close(read_end)
            _run_as(agent, cwd, _child_env(env), stdin, write_end)
        except BaseException:  # noqa: BLE001 - the parent answers "no answer" and the client falls back
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as fh:
        while chunk := fh.read(65536):
            chunks.append(chunk)
    os.waitpid(pid, 0)
    return b"".join(chunks)


def _run_as(agent: str, cwd: str, env: dict[str, str], stdin: str, out_fd: int) -> None:
    from cmdscope.cli.hook import run_agent_event

    os.environ.clear()
    os.environ.update(env)
    try:
        os.chdir(cwd)
    except OSError:
        pass
    out, err, code = run_agent_event(agent, stdin.encode("utf-8"))
    answer = encode_answer(code, out, err)
    with os.fdopen(out_fd, "wb") as fh:
        fh.write(answer)


def serve(path: str, idle_s: float | None = None) -> int:
    if idle_s is None:
        idle_s = float(os.environ.get("CMDSCOPE_HOOKD_IDLE") or 900)
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    import fcntl

    lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another daemon owns this socket
    os.ftruncate(lock_fd, 0)
    os.write(lock_fd, str(os.getpid()).encode())  # who to stop: `kill $(cat <socket>.lock)`
    try:
        os.unlink(path)  # a socket left by a daemon that died
    except OSError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        server.bind(path)
    finally:
        os.umask(old_umask)
    server.listen(16)
    server.settimeout(idle_s)
    try:
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                return 0
            with conn:
                conn.settimeout(30)
                try:
                    chunks = []
                    while True:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        chunks.append(chunk)
                    conn.sendall(handle(b"".join(chunks)))
                except OSError:
                    continue
                except Exception as exc:  # noqa: BLE001 - keep serving; the client falls back when it gets no answer
                    sys.stderr.write(f"cmdscope hook daemon: {type(exc).__name__}: {exc}\n")
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        server.close()
        os.close(lock_fd)
