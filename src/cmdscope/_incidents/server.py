"""The HTTP side: a threaded stdlib server that feeds Alertmanager webhooks to an IncidentStore.

Every request gets a one-line JSON answer; bad input is a 4xx naming the problem, an unexpected
error is a 500 and is logged, and the server keeps serving. Only ``application/json`` bodies are
taken: a web page can POST ``text/plain`` cross-origin without a preflight, JSON it cannot. Each
connection has a socket timeout and at most ``MAX_WORKERS`` are served at once; a connection
beyond that is closed at once (Alertmanager retries), so idle connections cannot pile up threads.
"""

from __future__ import annotations

import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cmdscope._incidents.payload import PayloadError, parse_payload
from cmdscope._incidents.store import IncidentStore

MAX_BODY = 1 << 20  # Alertmanager groups are small; this bounds memory per request
MAX_WORKERS = 16
IO_TIMEOUT_S = 5.0


def _handler(store: IncidentStore, log: Any, io_timeout: float, token: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "cmdscope-incidents"
        timeout = io_timeout  # socket timeout for every read and write of the connection

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = (json.dumps(body, separators=(",", ":")) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            if self.path in ("/healthz", "/-/ready"):
                self._reply(200, {"status": "ok"})
            elif self.path == "/metrics":
                from cmdscope._incidents.metrics import exposition

                data, ctype = exposition(store)
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self._reply(404, {"error": f"no such path {self.path}; POST Alertmanager webhooks to any path"})

        def do_POST(self) -> None:  # noqa: N802
            ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if ctype != "application/json":
                self.close_connection = True
                self._reply(415, {"error": f"Content-Type must be application/json, got {ctype or 'none'!r}"})
                return
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._reply(411, {"error": "Content-Length header is missing or not a number"})
                return
            if length < 0 or length > MAX_BODY:
                self._reply(413, {"error": f"body of {length} bytes exceeds the {MAX_BODY}-byte limit"})
                return
            body = self.rfile.read(length)
            if self.path.startswith("/incidents/"):
                self._triage(body)
                return
            try:
                note = parse_payload(body)
                action, incident = store.apply(note)
            except PayloadError as exc:
                self._reply(400, {"error": str(exc)})
                return
            except Exception as exc:  # never let one bad request take the receiver down
                log.write(f"cmdscope incidents: internal error: {type(exc).__name__}: {exc}\n")
                self._reply(500, {"error": f"internal error: {type(exc).__name__}"})
                return
            reply: dict[str, Any] = {"status": action}
            if incident is not None:
                reply["incident"] = incident["id"]
            log.write(f"cmdscope incidents: {action} {reply.get('incident', '-')} ({note.group_key})\n")
            self._reply(200, reply)

        def _triage(self, body: bytes) -> None:
            """POST /incidents/<ID>/ack|resolve with a bearer token and a JSON body
            ``{"by": ..., "note": ..., "false_positive": bool}``."""
            from cmdscope._incidents.triage import TriageError

            if token is None:
                self._reply(403, {"error": "triage over HTTP is off: start the server with --token-file"})
                return
            given = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                self._reply(401, {"error": "missing or wrong bearer token"})
                return
            parts = self.path.strip("/").split("/")
            if len(parts) != 3 or parts[2] not in ("ack", "resolve"):
                self._reply(404, {"error": "POST /incidents/<ID>/ack or /incidents/<ID>/resolve"})
                return
            try:
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("body must be a JSON object")
                by, note, fp = data.get("by", "http"), data.get("note", ""), data.get("false_positive", False)
                if not isinstance(by, str) or not isinstance(note, str) or not isinstance(fp, bool):
                    raise ValueError("by and note must be strings, false_positive a boolean")
                incident = store.triage(parts[1], parts[2], by=by, note=note, false_positive=fp)
            except (ValueError, TriageError) as exc:
                self._reply(400, {"error": str(exc)})
                return
            self._reply(200, {"status": incident["triage"]["state"], "incident": incident["id"]})

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_workers`` at once; the rest are closed unserved."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_workers: int) -> None:
        self._slots = threading.BoundedSemaphore(max_workers)
        self.shed = 0
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shed += 1
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def make_server(host: str, port: int, store: IncidentStore, *, log: Any = None,
                max_workers: int = MAX_WORKERS, io_timeout: float = IO_TIMEOUT_S,
                token: str | None = None) -> BoundedServer:
    """A ready-to-serve server (``serve_forever()``); port 0 picks a free port. ``token``
    enables the triage endpoints (bearer authentication)."""
    return BoundedServer((host, port), _handler(store, log or sys.stderr, io_timeout, token), max_workers)
