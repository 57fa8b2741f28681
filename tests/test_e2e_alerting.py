"""End to end with real servers: long-lived processes using cmdscope export metrics through the
Prometheus exporter; a real Prometheus scrapes them and evaluates the shipped rules; a real
Alertmanager routes with the shipped alertmanager.yml to `cmdscope incidents` and to local
webhooks. Asserts every dashboard and recording-rule expression returns data, the critical
alert reaches the incident receiver with the right labels (time-to-notify reported, < 2 min),
and the in-process notifier delivered the critical hit within 1 second."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import read_ledger
from servers import (
    INSTALL_HINT,
    capture_server,
    free_port,
    git_repo,
    prom_alerts,
    prom_query,
    shipped_alertmanager_config,
    start_alertmanager,
    start_prometheus,
    tools_available,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]
RULES = sorted((ROOT / "alerting" / "rules").glob("*.yaml"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

# A long-lived agent process: configure the Prometheus exporter, run a scripted session, report
# the monotonic time at which the critical command started on stdout, then stay up so Prometheus
# keeps scraping. Critical hits and denials reach the webhook through the core's own notifier
# (CMDSCOPE_NOTIFY_WEBHOOKS in the environment), never a hand call. The "enforce" worker also
# exercises the SDLC API (packet, gates, a pipeline with its merge decision, heartbeats, a commit)
# and loses one ledger write to a real fault, so those metrics exist too.
WORKER = textwrap.dedent('''
    import os, sys, time
    import cmdscope

    port, role, repo, work = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    cmdscope.configure(service_name="cmdscope-e2e-" + role, metrics_exporter="prometheus",
                       prometheus_port=port, traces_exporter="none")

    def run(cmd, **kw):
        try:
            return cmdscope.run(cmd, cwd=repo, capture_output=True, **kw).record
        except cmdscope.CommandDenied as exc:  # enforce mode: the command never started
            return getattr(exc, "record", None) or {"kind": "denial"}

    def sdlc():
        from cmdscope._sdlc.commits import record_commit
        from cmdscope._sdlc.gates import run_gate
        from cmdscope._sdlc.heartbeats import checkin
        from cmdscope._sdlc.pipelines import run_pipeline

        with cmdscope.packet("PKT-E2E-SDLC", title="e2e packet", actor="e2e-agent"):
            run(["git", "status", "--short"])
            run(["git", "checkout", "no-such-branch-either"])
        cmdscope.gate("review", True, cwd=repo, actor="e2e-agent", show_nudge=False)
        cmdscope.gate("review", False, reason="changes requested", cwd=repo, actor="e2e-agent", show_nudge=False)
        run_gate("unit", ["true"], cwd=repo, actor="e2e-agent", show_nudge=False)
        run_pipeline(os.path.join(work, "pipeline.yaml"), workdir=repo)
        for _ in range(2):
            checkin("e2e-nightly", every_s=3600, grace_s=60, command=["true"])
        record_commit(repo)
        from cmdscope._sdlc import rating
        from cmdscope._sdlc.governance import load_policy
        now = time.time_ns()
        rating.record_metrics(rating.rate_ledger(None, now - 3600 * 10**9, now, load_policy().rating.weights))
        # a real ledger fault: the ledger's directory is a regular file, so this write is dropped
        # (counted in cmdscope.telemetry.dropped) while the command itself still runs
        run(["true"], ledger=os.path.join(work, "not-a-directory", "ledger.jsonl"))

    with cmdscope.context(actor="e2e-agent", session="e2e-session-" + role, phase="test", packet="PKT-E2E"):
        if role == "observe":
            for _ in range(5):
                run(["git", "status", "--short"])
            run([sys.executable, "-c", "import sys; sys.stderr.write('AssertionError: boom\\\\n'); sys.exit(1)"])
            run([sys.executable, "-c", "raise ModuleNotFoundError(\\"No module named 'nope'\\")"])
            run(["sleep", "5"], timeout=0.2)
            for _ in range(6):  # a retry loop: the same failing command again and again
                run(["git", "checkout", "no-such-branch"])
            started = time.monotonic()
            record = run(["git", "push", "--force", "origin", "main"])
            print("critical-done", started, record.get("cmdscope.danger.severity"),
                  record.get("cmdscope.outcome"), flush=True)
        else:
            for _ in range(6):
                run(["git", "push", "--force", "origin", "main"])
            print("denials-done", time.monotonic(), flush=True)
    if role == "enforce":
        sdlc()
        print("sdlc-done", time.monotonic(), flush=True)
    while True:
        time.sleep(1)
''')

PIPELINE = """\
name: e2e-pipeline
stages:
  - name: build
    type: build
    steps:
      - run: ["true"]
  - name: test
    type: test
    steps:
      - run: ["true"]
        gate: tests
        required: true
merge:
  action: none
"""

def _dashboards() -> Any:
    spec = importlib.util.spec_from_file_location("cmdscope_dash_gen_e2e", ROOT / "dashboards" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _start_worker(tmp: Path, role: str, repo: Path, ledger: Path, notify_url: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    work = tmp / f"worker-{role}"
    work.mkdir()
    (work / "worker.py").write_text(WORKER)
    (work / "pipeline.yaml").write_text(PIPELINE)
    (work / "not-a-directory").write_text("a file where the ledger's directory should be\n")
    env = {**os.environ, "CMDSCOPE_LEDGER": str(ledger), "CMDSCOPE_NOTIFY_WEBHOOKS": notify_url,
           "CMDSCOPE_GUARD_MODE": role, "GIT_TERMINAL_PROMPT": "0"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    with open(tmp / f"worker-{role}.err", "w") as err:  # the child keeps its own copy of the fd
        proc = subprocess.Popen([sys.executable, str(work / "worker.py"), str(port), role, str(repo), str(work)],
                                env=env, cwd=repo, stdout=subprocess.PIPE, stderr=err, text=True)
    return proc, port


def _read_marker(proc: subprocess.Popen[str], prefix: str, timeout: float) -> list[str]:
    box: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(prefix):
                box.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert box, f"worker never printed {prefix!r}"
    return box[0].split()


@pytest.mark.skipif(not tools_available(), reason=f"prometheus/alertmanager not installed: {INSTALL_HINT}")
def test_alerts_dashboards_and_notifier_end_to_end(tmp_path: Path) -> None:
    """Real cmdscope processes -> Prometheus exporter -> Prometheus (shipped rules) -> Alertmanager
    (shipped routes) -> incident receiver; every panel and recording-rule query returns data."""
    from cmdscope._incidents import IncidentStore, make_server

    repo = git_repo(tmp_path)
    ledger = tmp_path / "ledger.jsonl"
    incidents_dir = tmp_path / "incidents"
    store = IncidentStore(incidents_dir, ledger=ledger, records=10)
    triage_token = "e2e-triage-token-0123456789"
    receiver = make_server("127.0.0.1", 0, store, log=io.StringIO(), token=triage_token)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    incidents_url = f"http://127.0.0.1:{receiver.server_address[1]}/alertmanager"
    procs: list[subprocess.Popen[str]] = []
    servers = []
    with capture_server() as sink, capture_server() as notify_sink:
        try:
            am = start_alertmanager(tmp_path, shipped_alertmanager_config(
                tmp_path, incidents_url=incidents_url, sink_url=sink.url))
            servers.append(am)
            observe, p1 = _start_worker(tmp_path, "observe", repo, ledger, notify_sink.url + "/notify")
            enforce, p2 = _start_worker(tmp_path, "enforce", repo, ledger, notify_sink.url + "/notify")
            procs += [observe, enforce]
            receiver_target = f"127.0.0.1:{receiver.server_address[1]}"  # its /metrics: alert quality
            prom = start_prometheus(tmp_path, scrape_targets=[f"127.0.0.1:{p1}", f"127.0.0.1:{p2}", receiver_target],
                                    rule_files=RULES, alertmanager_url=am.url)
            servers.append(prom)

            fields = _read_marker(observe, "critical-done", 60)
            critical_at = float(fields[1])  # monotonic time the force push started
            assert fields[2:] == ["critical", "success"], f"the force push was not an executed critical hit: {fields}"
            _read_marker(enforce, "denials-done", 60)

            # the core's notifier (CMDSCOPE_NOTIFY_WEBHOOKS) posted the executed critical hit within 1 s
            def executed_hit(post: Any) -> bool:
                rec = post.json().get("record", {})
                return rec.get("cmdscope.danger.severity") == "critical" and rec.get("kind") == "command"
            posts = notify_sink.wait_for(1, 5, where=executed_hit)
            assert posts, "the core's notifier never posted the critical hit"
            assert len(posts) == 1, f"the critical hit was posted {len(posts)} times"
            notify_latency = posts[0].received - critical_at
            assert notify_latency < 1.0
            denial_posts = notify_sink.wait_for(6, 5, where=lambda p: p.json().get("record", {}).get("kind") == "denial")
            assert len(denial_posts) == 6, f"{len(denial_posts)} of 6 denials posted by the notifier"

            # the critical alert reaches the incident receiver through Alertmanager
            files = wait_until(lambda: list(incidents_dir.glob("incident-*.json")), 120, interval=0.2,
                               what="an incident from Alertmanager")
            time_to_notify = time.monotonic() - critical_at
            incident = json.loads(files[0].read_text())
            labels = incident["common_labels"]
            assert incident["alertname"] == "CmdscopeDangerousCommandExecuted"
            assert incident["receiver"] == "critical-tier1" and incident["status"] == "firing"
            assert labels["severity"] == "critical" and labels["cmdscope_actor"] == "e2e-agent"
            assert labels["cmdscope_danger_rule"] == "git.push-force-shared"
            assert labels["cmdscope_policy_action"] == "allow"  # observe mode: it ran
            assert incident["runbook_url"].endswith("docs/runbooks.md#cmdscopedangerouscommandexecuted")
            # The incident carries the ledger record of the command that ran: its label is the
            # effective action (allow: observe mode let it run) while the record keeps the policy's
            # decision (deny) and mode (observe).
            executed = [r for r in read_ledger(ledger) if r.get("kind") == "command"
                        and r.get("cmdscope.danger.severity") == "critical"]
            assert executed and executed[0]["cmdscope.policy.action"] == "deny"
            attached = [r["record_id"] for r in incident["ledger_records"]]
            assert executed[0]["record_id"] in attached
            assert time_to_notify < 120
            # the same group reached the paging webhook and the chat channel of the critical ladder
            page = sink.wait_for(1, 10, where=lambda p: p.path == "/page/critical-tier1")
            assert page and page[0].json()["commonLabels"]["alertname"] == "CmdscopeDangerousCommandExecuted"
            assert page[0].json()["commonLabels"]["cmdscope_danger_rule"] == "git.push-force-shared"
            critical_chat = sink.wait_for(1, 10, where=lambda p: p.path == "/chat" and "CmdscopeDangerousCommandExecuted" in p.body.decode())
            assert critical_chat and critical_chat[0].json()["attachments"][0]["title"] == "[FIRING] CmdscopeDangerousCommandExecuted (critical)"
            print(f"\ntime-to-notify (command start -> incident webhook via Prometheus+Alertmanager): "
                  f"{time_to_notify:.1f} s; in-process notifier: {notify_latency * 1000:.0f} ms")

            _read_marker(enforce, "sdlc-done", 60)

            # triage: the on-call resolves the incident as a false positive over the receiver's
            # authenticated endpoint, after Prometheus scraped it open at least once
            wait_until(lambda: prom_query(prom.url, 'cmdscope_incidents_total{alertname="CmdscopeDangerousCommandExecuted"}'),
                       30, what="the receiver's /metrics scraped")
            triage = urllib.request.Request(
                f"http://{receiver_target}/incidents/{incident['id']}/resolve", method="POST",
                data=json.dumps({"false_positive": True, "by": "e2e-oncall"}).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {triage_token}"})
            with urllib.request.urlopen(triage, timeout=5) as resp:
                assert json.loads(resp.read())["status"] == "resolved"
            fp_ratio = wait_until(lambda: prom_query(
                prom.url, "alertname:cmdscope_incidents_false_positive:ratio_increase30d"), 30,
                what="the false-positive ratio recorded")
            assert fp_ratio[0]["metric"]["alertname"] == "CmdscopeDangerousCommandExecuted"
            assert float(fp_ratio[0]["value"][1]) == 1.0

            # other alerts, with the right labels: pending (their `for` is minutes) or firing
            def alerts() -> dict[str, dict[str, Any]]:
                return {a["labels"]["alertname"]: a for a in prom_alerts(prom.url)
                        if a["labels"].get("cmdscope_actor") == "e2e-agent"}
            expected = {"CmdscopeDenialSpike", "CmdscopeDangerousCommandsBlockedRepeatedly",
                        "CmdscopeDangerousCommandExecuted", "CmdscopeRetryLoop"}
            seen = wait_until(lambda: alerts() if set(alerts()) >= expected else None, 60,
                              what=f"alerts {sorted(expected)}")
            assert seen["CmdscopeRetryLoop"]["labels"]["error_type"] and seen["CmdscopeRetryLoop"]["labels"]["severity"] == "warning"
            assert seen["CmdscopeDangerousCommandExecuted"]["state"] == "firing"

            # every dashboard expression and recording rule returns data from this Prometheus
            exprs = list(_dashboards().all_promql(resolve=True))
            for path in RULES:
                for group in yaml.safe_load(path.read_text())["groups"]:
                    exprs += [r["expr"] for r in group["rules"] if "record" in r]
            time.sleep(3)
            empty = [e for e in exprs if not prom_query(prom.url, e)]
            assert not empty, "expressions without data:\n" + "\n".join(empty)

            # the warning ladder: blocked-repeatedly fires after its 1m `for` and reaches chat
            def chat_warning(post: Any) -> bool:
                return post.path == "/chat" and "CmdscopeDangerousCommandsBlockedRepeatedly" in post.body.decode()
            chat = sink.wait_for(1, 100, where=chat_warning)
            assert chat, "the blocked-repeatedly warning never reached the chat webhook"
            body = chat[0].json()
            attachment = body["attachments"][0]
            assert body["channel"] == "#cmdscope-alerts"
            assert attachment["title"] == "[FIRING] CmdscopeDangerousCommandsBlockedRepeatedly (warning)"
            assert "e2e-agent" in attachment["text"] and "runbooks.md#cmdscopedangerouscommandsblockedrepeatedly" in attachment["text"]
            # warnings never open incidents: the receiver only holds the critical group
            assert [json.loads(f.read_text())["alertname"] for f in incidents_dir.glob("incident-*.json")] == \
                ["CmdscopeDangerousCommandExecuted"]
            print(f"warning CmdscopeDangerousCommandsBlockedRepeatedly reached chat "
                  f"{chat[0].received - critical_at:.1f} s after the critical command")
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
            for server in reversed(servers):
                server.stop()
            receiver.shutdown()
            receiver.server_close()
