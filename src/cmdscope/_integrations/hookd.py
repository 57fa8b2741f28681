"""``cmdscope hook daemon``: answers hook events from :mod:`cmdscope._integrations.hookclient`.

It keeps the guard, the redactor and the ledger writer warm, so a tool call costs a socket
round trip instead of importing cmdscope. Each connection is read by its own thread (at most
``MAX_CLIENTS``, each with ``READ_TIMEOUT_S`` for its whole request), so a stalled client delays
no one else. Each request is handled with the client's working directory and forwarded
environment (``CMDSCOPE_*``, ``OTEL_*``, state and Claude variables) passed to the handler
explicitly (:func:`request_environ`): context, guard mode and policy files, the ledger, the
pending-call store and the exporter come from them, as the per-event handler would in the
client's own process. The daemon never changes its own ``os.environ`` or working directory,
so concurrent requests cannot see each other's. The process-wide parts (the redaction rules,
the taxonomy) are the daemon's, loaded once. The socket lives in the (0700) state directory with mode
0600. The daemon exits after ``CMDSCOPE_HOOKD_IDLE`` seconds without a request (default 900),
or when another daemon already owns the socket.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

from cmdscope._integrations.hookclient import FORWARD_NAMES, FORWARD_PREFIXES, encode_answer


_PATH_VARS = ("CMDSCOPE_LEDGER", "XDG_STATE_HOME")  # relative to the client's directory


def request_environ(env: dict[str, str], cwd: str) -> dict[str, str]:
    """The environment a request is handled in: the daemon's own, with every forwarded
    variable replaced by the client's (set or unset as the client has it)."""
    out = {k: v for k, v in os.environ.items() if not (k.startswith(FORWARD_PREFIXES) or k in FORWARD_NAMES)}
    for key, value in env.items():
        if isinstance(key, str) and isinstance(value, str) and (key.startswith(FORWARD_PREFIXES) or key in FORWARD_NAMES):
            out[key] = os.path.join(cwd, value) if key in _PATH_VARS and value else value
    return out


def handle(request: bytes) -> tuple[int, str, str]:
    from cmdscope._cli.hook import run_agent_event

    try:
        msg = json.loads(request)
        agent, cwd, env, stdin = msg["agent"], msg["cwd"], msg["env"], msg["stdin"]
        if (agent not in ("claude-code", "codex") or not isinstance(env, dict) or not isinstance(stdin, str)
                or not isinstance(cwd, str) or not os.path.isabs(cwd)):
            raise ValueError("bad request")
    except (ValueError, KeyError, TypeError) as exc:
        return 0, "", f"cmdscope hook daemon: bad request ({exc})\n"
    out, err, code = run_agent_event(agent, stdin.encode("utf-8"), environ=request_environ(env, cwd), cwd=cwd)
    return code, out, err


MAX_CLIENTS = 32
READ_TIMEOUT_S = 5.0
# One request at a time: each ends by flushing and closing the ledger writers it used, which
# the requests share. (Nothing process-wide is changed per request.)
_handling = threading.Lock()
_clients = threading.BoundedSemaphore(MAX_CLIENTS)


def _serve_one(conn: socket.socket) -> None:
    try:
        with conn:
            deadline = time.monotonic() + READ_TIMEOUT_S
            chunks = []
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return  # the client gave up or stalled: it falls back to its own process
                conn.settimeout(left)
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
            with _handling:
                answer = encode_answer(*handle(b"".join(chunks)))
            conn.settimeout(READ_TIMEOUT_S)
            conn.sendall(answer)
    except OSError:
        pass
    except Exception as exc:  # noqa: BLE001 - keep serving; the client falls back when it gets no answer
        sys.stderr.write(f"cmdscope hook daemon: {type(exc).__name__}: {exc}\n")
    finally:
        _clients.release()


def serve(path: str, idle_s: float | None = None) -> int:
    if idle_s is None:
        from cmdscope import _settings as settings

        found = settings.current()
        settings.announce(found, prefix="cmdscope hook daemon")
        idle_s = found["CMDSCOPE_HOOKD_IDLE"]
    from cmdscope._guard import engine

    # Long-lived: a policy or registry edited while the daemon runs applies to the next call
    # (the guard re-checks its files' fingerprint per load, ~30 stats).
    engine.REVALIDATE = True
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
            if not _clients.acquire(blocking=False):
                conn.close()  # too many at once: this client answers the event in its own process
                continue
            threading.Thread(target=_serve_one, args=(conn,), daemon=True).start()
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        server.close()
        os.close(lock_fd)
