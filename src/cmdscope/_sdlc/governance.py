"""Governance policy: required gates, thresholds on packet figures, and the auto-merge rule.

``decide()`` is a pure function of the policy, the gate records of a pipeline run and the
packet's records, so it is tested without running anything; ``cmdscope pipeline run`` calls it
after the last stage and merges only when it says so.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cmdscope._sdlc.packets import Figures, figures_of


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thresholds(_Strict):
    max_failure_density: float | None = Field(default=None, ge=0, le=1)
    max_critical_danger_hits: int | None = Field(default=0, ge=0)
    max_unresolved_denials: int | None = Field(default=0, ge=0)
    min_gate_pass_rate: float | None = Field(default=None, ge=0, le=1)


class Scope(_Strict):
    required_gates: list[str] = []


class AutoMerge(_Strict):
    enabled: bool = True
    require: Literal["all_gates", "required_gates"] = "all_gates"


class Targets(_Strict):
    """The rolling governance figures and the alert quality a team holds itself to."""

    auto_merge_rate: float = Field(default=0.95, ge=0, le=1)
    schedule_on_time: float = Field(default=0.99, ge=0, le=1)
    max_false_positive_rate: float = Field(default=0.2, ge=0, le=1)
    window_days: int = Field(default=30, ge=1)


class Rating(_Strict):
    """Weights of the rating components (docs/sdlc.md#ratings); missing ones weigh 0."""

    weights: dict[str, float] = Field(default_factory=lambda: dict(_rating_weights()))
    window_days: int = Field(default=7, ge=1)

    @field_validator("weights")
    @classmethod
    def _known(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(_rating_weights()))
        if unknown:
            raise ValueError(f"unknown component(s) {', '.join(unknown)}; known: {', '.join(_rating_weights())}")
        if any(w < 0 for w in value.values()) or not any(w > 0 for w in value.values()):
            raise ValueError("weights must be >= 0 with at least one above 0")
        return value


def _rating_weights() -> dict[str, float]:
    from cmdscope._sdlc.rating import DEFAULT_WEIGHTS

    return DEFAULT_WEIGHTS


class Policy(_Strict):
    version: int = 1
    name: str = "default"
    required_gates: list[str] = []
    pipelines: dict[str, Scope] = {}
    packets: dict[str, Scope] = {}
    thresholds: Thresholds = Thresholds()
    denials_resolved_by: list[str] = []
    auto_merge: AutoMerge = AutoMerge()
    targets: Targets = Targets()
    rating: Rating = Rating()

    def required_for(self, pipeline: str | None, packet: str | None) -> list[str]:
        names = list(self.required_gates)
        if pipeline and pipeline in self.pipelines:
            names += self.pipelines[pipeline].required_gates
        for pattern, scope in self.packets.items():
            if packet and fnmatch.fnmatchcase(packet, pattern):
                names += scope.required_gates
        return list(dict.fromkeys(names))


def default_policy_path() -> str:
    from cmdscope._paths import builtin_registry_dir

    return os.fspath(builtin_registry_dir() / "policies" / "governance.yaml")


def load_policy(path: str | os.PathLike[str] | None = None) -> Policy:
    """The policy at ``path`` (default: the shipped one); ConfigError names file, line, field."""
    from cmdscope._sdlc.yamlfile import load_model

    return load_model(path or default_policy_path(), Policy)


def unresolved_denials(records: Iterable[dict[str, Any]], packet: str, resolvers: Iterable[str]) -> int:
    """Denials of ``packet`` not followed by a pass of a resolving gate."""
    resolving = set(resolvers)
    events = sorted(
        (r.get("end_ns", 0), r.get("kind"), r) for r in records
        if r.get("cmdscope.packet") == packet and r.get("kind") in ("denial", "gate")
    )
    open_denials = 0
    for _, kind, rec in events:
        if kind == "denial":
            open_denials += 1
        elif rec.get("cmdscope.gate.name") in resolving and rec.get("cmdscope.gate.result") == "pass":
            open_denials = 0
    return open_denials


@dataclass
class Decision:
    merge: bool
    reasons: list[str] = field(default_factory=list)
    figures: Figures | None = None

    @property
    def result(self) -> str:
        return "auto" if self.merge else "human_review"


def decide(policy: Policy, gates: list[dict[str, Any]], *, pipeline: str | None = None,
           packet: str | None = None, packet_records: list[dict[str, Any]] | None = None,
           completed: bool = True, stopped: str = "") -> Decision:
    """Auto-merge or human review, with every reason that blocks the merge. ``stopped`` names
    the step that stopped the pipeline (a failed step blocks the merge even in the last stage)."""
    reasons: list[str] = []
    if stopped:
        reasons.append(f"pipeline stopped: {stopped}")
    elif not completed:
        reasons.append("pipeline stopped before its last stage")
    by_name: dict[str, str] = {}
    for g in gates:  # the last evaluation of a gate counts
        by_name[g.get("cmdscope.gate.name", "")] = g.get("cmdscope.gate.result", "fail")
    required = set(policy.required_for(pipeline, packet)) | {
        g.get("cmdscope.gate.name", "") for g in gates if g.get("cmdscope.gate.required")
    }
    for name in sorted(required):
        if name not in by_name:
            reasons.append(f"required gate '{name}' did not run")
        elif by_name[name] != "pass":
            reasons.append(f"required gate '{name}' failed")
    if policy.auto_merge.require == "all_gates":
        for name, result in sorted(by_name.items()):
            if result != "pass" and name not in required:
                reasons.append(f"gate '{name}' failed")
    figures = None
    if packet and packet_records is not None:
        figures = figures_of(packet_records, packet)
        t = policy.thresholds
        if t.max_failure_density is not None and figures.failure_density > t.max_failure_density:
            reasons.append(f"failure density {figures.failure_density:.2f} above {t.max_failure_density}")
        if t.max_critical_danger_hits is not None and figures.danger_critical > t.max_critical_danger_hits:
            reasons.append(f"{figures.danger_critical} critical dangerous-command hit(s) (max {t.max_critical_danger_hits})")
        if t.max_unresolved_denials is not None:
            open_denials = unresolved_denials(packet_records, packet, policy.denials_resolved_by)
            if open_denials > t.max_unresolved_denials:
                reasons.append(f"{open_denials} unresolved denial(s) (max {t.max_unresolved_denials}; resolved by a "
                               f"pass of {', '.join(policy.denials_resolved_by) or 'no gate'})")
        rate = figures.gate_pass_rate
        if t.min_gate_pass_rate is not None and rate is not None and rate < t.min_gate_pass_rate:
            reasons.append(f"gate pass rate {rate:.2f} below {t.min_gate_pass_rate}")
    if not policy.auto_merge.enabled:
        reasons.append("auto-merge is disabled by the policy")
    return Decision(not reasons, reasons, figures)
