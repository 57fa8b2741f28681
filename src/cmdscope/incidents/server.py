"""The HTTP side: a threaded stdlib server that feeds Alertmanager webhooks to an IncidentStore.

Every request gets a one-line JSON answer; bad input is a 4xx naming the problem, an unexpected
error is a 500 and is logged, and the server keeps serving.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cmdscope.incidents.payload import PayloadError, parse_payload
from cmdscope.incidents.store import IncidentStore

MAX_BODY = 1 << 20  # Alertmanager groups are small; this bounds memory per request


def _handler(store: IncidentStore, log: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "cmdscope-incidents"

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
            else:
                self._reply(404, {"error": f"no such path {self.path}; POST Alertmanager webhooks to any path"})

        def do_POST(self) -> None:  # noqa: N802
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._reply(411, {"error": "Content-Length header is missing or not a number"})
                return
            if length < 0 or length > MAX_BODY:
                self._reply(413, {"error": f"body of {length} bytes exceeds the {MAX_BODY}-byte limit"})
                return
            body = self.rfile.read(length)
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

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def make_server(host: str, port: int, store: IncidentStore, *, log: Any = None) -> ThreadingHTTPServer:
    """A ready-to-serve server (``serve_forever()``); port 0 picks a free port."""
    server = ThreadingHTTPServer((host, port), _handler(store, log or sys.stderr))
    server.daemon_threads = True
    return server
