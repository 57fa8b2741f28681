"""alerting/alertmanager.yml: amtool accepts it, and the routing cases in alerting/route-tests.yaml
pin every route of the escalation ladder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "alerting" / "alertmanager.yml"
CASES = yaml.safe_load((ROOT / "alerting" / "route-tests.yaml").read_text())["cases"]
ALERT_RULES = ROOT / "alerting" / "rules" / "cmdscope-alerts.yaml"

AMTOOL = shutil.which("amtool")
needs_amtool = pytest.mark.skipif(
    AMTOOL is None,
    reason="amtool not installed (Debian: apt-get install prometheus-alertmanager); scripts/test.sh installs it",
)


def _config() -> dict[str, Any]:
    return yaml.safe_load(CONFIG.read_text())


def _routes(route: dict[str, Any]) -> list[dict[str, Any]]:
    out = [route]
    for child in route.get("routes", []):
        out.extend(_routes(child))
    return out


def _route_test(labels: dict[str, str], receivers: list[str], config: Path = CONFIG) -> subprocess.CompletedProcess[str]:
    assert AMTOOL is not None
    args = [AMTOOL, "config", "routes", "test", f"--config.file={config}",
            f"--verify.receivers={','.join(receivers)}", *(f"{k}={v}" for k, v in labels.items())]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


@needs_amtool
def test_amtool_check_config_passes() -> None:
    """`amtool check-config` accepts the shipped configuration."""
    proc = subprocess.run([AMTOOL, "check-config", str(CONFIG)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


@needs_amtool
def test_amtool_rejects_a_route_to_an_undefined_receiver(tmp_path: Path) -> None:
    """The check has teeth: a route naming a receiver that does not exist is rejected."""
    cfg = _config()
    cfg["route"]["routes"][0]["receiver"] = "nobody"
    bad = tmp_path / "am.yml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([AMTOOL, "check-config", str(bad)], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0


@needs_amtool
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_route_case(case: dict[str, Any]) -> None:
    """Each routing case resolves to exactly the expected receivers."""
    proc = _route_test(case["labels"], case["receivers"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == case["receivers"]


@needs_amtool
def test_route_verification_fails_on_a_wrong_receiver() -> None:
    """amtool's verification really compares: a critical alert expected at chat fails."""
    proc = _route_test({"alertname": "CmdscopeDangerousCommandExecuted", "severity": "critical"}, ["chat"])
    assert proc.returncode != 0


def test_every_route_is_pinned_by_a_case() -> None:
    """Every receiver that a route of the tree (root included) sends to is expected by a case."""
    routed = {r["receiver"] for r in _routes(_config()["route"])}
    expected = {rcv for case in CASES for rcv in case["receivers"]}
    assert routed == expected


def test_escalation_ladder_shape() -> None:
    """Critical alerts go to chat + email + paging webhook, repeat sooner than warnings, and the
    tier-2 route exists for the escalation alert that the rules raise after 30 minutes."""
    cfg = _config()
    receivers = {r["name"]: r for r in cfg["receivers"]}
    routes = {r["receiver"]: r for r in cfg["route"]["routes"]}
    tier1 = receivers["critical-tier1"]
    assert tier1["slack_configs"] and tier1["email_configs"] and len(tier1["webhook_configs"]) >= 2
    assert receivers["chat"]["slack_configs"] and "email_configs" not in receivers["chat"]

    def minutes(value: str) -> int:
        return int(value[:-1]) * (60 if value.endswith("h") else 1)

    assert minutes(routes["critical-tier1"]["repeat_interval"]) < minutes(routes["chat"]["repeat_interval"])
    assert minutes(routes["critical-tier2"]["repeat_interval"]) < minutes(routes["critical-tier1"]["repeat_interval"])
    escalation = [r for g in yaml.safe_load(ALERT_RULES.read_text())["groups"] for r in g["rules"]
                  if r.get("labels", {}).get("escalation") == "tier2"]
    assert len(escalation) == 1 and escalation[0]["for"] == "30m"
    assert 'escalation="tier2"' in routes["critical-tier2"]["matchers"]


def test_warnings_are_inhibited_by_the_matching_critical() -> None:
    """An inhibition rule silences a warning while a critical alert of the same name and actor fires."""
    rules = _config()["inhibit_rules"]
    assert any(
        r["source_matchers"] == ['severity="critical"']
        and r["target_matchers"] == ['severity="warning"']
        and {"alertname", "cmdscope_actor"} <= set(r["equal"])
        for r in rules
    )
