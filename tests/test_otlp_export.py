"""OTLP/HTTP export, checked by a receiver that decodes the real protobuf."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import PYTHON, cmdscope_cli, read_ledger
from otlp_receiver import OtlpReceiver, free_port


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver().start()
    yield r
    r.stop()


def wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class TestCliExport:
    def test_detached_shipper_sends_spans_with_ledger_ids(self, receiver: OtlpReceiver, ledger_path: Path) -> None:
        """`cmdscope run` with an endpoint: spans arrive with the ledger's ids, names and attributes."""
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "agent-ci"}
        assert cmdscope_cli("run", "--actor", "ci", "--packet", "PKT-3", "--", "true", env=env).returncode == 0
        assert cmdscope_cli("run", "--actor", "ci", "--", "sh", "-c", "exit 4", env=env).returncode == 4
        assert wait_for(lambda: len(receiver.received.spans) >= 2), receiver.received.spans
        ok, failed = sorted(receiver.received.spans, key=lambda s: s.start_ns)
        recs = read_ledger(ledger_path)
        assert [ok.span_id, failed.span_id] == [r["span_id"] for r in recs]
        assert ok.trace_id == recs[0]["trace_id"]
        assert (ok.name, failed.name) == ("true", "sh")
        assert ok.kind == 3  # SPAN_KIND_CLIENT
        assert (ok.status_code, failed.status_code) == (0, 2)  # UNSET, ERROR
        assert ok.start_ns == recs[0]["start_ns"] and ok.end_ns == recs[0]["end_ns"]
        assert ok.attributes["cmdscope.packet"] == "PKT-3" and ok.attributes["cmdscope.actor"] == "ci"
        assert ok.attributes["cmdscope.record.id"] == recs[0]["record_id"]
        assert failed.attributes["process.exit.code"] == 4 and failed.attributes["cmdscope.outcome"] == "failure"
        assert ok.resource["service.name"] == "agent-ci"
        # The same records also arrive as log events, keyed by record id.
        assert wait_for(lambda: len(receiver.received.logs) >= 2)
        assert {l["cmdscope.record.id"] for l in receiver.received.logs} == {r["record_id"] for r in recs}

    def test_nested_runs_share_the_trace(self, receiver: OtlpReceiver) -> None:
        """Spans of a run inside a run arrive parent-linked in one trace."""
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        cmdscope_cli("run", "--", PYTHON, "-m", "cmdscope", "run", "--", "true", env=env)
        assert wait_for(lambda: len(receiver.received.spans) >= 2)
        by_parent = {s.parent_span_id: s for s in receiver.received.spans}
        outer = by_parent[""]
        inner = by_parent[outer.span_id]
        assert inner.trace_id == outer.trace_id

    def test_endpoint_down_does_not_delay_and_ship_catches_up(self, ledger_path: Path) -> None:
        """With nothing listening, `run` returns promptly; `ship` delivers once a receiver is up."""
        port = free_port()
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}
        t0 = time.monotonic()
        for _ in range(3):
            assert cmdscope_cli("run", "--", "true", env=env).returncode == 0
        assert time.monotonic() - t0 < 10  # the exporter's ~15 s of retries are never waited for
        # The detached shipper started by the first run fails and backs off: later runs leave
        # the records for later instead of starting a shipper that would fail again.
        backoff = Path(str(ledger_path) + ".ship.backoff")
        assert wait_for(backoff.exists, 60)
        lock = str(ledger_path) + ".ship.lock"
        assert wait_for(lambda: subprocess.run(["flock", "-n", lock, "true"]).returncode == 0, 30)
        assert cmdscope_cli("run", "--", "true", env=env).returncode == 0
        assert subprocess.run(["flock", "-n", lock, "true"]).returncode == 0  # no shipper started
        recv = OtlpReceiver(port).start()
        try:
            out = cmdscope_cli("ship", "--endpoint", recv.endpoint, capture_output=True, text=True, env=env)
            assert out.returncode == 0, out.stderr
            assert wait_for(lambda: len({s.span_id for s in recv.received.spans}) == 4)
            again = cmdscope_cli("ship", "--status", capture_output=True, text=True)
            assert again.stdout.startswith("0 record(s) waiting")
            assert not backoff.exists()
        finally:
            recv.stop()


class TestInProcessExport:
    def test_configure_exports_spans_over_otlp_http(self, receiver: OtlpReceiver, tmp_path: Path) -> None:
        """cmdscope.configure() with OTEL_* env exports the command span over OTLP/HTTP."""
        script = (
            "import cmdscope\n"
            "cfg = cmdscope.configure()\n"
            "with cmdscope.context(actor='py-agent', packet='PKT-5'):\n"
            "    cmdscope.run(['true'])\n"
            "cfg.shutdown()\n"
        )
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "py-agent"}
        assert subprocess.run([PYTHON, "-c", script], env={**__import__("os").environ, **env}).returncode == 0
        assert wait_for(lambda: len(receiver.received.spans) == 1)
        (span,) = receiver.received.spans
        assert span.name == "true" and span.attributes["cmdscope.actor"] == "py-agent"
        assert span.resource["service.name"] == "py-agent"


IN_PROCESS = (
    "import cmdscope\n"
    "cfg = cmdscope.configure()\n"
    "for word in ('one', 'two', 'three'):\n"
    "    cmdscope.run(['echo', word], capture_output=True)\n"
    "cfg.shutdown()\n"
)


class TestShipAfterInProcessExport:
    def test_ship_skips_spans_the_process_exported(self, receiver: OtlpReceiver, ledger_path: Path) -> None:
        """A process with the SDK configured exports its 3 command spans itself (real OTLP/HTTP
        exporter, receiver decoding the protobuf); `cmdscope ship` then sends the ledger: those 3
        spans are not sent again, a record the CLI wrote (no in-process export) is, and the
        receiver has each span id exactly once."""
        import os

        env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "py-agent"}
        assert subprocess.run([PYTHON, "-c", IN_PROCESS], env=env).returncode == 0
        assert wait_for(lambda: len(receiver.received.spans) == 3)
        assert cmdscope_cli("run", "--", "true").returncode == 0  # no endpoint here: nothing exported
        records = read_ledger(ledger_path)
        assert len(records) == 4
        shipped = cmdscope_cli("ship", "--once", "--endpoint", receiver.endpoint, capture_output=True, text=True)
        assert shipped.returncode == 0, shipped.stderr
        assert wait_for(lambda: len(receiver.received.spans) >= 4)
        time.sleep(0.5)  # anything sent twice would have arrived by now
        ids = sorted(s.span_id for s in receiver.received.spans)
        assert ids == sorted(r["span_id"] for r in records)  # each exactly once, none lost
        sidecar = Path(str(ledger_path) + ".exported")  # caught up: the confirmations were consumed
        assert not sidecar.exists() or sidecar.read_bytes() == b""

    def test_a_failed_in_process_export_is_shipped(self, ledger_path: Path) -> None:
        """The process's own export fails (nothing listening): nothing is confirmed, and
        `cmdscope ship` later delivers all 3 spans."""
        import os

        port = free_port()
        env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
               "OTEL_EXPORTER_OTLP_TIMEOUT": "1"}
        assert subprocess.run([PYTHON, "-c", IN_PROCESS], env=env, capture_output=True).returncode == 0
        assert not Path(str(ledger_path) + ".exported").exists()
        recv = OtlpReceiver(port).start()
        try:
            shipped = cmdscope_cli("ship", "--once", "--endpoint", recv.endpoint, capture_output=True, text=True)
            assert shipped.returncode == 0, shipped.stderr
            assert wait_for(lambda: len(recv.received.spans) == 3)
            assert sorted(s.span_id for s in recv.received.spans) == sorted(r["span_id"] for r in read_ledger(ledger_path))
        finally:
            recv.stop()
