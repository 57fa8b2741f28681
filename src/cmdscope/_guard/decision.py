"""The guard's answers: a dangerous-rule ``Match`` and a policy ``Decision``. Plain classes, cheap."""

from __future__ import annotations

from cmdscope._paths import synced_registry_attributes

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any

SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES, start=1)}


def max_severity(severities: Any) -> str | None:
    best = None
    for sev in severities:
        if best is None or SEVERITY_RANK[sev] > SEVERITY_RANK[best]:
            best = sev
    return best


class Match:
    """One dangerous-command rule that matched."""

    __slots__ = ("rule_id", "category", "severity", "rationale", "playbook", "title")

    def __init__(self, rule_id: str, category: str, severity: str, rationale: str, playbook: str,
                 title: str) -> None:
        self.rule_id = rule_id
        self.category = category
        self.severity = severity
        self.rationale = rationale
        self.playbook = playbook
        self.title = title

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Match) and self.to_json() == other.to_json() and self.title == other.title

    def __hash__(self) -> int:
        return hash((self.rule_id, self.severity))

    def __repr__(self) -> str:
        return f"Match(rule_id={self.rule_id!r}, severity={self.severity!r}, category={self.category!r})"

    def to_json(self) -> dict[str, str]:
        return {"rule_id": self.rule_id, "category": self.category, "severity": self.severity,
                "rationale": self.rationale, "playbook": self.playbook}


class GuardInvariantError(RuntimeError):
    """A decision that breaks the guard's contract (a deny without a rule id)."""


class Decision:
    """The guard's verdict on one command (plain slots class: built on every command)."""

    __slots__ = ("action", "mode", "rule_id", "policy_source", "message", "playbook", "matches",
                 "severity", "registry_version", "ignored", "problems")

    def __init__(self, action: str, mode: str, rule_id: str | None, policy_source: str | None,
                 message: str, playbook: str | None, matches: list[Match] | None = None,
                 severity: str | None = None, registry_version: str = "") -> None:
        if action not in ("allow", "warn", "deny"):
            raise GuardInvariantError(f"unknown action {action!r}")
        if action == "deny" and not rule_id:
            raise GuardInvariantError("a deny decision must name the policy rule that denied")
        self.action = action                      # allow | warn | deny
        self.mode = mode                          # observe | warn | enforce
        self.rule_id = rule_id                    # the policy rule that decided; None: none matched
        self.policy_source = policy_source        # file#policy-name@version
        self.message = message
        self.playbook = playbook
        self.matches = matches if matches is not None else []
        self.severity = severity
        self.registry_version = registry_version
        self.ignored: str | None = None           # "rule (file)": untrusted project rule that would loosen
        self.problems: tuple[str, ...] = ()       # policy/registry layers left out (broken files)

    def notices(self) -> list[str]:
        """What the user must hear before the command runs (stderr, the agent's context)."""
        out = [f"guard configuration error: {p}; the layers that load still apply" for p in self.problems]
        if self.ignored:
            out.append(f"ignored {self.ignored}: an untrusted project policy may tighten, never "
                       "loosen (trust it with 'cmdscope policy trust')")
        if self.mode != "observe" and (self.action == "warn" or (self.action == "deny" and self.mode == "warn")):
            verdict = "warning" if self.action == "warn" else "would be denied (warn mode)"
            text = f"{verdict}: {self.rule_id}: {self.message}"
            if self.playbook and self.playbook not in self.message:
                text += f" (playbook: {self.playbook})"
            out.append(text)
        return out

    def __repr__(self) -> str:
        return (f"Decision(action={self.action!r}, mode={self.mode!r}, rule_id={self.rule_id!r}, "
                f"severity={self.severity!r}, matches={[m.rule_id for m in self.matches]})")

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
        attrs.update(synced_registry_attributes())  # the team registry's digest, when one is active
        if self.rule_id:
            attrs["cmdscope.policy.rule"] = self.rule_id
        if self.policy_source:
            attrs["cmdscope.policy.source"] = self.policy_source
        if self.matches:
            attrs["cmdscope.danger.rule"] = [m.rule_id for m in self.matches]
            attrs["cmdscope.danger.category"] = sorted({m.category for m in self.matches})
        if self.severity:
            attrs["cmdscope.danger.severity"] = self.severity
        if self.ignored:
            attrs["cmdscope.policy.ignored"] = self.ignored
        if self.problems:
            attrs["cmdscope.guard.errors"] = list(self.problems)
        return attrs
