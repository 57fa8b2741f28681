"""Shared fixtures: every test gets its own ledger and state directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Ledger, state and registry overlays of a test live in its tmp_path, never in ~."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setenv("CMDSCOPE_LEDGER", str(tmp_path / "ledger.jsonl"))
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "TRACEPARENT",
                "TRACESTATE", "BAGGAGE", "CMDSCOPE_ACTOR", "CMDSCOPE_SESSION", "CMDSCOPE_PACKET",
                "CMDSCOPE_PHASE", "CMDSCOPE_DISABLED", "CMDSCOPE_REGISTRY_PATH", "CMDSCOPE_POLICY_PATH",
                "CMDSCOPE_GUARD_MODE", "CMDSCOPE_NOTIFY_WEBHOOKS"):
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


def cmdscope_cli(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    """Run the real CLI in a child process (``python -m cmdscope``)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([PYTHON, "-m", "cmdscope", *args], env=full_env, **kw)
