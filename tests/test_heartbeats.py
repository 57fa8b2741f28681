"""Heartbeats: on-time tracking, command check-ins, textfile metrics, schedule report."""

from __future__ import annotations

import json
import time
from pathlib import Path

from conftest import cmdscope_cli, read_ledger


def hb(*args: str) -> object:
    return cmdscope_cli("heartbeat", *args, capture_output=True, text=True)


def test_on_time_late_and_textfile(tmp_path: Path, ledger_path: Path) -> None:
    """A check-in within every+grace is on time, a later one is late; the textfile is valid
    Prometheus exposition with the last success time."""
    from prometheus_client.parser import text_string_to_metric_families

    tf = tmp_path / "tf"
    # every 2 s: the second check-in is on time however slowly a loaded machine starts it; the
    # third comes after a 2.5 s pause, late
    assert hb("backup", "--every", "2s", "--textfile", str(tf)).returncode == 0
    assert hb("backup", "--every", "2s").returncode == 0
    time.sleep(2.5)
    assert hb("backup", "--every", "2s", "--textfile", str(tf)).returncode == 0
    recs = read_ledger(ledger_path)
    assert [r["cmdscope.schedule.on_time"] for r in recs] == [True, True, False]
    assert recs[2]["cmdscope.heartbeat.late_s"] > 0
    fams = {f.name: f for f in text_string_to_metric_families((tf / "cmdscope_heartbeats.prom").read_text())}
    (sample,) = fams["cmdscope_heartbeat_last_success_seconds"].samples
    assert sample.labels == {"cmdscope_heartbeat_name": "backup"}
    assert abs(sample.value - recs[2]["end_ns"] / 1e9) < 0.01


def test_command_checkin_passes_exit_code(ledger_path: Path) -> None:
    """With -- CMD the command runs as a child of the heartbeat span; its exit code is returned."""
    done = hb("sync", "--", "sh", "-c", "exit 4")
    assert done.returncode == 4
    cmd, beat = read_ledger(ledger_path)
    assert cmd["parent_span_id"] == beat["span_id"] and beat["cmdscope.heartbeat.status"] == "fail"


def test_schedule_report_flags_stale(ledger_path: Path) -> None:
    """The schedule report computes the on-time rate and marks a check stale when no success came
    within every+grace (exit 1)."""
    # every 1 s with 1 s of grace: the second check-in is on time even when starting a process
    # takes a second on a loaded machine; 2.5 s later no success came within every + grace
    hb("fast", "--every", "1s", "--grace", "1s")
    hb("fast", "--every", "1s", "--grace", "1s")
    time.sleep(2.5)
    rep = cmdscope_cli("report", "schedule", "--format", "json", capture_output=True, text=True)
    assert rep.returncode == 1
    (check,) = json.loads(rep.stdout)["checks"]
    assert check["runs"] == 2 and check["on_time_rate"] == 1.0 and check["state"] == "stale"


def test_gauge_through_the_sdk(monkeypatch) -> None:
    """In process, cmdscope.heartbeat.last_success is a gauge labelled by heartbeat name only."""
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from cmdscope._sdlc.heartbeats import checkin
    from test_packets import metric_points

    reader = InMemoryMetricReader()
    monkeypatch.setattr(metrics._internal, "_METER_PROVIDER", MeterProvider(metric_readers=[reader]))
    rec = checkin("nightly", every_s=86400)
    (point,) = metric_points(reader)["cmdscope.heartbeat.last_success"]
    assert dict(point.attributes) == {"cmdscope.heartbeat.name": "nightly"}
    assert abs(point.value - rec["end_ns"] / 1e9) < 1e-3
