"""collector-config/agent.yaml and gateway.yaml: a structural validator against the pinned
otelcol-contrib component list (collector-config/components/), plus `otelcol-contrib validate`
when the binary is on PATH."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from collector_stack import BUILD_TIMEOUT

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "collector-config"
CONFIGS = {name: CONFIG_DIR / f"{name}.yaml" for name in ("agent", "gateway")}
(COMPONENTS_FILE,) = sorted((CONFIG_DIR / "components").glob("otelcol-contrib-v*.yaml"))
COMPONENTS = yaml.safe_load(COMPONENTS_FILE.read_text())
KINDS = ("receivers", "processors", "exporters", "connectors", "extensions")
SIGNALS = ("traces", "metrics", "logs")
OTTL_CONTEXTS = {"resource", "scope", "span", "spanevent", "metric", "datapoint", "log", "profile"}
ENV_REF = re.compile(r"\$\{env:[A-Z_][A-Z0-9_]*(?::-[^}]*)?\}")


def _load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def _schema_keys() -> set[str]:
    """Attribute keys of docs/telemetry.md (dotted keys in the first column of its tables)."""
    text = (ROOT / "docs" / "telemetry.md").read_text()
    return set(re.findall(r"^\| `([a-z_]+(?:\.[a-z_]+)+)` \|", text, re.M))


def _ottl_statements(cfg: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(where, context, statement) for transform statements and tail-sampling OTTL conditions."""
    out: list[tuple[str, str, str]] = []
    for cid, conf in (cfg.get("processors") or {}).items():
        conf = conf or {}
        if cid.split("/")[0] == "transform":
            for key, groups in conf.items():
                if not key.endswith("_statements"):
                    continue
                for group in groups:
                    for stmt in group.get("statements", []):
                        out.append((f"processors.{cid}.{key}", group.get("context", ""), stmt))
        if cid.split("/")[0] == "tail_sampling":
            for policy in conf.get("policies", []):
                cond = policy.get("ottl_condition") or {}
                for ctx in ("span", "spanevent"):
                    for stmt in cond.get(ctx, []):
                        out.append((f"processors.{cid}.policies.{policy['name']}", ctx, stmt))
    return out


def _balanced(stmt: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    in_str = False
    i = 0
    while i < len(stmt):
        ch = stmt[i]
        if in_str:
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
        i += 1
    return not stack and not in_str


def validate(cfg: dict[str, Any]) -> list[str]:
    """Every problem found in a Collector config, as 'where: what' lines (empty when valid)."""
    problems: list[str] = []
    known = {kind: set(COMPONENTS[kind]) for kind in KINDS}
    deprecated = COMPONENTS["deprecated"]
    for section in cfg:
        if section not in (*KINDS, "service"):
            problems.append(f"{section}: unknown top-level section")
    defined: dict[str, set[str]] = {}
    for kind in KINDS:
        defined[kind] = set()
        for cid in cfg.get(kind) or {}:
            ctype = cid.split("/", 1)[0]
            if ctype in (deprecated.get(kind) or {}):
                problems.append(f"{kind}.{cid}: deprecated: {deprecated[kind][ctype]}")
            elif ctype not in known[kind]:
                problems.append(f"{kind}.{cid}: no {kind[:-1]} type {ctype!r} in {COMPONENTS['distribution']} {COMPONENTS['release']}")
            defined[kind].add(cid)
    service = cfg.get("service") or {}
    used: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for ext in service.get("extensions", []):
        if ext not in defined["extensions"]:
            problems.append(f"service.extensions: {ext} is not defined")
        used["extensions"].add(ext)
    pipelines = service.get("pipelines") or {}
    if not pipelines:
        problems.append("service.pipelines: none defined")
    connector_roles: dict[str, set[str]] = {c: set() for c in defined["connectors"]}
    for pname, pipe in pipelines.items():
        if pname.split("/", 1)[0] not in SIGNALS:
            problems.append(f"service.pipelines.{pname}: signal must be one of {SIGNALS}")
        for role, kinds in (("receivers", ("receivers", "connectors")), ("processors", ("processors",)),
                            ("exporters", ("exporters", "connectors"))):
            ids = pipe.get(role) or []
            if role != "processors" and not ids:
                problems.append(f"service.pipelines.{pname}.{role}: empty")
            for cid in ids:
                kind = next((k for k in kinds if cid in defined[k]), None)
                if kind is None:
                    problems.append(f"service.pipelines.{pname}.{role}: {cid} is not defined")
                    continue
                used[kind].add(cid)
                if kind == "connectors":
                    connector_roles[cid].add(role)
        procs = pipe.get("processors") or []
        if procs and procs[0].split("/")[0] != "memory_limiter":
            problems.append(f"service.pipelines.{pname}.processors: memory_limiter must be first")
        if "batch" in procs and procs[-1] != "batch":
            problems.append(f"service.pipelines.{pname}.processors: batch must be last")
    for cid, roles in connector_roles.items():
        if roles != {"receivers", "exporters"}:
            problems.append(f"connectors.{cid}: must be an exporter of one pipeline and a receiver of another")
    for kind in KINDS:
        for cid in sorted(defined[kind] - used[kind]):
            problems.append(f"{kind}.{cid}: defined but not used in service")
    for where, ctx, stmt in _ottl_statements(cfg):
        if ctx not in OTTL_CONTEXTS:
            problems.append(f"{where}: unknown OTTL context {ctx!r}")
        if not _balanced(stmt):
            problems.append(f"{where}: unbalanced OTTL statement {stmt!r}")
    for ref in re.findall(r"(?<!\$)\$\{[^}]*\}", yaml.safe_dump(cfg)):  # $${...} is an escaped literal
        if not ENV_REF.fullmatch(ref):
            problems.append(f"{ref}: environment references must be ${{env:NAME}} or ${{env:NAME:-default}}")
    return problems


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_config_is_structurally_valid(name: str) -> None:
    """Every pipeline references defined components, every type exists in the pinned contrib
    release, nothing deprecated or unused, memory_limiter first and batch last, OTTL balanced."""
    assert validate(_load(CONFIGS[name])) == []


def _merged(*names: str) -> dict[str, Any]:
    """Configs laid over each other as the Collector does with several --config: maps merge key by
    key, anything else (lists included) is replaced by the later file's value."""
    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            return {**base, **{k: merge(base.get(k), v) if k in base else v for k, v in over.items()}}
        return over
    out: dict[str, Any] = {}
    for name in names:
        out = merge(out, _load(CONFIG_DIR / f"{name}.yaml"))
    return out


def test_native_overlay_is_structurally_valid() -> None:
    """agent.yaml + agent-native.yaml: valid as a whole; the native events go through the same
    redaction as everything else on the logs pipeline (after they are converted), and their metrics
    through the one definition of the schema's metrics (signaltometrics/ledger)."""
    cfg = _merged("agent", "agent-native")
    assert validate(cfg) == []
    pipes = cfg["service"]["pipelines"]
    logs = pipes["logs"]["processors"]
    assert logs[0] == "memory_limiter" and logs[-2:] == ["redaction/secrets", "transform/command_line"]
    assert logs.index("transform/native_claude_code") < logs.index("redaction/secrets")
    assert pipes["logs"]["receivers"] == _load(CONFIGS["agent"])["service"]["pipelines"]["logs"]["receivers"]
    native = pipes["logs/native_metrics"]
    assert native["exporters"] == ["signaltometrics/ledger"] and "transform/ledger_labels" in native["processors"]
    assert "transform/ledger_scope" in pipes["metrics/ledger"]["processors"]
    # hooks win: both native paths drop the events when CMDSCOPE_NATIVE_COMMANDS=off or cmdscope.hooks is set
    for fid in ("filter/native_duplicates", "filter/native_commands"):
        text = " ".join(cfg["processors"][fid]["logs"]["log_record"])
        assert '"${env:CMDSCOPE_NATIVE_COMMANDS:-on}" == "off"' in text and 'resource.attributes["cmdscope.hooks"]' in text
    assert pipes["logs"]["processors"].index("filter/native_duplicates") < logs.index("transform/native_claude_code")


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda c: c["service"]["pipelines"]["traces"]["exporters"].append("otlp/nowhere"),
     "service.pipelines.traces.exporters: otlp/nowhere is not defined"),
    (lambda c: c["exporters"].update({"logging": {}}), "exporters.logging: deprecated"),
    (lambda c: c["processors"].update({"spanmetrics": {}}), "processors.spanmetrics: deprecated"),
    (lambda c: c["receivers"].update({"nosuchthing": {}}), "receivers.nosuchthing: no receiver type"),
    (lambda c: c["service"]["pipelines"]["logs"]["processors"].reverse(), "memory_limiter must be first"),
    (lambda c: c["processors"]["transform/command_line"]["log_statements"][0]["statements"].append(
        'set(attributes["x"], Concat([body, "y"], " ")'), "unbalanced OTTL statement"),
    (lambda c: c["processors"]["transform/command_line"]["trace_statements"][0].update({"context": "spans"}),
     "unknown OTTL context 'spans'"),
    (lambda c: c["extensions"].update({"pprof": {}}), "extensions.pprof: defined but not used"),
])
def test_validator_catches_broken_configs(mutate: Any, expected: str) -> None:
    """The validator has teeth: each typical mistake in the agent config is reported."""
    cfg = copy.deepcopy(_load(CONFIGS["agent"]))
    mutate(cfg)
    assert any(expected in p for p in validate(cfg)), validate(cfg)


def test_agent_filelog_tails_the_ledger_with_checkpoints() -> None:
    """filelog parses ledger JSON, takes timestamps from `time` in the ledger's RFC 3339 format,
    maps outcome to severity, and checkpoints offsets in file_storage."""
    cfg = _load(CONFIGS["agent"])
    filelog = cfg["receivers"]["filelog/ledger"]
    assert filelog["storage"] in cfg["extensions"] and filelog["storage"].startswith("file_storage")
    assert "CMDSCOPE_LEDGER" in filelog["include"][0] and filelog["start_at"] == "beginning"
    ops = {op["type"]: op for op in filelog["operators"]}
    by_id = {op["id"]: op for op in filelog["operators"]}
    ts = ops["json_parser"]["timestamp"]
    assert ts["parse_from"] == "attributes.time"
    assert ts["layout_type"] == "gotime" and ts["layout"] == "2006-01-02T15:04:05.999999Z07:00"
    # the layout really matches the ledger's `time` format (docs/telemetry.md: microseconds, UTC)
    from datetime import datetime, timezone

    sample = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", sample)
    severity = by_id["ledger_outcome_severity"]
    assert by_id["ledger_danger_severity"]["mapping"] == {"fatal": "critical"}
    assert severity["parse_from"] == 'attributes["cmdscope.outcome"]'
    mapped = {v for vals in severity["mapping"].values() for v in ([vals] if isinstance(vals, str) else vals)}
    assert mapped == {"success", "failure", "timeout", "interrupted", "error", "denied"}


def test_agent_exports_through_a_persistent_queue_with_redaction_first() -> None:
    """The gateway exporter queues on disk; redaction and transform run on traces and logs
    between memory_limiter and batch, and the transform touches process.command_line."""
    cfg = _load(CONFIGS["agent"])
    exporter = cfg["exporters"]["otlp/gateway"]
    assert exporter["sending_queue"]["enabled"] is True
    assert exporter["sending_queue"]["storage"] in cfg["service"]["extensions"]
    for signal in ("traces", "logs"):
        procs = cfg["service"]["pipelines"][signal]["processors"]
        assert procs == ["memory_limiter", "redaction/secrets", "transform/command_line"]
    # batching after the disk-backed queue, never in memory before it (a crash would lose data)
    assert exporter["sending_queue"]["batch"]["max_size"] > 0
    assert not any("batch" in pipe.get("processors", []) for pipe in cfg["service"]["pipelines"].values())
    statements = [s for _, _, s in _ottl_statements(cfg)]
    assert sum('attributes["process.command_line"]' in s for s in statements) >= 4


def test_redaction_patterns_mask_real_secret_shapes() -> None:
    """The redaction processor's patterns (Go RE2 syntax, a subset Python's re understands) match
    real credential shapes and leave an ordinary command alone."""
    patterns = [re.compile(p) for p in _load(CONFIGS["agent"])["processors"]["redaction/secrets"]["blocked_values"]]
    secrets = ["AKIAABCDEFGHIJKLMNOP", "ghp_" + "a" * 36, "xoxb-1234567890-abcdef",
               "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
               "-----BEGIN RSA PRIVATE KEY-----"]
    for secret in secrets:
        assert any(p.search(f"cmd {secret} x") for p in patterns), secret
    assert not any(p.search("git push origin main && pytest -q tests/") for p in patterns)


def test_gateway_samples_by_tail_and_keeps_span_metrics_apart() -> None:
    """tail_sampling keeps failures, denials and danger hits and samples the rest; spanmetrics sees
    every span before sampling, uses schema labels, and keeps its own metric names (the schema's
    come from ledger records, so nothing is counted twice); delta series become cumulative."""
    cfg = _load(CONFIGS["gateway"])
    policies = {p["name"]: p for p in cfg["processors"]["tail_sampling"]["policies"]}
    assert {"keep-failures", "keep-denials", "keep-danger-hits", "sample-the-rest"} <= set(policies)
    assert not any(p.get("string_attribute", {}).get("invert_match") for p in policies.values())
    assert 0 < policies["sample-the-rest"]["probabilistic"]["sampling_percentage"] < 100
    pipes = cfg["service"]["pipelines"]
    assert "tail_sampling" not in pipes["traces/all"]["processors"] and "spanmetrics" in pipes["traces/all"]["exporters"]
    assert "tail_sampling" in pipes["traces/sampled"]["processors"]
    schema = _schema_keys()
    assert {d["name"] for d in cfg["connectors"]["spanmetrics"]["dimensions"]} <= schema
    assert cfg["connectors"]["spanmetrics"]["namespace"] == "cmdscope.spans"
    assert '"cmdscope.commands"' not in " ".join(s for _, _, s in _ottl_statements(cfg))
    assert cfg["connectors"]["spanmetrics"]["histogram"]["unit"] == "s"
    assert pipes["metrics"]["processors"] == ["memory_limiter", "deltatocumulative", "batch"]


def _schema_metrics() -> dict[str, set[str]]:
    """OTel metric name -> attribute keys, from the metrics table of docs/telemetry.md."""
    text = (ROOT / "docs" / "telemetry.md").read_text()
    rows = re.findall(r"^\| `([a-z_.]+)` \| (?:counter|histogram|gauge) \| [^|]+ \| ([^|]+) \|", text, re.M)
    metrics = {}
    for name, attrs in rows:
        metrics[name] = set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", attrs))  # keys, not the values in brackets
    for name, attrs in metrics.items():  # "same" refers to the row above (command duration)
        if not attrs:
            metrics[name] = metrics["cmdscope.commands"]
    return metrics


def test_agent_derives_every_schema_metric_from_ledger_records_once() -> None:
    """Every metric of docs/telemetry.md that a ledger record implies is defined in the agent's
    signaltometrics connector with the schema's attribute keys, and exactly those names are
    dropped from the in-process SDK stream (no metric counted twice, none lost)."""
    cfg = _load(CONFIGS["agent"])
    schema = _schema_metrics()
    # Not implied by a ledger record: what a process could not write, the rating job's gauge and
    # the incident receiver's own /metrics (docs/telemetry.md says where each comes from).
    process_level = {"cmdscope.telemetry.events", "cmdscope.telemetry.dropped", "cmdscope.rating",
                     "cmdscope.incidents", "cmdscope.incidents.triaged", "cmdscope.incidents.false_positive"}
    derived = {m["name"]: m for m in cfg["connectors"]["signaltometrics/ledger"]["logs"]}
    assert set(derived) == set(schema) - process_level
    for name, m in derived.items():
        assert {a["key"] for a in m.get("attributes", [])} == schema[name], name
    drop = re.compile(cfg["processors"]["filter/ledger_derived"]["metrics"]["metric"][0]
                      .split('IsMatch(name, "', 1)[1].rsplit('")', 1)[0].replace("\\\\", "\\"))
    assert {n for n in schema if drop.fullmatch(n)} == set(derived)
    pipes = cfg["service"]["pipelines"]
    assert "filter/ledger_derived" in pipes["metrics"]["processors"] and pipes["metrics"]["receivers"] == ["otlp"]
    assert "filter/ledger_derived" not in pipes["metrics/ledger"]["processors"]


def test_gateway_has_every_backend_exporter() -> None:
    """Traces over OTLP (Jaeger/Tempo), logs over OTLP/HTTP (Loki), metrics for Prometheus pull and
    remote write, and a rotated `file` exporter as remote ledger."""
    cfg = _load(CONFIGS["gateway"])
    exporters = cfg["exporters"]
    assert {"otlp/traces", "otlphttp/logs", "prometheus", "prometheusremotewrite", "file/ledger"} <= set(exporters)
    rotation = exporters["file/ledger"]["rotation"]
    assert rotation["max_megabytes"] > 0 and rotation["max_backups"] > 0
    assert exporters["otlphttp/logs"]["endpoint"].endswith("/otlp}")


def test_ottl_attribute_paths_are_schema_keys() -> None:
    """Every attributes["..."] an OTTL statement reads is a telemetry schema key (or an envelope key)."""
    envelope = {"kind", "name", "record_id", "time"}
    schema = _schema_keys() | envelope
    for name, path in CONFIGS.items():
        for where, _, stmt in _ottl_statements(_load(path)):
            for key in re.findall(r'(?<!resource\.)attributes\["([^"]+)"\]', stmt):
                assert key in schema, f"{name}: {where}: {key}"


def test_readme_states_minimum_version_and_processors() -> None:
    """collector-config/README.md names the pinned minimum release and explains every processor."""
    text = (CONFIG_DIR / "README.md").read_text()
    assert f"otelcol-contrib {COMPONENTS['release']}" in text
    for path in [*CONFIGS.values(), CONFIG_DIR / "agent-native.yaml"]:
        for cid in _load(path).get("processors", {}):
            assert f"`{cid}`" in text, cid


@pytest.fixture(scope="module")
def otelcol() -> Path:
    """The Collector distribution built from collector/ (scripts/build-collector.sh; a no-op when
    it is up to date)."""
    from collector_stack import OTELCOL, ensure_built

    ensure_built()
    return OTELCOL


def _validate(otelcol: Path, configs: list[Path], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "CMDSCOPE_OTELCOL_STORAGE": str(tmp_path), "CMDSCOPE_LEDGER": str(tmp_path / "l.jsonl"),
           "CMDSCOPE_REMOTE_LEDGER": str(tmp_path / "remote.jsonl"),
           "CMDSCOPE_GATEWAY_ENDPOINTS": "[gw-1.example.internal:4317, gw-2.example.internal:4317]"}
    args = [str(otelcol), "validate", *(f"--config={c}" for c in configs)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.timeout(BUILD_TIMEOUT)
@pytest.mark.parametrize("configs", [["agent"], ["gateway"], ["agent", "agent-loadbalancing"], ["agent", "agent-native"]],
                         ids="+".join)
def test_otelcol_validate(configs: list[str], otelcol: Path, tmp_path: Path) -> None:
    """The real Collector (`otelcol-cmdscope validate`, the contrib component modules at one
    release) accepts every shipped config, with the environment variables they read."""
    proc = _validate(otelcol, [CONFIG_DIR / f"{name}.yaml" for name in configs], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.timeout(BUILD_TIMEOUT)
@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda c: c["exporters"]["otlp/gateway"]["sending_queue"].update({"queue_sizee": 5}), "queue_sizee"),
    (lambda c: c["receivers"]["filelog/ledger"]["operators"][0].update({"type": "json_parserr"}), "json_parserr"),
    (lambda c: c["processors"]["transform/ledger_labels"]["log_statements"][0]["statements"].append(
        'set(attributes["x"], Nope())'), "Nope"),
    (lambda c: c["connectors"]["signaltometrics/ledger"]["logs"][0]["conditions"].append('attributes["kind"] =='),
     "signaltometrics/ledger"),
    (lambda c: c["service"]["pipelines"]["logs"]["exporters"].append("otlp/nowhere"), "otlp/nowhere"),
])
def test_otelcol_validate_rejects_a_typo(mutate: Any, expected: str, otelcol: Path, tmp_path: Path) -> None:
    """`validate` has teeth: a misspelt option, operator type, OTTL function, metric condition or
    component in the agent config fails with a message naming it."""
    cfg = copy.deepcopy(_load(CONFIGS["agent"]))
    mutate(cfg)
    broken = tmp_path / "agent.yaml"
    broken.write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = _validate(otelcol, [broken], tmp_path)
    assert proc.returncode != 0
    assert expected in proc.stdout + proc.stderr, proc.stdout + proc.stderr
