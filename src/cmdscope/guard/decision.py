"""The guard's answers: a dangerous-rule ``Match`` and a policy ``Decision``. Plain classes, cheap."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES, start=1)}


def max_severity(severities: Any) -> str | None:
    best = None
    for sev in severities:
        if best is None or SEVERITY_RANK[sev] > SEVERITY_RANK[best]:
            best = sev
    return best


@dataclass(frozen=True, slots=True)
class Match:
    """One dangerous-command rule that matched."""

    rule_id: str
    category: str
    severity: str
    rationale: str
    playbook: str
    title: str

    def to_json(self) -> dict[str, str]:
        return {"rule_id": self.rule_id, "category": self.category, "severity": self.severity,
                "rationale": self.rationale, "playbook": self.playbook}


class GuardInvariantError(RuntimeError):
    """A decision that breaks the guard's contract (a deny without a rule id)."""


@dataclass(frozen=True, slots=True)
class Decision:
    action: str                 # allow | warn | deny
    mode: str                   # observe | warn | enforce
    rule_id: str | None         # the policy rule that decided; None when no rule matched
    policy_source: str | None   # file#policy-name@version
    message: str
    playbook: str | None
    matches: list[Match] = field(default_factory=list)
    severity: str | None = None
    registry_version: str = ""

    def __post_init__(self) -> None:
        if self.action not in ("allow", "warn", "deny"):
            raise GuardInvariantError(f"unknown action {self.action!r}")
        if self.action == "deny" and not self.rule_id:
            raise GuardInvariantError("a deny decision must name the policy rule that denied")

    @property
    def denied(self) -> bool:
        return self.action == "deny" and self.mode == "enforce"

    def attributes(self) -> dict[str, Any]:
        """The ``cmdscope.policy.*``, ``cmdscope.danger.*`` and registry keys of docs/telemetry.md."""
        attrs: dict[str, Any] = {
            "cmdscope.policy.action": self.action,
            "cmdscope.policy.mode": self.mode,
            "cmdscope.registry.version": self.registry_version,
        }
        if self.rule_id:
            attrs["cmdscope.policy.rule"] = self.rule_id
        if self.policy_source:
            attrs["cmdscope.policy.source"] = self.policy_source
        if self.matches:
            attrs["cmdscope.danger.rule"] = [m.rule_id for m in self.matches]
            attrs["cmdscope.danger.category"] = sorted({m.category for m in self.matches})
        if self.severity:
            attrs["cmdscope.danger.severity"] = self.severity
        return attrs
