"""The hook command Claude Code and Codex run per event: a thin client of a warm cmdscope daemon.

Run as a plain script (``python -S .../hookclient.py claude-code``), it imports nothing from
cmdscope and only a few stdlib modules, so it starts about as fast as ``python -c pass``. It
forwards the event (stdin, working directory, the ``CMDSCOPE_*``/``OTEL_*`` environment) over a
unix socket to ``cmdscope hook daemon``, which keeps the guard, redactor and ledger loaded, and
prints the daemon's answer. Importing cmdscope, its guard and its pipeline per tool call would
cost 2-3x a bare Python start on its own.

When no daemon answers, the client starts one (detached) and, for this event, runs the full
handler in a child process (``python -m cmdscope hook <agent>``): the answer is the same, only
slower. So a missing or crashed daemon can delay a tool call, never change its verdict; nor
record it twice when it died after writing (the record id comes from the tool call, and the
ledger writes an id it already holds once: ``LedgerWriter.append_once``).
"""

import _json  # the C encoder alone: `import json` pulls in re and enum (~10 ms at every tool call)
import _socket  # the C module alone: `import socket` pulls in enum and selectors (~5 ms)
import os
import sys

FORWARD_PREFIXES = ("CMDSCOPE_", "OTEL_")
FORWARD_NAMES = ("HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "CLAUDE_ENV_FILE", "CLAUDE_PROJECT_DIR", "TRACEPARENT",
                 "TRACESTATE", "BAGGAGE", "PATH")
CONNECT_TIMEOUT_S = 0.5
ANSWER_TIMEOUT_S = 60.0


def socket_path(environ=os.environ) -> str:
    """One daemon per state directory and interpreter (a different venv gets its own)."""
    base = environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    tag = 0
    for ch in os.path.realpath(sys.executable) + os.path.dirname(os.path.realpath(__file__)):
        tag = (tag * 131 + ord(ch)) % (1 << 40)
    return os.path.join(base, "cmdscope", f"hookd-{tag:010x}.sock")


def forwarded_env(environ=os.environ) -> dict:
    return {k: v for k, v in environ.items() if k.startswith(FORWARD_PREFIXES) or k in FORWARD_NAMES}


def encode_request(agent: str, cwd: str, env: dict, stdin: str) -> bytes:
    """The request as JSON, built with the C string encoder only."""
    q = _json.encode_basestring_ascii
    pairs = ",".join(f"{q(k)}:{q(v)}" for k, v in env.items())
    return f'{{"agent":{q(agent)},"cwd":{q(cwd)},"env":{{{pairs}}},"stdin":{q(stdin)}}}'.encode("ascii")


def decode_answer(data: bytes) -> tuple | None:
    """``<exit code>\\n<stdout byte count>\\n<stdout><stderr>`` -> (code, stdout, stderr)."""
    try:
        code, size, rest = data.split(b"\n", 2)
        n = int(size)
        return int(code), rest[:n], rest[n:]
    except ValueError:
        return None


def encode_answer(code: int, stdout: str, stderr: str) -> bytes:
    out = stdout.encode("utf-8", "replace")
    return b"%d\n%d\n" % (code, len(out)) + out + stderr.encode("utf-8", "replace")


def ask(path: str, request: bytes) -> tuple | None:
    """(code, stdout, stderr) from the daemon, or None when no daemon is listening there."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT_S)
        sock.connect(path)
        sock.settimeout(ANSWER_TIMEOUT_S)
        sock.sendall(request)
        sock.shutdown(_socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        sock.close()
    return decode_answer(b"".join(chunks))


def start_daemon(path: str) -> None:
    """Start ``cmdscope hook daemon`` detached from this process (it outlives the hook)."""
    import subprocess  # only on this slow path: it costs ~5 ms to import

    try:
        subprocess.Popen([sys.executable, "-m", "cmdscope", "hook", "daemon", "--socket", path],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    except OSError:
        pass


def main(argv: list) -> int:
    agent = argv[0] if argv else ""
    raw = sys.stdin.buffer.read()
    path = socket_path()
    # CMDSCOPE_HOOKD parsed as cmdscope._settings does (this script imports no cmdscope): anything
    # but an "off" spelling is the default, on; the handler's answer names a bad value.
    if os.environ.get("CMDSCOPE_HOOKD", "").strip().lower() not in ("off", "0", "false", "no"):
        request = encode_request(agent, os.getcwd(), forwarded_env(), raw.decode("utf-8", "replace"))
        answer = ask(path, request)
        if answer is not None:
            code, out, err = answer
            sys.stdout.buffer.write(out)
            sys.stdout.flush()
            sys.stderr.buffer.write(err)
            return code
        start_daemon(path)
    # No daemon yet: the same handler, in a child process, for this one event.
    import subprocess

    done = subprocess.run([sys.executable, "-m", "cmdscope", "hook", agent], input=raw, check=False)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
