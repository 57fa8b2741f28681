"""Policy decisions: which layered policy rule applies to a command and its dangerous matches.

Precedence (documented in docs/guardrails.md, tested in tests/test_guard_policy.py): among the
rules whose every condition holds, the highest specificity wins; at equal specificity deny beats
warn beats allow; then the later layer (default < project < CMDSCOPE_POLICY_PATH), then the later
rule in its file.

Trust: the trusted layers (default, CMDSCOPE_POLICY_PATH, a trusted project file) decide first.
The rules of an untrusted project policy are then decided among themselves, leaving out any
rule whose action is looser than the trusted answer (it is reported as ``ignored``); the
project's answer counts where it is at least as strict. A project may turn an allow into a warn
or deny, and a warn into a deny, never the reverse.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any

from cmdscope._guard.decision import SEVERITY_RANK, Match
from cmdscope._guard.rules import LazyRegex

# How much each condition narrows a rule; a rule's specificity is the sum over its conditions.
WEIGHTS = {"danger_rules": 16, "executable": 8, "command": 8, "categories": 4, "min_severity": 2,
           "push_target": 2, "actor": 1, "phase": 1, "branch": 1, "worktree": 1}
ACTION_RANK = {"allow": 0, "warn": 1, "deny": 2}


class PolicyRule:
    def __init__(self, data: dict[str, Any], source: str, layer: int, order: int, trusted: bool = True) -> None:
        self.data = data  # the validated rule (plain data): what the guard's cache stores
        self.layer = layer
        self.order = order
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
        self.push_target = tuple(m.get("push_target") or ())
        self.trusted = trusted
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

    def _targets_ok(self, targets: Any) -> bool:
        """Every pushed ref must match for an allow (one unnamed ref could be main); any for
        a warn or deny. No ``git push`` in the command, or a ref we cannot tell: no match."""
        if not targets:
            return False
        hits = [any(fnmatchcase(t, p) for p in self.push_target) for t in targets]
        return all(hits) if self.action == "allow" else any(hits)

    def applies(self, matches: list[Match], executables: set[str], text: str,
                context: dict[str, Any]) -> Match | None | bool:
        """False, or True / the Match that made a danger condition hold."""
        for key, patterns in (("actor", self.actor), ("phase", self.phase),
                              ("branch", self.branch), ("worktree", self.worktree)):
            if patterns:
                value = context.get(key)
                if value is None or not any(fnmatchcase(value, p) for p in patterns):
                    return False
        if self.push_target and not self._targets_ok(context.get("push_target")):
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


class Selection:
    """The rule that decides, the danger match that made it apply, and an untrusted project
    rule that would have loosened the answer and was ignored."""

    __slots__ = ("rule", "hit", "ignored")

    def __init__(self, rule: PolicyRule, hit: Match | None, ignored: PolicyRule | None = None) -> None:
        self.rule = rule
        self.hit = hit
        self.ignored = ignored


class CompiledPolicy:
    def __init__(self, rules: list[PolicyRule], sources: list[str], problems: list[str] | None = None) -> None:
        self.rules = sorted(rules, key=lambda r: r.rank, reverse=True)
        self.sources = sources
        self.problems = tuple(problems or ())  # layers left out, one line each
        self.executables = frozenset().union(*(r.executables for r in rules)) if rules else frozenset()
        # Rules that can apply to a command with no dangerous match (executable, pattern, context).
        self.context_rules = tuple(r for r in self.rules if not r.needs_danger)
        self.trusted_rules = tuple(r for r in self.rules if r.trusted)
        self.untrusted_rules = tuple(r for r in self.rules if not r.trusted)
        self.push_rules = any(r.push_target for r in rules)

    def to_data(self) -> dict[str, Any]:
        """Plain data for the guard's cache (:meth:`from_data` reads it back)."""
        return {"rules": [[r.data, r.source, r.layer, r.order, r.trusted] for r in self.rules],
                "sources": list(self.sources), "problems": list(self.problems)}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CompiledPolicy:
        """LookupError, TypeError or ValueError for data of another shape (rebuilt)."""
        rules = []
        for fields, source, layer, order, trusted in data["rules"]:
            if (type(fields) is not dict or type(source) is not str or type(layer) is not int
                    or type(order) is not int or type(trusted) is not bool):
                raise TypeError("bad policy rule")
            rules.append(PolicyRule(fields, source, layer, order, trusted))
        sources, problems = data["sources"], data["problems"]
        if not all(type(s) is str for s in [*sources, *problems]):
            raise TypeError("bad policy sources")
        return cls(rules, list(sources), list(problems))

    def select(self, matches: list[Match], executables: set[str], text: str,
               context: dict[str, Any]) -> Selection | None:
        floor = _first(self.trusted_rules, matches, executables, text, context)
        if not self.untrusted_rules:
            return floor
        # The project's rules among themselves, skipping those that would loosen the floor.
        least = ACTION_RANK[floor.rule.action] if floor is not None else 0
        ignored = None
        project = None
        for rule in self.untrusted_rules:
            hit = rule.applies(matches, executables, text, context)
            if hit is False:
                continue
            if ACTION_RANK[rule.action] < least:
                ignored = ignored or rule
                continue
            project = Selection(rule, hit if isinstance(hit, Match) else None)
            break
        chosen = floor if project is None else project if floor is None else (
            project if (ACTION_RANK[project.rule.action], project.rule.rank) > (least, floor.rule.rank) else floor)
        if chosen is not None:
            chosen.ignored = ignored
        return chosen


def _first(rules: tuple[PolicyRule, ...], matches: list[Match], executables: set[str], text: str,
           context: dict[str, Any]) -> Selection | None:
    for rule in rules:  # sorted by precedence: the first that applies wins
        hit = rule.applies(matches, executables, text, context)
        if hit is not False:
            return Selection(rule, hit if isinstance(hit, Match) else None)
    return None


# git's options that take a value, before the subcommand and after ``push``.
_GIT_VALUED = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path", "--config-env"})
_PUSH_VALUED = frozenset({"--repo", "--receive-pack", "--exec", "-o", "--push-option"})


def push_targets(invocations: Any, branch: str | None) -> tuple[str, ...] | None:
    """The branch names every ``git push`` in the command would update (``refs/heads/``
    stripped); ``*`` for --all/--mirror/--tags or a pattern refspec; the checked-out ``branch``
    for a push without refspecs (or HEAD). None when there is no git push."""
    targets: list[str] = []
    found = False
    for inv in invocations:
        if inv.exe != "git":
            continue
        args = list(inv.args)
        i = 0
        while i < len(args) and args[i].startswith("-"):
            i += 2 if args[i] in _GIT_VALUED else 1
        if i >= len(args) or args[i] != "push":
            continue
        found = True
        positionals: list[str] = []
        rest = args[i + 1:]
        j = 0
        while j < len(rest):
            arg = rest[j]
            if arg == "--":
                positionals.extend(rest[j + 1:])
                break
            if arg in ("--all", "--mirror", "--tags", "--branches"):
                targets.append("*")
            elif arg in _PUSH_VALUED:
                j += 1
            elif not arg.startswith("-"):
                positionals.append(arg)
            j += 1
        refspecs = positionals[1:]
        if not refspecs and "*" not in targets:
            targets.append(branch or "*")
        for spec in refspecs:
            src, colon, dst = spec.lstrip("+").partition(":")
            ref = dst if colon else src
            if ref in ("HEAD", "@", ""):
                ref = branch or "*"
            ref = ref.removeprefix("refs/heads/")
            targets.append("*" if "*" in ref else ref)
    return tuple(targets) if found else None
