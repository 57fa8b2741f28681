"""Policy decisions: which layered policy rule applies to a command and its dangerous matches.

Precedence (documented in docs/guardrails.md, tested in tests/test_guard_policy.py): among the
rules whose every condition holds, the highest specificity wins; at equal specificity deny beats
warn beats allow; then the later layer (default < project < CMDSCOPE_POLICY_PATH), then the later
rule in its file.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any

from cmdscope.guard.decision import SEVERITY_RANK, Match
from cmdscope.guard.rules import LazyRegex

# How much each condition narrows a rule; a rule's specificity is the sum over its conditions.
WEIGHTS = {"danger_rules": 16, "executable": 8, "command": 8, "categories": 4, "min_severity": 2,
           "actor": 1, "phase": 1, "branch": 1, "worktree": 1}
ACTION_RANK = {"allow": 0, "warn": 1, "deny": 2}


class PolicyRule:
    def __init__(self, data: dict[str, Any], source: str, layer: int, order: int) -> None:
        m = data.get("match") or {}
        self.id: str = data["id"]
        self.action: str = data["action"]
        self.message: str = data.get("message") or ""
        self.source = source
        self.danger_rules = tuple(m.get("danger_rules") or ())
        self.categories = frozenset(m.get("categories") or ())
        self.min_severity: str | None = m.get("min_severity")
        self.executables = frozenset(m.get("executable") or ())
        self.command = LazyRegex(m["command"]) if m.get("command") else None
        self.actor = tuple(m.get("actor") or ())
        self.phase = tuple(m.get("phase") or ())
        self.branch = tuple(m.get("branch") or ())
        self.worktree = tuple(m.get("worktree") or ())
        self.specificity = sum(w for key, w in WEIGHTS.items() if m.get(key))
        self.rank = (self.specificity, ACTION_RANK[self.action], layer, order)
        self.needs_danger = bool(self.danger_rules or self.categories or self.min_severity)

    def _danger_ok(self, match: Match) -> bool:
        if self.danger_rules and not any(fnmatchcase(match.rule_id, p) for p in self.danger_rules):
            return False
        if self.categories and match.category not in self.categories:
            return False
        if self.min_severity and SEVERITY_RANK[match.severity] < SEVERITY_RANK[self.min_severity]:
            return False
        return True

    def applies(self, matches: list[Match], executables: set[str], text: str,
                context: dict[str, str | None]) -> Match | None | bool:
        """False, or True / the Match that made a danger condition hold."""
        for key, patterns in (("actor", self.actor), ("phase", self.phase),
                              ("branch", self.branch), ("worktree", self.worktree)):
            if patterns:
                value = context.get(key)
                if value is None or not any(fnmatchcase(value, p) for p in patterns):
                    return False
        if self.executables and not (self.executables & executables):
            return False
        if self.command is not None and not self.command.search(text):
            return False
        if self.needs_danger:
            for match in matches:
                if self._danger_ok(match):
                    return match
            return False
        return True


class CompiledPolicy:
    def __init__(self, rules: list[PolicyRule], sources: list[str]) -> None:
        self.rules = sorted(rules, key=lambda r: r.rank, reverse=True)
        self.sources = sources
        self.executables = frozenset().union(*(r.executables for r in rules)) if rules else frozenset()
        # Rules that can apply to a command with no dangerous match (executable, pattern, context).
        self.context_rules = tuple(r for r in self.rules if not r.needs_danger)

    def select(self, matches: list[Match], executables: set[str], text: str,
               context: dict[str, str | None]) -> tuple[PolicyRule, Match | None] | None:
        for rule in self.rules:  # sorted by precedence: the first that applies wins
            hit = rule.applies(matches, executables, text, context)
            if hit is not False:
                return rule, hit if isinstance(hit, Match) else None
        return None
