"""A test OTLP/HTTP receiver that decodes the real protobuf wire format.

The OpenTelemetry Collector cannot run here, so tests export to this receiver instead: it
parses every request with opentelemetry-proto's generated classes, exactly as a collector
would, and keeps the decoded spans. It can be stopped and restarted on the same port.
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse


def any_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


@dataclass
class DecodedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    status_code: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    resource: dict[str, Any]


@dataclass
class DecodedLog:
    body: Any
    scope: str
    attributes: dict[str, Any]
    resource: dict[str, Any]


@dataclass
class Received:
    spans: list[DecodedSpan] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)  # attributes of each log record
    log_records: list[DecodedLog] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class OtlpReceiver:
    def __init__(self, port: int = 0) -> None:
        self.received = Received()
        self.port = port
        self._server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "OtlpReceiver":
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # Node's OTLP exporter
                    body = b""
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    req = ExportTraceServiceRequest()
                    req.ParseFromString(body)
                    with received.lock:
                        received.requests += 1
                        for rs in req.resource_spans:
                            res = {kv.key: any_value(kv.value) for kv in rs.resource.attributes}
                            for ss in rs.scope_spans:
                                for s in ss.spans:
                                    received.spans.append(DecodedSpan(
                                        s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.kind,
                                        s.status.code, s.start_time_unix_nano, s.end_time_unix_nano,
                                        {kv.key: any_value(kv.value) for kv in s.attributes}, res))
                    payload = ExportTraceServiceResponse().SerializeToString()
                elif self.path == "/v1/logs":
                    req = ExportLogsServiceRequest()
                    req.ParseFromString(body)
                    with received.lock:
                        received.requests += 1
                        for rl in req.resource_logs:
                            res = {kv.key: any_value(kv.value) for kv in rl.resource.attributes}
                            for sl in rl.scope_logs:
                                for lr in sl.log_records:
                                    received.logs.append({kv.key: any_value(kv.value) for kv in lr.attributes})
                                    received.log_records.append(DecodedLog(
                                        any_value(lr.body) if lr.HasField("body") else None, sl.scope.name,
                                        {kv.key: any_value(kv.value) for kv in lr.attributes}, res))
                    payload = b""
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
