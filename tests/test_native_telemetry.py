"""Claude Code's native OpenTelemetry (no cmdscope hooks) turned into cmdscope's schema by the
shipped overlay collector-config/agent-native.yaml, on the real Collector distribution.

- the pin: the installed Claude Code still emits the event names and attributes the overlay's
  header pins (real CLI, scripted model server, decoding OTLP receiver);
- the mapping and the dedupe rule: the real events captured from that CLI
  (tests/data/claude-code-native-events.json) sent to agent Collectors running the overlay:
  records with the schema's keys, the command redacted, counted once, and dropped when the hooks
  win (CMDSCOPE_NATIVE_COMMANDS=off, or the resource attribute cmdscope.hooks);
- end to end: the real CLI with CLAUDE_CODE_ENABLE_TELEMETRY=1 exporting to the agent Collector,
  gateway, a real Prometheus with the shipped rules: cmdscope_commands_total with the right
  outcomes and the failure-rate alert raised.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from collector_stack import BUILD_TIMEOUT, CONFIG_DIR, Collector, agent_collector, ensure_built, gateway_collector, wait_for
from model_server import ModelServer
from otlp_receiver import DecodedLog, OtlpReceiver
from test_e2e_codex import codex_config
from servers import INSTALL_HINT, free_port, prom_alerts, prom_query, start_prometheus, tools_available

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "node_modules" / ".bin"
OVERLAY = CONFIG_DIR / "agent-native.yaml"
CAPTURED = json.loads((Path(__file__).parent / "data" / "claude-code-native-events.json").read_text())
CODEX_CAPTURED = json.loads((Path(__file__).parent / "data" / "codex-native-events.json").read_text())
RULES = sorted((ROOT / "alerting" / "rules").glob("*.yaml"))
SECRET = "hunter2native"


def pinned_version(agent: str = "Claude Code") -> str:
    match = re.search(rf"^# Pinned: {agent} (\S+) ", OVERLAY.read_text(), re.M)
    assert match, f"agent-native.yaml must pin the {agent} version in its header"
    return match.group(1)


def claude_or_skip() -> Path:
    path = BIN / "claude"
    if not path.exists():
        pytest.skip("claude CLI not installed: `npm install` at the repository root (scripts/test.sh runs it)")
    return path


def telemetry_env(home: Path, proj: Path, model_url: str, otlp_http: str, **extra: str) -> dict[str, str]:
    """Claude Code with its native telemetry on (logs over OTLP/HTTP, tool details) and no hooks."""
    return {**os.environ, "HOME": str(home), "ANTHROPIC_BASE_URL": model_url, "ANTHROPIC_API_KEY": "sk-ant-test",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", "PWD": str(proj),
            "CLAUDE_CODE_ENABLE_TELEMETRY": "1", "OTEL_LOGS_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_http,
            "OTEL_LOGS_EXPORT_INTERVAL": "300", "OTEL_LOG_TOOL_DETAILS": "1", **extra}


def run_claude(claude: Path, tmp: Path, commands: list[Any], otlp_http: str, *args: str,
               timeout: float = 300) -> tuple[dict[str, Any], list[str], Path]:
    home, proj = tmp / "home", tmp / "proj"
    home.mkdir(parents=True, exist_ok=True)
    proj.mkdir(exist_ok=True)
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    with ModelServer(commands) as server:
        done = subprocess.run([str(claude), "-p", "run the scripted commands", "--output-format", "json", *args],
                              cwd=proj, env=telemetry_env(home, proj, server.url, otlp_http), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        results = list(server.tool_results)
    assert not (proj / ".claude" / "settings.json").exists(), "no cmdscope hooks in these tests"
    return json.loads(done.stdout), results, proj


# -- the pin --------------------------------------------------------------------------------------

def test_claude_code_native_events_match_the_pin(tmp_path: Path) -> None:
    """The installed Claude Code is the pinned version and emits, for a succeeding, a failing and a
    refused Bash call, exactly the bodies and attribute keys agent-native.yaml maps (and the
    captured fixture holds)."""
    claude = claude_or_skip()
    pkg = json.loads((ROOT / "package.json").read_text())["devDependencies"]["@anthropic-ai/claude-code"]
    assert pinned_version() == pkg == CAPTURED["claude_code_version"], "re-capture and re-pin for a new Claude Code"
    receiver = OtlpReceiver().start()
    try:
        result, _, _ = run_claude(claude, tmp_path, ["echo pin-ok", "ls /definitely/not/here", "touch refused"],
                                  receiver.endpoint, "--allowedTools", "Bash", "--disallowedTools", "Bash(touch:*)")
        logs: list[DecodedLog] = wait_for(
            lambda: (got := [r for r in receiver.received.log_records if r.attributes.get("tool_name") == "Bash"])
            and len(got) >= 5 and got, 30, what="Claude Code's tool events")
    finally:
        receiver.stop()
    assert {r.resource.get("service.name") for r in logs} == {"claude-code"}
    assert {r.resource.get("service.version") for r in logs} == {pinned_version()}
    assert {r.scope for r in logs} == {"com.anthropic.claude_code.events"}
    results = [r for r in logs if r.body == "claude_code.tool_result"]
    decisions = [r for r in logs if r.body == "claude_code.tool_decision"]
    assert [r.attributes["success"] for r in results] == ["true", "false"]  # strings, as pinned
    assert sorted(r.attributes["decision"] for r in decisions) == ["accept", "accept", "reject"]
    common = {"session.id", "tool_name", "tool_use_id", "tool_parameters"}
    assert {r.attributes["session.id"] for r in logs} == {result["session_id"]}
    for rec in results:
        assert common | {"success", "duration_ms", "tool_input"} <= set(rec.attributes), rec.attributes
        assert int(rec.attributes["duration_ms"]) >= 0
    assert results[1].attributes["error_type"] == "ShellError"
    params = json.loads(results[1].attributes["tool_parameters"])
    assert params["bash_command"] == "ls" and params["full_command"] == "ls /definitely/not/here"
    reject = next(r for r in decisions if r.attributes["decision"] == "reject")
    assert common | {"source"} <= set(reject.attributes)
    assert reject.attributes["tool_use_id"] not in {r.attributes["tool_use_id"] for r in results}  # never ran
    # the fixture the collector tests replay has the same shape
    for key in ("with_tool_details", "without_tool_details"):
        for event in CAPTURED[key]:
            assert event["body"] in ("claude_code.tool_result", "claude_code.tool_decision")
            same = results if event["body"] == "claude_code.tool_result" else decisions
            assert set(event["attributes"]) <= set().union(*(r.attributes for r in same)) | {"error", "error_type",
                                                                                            "tool_result_size_bytes"}


# -- the real Collector: mapping and dedupe ---------------------------------------------------------

def _any(value: Any) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def send_events(otlp_http: str, events: list[dict[str, Any]], session: str,
                resource_extra: dict[str, str] | None = None, session_key: str = "session.id") -> None:
    """POST captured events (session id replaced) as one OTLP/HTTP protobuf request."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    for key, value in {**events[0]["resource"], **(resource_extra or {})}.items():
        rl.resource.attributes.append(KeyValue(key=key, value=_any(value)))
    sl = rl.scope_logs.add()
    sl.scope.name = events[0]["scope"]
    now = time.time_ns()
    for event in events:
        attrs = {**event["attributes"], session_key: session}
        record = LogRecord(time_unix_nano=now, observed_time_unix_nano=now,
                           attributes=[KeyValue(key=k, value=_any(v)) for k, v in attrs.items()])
        if event["body"] is not None:
            record.body.CopyFrom(_any(event["body"]))
        sl.log_records.append(record)
    request = urllib.request.Request(f"{otlp_http}/v1/logs", data=req.SerializeToString(), method="POST",
                                     headers={"Content-Type": "application/x-protobuf"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text exposition -> {(name, labels): value}."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        if not m or line.startswith("#"):
            continue
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def by_label(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, label: str,
             **match: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for (metric, labels), value in samples.items():
        d = dict(labels)
        if metric == name and all(d.get(k) == v for k, v in match.items()):
            out[d.get(label, "")] = out.get(d.get(label, ""), 0.0) + value
    return out


@pytest.fixture(scope="module")
def native_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A gateway (logs to a decoding receiver, Prometheus pull endpoint scraped directly) and two
    agents with the overlay: one counting native commands, one with CMDSCOPE_NATIVE_COMMANDS=off."""
    ensure_built()
    tmp = tmp_path_factory.mktemp("native")
    logs = OtlpReceiver().start()
    started: list[Collector] = []
    try:
        gw = gateway_collector(tmp, traces_endpoint=f"127.0.0.1:{free_port()}", logs_endpoint=logs.endpoint,
                               remote_write=f"http://127.0.0.1:{free_port()}/api/v1/write",
                               storage=tmp / "gw-state", remote_ledger=tmp / "remote.jsonl")
        started.append(gw.start())
        gateway = [f"127.0.0.1:{gw.ports['grpc']}"]
        counting = agent_collector(tmp, ledger=tmp / "l1" / "ledger.jsonl", gateway_endpoints=gateway,
                                   storage=tmp / "a1-state", name="agent-native", overlays=("agent-native.yaml",))
        started.append(counting.start())
        off = agent_collector(tmp, ledger=tmp / "l2" / "ledger.jsonl", gateway_endpoints=gateway,
                              storage=tmp / "a2-state", name="agent-hooks", overlays=("agent-native.yaml",),
                              extra_env={"CMDSCOPE_NATIVE_COMMANDS": "off"})
        started.append(off.start())
        yield {"gateway": gw, "counting": counting, "off": off, "logs": logs}
    finally:
        for proc in reversed(started):
            proc.stop()
        logs.stop()


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_native_events_become_cmdscope_records_and_metrics_once(native_stack: dict[str, Any]) -> None:
    """The captured events of one session (success with a password in the command, failure,
    timeout, refused call) become records with the schema's keys, the command redacted and the
    raw call input gone, and count once in cmdscope_commands_total / _duration / _denials with
    the outcome labels; the same events are dropped when the hooks win: from an agent with
    CMDSCOPE_NATIVE_COMMANDS=off, and from a process whose resource says cmdscope.hooks."""
    gw, logs = native_stack["gateway"], native_stack["logs"]
    http = lambda agent: f"http://127.0.0.1:{agent.ports['http']}"  # noqa: E731
    send_events(http(native_stack["counting"]), CAPTURED["with_tool_details"], "sess-native")
    send_events(http(native_stack["counting"]), CAPTURED["without_tool_details"], "sess-native-bare")
    send_events(http(native_stack["counting"]), CAPTURED["with_tool_details"], "sess-hooked", {"cmdscope.hooks": "on"})
    send_events(http(native_stack["off"]), CAPTURED["with_tool_details"], "sess-flag-off")
    prom = f"http://127.0.0.1:{gw.ports['prom']}/metrics"

    def commands() -> dict[str, float]:
        return by_label(scrape(prom), "cmdscope_commands_total", "cmdscope_outcome", cmdscope_actor="claude-code")
    wait_for(lambda: sum(commands().values()) >= 6, 60, what="native-derived cmdscope_commands_total")
    records = wait_for(lambda: (r := [x for x in logs.received.log_records if x.attributes.get("record_id")
                                      and x.attributes.get("cmdscope.actor") == "claude-code"])
                       and len(r) >= 7 and r, 60, what="native records at the gateway")
    time.sleep(3)  # a second copy (the hooked session, the other agent) would have arrived by now
    samples = scrape(prom)
    # with tool details: success, failure, timeout (and a refused call: a denial, not a run);
    # without: success and two failures (no timeout parameter to compare with, the 1 s timeout
    # is below the 120 s default)
    assert commands() == {"success": 2.0, "failure": 3.0, "timeout": 1.0}, commands()
    assert by_label(samples, "cmdscope_denials_total", "cmdscope_policy_rule", cmdscope_actor="claude-code") == \
        {"claude-code.permissions": 1.0}
    execs = by_label(samples, "cmdscope_commands_total", "process_executable_name", cmdscope_actor="claude-code")
    assert execs == {"echo": 1.0, "ls": 1.0, "sleep": 1.0, "other": 3.0}, execs  # bare events: no command
    jobs = by_label(samples, "cmdscope_commands_total", "job", cmdscope_actor="claude-code")
    assert set(jobs) == {"cmdscope-native"}, jobs
    counts = by_label(samples, "cmdscope_command_duration_seconds_count", "cmdscope_outcome", cmdscope_actor="claude-code")
    assert counts == {"success": 2.0, "failure": 3.0, "timeout": 1.0}
    assert by_label(samples, "cmdscope_command_duration_seconds_bucket", "le", cmdscope_actor="claude-code",
                    cmdscope_outcome="timeout")["2.5"] == 1.0  # ~1 s

    sessions = {r.attributes.get("session.id") for r in records}
    assert sessions == {"sess-native", "sess-native-bare"}, sessions  # the hooked and flag-off ones dropped
    assert len(records) == 7  # 4 + 3 calls, each once (accepted decisions are not records)
    mine = {r.attributes["gen_ai.tool.call.id"]: r.attributes for r in records
            if r.attributes["session.id"] == "sess-native"}
    by_cmd = {a.get("process.command_line"): a for a in mine.values()}
    ok = by_cmd["echo native-ok --password=[REDACTED]"]
    assert ok["cmdscope.outcome"] == "success" and ok["kind"] == "command" and ok["cmdscope.actor"] == "claude-code"
    assert re.fullmatch(r"[0-9a-f]{32}", ok["record_id"]) and 0 < ok["duration_s"] < 60
    assert by_cmd["ls /definitely/not/here"]["cmdscope.outcome"] == "failure"
    assert by_cmd["ls /definitely/not/here"]["error.type"] == "unknown"
    assert by_cmd["sleep 5"]["cmdscope.outcome"] == "timeout" and by_cmd["sleep 5"]["error.type"] == "timeout"
    denial = by_cmd["touch rejected-file"]
    assert denial["kind"] == "denial" and denial["cmdscope.outcome"] == "denied"
    assert denial["cmdscope.policy.source"] == "claude-code config"
    everything = json.dumps([r.attributes for r in logs.received.log_records])
    assert SECRET not in everything, "the raw command left the agent Collector"
    assert "tool_input" not in everything and "tool_parameters" not in everything
    for rec in records:  # only schema keys (docs/telemetry.md) and the envelope on a record
        assert set(rec.attributes) <= _schema_keys() | {"record_id", "kind", "name", "duration_s"}, rec.attributes


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_codex_native_events_become_cmdscope_records_and_metrics_once(native_stack: dict[str, Any]) -> None:
    """Codex 0.169's captured events: finished exec_command calls become command records with the
    exit code read from the output (Codex says success "true" for an exit 2), the forbidden one a
    denial, the one still running when the call returned nothing; counted once, dropped when the
    hooks win; arguments and output (unredacted) never leave the agent."""
    gw, logs = native_stack["gateway"], native_stack["logs"]
    http = lambda agent: f"http://127.0.0.1:{agent.ports['http']}"  # noqa: E731
    events = CODEX_CAPTURED["events"]
    send_events(http(native_stack["counting"]), events, "conv-native", session_key="conversation.id")
    send_events(http(native_stack["counting"]), events, "conv-hooked", {"cmdscope.hooks": "on"},
                session_key="conversation.id")
    send_events(http(native_stack["off"]), events, "conv-flag-off", session_key="conversation.id")
    prom = f"http://127.0.0.1:{gw.ports['prom']}/metrics"

    def commands() -> dict[str, float]:
        return by_label(scrape(prom), "cmdscope_commands_total", "cmdscope_outcome", cmdscope_actor="codex")
    wait_for(lambda: sum(commands().values()) >= 4, 60, what="native-derived cmdscope_commands_total for codex")
    records = wait_for(lambda: (r := [x.attributes for x in logs.received.log_records if x.attributes.get("record_id")
                                      and x.attributes.get("cmdscope.actor") == "codex"]) and len(r) >= 5 and r,
                       60, what="codex records at the gateway")
    time.sleep(3)
    samples = scrape(prom)
    assert commands() == {"success": 2.0, "failure": 2.0}, commands()
    assert by_label(samples, "cmdscope_denials_total", "cmdscope_policy_rule", cmdscope_actor="codex") == \
        {"codex.exec-policy": 1.0}
    assert by_label(samples, "cmdscope_commands_total", "process_executable_name", cmdscope_actor="codex") == \
        {"echo": 1.0, "ls": 2.0, "sleep": 1.0}
    assert set(by_label(samples, "cmdscope_commands_total", "instance", cmdscope_actor="codex")) == {"vm"}  # host.name
    assert len(records) == 5 and {r["session.id"] for r in records} == {"conv-native"}
    by_cmd = {r.get("process.command_line"): r for r in records}
    assert by_cmd["echo codex-ok --password=[REDACTED]"]["process.exit.code"] == 0
    failed = by_cmd["/bin/ls /definitely/not/here"]
    assert failed["process.exit.code"] == 2 and failed["cmdscope.outcome"] == "failure"
    assert failed["process.executable.name"] == "ls"
    denial = by_cmd["curl http://127.0.0.1:9/x"]
    assert denial["kind"] == "denial" and denial["cmdscope.policy.rule"] == "codex.exec-policy"
    assert "sleep 3" not in by_cmd  # still running when the call returned: no outcome yet
    everything = json.dumps([r.attributes for r in logs.received.log_records])
    assert "hunter2codex" not in everything and "Process exited" not in everything
    for rec in records:
        assert set(rec) <= _schema_keys() | {"record_id", "kind", "name", "duration_s"}, rec


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT)
def test_claude_code_with_hooks_and_native_telemetry_counts_each_call_once(native_stack: dict[str, Any],
                                                                           tmp_path: Path) -> None:
    """Both signals from one real Claude Code session: cmdscope's hooks installed (ledger tailed
    by the agent) and its native telemetry on, marked with OTEL_RESOURCE_ATTRIBUTES=cmdscope.hooks=on,
    to an agent that counts native commands of other processes: each call is counted once, from
    the hook's ledger record (job cmdscope-ledger); no native-derived sample is added."""
    from conftest import cmdscope_cli

    claude = claude_or_skip()
    gw, agent = native_stack["gateway"], native_stack["counting"]
    ledger = Path(agent.env["CMDSCOPE_LEDGER"])
    prom = f"http://127.0.0.1:{gw.ports['prom']}/metrics"

    def count(job: str) -> float:
        return sum(by_label(scrape(prom), "cmdscope_commands_total", "cmdscope_outcome", cmdscope_actor="claude-code",
                            job=job).values())
    native_before = count("cmdscope-native")
    home, proj = tmp_path / "home", tmp_path / "proj"
    home.mkdir()
    proj.mkdir()
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    assert cmdscope_cli("integrations", "install", "claude-code", "--dir", str(proj), capture_output=True).returncode == 0
    with ModelServer(["echo both-ok", "ls /definitely/not/here/both"]) as server:
        env = telemetry_env(home, proj, server.url, f"http://127.0.0.1:{agent.ports['http']}",
                            OTEL_RESOURCE_ATTRIBUTES="cmdscope.hooks=on", CMDSCOPE_LEDGER=str(ledger),
                            CMDSCOPE_HOOKD_IDLE="10")
        done = subprocess.run([str(claude), "-p", "run the scripted commands", "--allowedTools", "Bash",
                               "--output-format", "json"], cwd=proj, env=env, capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL, check=False)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    session = json.loads(done.stdout)["session_id"]
    mine = [r for r in _ledger(ledger) if r.get("session.id") == session]
    assert sorted(r["cmdscope.outcome"] for r in mine) == ["failure", "success"], mine
    wait_for(lambda: count("cmdscope-ledger") >= 2, 60, what="the hook records' metrics")
    time.sleep(5)  # Claude Code's native events (exported every 300 ms) have long arrived by now
    assert count("cmdscope-ledger") == 2
    assert count("cmdscope-native") == native_before, "a hooked call was counted again from native telemetry"
    native_records = [r for r in native_stack["logs"].received.log_records
                      if r.attributes.get("session.id") == session and r.attributes.get("record_id")
                      and r.resource.get("service.name") == "claude-code"]
    assert native_records == []


def _ledger(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_codex_native_events_match_the_pin(tmp_path: Path) -> None:
    """The installed Codex is the pinned version and its exec_command events have the keys and
    the output shapes the overlay reads (exit code in the output text, success "true" for a
    non-zero exit, a forbidden command as a failed call without a decision)."""
    codex = BIN / "codex"
    if not codex.exists():
        pytest.skip("codex CLI not installed: `npm install` at the repository root")
    pkg = json.loads((ROOT / "package.json").read_text())["devDependencies"]["@openai/codex"]
    assert pinned_version("Codex") == pkg == CODEX_CAPTURED["codex_version"], "re-capture and re-pin for a new Codex"
    home, proj, codex_home = tmp_path / "home", tmp_path / "proj", tmp_path / "codex-home"
    for d in (home, proj, codex_home / "rules"):
        d.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    (codex_home / "rules" / "default.rules").write_text('prefix_rule(pattern=["curl"], decision="forbidden")\n')
    receiver = OtlpReceiver().start()
    try:
        with ModelServer(["echo pin-ok", "ls /definitely/not/here", "curl http://127.0.0.1:9/x"]) as server:
            codex_config(codex_home, server)
            with open(codex_home / "config.toml", "a", encoding="utf-8") as config:
                config.write(f"""
[otel]
exporter = {{ otlp-http = {{ endpoint = "{receiver.endpoint}/v1/logs", protocol = "binary" }} }}
""")
            env = {**os.environ, "HOME": str(home), "CODEX_HOME": str(codex_home), "PWD": str(proj)}
            env.pop("OPENAI_API_KEY", None)
            done = subprocess.run([str(codex), "exec", "--json", "--sandbox", "danger-full-access", "run them"],
                                  cwd=proj, env=env, capture_output=True, text=True, timeout=240,
                                  stdin=subprocess.DEVNULL, check=False)
            assert done.returncode == 0, done.stderr[-2000:]
        results = wait_for(lambda: (r := [x for x in receiver.received.log_records
                                          if x.attributes.get("event.name") == "codex.tool_result"]) and len(r) >= 3 and r,
                           30, what="Codex's tool_result events")
    finally:
        receiver.stop()
    assert {r.resource["service.version"] for r in results} == {pinned_version("Codex")}
    assert {r.resource["service.name"] for r in results} == {"codex_exec"} and all(r.resource.get("host.name") for r in results)
    by_cmd = {json.loads(r.attributes["arguments"])["cmd"]: r.attributes for r in results}
    for attrs in by_cmd.values():
        assert {"tool_name", "call_id", "duration_ms", "success", "arguments", "output", "conversation.id"} <= set(attrs)
        assert attrs["tool_name"] == "exec_command"
    assert re.search(r"Process exited with code 0\b", by_cmd["echo pin-ok"]["output"])
    failing = by_cmd["ls /definitely/not/here"]
    assert failing["success"] == "true" and re.search(r"Process exited with code 2\b", failing["output"])
    forbidden = by_cmd["curl http://127.0.0.1:9/x"]
    assert forbidden["success"] == "false" and "rejected: policy forbids" in forbidden["output"]
    decided = {r.attributes["call_id"] for r in receiver.received.log_records
               if r.attributes.get("event.name") == "codex.tool_decision"}
    assert forbidden["call_id"] not in decided


def _schema_keys() -> set[str]:
    text = (ROOT / "docs" / "telemetry.md").read_text()
    return set(re.findall(r"^\| `([a-z_]+(?:\.[a-z_]+)+)` \|", text, re.M))


# -- end to end: real CLI -> agent -> gateway -> Prometheus -> the shipped alert -------------------

@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT)
@pytest.mark.skipif(not tools_available(), reason=f"prometheus not installed: {INSTALL_HINT}")
def test_claude_code_native_telemetry_reaches_prometheus_and_raises_the_failure_alert(tmp_path: Path) -> None:
    """The real Claude Code CLI, telemetry on, NO cmdscope hooks, exports to the agent Collector
    (agent.yaml + agent-native.yaml); the gateway remote-writes into a real Prometheus evaluating
    the shipped rules. A succeeding, a timed-out and 30 failing Bash calls show up as
    cmdscope_commands_total{cmdscope_actor="claude-code"} with their outcome labels, and
    CmdscopeCommandFailureRateHigh is raised for claude-code at both severities: pending under
    the shipped `for: 15m`, and firing in a copy of the alert rules whose `for` is cut to 2 s."""
    claude = claude_or_skip()
    ensure_built()
    logs = OtlpReceiver().start()
    started: list[Any] = []
    try:
        # the shipped rules, plus a copy of the alert rules with `for` cut to 2 s (expressions
        # untouched): the shipped alert goes pending, the copy shows the same expression firing
        alerts_file = ROOT / "alerting" / "rules" / "cmdscope-alerts.yaml"
        short = yaml.safe_load(alerts_file.read_text())
        for group in short["groups"]:
            group["name"] += "-short-for"
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = "2s"
                rule.setdefault("labels", {})["test_copy"] = "short-for"
        (tmp_path / "short-for.yaml").write_text(yaml.safe_dump(short))
        prom = start_prometheus(tmp_path, scrape_targets=[], rule_files=[*RULES, tmp_path / "short-for.yaml"],
                                remote_write_receiver=True)
        started.append(prom)
        gw = gateway_collector(tmp_path, traces_endpoint=f"127.0.0.1:{free_port()}", logs_endpoint=logs.endpoint,
                               remote_write=f"{prom.url}/api/v1/write", storage=tmp_path / "gw-state",
                               remote_ledger=tmp_path / "remote.jsonl")
        started.append(gw.start())
        agent = agent_collector(tmp_path, ledger=tmp_path / "ledger" / "ledger.jsonl",
                                gateway_endpoints=[f"127.0.0.1:{gw.ports['grpc']}"], storage=tmp_path / "agent-state",
                                overlays=("agent-native.yaml",))
        started.append(agent.start())
        # the failing calls take 0.25 s each, so the counter has several samples in Prometheus
        failing = [f"ls /definitely/not/here/{i} || (sleep 0.25; exit 2)" for i in range(30)]
        script: list[Any] = ["echo native-e2e-ok", {"command": "sleep 5", "timeout": 1000}, *failing]
        t0 = time.monotonic()
        result, tool_results, _ = run_claude(claude, tmp_path, script, f"http://127.0.0.1:{agent.ports['http']}",
                                             "--allowedTools", "Bash")
        session_s = time.monotonic() - t0
        assert len(tool_results) == 32, tool_results
        assert not (tmp_path / "ledger" / "ledger.jsonl").exists(), "no cmdscope record: hooks are not installed"

        def outcomes() -> dict[str, float]:
            series = prom_query(prom.url, 'sum by (cmdscope_outcome) (cmdscope_commands_total{cmdscope_actor="claude-code"})')
            return {s["metric"]["cmdscope_outcome"]: float(s["value"][1]) for s in series}
        wait_for(lambda: outcomes() == {"success": 1.0, "timeout": 1.0, "failure": 30.0}, 120,
                 what=f"the native commands in Prometheus (last: {outcomes()})", interval=1)
        series = prom_query(prom.url, 'cmdscope_commands_total{cmdscope_actor="claude-code"}')
        assert {s["metric"]["process_executable_name"] for s in series} == {"echo", "sleep", "ls"}
        assert {s["metric"]["cmdscope_phase"] for s in series} == {"none"}
        def durations() -> float:
            got = prom_query(prom.url, 'sum(cmdscope_command_duration_seconds_count{cmdscope_actor="claude-code"})')
            return float(got[0]["value"][1]) if got else 0.0
        wait_for(lambda: durations() == 32, 60, what=f"32 durations in Prometheus (last: {durations()})", interval=1)

        def raised(copy: bool) -> list[dict[str, Any]]:
            return [a for a in prom_alerts(prom.url) if a["labels"]["alertname"] == "CmdscopeCommandFailureRateHigh"
                    and a["labels"].get("cmdscope_actor") == "claude-code" and ("test_copy" in a["labels"]) == copy]
        # 31 of 32 failed: over both thresholds (25% warning, 50% critical)
        alerts = wait_for(lambda: len(raised(False)) == 2 and raised(False), 120,
                          what="the shipped CmdscopeCommandFailureRateHigh for claude-code", interval=1)
        assert {a["labels"]["severity"] for a in alerts} == {"warning", "critical"}
        assert all(a["state"] in ("pending", "firing") for a in alerts)  # `for: 15m`: pending here
        wait_for(lambda: {a["state"] for a in raised(True)} == {"firing"} and len(raised(True)) == 2, 60,
                 what="the same expression firing with `for` cut to 2 s", interval=1)
        # the records: one per call, the session's id, at the gateway's log store
        recs = wait_for(lambda: len(r := [x.attributes for x in logs.received.log_records
                                          if x.attributes.get("kind") == "command"]) >= 32 and r, 60,
                        what="the 32 command records at the gateway's log store")
        assert len(recs) == 32 and {r["session.id"] for r in recs} == {result["session_id"]}
        print(f"\nnative e2e: 32 Bash calls in {session_s:.1f} s; alert states "
              f"{sorted((a['labels']['severity'], a['state']) for a in alerts)}")
    finally:
        for proc in reversed(started):
            proc.stop()
        logs.stop()


def test_overlay_header_pins_what_it_maps() -> None:
    """Every Claude Code attribute the overlay reads is named in its pinned header."""
    text = OVERLAY.read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    cfg = yaml.safe_load(text)
    read = set()
    for proc in cfg["processors"].values():
        blob = json.dumps(proc)
        read |= set(re.findall(r'(?<!resource\.)attributes\[\\"([^\\"]+)\\"\]', blob))
    native = read - _schema_keys() - {"record_id", "kind", "name", "duration_s", "service.name", "service.instance.id",
                                      "signal_to_metrics.service.instance.id"}
    assert native == {"tool_name", "tool_use_id", "tool_parameters", "success", "duration_ms", "decision", "source",
                      "event.name", "arguments", "output", "conversation.id", "call_id"}, native
    for key in native:
        assert key in header, key
