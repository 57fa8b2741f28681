"""End to end through the real Collector distribution (collector/, built by
scripts/build-collector.sh) running the SHIPPED agent.yaml and gateway.yaml (only addresses,
state directories and TLS overridden on the command line), into Jaeger v2 (its HTTP query API),
Debian's Prometheus (remote-write receiver, the shipped rules), Debian's Alertmanager (the
shipped routes) and `cmdscope incidents serve`. Log records go to a decoding OTLP receiver (the
stand-in for Loki, which cannot run here).

    cmdscope run (CLI) --ledger--> agent filelog --\\
    in-process cmdscope.run --OTLP--> agent ---------+--> gateway --> Jaeger / Prometheus -> Alertmanager -> incidents
    third-party OTLP client --OTLP--> agent --------/
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from collector_stack import (
    BUILD_TIMEOUT,
    Collector,
    Jaeger,
    Proc,
    agent_collector,
    ensure_built,
    gateway_collector,
    jaeger,
    wait_for,
)
from otlp_receiver import OtlpReceiver
from servers import (
    INSTALL_HINT,
    Server,
    capture_server,
    free_port,
    git_repo,
    prom_alerts,
    prom_query,
    shipped_alertmanager_config,
    start_alertmanager,
    start_prometheus,
    tools_available,
)

ROOT = Path(__file__).resolve().parents[1]
RULES = sorted((ROOT / "alerting" / "rules").glob("*.yaml"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(BUILD_TIMEOUT),
    pytest.mark.skipif(not tools_available(), reason=f"prometheus/alertmanager not installed: {INSTALL_HINT}"),
]


@dataclass
class Stack:
    tmp: Path
    ledger: Path
    remote_ledger: Path
    incidents: Path
    agent: Collector
    gateway: Collector
    jaeger: Jaeger
    prom: Server
    logs: OtlpReceiver
    started: list[Any] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a cmdscope process on this host: the agent tails its ledger."""
        env = {**os.environ, "CMDSCOPE_LEDGER": str(self.ledger), "GIT_TERMINAL_PROMPT": "0",
               "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.agent.ports['http']}"}
        env.update(extra)
        return env

    def records(self) -> list[dict[str, Any]]:
        if not self.ledger.exists():
            return []
        return [json.loads(line) for line in self.ledger.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ensure_built()
    tmp = tmp_path_factory.mktemp("collector-e2e")
    started: list[Any] = []
    logs = OtlpReceiver().start()
    try:
        incidents = tmp / "incidents"
        ledger = tmp / "ledger" / "ledger.jsonl"
        ledger.parent.mkdir()
        inc_port = free_port()
        inc = Proc("incidents", [sys.executable, "-m", "cmdscope", "incidents", "serve", "--listen",
                                 f"127.0.0.1:{inc_port}", "--dir", str(incidents), "--ledger", str(ledger)],
                   tmp, dict(os.environ), ready=lambda: _get_ok(f"http://127.0.0.1:{inc_port}/healthz"))
        started.append(inc.start())
        with capture_server() as sink:
            am = start_alertmanager(tmp, shipped_alertmanager_config(
                tmp, incidents_url=f"http://127.0.0.1:{inc_port}/alertmanager", sink_url=sink.url))
            started.append(am)
            prom = start_prometheus(tmp, scrape_targets=[], rule_files=RULES, alertmanager_url=am.url,
                                    remote_write_receiver=True)
            started.append(prom)
            jg = jaeger(tmp)
            started.append(jg.start())
            remote_ledger = tmp / "gateway" / "remote-ledger.jsonl"
            gw = gateway_collector(tmp, traces_endpoint=jg.otlp_endpoint, logs_endpoint=logs.endpoint,
                                   remote_write=f"{prom.url}/api/v1/write", storage=tmp / "gateway" / "state",
                                   remote_ledger=remote_ledger)
            started.append(gw.start())
            agent = agent_collector(tmp, ledger=ledger, gateway_endpoints=[f"127.0.0.1:{gw.ports['grpc']}"],
                                    storage=tmp / "agent-state")
            started.append(agent.start())
            yield Stack(tmp, ledger, remote_ledger, incidents, agent, gw, jg, prom, logs, started)
    finally:
        for proc in reversed(started):
            proc.stop()
        logs.stop()


def _get_ok(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=2) as resp:
        return bool(resp.status == 200)


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {t["key"]: t["value"] for t in span.get("tags", [])}


INNER = textwrap.dedent('''
    import sys, time
    import cmdscope

    cmdscope.configure(service_name="cmdscope-e2e-inproc")  # OTLP to the agent (OTEL_EXPORTER_OTLP_ENDPOINT)
    cmdscope.run(["git", "--version"], capture_output=True)
    cmdscope.run([sys.executable, "-c", "import sys; sys.exit(3)"], capture_output=True)
    cmdscope.flush(10)
    sys.exit(5)
''')


def test_nested_trace_reaches_jaeger_and_metrics_reach_prometheus_once(stack: Stack, tmp_path: Path) -> None:
    """`cmdscope run` (CLI) runs a Python program that runs two commands through in-process
    `cmdscope.run`: Jaeger has the trace with the CLI span as parent of both in-process spans and
    the schema's attributes; Prometheus has cmdscope_commands_total and the duration histogram
    for all three commands, with the bounded labels only, each command counted once although the
    in-process SDK exported its own copy of the metrics."""
    actor = "e2e-nested"
    script = tmp_path / "inner.py"
    script.write_text(INNER)
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "cmdscope", "run", "--", sys.executable, str(script)],
                          env=stack.env(CMDSCOPE_ACTOR=actor, CMDSCOPE_PHASE="test", OTEL_SERVICE_NAME="cmdscope-e2e-cli"),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 5, proc.stderr
    ended = time.time()
    mine = [r for r in stack.records() if r.get("cmdscope.actor") == actor]
    assert len(mine) == 3, mine
    outer = next(r for r in mine if r["parent_span_id"] is None)
    inner = [r for r in mine if r is not outer]
    assert {r["trace_id"] for r in mine} == {outer["trace_id"]}
    assert all(r["parent_span_id"] == outer["span_id"] for r in inner)

    # Jaeger: the whole trace (kept by tail sampling: it failed), parent and children
    spans = wait_for(lambda: (s := stack.jaeger.trace(outer["trace_id"])) and
                     {x["spanID"] for x in s} >= {r["span_id"] for r in mine} and s, 120,
                     what="the nested trace in Jaeger", interval=0.5)
    queryable_after = time.time() - ended
    by_id: dict[str, dict[str, Any]] = {}
    for span in spans:
        by_id.setdefault(span["spanID"], span)
    duplicates = len(spans) - len(by_id)
    root = by_id[outer["span_id"]]
    assert not [r for r in root.get("references", []) if r["refType"] == "CHILD_OF"]
    for rec in inner:
        span = by_id[rec["span_id"]]
        assert [r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"] == [outer["span_id"]]
        tags = _tags(span)
        assert tags["cmdscope.actor"] == actor and tags["cmdscope.phase"] == "test"
        assert tags["process.command_line"] == rec["process.command_line"]
        assert tags["process.exit.code"] == rec["process.exit.code"]
        assert tags["cmdscope.outcome"] == rec["cmdscope.outcome"]
    assert _tags(root)["process.exit.code"] == 5 and _tags(root)["cmdscope.outcome"] == "failure"
    assert {_tags(by_id[r["span_id"]])["process.executable.name"] for r in inner} == {"git", Path(sys.executable).name}

    # Prometheus: each of the three commands once, bounded labels, the duration histogram
    def commands() -> float:
        return sum(float(s["value"][1]) for s in prom_query(stack.prom.url, f'cmdscope_commands_total{{cmdscope_actor="{actor}"}}'))
    wait_for(lambda: commands() >= 3, 120, what="cmdscope_commands_total in Prometheus", interval=0.5)
    metric_after = time.time() - ended
    series = prom_query(stack.prom.url, f'cmdscope_commands_total{{cmdscope_actor="{actor}"}}')
    labels = set().union(*(s["metric"] for s in series)) - {"__name__"}
    assert {"cmdscope_actor", "cmdscope_phase", "cmdscope_outcome", "error_type", "process_executable_name"} <= labels
    unbounded = {"record_id", "process_command_line", "process_pid", "trace_id", "span_id", "session_id",
                 "cmdscope_command_hash", "process_working_directory"}
    assert not labels & unbounded, labels
    outcomes: dict[str, float] = {}
    for s in series:
        key = f'{s["metric"]["process_executable_name"]}:{s["metric"]["cmdscope_outcome"]}'
        outcomes[key] = outcomes.get(key, 0.0) + float(s["value"][1])
    python = Path(sys.executable).name
    assert outcomes == {"git:success": 1.0, f"{python}:failure": 2.0}, series  # the child and the CLI's program
    buckets = prom_query(stack.prom.url, f'sum by (le) (cmdscope_command_duration_seconds_bucket{{cmdscope_actor="{actor}"}})')
    assert {b["metric"]["le"] for b in buckets} >= {"0.005", "1", "3600", "+Inf"}
    count = prom_query(stack.prom.url, f'sum(cmdscope_command_duration_seconds_count{{cmdscope_actor="{actor}"}})')
    assert float(count[0]["value"][1]) == 3
    time.sleep(8)  # a second copy (the SDK's own export, the CLI's shipper) would have arrived by now
    assert commands() == 3, "a command was counted twice"
    print(f"\nnested trace: {len(by_id)} spans in Jaeger {queryable_after:.1f} s after the command ended "
          f"({duplicates} duplicate span copies); metrics in Prometheus after {metric_after:.1f} s; "
          f"command started {ended - t0:.1f} s before it ended")


def test_critical_hit_from_the_cli_opens_an_incident(stack: Stack, tmp_path: Path) -> None:
    """A critical dangerous command run by `cmdscope run` in observe mode (it runs) becomes, with
    no SDK anywhere, cmdscope_danger_hits_total from its ledger record; the shipped rule
    CmdscopeDangerousCommandExecuted fires, Alertmanager routes it to `cmdscope incidents serve`,
    which opens an incident holding the record. The time from the command's end is printed."""
    actor = "e2e-alert"
    repo = git_repo(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "cmdscope", "run", "--", "git", "push", "--force", "origin", "main"],
                          env=stack.env(CMDSCOPE_ACTOR=actor, CMDSCOPE_GUARD_MODE="observe"),
                          capture_output=True, text=True, timeout=120, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    ended = time.monotonic()
    record = next(r for r in stack.records() if r.get("cmdscope.actor") == actor)
    assert record["cmdscope.danger.severity"] == "critical" and record["cmdscope.policy.mode"] == "observe"

    def incident() -> dict[str, Any] | None:
        for path in stack.incidents.glob("incident-*.json"):
            data = json.loads(path.read_text())
            if data.get("common_labels", {}).get("cmdscope_actor") == actor:
                return dict(data)
        return None
    found = wait_for(incident, 120, what="the incident from Alertmanager", interval=0.2)
    elapsed = time.monotonic() - ended
    labels = found["common_labels"]
    assert found["alertname"] == "CmdscopeDangerousCommandExecuted" and found["receiver"] == "critical-tier1"
    assert labels["severity"] == "critical" and labels["cmdscope_danger_rule"] == "git.push-force-shared"
    assert labels["cmdscope_policy_action"] == "allow"  # observe mode let it run
    assert record["record_id"] in [r["record_id"] for r in found["ledger_records"]]
    assert elapsed < 120
    print(f"\ncommand end -> incident via agent, gateway, Prometheus (rule without `for`, evaluation "
          f"every 1 s), Alertmanager (group_wait 1 s): {elapsed:.1f} s")


# Credential shapes the agent's redaction/secrets processor claims to mask (one real-looking
# value per pattern of collector-config/agent.yaml), and command-line secrets for
# transform/command_line. Built at run time so no scanner flags this file.
SECRETS = {
    "aws": "AKIA" + "IOSFODNN7EXAMPLE",
    "github": "ghp_" + "x1Y2z3" * 6,
    "github_pat": "github_pat_" + "11ABCDEFG0abcdefghijkl_" + "Z" * 30,
    "slack": "xoxb-" + "123456789012-abcdefABCDEF",
    "jwt": "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "private_key": "-----BEGIN RSA PRIVATE" + " KEY-----",
}
COMMAND_SECRETS = {"--password=": "hunter2-e2e", "API_TOKEN=": "tok-e2e-123", "https://deploy:": "pw-e2e-456"}


def test_secrets_sent_unredacted_by_a_third_party_leave_the_gateway_masked(stack: Stack) -> None:
    """A third-party OTLP client (plain OTel SDK, no cmdscope redaction) sends a span and a log
    record carrying every credential shape the agent's redaction processor claims to cover, and a
    command line with a password flag, a token assignment and URL credentials. Jaeger, the log
    store and the gateway's remote ledger only ever see them masked."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry._logs import LogRecord
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Status, StatusCode

    base = f"http://127.0.0.1:{stack.agent.ports['http']}"
    resource = Resource.create({"service.name": "third-party-agent"})
    command = "deploy " + " ".join(f"{k}{v}" if not k.startswith("https") else f"{k}{v}@example.invalid/x"
                                   for k, v in COMMAND_SECRETS.items())
    attrs = {f"note.{name}": f"found {value} in output" for name, value in SECRETS.items()}
    attrs["process.command_line"] = command
    attrs["cmdscope.actor"] = "third-party"
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces")))
    with tp.get_tracer("third-party").start_as_current_span("deploy", attributes=attrs) as span:
        span.set_status(Status(StatusCode.ERROR, "failed"))  # kept by tail sampling
        trace_id = format(span.get_span_context().trace_id, "032x")
    tp.shutdown()
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{base}/v1/logs")))
    lp.get_logger("third-party").emit(LogRecord(body="third-party log", attributes={**attrs, "e2e.marker": trace_id}))
    lp.shutdown()

    spans = wait_for(lambda: stack.jaeger.trace(trace_id), 120, what="the third-party span in Jaeger", interval=0.5)
    logs = wait_for(lambda: [rec for rec in stack.logs.received.logs if rec.get("e2e.marker") == trace_id], 60,
                    what="the third-party log record at the log store")
    remote = wait_for(lambda: trace_id in _read(stack.remote_ledger) and _read(stack.remote_ledger), 60,
                      what="the third-party records in the remote ledger")
    seen = {"jaeger": json.dumps(spans), "log store": json.dumps(logs), "remote ledger": remote}
    for where, text in seen.items():
        for name, value in SECRETS.items():
            assert value not in text, f"{name} secret reached the {where} unmasked"
        for value in COMMAND_SECRETS.values():
            assert value not in text, f"command-line secret {value} reached the {where} unmasked"
    tags = _tags(spans[0])
    assert all("****" in tags[f"note.{name}"] for name in SECRETS), tags
    assert tags["process.command_line"].count("[REDACTED]") == 3, tags["process.command_line"]


def _read(path: Path) -> str:
    """Every file of the gateway's rotated remote ledger, concatenated."""
    return "".join(p.read_text(errors="replace") for p in sorted(path.parent.glob(path.stem + "*")) if p.is_file())


WRITER = textwrap.dedent('''
    import os, sys, time
    from cmdscope._sinks.ledger import LedgerWriter

    path, total, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    writer = LedgerWriter(path)
    start = time.monotonic()
    for i in range(total):
        now = time.time_ns()
        rec = {"schema": 1, "record_id": os.urandom(16).hex(), "kind": "command", "name": "true",
               "trace_id": os.urandom(16).hex(), "span_id": os.urandom(8).hex(), "parent_span_id": None,
               "process.executable.name": "true", "process.command_line": "true --n %d" % i,
               "cmdscope.actor": "outage", "cmdscope.phase": "test", "host.name": "e2e-host",
               "start_ns": now - 1000000, "end_ns": now, "duration_s": 0.001,
               "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9)) + ".%06dZ" % (now // 1000 % 10**6),
               "process.exit.code": 0, "cmdscope.outcome": "success", "cmdscope.retry.count": 0}
        writer.append(rec)
        ahead = start + seconds * (i + 1) / total - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    writer.close()
    print("written", total, flush=True)
''')
RECORD_ID = re.compile(r'"key":"record_id","value":\{"stringValue":"([0-9a-f]{32})"')


def _ledger_ids(ledger: Path) -> list[str]:
    ids = []
    for seg in sorted(ledger.parent.glob(ledger.name + "*")):
        if seg.name == ledger.name or seg.name[len(ledger.name) + 1:].isdigit():
            ids += [json.loads(line)["record_id"] for line in seg.read_text().splitlines() if line.strip()]
    return ids


def test_outage_loses_no_ledger_record(tmp_path: Path) -> None:
    """100,000 ledger records (rotating every ~8 MB) are tailed by the agent while the gateway is
    stopped and restarted twice and the agent is killed (SIGKILL) and restarted once: every record
    id reaches the gateway's remote ledger (file exporter) at least once. Prints records sent,
    received, duplicated and lost, the agent's throughput, CPU and peak memory."""
    ensure_built()
    total, seconds = 100_000, 40.0
    ledger = tmp_path / "ledger" / "ledger.jsonl"
    ledger.parent.mkdir()
    remote = tmp_path / "gateway" / "remote-ledger.jsonl"
    logs = OtlpReceiver().start()
    started: list[Proc] = []
    with capture_server() as remote_write:
        try:
            gw = gateway_collector(tmp_path, traces_endpoint=f"127.0.0.1:{free_port()}", logs_endpoint=logs.endpoint,
                                   remote_write=remote_write.url + "/api/v1/write", storage=tmp_path / "gateway" / "state",
                                   remote_ledger=remote)
            started.append(gw.start())
            agent = agent_collector(tmp_path, ledger=ledger, gateway_endpoints=[f"127.0.0.1:{gw.ports['grpc']}"],
                                    storage=tmp_path / "agent-state")
            started.append(agent.start())
            script = tmp_path / "writer.py"
            script.write_text(WRITER)
            writer = subprocess.Popen([sys.executable, str(script), str(ledger), str(total), str(seconds)],
                                      env={**os.environ, "CMDSCOPE_LEDGER_MAX_BYTES": "8000000", "CMDSCOPE_FSYNC": "never"},
                                      stdout=subprocess.PIPE, text=True)
            t0 = time.monotonic()
            peak_rss, cpu = 0, 0.0

            def at(offset: float) -> None:
                nonlocal peak_rss
                while time.monotonic() < t0 + offset:
                    peak_rss = max(peak_rss, agent.rss_kib())
                    time.sleep(0.2)
            at(6)
            gw.stop()        # gateway down (1/2): the agent queues on disk
            at(14)
            gw.start()
            at(20)
            cpu += agent.cpu_seconds()
            agent.kill()     # agent crash: filelog offsets and the queue are on disk
            at(24)
            agent.start()
            at(30)
            gw.stop()        # gateway down (2/2)
            at(38)
            gw.start()
            assert writer.wait(120) == 0
            sent = _ledger_ids(ledger)
            assert len(sent) == total and len(set(sent)) == total
            want = set(sent)

            def received() -> list[str]:
                return RECORD_ID.findall(_read(remote))
            deadline = time.monotonic() + 300
            got: list[str] = []
            while time.monotonic() < deadline:
                peak_rss = max(peak_rss, agent.rss_kib())
                got = received()
                if want <= set(got):
                    break
                time.sleep(1)
            drained = time.monotonic() - t0
            cpu += agent.cpu_seconds()
            lost = len(want - set(got))
            duplicated = len(got) - len(set(got))
            segments = len(list(ledger.parent.glob("ledger.jsonl.[0-9]*")))
            print(f"\noutage: sent {total}, received {len(set(got))}, duplicated {duplicated}, lost {lost}; "
                  f"{segments} rotated segments; all in the remote ledger {drained:.0f} s after the first record "
                  f"({total / drained:.0f} records/s end to end); agent CPU {cpu:.1f} s "
                  f"({total / max(cpu, 0.001):.0f} records per CPU second), peak RSS {peak_rss / 1024:.0f} MiB")
            assert lost == 0, f"{lost} records never reached the gateway\n{agent.log_tail()}\n{gw.log_tail()}"
        finally:
            for proc in reversed(started):
                proc.stop()
            logs.stop()


TRACE_ID = re.compile(r'"traceId":"([0-9a-f]{32})"')


def _send_traces(endpoint: str, count: int, spans_per_trace: int = 3) -> list[str]:
    """``count`` traces from a plain OTel SDK client, every span exported in its own request (so
    the spans of one trace reach the agent separately and must be routed alike)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Status, StatusCode

    tp = TracerProvider(resource=Resource.create({"service.name": "scale-out"}))
    tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    tracer = tp.get_tracer("scale-out")
    ids = []
    for i in range(count):
        with tracer.start_as_current_span(f"trace-{i}") as root:
            root.set_status(Status(StatusCode.ERROR))  # every trace kept by tail sampling
            ids.append(format(root.get_span_context().trace_id, "032x"))
            for j in range(spans_per_trace - 1):
                with tracer.start_as_current_span(f"child-{j}"):
                    pass
    tp.shutdown()
    return ids


def test_scale_out_routes_each_trace_to_one_gateway_and_survives_losing_one(tmp_path: Path) -> None:
    """Two gateways behind the agent's loadbalancing exporter (agent-loadbalancing.yaml): every
    span of a trace lands on the same gateway and both share the traces. When one gateway is lost
    and the resolver stops listing it (here: the agent restarted with the survivor only, what the
    dns/k8s resolvers do by themselves), its share, including traces sent while it was down,
    moves to the other gateway."""
    ensure_built()
    logs = OtlpReceiver().start()
    started: list[Proc] = []
    with capture_server() as remote_write:
        try:
            gateways = []
            for name in ("gw1", "gw2"):
                gw = gateway_collector(tmp_path, traces_endpoint=f"127.0.0.1:{free_port()}", logs_endpoint=logs.endpoint,
                                       remote_write=remote_write.url + "/api/v1/write",
                                       storage=tmp_path / name / "state", remote_ledger=tmp_path / name / "remote.jsonl",
                                       name=name)
                started.append(gw.start())
                gateways.append(gw)
            endpoints = [f"127.0.0.1:{gw.ports['grpc']}" for gw in gateways]

            def agent_for(targets: list[str]) -> Collector:
                agent = agent_collector(tmp_path, ledger=tmp_path / "ledger.jsonl", gateway_endpoints=targets,
                                        storage=tmp_path / "agent-state",
                                        extra_sets={"exporters::loadbalancing/gateways::protocol::otlp::tls::insecure": "true"})
                agent.args.insert(2, f"--config={ROOT / 'collector-config' / 'agent-loadbalancing.yaml'}")
                agent.env["CMDSCOPE_GATEWAY_ENDPOINTS"] = "[" + ", ".join(targets) + "]"
                return agent

            agent = agent_for(endpoints)
            started.append(agent.start())
            base = f"http://127.0.0.1:{agent.ports['http']}"

            def landed() -> list[dict[str, int]]:
                out = []
                for name in ("gw1", "gw2"):
                    counts: dict[str, int] = {}
                    for tid in TRACE_ID.findall(_read(tmp_path / name / "remote.jsonl")):
                        counts[tid] = counts.get(tid, 0) + 1
                    out.append(counts)
                return out

            first = _send_traces(base, 40)
            wait_for(lambda: all(sum(c.get(t, 0) for c in landed()) >= 3 for t in first), 60,
                     what="every span of the first traces at a gateway")
            on1, on2 = landed()
            split = [t for t in first if t in on1 and t in on2]
            assert not split, f"{len(split)} traces had spans on both gateways"
            share = (sum(t in on1 for t in first), sum(t in on2 for t in first))
            assert min(share) > 0, f"one gateway got nothing: {share}"

            gateways[1].stop()                      # gw2 is lost
            while_down = _send_traces(base, 20)     # about half of these are routed to gw2 first
            time.sleep(3)
            agent.stop()
            agent = agent_for(endpoints[:1])        # the resolver lists the survivor only
            started.append(agent.start())
            after = _send_traces(f"http://127.0.0.1:{agent.ports['http']}", 20)
            wait_for(lambda: all(landed()[0].get(t, 0) >= 3 for t in while_down + after), 120,
                     what="the lost gateway's share on the survivor")
            print(f"\nscale-out: first 40 traces split {share[0]}/{share[1]} over two gateways, no trace split; "
                  f"after losing gw2 all {len(while_down + after)} traces on gw1 "
                  f"(including the ones sent while gw2 was down)")
        finally:
            for proc in reversed(started):
                proc.stop()
            logs.stop()


def _hook_event(name: str, command: str, call_id: str, cwd: Path, **extra: Any) -> bytes:
    """A Claude Code hook event, as Claude Code sends it on stdin."""
    return json.dumps({"session_id": "e2e-claude-session", "transcript_path": "/tmp/t.jsonl", "cwd": str(cwd),
                       "hook_event_name": name, "permission_mode": "default", "tool_name": "Bash",
                       "tool_input": {"command": command, "description": "d"}, "tool_use_id": call_id,
                       **extra}).encode()


def test_cli_and_claude_code_hook_records_raise_the_shipped_alerts(stack: Stack, tmp_path: Path) -> None:
    """No SDK anywhere: `cmdscope run`, `cmdscope gate run` and the Claude Code hook only write
    the ledger, and the agent's ledger-derived metrics raise the shipped alerts in Prometheus:
    failure rate, retry loop and gate pass rate for the CLI actor; denial spike, dangerous
    commands blocked repeatedly and a dangerous command executed for the hook's actor."""
    repo = git_repo(tmp_path)
    cli = stack.env(CMDSCOPE_ACTOR="e2e-cli-alerts", CMDSCOPE_SESSION="e2e-cli-session", CMDSCOPE_PHASE="implement")
    hook_env = stack.env(CMDSCOPE_HOOKD="off")
    hook_env.pop("CMDSCOPE_ACTOR", None)

    def run(args: list[str], env: dict[str, str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "cmdscope", *args], env=env, input=stdin, capture_output=True,
                              timeout=120, cwd=repo)

    for i in range(6):  # the agent tries a force push again and again: denied every time
        out = run(["hook", "claude-code"], hook_env, _hook_event("PreToolUse", "git push --force origin main", f"toolu_d{i}", repo))
        assert b'"deny"' in out.stdout, out
    for _ in range(20):  # the same failing command, re-run: failure rate and retry loop
        assert run(["run", "--", "git", "checkout", "no-such-branch"], cli).returncode != 0
    # passes 20%; the two passes far apart, so the pass series has two samples for increase()
    for result in ("true",) + ("false",) * 4 + ("true",) + ("false",) * 4:
        run(["gate", "run", "e2e-unit", "--", result], cli)
    # last, so its 5-minute alert window is still open when the others are checked
    observe = {**hook_env, "CMDSCOPE_GUARD_MODE": "observe"}
    run(["hook", "claude-code"], observe, _hook_event("PreToolUse", "git push --force origin main", "toolu_x", repo))
    run(["hook", "claude-code"], observe, _hook_event("PostToolUse", "git push --force origin main", "toolu_x", repo,
                                                      tool_response={"stdout": "", "stderr": "forced update", "interrupted": False}))
    recs = stack.records()
    assert sum(r.get("kind") == "denial" and r.get("cmdscope.actor") == "claude-code" for r in recs) >= 6
    assert any(r.get("cmdscope.actor") == "claude-code" and r.get("kind") == "command"
               and r.get("cmdscope.danger.severity") == "critical" for r in recs)

    expected = {
        ("CmdscopeCommandFailureRateHigh", "e2e-cli-alerts"), ("CmdscopeRetryLoop", "e2e-cli-alerts"),
        ("CmdscopeDenialSpike", "claude-code"), ("CmdscopeDangerousCommandsBlockedRepeatedly", "claude-code"),
        ("CmdscopeDangerousCommandExecuted", "claude-code"), ("CmdscopeGatePassRateLow", None),
    }

    def raised() -> set[tuple[str, str | None]]:
        out = set()
        for alert in prom_alerts(stack.prom.url):
            labels = alert["labels"]
            if labels.get("cmdscope_gate_name") == "e2e-unit":
                out.add((labels["alertname"], None))
            out.add((labels["alertname"], labels.get("cmdscope_actor")))
        return out
    missing: set[tuple[str, str | None]] = set(expected)

    def all_raised() -> set[tuple[str, str | None]]:
        now = raised()
        missing.clear()
        missing.update(expected - now)
        return now if not missing else set()
    try:
        got = wait_for(all_raised, 150, what="the shipped alerts", interval=1)
    except TimeoutError:
        series = {m: prom_query(stack.prom.url, f"max_over_time({m}[30m])") for m in
                  ("cmdscope_danger_hits_total", "cmdscope_gate_results_total",
                   'ALERTS{alertname=~"CmdscopeDangerousCommandExecuted|CmdscopeGatePassRateLow"}')}
        raise AssertionError(f"alerts never raised: {sorted(missing, key=str)}; series: {series}") from None
    firing = {(a["labels"]["alertname"], a["labels"].get("cmdscope_actor")) for a in prom_alerts(stack.prom.url)
              if a["state"] == "firing"}
    assert ("CmdscopeDangerousCommandExecuted", "claude-code") in firing
    # exactly once: each denial was counted once, not again from another copy
    denials = prom_query(stack.prom.url, 'sum(cmdscope_denials_total{cmdscope_actor="claude-code"})')
    assert float(denials[0]["value"][1]) == 6
    print(f"\nalerts raised from CLI and hook records: {sorted(a for a, _ in expected)}; firing: "
          f"{sorted(a for a, _ in firing & expected)}; {len(got)} alerts in Prometheus")


def _backdated(line: str, seconds: float) -> str:
    """A ledger line written by the CLI, moved ``seconds`` into the past (start, end and time):
    the record a check-in that ran that long ago left behind."""
    from datetime import UTC, datetime

    rec = json.loads(line)
    shift = int(seconds * 1e9)
    rec["start_ns"] -= shift
    rec["end_ns"] -= shift
    rec["time"] = datetime.fromtimestamp(rec["end_ns"] / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(rec, separators=(",", ":")) + "\n"


def test_cli_heartbeat_packet_and_merge_records_raise_the_sdlc_alerts(stack: Stack, tmp_path: Path) -> None:
    """The SDLC alerts from records the real CLI writes (no SDK): a heartbeat whose last success
    is 3 hours old (written by `cmdscope heartbeat`, then backdated) raises HeartbeatMissed; a
    late `cmdscope heartbeat --every 1s` check-in raises ScheduledCheckLate; three packets whose
    every command failed (`packet start`, `run`, `packet end`) raise PacketFailureDensityHigh;
    twenty `pipeline run`s that all need review (a required gate fails) raise AutoMergeRateLow,
    and GatePassRateLow for that gate, which never passed. Each by the shipped
    expression (the alerts' `for:` is not waited out: pending is raised)."""
    repo = git_repo(tmp_path)
    env = stack.env(CMDSCOPE_ACTOR="e2e-sdlc", CMDSCOPE_SESSION="e2e-sdlc-session")

    def run(*args: str, cwd: Path = repo, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cmdscope", *args], env={**env, **extra}, capture_output=True,
                              text=True, timeout=120, cwd=cwd)

    staging = tmp_path / "staging.jsonl"  # written by the CLI, moved 3h back, then appended
    assert run("heartbeat", "e2e-nightly", "--ledger", str(staging)).returncode == 0
    with stack.ledger.open("a") as ledger:
        ledger.write(_backdated(staging.read_text().splitlines()[-1], 3 * 3600))
    assert run("heartbeat", "e2e-late", "--every", "1s").returncode == 0
    time.sleep(2.5)
    late = run("heartbeat", "e2e-late", "--every", "1s", "--format", "json")
    assert json.loads(late.stdout)["cmdscope.schedule.on_time"] is False, late
    for i in range(3):
        assert run("packet", "start", f"E2E-P{i}", "--actor", "e2e-sdlc").returncode == 0
        run("run", "--", "git", "checkout", "no-such-branch")
        assert run("packet", "end", "--status", "failed").returncode == 0, i
    pipeline = tmp_path / "review.yaml"
    pipeline.write_text("name: e2e-review\nstages:\n  - name: test\n    steps:\n      - gate: e2e-review-tests\n"
                        "        run: [\"false\"]\n        required: true\n")  # a required gate fails: review
    for _ in range(20):
        assert run("pipeline", "run", str(pipeline)).returncode == 1
    recs = stack.records()
    assert sum(r.get("kind") == "pipeline" and r.get("cmdscope.merge.result") == "human_review" for r in recs) >= 20
    assert sum(r.get("kind") == "packet" and r.get("cmdscope.actor") == "e2e-sdlc" for r in recs) == 3

    expected = {("CmdscopeHeartbeatMissed", "e2e-nightly"), ("CmdscopeScheduledCheckLate", "e2e-late"),
                ("CmdscopePacketFailureDensityHigh", "e2e-sdlc"), ("CmdscopeAutoMergeRateLow", None),
                ("CmdscopeGatePassRateLow", "e2e-review-tests")}  # a gate that never passed

    def key(labels: dict[str, str]) -> tuple[str, str | None]:
        return labels["alertname"], (labels.get("cmdscope_heartbeat_name") or labels.get("cmdscope_gate_name")
                                     or labels.get("cmdscope_actor"))
    missing: set[tuple[str, str | None]] = set(expected)

    def all_raised() -> bool:
        missing.clear()
        missing.update(expected - {key(a["labels"]) for a in prom_alerts(stack.prom.url)})
        return not missing
    try:
        wait_for(all_raised, 180, what="the SDLC alerts", interval=1)
    except TimeoutError:
        series = {m: prom_query(stack.prom.url, f"max_over_time({m}[30m])") for m in
                  ("cmdscope_heartbeat_last_success_seconds", "cmdscope_schedule_runs_total",
                   "cmdscope_packet_failure_density_count", "cmdscope_merges_total")}
        raise AssertionError(f"alerts never raised: {sorted(missing, key=str)}; series: {series}") from None
    age = prom_query(stack.prom.url, 'heartbeat:cmdscope_heartbeat_age_seconds:max7d{cmdscope_heartbeat_name="e2e-nightly"}')
    assert 3 * 3600 - 60 < float(age[0]["value"][1]) < 3 * 3600 + 600, age
    merges = prom_query(stack.prom.url, "sum(cmdscope_merges_total)")
    assert float(merges[0]["value"][1]) == 20  # each merge decision counted once
    print(f"\nSDLC alerts raised from CLI records: {sorted(a for a, _ in expected)}")
