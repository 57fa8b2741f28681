"""Incident triage (issue 19 item 4): ack, resolve, false positives, over the CLI and over an
authenticated HTTP endpoint; `cmdscope report alerts`; the receiver's /metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cmdscope._incidents import IncidentStore, make_server, parse_payload

TOKEN = "s3cret-triage-token-0123456789"


def _payload(alertname: str, group: str) -> bytes:
    labels = {"alertname": alertname, "severity": "critical", "cmdscope_actor": "agent"}
    return json.dumps({
        "receiver": "critical", "status": "firing", "version": "4", "groupKey": group,
        "commonLabels": labels, "commonAnnotations": {"summary": "s"},
        "alerts": [{"status": "firing", "labels": labels, "annotations": {}, "startsAt": "2025-01-01T00:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z", "fingerprint": group}],
    }).encode()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cmdscope", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def filed(tmp_path: Path) -> tuple[Path, list[str]]:
    """Three incidents of two alert rules, filed through the store as the receiver does."""
    store = IncidentStore(tmp_path / "inc")
    ids = []
    for alertname, group in (("DangerRan", "g1"), ("DangerRan", "g2"), ("RetryLoop", "g3")):
        _, incident = store.apply(parse_payload(_payload(alertname, group)))
        assert incident is not None
        ids.append(incident["id"])
    return tmp_path / "inc", ids


class TestCli:
    def test_ack_then_resolve_as_false_positive(self, filed: tuple[Path, list[str]]) -> None:
        """`incidents ack` then `resolve --false-positive` record who, when and the note in the stub
        (JSON and Markdown); resolving keeps the first acknowledgement."""
        directory, ids = filed
        assert cli("incidents", "ack", ids[0], "--dir", str(directory), "--by", "alice").returncode == 0
        out = cli("incidents", "resolve", ids[0], "--dir", str(directory), "--false-positive",
                  "--note", "test fixture, token=ghp_" + "a" * 36, "--by", "bob")
        assert out.returncode == 0 and "resolved (false positive)" in out.stdout
        stubs = {json.loads(p.read_text())["id"]: json.loads(p.read_text()) for p in directory.glob("incident-*.json")}
        triage = stubs[ids[0]]["triage"]
        assert triage["acknowledged_by"] == "alice" and triage["resolved_by"] == "bob"
        assert triage["false_positive"] is True and triage["state"] == "resolved"
        assert "ghp_" + "a" * 36 not in json.dumps(triage)
        md = (directory / f"incident-{ids[0].removeprefix('INC-')}.md").read_text()
        assert "false positive" in md and "Triage notes" in md

    def test_bad_ids_and_combinations_are_one_line(self, filed: tuple[Path, list[str]]) -> None:
        directory, ids = filed
        for args, message in ((["ack", "INC-nothex", "--dir", str(directory)], "is not an incident id"),
                              (["ack", "INC-000000000000", "--dir", str(directory)], "no incident INC-000000000000"),
                              (["ack", ids[0], "--dir", str(directory / "nope")], "no such directory")):
            out = cli("incidents", *args)
            assert out.returncode == 2 and message in out.stderr and len(out.stderr.splitlines()) == 1

    def test_report_alerts_flags_rules_above_threshold(self, filed: tuple[Path, list[str]]) -> None:
        """Per rule: fired, triaged, false positives and rate; a rule above the policy's threshold
        is flagged and the exit code is 1."""
        directory, ids = filed
        cli("incidents", "resolve", ids[0], "--dir", str(directory), "--false-positive")
        cli("incidents", "resolve", ids[1], "--dir", str(directory))
        cli("incidents", "resolve", ids[2], "--dir", str(directory))
        out = cli("report", "alerts", "--dir", str(directory), "--format", "json")
        assert out.returncode == 1, out.stderr
        data = json.loads(out.stdout)
        rows = {r["alertname"]: r for r in data["rules"]}
        assert rows["DangerRan"]["fired"] == 2 and rows["DangerRan"]["false_positives"] == 1
        assert rows["DangerRan"]["false_positive_rate"] == 0.5 and data["flagged"] == ["DangerRan"]
        assert rows["RetryLoop"]["false_positive_rate"] == 0.0 and rows["RetryLoop"]["median_resolve_s"] is not None
        assert cli("report", "alerts", "--dir", str(directory), "--max-fp-rate", "0.6").returncode == 0
        table = cli("report", "alerts", "--dir", str(directory)).stdout
        assert "DangerRan" in table and "above 20%" in table


@pytest.fixture
def server(filed: tuple[Path, list[str]]) -> Iterator[tuple[str, Path, list[str]]]:
    directory, ids = filed
    srv = make_server("127.0.0.1", 0, IncidentStore(directory), log=open(os.devnull, "w"), token=TOKEN)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", directory, ids
    finally:
        srv.shutdown()
        srv.server_close()


def _post(url: str, body: Any, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class TestHttp:
    def test_triage_needs_the_token(self, server: tuple[str, Path, list[str]]) -> None:
        """Without or with a wrong bearer token nothing changes; with it the incident is resolved."""
        url, directory, ids = server
        assert _post(f"{url}/incidents/{ids[2]}/resolve", {}, None)[0] == 401
        assert _post(f"{url}/incidents/{ids[2]}/resolve", {}, "wrong-token-wrong-token")[0] == 401
        assert all("triage" not in json.loads(p.read_text()) for p in directory.glob("*.json"))
        status, reply = _post(f"{url}/incidents/{ids[2]}/resolve", {"false_positive": True, "by": "oncall"}, TOKEN)
        assert status == 200 and reply == {"status": "resolved", "incident": ids[2]}
        assert _post(f"{url}/incidents/{ids[2]}/ack", {"by": 7}, TOKEN)[0] == 400

    def test_metrics_expose_alert_quality(self, server: tuple[str, Path, list[str]]) -> None:
        """/metrics counts incidents, triaged and false positives per alert rule."""
        from prometheus_client.parser import text_string_to_metric_families

        url, _, ids = server
        _post(f"{url}/incidents/{ids[0]}/resolve", {"false_positive": True}, TOKEN)
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        samples = {(s.name, s.labels.get("alertname")): s.value
                   for f in text_string_to_metric_families(text) for s in f.samples}
        assert samples[("cmdscope_incidents_total", "DangerRan")] == 2
        assert samples[("cmdscope_incidents_false_positive_total", "DangerRan")] == 1
        assert samples[("cmdscope_incidents_triaged_total", "RetryLoop")] == 0
        assert samples[("cmdscope_incident_resolve_seconds_count", "DangerRan")] == 1

    def test_without_a_token_file_http_triage_is_off(self, filed: tuple[Path, list[str]]) -> None:
        directory, ids = filed
        srv = make_server("127.0.0.1", 0, IncidentStore(directory), log=open(os.devnull, "w"))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            status, reply = _post(f"http://127.0.0.1:{srv.server_address[1]}/incidents/{ids[0]}/ack", {}, TOKEN)
            assert status == 403 and "--token-file" in reply["error"]
        finally:
            srv.shutdown()
            srv.server_close()
