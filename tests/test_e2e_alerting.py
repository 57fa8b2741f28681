"""End to end with real servers: long-lived processes using cmdscope export metrics through the
Prometheus exporter; a real Prometheus scrapes them and evaluates the shipped rules; a real
Alertmanager routes with the shipped alertmanager.yml to `cmdscope incidents` and to local
webhooks. Asserts every dashboard and recording-rule expression returns data, the critical
alert reaches the incident receiver with the right labels (time-to-notify reported, < 2 min),
and the in-process notifier delivered the critical hit within 1 second."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from servers import (
    INSTALL_HINT,
    capture_server,
    free_port,
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

try:
    import cmdscope

    HAVE_CORE = callable(getattr(cmdscope, "run", None)) and callable(getattr(cmdscope, "configure", None))
except Exception:  # pragma: no cover - the core is being written in parallel
    HAVE_CORE = False

# A long-lived agent process: configure the Prometheus exporter, run a scripted session, report
# the monotonic time of the critical command on stdout, then stay up so Prometheus keeps scraping.
WORKER = textwrap.dedent('''
    import os, sys, time
    import cmdscope
    from cmdscope.sinks.notify import Notifier, is_notifiable

    port, role, repo = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    cmdscope.configure(service_name="cmdscope-e2e-" + role, metrics_exporter="prometheus",
                       prometheus_port=port, traces_exporter="none")
    notifier = Notifier.from_env()

    def run(cmd, **kw):
        try:
            result = cmdscope.run(cmd, cwd=repo, capture_output=True, **kw)
            record = result.record
        except Exception as exc:  # CommandDenied in enforce mode
            record = getattr(exc, "record", None) or {"kind": "denial", "cmdscope.actor": "e2e-agent"}
        if notifier is not None and is_notifiable(record):
            notifier.notify(record)
        return record

    with cmdscope.context(actor="e2e-agent", session="e2e-session-" + role, phase="test", packet="PKT-E2E"):
        if role == "observe":
            for _ in range(5):
                run(["git", "status", "--short"])
            run([sys.executable, "-c", "import sys; sys.stderr.write('AssertionError: boom\\\\n'); sys.exit(1)"])
            run([sys.executable, "-c", "raise ModuleNotFoundError(\\"No module named 'nope'\\")"])
            run(["sleep", "5"], timeout=0.2)
            for _ in range(6):  # a retry loop: the same failing command again and again
                run(["git", "checkout", "no-such-branch"])
            record = run(["git", "push", "--force", "origin", "main"])
            print("critical-done", time.monotonic(), record.get("cmdscope.danger.severity"), flush=True)
        else:
            for _ in range(6):
                run(["git", "push", "--force", "origin", "main"])
            print("denials-done", time.monotonic(), flush=True)
    if notifier is not None:
        notifier.flush(5)
    while True:
        time.sleep(1)
''')


def _dashboards() -> Any:
    spec = importlib.util.spec_from_file_location("cmdscope_dash_gen_e2e", ROOT / "dashboards" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _git_repo(path: Path) -> Path:
    """A work repo on main whose origin is a local bare repo (so a force push harms nothing)."""
    bare, work = path / "origin.git", path / "work"
    env = {**os.environ, "GIT_AUTHOR_NAME": "e2e", "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
           "GIT_COMMITTER_NAME": "e2e", "GIT_COMMITTER_EMAIL": "e2e@example.invalid"}
    for args in (["git", "init", "-q", "--bare", str(bare)], ["git", "init", "-q", "-b", "main", str(work)],
                 ["git", "-C", str(work), "commit", "-q", "--allow-empty", "-m", "init"],
                 ["git", "-C", str(work), "remote", "add", "origin", str(bare)],
                 ["git", "-C", str(work), "push", "-q", "origin", "main"]):
        subprocess.run(args, check=True, env=env, capture_output=True)
    return work


def _start_worker(tmp: Path, role: str, repo: Path, ledger: Path, notify_url: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    script = tmp / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "CMDSCOPE_LEDGER": str(ledger), "CMDSCOPE_NOTIFY_WEBHOOKS": notify_url,
           "CMDSCOPE_GUARD_MODE": role, "GIT_TERMINAL_PROMPT": "0"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    proc = subprocess.Popen([sys.executable, str(script), str(port), role, str(repo)], env=env,
                            stdout=subprocess.PIPE, stderr=open(tmp / f"worker-{role}.err", "w"), text=True)
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


@pytest.mark.skipif(not HAVE_CORE, reason="core API not yet available")
# strict: once the core records the effective action, this XPASSes and the marker must go.
@pytest.mark.xfail(strict=True, reason="core labels observe-mode danger hits cmdscope.policy.action=deny although "
                   "the command ran, so CmdscopeDangerousCommandExecuted cannot tell them from blocked ones")
@pytest.mark.skipif(not tools_available(), reason=f"prometheus/alertmanager not installed: {INSTALL_HINT}")
def test_alerts_dashboards_and_notifier_end_to_end(tmp_path: Path) -> None:
    """Real cmdscope processes -> Prometheus exporter -> Prometheus (shipped rules) -> Alertmanager
    (shipped routes) -> incident receiver; every panel and recording-rule query returns data."""
    from cmdscope.incidents import IncidentStore, make_server

    repo = _git_repo(tmp_path)
    ledger = tmp_path / "ledger.jsonl"
    incidents_dir = tmp_path / "incidents"
    store = IncidentStore(incidents_dir, ledger=ledger, records=10)
    receiver = make_server("127.0.0.1", 0, store, log=open(os.devnull, "w"))
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
            prom = start_prometheus(tmp_path, scrape_targets=[f"127.0.0.1:{p1}", f"127.0.0.1:{p2}"],
                                    rule_files=RULES, alertmanager_url=am.url)
            servers.append(prom)

            fields = _read_marker(observe, "critical-done", 60)
            critical_at = float(fields[1])
            assert fields[2] == "critical", f"the force push was not a critical hit: {fields}"
            _read_marker(enforce, "denials-done", 60)

            # in-process notifier: the critical hit posted within 1 s of the command
            posts = notify_sink.wait_for(1, 5, where=lambda p: p.json().get("record", {}).get("cmdscope.danger.severity") == "critical")
            assert posts, "the notifier never posted the critical hit"
            notify_latency = posts[0].received - critical_at
            assert notify_latency < 1.0

            # the critical alert reaches the incident receiver through Alertmanager
            files = wait_until(lambda: list(incidents_dir.glob("incident-*.json")), 120, interval=0.5,
                               what="an incident from Alertmanager")
            time_to_notify = time.monotonic() - critical_at
            incident = json.loads(files[0].read_text())
            labels = incident["common_labels"]
            assert incident["alertname"] == "CmdscopeDangerousCommandExecuted"
            assert labels["severity"] == "critical" and labels["cmdscope_actor"] == "e2e-agent"
            assert "git.push-force-shared" in labels["cmdscope_danger_rule"]
            assert labels["cmdscope_policy_action"] != "deny"
            assert incident["ledger_records"], "no matching ledger record in the incident"
            assert time_to_notify < 120
            print(f"\ntime-to-notify (command -> incident webhook): {time_to_notify:.1f} s; "
                  f"in-process notifier: {notify_latency * 1000:.0f} ms")

            # other alerts are at least pending with the right labels
            def pending() -> set[str]:
                return {a["labels"]["alertname"] for a in prom_alerts(prom.url)
                        if a["labels"].get("cmdscope_actor") == "e2e-agent"}
            seen = wait_until(lambda: pending() >= {"CmdscopeDenialSpike"} and pending(), 60, what="denial spike pending")
            assert "CmdscopeDangerousCommandExecuted" in seen

            # every dashboard expression and recording rule returns data from this Prometheus
            exprs = list(_dashboards().all_promql(resolve=True))
            for path in RULES:
                for group in yaml.safe_load(path.read_text())["groups"]:
                    exprs += [r["expr"] for r in group["rules"] if "record" in r]
            time.sleep(3)
            empty = [e for e in exprs if not prom_query(prom.url, e)]
            assert not empty, "expressions without data:\n" + "\n".join(empty)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
            for server in reversed(servers):
                server.stop()
            receiver.shutdown()
            receiver.server_close()
