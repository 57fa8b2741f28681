"""`cmdscope incidents serve`: the Alertmanager webhook receiver that files incident stubs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from servers import (
    ALERTMANAGER_BIN,
    INSTALL_HINT,
    am_post_alerts,
    capture_server,
    shipped_alertmanager_config,
    start_alertmanager,
    wait_until,
)

from cmdscope._incidents import IncidentStore, make_server
from cmdscope._incidents.store import incident_id

GROUP_KEY = '{}/{severity="critical"}:{alertname="CmdscopeDangerousCommandExecuted", cmdscope_actor="claude-code"}'
RUNBOOK = "https://github.com/cmdscope/cmdscope/blob/main/docs/runbooks.md#cmdscopedangerouscommandexecuted"


def _record(i: int, **attrs: Any) -> dict[str, Any]:
    base = {"schema": 1, "record_id": f"{i:032x}", "kind": "command", "time": f"2025-01-01T00:00:{i:02d}.000000Z",
            "end_ns": 1_735_689_600_000_000_000 + i, "cmdscope.actor": "claude-code", "cmdscope.outcome": "success",
            "process.command_line": f"echo {i}"}
    base.update(attrs)
    return base


def _danger(i: int, actor: str = "claude-code", rule: str = "rm-rf-root") -> dict[str, Any]:
    return _record(i, **{"cmdscope.actor": actor, "process.command_line": f"rm -rf / # {i}",
                         "cmdscope.danger.rule": [rule], "cmdscope.danger.severity": "critical",
                         "cmdscope.policy.action": "allow"})


def _payload(status: str = "firing", *, severity: str = "critical", group_key: str = GROUP_KEY,
             rule: str = "rm-rf-root", alert_status: str | None = None) -> dict[str, Any]:
    """A webhook body exactly as Alertmanager 0.25 sends it (version 4)."""
    labels = {"alertname": "CmdscopeDangerousCommandExecuted", "severity": severity,
              "cmdscope_actor": "claude-code", "cmdscope_danger_rule": rule, "cmdscope_policy_action": "allow"}
    annotations = {"summary": "A critical dangerous command was executed.",
                   "description": f"Actor claude-code ran a command matching critical danger rule {rule}.",
                   "runbook_url": RUNBOOK}
    return {
        "receiver": "critical-tier1", "status": status, "version": "4", "groupKey": group_key,
        "truncatedAlerts": 0, "externalURL": "http://alertmanager:9093",
        "groupLabels": {"alertname": "CmdscopeDangerousCommandExecuted", "cmdscope_actor": "claude-code"},
        "commonLabels": labels, "commonAnnotations": annotations,
        "alerts": [{"status": alert_status or status, "labels": labels, "annotations": annotations,
                    "startsAt": "2025-01-01T00:00:05Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph", "fingerprint": "c0ffee0123456789"}],
    }


def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers=headers or {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw), raw
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw), raw


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.jsonl"
    lines = [_record(1), _danger(2), _danger(3, actor="alice"), _danger(4, rule="mkfs"),
             _record(5, **{"cmdscope.outcome": "failure", "error.type": "test_failure"})]
    lines += [_danger(10 + i) for i in range(30)]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"torn": ')
    return path


@pytest.fixture
def receiver(tmp_path: Path, ledger: Path) -> Iterator[tuple[str, Path]]:
    directory = tmp_path / "incidents"
    store = IncidentStore(directory, ledger=ledger, records=5)
    server = make_server("127.0.0.1", 0, store, log=open(os.devnull, "w"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alertmanager", directory
    finally:
        server.shutdown()
        server.server_close()


def _incident(directory: Path, group_key: str = GROUP_KEY) -> dict[str, Any]:
    return dict(json.loads((directory / f"incident-{incident_id(group_key)}.json").read_text()))


class TestLifecycle:
    def test_firing_critical_group_opens_one_stub(self, receiver: tuple[str, Path]) -> None:
        """A firing critical group opens incident-<id>.json and .md with alert, labels, first seen,
        runbook and the last N ledger records whose attributes match the alert's labels."""
        url, directory = receiver
        status, reply, raw = _post(url, _payload())
        assert status == 200 and reply == {"status": "opened", "incident": f"INC-{incident_id(GROUP_KEY)}"}
        assert raw.count(b"\n") == 1
        inc = _incident(directory)
        assert inc["alertname"] == "CmdscopeDangerousCommandExecuted" and inc["status"] == "firing"
        assert inc["runbook_url"] == RUNBOOK and inc["first_seen"] and inc["notifications"] == 1
        assert inc["alerts"]["c0ffee0123456789"]["labels"]["cmdscope_danger_rule"] == "rm-rf-root"
        # only claude-code's rm-rf-root hits, the last 5 of them, oldest first
        assert [r["record_id"] for r in inc["ledger_records"]] == [f"{i:032x}" for i in range(35, 40)]
        md = (directory / f"incident-{incident_id(GROUP_KEY)}.md").read_text()
        assert md.startswith(f"# INC-{incident_id(GROUP_KEY)}: CmdscopeDangerousCommandExecuted")
        assert RUNBOOK in md and "rm -rf / # 39" in md and "cmdscope_actor=claude-code" in md
        assert sorted(p.name for p in directory.iterdir()) == sorted(
            [f"incident-{incident_id(GROUP_KEY)}.json", f"incident-{incident_id(GROUP_KEY)}.md"])

    def test_repeat_updates_and_resolve_marks_resolved(self, receiver: tuple[str, Path]) -> None:
        """A repeat notification updates the same stub; a resolved one marks it resolved; firing
        again reopens it."""
        url, directory = receiver
        _post(url, _payload())
        first = _incident(directory)
        assert _post(url, _payload())[1]["status"] == "updated"
        again = _incident(directory)
        assert again["notifications"] == 2 and again["first_seen"] == first["first_seen"]
        assert _post(url, _payload("resolved"))[1]["status"] == "resolved"
        done = _incident(directory)
        assert done["status"] == "resolved" and done["resolved_at"]
        assert done["alerts"]["c0ffee0123456789"]["status"] == "resolved"
        assert "**Status:** resolved" in (directory / f"incident-{incident_id(GROUP_KEY)}.md").read_text()
        assert _post(url, _payload())[1]["status"] == "reopened"
        reopened = _incident(directory)
        assert reopened["status"] == "firing" and reopened["resolved_at"] is None and reopened["reopened"] == 1
        assert len(list(directory.glob("*.json"))) == 1

    def test_concurrent_duplicates_open_a_single_incident(self, receiver: tuple[str, Path]) -> None:
        """Ten simultaneous deliveries of the same group give one incident counting ten notifications."""
        url, directory = receiver
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(_post(url, _payload())[0])) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [200] * 10
        assert len(list(directory.glob("*.json"))) == 1 and _incident(directory)["notifications"] == 10

    def test_warning_groups_and_unknown_resolutions_are_ignored(self, receiver: tuple[str, Path]) -> None:
        """Only critical groups open incidents; a resolution for a group never seen opens nothing."""
        url, directory = receiver
        assert _post(url, _payload(severity="warning"))[1] == {"status": "ignored"}
        assert _post(url, _payload("resolved", group_key="other"))[1] == {"status": "ignored"}
        assert list(directory.iterdir()) == []

    def test_json_list_label_matches_list_attribute(self, receiver: tuple[str, Path]) -> None:
        """A list attribute exported as a JSON label value (`["mkfs"]`) still finds its records."""
        url, directory = receiver
        _post(url, _payload(rule='["mkfs"]', group_key="g-mkfs"))
        assert [r["record_id"] for r in _incident(directory, "g-mkfs")["ledger_records"]] == [f"{4:032x}"]


class TestBadInput:
    @pytest.mark.parametrize(("body", "message"), [
        (b"not json", "body is not JSON"),
        (b"[1, 2]", "body must be a JSON object"),
        ({"version": "3"}, 'version must be "4"'),
        ({**_payload(), "groupKey": ""}, "groupKey must be a non-empty string"),
        ({**_payload(), "status": "weird"}, "status must be firing or resolved"),
        ({**_payload(), "alerts": {}}, "alerts must be a non-empty list"),
        ({**_payload(), "alerts": [{"status": "firing", "labels": {"alertname": 5}}]},
         "alerts[0].labels must be an object of strings"),
        ({**_payload(), "alerts": [{"status": "firing", "labels": {}}]}, "alerts[0].labels.alertname is missing"),
    ])
    def test_malformed_payload_is_a_400_with_one_line(self, receiver: tuple[str, Path], body: Any, message: str) -> None:
        """Malformed bodies get 400 and a one-line JSON error naming the field; nothing is filed and
        the server keeps serving."""
        url, directory = receiver
        status, reply, raw = _post(url, body)
        assert status == 400 and message in reply["error"] and raw.count(b"\n") == 1
        assert list(directory.iterdir()) == []
        assert _post(url, _payload())[0] == 200

    def test_missing_and_oversized_length(self, receiver: tuple[str, Path]) -> None:
        """No Content-Length is a 411, a body over 1 MiB a 413, without reading it."""
        url, _ = receiver
        host, port = url.split("/")[2].split(":")
        import http.client

        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.putrequest("POST", "/")
        conn.putheader("Content-Type", "application/json")
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 411 and "Content-Length" in json.loads(resp.read())["error"]
        conn.close()
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.putrequest("POST", "/")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(2 << 20))
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 413
        conn.close()


class TestHardening:
    """Issue 15 item 12: what a hostile poster or a large ledger could do to the receiver."""

    def test_text_plain_is_refused(self, receiver: tuple[str, Path]) -> None:
        """A body a web page can send without a CORS preflight (text/plain, form) is a 415 and
        files nothing."""
        url, directory = receiver
        for ctype in ("text/plain", "application/x-www-form-urlencoded", ""):
            status, reply, _ = _post(url, _payload(), headers={"Content-Type": ctype} if ctype else {"X": "y"})
            assert status == 415 and "application/json" in reply["error"]
        assert not directory.exists() or list(directory.iterdir()) == []
        assert _post(url, _payload(), headers={"Content-Type": "application/json; charset=utf-8"})[0] == 200

    def test_labels_and_annotations_are_redacted(self, receiver: tuple[str, Path]) -> None:
        """A secret in an alert's labels, annotations or group key never reaches the stub files."""
        url, directory = receiver
        secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
        body = _payload()
        body["commonAnnotations"]["description"] = f"token={secret} leaked"
        body["alerts"][0]["annotations"]["summary"] = f"Authorization: Bearer {secret}"
        body["alerts"][0]["labels"]["cmdscope_note"] = secret
        body["commonLabels"]["cmdscope_note"] = secret
        assert _post(url, body)[0] == 200
        files = list(directory.iterdir())
        assert files and all(secret not in f.read_text() for f in files)
        assert all(f.stat().st_mode & 0o077 == 0 for f in files)

    def test_connections_are_bounded_and_time_out(self, tmp_path: Path, ledger: Path) -> None:
        """Idle connections neither pile up threads beyond the worker bound nor keep the receiver
        from filing an incident once they time out."""
        import socket

        store = IncidentStore(tmp_path / "inc", ledger=ledger, records=5)
        server = make_server("127.0.0.1", 0, store, log=open(os.devnull, "w"), max_workers=4, io_timeout=1.0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        idle = []
        try:
            before = threading.active_count()
            for _ in range(40):
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            time.sleep(0.5)
            assert threading.active_count() - before <= 4
            assert server.shed >= 30
            url = f"http://127.0.0.1:{port}/alertmanager"
            deadline = time.monotonic() + 10
            status = 0
            while time.monotonic() < deadline:
                try:
                    status = _post(url, _payload())[0]
                    break
                except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
                    time.sleep(0.2)
            assert status == 200
        finally:
            for sock in idle:
                sock.close()
            server.shutdown()
            server.server_close()

    def test_a_post_reads_only_what_was_appended(self, tmp_path: Path, ledger: Path) -> None:
        """The receiver reads the ledger once, then only the bytes appended since; records of a
        rotated segment and of the new file both reach the next update."""
        store = IncidentStore(tmp_path / "inc", ledger=ledger, records=50)
        _, first = store.apply(parse(_payload()))
        assert first is not None and len(first["ledger_records"]) == 31
        recent = store._recent
        assert recent is not None
        read_once = recent.bytes_read
        assert read_once >= ledger.stat().st_size - len('{"torn": ')
        store.apply(parse(_payload()))
        assert recent.bytes_read == read_once  # nothing new: nothing read
        with ledger.open("a") as fh:  # finish the torn line, then one more danger record
            fh.write('"x"}\n' + json.dumps(_danger(90)) + "\n")
        ledger.rename(ledger.with_name("ledger.jsonl.000001"))
        ledger.write_text(json.dumps(_danger(91)) + "\n")
        _, last = store.apply(parse(_payload()))
        assert last is not None
        ids = [r["record_id"] for r in last["ledger_records"]]
        assert ids[-2:] == [f"{90:032x}", f"{91:032x}"]
        assert recent.bytes_read - read_once < 1000


def parse(body: dict[str, Any]) -> Any:
    from cmdscope._incidents import parse_payload

    return parse_payload(json.dumps(body).encode())


class TestCli:
    def test_serve_subprocess_files_incident(self, tmp_path: Path, ledger: Path) -> None:
        """`cmdscope incidents serve --listen 127.0.0.1:0` runs as a real process, prints its
        address, files stubs, and answers health checks."""
        directory = tmp_path / "inc"
        proc = subprocess.Popen(
            [sys.executable, "-m", "cmdscope", "incidents", "serve", "--listen", "127.0.0.1:0",
             "--dir", str(directory), "--ledger", str(ledger)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line.startswith("cmdscope incidents: listening on http://127.0.0.1:"), line
            base = line.split()[4].rstrip("/")
            with urllib.request.urlopen(base + "/healthz", timeout=5) as resp:
                assert json.loads(resp.read()) == {"status": "ok"}
            assert _post(base + "/alertmanager", _payload())[1]["status"] == "opened"
            assert len(_incident(directory)["ledger_records"]) == 20
        finally:
            proc.terminate()
            proc.wait(10)

    @pytest.mark.parametrize(("args", "message"), [
        (["serve", "--listen", "nope", "--dir", "d"], "--listen 'nope': expected HOST:PORT"),
        (["serve", "--listen", "127.0.0.1:1", "--dir", "d", "--records", "-1"], "--records must be 0 or more"),
    ])
    def test_bad_arguments_are_one_line(self, tmp_path: Path, args: list[str], message: str) -> None:
        """Bad options exit 2 with one line on stderr, no traceback."""
        proc = subprocess.run([sys.executable, "-m", "cmdscope", "incidents", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(ALERTMANAGER_BIN is None, reason=f"alertmanager not installed: {INSTALL_HINT}")
def test_real_alertmanager_routes_critical_to_the_receiver(tmp_path: Path, receiver: tuple[str, Path]) -> None:
    """End to end through a real Alertmanager running the shipped alertmanager.yml: a critical alert
    pushed to /api/v2/alerts opens an incident, a warning only reaches chat, and resolving the
    critical alert marks the incident resolved."""
    url, directory = receiver
    with capture_server() as sink:
        am = start_alertmanager(tmp_path, shipped_alertmanager_config(tmp_path, incidents_url=url, sink_url=sink.url))
        try:
            labels = {"alertname": "CmdscopeDangerousCommandExecuted", "severity": "critical",
                      "cmdscope_actor": "claude-code", "cmdscope_danger_rule": "rm-rf-root",
                      "cmdscope_policy_action": "allow"}
            annotations = {"summary": "A critical dangerous command was executed.", "description": "d",
                           "runbook_url": RUNBOOK}
            warning = {"alertname": "CmdscopeRetryLoop", "severity": "warning", "cmdscope_actor": "ci"}
            start = time.monotonic()
            am_post_alerts(am.url, [{"labels": labels, "annotations": annotations},
                                    {"labels": warning, "annotations": {"description": "retrying"}}])
            incidents = wait_until(lambda: list(directory.glob("*.json")), 20, what="incident file")
            assert len(incidents) == 1, am.log_tail()
            inc = json.loads(incidents[0].read_text())
            assert inc["receiver"] == "critical-tier1" and inc["common_labels"] == labels
            assert inc["runbook_url"] == RUNBOOK and len(inc["ledger_records"]) == 5
            assert time.monotonic() - start < 15
            # tier 1 also pages and chats; the warning went to chat only
            pages = sink.wait_for(1, 10, where=lambda p: p.path == "/page/critical-tier1")
            assert pages[0].json()["commonLabels"]["alertname"] == "CmdscopeDangerousCommandExecuted"
            chats = sink.wait_for(2, 10, where=lambda p: p.path == "/chat")
            titles = {c.json()["attachments"][0]["title"] for c in chats}
            assert titles == {"[FIRING] CmdscopeRetryLoop (warning)",
                              "[FIRING] CmdscopeDangerousCommandExecuted (critical)"}
            assert [p.path for p in sink.posts if "RetryLoop" in p.body.decode()] == ["/chat"]
            ended = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
            am_post_alerts(am.url, [{"labels": labels, "annotations": annotations, "endsAt": ended}])
            wait_until(lambda: json.loads(incidents[0].read_text())["status"] == "resolved", 20,
                       what="resolved incident")
            assert len(list(directory.glob("*.json"))) == 1
        finally:
            am.stop()
