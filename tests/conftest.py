"""Shared fixtures: every test gets its own ledger and state directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# A suite started in the background of a non-interactive shell (`.ci/run &`) inherits SIGINT
# ignored, and an ignored signal stays ignored across exec: `sh -c 'kill -2 $$'` would then
# survive, and the tests of death by SIGINT would test the launcher, not cmdscope. Children get
# the default disposition as under a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Ledger, state and registry overlays of a test live in its tmp_path, never in ~."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("CMDSCOPE_LEDGER", str(tmp_path / "ledger.jsonl"))
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "TRACEPARENT",
                "TRACESTATE", "BAGGAGE", "CMDSCOPE_ACTOR", "CMDSCOPE_SESSION", "CMDSCOPE_PACKET",
                "CMDSCOPE_PHASE", "CMDSCOPE_DISABLED", "CMDSCOPE_REGISTRY_PATH", "CMDSCOPE_POLICY_PATH",
                "CMDSCOPE_GUARD_MODE", "CMDSCOPE_NOTIFY_WEBHOOKS", "CMDSCOPE_REGISTRY_SYNC_URL",
                "CMDSCOPE_REGISTRY_SYNC_SHA256"):
        monkeypatch.delenv(var, raising=False)
    return state


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.jsonl"


def read_ledger(path: Path) -> list[dict]:
    import json

    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_with_terminal_stderr(args: list[str], env: dict[str, str], timeout: float) -> tuple[subprocess.CompletedProcess, bytes]:
    """Run ``args`` with stderr on a pseudo-terminal (stdout piped): the result and what the terminal showed."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=follower, env=env, timeout=timeout, check=False)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the terminal's other end is closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return proc, shown


def cmdscope_cli(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    """Run the real CLI in a child process (``python -m cmdscope``)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([PYTHON, "-m", "cmdscope", *args], env=full_env, **kw)


@pytest.fixture
def otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """A real SDK tracer (in-memory span exporter) and meter provider (in-memory reader),
    installed as the globals for the test."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", tp)
    monkeypatch.setattr(metrics._internal, "_METER_PROVIDER", MeterProvider(metric_readers=[reader]))
    yield exporter, reader
    tp.shutdown()


def metric_points(reader: Any) -> dict[str, list[Any]]:
    """Data points of every metric the in-memory reader collected, by metric name."""
    import cmdscope

    assert cmdscope.flush(10), "queued metrics were not recorded"
    out: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out[m.name] = list(m.data.data_points)
    return out
