"""Prometheus recording and alert rules under alerting/: promtool checks them, unit tests cover every
alert, and every name they use exists in the telemetry schema."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ALERTING = ROOT / "alerting"
RULE_FILES = sorted((ALERTING / "rules").glob("*.yaml"))
TEST_FILES = sorted((ALERTING / "tests").glob("*-test.yaml"))
RUNBOOKS = ROOT / "docs" / "runbooks.md"
TELEMETRY = ROOT / "docs" / "telemetry.md"
RUNBOOK_BASE = "https://github.com/cmdscope/cmdscope/blob/main/docs/runbooks.md#"

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian: apt-get install prometheus); scripts/test.sh installs it",
)


def _groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in RULE_FILES:
        groups.extend(yaml.safe_load(path.read_text())["groups"])
    return groups


def _alert_rules() -> list[dict[str, Any]]:
    return [r for g in _groups() for r in g["rules"] if "alert" in r]


def _recording_names() -> set[str]:
    return {r["record"] for g in _groups() for r in g["rules"] if "record" in r}


def _github_anchor(heading: str) -> str:
    anchor = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return anchor.replace(" ", "-")


def _runbook_anchors() -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", RUNBOOKS.read_text(), flags=re.M)
    return {_github_anchor(h) for h in headings}


def _telemetry_prometheus_names() -> set[str]:
    """Base Prometheus names from the last column of the metrics table in docs/telemetry.md."""
    names: set[str] = set()
    for row in re.findall(r"^\|.*\|\s*`(cmdscope_[a-z_{},*]+)`\s*\|\s*$", TELEMETRY.read_text(), re.M):
        base = re.sub(r"_(\{[a-z,]+\}|\*)$", "", row)
        names.add(base)
    return names


def _telemetry_label_names() -> set[str]:
    """Prometheus label names: the attribute keys of the metrics table with dots as underscores."""
    labels: set[str] = set()
    for cell in re.findall(r"^\| `cmdscope\.[a-z_.]+` \|[^|]+\|[^|]+\|([^|]+)\|", TELEMETRY.read_text(), re.M):
        for key in re.findall(r"`([a-z_.]+)`", cell):
            labels.add(key.replace(".", "_"))
    return labels


@needs_promtool
def test_promtool_check_rules_passes() -> None:
    """`promtool check rules` accepts every rule file (Prometheus 2.42 syntax)."""
    proc = subprocess.run([PROMTOOL, "check", "rules", *map(str, RULE_FILES)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


@needs_promtool
def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check has teeth: a rule with a PromQL syntax error makes promtool fail."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n- name: x\n  rules:\n  - alert: CmdscopeBroken\n    expr: sum(rate(x[5m])\n")
    proc = subprocess.run([PROMTOOL, "check", "rules", str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0


@needs_promtool
@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    """Each promtool unit-test file beside the rules passes (run from alerting/ like a user would)."""
    proc = subprocess.run(
        [PROMTOOL, "test", "rules", str(test_file.relative_to(ALERTING))],
        cwd=ALERTING, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_promtool
def test_promtool_unit_test_fails_on_a_wrong_annotation(tmp_path: Path) -> None:
    """A unit test expecting a different description fails, so the exact annotations are pinned."""
    source = (ALERTING / "tests" / "guardrails-test.yaml").read_text()
    wrong = source.replace("it was not blocked.", "it was blocked.")
    assert wrong != source
    copy = ALERTING / "tests" / f".tmp-{tmp_path.name}-test.yaml"
    try:
        copy.write_text(wrong)
        proc = subprocess.run([PROMTOOL, "test", "rules", copy.name], cwd=copy.parent,
                              capture_output=True, text=True, timeout=120)
    finally:
        copy.unlink(missing_ok=True)
    assert proc.returncode != 0


def test_every_alert_is_unit_tested_before_and_after_it_fires() -> None:
    """Every alert has a promtool case where it does not fire yet and one with exact labels and
    annotations (including severity, summary, description and runbook_url)."""
    quiet: set[str] = set()
    fired: set[str] = set()
    for path in TEST_FILES:
        for group in yaml.safe_load(path.read_text())["tests"]:
            assert group.get("name"), f"{path.name}: every test group is named by a sentence"
            for case in group.get("alert_rule_test", []):
                if not case["exp_alerts"]:
                    quiet.add(case["alertname"])
                    continue
                for alert in case["exp_alerts"]:
                    assert "severity" in alert["exp_labels"], f"{path.name}: {case['alertname']}"
                    assert set(alert["exp_annotations"]) == {"summary", "description", "runbook_url"}
                fired.add(case["alertname"])
    names = {r["alert"] for r in _alert_rules()}
    assert names - quiet == set(), "alerts without a 'not firing yet' case"
    assert names - fired == set(), "alerts never asserted firing"


def test_alert_naming_labels_and_annotations() -> None:
    """Alerts are CamelCase with the Cmdscope prefix, carry severity critical|warning|info, a static
    summary, a templated description and a runbook_url to an existing docs/runbooks.md section."""
    anchors = _runbook_anchors()
    for rule in _alert_rules():
        name = rule["alert"]
        assert re.fullmatch(r"Cmdscope(?:[A-Z][a-z0-9]+)+", name), name
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        ann = rule["annotations"]
        assert "{{" not in ann["summary"], f"{name}: summary is static"
        assert "{{" in ann["description"], f"{name}: description is templated"
        assert ann["runbook_url"].startswith(RUNBOOK_BASE), name
        anchor = ann["runbook_url"][len(RUNBOOK_BASE):]
        assert anchor == name.lower(), f"{name}: one runbook section per alert"
        assert anchor in anchors, f"{name}: docs/runbooks.md has no section '## {name}'"


def test_issue_alert_set_is_present() -> None:
    """The alerts named in the issue exist with their severities; the dangerous-command alert is
    critical and fires with no `for` delay."""
    by_name: dict[str, set[str]] = {}
    fors: dict[str, str | None] = {}
    for rule in _alert_rules():
        by_name.setdefault(rule["alert"], set()).add(rule["labels"]["severity"])
        fors[rule["alert"]] = rule.get("for")
    expected = {
        "CmdscopeCommandFailureRateHigh": {"warning", "critical"},
        "CmdscopeFailureClassSpiking": {"warning"},
        "CmdscopeRetryLoop": {"warning"},
        "CmdscopeDenialSpike": {"warning"},
        "CmdscopeDangerousCommandExecuted": {"critical"},
        "CmdscopeDangerousCommandsBlockedRepeatedly": {"warning"},
        "CmdscopePacketFailureDensityHigh": {"warning"},
        "CmdscopeGatePassRateLow": {"warning"},
        "CmdscopeAutoMergeRateLow": {"info"},
        "CmdscopeHeartbeatMissed": {"warning"},
        "CmdscopeScheduledCheckLate": {"warning"},
        "CmdscopeTelemetryDropped": {"warning"},
        "CmdscopeCriticalAlertUnresolved": {"critical"},
        "CmdscopeRegistryBehind": {"warning"},
    }
    assert by_name == expected
    assert fors["CmdscopeDangerousCommandExecuted"] is None


def test_recording_rule_names_follow_level_metric_operations() -> None:
    """Recording rules are named level:metric:operations with a cmdscope_ metric part."""
    for name in _recording_names():
        level, metric, ops = name.split(":")
        assert metric.startswith("cmdscope_") and ops, name
        assert level == "" or re.fullmatch(r"[a-z_]+", level), name


def test_rules_use_only_schema_metric_and_label_names() -> None:
    """Every cmdscope_* metric in a rule expression is a Prometheus name from docs/telemetry.md (or
    a recording rule), and every label in selectors and by() clauses is a schema label."""
    metrics = _telemetry_prometheus_names()
    assert "cmdscope_commands_total" in metrics and "cmdscope_packet_failure_density" in metrics
    labels = _telemetry_label_names() | {
        "le", "alertname", "alertstate", "severity", "escalation", "job", "instance",
    }
    records = _recording_names()
    for group in _groups():
        for rule in group["rules"]:
            expr = rule["expr"]
            bare = re.sub(r"\{[^}]*\}|\b(?:by|without|on)\s*\([^)]*\)|\"[^\"]*\"", "", expr)
            for token in re.findall(r"(?<![\w:])[a-z_:]*cmdscope_[a-z_]+(?::[a-z0-9_]+)?", bare):
                if token in records:
                    continue
                base = re.sub(r"_(bucket|sum|count)$", "", token)
                assert base in metrics, f"{rule.get('record') or rule['alert']}: unknown metric {token}"
            used = set(re.findall(r"(\w+)\s*(?:=~|!=|!~|=)\s*\"", expr))
            for clause in re.findall(r"\b(?:by|without|on)\s*\(([^)]*)\)", expr):
                used |= {x.strip() for x in clause.split(",") if x.strip()}
            assert used <= labels, f"{rule.get('record') or rule['alert']}: unknown labels {used - labels}"


def test_readme_documents_severities_and_every_alert() -> None:
    """alerting/README.md writes down what each severity means and lists every alert."""
    text = (ALERTING / "README.md").read_text()
    for severity in ("critical", "warning", "info"):
        assert re.search(rf"^\| `{severity}` \|", text, re.M), severity
    for name in {r["alert"] for r in _alert_rules()}:
        assert name in text, name
